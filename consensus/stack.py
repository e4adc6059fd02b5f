"""The accepted (or candidate) updates of a round, stacked in canonical order on the value grid.

Rules are pure functions of a ``Stack`` and the task's parameters. A stack holds the same
integers in up to three forms, each built at most once: int32 for order statistics (medians,
trims), the score grid for inner products, and exact float64 for weighted sums (one BLAS product,
exact while the total weight is at most 2**23; built only when a rule sums). The exact Gram
matrix is computed at most once and shared by every rule that needs distances (Krum, Bulyan,
duplicates, noise, contributions): pairwise distances come from it, never from a double loop.
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
    scores: torch.Tensor  # (n, d) float64, score-grid integers (exact)
    weights: tuple[int, ...]  # aggregation weights: capped sample counts (times the prior), FedAvg's
    bits: int  # value-grid fractional bits (from the task's norm bound)
    known_gram: torch.Tensor | None = None  # a Gram already computed for these rows
    prior: tuple[int, ...] | None = None  # reputation multipliers (ppm) of the rows; None: no prior
    # Group id of each row (rows of one group of colluding updates share it: the collusion
    # check); None: every row on its own. aggregate() merges a group into one row for the rule.
    groups: tuple[int, ...] | None = None

    @classmethod
    def of(cls, peers: tuple[str, ...], values: torch.Tensor, weights: tuple[int, ...],
           bits: int, prior: tuple[int, ...] | None = None) -> Stack:
        return cls(peers, values, fixedpoint.to_score(values), weights, bits, prior=prior)

    def __len__(self) -> int:
        return len(self.peers)

    @cached_property
    def wide(self) -> torch.Tensor:
        """(n, d) float64, the value-grid integers (exact): built when a weighted sum first needs
        it (the rules), not for every stack validation slices (8 bytes a coordinate and row)."""
        return self.values.to(torch.float64)

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
            scores=self.scores[index],
            weights=tuple(self.weights[i] for i in rows),
            bits=self.bits,
            known_gram=self.gram[index][:, index],
            prior=None if self.prior is None else tuple(self.prior[i] for i in rows),
            groups=None if self.groups is None else tuple(self.groups[i] for i in rows),
        )

    def merged(self) -> tuple[Stack, list[list[int]]]:
        """One row per group (the members' mean, canonical rounding; the mean claim; the least
        prior), groups in order of their first row, and each merged row's member rows. Without
        groups: this stack, one member each."""
        members: dict[int, list[int]] = {}
        for r, g in enumerate(self.groups or range(len(self))):
            members.setdefault(g, []).append(r)
        rows = list(members.values())
        if all(len(m) == 1 for m in rows):
            return self, rows
        values = torch.stack([
            self.values[m[0]] if len(m) == 1 else
            fixedpoint.round_div(self.values[torch.tensor(m)].to(torch.int64).sum(dim=0), len(m)).to(torch.int32)
            for m in rows])
        weights = tuple(max(1, sum(self.weights[r] for r in m) // len(m)) for m in rows)
        prior = None if self.prior is None else tuple(min(self.prior[r] for r in m) for m in rows)
        peers = tuple(self.peers[m[0]] for m in rows)
        return Stack.of(peers, values, weights, self.bits, prior), rows
