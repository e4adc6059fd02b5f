"""What a model-poisoning or free-riding attacker sees when it crafts its update.

Attacks are pure functions ``(AttackView) -> delta`` over flat float32 vectors (flatten a delta
with ``fixedpoint.flatten`` in sorted key order, unflatten with ``RoundContext.unflatten``). The
strongest published attacks assume an omniscient attacker that knows the benign updates of the
round; ``benign`` holds them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class AttackView:
    own: torch.Tensor  # (d,) the attacker's own honestly trained delta
    benign: torch.Tensor  # (m, d) benign deltas of the round known to the attacker
    previous: torch.Tensor | None  # a delta revealed in an earlier round (for replays)
    peers: int  # n, all updates of the round
    malicious: int  # f, colluding attackers among them
    generator: torch.Generator  # every random choice comes from here: runs reproduce

    def noise(self, scale: float) -> torch.Tensor:
        """Gaussian noise shaped like ``own``, standard deviation ``scale``."""
        return scale * torch.randn(self.own.shape, generator=self.generator, dtype=torch.float32)


Attack = Callable[[AttackView], torch.Tensor]


def benign_rms(view: AttackView) -> float:
    """Root mean square coordinate of the benign updates: the natural unit of noise attacks."""
    return float(view.benign.to(torch.float64).pow(2).mean().sqrt())
