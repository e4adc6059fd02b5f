"""A node killed with SIGKILL between its commit and its reveal resumes from SQLite, reveals the
SAME commitment in the reveal window (no second commit transaction) and is rewarded."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from rich.console import Console
from web3 import HTTPProvider, Web3

from loraswarm.node.status import NodeStatus
from loraswarm.scripts.demo import DemoConfig, launch, local_network, stop
from loraswarm.scripts.deploy import Deployment, attach
from loraswarm.scripts.network import TaskTerms


def _wait_for(path: Path, predicate, timeout_s: float) -> NodeStatus:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = NodeStatus.read(path)
        if status is not None and predicate(status):
            return status
        time.sleep(0.2)
    raise AssertionError(f"{path} never reached the expected state: {NodeStatus.read(path)}")


@pytest.mark.e2e
def test_kill_between_commit_and_reveal(tmp_path: Path) -> None:
    # three honest peers: two validators and the victim, who only trains
    config = DemoConfig(peers=3, rounds=1, validators=2, steps=3, batch_size=2, seq_len=32,
                        terms=TaskTerms(commit_s=75, reveal_s=15, attest_s=25, start_delay_s=45),
                        workdir=tmp_path / "net")
    with local_network(config, Console(width=160)) as net:
        procs = {p.plan.name: launch(p, config.rounds) for p in net.peers}
        try:
            victim = net.peers[-1]
            assert not victim.plan.validator and victim.plan.behaviour == "honest"
            status_file = victim.data_dir / "status.json"
            _wait_for(status_file, lambda s: s.round == 0 and s.phase == "committed", 240)
            os.killpg(procs[victim.plan.name].pid, signal.SIGKILL)
            procs[victim.plan.name].wait()
            procs[victim.plan.name] = launch(victim, config.rounds)
            final = _wait_for(status_file, lambda s: s.phase == "stopped", 300)
            for proc in procs.values():
                assert proc.wait(timeout=120) == 0
        finally:
            stop(procs)
        assert final.verdicts == {"0": "ACCEPTED"}
        assert final.rewards > 0 and final.revealed == 1
        w3 = Web3(HTTPProvider(net.rpc_url))
        coordinator = attach(Deployment.from_file(net.deployment_file), w3)["Coordinator"]
        commits = [e for e in coordinator.events.UpdateCommitted().get_logs(from_block=0)
                   if e["args"]["peer"] == victim.address]
        assert len(commits) == 1  # the restart re-used the journaled commit; it sent no other
        claims = [e for e in coordinator.events.RewardClaimed().get_logs(from_block=0)
                  if e["args"]["account"] == victim.address]
        assert len(claims) == 1 and claims[0]["args"]["amount"] == final.rewards
