"""Slashing policy: who loses which fraction of stake after a round, and why.

Causes and default rates (basis points of the account's stake, task parameters):
- UNREVEALED (10%): committed but never opened the commitment (no reveal, or a reveal that does
  not match it). Withholding is the peer's own choice, since only it holds the salt, and it is a
  lever: commit from many identities, then reveal only what suits you once others have revealed.
  A modest slash removes the free option while tolerating a rare crash.
- MALICIOUS (50%): rejected with a reason in ``codes.MALICIOUS`` (norm bound, non-finite,
  Krum / median outlier, loss gate): the update attacked the model. The rate must outweigh what a
  successful attack could earn, and these tests do not fire on honest training.
- LOSING_ATTESTATION (20%): a validator attested a tuple other than the finalized one. Honest
  validators run the same deterministic pipeline and always agree; a different tuple means it
  did not validate (a lazy guess) or tried to push a wrong result.
- FREE_RIDE (0% by default): zero, duplicate, replayed, noise or stale updates earn nothing and
  are not slashed. Their detectors are thresholds that an honest but weak peer can trip (tiny
  data gives a tiny update, a slow link a stale base), and a slash on such a false positive
  would drive small honest peers away. Earning nothing while the stake is locked already makes
  free riding a loss (the economics simulation shows it); a task that wants more sets
  ``free_ride_bps``.
Slashed tokens go to the reward pool of the next round (the contracts do that), never to the
validator that reported them. One account's slashes in a round add up, capped at its stake.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum

from loraswarm.incentives.outcome import (
    Attestation,
    AttestedTuple,
    PeerOutcome,
    account_key,
    check_unique,
)
from loraswarm.incentives.rewards import BPS
from loraswarm.protocol.codes import FREE_RIDE, MALICIOUS, Reason


class SlashCause(Enum):
    UNREVEALED = "unrevealed"
    MALICIOUS = "malicious"
    FREE_RIDE = "free_ride"
    LOSING_ATTESTATION = "losing_attestation"


# A reveal that does not open the commitment is no reveal.
UNREVEALED: frozenset[Reason] = frozenset({Reason.NOT_REVEALED, Reason.COMMITMENT_MISMATCH})


@dataclass(frozen=True)
class SlashParams:
    unrevealed_bps: int = 1_000
    malicious_bps: int = 5_000
    losing_attestation_bps: int = 2_000
    free_ride_bps: int = 0

    def __post_init__(self) -> None:
        rates = (self.unrevealed_bps, self.malicious_bps, self.losing_attestation_bps, self.free_ride_bps)
        if not all(0 <= r <= BPS for r in rates):
            raise ValueError(f"slash rates must be within 0..{BPS} bps: {self}")

    def rate(self, cause: SlashCause) -> int:
        return {
            SlashCause.UNREVEALED: self.unrevealed_bps,
            SlashCause.MALICIOUS: self.malicious_bps,
            SlashCause.LOSING_ATTESTATION: self.losing_attestation_bps,
            SlashCause.FREE_RIDE: self.free_ride_bps,
        }[cause]


def peer_cause(reason: Reason) -> SlashCause | None:
    """The slash cause of a peer's verdict, or None (accepted, or rejected without fault, e.g.
    not selected by the aggregation rule or dropped at the network edge)."""
    # NOT_REVEALED is also in FREE_RIDE: unrevealed is checked first because it is slashed.
    if reason in UNREVEALED:
        return SlashCause.UNREVEALED
    if reason in MALICIOUS:
        return SlashCause.MALICIOUS
    if reason in FREE_RIDE:
        return SlashCause.FREE_RIDE
    return None


@dataclass(frozen=True)
class Slash:
    account: str
    amount: int
    cause: SlashCause


def peer_slashes(outcomes: Iterable[PeerOutcome], stakes: Mapping[str, int], params: SlashParams) -> list[Slash]:
    """Non-zero slashes of a round's peers, from their verdicts."""
    outcomes = list(outcomes)
    check_unique([o.peer for o in outcomes], "peer")
    slashes = []
    for outcome in outcomes:
        cause = peer_cause(outcome.reason)
        if cause is not None:
            amount = stakes.get(outcome.peer, 0) * params.rate(cause) // BPS
            slashes.append(Slash(outcome.peer, amount, cause))
    return _ordered(slashes)


def attestation_slashes(
    attestations: Iterable[Attestation], finalized: AttestedTuple, params: SlashParams
) -> list[Slash]:
    """Non-zero slashes of the validators that attested another tuple than the finalized one."""
    attestations = list(attestations)
    check_unique([a.validator for a in attestations], "validator")
    rate = params.rate(SlashCause.LOSING_ATTESTATION)
    return _ordered([
        Slash(a.validator, a.stake * rate // BPS, SlashCause.LOSING_ATTESTATION)
        for a in attestations if a.attested != finalized
    ])


def _ordered(slashes: list[Slash]) -> list[Slash]:
    return sorted((s for s in slashes if s.amount > 0), key=lambda s: (account_key(s.account), s.cause.value))


def slash_totals(slashes: Iterable[Slash], stakes: Mapping[str, int]) -> dict[str, int]:
    """One amount per account (what a slash-root leaf carries), capped at the account's stake."""
    stake_of = {account_key(k): v for k, v in stakes.items()}
    totals: dict[str, int] = {}
    names: dict[str, str] = {}
    for s in slashes:
        key = account_key(s.account)
        names.setdefault(key, s.account)
        totals[key] = totals.get(key, 0) + s.amount
    return {names[k]: min(totals[k], stake_of.get(k, totals[k])) for k in sorted(totals)}
