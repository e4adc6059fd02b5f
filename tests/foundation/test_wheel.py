"""The built wheel is all a peer operator installs: from an empty directory, with no source tree,
node or Solidity compiler, it prints its version, deploys (the contracts ship compiled inside
it), writes a peer config and prints the node's address (the wheel and its environment:
conftest.wheel_env)."""

from __future__ import annotations

from importlib.metadata import distribution
from pathlib import Path

import pytest

from tests.foundation.conftest import WheelEnv, run_tool


@pytest.mark.e2e
def test_wheel_installs_and_runs_the_operator_commands_without_the_source_tree(wheel_env: WheelEnv,
                                                                              tmp_path: Path) -> None:
    python, site = wheel_env.python, wheel_env.site
    loraswarm = wheel_env.loraswarm
    empty = tmp_path / "operator"
    empty.mkdir()
    assert run_tool(loraswarm, "--version").strip() == f"loraswarm {distribution('loraswarm').version}"
    where = run_tool(python, "-c", "import loraswarm.paths as p; print(p.IN_SOURCE_TREE, p.PACKAGE_DIR)", cwd=empty)
    assert where.split() == ["False", str(site / "loraswarm")]
    runtime = run_tool(python, "-c", "from importlib.metadata import requires; "
                       "print([r for r in requires('loraswarm') if 'extra ==' not in r])")
    assert "flwr" not in runtime and "hypothesis" not in runtime and "solc" not in runtime

    deployed = run_tool(loraswarm, "deploy", "--network", "embedded", "--out", "deployment.json", cwd=empty)
    assert "Coordinator" in deployed and (empty / "deployment.json").is_file()
    run_tool(python, "-c", "from pathlib import Path; from loraswarm.protocol.taskspec import TaskSpec; "
             "TaskSpec(task_id=1).write(Path('task.json'))", cwd=empty)
    run_tool(loraswarm, "node", "init", "--deployment", "deployment.json", "--task-file", "task.json", "--new-key",
             "--listen", "/ip4/0.0.0.0/tcp/9100", cwd=empty)
    shown = run_tool(loraswarm, "node", "id", "--config", "peer.toml", cwd=empty)
    assert "multiaddr /ip4/0.0.0.0/tcp/9100/p2p/16Uiu2" in shown
