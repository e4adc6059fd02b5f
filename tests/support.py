"""Helpers shared by test packages (import as ``tests.support``)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from loraswarm.evm.localchain import free_port
from loraswarm.node.status import NodeStatus
from loraswarm.paths import PROJECT_ROOT

__all__ = ["free_port", "run_cli", "wait_for_status"]

LORASWARM = [sys.executable, "-m", "loraswarm.cli"]


def run_cli(*args: str, cwd: Path = PROJECT_ROOT, timeout: float = 120, env: dict[str, str] | None = None,
            input_text: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real `loraswarm` command line in a child process (env adds to os.environ)."""
    return subprocess.run(
        [*LORASWARM, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False,
        env={**os.environ, **(env or {})}, input=input_text if input_text is not None else "",
    )


def wait_for_status(path: Path, predicate: Callable[[NodeStatus], bool], timeout_s: float) -> NodeStatus:
    """Poll a node's status file until the predicate holds (AssertionError on timeout)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = NodeStatus.read(path)
        if status is not None and predicate(status):
            return status
        time.sleep(0.2)
    raise AssertionError(f"{path} never reached the expected state: {NodeStatus.read(path)}")
