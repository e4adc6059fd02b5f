"""Sign flipping: each attacker sends its own honest update negated, pulling the model back the
way it came.

Damaskinos, El Mhamdi, Guerraoui, Patra, Taziki, "Asynchronous Byzantine Machine Learning (the
case of SGD)", ICML 2018, https://arxiv.org/abs/1802.07928 (the reversed-gradient attacker).
"""

from __future__ import annotations

import torch

from harness.attacks.view import AttackView


def sign_flip(view: AttackView, scale: float = 1.0) -> torch.Tensor:
    return -scale * view.own
