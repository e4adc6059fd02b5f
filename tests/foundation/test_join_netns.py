"""A stranger joins a running network by following the README's "Join a network" section: host A
(a network namespace) runs the operator's network (a chain at the LAN's gateway, three nodes, two
of them validators); host B (another namespace, every frame delayed and some lost) has only the
built wheel in a fresh environment, no source tree. The commands are read from the README and run
with the placeholders replaced by what the operator hands over; the operator funds the new
address with `loraswarm chain fund`. The joiner's update must be accepted and paid, `node status`
must say so, and `export` must write a PEFT adapter of a finalized round."""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console

from loraswarm.demo.network import default_plans
from loraswarm.demo.run import DEMO_PASSWORD, PASSWORD_ENV, DemoConfig, launch, local_network, stop
from loraswarm.evm.tasks import TaskTerms
from loraswarm.node.status import NodeStatus
from loraswarm.node.training.corpus import load_topics
from loraswarm.node.training.model import WHEEL_DIR
from loraswarm.paths import PROJECT_ROOT
from tests.foundation.conftest import WheelEnv, run_tool
from tests.reliability.netns import Netem, NetLab, NetnsUnavailable, require_netns
from tests.support import free_port, run_cli

pytestmark = pytest.mark.e2e

# What the README's commands name, and what the operator hands over in their place.
README_DEPLOYMENT = "31337.json"
README_TASK = "task.json"
README_BOOTSTRAP = "/ip4/203.0.113.7/tcp/9100/p2p/16Uiu2..."
README_RPC = "https://rpc.example"
README_DATA = "my.jsonl"
JOIN_TIMEOUT_S = 900


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[NetLab]:
    try:
        require_netns()
    except NetnsUnavailable as why:
        pytest.skip(f"no network namespaces here: {why}")
    with NetLab(2, tmp_path / "lab", Netem(delay_ms=20, loss=0.005)) as net:
        yield net


def readme_commands() -> list[list[str]]:
    """The shell commands of the README's "Join a network" section, continuation lines joined,
    comments dropped."""
    text = (PROJECT_ROOT / "README.md").read_text()
    section = text.split("## Join a network", 1)[1].split("\n## ", 1)[0]
    block = "\n".join(line[4:] for line in section.splitlines() if line.startswith("    "))
    return [shlex.split(command, comments=True) for command in block.replace("\\\n", " ").splitlines()
            if command.strip()]


def _substitute(command: list[str], values: dict[str, str]) -> list[str]:
    return [values.get(arg, arg) for arg in command]


def test_a_stranger_follows_the_readme_from_a_wheel_to_a_paid_update(
        lab: NetLab, wheel_env: WheelEnv, tmp_path: Path) -> None:
    commands = readme_commands()
    by_verb = {" ".join(c[:3]): c for c in commands if c[0] == "loraswarm"}
    assert [c[0] for c in commands[:2]] == ["python3.11", "pip"], commands
    assert commands[1][2].startswith("loraswarm-") and commands[1][2].endswith(".whl")  # what wheel_env installed
    init, node_id = by_verb["loraswarm node init"], by_verb["loraswarm node id"]
    run, status = by_verb["loraswarm node run"], by_verb["loraswarm node status"]
    for placeholder in (README_DEPLOYMENT, README_TASK, README_BOOTSTRAP, README_RPC, README_DATA):
        assert placeholder in init, (placeholder, init)
    exported = dict(c[1].split("=", 1) for c in commands if c[0] == "export")
    password = exported["LORASWARM_PASSWORD"]  # the README's, for every command after it

    host_a = lab.hosts[0].ip
    # The operator's first node serves /metrics on its host's address, as an operator's Prometheus scrapes it.
    plans = [replace(plan, host=host_a, metrics_port=free_port() if i == 0 else 0)
             for i, plan in enumerate(default_plans(3, 2))]
    # The task fixes how every peer trains, and the joiner's `node init` config says nothing of it:
    # a joiner that trained its config's 20 steps among peers training 4 sent an update 4.8 times
    # the median length and was rejected as a Krum outlier (before the recipe moved into the task).
    config = DemoConfig(peers=3, rounds=2, validators=2, steps=4, batch_size=2, seq_len=32, plans=tuple(plans),
                        terms=TaskTerms(commit_s=100, reveal_s=20, attest_s=30, start_delay_s=60),
                        workdir=tmp_path / "operator", chain_host=lab.gateway)
    joiner = tmp_path / "stranger"
    joiner.mkdir()
    texts = load_topics(["food"])["food"]  # a topic none of the operator's nodes trains on
    (joiner / README_DATA).write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))

    with local_network(config, Console(width=160)) as net:
        procs = {p.plan.name: launch(p, config.rounds, prefix=lab.exec_prefix(0)) for p in net.peers}
        joined: subprocess.Popen[bytes] | None = None
        try:
            # what the operator hands over: files, a bootstrap multiaddr (`node id` on its node), tokens
            shown = run_cli("node", "id", "--config", str(net.peers[0].config), env={PASSWORD_ENV: DEMO_PASSWORD})
            assert shown.returncode == 0, shown.stderr
            bootstrap = re.search(r"^multiaddr (\S+)$", shown.stdout, re.MULTILINE)
            assert bootstrap is not None and host_a in bootstrap.group(1), shown.stdout
            handed = {README_DEPLOYMENT: str(net.deployment_file), README_TASK: str(net.workdir / "task.json"),
                      README_BOOTSTRAP: bootstrap.group(1), README_RPC: net.rpc_url}

            def tool(command: list[str]) -> list[str]:
                """A README command as host B runs it: in its namespace, from the wheel's environment."""
                return [*lab.exec_prefix(1), str(wheel_env.loraswarm), *_substitute(command, handed)[1:]]

            # the README's pip lines, offline: the wheels from this machine's build folder (the
            # project's dependencies come from its own environment, see conftest)
            for pip in (c for c in commands if c[0] == "pip"):
                run_tool(sys.executable, "-m", "pip", "--python", wheel_env.python, "install", "-q", "--no-index",
                         "--no-deps", "--find-links", WHEEL_DIR,
                         *_substitute(pip[2:], {commands[1][2]: str(wheel_env.wheel)}))
            run_tool(*tool(init), cwd=joiner, password=password)
            address = re.search(r"^account\s+(0x[0-9a-fA-F]{40})$",
                                run_tool(*tool(node_id), cwd=joiner, password=password),
                                re.MULTILINE)
            assert address is not None
            funded = run_cli("chain", "fund", address.group(1), "--eth", "10", "--lsw", "200",
                             "--deployment", str(net.deployment_file), "--rpc-url", net.rpc_url)
            assert funded.returncode == 0, funded.stderr

            log = (joiner / "node.out").open("ab")
            joined = subprocess.Popen(tool(run), cwd=joiner, stdout=log,
                                      stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                                      env={**os.environ, "PYTHONPATH": "", "LORASWARM_PASSWORD": password})
            procs["stranger"] = joined
            status_file = joiner / "data" / "peer" / "status.json"
            deadline = time.monotonic() + JOIN_TIMEOUT_S
            paid: NodeStatus | None = None
            while time.monotonic() < deadline and joined.poll() is None:
                found = NodeStatus.read(status_file)
                if found is not None and "ACCEPTED" in found.verdicts.values() and found.rewards > 0:
                    paid = found
                    break
                time.sleep(2)
            tail = (joiner / "node.out").read_text(errors="replace")[-3000:]
            assert paid is not None, (joined.poll(), NodeStatus.read(status_file), tail)
            accepted = min(int(r) for r, v in paid.verdicts.items() if v == "ACCEPTED")

            told = run_tool(*tool(status), cwd=joiner, password=password)
            assert "ACCEPTED" in told, told
            rows = json.loads(run_tool(*tool([*by_verb["loraswarm ledger peers"], "--json"]), cwd=joiner))
            mine = next(r for r in rows if r["account"].lower() == address.group(1).lower())
            assert mine["commits"] >= 1 and mine["rewards_claimed"] > 0, mine
            out = joiner / "adapter"
            export = ["loraswarm", "export", "--config", "peer.toml", "--round", str(accepted), "--out", str(out)]
            run_tool(*tool(export), cwd=joiner)
            adapter = json.loads((out / "adapter_config.json").read_text())
            assert adapter["peft_type"] == "LORA" and (out / "adapter_model.safetensors").is_file()

            scraped = urllib.request.urlopen(f"http://{host_a}:{plans[0].metrics_port}/metrics", timeout=10)
            metrics = scraped.read().decode()
            connected = re.search(r"^loraswarm_connected_peers (\S+)$", metrics, re.MULTILINE)
            lag = re.search(r"^loraswarm_chain_head_lag_seconds (\S+)$", metrics, re.MULTILINE)
            assert connected is not None and float(connected.group(1)) >= 2, metrics  # its peers and the joiner
            assert lag is not None and math.isfinite(float(lag.group(1))), metrics
            assert re.search(r"^process_resident_memory_bytes \d", metrics, re.MULTILINE), metrics
            assert re.search(r"^# TYPE loraswarm_edge_verdicts(_total)? counter$", metrics, re.MULTILINE), metrics
        finally:
            stop(procs)
