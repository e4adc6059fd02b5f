"""The consensus boundary: what the node daemon hands in for a round, and what comes out."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

import torch

from loraswarm.consensus import fixedpoint
from loraswarm.consensus.history import Span, changes_from
from loraswarm.consensus.params import ConsensusParams
from loraswarm.consensus.stack import Stack
from loraswarm.protocol.codes import Reason
from loraswarm.protocol.rules import DEFAULT_RULE, RuleId


@dataclass(frozen=True)
class Submission:
    """One committed peer's update as the node saw it. The node holds the envelopes and the chain
    state, so it establishes whether the reveal opened the commitment; consensus records the outcome
    with a code."""

    peer: str  # 0x address
    commit_index: int  # order of the on-chain commit: the earlier commitment wins a duplicate
    base_hash: str  # global adapter hash the peer trained from
    sample_count: int
    delta: Mapping[str, torch.Tensor] | None
    # ACCEPTED: a signed update whose digest is the on-chain commitment was held and its delta
    # decoded. Otherwise why not: NOT_REVEALED, COMMITMENT_MISMATCH (only other updates were held),
    # EQUIVOCATION (evidence of two signed updates was on chain), a CODEC_* code (undecodable delta).
    opened: Reason = Reason.ACCEPTED


@dataclass(frozen=True)
class Fingerprint:
    """What a later round keeps of an update to detect replays: the exact digest of its
    value-grid integers, and an integer count sketch that preserves inner products."""

    digest: str
    sketch: tuple[int, ...]


@dataclass(frozen=True)
class RoundContext:
    round: int
    current_global_hash: str
    spec: Mapping[str, tuple[int, ...]]  # adapter key -> shape; flattened in sorted key order
    norm_bound: float
    rule_id: RuleId = DEFAULT_RULE
    params: ConsensusParams = field(default_factory=ConsensusParams)
    history: tuple[Fingerprint, ...] = ()  # fingerprints of earlier rounds' revealed updates
    # The recent changes of the global adapter (aggregate deltas of the last finalized rounds,
    # oldest first), as every node holds them: what an update may hold without it counting as
    # its own work (history.py; the last ConsensusParams.history_changes are used). Empty: none.
    changes: tuple[Mapping[str, torch.Tensor], ...] = ()
    # Reputation multiplier (ppm) of every committed peer, any address case, as
    # incentives.reputation.Standing.multipliers gives it; None: the task has no reputation. How
    # far it reaches: rules/_prior.py.
    prior: Mapping[str, int] | None = None

    @property
    def keys(self) -> list[str]:
        return sorted(self.spec)

    @cached_property
    def span(self) -> Span:
        """The span of the recent global changes (empty without them). A function of the context
        alone, so computed once however many rounds are judged against it (a white-box attacker's
        search validates hundreds of candidate rounds against one)."""
        return Span(changes_from(self.changes, self.keys, self.params.history_changes),
                    fixedpoint.value_bits(self.norm_bound), self.norm_bound)

    @property
    def numel(self) -> int:
        return sum(math.prod(self.spec[k]) for k in self.keys)

    def unflatten(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        start = 0
        for key in self.keys:
            size = math.prod(self.spec[key])
            out[key] = flat[start:start + size].reshape(self.spec[key])
            start += size
        return out


@dataclass(frozen=True)
class Verdict:
    """One peer's outcome with the measures that led to it (norms, cosines, scores, losses, in
    the delta's own units), and for accepted peers its weight and agreement with the aggregate."""

    peer: str
    reason: Reason
    measures: dict[str, float]

    @property
    def accepted(self) -> bool:
        return self.reason is Reason.ACCEPTED


@dataclass(frozen=True)
class RoundVerdict:
    verdicts: tuple[Verdict, ...]  # canonical (commit) order
    accepted: Stack  # the accepted updates, ready for the rule
    fingerprints: dict[str, Fingerprint]  # every revealed, well-formed update: next rounds' history

    @property
    def accepted_peers(self) -> tuple[str, ...]:
        return self.accepted.peers
