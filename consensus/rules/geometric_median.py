"""Geometric median by smoothed Weiszfeld iterations (RFA): z <- sum_i a_i x_i / max(nu, |x_i - z|)
normalised, starting from the sample-weighted mean, for a fixed number of iterations.

Pillutla, Kakade, Harchaoui, "Robust Aggregation for Federated Learning", IEEE Transactions on
Signal Processing 2022, https://arxiv.org/abs/1912.13445
"""

from __future__ import annotations

import math

from loraswarm.consensus import fixedpoint
from loraswarm.consensus.params import ConsensusParams
from loraswarm.consensus.rules.centered_clip import distances_to
from loraswarm.consensus.rules.output import Output
from loraswarm.consensus.stack import Stack


def geometric_median(stack: Stack, params: ConsensusParams) -> Output:
    weights = list(stack.weights)
    z = stack.weighted_mean(weights)
    smoothing = math.ldexp(params.geomed_smoothing, stack.bits - fixedpoint.SCORE_SHIFT)
    for _ in range(params.geomed_iterations):
        betas = [a / max(smoothing, r) for a, r in zip(weights, distances_to(stack, z), strict=True)]
        total = sum(betas)
        # Weiszfeld weights floored onto integers summing to at most FLOAT_WEIGHT_TOTAL: exact.
        z = stack.weighted_mean([math.floor(b / total * fixedpoint.FLOAT_WEIGHT_TOTAL) for b in betas])
    return Output(z, tuple(range(len(stack))))
