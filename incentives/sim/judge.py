"""A deterministic stand-in for the consensus validation pipeline, over synthetic deltas.

consensus/ owns the real pipeline (DESIGN section 5). This one applies the same ordered checks,
cheap ones first, to plain vectors, so the economics can be simulated before and apart from it:
not revealed -> non-finite -> norm bound -> zero -> replay of an earlier round's delta ->
outlier tests against the coordinate-wise median (reversal: negative cosine; sign bias: a
delta that sits on one side of the median in most coordinates, the signature of ALIE's
coordinate-wise shift, after SignGuard, Xu et al. 2022, https://arxiv.org/abs/2109.05872) ->
noise (near-orthogonal to the median) -> near-duplicates within the round. The accepted deltas
are averaged with sample weights; each accepted peer's agreement is its cosine to that average.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from loraswarm.incentives.outcome import PeerOutcome
from loraswarm.protocol.codes import Reason


@dataclass(frozen=True)
class JudgeParams:
    norm_bound: float = 4.0  # honest deltas have norm ~1.3
    zero_norm: float = 1e-6
    reversal_cosine: float = -0.2
    noise_cosine: float = 0.2
    sign_bias: float = 0.65  # honest deltas: ~0.5 +- 0.03 of coordinates below the median
    duplicate_cosine: float = 0.9999


@dataclass(frozen=True)
class Reveal:
    peer: str
    sample_count: int
    delta: np.ndarray | None  # None: committed, never revealed


def delta_digest(delta: np.ndarray) -> bytes:
    return hashlib.sha256(np.ascontiguousarray(delta, dtype=np.float64).tobytes()).digest()


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    denom = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b) / denom if denom else 0.0


def _screen(r: Reveal, seen: set[bytes], params: JudgeParams) -> Reason:
    """Checks that need only the delta itself (and the history of earlier rounds)."""
    if r.delta is None:
        return Reason.NOT_REVEALED
    if not np.all(np.isfinite(r.delta)):
        return Reason.NOT_FINITE
    norm = float(np.linalg.norm(r.delta))
    if norm > params.norm_bound:
        return Reason.NORM_BOUND
    if norm < params.zero_norm:
        return Reason.ZERO_UPDATE
    if delta_digest(r.delta) in seen:
        return Reason.REPLAYED_UPDATE
    return Reason.ACCEPTED


def _against_median(delta: np.ndarray, median: np.ndarray, params: JudgeParams) -> Reason:
    cos = _cos(delta, median)
    if cos < params.reversal_cosine:
        return Reason.MEDIAN_OUTLIER
    below = float(np.mean(delta < median))
    if max(below, 1.0 - below) > params.sign_bias:
        return Reason.MEDIAN_OUTLIER
    if cos < params.noise_cosine:
        return Reason.NOISE_UPDATE
    return Reason.ACCEPTED


def judge(reveals: Sequence[Reveal], seen: set[bytes], params: JudgeParams) -> list[PeerOutcome]:
    """Verdicts for one round, in the order of ``reveals``. ``seen`` holds the digests of deltas
    revealed in earlier rounds."""
    reasons = {r.peer: _screen(r, seen, params) for r in reveals}
    live = [r for r in reveals if reasons[r.peer] is Reason.ACCEPTED]
    if live:
        median = np.median(np.stack([r.delta for r in live]), axis=0)
        for r in live:
            reasons[r.peer] = _against_median(r.delta, median, params)
    live = [r for r in live if reasons[r.peer] is Reason.ACCEPTED]
    for i, a in enumerate(live):
        for b in live[i + 1:]:
            if _cos(a.delta, b.delta) > params.duplicate_cosine:
                reasons[a.peer] = reasons[b.peer] = Reason.DUPLICATE_UPDATE
    accepted = [r for r in live if reasons[r.peer] is Reason.ACCEPTED]
    agreement: dict[str, float] = {}
    if accepted:
        weights = np.array([r.sample_count for r in accepted], dtype=np.float64)
        aggregate = (weights[:, None] * np.stack([r.delta for r in accepted])).sum(axis=0) / weights.sum()
        agreement = {r.peer: _cos(r.delta, aggregate) for r in accepted}
    return [PeerOutcome(r.peer, reasons[r.peer], r.sample_count, agreement.get(r.peer, 0.0)) for r in reveals]
