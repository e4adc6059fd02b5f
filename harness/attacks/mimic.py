"""Mimicking free riders: no training (or a little), an update built from public information.

Fraboni, Vidal, Lorenzi, "Free-rider Attacks on Model Aggregation in Federated Learning",
AISTATS 2021, https://arxiv.org/abs/2006.11901: the disguised free rider sends the last change
of the global model (public: every peer holds the globals) rescaled to a typical update's norm,
plus Gaussian noise so that it is not a copy. Variants here:

* ``mimic``: the last global change, rescaled, plus noise (the paper's attack);
* ``mimic_history``: the sum of the last ``rounds`` global changes (the recent trend), rescaled,
  plus noise;
* ``mimic_mixed``: the mimic mixed with a share of the free rider's own cheap training (a
  fraction of an honest peer's steps), rescaled, plus noise: some real work, most of it copied;
* ``inflated_claim`` (with ``CLAIM_FACTORS``): the mixed mimic from a peer that also claims far
  more samples than it holds, to be weighted and paid as a large contributor.

Each free rider draws its own noise. A round without a previous global change has nothing to
mimic: the free rider sends its noise (or its cheap training) at the typical norm.
"""

from __future__ import annotations

import torch

from harness.attacks.view import AttackView, unit_noise

# Noise as a fraction of the typical norm: enough that two free riders are no duplicates, little
# enough that the copied direction dominates (cosine ~0.9 to the mimicked change).
DEFAULT_NOISE = 0.5
DEFAULT_SHARE = 0.5  # the cheap training's share of the mixed update's direction


def _unit(x: torch.Tensor) -> torch.Tensor:
    x = x.to(torch.float64)
    return x / x.norm(dim=-1, keepdim=True).clamp_min(1e-30)


def _disguise(directions: torch.Tensor, view: AttackView, noise: float) -> torch.Tensor:
    """Rows of unit ``directions`` (f, d) scaled to the typical norm, plus each free rider's
    Gaussian noise of ``noise`` times that norm."""
    norm = view.norm()
    return (norm * _unit(directions) + noise * norm * unit_noise(view)).to(torch.float32)


def _trend(view: AttackView, rounds: int) -> torch.Tensor | None:
    if not view.changes:
        return None
    return sum((_unit(c) for c in view.changes[-rounds:]), torch.zeros(view.own.shape[1], dtype=torch.float64))


def mimic(view: AttackView, noise: float = DEFAULT_NOISE) -> torch.Tensor:
    trend = _trend(view, 1)
    if trend is None:
        return _disguise(unit_noise(view), view, 0.0)
    return _disguise(trend.expand(view.rows, -1), view, noise)


def mimic_history(view: AttackView, rounds: int = 3, noise: float = DEFAULT_NOISE) -> torch.Tensor:
    trend = _trend(view, rounds)
    if trend is None:
        return _disguise(unit_noise(view), view, 0.0)
    return _disguise(trend.expand(view.rows, -1), view, noise)


def mimic_mixed(view: AttackView, share: float = DEFAULT_SHARE, rounds: int = 1,
                noise: float = DEFAULT_NOISE) -> torch.Tensor:
    if view.cheap is None:
        raise ValueError("the mixed mimic needs the free riders' cheap training (AttackView.cheap)")
    cheap = _unit(view.cheap)
    trend = _trend(view, rounds)
    if trend is None:
        return _disguise(cheap, view, noise)
    return _disguise((1 - share) * _unit(trend)[None] + share * cheap, view, noise)


def inflated_claim(view: AttackView) -> torch.Tensor:
    """The mixed mimic; the claim comes from ``CLAIM_FACTORS`` (the caller signs it)."""
    return mimic_mixed(view)


# Self-reported sample count of a free rider, as a multiple of an honest peer's claim (the
# protocol cannot check it; consensus caps it).
CLAIM_FACTORS: dict[str, float] = {"inflated_claim": 1000.0}
