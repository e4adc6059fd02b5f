"""A round's settlement: the peers' pool split by score, and the slashes."""

from __future__ import annotations

from loraswarm.incentives.outcome import PeerOutcome
from loraswarm.incentives.rewards import peer_pool
from loraswarm.incentives.settlement import IncentiveParams, settle
from loraswarm.protocol.codes import Reason

OUTCOMES = [
    PeerOutcome("0xp1", Reason.ACCEPTED, 100, 0.8),
    PeerOutcome("0xp2", Reason.ACCEPTED, 100, 0.4),
    PeerOutcome("0xp3", Reason.NORM_BOUND, 100, 0.0),
    PeerOutcome("0xp4", Reason.ZERO_UPDATE, 100, 0.0),
    PeerOutcome("0xp5", Reason.EQUIVOCATION, 100, 0.0),
]
STAKES = dict.fromkeys(("0xp1", "0xp2", "0xp3", "0xp4", "0xp5"), 1_000)


def test_peers_share_the_pool_by_score_and_attackers_are_slashed() -> None:
    s = settle(1_000, OUTCOMES, STAKES, IncentiveParams())
    assert s.scores == {"0xp1": 80_000_000, "0xp2": 40_000_000, "0xp3": 0, "0xp4": 0, "0xp5": 0}
    # 1000 split 2:1 is 666.67 + 333.33: the larger remainder (0xp1) takes the dust unit.
    assert s.rewards.peers == {"0xp1": 667, "0xp2": 333} and s.rewards.paid == 1_000
    # the equivocator was slashed on chain by the evidence: no second leaf here
    assert [(x.account, x.amount, x.reason) for x in s.slashes] == [("0xp3", 500, Reason.NORM_BOUND)]


def test_a_round_with_no_accepted_update_pays_nothing_and_the_pool_stays() -> None:
    s = settle(1_000, OUTCOMES[2:], STAKES, IncentiveParams())
    assert s.rewards.peers == {} and s.rewards.paid == 0 and s.rewards.unallocated == 1_000


def test_the_peers_pool_leaves_the_validators_share_as_the_coordinator_floors_it() -> None:
    assert peer_pool(1_000, 1_000) == 900
    assert peer_pool(999, 1_000) == 900  # the validators' 99.9 is floored to 99
    assert peer_pool(0, 1_000) == 0 and peer_pool(1_000, 0) == 1_000
