"""Outlier checks among the round's remaining updates: Krum scores (Blanchard et al. 2017) and
distance to the coordinate-wise median (Yin et al. 2018), each against a multiple of the
round's own median, so the threshold follows the honest spread of the task; and the direction
test against that median, which catches what hides inside the spread by pointing backwards
(sign flip, inner-product manipulation: Xie et al. 2020). Under a reputation prior that median
leans on established peers (rules/_prior.py) while the thresholds stay the round's own: fresh
Sybil identities move the reference less, and an honest newcomer is judged like anyone else."""

from __future__ import annotations

import math
from fractions import Fraction

import torch

from loraswarm.consensus import fixedpoint
from loraswarm.consensus.rules._prior import reference_median
from loraswarm.consensus.rules.krum import krum_scores
from loraswarm.consensus.validation.state import (
    Finding,
    RoundState,
    above,
    cos_above,
    cosine,
    lower_median,
)
from loraswarm.protocol.codes import Reason

# The residual's projection coefficient: on a 2**-16 grid, at most 2**4 (an update 16 times the
# median's projection is far from it anyway).
RESIDUAL_SHIFT = 16
RESIDUAL_MAX_BITS = 4
# The sign test counts against_fraction plus this many binomial standard deviations of the
# coordinates it reads: a small adapter's few thousand coordinates leave chance a visible share
# (256 coordinates: +-0.03 around the fraction), a real one's hundreds of thousands none.
AGAINST_CHANCE_SD = 3
# Coordinates per block of the sign test's exact integer temporaries.
COLUMN_BLOCK = 1 << 16


def krum_outlier(state: RoundState, alive: list[int]) -> dict[int, Finding]:
    """Krum score above krum_score_factor times the round's median score."""
    if not alive:
        return {}
    params = state.ctx.params
    scores = krum_scores(state.stack(alive).sq_distances, params.byzantine(len(alive)))
    median = lower_median(scores)
    scale = math.ldexp(1.0, 2 * (fixedpoint.SCORE_SHIFT - state.bits))
    return {i: Finding(Reason.KRUM_OUTLIER if above(s, params.krum_score_factor, median)
                       else Reason.ACCEPTED,
                       {"krum_score": s * scale, "krum_to_median": s / median if median else 0.0})
            for i, s in zip(alive, scores, strict=True)}


def median_outlier(state: RoundState, alive: list[int]) -> dict[int, Finding]:
    """Against the round's robust centre c (the coordinate-wise median, weighted under a prior)
    and its reference direction g (the most recent global change when the round has one, else
    c): rejected when the distance to c is above median_distance_factor times the median such
    distance or below central_factor times it (crafted from the others: a trained update
    carries its own data's and noise's share; judged from four updates up), when the cosine to
    c is at or below median_min_cos, when the projection on g is below projection_floor times
    the round's median projection, or when its residual off c (the update less its own
    projection on c) goes against g's sign in more than against_fraction of the coordinates
    where it differs from c, beyond what chance explains in that many coordinates.

    The floor bounds what an update inside the honest spread can take away from the round's
    progress: the in-spread attacks (ALIE, min-max, min-sum, IPM, Fang's) all push against the
    benign direction, each attacker can now lower its share of the step by at most
    (1 - projection_floor) of a typical update's. The sign test catches what pushes backwards
    coordinate by coordinate (Fang et al.'s trimmed-mean attack: every coordinate just beyond
    the benign extreme). It reads the residual, not x - c: an honest update shorter than the
    median sits below it in most coordinates only because it is shorter (a quick demo's honest
    peer at 0.72 of the median norm went against in 0.706 of them and was slashed), and its
    length is the floor's business. The residual of a trained update is its own data's and
    noise's share, on both sides of zero whatever its length; a crafted one keeps its push
    against g there. The global change is public and fixed before the round, so colluders
    cannot drag the reference their way as they drag the median (real rounds: Fang's update
    projects 0.75 of the median on the median, 0.005 on the last global change)."""
    if not alive:
        return {}
    params = state.ctx.params
    stack = state.stack(alive)
    centre = reference_median(stack.values, stack.prior)
    dots = [int(v) for v in stack.dots(centre).tolist()]
    centre_sq = fixedpoint.sq_norm(centre)
    norms = [int(stack.gram[r, r]) for r in range(len(alive))]
    sq = [n - 2 * dot + centre_sq for n, dot in zip(norms, dots, strict=True)]
    median = lower_median(sq)
    reference = state.span.last if state.span.last is not None else centre
    along = dots if reference is centre else [int(v) for v in stack.dots(reference).tolist()]
    median_along = lower_median(along)
    floor = Fraction(params.projection_floor) * median_along
    against, differing = _against(stack.values, centre, reference, dots, centre_sq)
    factor_sq = params.median_distance_factor ** 2
    central_sq = Fraction(params.central_factor) ** 2 * median if len(alive) >= 4 else Fraction(0)
    out: dict[int, Finding] = {}
    for r, i in enumerate(alive):
        far = above(sq[r], factor_sq, median) or sq[r] < central_sq
        backwards = not cos_above(dots[r], norms[r], centre_sq, params.median_min_cos)
        short = median_along > 0 and along[r] < floor
        one_sided = _beyond_chance(against[r], differing[r], Fraction(params.against_fraction))
        out[i] = Finding(Reason.MEDIAN_OUTLIER if far or backwards or short or one_sided else Reason.ACCEPTED,
                         {"median_distance": state.to_units(sq[r]),
                          "median_distance_ratio": math.sqrt(sq[r] / median) if median else 0.0,
                          "median_cos": cosine(dots[r], norms[r], centre_sq),
                          "projection_ratio": along[r] / median_along if median_along else 0.0,
                          "against_fraction": against[r] / differing[r] if differing[r] else 0.0})
    return out


def _beyond_chance(against: int, differing: int, fraction: Fraction) -> bool:
    """against > fraction * differing by more than AGAINST_CHANCE_SD binomial standard deviations."""
    excess = against - fraction * differing
    return excess > 0 and excess ** 2 > AGAINST_CHANCE_SD ** 2 * differing * fraction * (1 - fraction)


def _against(values: torch.Tensor, centre: torch.Tensor, reference: torch.Tensor,
             dots: list[int], centre_sq: int) -> tuple[list[int], list[int]]:
    """Per row x, among the coordinates where x_j differs from c_j: those where the residual
    x_j - a * c_j has the opposite sign of g_j, and those where it and g_j are not zero (where
    x_j is c_j the residual is (1 - a) * c_j, its length's sign, not its direction's); a is x's
    projection coefficient <x, c> / ||c||^2, clamped to [0, 2**RESIDUAL_MAX_BITS] (a backward
    row is the cosine test's) and taken on a 2**-16 grid, so the signs are exact int64
    (|x_j| * 2**16 <= 2**46, a * |c_j| <= 2**50)."""
    one = 1 << RESIDUAL_SHIFT
    cap = one << RESIDUAL_MAX_BITS
    coefficients = [0 if centre_sq == 0 else min(cap, max(0, (2 * d * one + centre_sq) // (2 * centre_sq)))
                    for d in dots]
    scale = torch.tensor(coefficients, dtype=torch.int64)[:, None]
    against = torch.zeros(values.shape[0], dtype=torch.int64)
    differing = torch.zeros(values.shape[0], dtype=torch.int64)
    # Column blocks: the counts add up exactly, and the int64 temporaries stay a block wide
    # (whole, they took ~48 bytes per coordinate and row: 1.1 GB for 50 updates of 460,800).
    for start in range(0, values.shape[1], COLUMN_BLOCK):
        block = slice(start, start + COLUMN_BLOCK)
        wide = values[:, block].to(torch.int64)
        residual = wide * one - scale * centre[block].to(torch.int64)[None]
        sign = torch.sign(reference[block].to(torch.int64))
        diff = torch.sign(residual) * sign[None] * (wide != centre[block][None])
        against += (diff < 0).sum(dim=1)
        differing += (diff != 0).sum(dim=1)
    return [int(v) for v in against.tolist()], [int(v) for v in differing.tolist()]
