"""Helpers shared by test packages (import as ``tests.support``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from loraswarm.paths import PROJECT_ROOT
from loraswarm.scripts.localchain import free_port

__all__ = ["free_port", "run_cli"]

LORASWARM = [sys.executable, "-m", "loraswarm.cli"]


def run_cli(*args: str, cwd: Path = PROJECT_ROOT, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the real `loraswarm` command line in a child process."""
    return subprocess.run(
        [*LORASWARM, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
