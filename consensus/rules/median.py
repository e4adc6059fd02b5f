"""Coordinate-wise median; under a reputation prior each row votes with its bounded reference
weight (``_prior.reference_median``: an established peer counts at most twice a fresh one).

Yin, Chen, Ramchandran, Bartlett, "Byzantine-Robust Distributed Learning: Towards Optimal
Statistical Rates", ICML 2018, https://arxiv.org/abs/1803.01498
"""

from __future__ import annotations

from loraswarm.consensus.params import ConsensusParams
from loraswarm.consensus.rules._prior import reference_median
from loraswarm.consensus.rules.output import Output
from loraswarm.consensus.stack import Stack


def median(stack: Stack, params: ConsensusParams) -> Output:
    return Output(reference_median(stack.values, stack.prior), tuple(range(len(stack))))
