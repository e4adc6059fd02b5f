"""Crash and late join on a real local network.

- A node killed with SIGKILL between its commit and its reveal resumes from SQLite, reveals the
  SAME commitment in the reveal window (no second commit transaction) and is rewarded.
- A peer that joins after round 0 finalized fetches the global adapter by its on-chain hash from
  the other peers, trains from it, and its round-1 update is accepted.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from rich.console import Console
from web3 import HTTPProvider, Web3

from loraswarm.scripts.demo import DemoConfig, launch, local_network, stop
from loraswarm.scripts.deploy import Deployment, attach
from loraswarm.scripts.network import PeerPlan, TaskTerms
from tests.support import wait_for_status


@pytest.mark.e2e
def test_kill_between_commit_and_reveal_and_late_join(tmp_path: Path) -> None:
    plans = (PeerPlan("val0", "honest", True, ("computers",)), PeerPlan("val1", "honest", True, ("science",)),
             PeerPlan("victim", "honest", False, ("politics",)), PeerPlan("late", "honest", False, ("food",)))
    config = DemoConfig(peers=4, rounds=2, validators=2, steps=3, batch_size=2, seq_len=32, plans=plans,
                        terms=TaskTerms(commit_s=75, reveal_s=15, attest_s=25, start_delay_s=45),
                        workdir=tmp_path / "net")
    with local_network(config, Console(width=160)) as net:
        peers = {p.plan.name: p for p in net.peers}
        procs = {name: launch(peers[name], 2) for name in ("val0", "val1", "victim")}
        try:
            victim = peers["victim"]
            status_file = victim.data_dir / "status.json"
            wait_for_status(status_file, lambda s: s.round == 0 and s.phase == "committed", 240)
            os.killpg(procs["victim"].pid, signal.SIGKILL)
            procs["victim"].wait()
            procs["victim"] = launch(victim, 2)
            wait_for_status(peers["val0"].data_dir / "status.json", lambda s: "0" in s.verdicts, 300)  # round 0 settled
            procs["late"] = launch(peers["late"], 1)
            final = wait_for_status(status_file, lambda s: s.phase == "stopped", 400)
            late = wait_for_status(peers["late"].data_dir / "status.json", lambda s: s.phase == "stopped", 300)
            for proc in procs.values():
                assert proc.wait(timeout=120) == 0
        finally:
            stop(procs)
        w3 = Web3(HTTPProvider(net.rpc_url))
        coordinator = attach(Deployment.from_file(net.deployment_file), w3)["Coordinator"]

        assert final.verdicts == {"0": "ACCEPTED", "1": "ACCEPTED"}
        commits = [e for e in coordinator.events.UpdateCommitted().get_logs(from_block=0)
                   if e["args"]["peer"] == victim.address and e["args"]["round"] == 0]
        assert len(commits) == 1  # the restart re-used the journaled commit; it sent no other
        claims = [e for e in coordinator.events.RewardClaimed().get_logs(from_block=0)
                  if e["args"]["account"] == victim.address]
        assert len(claims) == 2 and sum(c["args"]["amount"] for c in claims) == final.rewards

        assert late.verdicts == {"1": "ACCEPTED"} and late.rewards > 0
        finalized = {e["args"]["round"]: "0x" + e["args"]["globalHash"].hex()
                     for e in coordinator.events.RoundFinalized().get_logs(from_block=0)}
        assert (peers["late"].data_dir / "globals" / f"{finalized[0]}.safetensors").is_file()
