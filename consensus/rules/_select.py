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
