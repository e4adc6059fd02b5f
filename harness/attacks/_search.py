"""The optimisation shared by min-max and min-sum (Shejwalkar and Houmansadr, NDSS 2021): the
largest gamma such that mean + gamma * p, with each colluder's own jitter added, still satisfies a
closeness test against the benign updates. The paper's three perturbation directions p: the
inverse unit vector of the benign mean ("uv"), the inverse coordinate-wise standard deviation
("std") and the inverse sign of the mean ("sgn"), each scaled to unit norm here so that gamma is a
length in the delta's own units."""

from __future__ import annotations

from collections.abc import Callable

import torch

from harness.attacks.view import DEFAULT_JITTER, AttackView, unit_noise

DIRECTIONS = ("uv", "std", "sgn")
Fits = Callable[[torch.Tensor, torch.Tensor], bool]  # (rows (f, d), benign (m, d)) -> acceptable


def pairwise_sq(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Squared distances between the rows of a and b, from one Gram product (float64)."""
    return ((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T).clamp_min(0)


def direction(benign: torch.Tensor, kind: str) -> torch.Tensor:
    """The unit perturbation direction ``kind`` (float64) of the benign updates."""
    benign = benign.to(torch.float64)
    mean = benign.mean(dim=0)
    if kind == "uv":
        p = -mean
    elif kind == "std":
        p = -benign.std(dim=0)
    elif kind == "sgn":
        p = -torch.sign(mean)
    else:
        raise ValueError(f"unknown perturbation direction {kind!r}: one of {DIRECTIONS}")
    return p / p.norm().clamp_min(1e-30)


def largest(fits: Callable[[float], bool], scale: float, iterations: int = 30) -> float:
    """The largest gamma in [0, 2**40 * scale] that ``fits``, by doubling from ``scale`` to the
    first failure and then bisecting; 0 when even ``scale`` / 2**20 fails."""
    low, high = 0.0, scale
    while fits(high):
        low, high = high, 2 * high
        if high > scale * 2.0 ** 40:
            return low
    if low == 0.0:
        # The first try failed: look below it before bisecting.
        while not fits(high / 2):
            high /= 2
            if high < scale * 2.0 ** -20:
                return 0.0
        low = high / 2
    for _ in range(iterations):
        mid = (low + high) / 2
        low, high = (mid, high) if fits(mid) else (low, mid)
    return low


def crafted_rows(view: AttackView, fits: Fits, kind: str, jitter: float = DEFAULT_JITTER) -> torch.Tensor:
    """(f, d) rows mean + gamma * p + jitter_i with the largest gamma whose every row fits."""
    benign = view.benign.to(torch.float64)
    mean = benign.mean(dim=0)
    p = direction(benign, kind)
    noise = unit_noise(view)

    def rows(gamma: float) -> torch.Tensor:
        core = mean + gamma * p
        return core[None] + jitter * float(core.norm()) * noise

    gamma = largest(lambda g: fits(rows(g), benign), max(float(mean.norm()), 1e-12) / 16)
    # What is sent is float32: step back from the boundary until the rounded rows still fit.
    while gamma > 0 and not fits(rows(gamma).to(torch.float32).to(torch.float64), benign):
        gamma *= 0.999
    return rows(gamma).to(torch.float32)
