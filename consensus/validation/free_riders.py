"""Free-rider checks: updates that carry no work of their own. Zero or tiny (Lin et al. 2019's
free riders add tiny noise), a duplicate of an earlier commitment, a replay of an old update, or
pure noise uncorrelated with every other update. Decided on the exact Gram matrix."""

from __future__ import annotations

import math
from fractions import Fraction

from loraswarm.consensus import fixedpoint
from loraswarm.consensus.fingerprint import is_replay, sketch_cosine
from loraswarm.consensus.validation.state import (
    Finding,
    RoundState,
    cos_above,
    cosine,
    lower_median,
)
from loraswarm.protocol.codes import Reason


def zero_update(state: RoundState, alive: list[int]) -> dict[int, Finding]:
    """Norm zero, below the task's absolute floor, or below zero_fraction of the round's median
    norm."""
    params = state.ctx.params
    sq = [state.candidates[i].sq_norm for i in alive]
    if not sq:
        return {}
    median_sq = lower_median(sq)
    floor_sq = (Fraction(params.min_norm) * Fraction(2) ** (state.bits - fixedpoint.SCORE_SHIFT)) ** 2
    relative_sq = Fraction(params.zero_fraction) ** 2 * median_sq
    out: dict[int, Finding] = {}
    for i, s in zip(alive, sq, strict=True):
        ratio = math.sqrt(s / median_sq) if median_sq else 0.0
        tiny = s == 0 or s < floor_sq or s < relative_sq
        out[i] = Finding(Reason.ZERO_UPDATE if tiny else Reason.ACCEPTED, {"norm_to_median": ratio})
    return out


def duplicate(state: RoundState, alive: list[int]) -> dict[int, Finding]:
    """Cosine above duplicate_cos to an earlier commitment of this round: the earlier one wins
    (colluders sending one vector many times would otherwise win Krum's selection)."""
    gram = state.stack(alive).gram
    threshold = state.ctx.params.duplicate_cos
    out: dict[int, Finding] = {}
    for r, i in enumerate(alive):
        norms = [int(gram[k, k]) for k in range(r + 1)]
        cos = [cosine(int(gram[k, r]), norms[k], norms[r]) for k in range(r)]
        copied = any(cos_above(int(gram[k, r]), norms[k], norms[r], threshold) for k in range(r))
        out[i] = Finding(Reason.DUPLICATE_UPDATE if copied else Reason.ACCEPTED,
                         {"max_cos_earlier": max(cos, default=0.0)})
    return out


def replay(state: RoundState, alive: list[int]) -> dict[int, Finding]:
    """Same as, or a lightly perturbed copy of, an update revealed in an earlier round."""
    history = state.ctx.history
    threshold = state.ctx.params.replay_cos
    out: dict[int, Finding] = {}
    for i in alive:
        mine = state.candidates[i].fingerprint
        replayed = any(is_replay(mine, old, threshold) for old in history)
        best = max((sketch_cosine(mine, old) for old in history), default=0.0)
        out[i] = Finding(Reason.REPLAYED_UPDATE if replayed else Reason.ACCEPTED,
                         {"max_cos_history": best})
    return out


def noise(state: RoundState, alive: list[int]) -> dict[int, Finding]:
    """|cosine| to every other update within noise_sigmas / sqrt(d): what a random direction
    would show. Needs at least three updates to say anything."""
    if len(alive) < 3:
        return {}
    gram = state.stack(alive).gram
    threshold = state.ctx.params.noise_sigmas / math.sqrt(state.ctx.numel)
    norms = [int(gram[r, r]) for r in range(len(alive))]
    out: dict[int, Finding] = {}
    for r, i in enumerate(alive):
        others = [k for k in range(len(alive)) if k != r]
        best = max(abs(cosine(int(gram[r, k]), norms[r], norms[k])) for k in others)
        correlated = any(cos_above(abs(int(gram[r, k])), norms[r], norms[k], threshold)
                         for k in others)
        out[i] = Finding(Reason.ACCEPTED if correlated else Reason.NOISE_UPDATE,
                         {"max_abs_cos": best})
    return out
