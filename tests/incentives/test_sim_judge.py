"""The simulation's strategies against both judges: every strategy gets the verdict it should,
and honest peers are never rejected (a false positive would make honesty unprofitable and the
economics meaningless)."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from harness.sim.run import DEFAULT_PEERS, PIPELINES
from harness.sim.strategies import RoundView, Strategy, make_delta
from harness.sim.synthetic import SyntheticTask
from harness.sim.verdicts import Reveal
from loraswarm.protocol.codes import Reason

S, R = Strategy, Reason
COMMON = {
    S.HONEST: {R.ACCEPTED},
    S.NO_SHOW: {R.NOT_REVEALED},
    S.SCALING: {R.NORM_BOUND},
    S.NOISE: {R.NOISE_UPDATE},
    S.ZERO: {R.ZERO_UPDATE},
    # Round 0 has nothing to replay, so the copycat sends zeros; after that it replays.
    S.COPYCAT: {R.ZERO_UPDATE, R.REPLAYED_UPDATE},
}


def _verdicts(pipeline: str, rounds: int, seed: int) -> dict[Strategy, Counter[Reason]]:
    task = SyntheticTask(seed)
    judge = PIPELINES[pipeline]()
    previous = None
    verdicts: dict[Strategy, Counter[Reason]] = {s: Counter() for s in Strategy}
    for r in range(rounds):
        honest = torch.stack([task.honest_delta(i, r) for i, s in enumerate(DEFAULT_PEERS) if s is S.HONEST])
        view = RoundView(task, r, len(DEFAULT_PEERS), honest, previous, Counter(DEFAULT_PEERS))
        reveals = [Reveal(f"0x{i + 1:040x}", 100, make_delta(s, i, view)) for i, s in enumerate(DEFAULT_PEERS)]
        for s, o in zip(DEFAULT_PEERS, judge(r, reveals).outcomes, strict=True):
            verdicts[s][o.reason] += 1
        previous = honest
    return verdicts


@pytest.mark.parametrize("pipeline", ["consensus", "standin"])
def test_each_strategy_gets_its_verdict_and_honest_peers_are_never_rejected(pipeline: str) -> None:
    verdicts = _verdicts(pipeline, rounds=8, seed=3)
    for strategy, reasons in COMMON.items():
        assert set(verdicts[strategy]) <= reasons, (strategy, verdicts[strategy])
    assert verdicts[S.HONEST][R.ACCEPTED] == 8 * DEFAULT_PEERS.count(S.HONEST)


def test_standin_catches_alie_by_its_one_sided_shift() -> None:
    alie = _verdicts("standin", rounds=8, seed=3)[S.ALIE]
    assert set(alie) <= {R.MEDIAN_OUTLIER, R.DUPLICATE_UPDATE}
    assert alie[R.MEDIAN_OUTLIER] > alie[R.DUPLICATE_UPDATE]


def test_consensus_rejects_every_alie_colluder_as_an_outlier() -> None:
    # Identical ALIE vectors are a cluster whose original is crafted: every member is rejected
    # (and slashed), the earliest one too, not only the later duplicates.
    alie = _verdicts("consensus", rounds=4, seed=3)[S.ALIE]
    assert alie == Counter({R.MEDIAN_OUTLIER: 8})


def test_judges_are_deterministic() -> None:
    task = SyntheticTask(5)
    reveals = [Reveal(f"0x{i + 1:040x}", 50 + i, task.honest_delta(i, 0)) for i in range(8)]
    for pipeline in PIPELINES:
        first = PIPELINES[pipeline]()(0, reveals)
        assert first == PIPELINES[pipeline]()(0, reveals)
        assert all(o.reason is R.ACCEPTED and 0.6 < o.agreement <= 1.0 for o in first.outcomes)
