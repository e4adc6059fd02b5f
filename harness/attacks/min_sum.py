"""Min-sum: every malicious update's summed squared distance to the benign updates stays within
the largest such sum of any benign update, while pushing as far as possible along a perturbation
direction (inverse unit mean, inverse std, inverse sign); each colluder adds its own jitter, and
the test holds for every colluder's row.

Shejwalkar, Houmansadr, "Manipulating the Byzantine: Optimizing Model Poisoning Attacks and
Defenses for Federated Learning", NDSS 2021,
https://www.ndss-symposium.org/ndss-paper/manipulating-the-byzantine-optimizing-model-poisoning-attacks-and-defenses-for-federated-learning/
"""

from __future__ import annotations

import torch

from harness.attacks._search import crafted_rows, pairwise_sq
from harness.attacks.view import DEFAULT_JITTER, AttackView


def min_sum_fits(rows: torch.Tensor, benign: torch.Tensor) -> bool:
    own = pairwise_sq(rows, benign).sum(dim=1).max()
    return bool(own <= pairwise_sq(benign, benign).sum(dim=1).max())


def min_sum(view: AttackView, kind: str = "sgn", jitter: float = DEFAULT_JITTER) -> torch.Tensor:
    return crafted_rows(view, min_sum_fits, kind, jitter)
