"""FedAvg: the sample-weighted mean of the updates.

McMahan et al., "Communication-Efficient Learning of Deep Networks from Decentralized Data",
AISTATS 2017, https://arxiv.org/abs/1602.05629
"""

from __future__ import annotations

from loraswarm.consensus.params import ConsensusParams
from loraswarm.consensus.rules.output import Output
from loraswarm.consensus.stack import Stack


def fedavg(stack: Stack, params: ConsensusParams) -> Output:
    return Output(stack.weighted_mean(list(stack.weights)), tuple(range(len(stack))))
