"""Aggregation of the accepted updates by the task's rule, the per-peer contribution measure,
and the canonical forms that validators hash and attest."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from fractions import Fraction

import torch

from loraswarm.consensus import fixedpoint
from loraswarm.consensus.history import Span, changes_from
from loraswarm.consensus.rules import RULES
from loraswarm.consensus.rules._prior import reference_median
from loraswarm.consensus.stack import Stack
from loraswarm.consensus.types import Fingerprint, RoundContext, RoundVerdict, Submission, Verdict
from loraswarm.consensus.validation.pipeline import validate_round
from loraswarm.consensus.validation.state import cosine
from loraswarm.protocol.codes import Reason
from loraswarm.protocol.rules import RuleId


@dataclass(frozen=True)
class Aggregate:
    rule: RuleId
    values: torch.Tensor  # (d,) int64 on the value grid
    delta: dict[str, torch.Tensor]  # float32 tensors by adapter key: what the global adds
    selected: tuple[str, ...]  # peers whose update entered the aggregate
    agreement: dict[str, float]  # accepted peer -> cosine of its update to the aggregate

    @property
    def hash(self) -> str:
        """Content hash of the aggregate delta (canonical float32 bytes, sorted keys)."""
        return fixedpoint.tensors_hash(self.delta)


@dataclass(frozen=True)
class RoundOutcome:
    verdicts: tuple[Verdict, ...]
    aggregate: Aggregate
    fingerprints: dict[str, Fingerprint]  # this round's, for the next rounds' history


def aggregate(accepted: Stack, ctx: RoundContext) -> Aggregate:
    """The task rule over the accepted stack, a group of colluding updates merged into one row
    (collusion.py). No accepted update: a zero delta (the global stays).

    A peer's agreement is the cosine of its update to the aggregate, both taken orthogonally to
    the span of the recent global changes when the round has them (history.py): what the
    global's own history predicts earns nothing, so a mimic of it agrees with nothing."""
    span = Span(changes_from(ctx.changes, ctx.keys, ctx.params.history_changes), accepted.bits, ctx.norm_bound)
    if len(accepted) == 0:
        values = torch.zeros(ctx.numel, dtype=torch.int64)
        selected: tuple[int, ...] = ()
    else:
        merged, members = accepted.merged()
        out = RULES[ctx.rule_id](merged, ctx.params)
        values = out.values
        if ctx.params.trend_median:
            reference = span.last if span.last is not None else reference_median(merged.values, merged.prior)
            values = median_step(values, merged, reference)
        selected = tuple(sorted(r for m in out.selected for r in members[m]))
    return Aggregate(
        rule=ctx.rule_id,
        values=values,
        delta=ctx.unflatten(fixedpoint.dequantize(values, accepted.bits)),
        selected=tuple(accepted.peers[r] for r in selected),
        agreement=_agreement(accepted, values, span),
    )


# Fractional bits of the correction coefficient in median_step: |coefficient * g_j| stays within
# the value grid's 2**30 (the correction is at most an update's length), so the int64 product
# q * g_j stays below 2**61.
_STEP_BITS = 30


def median_step(values: torch.Tensor, stack: Stack, reference: torch.Tensor) -> torch.Tensor:
    """The aggregate with its component along ``reference`` (g) replaced by the median of the
    rows' components: agg + q * g with q = (median_i <x_i, g> - <agg, g>) / <g, g>, q floored
    onto a 2**-30 grid and each coordinate's correction rounded half up (exact integers).

    Colluders inside the honest spread take progress away mostly by shortening the step along
    the round's direction (each can shorten its own share by up to 1 - projection_floor); the
    median of the steps ignores that, as it ignores a minority's values in one dimension. With
    honest rows only, median and mean steps differ by a few percent of the step."""
    if len(stack) == 0 or not bool(reference.any()):
        return values
    along = sorted(int(v) for v in stack.dots(reference).tolist())
    n = len(along)
    target = Fraction(along[(n - 1) // 2] + along[n // 2], 2)
    current = int(fixedpoint.exact_int(fixedpoint.to_score(values) @ fixedpoint.to_score(reference)))
    q = (target - current) / fixedpoint.sq_norm(reference)
    q_fixed = math.floor(q * (1 << _STEP_BITS))
    if abs(q_fixed) >= 1 << 62:
        return values  # a reference too short to carry a step (never for a real global change)
    correction = fixedpoint.round_div(q_fixed * reference.to(torch.int64), 1 << _STEP_BITS)
    return values.to(torch.int64) + correction


def _agreement(accepted: Stack, values: torch.Tensor, span: Span) -> dict[str, float]:
    if len(accepted) == 0:
        return {}
    dots = [int(v) for v in accepted.dots(values).tolist()]
    aggregate_sq = fixedpoint.sq_norm(values)
    norms = [int(accepted.gram[r, r]) for r in range(len(accepted))]
    if not span:
        return {peer: cosine(dots[r], norms[r], aggregate_sq) for r, peer in enumerate(accepted.peers)}
    rows_b = span.coordinates(accepted.scores)
    agg_b = span.coordinates(fixedpoint.to_score(values)[None])[0]
    agg_res = span.residual(aggregate_sq, agg_b, agg_b)
    return {peer: cosine(span.residual(dots[r], rows_b[r], agg_b), span.residual(norms[r], rows_b[r], rows_b[r]),
                         agg_res)
            for r, peer in enumerate(accepted.peers)}


def settle_round(submissions: Iterable[Submission], ctx: RoundContext) -> RoundOutcome:
    """Validate, aggregate, and fold the rule's selection and each accepted peer's agreement
    into the verdicts (what the ledger and incentives read)."""
    verdict = validate_round(submissions, ctx)
    return fold_outcome(verdict, aggregate(verdict.accepted, ctx))


def fold_outcome(verdict: RoundVerdict, agg: Aggregate) -> RoundOutcome:
    """The round's outcome from its validation and its aggregate: ``settle_round``'s last step,
    on its own for a caller that times validation and aggregation apart (the node)."""
    chosen = set(agg.selected)
    verdicts = []
    for v in verdict.verdicts:
        if v.accepted:
            measures = {**v.measures, "agreement": agg.agreement[v.peer]}
            reason = Reason.ACCEPTED if v.peer in chosen else Reason.NOT_SELECTED
            v = replace(v, reason=reason, measures=measures)
        verdicts.append(v)
    return RoundOutcome(tuple(verdicts), agg, dict(verdict.fingerprints))


def apply_delta(global_adapter: Mapping[str, torch.Tensor],
                delta: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The next global adapter: an elementwise float32 sum, the same IEEE result everywhere."""
    return {k: (global_adapter[k].to(torch.float32) + delta[k]).contiguous() for k in sorted(delta)}

