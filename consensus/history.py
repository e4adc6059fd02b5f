"""What the global's own recent history predicts, in exact integers.

The recent changes of the global adapter are public: every peer holds the globals. A part of an
update that lies in their span is predictable from public information (a free rider can send the
last change, rescaled, without training: Fraboni et al., AISTATS 2021); what is left, the
component orthogonal to that span, is the update's own information. ``Span`` gives the inner
products of those residuals exactly, from the score-grid Gram quantities the pipeline already
computes, without forming a residual vector:

    <res(a), res(b)> = <a, b> - B_a^T S^-1 B_b,   S = H H^T (k x k),  B_a = H a

scaled by det(S) > 0 so that everything is a Python integer (k <= a handful, so the adjugate's
big integers are cheap). Every residual inner product carries the same positive factor, so
cosines and their exact comparisons are unchanged. The changes enter on the round's value grid,
each first scaled by a power of two (exact) until its norm is within the task's bound, so that
its dot products with rows are exact like any other (fixedpoint.py); only directions matter.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from fractions import Fraction

import torch

from loraswarm.consensus import fixedpoint


def _det(m: list[list[int]]) -> int:
    """Exact determinant of a small integer matrix (Bareiss elimination, integer at each step)."""
    a = [row[:] for row in m]
    n = len(a)
    sign, previous = 1, 1
    for k in range(n - 1):
        if a[k][k] == 0:
            swap = next((r for r in range(k + 1, n) if a[r][k] != 0), None)
            if swap is None:
                return 0
            a[k], a[swap] = a[swap], a[k]
            sign = -sign
        for i in range(k + 1, n):
            for j in range(k + 1, n):
                a[i][j] = (a[i][j] * a[k][k] - a[i][k] * a[k][j]) // previous
        previous = a[k][k]
    return sign * a[n - 1][n - 1] if n else 1


def _adjugate(m: list[list[int]]) -> list[list[int]]:
    n = len(m)
    if n == 1:
        return [[1]]
    adj = [[0] * n for _ in range(n)]
    for i in range(n):
        for j in range(n):
            minor = [[m[r][c] for c in range(n) if c != j] for r in range(n) if r != i]
            adj[j][i] = (-1) ** (i + j) * _det(minor)
    return adj


def on_grid(change: torch.Tensor, bits: int, norm_bound: float) -> torch.Tensor:
    """A flat float32 change as value-grid int32, scaled by 2**-s (s >= 0, the smallest that
    brings its norm within the bound; exact in float32) so that its dot products are exact."""
    flat = change.to(torch.float32)
    if not bool(torch.isfinite(flat).all()):
        raise ValueError("a global change must be finite")
    limit_sq = (Fraction(norm_bound) * Fraction(2) ** (bits - fixedpoint.SCORE_SHIFT)) ** 2
    shift = 0
    peak = float(flat.abs().max()) if flat.numel() else 0.0
    if peak > norm_bound:
        shift = math.ceil(math.log2(peak / norm_bound))
    while True:
        values = fixedpoint.quantize(flat * math.ldexp(1.0, -shift), bits)
        if fixedpoint.sq_norm(values) <= limit_sq:
            return values
        shift += 1


class Span:
    """The span of the recent global changes (score grid), an independent subset of them."""

    def __init__(self, changes: Sequence[torch.Tensor], bits: int, norm_bound: float) -> None:
        basis: list[torch.Tensor] = []
        gram: list[list[int]] = []
        # The most recent change with any content, on the value grid: the round's public
        # reference direction (outliers.median_outlier); None without one.
        self.last: torch.Tensor | None = None
        for change in changes:
            values = on_grid(change, bits, norm_bound)
            if bool(values.any()):
                self.last = values
            scores = fixedpoint.to_score(values)
            dots = [int(fixedpoint.exact_int(b @ scores)) for b in basis]
            own = fixedpoint.sq_norm(values)
            trial = [*[[*row, dots[r]] for r, row in enumerate(gram)], [*dots, own]]
            # Keep a change only if it adds a direction (the Gram stays positive definite).
            if own > 0 and _det(trial) > 0:
                basis.append(scores)
                gram = trial
        self.k = len(basis)
        self.basis = torch.stack(basis) if basis else torch.zeros((0, 0), dtype=torch.float64)
        self.det = _det(gram) if gram else 1
        self.adj = _adjugate(gram) if gram else []

    def __bool__(self) -> bool:
        return self.k > 0

    def coordinates(self, scores: torch.Tensor) -> list[list[int]]:
        """B: exact dot products of each score-grid row (n, d) with the basis, (n, k)."""
        if not self.k:
            return [[] for _ in range(scores.shape[0])]
        return fixedpoint.exact_int(scores @ self.basis.T).tolist()

    def residual(self, dot: int, a: Sequence[int], b: Sequence[int]) -> int:
        """det(S) * <res(x), res(y)> from <x, y> and the two rows of B."""
        inner = sum(a[i] * self.adj[i][j] * b[j] for i in range(self.k) for j in range(self.k))
        return dot * self.det - inner


def changes_from(ctx_changes: Sequence[Mapping[str, torch.Tensor]], keys: list[str], limit: int) -> list[torch.Tensor]:
    """The last ``limit`` changes, flattened in the adapter's key order (oldest first)."""
    if limit <= 0:
        return []
    return [fixedpoint.flatten(c, keys) for c in list(ctx_changes)[-limit:]]
