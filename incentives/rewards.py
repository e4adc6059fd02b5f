"""Split a round's reward pool into integer token amounts.

The pool (in the token's smallest unit) is cut in two: ``validator_bps`` of it goes to the
validators whose attestation matched the finalized tuple, in proportion to their stake; the rest
goes to peers in proportion to their contribution score. Each part is split by the largest
remainder method: everyone gets the floor of their exact share, then the leftover units (fewer
than the number of recipients) go one each to the largest remainders, ties to the lower account.
So a split pays out its part exactly, never more, and every validator computes the same amounts.
A part with no eligible recipient (no accepted update, or no validator to pay) falls to the other
part, so nothing is stranded in a round's pool unless nobody at all is eligible.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from loraswarm.incentives.outcome import Attestation, AttestedTuple, account_key, check_unique

BPS = 10_000


@dataclass(frozen=True)
class RewardParams:
    # Share of each round's pool paid to validators who attested the finalized tuple.
    validator_bps: int = 1_000

    def __post_init__(self) -> None:
        if not 0 <= self.validator_bps <= BPS:
            raise ValueError(f"validator_bps must be within 0..{BPS}, got {self.validator_bps}")


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


@dataclass(frozen=True)
class RoundRewards:
    peers: dict[str, int]
    validators: dict[str, int]
    unallocated: int

    @property
    def paid(self) -> int:
        return sum(self.peers.values()) + sum(self.validators.values())

    def by_account(self) -> dict[str, int]:
        """One amount per account (a peer that also validates gets one claim), in account order."""
        merged: dict[str, int] = {}
        names: dict[str, str] = {}
        for part in (self.peers, self.validators):
            for account, amount in part.items():
                key = account_key(account)
                names.setdefault(key, account)
                merged[key] = merged.get(key, 0) + amount
        return {names[k]: merged[k] for k in sorted(merged)}


def matching_stakes(attestations: Iterable[Attestation], finalized: AttestedTuple) -> dict[str, int]:
    """Stake of each validator whose attestation matched the finalized tuple."""
    attestations = list(attestations)
    check_unique([a.validator for a in attestations], "validator")
    return {a.validator: a.stake for a in attestations if a.attested == finalized}


def round_rewards(
    pool: int, scores: Mapping[str, int], validator_stakes: Mapping[str, int], params: RewardParams
) -> RoundRewards:
    """Split ``pool`` between peers (by ``scores``) and validators (by ``validator_stakes``, the
    stakes of those who attested the finalized tuple: see ``matching_stakes``)."""
    validator_cut = pool * params.validator_bps // BPS
    if not any(w > 0 for w in validator_stakes.values()):
        validator_cut = 0
    elif not any(s > 0 for s in scores.values()):
        validator_cut = pool
    validators = split_by_weight(validator_cut, validator_stakes)
    peers = split_by_weight(pool - validator_cut, scores)
    paid = sum(peers.values()) + sum(validators.values())
    return RoundRewards(peers=peers, validators=validators, unallocated=pool - paid)
