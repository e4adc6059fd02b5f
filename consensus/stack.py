"""The accepted (or candidate) updates of a round, stacked in canonical order on the value grid.

Rules are pure functions of a ``Stack`` and the task's parameters. The exact Gram matrix is
computed at most once per stack and shared by every rule that needs distances (Krum, Bulyan,
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
    weights: tuple[int, ...]  # capped sample counts, the FedAvg weights
    bits: int  # value-grid fractional bits (from the task's norm bound)
    known_gram: torch.Tensor | None = None  # a Gram already computed for these rows

    def __len__(self) -> int:
        return len(self.peers)

    @cached_property
    def gram(self) -> torch.Tensor:
        """Exact int64 (n, n) Gram matrix on the score grid."""
        if self.known_gram is not None:
            return self.known_gram
        return fixedpoint.gram(self.values)

    @cached_property
    def sq_distances(self) -> torch.Tensor:
        """Exact int64 (n, n) squared distances, ||a||^2 + ||b||^2 - 2<a, b>."""
        g = self.gram
        diag = torch.diagonal(g)
        return diag[:, None] + diag[None, :] - 2 * g

    def subset(self, rows: list[int]) -> Stack:
        """The stack of the given rows (in the given order), reusing the Gram matrix."""
        if rows == list(range(len(self))):
            return self
        index = torch.tensor(rows, dtype=torch.long)
        return Stack(
            peers=tuple(self.peers[i] for i in rows),
            values=self.values[index],
            weights=tuple(self.weights[i] for i in rows),
            bits=self.bits,
            known_gram=self.gram[index][:, index],
        )
