"""A round's settlement: current peers and the previous round's validators together."""

from __future__ import annotations

from loraswarm.incentives.outcome import Attestation, AttestedTuple, PeerOutcome
from loraswarm.incentives.rewards import RewardParams
from loraswarm.incentives.settlement import IncentiveParams, PreviousRound, settle
from loraswarm.incentives.slashing import SlashCause
from loraswarm.protocol.codes import Reason

WIN = AttestedTuple(b"a" * 32, b"g" * 32, b"r" * 32)
LOSE = AttestedTuple(b"b" * 32, b"g" * 32, b"r" * 32)
PARAMS = IncentiveParams(rewards=RewardParams(validator_bps=2_000))
OUTCOMES = [
    PeerOutcome("0xp1", Reason.ACCEPTED, 100, 0.8),
    PeerOutcome("0xp2", Reason.ACCEPTED, 100, 0.4),
    PeerOutcome("0xp3", Reason.NORM_BOUND, 100, 0.0),
    PeerOutcome("0xp4", Reason.ZERO_UPDATE, 100, 0.0),
]
STAKES = {"0xp1": 1_000, "0xp2": 1_000, "0xp3": 1_000, "0xp4": 1_000, "0xv1": 5_000, "0xv2": 5_000}


def test_first_round_pays_peers_only_and_keeps_the_validator_cut() -> None:
    s = settle(1_000, OUTCOMES, STAKES, None, PARAMS)
    assert s.scores == {"0xp1": 80_000_000, "0xp2": 40_000_000, "0xp3": 0, "0xp4": 0}
    # 800 split 2:1 is 533.33 + 266.67: the larger remainder (0xp2) takes the dust unit.
    assert s.rewards.peers == {"0xp1": 533, "0xp2": 267}
    assert s.rewards.unallocated == 200
    assert s.slash_amounts == {"0xp3": 500}


def test_previous_round_validators_are_paid_or_slashed() -> None:
    previous = PreviousRound([Attestation("0xv1", 5_000, WIN), Attestation("0xv2", 5_000, LOSE)], WIN)
    s = settle(1_000, OUTCOMES, STAKES, previous, PARAMS)
    assert s.rewards.validators == {"0xv1": 200}
    assert s.rewards.unallocated == 0
    assert s.slash_amounts == {"0xp3": 500, "0xv2": 1_000}
    assert {x.cause for x in s.slashes} == {SlashCause.MALICIOUS, SlashCause.LOSING_ATTESTATION}
