"""Helpers shared by test packages (import as ``tests.support``)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from loraswarm.paths import PROJECT_ROOT

LORASWARM = [sys.executable, "-m", "loraswarm.cli"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_cli(*args: str, cwd: Path = PROJECT_ROOT, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the real `loraswarm` command line in a child process."""
    return subprocess.run(
        [*LORASWARM, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
