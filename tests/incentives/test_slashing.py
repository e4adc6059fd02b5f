"""Slashing policy: which verdicts lose stake, and how much."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loraswarm.incentives.outcome import PeerOutcome
from loraswarm.incentives.slashing import (
    SLASHED_ON_CHAIN,
    SlashCause,
    SlashParams,
    dissent_slash,
    peer_cause,
    peer_slashes,
)
from loraswarm.protocol.codes import FREE_RIDE, MALICIOUS, Reason

PARAMS = SlashParams(unrevealed_bps=1_000, malicious_bps=5_000, free_ride_bps=0, dissent_bps=2_000)


def test_causes_follow_the_protocol_sets() -> None:
    assert peer_cause(Reason.NOT_REVEALED) is SlashCause.UNREVEALED
    assert peer_cause(Reason.COMMITMENT_MISMATCH) is SlashCause.UNREVEALED
    assert {peer_cause(r) for r in MALICIOUS} == {SlashCause.MALICIOUS}
    assert {peer_cause(r) for r in FREE_RIDE - {Reason.NOT_REVEALED}} == {SlashCause.FREE_RIDE}
    assert peer_cause(Reason.ACCEPTED) is None
    assert peer_cause(Reason.NOT_SELECTED) is None


def test_unrevealed_and_malicious_peers_are_slashed_free_riders_are_not() -> None:
    outcomes = [
        PeerOutcome("0xscaler", Reason.NORM_BOUND, 10, -1.0),
        PeerOutcome("0xhonest", Reason.ACCEPTED, 10, 0.9),
        PeerOutcome("0xghost", Reason.NOT_REVEALED, 0, 0.0),
        PeerOutcome("0xzero", Reason.ZERO_UPDATE, 10, 0.0),
    ]
    stakes = dict.fromkeys(("0xhonest", "0xscaler", "0xghost", "0xzero"), 1_000)
    slashes = peer_slashes(outcomes, stakes, PARAMS)
    assert [(s.account, s.amount, s.reason, s.cause) for s in slashes] == [
        ("0xghost", 100, Reason.NOT_REVEALED, SlashCause.UNREVEALED),
        ("0xscaler", 500, Reason.NORM_BOUND, SlashCause.MALICIOUS),
    ]
    # A task that also slashes free riders says so in its parameters.
    strict = peer_slashes(outcomes, stakes, SlashParams(free_ride_bps=100))
    assert ("0xzero", 10, SlashCause.FREE_RIDE) in [(s.account, s.amount, s.cause) for s in strict]


def test_dissent_slash_is_a_fraction_of_the_validator_stake() -> None:
    assert dissent_slash(5_000, PARAMS) == 1_000


def test_rates_are_bounded() -> None:
    with pytest.raises(ValueError):
        SlashParams(malicious_bps=10_001)


@given(stake=st.integers(0, 10**27), reason=st.sampled_from(list(Reason)))
def test_no_slash_exceeds_stake_and_only_faults_are_slashed(stake: int, reason: Reason) -> None:
    slashes = peer_slashes([PeerOutcome("0xp", reason, 1, 1.0)], {"0xp": stake}, PARAMS)
    assert sum(s.amount for s in slashes) <= stake
    if reason in MALICIOUS - SLASHED_ON_CHAIN and stake >= 2:
        assert [s.amount for s in slashes] == [stake // 2]
    elif reason not in {Reason.NOT_REVEALED, Reason.COMMITMENT_MISMATCH}:
        assert slashes == []
