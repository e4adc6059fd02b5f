"""What incentives needs to know about a finalized round, as plain typed values.

The validation pipeline (consensus/) produces one verdict per committed peer. This type is the
boundary: scoring, rewards and slashing read only it, so they do not depend on how a verdict was
reached.
"""

from __future__ import annotations

from dataclasses import dataclass

from loraswarm.protocol.codes import Reason


@dataclass(frozen=True)
class PeerOutcome:
    """One committed peer's verdict in a round.

    ``agreement`` is the cosine of the peer's delta to the round's robust aggregate, as the
    deterministic pipeline computed it (every honest validator holds the same float).
    ``sample_count`` is the count the peer signed in its envelope (self-reported).
    """

    peer: str
    reason: Reason
    sample_count: int
    agreement: float


def account_key(account: str) -> str:
    """Canonical form of an account for ordering and de-duplication: addresses compare
    case-insensitively (checksummed and lowercase spellings are the same account)."""
    return account.lower()


def check_unique(accounts: list[str], what: str) -> None:
    keys = [account_key(a) for a in accounts]
    if len(set(keys)) != len(keys):
        raise ValueError(f"duplicate {what} in one round")
