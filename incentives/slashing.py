"""Slashing policy: who loses which fraction of stake after a round, and why.

Causes and default rates (basis points of the stake the account locked for the task):
- UNREVEALED (10%): committed but never opened the commitment (no reveal, or a reveal that does
  not match it). Withholding is the peer's own choice, since only it holds the salt, and it is a
  lever: commit from many identities, then reveal only what suits you once others have revealed.
  A modest slash removes the free option while tolerating a rare crash.
- MALICIOUS (50%): rejected with a reason in ``codes.MALICIOUS`` (norm bound, non-finite,
  Krum / median outlier, loss gate): the update attacked the model. The rate must outweigh what a
  successful attack could earn, and in the simulation these checks never fire on honest updates.
  Rates apply to the stake locked when the round opened, so an attacker that keeps attacking
  loses its stake geometrically.
- EQUIVOCATION (the whole peer stake, on chain): two different signed updates of one round are
  evidence anyone can hand to ``Coordinator.reportEquivocation``, which slashes at once; the
  round's verdict says EQUIVOCATION and its slash tree holds no second leaf for it.
- Validators are slashed by the coordinator, not by this tree (a round's slash root is attested
  before the attestations it would judge exist): ``slashValidator`` takes the task's fixed
  ``validatorSlash`` from a dissenter (attested a tuple other than the finalized one, or sealed
  and never opened) and ``absenceSlash`` from a validator of the round's snapshot that never
  sealed, which also ejects it. ``dissent_slash`` below is the policy's suggestion for the first.
- FREE_RIDE (0% by default): zero, duplicate, replayed, noise or stale updates earn nothing and
  are not slashed. Their detectors are thresholds that an honest but weak peer can trip (tiny
  data gives a tiny update, a slow link a stale base), and a slash on such a false positive
  would drive small honest peers away. Earning nothing while the stake is locked already makes
  free riding a loss (the economics simulation shows it); a task that wants more sets
  ``free_ride_bps``.
Slashed tokens go to the task's next reward pool (the coordinator does that), never to whoever
executes the slash.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum

from loraswarm.incentives.outcome import PeerOutcome, account_key, check_unique
from loraswarm.protocol.chain import BPS
from loraswarm.protocol.codes import FREE_RIDE, MALICIOUS, Reason


class SlashCause(Enum):
    UNREVEALED = "unrevealed"
    MALICIOUS = "malicious"
    FREE_RIDE = "free_ride"


# Slashed by the coordinator when the evidence was reported: no second leaf in the slash tree.
SLASHED_ON_CHAIN: frozenset[Reason] = frozenset({Reason.EQUIVOCATION})
# A reveal that does not open the commitment is no reveal.
UNREVEALED: frozenset[Reason] = frozenset({Reason.NOT_REVEALED, Reason.COMMITMENT_MISMATCH})


@dataclass(frozen=True)
class SlashParams:
    unrevealed_bps: int = 1_000
    malicious_bps: int = 5_000
    free_ride_bps: int = 0
    dissent_bps: int = 2_000

    def __post_init__(self) -> None:
        rates = (self.unrevealed_bps, self.malicious_bps, self.free_ride_bps, self.dissent_bps)
        if not all(0 <= r <= BPS for r in rates):
            raise ValueError(f"slash rates must be within 0..{BPS} bps: {self}")

    def rate(self, cause: SlashCause) -> int:
        return {
            SlashCause.UNREVEALED: self.unrevealed_bps,
            SlashCause.MALICIOUS: self.malicious_bps,
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
    """One slash-tree leaf: the reason is the verdict's reason code, recorded on chain."""

    account: str
    amount: int
    reason: Reason
    cause: SlashCause


def peer_slashes(outcomes: Iterable[PeerOutcome], stakes: Mapping[str, int], params: SlashParams) -> list[Slash]:
    """The round's non-zero peer slashes (one per peer at most), in account order. ``stakes``
    is each peer's locked stake when the round opened."""
    outcomes = list(outcomes)
    check_unique([o.peer for o in outcomes], "peer")
    slashes = []
    for outcome in outcomes:
        cause = peer_cause(outcome.reason)
        if cause is not None and outcome.reason not in SLASHED_ON_CHAIN:
            amount = stakes.get(outcome.peer, 0) * params.rate(cause) // BPS
            if amount > 0:
                slashes.append(Slash(outcome.peer, amount, outcome.reason, cause))
    return sorted(slashes, key=lambda s: account_key(s.account))


def dissent_slash(validator_stake: int, params: SlashParams) -> int:
    """The task's fixed dissent slash (the coordinator's ``validatorSlash``) for validators
    staking ``validator_stake``."""
    return validator_stake * params.dissent_bps // BPS
