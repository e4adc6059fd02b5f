"""Copying free riders: resend another peer's revealed delta (free rider k copies benign update
k), as is or with a little noise to dodge an exact-match check (possible for a colluding sybil
that receives it before the reveal).

Fraboni, Vidal, Lorenzi, "Free-rider Attacks on Model Aggregation in Federated Learning",
AISTATS 2021, https://arxiv.org/abs/2006.11901
"""

from __future__ import annotations

import torch

from harness.attacks.view import AttackView


def _victims(view: AttackView) -> torch.Tensor:
    return torch.stack([view.benign[k % len(view.benign)] for k in range(view.rows)])


def copy(view: AttackView) -> torch.Tensor:
    return _victims(view).clone()


def copy_with_noise(view: AttackView, relative: float = 0.05) -> torch.Tensor:
    """Each copy plus Gaussian noise of ``relative`` times its norm in total."""
    victims = _victims(view)
    scale = relative * victims.to(torch.float64).norm(dim=1, keepdim=True) / max(1, victims.shape[1]) ** 0.5
    return victims + scale.to(torch.float32) * view.noise(1.0)
