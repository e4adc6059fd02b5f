"""One round's settlement: scores, the peers' reward split and the slashes, from the round's verdicts.

Validators are not paid here: the coordinator pays a fixed share of each finalized round's pool to
the validators whose opened attestation matched the finalized tuple, by the stake each sealed with
(``Coordinator.claimValidator``), in the same round. So a round's trees depend only on its own
verdicts and on chain state read at the round's pinned block, and a failed next round can no
longer cost this round's validators their pay.

With a reputation ``Standing`` (reputation.py: every finalized round before this one folded), the
peers' pool is split by score times each peer's bounded multiplier instead of by score alone; the
scores in the settlement stay the raw ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from loraswarm.incentives.outcome import PeerOutcome
from loraswarm.incentives.reputation import Standing
from loraswarm.incentives.rewards import RoundRewards, round_rewards
from loraswarm.incentives.scoring import ScoringParams, score_round
from loraswarm.incentives.slashing import Slash, SlashParams, peer_slashes


@dataclass(frozen=True)
class IncentiveParams:
    """The task's incentive parameters (its task file's ``incentives`` section)."""

    scoring: ScoringParams = field(default_factory=ScoringParams)
    slashing: SlashParams = field(default_factory=SlashParams)


@dataclass(frozen=True)
class Settlement:
    scores: dict[str, int]
    rewards: RoundRewards
    slashes: list[Slash]


def settle(
    peer_pool: int,
    outcomes: Sequence[PeerOutcome],
    stakes: Mapping[str, int],
    params: IncentiveParams,
    reputation: Standing | None = None,
) -> Settlement:
    """Everything a round's reward and slash trees hold. ``peer_pool`` is what peers share
    (``rewards.peer_pool``); ``stakes`` maps every peer of the round to the stake it had locked in
    the task at the round's pinned block; ``reputation`` (None: no reputation) is the standing
    when the round opened."""
    scores = score_round(outcomes, params.scoring)
    weights = scores if reputation is None else reputation.reward_weights(scores)
    return Settlement(scores, round_rewards(peer_pool, weights), peer_slashes(outcomes, stakes, params.slashing))
