"""A Little Is Enough (ALIE): the colluders send mean - z * std, coordinate-wise over the benign
updates, with z as large as the majority still tolerates (z from n and f, below), each adding
its own jitter (one shared vector from every colluder is a near-duplicate cluster). Small per
coordinate, so it hides inside the benign spread, yet all colluders push the same way.

Baruch, Baruch, Goldberg, "A Little Is Enough: Circumventing Defenses For Distributed
Learning", NeurIPS 2019, https://arxiv.org/abs/1902.06156
"""

from __future__ import annotations

from statistics import NormalDist

import torch

from harness.attacks.view import DEFAULT_JITTER, AttackView, jittered


def alie_z(peers: int, malicious: int) -> float:
    """z_max: s = floor(n/2 + 1) - f honest updates must be 'further' than the attackers."""
    supporters = peers // 2 + 1 - malicious
    return NormalDist().inv_cdf((peers - supporters) / peers)


def alie_core(view: AttackView, z: float | None = None) -> torch.Tensor:
    """The shared vector mean - z * std (float64)."""
    benign = view.benign.to(torch.float64)
    z = alie_z(view.peers, view.malicious) if z is None else z
    return benign.mean(dim=0) - z * benign.std(dim=0)


def alie(view: AttackView, z: float | None = None, jitter: float = DEFAULT_JITTER) -> torch.Tensor:
    return jittered(alie_core(view, z), view, jitter)
