"""Krum and multi-Krum: score each update by the summed squared distances to its n - f - 2
nearest neighbours; Krum returns the best-scored update, multi-Krum the sample-weighted mean of
the m best (m = n - f unless the task says otherwise).

Blanchard, El Mhamdi, Guerraoui, Stainer, "Machine Learning with Adversaries: Byzantine Tolerant
Gradient Descent", NeurIPS 2017,
https://papers.nips.cc/paper/2017/hash/f4b9ec30ad9f68f89b29639786cb62ef-Abstract.html

Distances come from the stack's exact Gram matrix (one BLAS call), not a double loop.
"""

from __future__ import annotations

import torch

from loraswarm.consensus.params import ConsensusParams
from loraswarm.consensus.rules._select import lowest_first
from loraswarm.consensus.rules.output import Output
from loraswarm.consensus.stack import Stack


def krum_scores(sq_distances: torch.Tensor, f: int) -> list[int]:
    """Exact Krum score of each row of an (n, n) squared-distance matrix."""
    n = sq_distances.shape[0]
    neighbours = max(1, n - f - 2)
    # Column 0 of each sorted row is the row's own zero distance (or an equal one: same sum).
    ordered = torch.sort(sq_distances, dim=1).values[:, 1:neighbours + 1]
    return [int(s) for s in ordered.sum(dim=1).tolist()]


def norms(gram: torch.Tensor) -> list[int]:
    return [int(v) for v in torch.diagonal(gram).tolist()]


def krum(stack: Stack, params: ConsensusParams) -> Output:
    scores = krum_scores(stack.sq_distances, params.byzantine(len(stack)))
    best = lowest_first(scores, norms(stack.gram))[0]
    return Output(stack.values[best].to(torch.int64), (best,))


def multi_krum(stack: Stack, params: ConsensusParams) -> Output:
    n = len(stack)
    f = params.byzantine(n)
    keep = params.multi_krum_keep or n - f
    chosen = sorted(lowest_first(krum_scores(stack.sq_distances, f), norms(stack.gram))[:keep])
    picked = set(chosen)
    mean = stack.weighted_mean([w if i in picked else 0 for i, w in enumerate(stack.weights)])
    return Output(mean, tuple(chosen))
