"""Min-sum: the malicious update's summed squared distance to the benign updates stays within the
largest such sum of any benign update, while pushing as far as possible against the benign mean.

Shejwalkar, Houmansadr, "Manipulating the Byzantine: Optimizing Model Poisoning Attacks and
Defenses for Federated Learning", NDSS 2021,
https://www.ndss-symposium.org/ndss-paper/manipulating-the-byzantine-optimizing-model-poisoning-attacks-and-defenses-for-federated-learning/
"""

from __future__ import annotations

import torch

from harness.attacks._search import largest_gamma, pairwise_sq
from harness.attacks.view import AttackView


def min_sum(view: AttackView) -> torch.Tensor:
    def fits(candidate: torch.Tensor, benign: torch.Tensor) -> bool:
        own = pairwise_sq(candidate[None], benign).sum()
        return bool(own <= pairwise_sq(benign, benign).sum(dim=1).max())

    return largest_gamma(view, fits)
