"""Coordinate-wise trimmed mean: per coordinate, drop the ``trim_fraction`` largest and smallest
values and average the rest (the cut is int(trim_fraction * n) per side, as in scipy/Flower).

Yin, Chen, Ramchandran, Bartlett, "Byzantine-Robust Distributed Learning: Towards Optimal
Statistical Rates", ICML 2018, https://arxiv.org/abs/1803.01498
"""

from __future__ import annotations

import numpy as np
import torch

from loraswarm.consensus.fixedpoint import round_div
from loraswarm.consensus.params import ConsensusParams
from loraswarm.consensus.rules.output import Output
from loraswarm.consensus.stack import Stack


def trimmed_mean(stack: Stack, params: ConsensusParams) -> Output:
    n = len(stack)
    cut = int(params.trim_fraction * n)
    kept = n - 2 * cut
    parted = np.partition(stack.values.numpy(), (cut, n - cut - 1), axis=0)[cut:n - cut]
    total = torch.from_numpy(parted.sum(axis=0, dtype=np.int64))
    return Output(round_div(total, kept), tuple(range(n)))
