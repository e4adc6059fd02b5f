"""Helpers shared by test packages (import as ``tests.support``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from loraswarm.paths import PROJECT_ROOT
from loraswarm.scripts.localchain import free_port

__all__ = ["free_port", "run_cli"]

LORASWARM = [sys.executable, "-m", "loraswarm.cli"]


def run_cli(*args: str, cwd: Path = PROJECT_ROOT, timeout: float = 120, env: dict[str, str] | None = None,
            input_text: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real `loraswarm` command line in a child process (env adds to os.environ)."""
    return subprocess.run(
        [*LORASWARM, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False,
        env={**os.environ, **(env or {})}, input=input_text if input_text is not None else "",
    )
