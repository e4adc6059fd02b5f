"""Outlier checks among the round's remaining updates: Krum scores (Blanchard et al. 2017) and
distance to the coordinate-wise median (Yin et al. 2018), each against a multiple of the
round's own median, so the threshold follows the honest spread of the task."""

from __future__ import annotations

import math

from loraswarm.consensus import fixedpoint
from loraswarm.consensus.rules._select import coordinate_median
from loraswarm.consensus.rules.krum import krum_scores
from loraswarm.consensus.validation.state import Finding, RoundState, above, lower_median
from loraswarm.protocol.codes import Reason


def krum_outlier(state: RoundState, alive: list[int]) -> dict[int, Finding]:
    """Krum score above krum_score_factor times the round's median score."""
    if not alive:
        return {}
    params = state.ctx.params
    scores = krum_scores(state.stack(alive).sq_distances, params.byzantine(len(alive)))
    median = lower_median(scores)
    scale = math.ldexp(1.0, 2 * (fixedpoint.SCORE_SHIFT - state.bits))
    return {i: Finding(Reason.KRUM_OUTLIER if above(s, params.krum_score_factor, median)
                       else Reason.ACCEPTED,
                       {"krum_score": s * scale, "krum_to_median": s / median if median else 0.0})
            for i, s in zip(alive, scores, strict=True)}


def median_outlier(state: RoundState, alive: list[int]) -> dict[int, Finding]:
    """Distance to the coordinate-wise median above median_distance_factor times the median
    such distance (squared: factor squared, decided on integers)."""
    if not alive:
        return {}
    stack = state.stack(alive)
    centre = coordinate_median(stack.values)
    dots = fixedpoint.dots(stack.values, centre)
    centre_sq = fixedpoint.sq_norm(centre)
    sq = [int(stack.gram[r, r]) - 2 * int(dots[r]) + centre_sq for r in range(len(alive))]
    median = lower_median(sq)
    factor_sq = state.ctx.params.median_distance_factor ** 2
    return {i: Finding(Reason.MEDIAN_OUTLIER if above(s, factor_sq, median) else Reason.ACCEPTED,
                       {"median_distance": state.to_units(s),
                        "median_distance_ratio": math.sqrt(s / median) if median else 0.0})
            for i, s in zip(alive, sq, strict=True)}
