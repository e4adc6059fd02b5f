"""Reputation: a pure, order-independent fold of finalized verdicts; bounded multipliers; the pool
still paid exactly; and, on the real contracts, Sybil and slow-poison operators end below an
honest peer."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from web3 import EthereumTesterProvider, Web3

from harness.sim.chain import open_sim_chain
from harness.sim.report import reputation_figures
from harness.sim.run import SimConfig, run_simulation
from harness.sim.strategies import Strategy
from loraswarm.consensus.weights import PPM, aggregation_weight
from loraswarm.incentives.outcome import PeerOutcome
from loraswarm.incentives.reputation import (
    ReputationBook,
    ReputationParams,
    Standing,
    fold_history,
    known_verdicts,
    multiplier_ppm,
    reputation_series,
)
from loraswarm.incentives.settlement import IncentiveParams, settle
from loraswarm.node.ledger.index import LedgerIndex
from loraswarm.node.ledger.views import Ledger
from loraswarm.node.round_result import RoundResult, VerdictRow
from loraswarm.protocol.codes import Reason

PARAMS = ReputationParams()
PEERS = [f"0x{0xabcdef0 + i:040x}" for i in range(1, 7)]
REASONS = [Reason.ACCEPTED, Reason.ACCEPTED, Reason.NOT_SELECTED, Reason.ZERO_UPDATE, Reason.NOT_REVEALED,
           Reason.NORM_BOUND, Reason.MEDIAN_OUTLIER]

histories = st.lists(
    st.dictionaries(st.sampled_from(PEERS), st.sampled_from(REASONS), max_size=len(PEERS)), max_size=12,
).map(lambda rounds: list(enumerate(rounds)))


def levels_after(reasons: list[Reason]) -> int:
    book = ReputationBook(PARAMS)
    for r, reason in enumerate(reasons):
        book.fold(r, {PEERS[0]: reason})
    return book.level(PEERS[0])


@settings(max_examples=60, deadline=None)
@given(histories, st.randoms(use_true_random=False))
def test_same_events_in_any_arrival_order_give_the_same_reputation(history, rnd: random.Random) -> None:
    shuffled = [(r, dict(rnd.sample(list(v.items()), len(v)))) for r, v in history]
    rnd.shuffle(shuffled)
    # Addresses spelled differently are the same account.
    respelled = [(r, {p.upper().replace("0X", "0x"): why for p, why in v.items()}) for r, v in shuffled]
    assert fold_history(shuffled, PARAMS).levels == fold_history(history, PARAMS).levels
    assert fold_history(respelled, PARAMS).levels == fold_history(history, PARAMS).levels
    assert reputation_series(shuffled, PARAMS) == reputation_series(history, PARAMS)


def test_rounds_fold_once_and_in_order() -> None:
    book = ReputationBook(PARAMS)
    book.fold(3, {PEERS[0]: Reason.ACCEPTED})
    with pytest.raises(ValueError, match="in order"):
        book.fold(3, {PEERS[1]: Reason.ACCEPTED})
    with pytest.raises(ValueError, match="duplicate"):
        book.fold(4, {PEERS[0]: Reason.ACCEPTED, PEERS[0].upper().replace("0X", "0x"): Reason.ACCEPTED})
    with pytest.raises(ValueError, match="in order"):
        fold_history([(1, {}), (1, {})], PARAMS)


def test_new_identity_starts_at_the_floor_and_earns_its_way_up() -> None:
    fresh = Standing({}, PARAMS).multiplier(PEERS[5])
    assert fresh == PARAMS.min_multiplier_ppm == 100_000
    assert [levels_after([Reason.ACCEPTED] * n) for n in (1, 2, 8)] == [250_000, 437_500, 899_886]
    veteran = fold_history([(r, {PEERS[0]: Reason.ACCEPTED}) for r in range(20)], PARAMS).standing()
    assert veteran.multiplier(PEERS[0]) > 9 * fresh
    assert veteran.multiplier(PEERS[5]) == fresh  # someone else's history lends nothing


def test_slashes_lower_reputation_more_than_unpaid_rejections() -> None:
    honest = [Reason.ACCEPTED] * 8
    after = {reason: levels_after([*honest, reason]) for reason in
             (Reason.ACCEPTED, Reason.NOT_SELECTED, Reason.ZERO_UPDATE, Reason.NOT_REVEALED, Reason.NORM_BOUND)}
    assert after[Reason.NOT_SELECTED] == levels_after(honest)  # no fault, no evidence
    assert (after[Reason.ACCEPTED] > after[Reason.NOT_SELECTED] > after[Reason.ZERO_UPDATE]
            > after[Reason.NOT_REVEALED] > after[Reason.NORM_BOUND])
    assert after[Reason.NORM_BOUND] == 899_886 * 3 // 4 // 2  # one attack: 90% -> 34%
    # Rebuilding costs many honest rounds: a slow poisoner cannot attack often.
    assert levels_after([*honest, Reason.NORM_BOUND, *[Reason.ACCEPTED] * 3]) < levels_after(honest)


def test_unknown_reason_codes_are_left_out() -> None:
    assert known_verdicts([(PEERS[0], 0), (PEERS[1], 51), (PEERS[2], 250)]) == {
        PEERS[0]: Reason.ACCEPTED, PEERS[1]: Reason.MEDIAN_OUTLIER}


@given(st.integers(-PPM, 3 * PPM), st.integers(1, PPM), st.integers(0, 2 * PPM))
def test_multiplier_stays_within_its_bounds(level: int, low: int, span: int) -> None:
    params = ReputationParams(min_multiplier_ppm=low, max_multiplier_ppm=low + span)
    assert low <= multiplier_ppm(level, params) <= low + span


@given(st.integers(-5, 2**20), st.integers(1, 2**20), st.integers(0, 2 * PPM))
def test_aggregation_weight_stays_within_one_and_the_cap(samples: int, cap: int, multiplier: int) -> None:
    weight = aggregation_weight(samples, cap, multiplier)
    assert 1 <= weight <= min(max(samples, 1), cap)
    assert aggregation_weight(samples, cap) == min(max(samples, 1), cap)


outcomes = st.lists(
    st.builds(PeerOutcome, st.sampled_from(PEERS), st.sampled_from(REASONS), st.integers(0, 20_000),
              st.floats(-1, 1)),
    max_size=len(PEERS), unique_by=lambda o: o.peer,
)


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 10**24), outcomes, st.dictionaries(st.sampled_from(PEERS), st.integers(-PPM, 2 * PPM)))
def test_pool_is_never_overpaid_with_reputation(pool: int, round_outcomes, levels) -> None:
    stakes = {o.peer: 10**21 for o in round_outcomes}
    plain = settle(pool, round_outcomes, stakes, IncentiveParams())
    weighted = settle(pool, round_outcomes, stakes, IncentiveParams(), Standing(levels, PARAMS))
    assert weighted.rewards.paid <= pool
    assert weighted.rewards.paid == plain.rewards.paid  # same eligible set: the whole part is paid
    assert weighted.scores == plain.scores and weighted.slashes == plain.slashes
    assert set(weighted.rewards.peers) <= set(plain.rewards.peers)
    # One multiplier for everyone changes nothing: reputation only moves pay between peers.
    uniform = Standing({o.peer: 600_000 for o in round_outcomes}, PARAMS)
    assert settle(pool, round_outcomes, stakes, IncentiveParams(), uniform).rewards == plain.rewards


def test_ledger_shows_reputation_per_peer_and_per_round(tmp_path: Path) -> None:
    ledger = Ledger(LedgerIndex(tmp_path / "ledger.sqlite"), task=1)
    rows = [[(PEERS[0], Reason.ACCEPTED), (PEERS[1], Reason.NORM_BOUND)], [(PEERS[0], Reason.ACCEPTED)]]
    ledger.results = {r: RoundResult(1, r, "0x" + "00" * 32, tuple(VerdictRow(p, int(w), {}) for p, w in row), (), ())
                      for r, row in enumerate(rows)}
    peers = {row.account: row.reputation for row in ledger.peers()}
    assert peers == {PEERS[0]: levels_after([Reason.ACCEPTED] * 2), PEERS[1]: 0}
    series = [(p.round, p.account, p.reputation) for p in ledger.reputation_series()]
    assert series == [(0, PEERS[0], 250_000), (0, PEERS[1], 0), (1, PEERS[0], 437_500), (1, PEERS[1], 0)]


@pytest.mark.e2e
def test_sybil_and_slow_poison_end_below_an_honest_peer_on_chain() -> None:
    chain = open_sim_chain(Web3(EthereumTesterProvider()), "embedded", None)
    S = Strategy
    config = SimConfig(rounds=5, peers=(S.HONEST,) * 6 + (S.SYBIL,) * 3 + (S.SLOW_POISON,), honest_validators=2,
                       lazy_validators=0, copying_validators=0, reputation=PARAMS, poison_from=2)
    result = run_simulation(chain, config)
    figures = reputation_figures(result)
    assert result.finalized_rounds == 5
    assert figures["sybil_identities"] == 3 * 5  # fresh identities every round
    assert figures["sybil_operator_profit"] < figures["honest_profit_min"]
    assert figures["slow_poison_profit_max"] < 0 < figures["honest_profit_min"]
    # Every Sybil update passed the pipeline: nobody is rejected for being linked.
    assert result.rejections[(S.SYBIL.value, Reason.ACCEPTED)] == 3 * 5
    sybils = {m.address.lower() for m in result.members if m.role == S.SYBIL.value}
    assert max(level for a, level in result.reputation.items() if a in sybils) == 250_000
    # The baseline, same peers without reputation (other accounts: seed 2). The collusion link
    # already merges the operator's jittered copies into one contributor with one claim, so it
    # earns less than one honest peer; it still profits, and reputation is what takes that away.
    baseline = reputation_figures(run_simulation(chain, replace(config, reputation=None, seed=2)))
    assert figures["sybil_operator_profit"] < 0 < baseline["sybil_operator_profit"] < baseline["honest_profit_min"]
