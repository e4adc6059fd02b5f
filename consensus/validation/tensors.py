"""Checks on one delta's tensors: schema, finiteness, norm bound."""

from __future__ import annotations

from fractions import Fraction

import torch

from loraswarm.consensus import fixedpoint
from loraswarm.consensus.validation.state import Candidate, Finding, RoundState, per_peer
from loraswarm.protocol.codes import Reason


@per_peer
def schema(c: Candidate, state: RoundState) -> Finding:
    """Exactly the task adapter's keys, shapes, and floating dtypes."""
    delta = c.submission.delta
    assert delta is not None  # `revealed` ran first
    spec = state.ctx.spec
    if set(delta) != set(spec):
        return Finding(Reason.SCHEMA, {"missing_keys": float(len(set(spec) - set(delta))),
                                       "extra_keys": float(len(set(delta) - set(spec)))})
    for key, shape in spec.items():
        t = delta[key]
        if not isinstance(t, torch.Tensor) or not t.is_floating_point() or tuple(t.shape) != shape:
            return Finding(Reason.SCHEMA)
    return Finding()


@per_peer
def finite(c: Candidate, state: RoundState) -> Finding:
    """No NaN or infinity anywhere."""
    bad = int((~torch.isfinite(c.flat)).sum())
    return Finding(Reason.NOT_FINITE, {"non_finite": float(bad)}) if bad else Finding()


@per_peer
def norm_bound(c: Candidate, state: RoundState) -> Finding:
    """L2 norm within the task's bound. The max-coordinate test comes first: it is exact on the
    floats and guarantees that the value grid holds the delta."""
    bound = state.ctx.norm_bound
    peak = float(c.flat.abs().max()) if c.flat.numel() else 0.0
    if peak > bound:
        return Finding(Reason.NORM_BOUND, {"max_abs": peak})
    limit_sq = (Fraction(bound) * Fraction(2) ** (state.bits - fixedpoint.SCORE_SHIFT)) ** 2
    norm = state.to_units(c.sq_norm)
    if c.sq_norm > limit_sq:
        return Finding(Reason.NORM_BOUND, {"norm": norm, "max_abs": peak})
    return Finding(measures={"norm": norm})
