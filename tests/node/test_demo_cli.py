"""`loraswarm demo`, the README's main job, run as a user runs it (`--quick`: one round, short
windows): a local chain, the contracts, five real peer processes on the real model; honest peers
are paid, the attacker is slashed, the free rider gets nothing, the global beats the base model."""

from __future__ import annotations

from pathlib import Path

import pytest

from loraswarm.demo.run import QUICK_DEMO
from loraswarm.node.status import NodeStatus
from tests.support import run_cli

OUTLIERS = {"NORM_BOUND", "KRUM_OUTLIER", "MEDIAN_OUTLIER"}


@pytest.mark.e2e
def test_quick_demo_pays_honest_peers_and_rejects_the_attacker_and_the_free_rider(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    terms = QUICK_DEMO.terms
    done = run_cli("demo", "--quick", "--workdir", str(workdir),
                   timeout=terms.start_delay_s + 2 * terms.period_s + 300)
    assert done.returncode == 0, (done.stdout[-4000:], done.stderr[-4000:])
    assert "contribution ledger" in done.stdout and "finalized" in done.stdout, done.stdout[-4000:]

    statuses = {s.behaviour + ":" + s.name: s for p in sorted(workdir.glob("peer*/status.json"))
                if (s := NodeStatus.read(p)) is not None}
    assert len(statuses) == QUICK_DEMO.peers, statuses.keys()
    for key, status in statuses.items():
        assert status.phase == "stopped", (key, status.phase, status.detail)
        verdict = status.verdicts["0"]
        if status.behaviour == "honest":
            assert verdict == "ACCEPTED" and status.rewards > 0, (key, verdict, status.rewards)
            # four steps of training, averaged over three peers: already below the base model
            assert status.ppl["global@0"] < status.ppl["base"], (key, status.ppl)
        elif status.behaviour == "scaling":
            assert verdict in OUTLIERS and status.rewards == 0, (key, verdict)
        else:
            assert (status.behaviour, verdict, status.rewards) == ("zero", "ZERO_UPDATE", 0), key


def test_demo_refuses_a_network_it_cannot_run() -> None:
    done = run_cli("demo", "--peers", "3", "--validators", "4")
    assert done.returncode == 2 and "validators" in done.stderr, (done.returncode, done.stderr)
