"""Bulyan: pick theta = n - 2f updates by repeated Krum, then per coordinate average the
beta = theta - 2f values closest to the coordinate-wise median of the picked ones.

El Mhamdi, Guerraoui, Rouault, "The Hidden Vulnerability of Distributed Learning in Byzantium",
ICML 2018, https://arxiv.org/abs/1802.07927

The paper needs n >= 4f + 3; with fewer updates f shrinks to (n - 3) // 4 rather than failing
the round. Repeated Krum only re-slices the one exact distance matrix.
"""

from __future__ import annotations

import torch

from loraswarm.consensus.fixedpoint import round_div
from loraswarm.consensus.params import ConsensusParams
from loraswarm.consensus.rules._select import coordinate_median, lowest_first
from loraswarm.consensus.rules.krum import krum_scores, norms
from loraswarm.consensus.rules.output import Output
from loraswarm.consensus.stack import Stack


def bulyan_select(gram: torch.Tensor, sq_distances: torch.Tensor, f: int) -> list[int]:
    """Rows chosen by n - 2f rounds of Krum over the remaining rows (in pick order)."""
    n = sq_distances.shape[0]
    sq_norms = norms(gram)
    remaining = list(range(n))
    picked: list[int] = []
    for _ in range(n - 2 * f):
        index = torch.tensor(remaining, dtype=torch.long)
        scores = krum_scores(sq_distances[index][:, index], f)
        best = lowest_first(scores, [sq_norms[i] for i in remaining])[0]
        picked.append(remaining.pop(best))
    return picked


def closest_to_median_mean(values: torch.Tensor, beta: int) -> torch.Tensor:
    """Per coordinate, the mean of the beta values closest to the median (int64)."""
    wide = values.to(torch.int64)
    med = coordinate_median(values)
    # Twice the distance, plus one above the median: equal distances on both sides break
    # towards the lower value, so the chosen set never depends on sort stability.
    key = 2 * (wide - med).abs() + (wide > med).to(torch.int64)
    chosen = torch.topk(key, beta, dim=0, largest=False, sorted=False).indices
    return round_div(torch.gather(wide, 0, chosen).sum(dim=0), beta)


def bulyan(stack: Stack, params: ConsensusParams) -> Output:
    n = len(stack)
    f = min(params.byzantine(n), max(0, (n - 3) // 4))
    picked = sorted(bulyan_select(stack.gram, stack.sq_distances, f))
    values = stack.values[torch.tensor(picked, dtype=torch.long)]
    return Output(closest_to_median_mean(values, len(picked) - 2 * f), tuple(picked))
