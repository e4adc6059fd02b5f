"""Free rider that sends an all-zero delta (no training at all).

Lin, Du, Liu, "Free-riders in Federated Learning: Attacks and Defenses", 2019,
https://arxiv.org/abs/1911.12560
"""

from __future__ import annotations

import torch

from harness.attacks.view import AttackView


def zero_delta(view: AttackView) -> torch.Tensor:
    return torch.zeros_like(view.own)
