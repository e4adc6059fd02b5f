"""Copying free riders: resend another peer's revealed delta, as is or with a little noise to
dodge an exact-match check (possible for a colluding sybil that receives it before the reveal).

Fraboni, Vidal, Lorenzi, "Free-rider Attacks on Model Aggregation in Federated Learning",
AISTATS 2021, https://arxiv.org/abs/2006.11901
"""

from __future__ import annotations

import torch

from harness.attacks.view import AttackView


def copy(view: AttackView) -> torch.Tensor:
    return view.benign[0].clone()


def copy_with_noise(view: AttackView, relative: float = 0.05) -> torch.Tensor:
    """The copy plus Gaussian noise of ``relative`` times its norm in total."""
    victim = view.benign[0]
    scale = relative * float(victim.norm()) / max(1, victim.numel()) ** 0.5
    return victim + view.noise(scale)
