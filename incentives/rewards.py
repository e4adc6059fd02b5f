"""Split a round's peer pool into integer token amounts.

Validators are paid on chain (``Coordinator.claimValidator``: a fixed ``validatorBps`` share of the
round's pool, by seal-time stake), so what validators split here is the peers' part only: the
pool available at the round's pinned block minus the validators' share, as the coordinator will
compute it (``peer_pool``). It goes to peers in proportion to their contribution score by the
largest remainder method: everyone gets the floor of their exact share, then the leftover units
(fewer than the number of recipients) go one each to the largest remainders, ties to the lower
account. So a split pays out its pool exactly, never more, and every validator computes the same
amounts. With no eligible peer nothing is paid: the pool stays with the task for later rounds
(the coordinator only takes what the attested reward tree pays).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from loraswarm.incentives.outcome import account_key, check_unique
from loraswarm.protocol.chain import BPS, validator_pool


def split_by_weight(amount: int, weights: Mapping[str, int]) -> dict[str, int]:
    """Largest-remainder split of ``amount`` by non-negative integer weights.

    Returns only non-zero payments. Pays exactly ``amount`` when any weight is positive, else
    nothing.
    """
    if amount < 0:
        raise ValueError(f"cannot split a negative amount {amount}")
    if any(w < 0 for w in weights.values()):
        raise ValueError("weights must be non-negative")
    check_unique(list(weights), "recipient")
    eligible = {k: w for k, w in weights.items() if w > 0}
    total = sum(eligible.values())
    if amount == 0 or total == 0:
        return {}
    shares = {k: amount * w // total for k, w in eligible.items()}
    dust = amount - sum(shares.values())
    by_remainder = sorted(eligible, key=lambda k: (-(amount * eligible[k] % total), account_key(k)))
    for k in by_remainder[:dust]:
        shares[k] += 1
    return {k: v for k, v in shares.items() if v > 0}


def peer_pool(available: int, validator_bps: int) -> int:
    """What peers of a round share: ``available`` (min(rewardPerRound, budget) + slashPool, read at
    the round's pinned block) minus the validators' share, floored exactly as the coordinator
    floors it at finalization (it can only have grown since, so the attested pool always fits)."""
    if not 0 <= validator_bps <= BPS:
        raise ValueError(f"validator_bps must be within 0..{BPS}, got {validator_bps}")
    return available - validator_pool(available, validator_bps)


@dataclass(frozen=True)
class RoundRewards:
    peers: dict[str, int]
    unallocated: int

    @property
    def paid(self) -> int:
        """What the round's reward tree pays: the peerPool of the attested tuple."""
        return sum(self.peers.values())

    def by_account(self) -> dict[str, int]:
        """One amount per account, in account order (a reward tree's leaf order)."""
        return {a: self.peers[a] for a in sorted(self.peers, key=account_key)}


def round_rewards(pool: int, scores: Mapping[str, int]) -> RoundRewards:
    """Split the peers' ``pool`` by ``scores``; nothing is paid when nobody scored."""
    peers = split_by_weight(pool, scores)
    return RoundRewards(peers=peers, unallocated=pool - sum(peers.values()))
