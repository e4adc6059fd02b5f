"""A stand-in validation pipeline over synthetic deltas, with its own test against ALIE.

The same ordered checks as consensus's pipeline, cheap ones first: not revealed -> non-finite ->
norm bound -> zero -> replay of an earlier round's delta -> outlier tests against the
coordinate-wise median (reversal: negative cosine; one-sided shift: a delta below, or above, the
median in most coordinates, the signature of ALIE's mean - z * std, after SignGuard, Xu et al.
2022, https://arxiv.org/abs/2109.05872; a delta much closer to the median than the round's typical
distance, which jittered ALIE colluders are and no independent training is) -> noise (near-orthogonal to the median) ->
near-duplicates within the round (all copies rejected: under commit-reveal a same-round copy
means collusion). Accepted deltas are averaged with sample weights; a peer's agreement is its
cosine to that average.

Its one-sided-shift test runs on every delta. consensus/ has no such test per delta; it catches
ALIE another way (since commit f4ff629): colluders sending one vector form a cluster of
near-duplicates, and a cluster whose original is crafted (much closer to the median of the other
updates than any trained update, or one-sided against it) is collusion: every member is rejected
as MEDIAN_OUTLIER. This stand-in rejects them too, most as MEDIAN_OUTLIER (by the one-sided
shift) and the rest as DUPLICATE_UPDATE. The economics benchmark runs it next to consensus's
pipeline (its "standin" key) as a second, independent judge of the same deltas.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from eth_utils import keccak

from harness.sim.synthetic import NORM_BOUND
from harness.sim.verdicts import HISTORY_ROUNDS, Judged, Reveal, delta_digest
from loraswarm.incentives.outcome import PeerOutcome
from loraswarm.protocol.codes import Reason


@dataclass(frozen=True)
class StandInParams:
    norm_bound: float = NORM_BOUND
    zero_norm: float = 1e-6
    reversal_cosine: float = -0.2
    noise_cosine: float = 0.4  # 6.4 standard deviations of a random direction at d = 256; honest ~0.8
    one_sided: float = 0.65  # honest deltas: 0.5 +- 0.03 of coordinates below the median (d = 256)
    central: float = 0.5  # of the round's median distance to the median: closer was crafted from it
    duplicate_cosine: float = 0.9999


def _cos(a: torch.Tensor, b: torch.Tensor) -> float:
    denom = float(a.norm() * b.norm())
    return float(a @ b) / denom if denom else 0.0


def _screen(delta: torch.Tensor | None, seen: set[bytes], params: StandInParams) -> Reason:
    """Checks that need only the delta itself (and the digests of earlier rounds' deltas)."""
    if delta is None:
        return Reason.NOT_REVEALED
    if not bool(torch.isfinite(delta).all()):
        return Reason.NOT_FINITE
    norm = float(delta.norm())
    if norm > params.norm_bound:
        return Reason.NORM_BOUND
    if norm < params.zero_norm:
        return Reason.ZERO_UPDATE
    if delta_digest(delta) in seen:
        return Reason.REPLAYED_UPDATE
    return Reason.ACCEPTED


def _against_median(delta: torch.Tensor, median: torch.Tensor, params: StandInParams) -> Reason:
    cos = _cos(delta, median)
    if cos < params.reversal_cosine:
        return Reason.MEDIAN_OUTLIER
    below = float((delta < median).double().mean())
    if max(below, 1.0 - below) > params.one_sided:
        return Reason.MEDIAN_OUTLIER
    if cos < params.noise_cosine:
        return Reason.NOISE_UPDATE
    return Reason.ACCEPTED


def judge_round(reveals: Sequence[Reveal], seen: set[bytes], params: StandInParams) -> list[PeerOutcome]:
    """Verdicts in the order of ``reveals``; ``seen`` holds digests of earlier rounds' deltas."""
    deltas = {r.peer: None if r.delta is None else r.delta.double() for r in reveals}
    reasons = {r.peer: _screen(deltas[r.peer], seen, params) for r in reveals}
    live = [r.peer for r in reveals if reasons[r.peer] is Reason.ACCEPTED]
    if live:
        median = torch.stack([deltas[p] for p in live]).median(dim=0).values
        distance = {p: float((deltas[p] - median).norm()) for p in live}
        typical = sorted(distance.values())[(len(live) - 1) // 2]
        for p in live:
            reasons[p] = _against_median(deltas[p], median, params)
            if reasons[p] is Reason.ACCEPTED and distance[p] < params.central * typical:
                reasons[p] = Reason.MEDIAN_OUTLIER  # crafted from the others (jittered ALIE)
    live = [p for p in live if reasons[p] is Reason.ACCEPTED]
    for i, a in enumerate(live):
        for b in live[i + 1:]:
            if _cos(deltas[a], deltas[b]) > params.duplicate_cosine:
                reasons[a] = reasons[b] = Reason.DUPLICATE_UPDATE
    accepted = [r for r in reveals if reasons[r.peer] is Reason.ACCEPTED]
    agreement: dict[str, float] = {}
    if accepted:
        weights = torch.tensor([float(r.sample_count) for r in accepted], dtype=torch.float64)
        aggregate = (weights[:, None] * torch.stack([deltas[r.peer] for r in accepted])).sum(dim=0) / weights.sum()
        agreement = {r.peer: _cos(deltas[r.peer], aggregate) for r in accepted}
    return [PeerOutcome(r.peer, reasons[r.peer], r.sample_count, agreement.get(r.peer, 0.0)) for r in reveals]


class StandInJudge:
    def __init__(self, params: StandInParams | None = None) -> None:
        self._params = params or StandInParams()
        self._history: deque[set[bytes]] = deque(maxlen=HISTORY_ROUNDS)

    def __call__(self, round_id: int, reveals: Sequence[Reveal]) -> Judged:
        outcomes = judge_round(reveals, set().union(*self._history), self._params)
        self._history.append({delta_digest(r.delta) for r in reveals if r.delta is not None})
        accepted = [delta_digest(r.delta) for r, o in zip(reveals, outcomes, strict=True)
                    if r.delta is not None and o.reason is Reason.ACCEPTED]
        return Judged(outcomes, keccak(round_id.to_bytes(8, "big") + b"".join(accepted)))
