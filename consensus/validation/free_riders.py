"""Free-rider checks: updates that carry no work of their own. Zero or tiny (Lin et al. 2019's
free riders add tiny noise), a duplicate of an earlier commitment, a replay of an old update,
pure noise uncorrelated with every other update, or an update whose part that the recent global
changes do not predict is noise (a mimic of the global's own history). Decided on the exact Gram matrix; a cluster of
near-duplicates whose original was crafted, not trained, is collusion, an attack (ALIE)."""

from __future__ import annotations

import math
from fractions import Fraction

import torch

from loraswarm.consensus import fixedpoint
from loraswarm.consensus.fingerprint import is_replay, sketch_cosine
from loraswarm.consensus.params import ConsensusParams
from loraswarm.consensus.rules._select import LeaveOneOut, coordinate_median
from loraswarm.consensus.stack import Stack
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
    """Near-duplicates: cosine above duplicate_cos links two updates, and linked updates form a
    cluster whose earliest commitment is its original. Independent training never lands two
    peers that close, so a cluster is copying or collusion, told apart by its original
    (``_colluding``): an honest original is accepted and its copies are free riders
    (DUPLICATE_UPDATE; the earlier commitment wins); a crafted original means the members
    agreed on one vector before committing (colluders sending one update win Krum's selection
    and one of them would otherwise pass), so every member is rejected as an attack
    (MEDIAN_OUTLIER, slashed). An original that a later check rejects as an attack takes its
    copies with it (validate_round)."""
    stack = state.stack(alive)
    gram = stack.gram
    threshold = state.ctx.params.duplicate_cos
    n = len(alive)
    norms = [int(gram[r, r]) for r in range(n)]
    # label[r]: the earliest row of r's cluster (merging keeps the smaller label).
    label = list(range(n))
    max_cos: list[float] = []
    for r in range(n):
        max_cos.append(max((cosine(int(gram[k, r]), norms[k], norms[r]) for k in range(r)), default=0.0))
        for k in range(r):
            if label[k] != label[r] and cos_above(int(gram[k, r]), norms[k], norms[r], threshold):
                merged, kept = max(label[k], label[r]), min(label[k], label[r])
                label = [kept if x == merged else x for x in label]
    out = {i: Finding(Reason.ACCEPTED if label[r] == r else Reason.DUPLICATE_UPDATE,
                      {"max_cos_earlier": max_cos[r]}) for r, i in enumerate(alive)}
    state.originals.update({i: alive[label[r]] for r, i in enumerate(alive) if label[r] != r})
    originals = [r for r in range(n) if label[r] == r]
    for root in originals:
        members = [r for r in range(n) if label[r] == root]
        if len(members) < 2:
            continue
        colluding, measures = _colluding(stack, norms, root, [q for q in originals if q != root],
                                         state.ctx.params)
        for r in members:
            reason = Reason.MEDIAN_OUTLIER if colluding else out[alive[r]].reason
            out[alive[r]] = Finding(reason, {**out[alive[r]].measures, "cluster_size": float(len(members)),
                                             **measures})
    return out


def _colluding(stack: Stack, norms: list[int], root: int, others: list[int],
               params: ConsensusParams) -> tuple[bool, dict[str, float]]:
    """Whether a cluster's original was crafted from the other updates rather than trained.

    Judged against the coordinate-wise median of the round's other distinct updates (the
    cluster's own copies would pull it their way). An honestly trained update carries its own
    data's and its own noise's share: it sits at about the typical distance from that centre,
    on both sides of it coordinate by coordinate. ALIE's mean - z * std of the benign updates
    (Baruch et al. 2019) sits much closer than any of them (about z times the spread) and below
    the centre in most coordinates. Either sign is enough: distance below collusion_distance
    times the others' median distance, or more than collusion_one_sided of the coordinates that
    differ from the centre on one side. Fewer than two others: nothing to judge against, the
    earliest commitment wins."""
    if len(others) < 2:
        return False, {}
    centre = coordinate_median(stack.values[torch.tensor(others, dtype=torch.long)])
    dots = [int(v) for v in stack.dots(centre).tolist()]
    centre_sq = fixedpoint.sq_norm(centre)
    sq = {q: norms[q] - 2 * dots[q] + centre_sq for q in (root, *others)}
    reference = lower_median([sq[q] for q in others])
    row = stack.values[root].to(torch.int64)
    below, over = int((row < centre).sum()), int((row > centre).sum())
    central = sq[root] < Fraction(params.collusion_distance) ** 2 * reference
    one_sided = max(below, over) > Fraction(params.collusion_one_sided) * (below + over)
    return central or one_sided, {
        "cluster_centre_ratio": math.sqrt(sq[root] / reference) if reference else 0.0,
        "cluster_one_sided": max(below, over) / (below + over) if below + over else 0.0,
    }


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


def predictable(state: RoundState, alive: list[int]) -> dict[int, Finding]:
    """An update whose own information is noise: its component orthogonal to the span of the
    recent global changes (what anyone can send without training: Fraboni et al.'s mimicking
    free rider, AISTATS 2021) has a cosine of at most noise_sigmas / sqrt(d) with the same
    component of the coordinate-wise median of the OTHER updates (a median that includes the
    update would correlate with its noise): noise, zero, or new information that points against
    the round's. Exact: residual inner products from Gram quantities (history.py). Nothing to
    judge without a span or with fewer than three updates."""
    span = state.span
    if not span or len(alive) < 3:
        return {}
    stack = state.stack(alive)
    medians = LeaveOneOut(stack.values)
    own_b = state.coordinates(alive)
    threshold = state.ctx.params.noise_sigmas / math.sqrt(state.ctx.numel)
    out: dict[int, Finding] = {}
    for r, i in enumerate(alive):
        centre = medians.without(r)
        centre_scores = fixedpoint.to_score(centre)
        centre_b = span.coordinates(centre_scores[None])[0]
        centre_res = span.residual(fixedpoint.sq_norm(centre), centre_b, centre_b)
        dot = int(fixedpoint.exact_int(stack.scores[r] @ centre_scores))
        sq = int(stack.gram[r, r])
        res_sq = span.residual(sq, own_b[r], own_b[r])
        res_dot = span.residual(dot, own_b[r], centre_b)
        own = res_sq > 0 and centre_res > 0 and cos_above(res_dot, res_sq, centre_res, threshold)
        out[i] = Finding(Reason.ACCEPTED if own else Reason.NOISE_UPDATE, {
            "residual_fraction": math.sqrt(res_sq / (sq * span.det)) if sq else 0.0,
            "residual_cos": cosine(res_dot, res_sq, centre_res),
        })
    return out
