"""Static analysis gate: scripts/slither finds nothing of medium or high severity in contracts/."""

from __future__ import annotations

import subprocess

import pytest

from loraswarm.paths import PROJECT_ROOT


@pytest.mark.e2e
def test_slither_finds_no_medium_or_high_issue() -> None:
    done = subprocess.run([str(PROJECT_ROOT / "scripts" / "slither")], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=600, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "analyzed (" in output and "0 result(s) found" in output, output[-3000:]
