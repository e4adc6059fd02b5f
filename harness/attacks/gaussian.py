"""Gaussian noise: each attacker sends its own pure noise, by default at the benign updates'
scale (a larger scale is a plain norm outlier).

Blanchard, El Mhamdi, Guerraoui, Stainer, "Machine Learning with Adversaries: Byzantine Tolerant
Gradient Descent", NeurIPS 2017 (the Gaussian Byzantine worker of their experiments).
"""

from __future__ import annotations

import torch

from harness.attacks.view import AttackView, benign_rms


def gaussian(view: AttackView, scale: float = 1.0) -> torch.Tensor:
    return view.noise(scale * benign_rms(view))
