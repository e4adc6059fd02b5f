"""Checks on what the node established about the envelope and the chain: the cheapest ones."""

from __future__ import annotations

from loraswarm.consensus.validation.state import Candidate, Finding, RoundState, per_peer
from loraswarm.protocol.codes import Reason


@per_peer
def opened(c: Candidate, state: RoundState) -> Finding:
    """A signed update opened the peer's on-chain commitment and its delta decoded (the node says
    why not: never revealed, only other updates, equivocation evidence, an undecodable delta)."""
    if c.submission.opened is not Reason.ACCEPTED:
        return Finding(c.submission.opened)
    return Finding() if c.submission.delta is not None else Finding(Reason.NOT_REVEALED)


@per_peer
def base_hash(c: Candidate, state: RoundState) -> Finding:
    """Trained from the current global adapter: a stale base would undo the last round."""
    fresh = c.submission.base_hash.lower() == state.ctx.current_global_hash.lower()
    return Finding() if fresh else Finding(Reason.STALE_BASE)
