"""Min-max: every malicious update's largest distance to any benign update stays within the
largest distance between two benign updates, while pushing as far as possible along a
perturbation direction (inverse unit mean, inverse std, inverse sign); each colluder adds its own
jitter, and the test holds for every colluder's row.

Shejwalkar, Houmansadr, "Manipulating the Byzantine: Optimizing Model Poisoning Attacks and
Defenses for Federated Learning", NDSS 2021,
https://www.ndss-symposium.org/ndss-paper/manipulating-the-byzantine-optimizing-model-poisoning-attacks-and-defenses-for-federated-learning/
"""

from __future__ import annotations

import torch

from harness.attacks._search import crafted_rows, pairwise_sq
from harness.attacks.view import DEFAULT_JITTER, AttackView


def min_max_fits(rows: torch.Tensor, benign: torch.Tensor) -> bool:
    return bool(pairwise_sq(rows, benign).max() <= pairwise_sq(benign, benign).max())


def min_max(view: AttackView, kind: str = "sgn", jitter: float = DEFAULT_JITTER) -> torch.Tensor:
    return crafted_rows(view, min_max_fits, kind, jitter)
