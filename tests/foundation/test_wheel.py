"""The built wheel is all a peer operator installs: from an empty directory, with no source tree,
node or Solidity compiler, it prints its version, deploys (the contracts ship compiled inside
it), writes a peer config and prints the node's address.

Offline and in about a minute: the wheel is built without build isolation, and the fresh
environment reuses the project's installed dependencies through a path file instead of
downloading them (only its own site-packages holds loraswarm: the editable install's hook is not
loaded from a path file's directory)."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from importlib.metadata import distribution
from pathlib import Path

import pytest

from loraswarm.paths import PROJECT_ROOT

PASSWORD = "wheel-pw"


def _run(*args: str | Path, cwd: Path | None = None) -> str:
    env = {**os.environ, "LORASWARM_PASSWORD": PASSWORD, "PYTHONPATH": ""}
    done = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=300, env=env,
                          check=False)
    assert done.returncode == 0, (args, done.stdout[-2000:], done.stderr[-2000:])
    return done.stdout


@pytest.mark.e2e
def test_wheel_installs_and_runs_the_operator_commands_without_the_source_tree(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", wheels, PROJECT_ROOT)
    (wheel,) = wheels.glob("loraswarm-*.whl")
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    site = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip())
    (site / "project-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", "--no-index",
         "--ignore-installed", wheel)

    loraswarm = venv / "bin" / "loraswarm"
    empty = tmp_path / "operator"
    empty.mkdir()
    assert _run(loraswarm, "--version").strip() == f"loraswarm {distribution('loraswarm').version}"
    where = _run(python, "-c", "import loraswarm.paths as p; print(p.IN_SOURCE_TREE, p.PACKAGE_DIR)", cwd=empty)
    assert where.split() == ["False", str(site / "loraswarm")]
    runtime = _run(python, "-c", "from importlib.metadata import requires; "
                   "print([r for r in requires('loraswarm') if 'extra ==' not in r])")
    assert "flwr" not in runtime and "hypothesis" not in runtime and "solc" not in runtime

    deployed = _run(loraswarm, "deploy", "--network", "embedded", "--out", "deployment.json", cwd=empty)
    assert "Coordinator" in deployed and (empty / "deployment.json").is_file()
    _run(python, "-c", "from pathlib import Path; from loraswarm.protocol.taskspec import TaskSpec; "
         "TaskSpec(task_id=1).write(Path('task.json'))", cwd=empty)
    _run(loraswarm, "node", "init", "--deployment", "deployment.json", "--task-file", "task.json", "--new-key",
         "--listen", "/ip4/0.0.0.0/tcp/9100", cwd=empty)
    shown = _run(loraswarm, "node", "id", "--config", "peer.toml", cwd=empty)
    assert "multiaddr /ip4/0.0.0.0/tcp/9100/p2p/16Uiu2" in shown
