"""Slashing policy: which verdicts and attestations lose stake, and how much."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loraswarm.incentives.outcome import Attestation, AttestedTuple, PeerOutcome
from loraswarm.incentives.slashing import (
    SlashCause,
    SlashParams,
    attestation_slashes,
    peer_cause,
    peer_slashes,
    slash_totals,
)
from loraswarm.protocol.codes import FREE_RIDE, MALICIOUS, Reason

WIN = AttestedTuple(b"a" * 32, b"g" * 32, b"r" * 32)
LOSE = AttestedTuple(b"b" * 32, b"g" * 32, b"r" * 32)
PARAMS = SlashParams(unrevealed_bps=1_000, malicious_bps=5_000, losing_attestation_bps=2_000, free_ride_bps=0)


def test_causes_follow_the_protocol_sets() -> None:
    assert peer_cause(Reason.NOT_REVEALED) is SlashCause.UNREVEALED
    assert peer_cause(Reason.COMMITMENT_MISMATCH) is SlashCause.UNREVEALED
    assert {peer_cause(r) for r in MALICIOUS} == {SlashCause.MALICIOUS}
    assert {peer_cause(r) for r in FREE_RIDE - {Reason.NOT_REVEALED}} == {SlashCause.FREE_RIDE}
    assert peer_cause(Reason.ACCEPTED) is None
    assert peer_cause(Reason.NOT_SELECTED) is None


def test_rejected_peers_and_losing_validators_are_slashed() -> None:
    outcomes = [
        PeerOutcome("0xhonest", Reason.ACCEPTED, 10, 0.9),
        PeerOutcome("0xscaler", Reason.NORM_BOUND, 10, -1.0),
        PeerOutcome("0xghost", Reason.NOT_REVEALED, 0, 0.0),
        PeerOutcome("0xzero", Reason.ZERO_UPDATE, 10, 0.0),
    ]
    stakes = dict.fromkeys(("0xhonest", "0xscaler", "0xghost", "0xzero"), 1_000)
    atts = [Attestation("0xval", 2_000, WIN), Attestation("0xlazy", 2_000, LOSE)]
    slashes = peer_slashes(outcomes, stakes, PARAMS)
    assert [(s.account, s.amount, s.cause) for s in slashes] == [
        ("0xghost", 100, SlashCause.UNREVEALED),
        ("0xscaler", 500, SlashCause.MALICIOUS),
    ]
    assert [(s.account, s.amount) for s in attestation_slashes(atts, WIN, PARAMS)] == [("0xlazy", 400)]
    # A task that also slashes free riders says so in its parameters.
    strict = peer_slashes(outcomes, stakes, SlashParams(free_ride_bps=100))
    assert ("0xzero", 10) in [(s.account, s.amount) for s in strict]


def test_totals_merge_an_account_and_cap_at_stake() -> None:
    outcomes = [PeerOutcome("0xA", Reason.KRUM_OUTLIER, 1, 0.0)]
    atts = [Attestation("0xa", 100, LOSE)]
    full = SlashParams(malicious_bps=10_000, losing_attestation_bps=10_000)
    slashes = peer_slashes(outcomes, {"0xA": 100}, full) + attestation_slashes(atts, WIN, full)
    assert len(slashes) == 2
    totals = slash_totals(slashes, {"0xA": 100})
    assert [(k.lower(), v) for k, v in totals.items()] == [("0xa", 100)]


def test_rates_are_bounded() -> None:
    with pytest.raises(ValueError):
        SlashParams(malicious_bps=10_001)


@given(stake=st.integers(0, 10**27), reason=st.sampled_from(list(Reason)))
def test_no_slash_exceeds_stake_and_accepted_is_never_slashed(stake: int, reason: Reason) -> None:
    slashes = peer_slashes([PeerOutcome("0xp", reason, 1, 1.0)], {"0xp": stake}, PARAMS)
    assert sum(s.amount for s in slashes) <= stake
    if reason is Reason.ACCEPTED or reason in FREE_RIDE - {Reason.NOT_REVEALED}:
        assert slashes == []
