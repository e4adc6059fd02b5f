"""The simulation's strategies against its stand-in validation pipeline: every strategy gets the
verdict it should, and honest peers are never rejected (a false positive would make honesty
unprofitable and the economics meaningless)."""

from __future__ import annotations

from collections import Counter

import numpy as np

from loraswarm.incentives.sim.judge import JudgeParams, Reveal, delta_digest, judge
from loraswarm.incentives.sim.run import DEFAULT_PEERS
from loraswarm.incentives.sim.strategies import RoundView, Strategy, alie_z, make_delta
from loraswarm.incentives.sim.synthetic import SyntheticTask
from loraswarm.protocol.codes import FREE_RIDE, MALICIOUS, Reason


def _verdicts(rounds: int, seed: int) -> Counter[tuple[Strategy, Reason]]:
    task = SyntheticTask(seed)
    peers = DEFAULT_PEERS
    colluders = peers.count(Strategy.ALIE)
    seen: set[bytes] = set()
    previous: list[np.ndarray] = []
    verdicts: Counter[tuple[Strategy, Reason]] = Counter()
    for r in range(rounds):
        honest = [task.honest_delta(i, r) for i, s in enumerate(peers) if s is Strategy.HONEST]
        view = RoundView(task, r, len(peers), colluders, honest, previous)
        reveals = [Reveal(f"0x{i:040x}", 100, make_delta(s, i, view)) for i, s in enumerate(peers)]
        outcomes = judge(reveals, seen, JudgeParams())
        verdicts.update((s, o.reason) for s, o in zip(peers, outcomes, strict=True))
        seen |= {delta_digest(x.delta) for x in reveals if x.delta is not None}
        previous = honest
    return verdicts


def test_each_strategy_gets_its_verdict_and_honest_peers_are_never_rejected() -> None:
    verdicts = _verdicts(rounds=30, seed=3)
    by_strategy: dict[Strategy, set[Reason]] = {}
    for (strategy, reason), _ in verdicts.items():
        by_strategy.setdefault(strategy, set()).add(reason)
    assert by_strategy[Strategy.HONEST] == {Reason.ACCEPTED}
    assert by_strategy[Strategy.NO_SHOW] == {Reason.NOT_REVEALED}
    assert by_strategy[Strategy.SCALING] == {Reason.NORM_BOUND}
    assert by_strategy[Strategy.NOISE] == {Reason.NOISE_UPDATE}
    # Round 0 has nothing to replay, so the copycat sends zeros; after that it replays.
    assert by_strategy[Strategy.COPYCAT] == {Reason.ZERO_UPDATE, Reason.REPLAYED_UPDATE}
    # ALIE hides inside the honest spread coordinate by coordinate; its one-sided shift is caught as
    # an outlier, and when the sign test misses, the colluders' identical vectors are duplicates.
    assert by_strategy[Strategy.ALIE] <= {Reason.MEDIAN_OUTLIER, Reason.DUPLICATE_UPDATE}
    assert verdicts[(Strategy.ALIE, Reason.MEDIAN_OUTLIER)] > verdicts[(Strategy.ALIE, Reason.DUPLICATE_UPDATE)]
    for strategy in (Strategy.ZERO, Strategy.COPYCAT, Strategy.NOISE):
        assert by_strategy[strategy] <= FREE_RIDE
    assert by_strategy[Strategy.SCALING] <= MALICIOUS


def test_judge_is_deterministic_and_agreement_is_high_for_honest_peers() -> None:
    task = SyntheticTask(5)
    honest = [task.honest_delta(i, 0) for i in range(8)]
    reveals = [Reveal(f"0x{i:040x}", 50 + i, d) for i, d in enumerate(honest)]
    first = judge(reveals, set(), JudgeParams())
    assert first == judge(reveals, set(), JudgeParams())
    assert all(o.reason is Reason.ACCEPTED and 0.6 < o.agreement <= 1.0 for o in first)


def test_alie_z_matches_the_paper() -> None:
    # n = 50, f = 12: s = floor(50 / 2 + 1) - 12 = 14, z = Phi^-1((50 - 14) / 50) = Phi^-1(0.72).
    assert abs(alie_z(50, 12) - 0.5828) < 1e-3
