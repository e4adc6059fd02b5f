"""Free rider that disguises a missing update as tiny random noise (each its own).

Lin, Du, Liu, "Free-riders in Federated Learning: Attacks and Defenses", 2019,
https://arxiv.org/abs/1911.12560
"""

from __future__ import annotations

import torch

from harness.attacks.view import AttackView, benign_rms


def tiny_noise(view: AttackView, scale: float = 1e-3) -> torch.Tensor:
    return view.noise(scale * benign_rms(view))
