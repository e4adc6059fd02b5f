"""The optimisation shared by min-max and min-sum (Shejwalkar and Houmansadr 2021): the largest
gamma such that mean + gamma * p still satisfies a closeness test against the benign updates,
found by the paper's halving search; p is the negated unit benign mean (their 'uv' direction)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from harness.attacks.view import AttackView


def pairwise_sq(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Squared distances between the rows of a and b, from one Gram product (float64)."""
    return ((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T).clamp_min(0)


def largest_gamma(view: AttackView, fits: Callable[[torch.Tensor, torch.Tensor], bool],
                  start: float = 10.0, tolerance: float = 1e-5) -> torch.Tensor:
    benign = view.benign.to(torch.float64)
    mean = benign.mean(dim=0)
    direction = -mean / mean.norm().clamp_min(1e-30)
    gamma, step, best = start, start / 2, 0.0
    while step > tolerance:
        if fits(mean + gamma * direction, benign):
            best = gamma
            gamma += step
        else:
            gamma -= step
        step /= 2
    return (mean + best * direction).to(torch.float32)
