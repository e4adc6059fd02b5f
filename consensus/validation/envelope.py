"""Checks on what the node established about the envelope and the chain: the cheapest ones."""

from __future__ import annotations

from loraswarm.consensus.validation.state import Candidate, Finding, RoundState, per_peer
from loraswarm.protocol.codes import Reason


@per_peer
def revealed(c: Candidate, state: RoundState) -> Finding:
    """Committed but never revealed in time (or revealed without a delta)."""
    ok = c.submission.revealed and c.submission.delta is not None
    return Finding() if ok else Finding(Reason.NOT_REVEALED)


@per_peer
def signature(c: Candidate, state: RoundState) -> Finding:
    """The EIP-712 envelope signature recovers to the committing peer."""
    return Finding() if c.submission.signature_ok else Finding(Reason.BAD_SIGNATURE)


@per_peer
def commitment(c: Candidate, state: RoundState) -> Finding:
    """The revealed delta and salt hash to the on-chain commitment."""
    return Finding() if c.submission.commitment_ok else Finding(Reason.COMMITMENT_MISMATCH)


@per_peer
def base_hash(c: Candidate, state: RoundState) -> Finding:
    """Trained from the current global adapter: a stale base would undo the last round."""
    fresh = c.submission.base_hash.lower() == state.ctx.current_global_hash.lower()
    return Finding() if fresh else Finding(Reason.STALE_BASE)
