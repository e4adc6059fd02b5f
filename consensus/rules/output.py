"""What a rule returns."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Output:
    values: torch.Tensor  # (d,) int64, the aggregate delta on the value grid
    # Rows that entered the aggregate; selection rules (Krum family) leave the others out, and
    # the verdict records those as NOT_SELECTED.
    selected: tuple[int, ...]
