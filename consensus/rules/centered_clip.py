"""Centered clipping: starting from a robust centre v, repeat v <- v + mean_i clip(x_i - v, tau)
where clip scales a difference down to length tau. Updates within tau of the centre count fully
(FedAvg-like when clean); an attacker moves the centre by at most tau * f / n per iteration.

Karimireddy, He, Jaggi, "Learning from History for Byzantine Robust Optimization", ICML 2021,
https://arxiv.org/abs/2012.10333

The paper starts from the previous round's momentum; a fresh round here starts from the
coordinate-wise median. tau is the task's clip_radius, or else the median distance to the centre
(recomputed each iteration, so at least half the updates are never clipped).

Under a reputation prior the start is the weighted median and the mean is weighted by the same
bounded votes (``_prior.reference_weights``: at most 2:1 for an established peer over a fresh
one), so fresh Sybil identities pull the centre less. Self-reported sample counts never enter:
a clipped mean is the robust rule, and a claim cannot be checked.
"""

from __future__ import annotations

import math

import torch

from loraswarm.consensus import fixedpoint
from loraswarm.consensus.params import ConsensusParams
from loraswarm.consensus.rules._prior import reference_median, reference_weights
from loraswarm.consensus.rules.output import Output
from loraswarm.consensus.stack import Stack


def distances_to(stack: Stack, centre: torch.Tensor) -> list[float]:
    """Distance (score grid) of each row to a value-grid centre, from exact integers."""
    dots = stack.dots(centre)
    norms = torch.diagonal(stack.gram)
    centre_sq = fixedpoint.sq_norm(centre)
    return [math.sqrt(int(norms[i]) - 2 * int(dots[i]) + centre_sq) for i in range(len(stack))]


def centered_clip(stack: Stack, params: ConsensusParams) -> Output:
    n = len(stack)
    votes = [1] * n if stack.prior is None else reference_weights(stack.prior)
    # Each row's share of the mean, floored onto integers (FLOAT_WEIGHT_TOTAL // n each without
    # a prior): the step below is exact.
    shares = [v * fixedpoint.FLOAT_WEIGHT_TOTAL // sum(votes) for v in votes]
    centre = reference_median(stack.values, stack.prior)
    fixed_radius = (None if params.clip_radius is None
                    else math.ldexp(params.clip_radius, stack.bits - fixedpoint.SCORE_SHIFT))
    for _ in range(params.clip_iterations):
        dist = distances_to(stack, centre)
        radius = fixed_radius if fixed_radius is not None else sorted(dist)[(n - 1) // 2]
        # Clip factors floored onto integers (one = the row's share): the step stays exact.
        factors = [s if r <= radius else math.floor(radius / r * s) for s, r in zip(shares, dist, strict=True)]
        step = fixedpoint.weighted_sum(stack.wide, factors) - sum(factors) * centre
        centre = centre + fixedpoint.round_div(step, sum(shares))
    return Output(centre, tuple(range(n)))
