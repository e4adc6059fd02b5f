"""A round's settlement: current peers, and the previous round's validators."""

from __future__ import annotations

from loraswarm.incentives.outcome import Attestation, AttestedTuple, PeerOutcome
from loraswarm.incentives.rewards import RewardParams
from loraswarm.incentives.settlement import IncentiveParams, PreviousRound, settle
from loraswarm.protocol.codes import Reason

WIN = AttestedTuple(b"a" * 32, b"g" * 32, b"r" * 32, b"s" * 32)
LOSE = AttestedTuple(b"b" * 32, b"g" * 32, b"r" * 32, b"s" * 32)
PARAMS = IncentiveParams(rewards=RewardParams(validator_bps=2_000))
OUTCOMES = [
    PeerOutcome("0xp1", Reason.ACCEPTED, 100, 0.8),
    PeerOutcome("0xp2", Reason.ACCEPTED, 100, 0.4),
    PeerOutcome("0xp3", Reason.NORM_BOUND, 100, 0.0),
    PeerOutcome("0xp4", Reason.ZERO_UPDATE, 100, 0.0),
]
STAKES = dict.fromkeys(("0xp1", "0xp2", "0xp3", "0xp4"), 1_000)


def test_first_round_has_no_validators_to_pay_so_peers_get_the_whole_pool() -> None:
    s = settle(1_000, OUTCOMES, STAKES, None, PARAMS)
    assert s.scores == {"0xp1": 80_000_000, "0xp2": 40_000_000, "0xp3": 0, "0xp4": 0}
    # 1000 split 2:1 is 666.67 + 333.33: the larger remainder (0xp1) takes the dust unit.
    assert s.rewards.peers == {"0xp1": 667, "0xp2": 333}
    assert s.rewards.validators == {}
    assert [(x.account, x.amount, x.reason) for x in s.slashes] == [("0xp3", 500, Reason.NORM_BOUND)]


def test_previous_round_validators_on_the_finalized_tuple_are_paid() -> None:
    previous = PreviousRound([Attestation("0xv1", 5_000, WIN), Attestation("0xv2", 5_000, LOSE)], WIN)
    s = settle(1_000, OUTCOMES, STAKES, previous, PARAMS)
    assert s.rewards.validators == {"0xv1": 200}
    # 800 split 2:1 is 533.33 + 266.67: the larger remainder (0xp2) takes the dust unit.
    assert s.rewards.peers == {"0xp1": 533, "0xp2": 267}
    assert s.rewards.unallocated == 0


def test_a_round_with_no_accepted_update_pays_its_validators_everything() -> None:
    previous = PreviousRound([Attestation("0xv1", 5_000, WIN)], WIN)
    s = settle(1_000, OUTCOMES[2:], STAKES, previous, PARAMS)
    assert s.rewards.validators == {"0xv1": 1_000}
