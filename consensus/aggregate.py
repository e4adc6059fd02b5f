"""Aggregation of the accepted updates by the task's rule, the per-peer contribution measure,
and the canonical forms that validators hash and attest."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

import torch

from loraswarm.consensus import fixedpoint
from loraswarm.consensus.rules import RULES
from loraswarm.consensus.stack import Stack
from loraswarm.consensus.types import Fingerprint, RoundContext, Submission, Verdict
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
    """The task rule over the accepted stack. No accepted update: a zero delta (the global
    stays)."""
    if len(accepted) == 0:
        values = torch.zeros(ctx.numel, dtype=torch.int64)
        selected: tuple[int, ...] = ()
    else:
        out = RULES[ctx.rule_id](accepted, ctx.params)
        values, selected = out.values, out.selected
    dots = accepted.dots(values) if len(accepted) else torch.zeros(0)
    aggregate_sq = fixedpoint.sq_norm(values)
    agreement = {peer: cosine(int(dots[r]), int(accepted.gram[r, r]), aggregate_sq)
                 for r, peer in enumerate(accepted.peers)}
    return Aggregate(
        rule=ctx.rule_id,
        values=values,
        delta=ctx.unflatten(fixedpoint.dequantize(values, accepted.bits)),
        selected=tuple(accepted.peers[r] for r in selected),
        agreement=agreement,
    )


def settle_round(submissions: Iterable[Submission], ctx: RoundContext) -> RoundOutcome:
    """Validate, aggregate, and fold the rule's selection and each accepted peer's agreement
    into the verdicts (what the ledger and incentives read)."""
    verdict = validate_round(submissions, ctx)
    agg = aggregate(verdict.accepted, ctx)
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

