"""Outlier checks among the round's remaining updates: Krum scores (Blanchard et al. 2017) and
distance to the coordinate-wise median (Yin et al. 2018), each against a multiple of the
round's own median, so the threshold follows the honest spread of the task; and the direction
test against that median, which catches what hides inside the spread by pointing backwards
(sign flip, inner-product manipulation: Xie et al. 2020). Under a reputation prior that median
leans on established peers (rules/_prior.py) while the thresholds stay the round's own: fresh
Sybil identities move the reference less, and an honest newcomer is judged like anyone else."""

from __future__ import annotations

import math

from loraswarm.consensus import fixedpoint
from loraswarm.consensus.rules._prior import reference_median
from loraswarm.consensus.rules.krum import krum_scores
from loraswarm.consensus.validation.state import (
    Finding,
    RoundState,
    above,
    cos_above,
    cosine,
    lower_median,
)
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
    """Distance to the coordinate-wise median (weighted under a prior) above
    median_distance_factor times the median such distance (squared: factor squared, decided on
    integers), or a cosine to the median at or below median_min_cos."""
    if not alive:
        return {}
    params = state.ctx.params
    stack = state.stack(alive)
    centre = reference_median(stack.values, stack.prior)
    dots = [int(v) for v in stack.dots(centre).tolist()]
    centre_sq = fixedpoint.sq_norm(centre)
    norms = [int(stack.gram[r, r]) for r in range(len(alive))]
    sq = [n - 2 * dot + centre_sq for n, dot in zip(norms, dots, strict=True)]
    median = lower_median(sq)
    factor_sq = params.median_distance_factor ** 2
    out: dict[int, Finding] = {}
    for r, i in enumerate(alive):
        far = above(sq[r], factor_sq, median)
        backwards = not cos_above(dots[r], norms[r], centre_sq, params.median_min_cos)
        out[i] = Finding(Reason.MEDIAN_OUTLIER if far or backwards else Reason.ACCEPTED,
                         {"median_distance": state.to_units(sq[r]),
                          "median_distance_ratio": math.sqrt(sq[r] / median) if median else 0.0,
                          "median_cos": cosine(dots[r], norms[r], centre_sq)})
    return out
