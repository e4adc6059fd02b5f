"""Deterministic validation and robust aggregation of a round's LoRA deltas.

    outcome = settle_round(submissions, ctx)     # verdicts + aggregate, one call
    verdict = validate_round(submissions, ctx)   # or step by step
    agg = aggregate(verdict.accepted, ctx)
    outcome = fold_outcome(verdict, agg)         # what settle_round returns
    new_global = apply_delta(global_adapter, agg.delta); tensors_hash(new_global)

Every honest validator gets the same verdicts, measures and aggregate bytes: see fixedpoint.py.
"""

from loraswarm.consensus.aggregate import (
    Aggregate,
    RoundOutcome,
    aggregate,
    apply_delta,
    fold_outcome,
    settle_round,
)
from loraswarm.consensus.fixedpoint import tensors_hash
from loraswarm.consensus.params import ConsensusParams
from loraswarm.consensus.rules import RULES
from loraswarm.consensus.types import Fingerprint, RoundContext, RoundVerdict, Submission, Verdict
from loraswarm.consensus.validation.pipeline import PIPELINE, validate_round

__all__ = [
    "PIPELINE",
    "RULES",
    "Aggregate",
    "ConsensusParams",
    "Fingerprint",
    "RoundContext",
    "RoundOutcome",
    "RoundVerdict",
    "Submission",
    "Verdict",
    "aggregate",
    "apply_delta",
    "fold_outcome",
    "settle_round",
    "tensors_hash",
    "validate_round",
]
