"""Coordinate-wise median.

Yin, Chen, Ramchandran, Bartlett, "Byzantine-Robust Distributed Learning: Towards Optimal
Statistical Rates", ICML 2018, https://arxiv.org/abs/1803.01498
"""

from __future__ import annotations

from loraswarm.consensus.params import ConsensusParams
from loraswarm.consensus.rules._select import coordinate_median
from loraswarm.consensus.rules.output import Output
from loraswarm.consensus.stack import Stack


def median(stack: Stack, params: ConsensusParams) -> Output:
    return Output(coordinate_median(stack.values), tuple(range(len(stack))))
