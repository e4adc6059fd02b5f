"""What a round of local training hands the node: the change to the global adapter and how the
training went, bent into an attack when a demo or test peer's ``Behaviour`` says so.

Apart from the trainer (torch only, no model libraries): a scale run's light peer submits cached
real deltas through the same types and the same bending.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from loraswarm.node.codec import Delta
from loraswarm.node.config import Behaviour

SCALING_GAMMA = 20.0


@dataclass(frozen=True)
class TrainStats:
    steps: int
    tokens: int  # tokens that carried a loss: the sample weight FedAvg uses
    seconds: float
    tokens_per_s: float
    mean_loss: float
    final_loss: float
    interrupted: bool  # Ctrl-C stopped the loop after a whole step


@dataclass(frozen=True)
class TrainedDelta:
    """One round of local training: the change to the global adapter, and how it went."""

    delta: Delta
    stats: TrainStats


def bend(delta: Delta, behaviour: Behaviour) -> Delta:
    """The delta a peer of this behaviour sends in place of its honest one."""
    if behaviour is Behaviour.SCALING:
        return {k: v * SCALING_GAMMA for k, v in delta.items()}
    if behaviour is Behaviour.ZERO:
        return {k: torch.zeros_like(v) for k, v in delta.items()}
    return delta
