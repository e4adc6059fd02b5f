"""The round's verdicts for the simulation, from consensus's real pipeline.

A judge turns the peers' reveals into ``PeerOutcome``s (what incentives reads) and the hash of
the round's new global delta, and remembers what later rounds need to spot replays
(``standin.StandInJudge`` is the other judge).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import torch
from eth_utils import keccak

from harness.sim.synthetic import NORM_BOUND
from loraswarm.consensus.aggregate import settle_round
from loraswarm.consensus.types import Fingerprint, RoundContext, Submission
from loraswarm.incentives.from_consensus import outcomes_from_verdicts
from loraswarm.incentives.outcome import PeerOutcome

SPEC_KEY = "delta"
# Replays are looked for among the last rounds only: a copycat replays the previous round, and
# consensus's fingerprint comparison costs O(history x peers) per round.
HISTORY_ROUNDS = 2
GLOBAL = "0x" + "00" * 32
# Global changes kept for consensus's projection (ConsensusParams.history_changes uses the last 3).
CHANGES_ROUNDS = 3  # every simulated peer trains from the current global: no stale bases


@dataclass(frozen=True)
class Reveal:
    peer: str
    sample_count: int
    delta: torch.Tensor | None  # None: committed, never revealed
    # The peer's reputation multiplier (ppm) when the round opens; None: the run has no reputation.
    multiplier: int | None = None


@dataclass(frozen=True)
class Judged:
    outcomes: list[PeerOutcome]
    global_hash: bytes
    # The round's global change (flat), when the judge reports it; equality compares the hash.
    change: torch.Tensor | None = field(default=None, compare=False)


class Judge(Protocol):
    def __call__(self, round_id: int, reveals: Sequence[Reveal]) -> Judged: ...


class ConsensusJudge:
    """consensus.aggregate.settle_round: the validation pipeline, the task's rule (default), and
    each accepted peer's agreement with the aggregate. With reputation, the reveals' multipliers
    are consensus's prior, as a validator node passes them (node/judge.py)."""

    def __init__(self) -> None:
        self._history: deque[tuple[Fingerprint, ...]] = deque(maxlen=HISTORY_ROUNDS)
        # The last global changes (every validator holds the globals): consensus's RoundContext.changes.
        self._changes: deque[dict[str, torch.Tensor]] = deque(maxlen=CHANGES_ROUNDS)

    def __call__(self, round_id: int, reveals: Sequence[Reveal]) -> Judged:
        prior = None if all(r.multiplier is None for r in reveals) else {r.peer: r.multiplier for r in reveals}
        ctx = RoundContext(
            round=round_id, current_global_hash=GLOBAL, spec={SPEC_KEY: (len(_first_delta(reveals)),)},
            norm_bound=NORM_BOUND, history=tuple(f for fs in self._history for f in fs), prior=prior,
            changes=tuple(self._changes),
        )
        submissions = [
            Submission(peer=r.peer, commit_index=i, base_hash=GLOBAL, sample_count=r.sample_count,
                       delta=None if r.delta is None else {SPEC_KEY: r.delta})
            for i, r in enumerate(reveals)
        ]
        outcome = settle_round(submissions, ctx)
        self._history.append(tuple(outcome.fingerprints.values()))
        self._changes.append(outcome.aggregate.delta)
        global_hash = bytes.fromhex(outcome.aggregate.hash.removeprefix("0x"))
        return Judged(outcomes_from_verdicts(outcome.verdicts), global_hash, outcome.aggregate.delta[SPEC_KEY])


def _first_delta(reveals: Sequence[Reveal]) -> torch.Tensor:
    return next(r.delta for r in reveals if r.delta is not None)



def delta_digest(delta: torch.Tensor) -> bytes:
    """keccak256 of the delta's float32 bytes: the content hash a peer commits to."""
    return keccak(delta.to(torch.float32).contiguous().numpy().tobytes())
