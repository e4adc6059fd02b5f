"""Where a node stands in a round. Persisted by value in the state journal: a restart reads it
back to decide what is left to do, so values are append-only (never rename one)."""

from __future__ import annotations

from enum import StrEnum


class Phase(StrEnum):
    STARTING = "starting"
    WAITING = "waiting"  # for the round's start global or its commit window
    TRAINING = "training"
    COMMITTED = "committed"
    REVEALED = "revealed"
    JUDGING = "judging"
    SEALED = "sealed"
    ATTESTED = "attested"
    AWAITING_QUORUM = "awaiting quorum"
    SETTLING = "settling"
    SETTLED = "settled"  # finalized, claimed, global adopted: nothing left to do
    FAILED = "failed"  # no quorum, or the node could not take part: nothing left to do
    STOPPED = "stopped"

    @property
    def finished(self) -> bool:
        """Nothing is left to do in a round that reached this phase."""
        return self in (Phase.SETTLED, Phase.FAILED)
