"""The accepted (or candidate) updates of a round, stacked in canonical order on the value grid.

Rules are pure functions of a ``Stack`` and the task's parameters. A stack holds the same
integers in three forms, each built once per round: int32 for order statistics (medians, trims),
exact float64 for weighted sums (one BLAS product, exact while the total weight is at most
2**23), and the score grid for inner products. The exact Gram matrix is computed at most once
and shared by every rule that needs distances (Krum, Bulyan, duplicates, noise, contributions):
pairwise distances come from it, never from a double loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import torch

from loraswarm.consensus import fixedpoint


@dataclass(frozen=True)
class Stack:
    peers: tuple[str, ...]
    values: torch.Tensor  # (n, d) int32, value grid, rows in canonical (commit) order
    wide: torch.Tensor  # (n, d) float64, the same integers (exact)
    scores: torch.Tensor  # (n, d) float64, score-grid integers (exact)
    weights: tuple[int, ...]  # aggregation weights: capped sample counts (times the prior), FedAvg's
    bits: int  # value-grid fractional bits (from the task's norm bound)
    known_gram: torch.Tensor | None = None  # a Gram already computed for these rows
    prior: tuple[int, ...] | None = None  # reputation multipliers (ppm) of the rows; None: no prior

    @classmethod
    def of(cls, peers: tuple[str, ...], values: torch.Tensor, weights: tuple[int, ...],
           bits: int, prior: tuple[int, ...] | None = None) -> Stack:
        return cls(peers, values, values.to(torch.float64), fixedpoint.to_score(values), weights, bits,
                   prior=prior)

    def __len__(self) -> int:
        return len(self.peers)

    @cached_property
    def gram(self) -> torch.Tensor:
        """Exact int64 (n, n) Gram matrix on the score grid."""
        if self.known_gram is not None:
            return self.known_gram
        return fixedpoint.exact_int(self.scores @ self.scores.T)

    @cached_property
    def sq_distances(self) -> torch.Tensor:
        """Exact int64 (n, n) squared distances, ||a||^2 + ||b||^2 - 2<a, b>."""
        g = self.gram
        diag = torch.diagonal(g)
        return diag[:, None] + diag[None, :] - 2 * g

    def dots(self, vector: torch.Tensor) -> torch.Tensor:
        """Exact int64 score-grid dot products of each row with a value-grid vector within the
        bound's reach (a median, or a convex combination of the rows)."""
        return fixedpoint.exact_int(self.scores @ fixedpoint.to_score(vector))

    def weighted_mean(self, weights: list[int]) -> torch.Tensor:
        """Value-grid weighted mean of the rows (int64), canonical rounding; zero weights leave
        a row out without copying the others."""
        return fixedpoint.round_div(fixedpoint.weighted_sum(self.wide, weights), sum(weights))

    def subset(self, rows: list[int]) -> Stack:
        """The stack of the given rows (in the given order), reusing the Gram matrix."""
        if rows == list(range(len(self))):
            return self
        index = torch.tensor(rows, dtype=torch.long)
        return Stack(
            peers=tuple(self.peers[i] for i in rows),
            values=self.values[index],
            wide=self.wide[index],
            scores=self.scores[index],
            weights=tuple(self.weights[i] for i in rows),
            bits=self.bits,
            known_gram=self.gram[index][:, index],
            prior=None if self.prior is None else tuple(self.prior[i] for i in rows),
        )
