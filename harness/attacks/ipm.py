"""Inner-product manipulation: send -epsilon times the benign mean (each colluder with its own
jitter), so that the aggregate's inner product with the true update turns negative while each
attacker stays close to the benign set.

Xie, Koyejo, Gupta, "Fall of Empires: Breaking Byzantine-tolerant SGD by Inner Product
Manipulation", UAI 2020, https://arxiv.org/abs/1903.03936
"""

from __future__ import annotations

import torch

from harness.attacks.view import DEFAULT_JITTER, AttackView, jittered


def ipm(view: AttackView, epsilon: float = 0.5, jitter: float = DEFAULT_JITTER) -> torch.Tensor:
    return jittered(-epsilon * view.benign.to(torch.float64).mean(dim=0), view, jitter)
