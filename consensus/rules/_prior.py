"""Reputation as a prior in the round (issue 11): a peer's reputation multiplier (ppm, as
``incentives.reputation.Standing.multipliers`` gives it; a fresh identity holds the smallest)
tilts the round towards established peers, within bounds that keep an honest newcomer in.

Two uses, each bounded:

* Aggregation weight (FedAvg, multi-Krum's mean, the geometric median's weights): the capped
  self-reported sample count times the multiplier (``reputation.aggregation_weight``). A claim
  cannot be checked; scaled so, a fresh identity's claim counts ``min_multiplier`` of its face
  value (10% by default), and an operator who splits one dataset over k fresh identities, each
  claiming all of it, weighs k / 10 of its claim instead of k times. The cap
  (``ConsensusParams.max_samples``) still bounds every claim, established or not.
* Robust reference (the coordinate-wise median that the outlier test measures distances and
  directions against, the median rule, centered clipping's start and its averaging step): each
  row counts one vote plus its multiplier (capped at one more), so an established identity
  counts at most twice a fresh one. A weighted median moves past the honest values only when
  the attackers hold half the weight: at 2:1 that takes fresh Sybil identities about 64% of the
  rows against established honest peers (50% without the prior), and established attackers
  (a slow poisoner's identities) still about 36% against a round of honest newcomers. A larger
  ratio would let a handful of veterans be the reference on their own; none would give Sybils
  their full count. Sample counts stay out of the reference: a claim never moves a median.

An honest newcomer is never rejected for being new: the prior changes where the reference
sits (between the honest values while the honest hold most of the weight), never the
thresholds, which stay relative to the round's unweighted median distance. A round of equal
multipliers (every identity fresh, as in a task's first round) gives exactly the unweighted
median.
"""

from __future__ import annotations

import numpy as np
import torch

from loraswarm.consensus.fixedpoint import round_div
from loraswarm.consensus.rules._select import coordinate_median
from loraswarm.consensus.weights import PPM

# Columns per block of the weighted median: bounds its (n, block) int64 temporaries.
_BLOCK = 1 << 16


def reference_weights(prior: tuple[int, ...]) -> list[int]:
    """Vote of each row in the robust reference: one, plus its multiplier up to one more (ppm)."""
    return [PPM + min(m, PPM) for m in prior]


def reference_median(values: torch.Tensor, prior: tuple[int, ...] | None) -> torch.Tensor:
    """Coordinate-wise median of the rows (int64), weighted by ``reference_weights`` under a
    prior; without one, or with equal votes, exactly ``coordinate_median``."""
    if prior is None or len(set(reference_weights(prior))) <= 1:
        return coordinate_median(values)
    return weighted_median(values, reference_weights(prior))


def weighted_median(values: torch.Tensor, weights: list[int]) -> torch.Tensor:
    """Per coordinate, the lower and upper weighted medians averaged (int64, canonical rounding).

    Along the sorted values with cumulative weight c, the lower one is the first value with
    2c >= total, the upper one the first with 2c > total. With equal weights these are the two
    middle values of an even count (the middle one of an odd count), as ``coordinate_median``
    takes them. Equal values are interchangeable, so the sort's order among them never changes
    the result: every validator gets the same integers."""
    total = sum(weights)
    w = np.asarray(weights, dtype=np.int64)[:, None]
    rows = values.numpy()
    out = np.empty(rows.shape[1], dtype=np.int64)
    for start in range(0, rows.shape[1], _BLOCK):
        block = rows[:, start:start + _BLOCK]
        order = np.argsort(block, axis=0)
        ranked = np.take_along_axis(block, order, axis=0).astype(np.int64)
        twice = 2 * np.cumsum(np.take_along_axis(np.broadcast_to(w, block.shape), order, axis=0), axis=0)
        lower = np.take_along_axis(ranked, (twice < total).sum(axis=0)[None], axis=0)[0]
        upper = np.take_along_axis(ranked, (twice <= total).sum(axis=0)[None], axis=0)[0]
        out[start:start + _BLOCK] = lower + upper
    return round_div(torch.from_numpy(out), 2)
