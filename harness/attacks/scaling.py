"""Scaling / model replacement: each attacker boosts its own (e.g. backdoored) update by
gamma ~ n / f so that the colluders together survive averaging and replace the global model.

Bagdasaryan, Veit, Hua, Estrin, Shmatikov, "How To Backdoor Federated Learning", AISTATS 2020,
https://arxiv.org/abs/1807.00459
"""

from __future__ import annotations

import torch

from harness.attacks.view import AttackView


def scaling(view: AttackView, gamma: float | None = None) -> torch.Tensor:
    """gamma defaults to n / f: the colluders together replace the average."""
    boost = gamma if gamma is not None else view.peers / max(1, view.malicious)
    return boost * view.own
