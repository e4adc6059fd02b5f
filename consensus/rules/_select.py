"""Integer helpers shared by the rules: medians and trims over the rows of a value-grid matrix."""

from __future__ import annotations

import numpy as np
import torch

from loraswarm.consensus.fixedpoint import round_div


def coordinate_median(values: torch.Tensor) -> torch.Tensor:
    """Coordinate-wise median (int64); an even count averages the two middle values.

    One partition at the upper middle; the lower middle is then the largest value below it
    (cheaper than a second selection). Exact on integers: ties are equal values, so the result
    never depends on which row supplies them."""
    n = values.shape[0]
    middle = n // 2
    parted = np.partition(values.numpy(), middle, axis=0)
    upper = parted[middle].astype(np.int64)
    lower = parted[:middle].max(axis=0).astype(np.int64) if n % 2 == 0 else upper
    return round_div(torch.from_numpy(lower + upper), 2)


def lowest_first(scores: list[int], norms: list[int]) -> list[int]:
    """Row indices by ascending score. Equal scores are structural in Krum (two mutual nearest
    neighbours score the same), so ties go to the shorter update, and only then to canonical
    (commit) order: the choice depends on the updates, not on who committed first."""
    return sorted(range(len(scores)), key=lambda i: (scores[i], norms[i], i))


class LeaveOneOut:
    """The coordinate-wise median of the rows without row i, for each i, from three order
    statistics of all rows (not n medians): removing a value x shifts the ranks at and above it
    down by one, so the remaining k-th value is v_k if v_k < x, else v_{k+1}. Exact, and equal to
    ``coordinate_median`` of the other rows (ties are equal values)."""

    def __init__(self, values: torch.Tensor) -> None:
        n = values.shape[0]
        if n < 2:
            raise ValueError("a leave-one-out median needs at least two rows")
        self.values = values
        self.middle = (n - 1) // 2  # of the remaining n - 1 rows
        self.even = (n - 1) % 2 == 0
        ranks = sorted({self.middle - 1, self.middle, self.middle + 1} & set(range(n)))
        parted = np.partition(values.numpy(), ranks, axis=0)
        self.order = {k: torch.from_numpy(parted[k].astype(np.int64)) for k in ranks}

    def _remaining(self, k: int, row: torch.Tensor) -> torch.Tensor:
        return torch.where(self.order[k] < row, self.order[k], self.order[k + 1])

    def without(self, i: int) -> torch.Tensor:
        row = self.values[i].to(torch.int64)
        upper = self._remaining(self.middle, row)
        lower = self._remaining(self.middle - 1, row) if self.even else upper
        return round_div(lower + upper, 2)
