"""What the validation checks share: the round's candidates in canonical order, their derived
integer forms, and one exact Gram matrix over the updates that passed the norm bound."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property

import torch

from loraswarm.consensus import fixedpoint
from loraswarm.consensus.fingerprint import fingerprint
from loraswarm.consensus.history import Span
from loraswarm.consensus.stack import Stack
from loraswarm.consensus.types import Fingerprint, RoundContext, Submission
from loraswarm.consensus.weights import aggregation_weight
from loraswarm.protocol.codes import Reason


@dataclass(frozen=True)
class Finding:
    """A check's answer for one candidate: ACCEPTED lets it on to the next check."""

    reason: Reason = Reason.ACCEPTED
    measures: Mapping[str, float] = field(default_factory=dict)


Check = Callable[["RoundState", list[int]], dict[int, Finding]]


class Candidate:
    """A submission plus the forms later checks need, derived once. ``flat`` is valid after the
    schema check, ``values`` after the finiteness and max-coordinate checks."""

    def __init__(self, submission: Submission, ctx: RoundContext, prior: int | None) -> None:
        self.submission = submission
        self.ctx = ctx
        self.prior = prior  # reputation multiplier, ppm; None: the task has no reputation

    @cached_property
    def flat(self) -> torch.Tensor:
        assert self.submission.delta is not None
        return fixedpoint.flatten(self.submission.delta, self.ctx.keys)

    @cached_property
    def values(self) -> torch.Tensor:
        return fixedpoint.quantize(self.flat, fixedpoint.value_bits(self.ctx.norm_bound))

    @cached_property
    def fingerprint(self) -> Fingerprint:
        return fingerprint(self.values)

    @cached_property
    def sq_norm(self) -> int:
        return fixedpoint.sq_norm(self.values)

    @property
    def raw_claim(self) -> int:
        return min(max(self.submission.sample_count, 1), self.ctx.params.max_samples)

    def claimed(self, cap: int) -> int:
        """The self-reported sample count, capped by the task (max_samples) and by the round
        (``cap``: claim_factor times the round's median claim): it cannot be checked, so lying
        past either cap buys nothing (what incentives scores the update's volume by)."""
        return min(self.raw_claim, cap)

    def weight(self, cap: int) -> int:
        """Aggregation weight: the capped claim, scaled by the prior when there is one (a fresh
        identity's claim counts least: rules/_prior.py)."""
        if self.prior is None:
            return self.claimed(cap)
        return aggregation_weight(self.claimed(cap), self.ctx.params.max_samples, self.prior)


class RoundState:
    def __init__(self, submissions: list[Submission], ctx: RoundContext) -> None:
        self.ctx = ctx
        self.bits = fixedpoint.value_bits(ctx.norm_bound)
        # Canonical order: on-chain commit order, so arrival order never matters.
        ordered = sorted(submissions, key=lambda s: (s.commit_index, s.peer.lower()))
        prior = _prior_by_peer(ordered, ctx.prior)
        self.candidates = [Candidate(s, ctx, prior.get(s.peer.lower())) for s in ordered]
        self._full: Stack | None = None
        self._rows: dict[int, int] = {}
        self._coordinates: list[list[int]] | None = None
        # Candidate rejected as a duplicate -> its cluster's original (set by the duplicate check).
        self.originals: dict[int, int] = {}
        # Candidate -> the earliest candidate of its group of colluding updates (the collusion
        # check): a group counts as one contributor.
        self.groups: dict[int, int] = {}
        # The round's claim cap (claim_factor times the median claim of the well-formed updates),
        # fixed with the first stack.
        self.claim_cap = ctx.params.max_samples

    def stack(self, alive: list[int]) -> Stack:
        """The stack of the alive candidates. The first call (right after the norm bound) fixes
        the rows whose Gram is computed; later calls, on subsets, re-slice it."""
        if self._full is None:
            if alive:
                median_claim = lower_median([self.candidates[i].raw_claim for i in alive])
                self.claim_cap = max(1, math.floor(Fraction(self.ctx.params.claim_factor) * median_claim))
            self._full = Stack.of(
                peers=tuple(self.candidates[i].submission.peer for i in alive),
                values=torch.stack([self.candidates[i].values for i in alive])
                if alive else torch.zeros((0, self.ctx.numel), dtype=torch.int32),
                weights=tuple(self.candidates[i].weight(self.claim_cap) for i in alive),
                bits=self.bits,
                prior=None if self.ctx.prior is None else tuple(_known(self.candidates[i].prior) for i in alive),
            )
            self._rows = {c: r for r, c in enumerate(alive)}
        return self._full.subset([self._rows[i] for i in alive])

    @property
    def span(self) -> Span:
        """The span of the recent global changes (empty without them)."""
        return self.ctx.span

    def coordinates(self, alive: list[int]) -> list[list[int]]:
        """Each alive candidate's exact dot products with the span's basis (rows of B)."""
        if self._coordinates is None:
            assert self._full is not None  # the stack exists once anything is judged on the Gram
            self._coordinates = self.span.coordinates(self._full.scores)
        return [self._coordinates[self._rows[i]] for i in alive]

    def to_units(self, score_sq: int) -> float:
        """A squared score-grid quantity as a length in the delta's own units."""
        return math.ldexp(math.sqrt(score_sq), fixedpoint.SCORE_SHIFT - self.bits)


def _prior_by_peer(submissions: list[Submission], prior: Mapping[str, int] | None) -> dict[str, int]:
    """The prior by lowercase address. Every committed peer needs a multiplier: consensus cannot
    guess one, and a missing one would make validators disagree."""
    if prior is None:
        return {}
    by_peer = {peer.lower(): m for peer, m in prior.items()}
    for s in submissions:
        m = by_peer.get(s.peer.lower())
        if not isinstance(m, int) or m <= 0:
            raise ValueError(f"the prior needs a positive integer multiplier (ppm) for {s.peer}, got {m!r}")
    return by_peer


def lower_median(xs: list[int]) -> int:
    return sorted(xs)[(len(xs) - 1) // 2]


def above(x: int, factor: float, reference: int) -> bool:
    """x > factor * reference, decided exactly (factor taken as the exact binary fraction)."""
    return x > Fraction(factor) * reference


def cosine(dot: int, sq_a: int, sq_b: int) -> float:
    return dot / math.sqrt(sq_a * sq_b) if sq_a and sq_b else 0.0


def cos_above(dot: int, sq_a: int, sq_b: int, threshold: float) -> bool:
    """cos > threshold for threshold >= 0, decided on integers."""
    return dot > 0 and dot * dot > Fraction(threshold) ** 2 * sq_a * sq_b


def per_peer(check: Callable[[Candidate, RoundState], Finding]) -> Check:
    """Lift a check of one candidate into a round check (candidates judged independently)."""

    def round_check(state: RoundState, alive: list[int]) -> dict[int, Finding]:
        return {i: check(state.candidates[i], state) for i in alive}

    round_check.__name__ = check.__name__
    round_check.__doc__ = check.__doc__
    return round_check


def _known(prior: int | None) -> int:
    # every candidate has a prior when the round has one (RoundState gives each its multiplier)
    assert prior is not None
    return prior
