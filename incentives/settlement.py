"""One round's settlement: scores, the reward split and the slashes, from the round's verdicts.

Validators are judged one round late. A round's rewards root is part of the tuple validators
attest, so it is fixed before anyone knows who will attest what; the validators of round r - 1
(whose attestations and finalized tuple are on chain by then) are therefore paid and slashed in
round r's trees. Every validator can compute that from chain data alone, so the trees stay
deterministic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from loraswarm.incentives.outcome import Attestation, AttestedTuple, PeerOutcome
from loraswarm.incentives.rewards import RewardParams, RoundRewards, matching_stakes, round_rewards
from loraswarm.incentives.scoring import ScoringParams, score_round
from loraswarm.incentives.slashing import (
    Slash,
    SlashParams,
    attestation_slashes,
    peer_slashes,
    slash_totals,
)


@dataclass(frozen=True)
class IncentiveParams:
    scoring: ScoringParams = field(default_factory=ScoringParams)
    rewards: RewardParams = field(default_factory=RewardParams)
    slashing: SlashParams = field(default_factory=SlashParams)


@dataclass(frozen=True)
class PreviousRound:
    """The last finalized round's attestations: its validators are settled now."""

    attestations: Sequence[Attestation]
    finalized: AttestedTuple


@dataclass(frozen=True)
class Settlement:
    scores: dict[str, int]
    rewards: RoundRewards
    slashes: list[Slash]
    slash_amounts: dict[str, int]  # one total per account: what the slash tree pays to the pool


def settle(
    pool: int,
    outcomes: Sequence[PeerOutcome],
    stakes: Mapping[str, int],
    previous: PreviousRound | None,
    params: IncentiveParams,
) -> Settlement:
    """Everything a round's reward and slash trees hold. ``stakes`` maps every peer of the round
    (and the validators of ``previous``) to its stake when the round opened."""
    scores = score_round(outcomes, params.scoring)
    slashes = peer_slashes(outcomes, stakes, params.slashing)
    validator_stakes: dict[str, int] = {}
    if previous is not None:
        validator_stakes = matching_stakes(previous.attestations, previous.finalized)
        slashes += attestation_slashes(previous.attestations, previous.finalized, params.slashing)
    rewards = round_rewards(pool, scores, validator_stakes, params.rewards)
    return Settlement(scores, rewards, slashes, slash_totals(slashes, stakes))
