"""Contribution score of each accepted update: self-reported sample weight (capped) times the
update's agreement with the round's robust aggregate (cosine, clipped to [0, 1]).

    score = sample_count * floor(clip(agreement, 0, 1) * 1e6)

Why this shape:
- Agreement with the robust aggregate is what the pipeline already computes for every update
  (consensus/validation/pipeline.py), so scoring adds no evaluation cost and every validator gets the same number.
  An update pointing away from the consensus direction helps nobody and scores zero.
- Sample weight mirrors FedAvg's weighting, but the count is self-reported and cannot be checked,
  so it arrives capped (consensus's ``ConsensusParams.max_samples``, the one cap: the verdict's
  ``weight`` measure): inflating it beyond the cap buys nothing.
- The float is quantized once, with floor, to parts per million; everything after is integer
  arithmetic, so every validator computes the same score, bit for bit.
Rejected updates, free riders and no-shows score zero whatever their agreement.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from loraswarm.incentives.outcome import PeerOutcome, check_unique
from loraswarm.protocol.codes import Reason

AGREEMENT_SCALE = 1_000_000


@dataclass(frozen=True)
class ScoringParams:
    # Agreements at or below this many ppm score zero: near-orthogonal updates add nothing.
    min_agreement_ppm: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.min_agreement_ppm < AGREEMENT_SCALE:
            raise ValueError(f"bad scoring parameters {self}")


def agreement_ppm(agreement: float) -> int:
    """Agreement clipped to [0, 1] and floored to parts per million; NaN counts as zero."""
    if math.isnan(agreement):
        return 0
    return math.floor(min(max(agreement, 0.0), 1.0) * AGREEMENT_SCALE)


def contribution_score(outcome: PeerOutcome, params: ScoringParams) -> int:
    if outcome.reason is not Reason.ACCEPTED:
        return 0
    ppm = agreement_ppm(outcome.agreement)
    if ppm <= params.min_agreement_ppm:
        return 0
    return max(outcome.sample_count, 0) * ppm


def score_round(outcomes: Iterable[PeerOutcome], params: ScoringParams) -> dict[str, int]:
    """Score of every peer in the round (zeros included, so the ledger can show them)."""
    outcomes = list(outcomes)
    check_unique([o.peer for o in outcomes], "peer")
    return {o.peer: contribution_score(o, params) for o in outcomes}
