"""Integer helpers shared by the rules: medians and trims over the rows of a value-grid matrix."""

from __future__ import annotations

import numpy as np
import torch

from loraswarm.consensus.fixedpoint import round_div


def order_stats(values: torch.Tensor, ranks: list[int]) -> dict[int, torch.Tensor]:
    """The given order statistics (0-based ranks) of each column, as int64.

    np.partition on integers is exact: ties are equal values, so the result does not depend on
    which row supplies them."""
    parted = np.partition(values.numpy(), sorted(set(ranks)), axis=0)
    return {r: torch.from_numpy(parted[r].astype(np.int64)) for r in ranks}


def coordinate_median(values: torch.Tensor) -> torch.Tensor:
    """Coordinate-wise median (int64); an even count averages the two middle values."""
    n = values.shape[0]
    lo, hi = (n - 1) // 2, n // 2
    stats = order_stats(values, [lo, hi])
    return round_div(stats[lo] + stats[hi], 2)


def lowest_first(scores: list[int], norms: list[int]) -> list[int]:
    """Row indices by ascending score. Equal scores are structural in Krum (two mutual nearest
    neighbours score the same), so ties go to the shorter update, and only then to canonical
    (commit) order: the choice depends on the updates, not on who committed first."""
    return sorted(range(len(scores)), key=lambda i: (scores[i], norms[i], i))
