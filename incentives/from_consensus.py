"""consensus's round verdicts as incentives' input.

Kept apart from ``outcome`` so that scoring, rewards and slashing import without torch.
"""

from __future__ import annotations

from collections.abc import Iterable

from loraswarm.consensus.types import Verdict
from loraswarm.incentives.outcome import PeerOutcome


def outcomes_from_verdicts(verdicts: Iterable[Verdict]) -> list[PeerOutcome]:
    """One ``PeerOutcome`` per verdict. The sample count is the capped claim (``weight``: present
    for updates that reached aggregation; the others score zero anyway; a reputation prior scales
    only the aggregation weight, and settlement applies the multiplier to the reward share) and
    the agreement is the update's cosine to the aggregate (``agreement``)."""
    return [
        PeerOutcome(v.peer, v.reason, int(v.measures.get("weight", 0.0)), v.measures.get("agreement", 0.0))
        for v in verdicts
    ]
