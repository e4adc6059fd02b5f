"""Min-max: the malicious update's largest distance to any benign update stays within the largest
distance between two benign updates, while pushing as far as possible against the benign mean.

Shejwalkar, Houmansadr, "Manipulating the Byzantine: Optimizing Model Poisoning Attacks and
Defenses for Federated Learning", NDSS 2021,
https://www.ndss-symposium.org/ndss-paper/manipulating-the-byzantine-optimizing-model-poisoning-attacks-and-defenses-for-federated-learning/
"""

from __future__ import annotations

import torch

from harness.attacks._search import largest_gamma, pairwise_sq
from harness.attacks.view import AttackView


def min_max(view: AttackView) -> torch.Tensor:
    def fits(candidate: torch.Tensor, benign: torch.Tensor) -> bool:
        return bool(pairwise_sq(candidate[None], benign).max() <= pairwise_sq(benign, benign).max())

    return largest_gamma(view, fits)
