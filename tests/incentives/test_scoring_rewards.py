"""Contribution scores and the reward split: exact examples, then properties over random rounds."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loraswarm.incentives.outcome import Attestation, AttestedTuple, PeerOutcome
from loraswarm.incentives.rewards import RewardParams, matching_stakes, round_rewards, split_by_weight
from loraswarm.incentives.scoring import ScoringParams, agreement_ppm, contribution_score, score_round
from loraswarm.protocol.codes import Reason

PARAMS = ScoringParams(max_samples=1_000)
WIN = AttestedTuple(b"a" * 32, b"g" * 32, b"r" * 32, b"s" * 32)
LOSE = AttestedTuple(b"b" * 32, b"g" * 32, b"r" * 32, b"s" * 32)


def test_score_is_capped_weight_times_clipped_agreement() -> None:
    assert contribution_score(PeerOutcome("0xa", Reason.ACCEPTED, 200, 0.5), PARAMS) == 200 * 500_000
    # Inflating the self-reported count past the cap buys nothing.
    assert contribution_score(PeerOutcome("0xa", Reason.ACCEPTED, 10**9, 1.0), PARAMS) == 1_000 * 10**6
    assert contribution_score(PeerOutcome("0xa", Reason.ACCEPTED, 200, -0.9), PARAMS) == 0
    assert contribution_score(PeerOutcome("0xa", Reason.ACCEPTED, 200, math.nan), PARAMS) == 0
    floor = ScoringParams(max_samples=1_000, min_agreement_ppm=100_000)
    assert contribution_score(PeerOutcome("0xa", Reason.ACCEPTED, 200, 0.1), floor) == 0


@pytest.mark.parametrize("reason", [r for r in Reason if r is not Reason.ACCEPTED])
def test_every_rejection_scores_zero(reason: Reason) -> None:
    assert contribution_score(PeerOutcome("0xa", reason, 500, 1.0), PARAMS) == 0


def test_duplicate_peer_is_refused() -> None:
    with pytest.raises(ValueError):
        score_round([PeerOutcome(p, Reason.ACCEPTED, 1, 1.0) for p in ("0xAb", "0xab")], PARAMS)


def test_split_gives_dust_to_largest_remainders_then_lower_account() -> None:
    # 10 units over three equal weights: 3 each, one unit of dust to the lowest account.
    assert split_by_weight(10, {"0xc": 1, "0xb": 1, "0xa": 1}) == {"0xa": 4, "0xb": 3, "0xc": 3}
    # Exact shares 5/3 (0xb) and 10/3 (0xa): floors 1 and 3, remainders 2/3 and 1/3, so 0xb gets the unit.
    assert split_by_weight(5, {"0xb": 1, "0xa": 2}) == {"0xa": 3, "0xb": 2}
    assert split_by_weight(7, {"0xa": 0}) == {}


def test_round_pays_peers_and_matching_validators() -> None:
    atts = [Attestation("0xv1", 300, WIN), Attestation("0xv2", 100, WIN), Attestation("0xv3", 500, LOSE)]
    stakes = matching_stakes(atts, WIN)
    assert stakes == {"0xv1": 300, "0xv2": 100}
    scores = {"0xp1": 3, "0xp2": 1, "0xp3": 0}
    rewards = round_rewards(1_000, scores, stakes, RewardParams(validator_bps=1_000))
    assert rewards.validators == {"0xv1": 75, "0xv2": 25}
    assert rewards.peers == {"0xp1": 675, "0xp2": 225}
    assert rewards.unallocated == 0
    nobody = round_rewards(1_000, {"0xp1": 0}, {}, RewardParams(validator_bps=1_000))
    assert nobody.peers == {} and nobody.validators == {} and nobody.unallocated == 1_000


def test_a_peer_that_validates_gets_one_claim() -> None:
    rewards = round_rewards(100, {"0xA": 1}, {"0xa": 1, "0xb": 1}, RewardParams(validator_bps=2_000))
    assert rewards.by_account() == {"0xA": 90, "0xb": 10}


accounts = st.lists(st.from_regex(r"0x[0-9a-f]{4}", fullmatch=True), min_size=0, max_size=12, unique=True)
outcome_lists = accounts.flatmap(lambda names: st.tuples(*[
    st.builds(PeerOutcome, st.just(n), st.sampled_from(list(Reason)), st.integers(-5, 5_000),
              st.floats(allow_nan=True, allow_infinity=True))
    for n in names
]))


@given(pool=st.integers(0, 10**27), outcomes=outcome_lists,
       validators=st.dictionaries(st.from_regex(r"0xv[0-9]{3}", fullmatch=True), st.integers(0, 10**24)),
       bps=st.integers(0, 10_000))
def test_split_never_exceeds_pool_and_is_deterministic(
    pool: int, outcomes: tuple[PeerOutcome, ...], validators: dict[str, int], bps: int
) -> None:
    params = RewardParams(validator_bps=bps)
    scores = score_round(outcomes, PARAMS)
    rewards = round_rewards(pool, scores, validators, params)
    assert rewards.paid + rewards.unallocated == pool
    assert rewards.unallocated >= 0 and all(v > 0 for v in rewards.by_account().values())
    for o in outcomes:
        if o.reason is not Reason.ACCEPTED:
            assert o.peer not in rewards.peers
    # Order of the input does not matter, and a second run gives the same amounts.
    shuffled = dict(reversed(list(scores.items())))
    again = round_rewards(pool, shuffled, dict(reversed(list(validators.items()))), params)
    assert again == rewards
    has_peers = any(s > 0 for s in scores.values())
    has_validators = any(w > 0 for w in validators.values())
    if has_peers and has_validators:
        assert sum(rewards.peers.values()) == pool - pool * bps // 10_000
    if has_peers or has_validators:
        assert rewards.unallocated == 0


@given(amount=st.integers(0, 10**30), weights=st.lists(st.integers(0, 10**20), min_size=1, max_size=30))
def test_each_share_is_within_one_unit_of_exact(amount: int, weights: list[int]) -> None:
    named = {f"0x{i:04x}": w for i, w in enumerate(weights)}
    split = split_by_weight(amount, named)
    total = sum(weights)
    for name, w in named.items():
        if total:
            assert 0 <= split.get(name, 0) - amount * w // total <= 1


@given(st.floats(allow_nan=True))
def test_agreement_ppm_is_clipped(agreement: float) -> None:
    assert 0 <= agreement_ppm(agreement) <= 1_000_000
