"""The built wheel in a fresh environment, shared by the tests that run it (one build a session).

Offline and in seconds: the wheel is built without build isolation, and the fresh environment
reuses the project's installed dependencies through a path file instead of downloading them (only
its own site-packages holds loraswarm: the editable install's hook is not loaded from a path
file's directory)."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import pytest

from loraswarm.paths import PROJECT_ROOT

PASSWORD = "wheel-pw"


def run_tool(*args: str | Path, cwd: Path | None = None, timeout: float = 300, password: str = PASSWORD) -> str:
    """Run a command outside the source tree's import path; its stdout (AssertionError on failure)."""
    env = {**os.environ, "LORASWARM_PASSWORD": password, "PYTHONPATH": ""}
    done = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env=env, check=False)
    assert done.returncode == 0, (args, done.stdout[-2000:], done.stderr[-2000:])
    return done.stdout


@dataclass(frozen=True)
class WheelEnv:
    wheel: Path
    python: Path  # the fresh environment's interpreter
    site: Path  # its site-packages
    loraswarm: Path  # its console script


@pytest.fixture(scope="session")
def wheel_env(tmp_path_factory: pytest.TempPathFactory) -> WheelEnv:
    root = tmp_path_factory.mktemp("wheel")
    wheels = root / "wheels"
    run_tool(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", wheels,
             PROJECT_ROOT)
    (wheel,) = wheels.glob("loraswarm-*.whl")
    venv = root / "venv"
    run_tool(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    site = Path(run_tool(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip())
    (site / "project-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run_tool(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", "--no-index",
             "--ignore-installed", wheel)
    return WheelEnv(wheel, python, site, venv / "bin" / "loraswarm")
