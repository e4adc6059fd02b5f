"""A Little Is Enough (ALIE): every colluder sends mean - z * std, coordinate-wise over the benign
updates, with z as large as the majority still tolerates (z from n and f, below). Small per
coordinate, so it hides inside the benign spread, yet all colluders push the same way.

Baruch, Baruch, Goldberg, "A Little Is Enough: Circumventing Defenses For Distributed
Learning", NeurIPS 2019, https://arxiv.org/abs/1902.06156
"""

from __future__ import annotations

from statistics import NormalDist

import torch

from harness.attacks.view import AttackView


def alie_z(peers: int, malicious: int) -> float:
    """z_max: s = floor(n/2 + 1) - f honest updates must be 'further' than the attackers."""
    supporters = peers // 2 + 1 - malicious
    return NormalDist().inv_cdf((peers - supporters) / peers)


def alie(view: AttackView, z: float | None = None) -> torch.Tensor:
    benign = view.benign.to(torch.float64)
    z = alie_z(view.peers, view.malicious) if z is None else z
    return (benign.mean(dim=0) - z * benign.std(dim=0)).to(torch.float32)
