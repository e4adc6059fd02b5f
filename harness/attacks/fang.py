"""Local model poisoning tailored to the aggregation rule (full knowledge): against Krum, the
colluders send -lambda * s (s: the sign of the benign mean, the direction the model would move)
with lambda halved from the paper's upper bound until Krum picks one of them; against the
trimmed mean, each colluder draws every coordinate just beyond the benign extreme on the side
opposite to s (within a factor b = 2 of it), independently of the others.

Fang, Cao, Jia, Gong, "Local Model Poisoning Attacks to Byzantine-Robust Federated Learning",
USENIX Security 2020, https://arxiv.org/abs/1911.11815

In delta space the paper's w_Re (the model before the attack) is the origin. The paper's other
colluders sit within epsilon of the first; here each adds its own jitter (default 0.15 of the
norm: pairwise cosine ~0.98, under the near-duplicate threshold).
"""

from __future__ import annotations

import math

import torch

from harness.attacks._search import pairwise_sq
from harness.attacks.view import AttackView, unit_noise
from loraswarm.consensus.params import ConsensusParams

KRUM_JITTER = 0.15


def krum_pick(rows: torch.Tensor, f: int) -> int:
    """Index of the row Krum selects (float64 scores; ties to the lower index)."""
    sq = pairwise_sq(rows, rows)
    neighbours = max(1, rows.shape[0] - f - 2)
    scores = torch.sort(sq, dim=1).values[:, 1:neighbours + 1].sum(dim=1)
    return int(torch.argmin(scores))


def fang_krum(view: AttackView, jitter: float = KRUM_JITTER, tolerance: float = 1e-5) -> torch.Tensor:
    benign = view.benign.to(torch.float64)
    m, c, d = view.peers, view.malicious, benign.shape[1]
    params = view.ctx.params if view.ctx is not None else ConsensusParams()
    f = params.byzantine(m)
    s = torch.sign(benign.mean(dim=0))
    # The paper's upper bound on lambda, from the benign updates' distances to each other and to
    # the model before the attack (the origin of delta space).
    dist = pairwise_sq(benign, benign).sqrt()
    near = max(1, min(len(benign) - 1, m - c - 2))
    spread = float(torch.sort(dist, dim=1).values[:, 1:near + 1].sum(dim=1).min())
    lam = spread / (max(1, m - 2 * c - 1) * math.sqrt(d)) + float(benign.norm(dim=1).max()) / math.sqrt(d)
    noise = unit_noise(view)
    floor = lam * tolerance

    def rows(lam: float) -> torch.Tensor:
        core = -lam * s
        return core[None] + jitter * float(core.norm()) * noise

    while lam > floor:
        candidate = rows(lam)
        if krum_pick(torch.cat([benign, candidate]), f) >= len(benign):
            break
        lam /= 2
    return rows(lam).to(torch.float32)


def fang_trimmed_mean(view: AttackView, b: float = 2.0) -> torch.Tensor:
    benign = view.benign.to(torch.float64)
    s = torch.sign(benign.mean(dim=0))
    high, low = benign.max(dim=0).values, benign.min(dim=0).values
    # s < 0: push up, into [w_max, b * w_max] (w_max > 0) or [w_max, w_max / b] (w_max <= 0);
    # s >= 0: push down, into [w_min / b, w_min] (w_min > 0) or [b * w_min, w_min] (w_min <= 0).
    up_far = torch.where(high > 0, b * high, high / b)
    down_far = torch.where(low > 0, low / b, b * low)
    near = torch.where(s < 0, high, low)
    far = torch.where(s < 0, up_far, down_far)
    u = torch.rand((view.rows, benign.shape[1]), generator=view.generator, dtype=torch.float64)
    return (near[None] + u * (far - near)[None]).to(torch.float32)
