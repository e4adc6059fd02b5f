"""Stale replay: resend a delta revealed in an earlier round instead of training (free rider k
resends earlier delta k, cycling when there are fewer).

Lin, Du, Liu, "Free-riders in Federated Learning: Attacks and Defenses", 2019,
https://arxiv.org/abs/1911.12560 (free riders that reuse previous updates).
"""

from __future__ import annotations

import torch

from harness.attacks.view import AttackView


def replay(view: AttackView) -> torch.Tensor:
    if view.previous is None:
        raise ValueError("a replay needs a previously revealed delta")
    old = view.previous.reshape(-1, view.own.shape[1])
    return torch.stack([old[k % len(old)] for k in range(view.rows)]).clone()
