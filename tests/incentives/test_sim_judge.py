"""The simulation's strategies against both judges: every strategy gets the verdict it should,
and honest peers are never rejected (a false positive would make honesty unprofitable and the
economics meaningless)."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from harness.sim.run import DEFAULT_PEERS, PIPELINES
from harness.sim.strategies import CLAIMS, MIMICS, RoundView, Strategy, make_delta
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


# The default peers plus one of each mimicking free rider and a Sybil operator's four identities.
PEERS = (*DEFAULT_PEERS, S.MIMIC, S.MIMIC_HISTORY, S.MIMIC_MIXED, S.INFLATED, S.SYBIL, S.SYBIL, S.SYBIL, S.SYBIL)


def _run(pipeline: str, rounds: int, seed: int) -> dict[Strategy, list[tuple[Reason, int]]]:
    """(reason, scored sample count) of every peer's verdicts, by strategy; the mimics see the
    global's public changes (the judge's own, or the accepted mean for the stand-in)."""
    task = SyntheticTask(seed)
    judge = PIPELINES[pipeline]()
    previous = None
    changes: list[torch.Tensor] = []
    typical = None
    out: dict[Strategy, list[tuple[Reason, int]]] = {s: [] for s in Strategy}
    for r in range(rounds):
        honest = torch.stack([task.honest_delta(i, r) for i, s in enumerate(PEERS) if s is S.HONEST])
        view = RoundView(task, r, len(PEERS), honest, previous, Counter(PEERS), 0, tuple(changes[-3:]), typical)
        deltas = [make_delta(s, i, view) for i, s in enumerate(PEERS)]
        reveals = [Reveal(f"0x{i + 1:040x}", CLAIMS.get(s, 100), d)
                   for i, (s, d) in enumerate(zip(PEERS, deltas, strict=True))]
        judged = judge(r, reveals)
        for s, o in zip(PEERS, judged.outcomes, strict=True):
            out[s].append((o.reason, o.sample_count))
        previous = honest
        changes.append(judged.change if judged.change is not None else honest.mean(dim=0))
        norms = sorted(float(d.norm()) for d in deltas if d is not None)
        typical = norms[(len(norms) - 1) // 2]
    return out


def _verdicts(pipeline: str, rounds: int, seed: int) -> dict[Strategy, Counter[Reason]]:
    return {s: Counter(reason for reason, _ in got) for s, got in _run(pipeline, rounds, seed).items()}


@pytest.mark.parametrize("pipeline", ["consensus", "standin"])
def test_each_strategy_gets_its_verdict_and_honest_peers_are_never_rejected(pipeline: str) -> None:
    verdicts = _verdicts(pipeline, rounds=8, seed=3)
    for strategy, reasons in COMMON.items():
        assert set(verdicts[strategy]) <= reasons, (strategy, verdicts[strategy])
    assert verdicts[S.HONEST][R.ACCEPTED] == 8 * PEERS.count(S.HONEST)


def test_consensus_finds_nothing_of_their_own_in_the_mimics() -> None:
    """Fraboni et al.'s free riders and their variants: what they send beyond the global's public
    history is noise (their cheap share too, at this scale), every round, never slashed."""
    verdicts = _verdicts("consensus", rounds=6, seed=3)
    for strategy in MIMICS:
        assert verdicts[strategy] == Counter({R.NOISE_UPDATE: 6}), (strategy, verdicts[strategy])


def test_a_sybil_operator_is_paid_as_one_peer() -> None:
    """Four identities revealing one training with jitter: their deviations from the median agree,
    so consensus counts them as one contributor and scores each on a quarter of its claim."""
    for reason, scored in _run("consensus", rounds=4, seed=3)[S.SYBIL]:
        assert reason is R.ACCEPTED and scored == 100 // 4


def test_consensus_rejects_every_alie_colluder_as_an_outlier() -> None:
    # ALIE colluders each add their own jitter (no near-duplicate cluster), yet every row sits
    # far closer to the median than a trained update: rejected and slashed, every round. (The
    # stand-in's one-sided-shift test caught identical ALIE rows; the jitter defeats it.)
    alie = _verdicts("consensus", rounds=4, seed=3)[S.ALIE]
    assert alie == Counter({R.MEDIAN_OUTLIER: 8})


def test_judges_are_deterministic() -> None:
    task = SyntheticTask(5)
    reveals = [Reveal(f"0x{i + 1:040x}", 50 + i, task.honest_delta(i, 0)) for i in range(8)]
    for pipeline in PIPELINES:
        first = PIPELINES[pipeline]()(0, reveals)
        assert first == PIPELINES[pipeline]()(0, reveals)
        assert all(o.reason is R.ACCEPTED and 0.6 < o.agreement <= 1.0 for o in first.outcomes)
