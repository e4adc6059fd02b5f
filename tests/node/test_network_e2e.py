"""End to end on a local testnet: real peer processes, the real model and fortunes data, the real
contracts. 4 peers (2 honest validators, 1 scaling attacker, 1 zero-delta free rider) x 2 rounds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from loraswarm.scripts.demo import DemoConfig, DemoRun, run_network
from loraswarm.scripts.network import TaskTerms
from tests.support import run_cli

TOKEN = 10**18


@pytest.mark.e2e
def test_four_peers_two_rounds(tmp_path: Path) -> None:
    config = DemoConfig(peers=4, rounds=2, validators=2, steps=3, batch_size=2, seq_len=32,
                        terms=TaskTerms(commit_s=60, reveal_s=15, attest_s=25, start_delay_s=45),
                        workdir=tmp_path / "net")
    seen: dict[str, object] = {}

    def on_done(run: DemoRun) -> None:
        args = ["--deployment", str(run.deployment_file), "--results", str(run.peers[0].data_dir), "--json"]
        peers = run_cli("ledger", "peers", *args)
        rounds = run_cli("ledger", "rounds", *args)
        assert peers.returncode == 0, peers.stderr
        assert rounds.returncode == 0, rounds.stderr
        seen["peers"] = json.loads(peers.stdout)
        seen["rounds"] = json.loads(rounds.stdout)
        from web3 import HTTPProvider, Web3

        from loraswarm.scripts.deploy import Deployment, attach

        w3 = Web3(HTTPProvider(run.rpc_url))
        coordinator = attach(Deployment.from_file(run.deployment_file), w3)["Coordinator"]
        seen["attested"] = [dict(e["args"]) for e in coordinator.events.Attested().get_logs(from_block=0)]

    run = run_network(config, Console(width=160), timeout_s=600, on_done=on_done)
    assert all(code == 0 for code in run.exit_codes.values()), (run.exit_codes, run.workdir)
    by_behaviour = {p.plan.behaviour + ("-v" if p.plan.validator else ""): p.address.lower() for p in run.peers}
    ledger = {row["account"]: row for row in seen["peers"]}  # type: ignore[union-attr]
    rounds = seen["rounds"]
    assert [r["status"] for r in rounds] == ["finalized", "finalized"]  # type: ignore[index]

    attacker = ledger[by_behaviour["scaling"]]
    assert attacker["accepted"] == 0 and attacker["rewards_claimed"] == 0
    assert attacker["slashed"] > 0 and set(attacker["slash_reasons"]) <= {"NORM_BOUND", "KRUM_OUTLIER",
                                                                          "MEDIAN_OUTLIER"}
    free_rider = ledger[by_behaviour["zero"]]
    assert free_rider["rewards_claimed"] == 0 and free_rider["accepted"] == 0
    assert free_rider["rejected"] == {"ZERO_UPDATE": 2}
    honest = [ledger[a] for key, a in by_behaviour.items() if key.startswith("honest")]
    assert honest and all(h["rewards_claimed"] > 0 and h["accepted"] == 2 for h in honest)

    # Every validator attested the same global adapter in each round.
    attested = seen["attested"]
    for r in (0, 1):
        hashes = {a["globalHash"] for a in attested if a["round"] == r}  # type: ignore[union-attr]
        assert len(hashes) == 1, hashes
    # The peers' held-out perplexity was measured for the base and after each round.
    for status in run.statuses.values():
        assert {"base", "global@0", "global@1"} <= set(status.ppl)
