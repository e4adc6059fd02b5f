"""Contribution scores and the reward split: exact examples, then properties over random rounds."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loraswarm.incentives.outcome import PeerOutcome
from loraswarm.incentives.rewards import round_rewards, split_by_weight
from loraswarm.incentives.scoring import ScoringParams, contribution_score, score_round
from loraswarm.protocol.codes import Reason

PARAMS = ScoringParams()


def test_score_is_the_capped_weight_times_clipped_agreement() -> None:
    # the weight arrives capped by consensus (ConsensusParams.max_samples: tests/consensus)
    assert contribution_score(PeerOutcome("0xa", Reason.ACCEPTED, 200, 0.5), PARAMS) == 200 * 500_000
    assert contribution_score(PeerOutcome("0xa", Reason.ACCEPTED, 200, -0.9), PARAMS) == 0
    assert contribution_score(PeerOutcome("0xa", Reason.ACCEPTED, 200, math.nan), PARAMS) == 0
    floor = ScoringParams(min_agreement_ppm=100_000)
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


def test_round_pays_peers_by_score_and_keeps_what_nobody_earned() -> None:
    rewards = round_rewards(1_000, {"0xp1": 3, "0xp2": 1, "0xp3": 0})
    assert rewards.peers == {"0xp1": 750, "0xp2": 250} and rewards.unallocated == 0
    nobody = round_rewards(1_000, {"0xp1": 0})
    assert nobody.peers == {} and nobody.unallocated == 1_000
    assert list(round_rewards(10, {"0xB": 1, "0xa": 1}).by_account()) == ["0xa", "0xB"]


accounts = st.lists(st.from_regex(r"0x[0-9a-f]{4}", fullmatch=True), min_size=0, max_size=12, unique=True)
outcome_lists = accounts.flatmap(lambda names: st.tuples(*[
    st.builds(PeerOutcome, st.just(n), st.sampled_from(list(Reason)), st.integers(-5, 5_000),
              st.floats(allow_nan=True, allow_infinity=True))
    for n in names
]))


@given(pool=st.integers(0, 10**27), outcomes=outcome_lists)
def test_split_never_exceeds_pool_and_is_deterministic(pool: int, outcomes: tuple[PeerOutcome, ...]) -> None:
    scores = score_round(outcomes, PARAMS)
    rewards = round_rewards(pool, scores)
    assert rewards.paid + rewards.unallocated == pool
    assert rewards.unallocated >= 0 and all(v > 0 for v in rewards.by_account().values())
    for o in outcomes:
        if o.reason is not Reason.ACCEPTED:
            assert o.peer not in rewards.peers
    # Order of the input does not matter, and a second run gives the same amounts.
    assert round_rewards(pool, dict(reversed(list(scores.items())))) == rewards
    if any(s > 0 for s in scores.values()):
        assert rewards.unallocated == 0
