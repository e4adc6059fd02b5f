"""One round's settlement: scores, the reward split and the slashes, from the round's verdicts.

Validators are paid one round late. A round's rewards root is part of the tuple validators
attest, so it is fixed before anyone knows who will attest what; the validators of round r - 1
(whose attestations and finalized tuple are on chain by then) are therefore paid in round r's
rewards tree. Every validator can compute that from chain data alone, so the trees stay
deterministic. (Dissenting validators are slashed by the coordinator itself: see slashing.py.)

With a reputation ``Standing`` (reputation.py: every finalized round before this one folded), the
peers' part of the pool is split by score times each peer's bounded multiplier instead of by
score alone; the scores in the settlement stay the raw ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from loraswarm.incentives.outcome import Attestation, AttestedTuple, PeerOutcome
from loraswarm.incentives.reputation import Standing
from loraswarm.incentives.rewards import RewardParams, RoundRewards, matching_stakes, round_rewards
from loraswarm.incentives.scoring import ScoringParams, score_round
from loraswarm.incentives.slashing import Slash, SlashParams, peer_slashes


@dataclass(frozen=True)
class IncentiveParams:
    scoring: ScoringParams = field(default_factory=ScoringParams)
    rewards: RewardParams = field(default_factory=RewardParams)
    slashing: SlashParams = field(default_factory=SlashParams)


@dataclass(frozen=True)
class PreviousRound:
    """The last finalized round's attestations: its validators are paid now."""

    attestations: Sequence[Attestation]
    finalized: AttestedTuple


@dataclass(frozen=True)
class Settlement:
    scores: dict[str, int]
    rewards: RoundRewards
    slashes: list[Slash]


def settle(
    pool: int,
    outcomes: Sequence[PeerOutcome],
    stakes: Mapping[str, int],
    previous: PreviousRound | None,
    params: IncentiveParams,
    reputation: Standing | None = None,
) -> Settlement:
    """Everything a round's reward and slash trees hold. ``stakes`` maps every peer of the round
    to the stake it had locked when the round opened; ``reputation`` (None: no reputation) is
    the standing when the round opened."""
    scores = score_round(outcomes, params.scoring)
    validator_stakes = matching_stakes(previous.attestations, previous.finalized) if previous else {}
    weights = scores if reputation is None else reputation.reward_weights(scores)
    rewards = round_rewards(pool, weights, validator_stakes, params.rewards)
    return Settlement(scores, rewards, peer_slashes(outcomes, stakes, params.slashing))
