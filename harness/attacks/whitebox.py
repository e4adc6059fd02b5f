"""White-box attack on the task's own pipeline: the colluders know every ConsensusParams value,
the norm bound, the replay history and the recent global changes (the whole RoundContext), and
the benign updates of the round; they run the real ``validate_round`` on candidate rounds and
send the most damaging update it still accepts from every colluder.

For each perturbation direction of Shejwalkar and Houmansadr (NDSS 2021: inverse unit mean,
inverse std, inverse sign) and Fang et al.'s (USENIX Security 2020: every coordinate towards the
benign extreme against the benign sign, as a direction), and each jitter in ``JITTERS`` (a
larger jitter decorrelates the colluders and moves them off the centre, at the cost of
distance), the largest gamma such that
every colluder's row (benign mean + gamma * p + its own jitter) is ACCEPTED by validate_round;
among those, the one that takes the most progress away: the largest drop of the aggregate (by
the task's rule, settle_round) along the benign mean, against the aggregate of the benign updates
alone (ties: the farthest aggregate). The
search is the adaptive-attack recipe of Tramèr, Carlini, Brendel, Madry, "On Adaptive Attacks
to Adversarial Example Defenses", NeurIPS 2020 (attack the defence as deployed).
"""

from __future__ import annotations

import math

import torch

from harness.attacks._search import DIRECTIONS, direction, largest
from harness.attacks.view import DEFAULT_JITTER, AttackView, unit_noise
from loraswarm.consensus import RoundContext, Submission, fixedpoint, settle_round, validate_round
from loraswarm.protocol.codes import Reason

JITTERS = (DEFAULT_JITTER, 0.8)


def _submissions(ctx: RoundContext, rows: torch.Tensor) -> list[Submission]:
    return [Submission(peer=f"0x{i + 1:040x}", commit_index=i, base_hash=ctx.current_global_hash,
                       sample_count=1, delta=ctx.unflatten(row.to(torch.float32).clone()))
            for i, row in enumerate(rows)]


def _aggregate(ctx: RoundContext, rows: torch.Tensor) -> torch.Tensor:
    return fixedpoint.flatten(settle_round(_submissions(ctx, rows), ctx).aggregate.delta, ctx.keys).to(torch.float64)


def fang_direction(benign: torch.Tensor) -> torch.Tensor:
    """Unit direction from the benign mean to the middle of Fang et al.'s trimmed-mean interval
    (b = 2) in every coordinate."""
    mean = benign.mean(dim=0)
    s = torch.sign(mean)
    high, low = benign.max(dim=0).values, benign.min(dim=0).values
    up = torch.where(high > 0, 1.5 * high, 0.75 * high)
    down = torch.where(low > 0, 0.75 * low, 1.5 * low)
    p = torch.where(s < 0, up, down) - mean
    return p / p.norm().clamp_min(1e-30)


def whitebox(view: AttackView, jitters: tuple[float, ...] = JITTERS, iterations: int = 6) -> torch.Tensor:
    ctx = view.ctx
    if ctx is None:
        raise ValueError("the white-box attack needs the task's RoundContext")
    benign = view.benign.to(torch.float64)
    m = len(benign)
    noise = unit_noise(view)
    clean = _aggregate(ctx, benign)
    base = benign.mean(dim=0)

    def rows(p: torch.Tensor, gamma: float, jitter: float) -> torch.Tensor:
        core = base + gamma * p
        return core[None] + jitter * float(core.norm()) * noise

    def accepted(candidate: torch.Tensor) -> bool:
        verdicts = validate_round(_submissions(ctx, torch.cat([benign, candidate])), ctx).verdicts
        return all(v.reason is Reason.ACCEPTED for v in verdicts[m:])

    best, best_damage = rows(direction(benign, "uv"), 0.0, jitters[0]), (-math.inf, -math.inf)
    for jitter in jitters:
        for kind in (*DIRECTIONS, "fang"):
            p = fang_direction(benign) if kind == "fang" else direction(benign, kind)
            gamma = largest(lambda g, p=p, jitter=jitter: accepted(rows(p, g, jitter)),
                            max(float(base.norm()), 1e-12) / 4, iterations=iterations)
            candidate = rows(p, gamma, jitter)
            if not accepted(candidate):
                continue
            shift = clean - _aggregate(ctx, torch.cat([benign, candidate]))
            damage = (float(shift @ base) / float(base.norm()), float(shift.norm()))
            if damage > best_damage:
                best, best_damage = candidate, damage
    return best.to(torch.float32)
