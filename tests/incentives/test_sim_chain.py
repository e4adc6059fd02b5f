"""A short economics simulation on the real contracts (embedded chain): the targets, payments
through the chain, and finalize gas that does not grow with the number of peers."""

from __future__ import annotations

from dataclasses import replace

import pytest
from web3 import EthereumTesterProvider, Web3

from harness.sim.chain import SimChain, open_sim_chain
from harness.sim.report import summary
from harness.sim.run import RoundGas, SimConfig, SimResult, gas_by_n, run_simulation

pytestmark = pytest.mark.e2e
CONFIG = SimConfig(rounds=3)


@pytest.fixture(scope="module")
def chain() -> SimChain:
    return open_sim_chain(Web3(EthereumTesterProvider()), "embedded", None)


@pytest.fixture(scope="module")
def by_n(chain: SimChain) -> dict[int, RoundGas]:
    return gas_by_n(chain, (4, 12), CONFIG)


@pytest.fixture(scope="module")
def consensus_run(chain: SimChain) -> SimResult:
    return run_simulation(chain, CONFIG)


@pytest.fixture(scope="module")
def standin_run(chain: SimChain) -> SimResult:
    return run_simulation(chain, replace(CONFIG, pipeline="standin"))


def test_targets_with_consensus_pipeline(consensus_run: SimResult, by_n: dict[int, RoundGas]) -> None:
    figures = summary(consensus_run, by_n)
    assert consensus_run.finalized_rounds == CONFIG.rounds
    assert figures["honest_profit_min"] > 0
    assert figures["free_rider_profit_max"] <= 0
    assert figures["profit_by_strategy"]["scaling"] < 0
    assert figures["lazy_validator_vs_honest"] < 1


def test_alie_loses_with_consensus_pipeline(consensus_run: SimResult, by_n: dict[int, RoundGas]) -> None:
    assert summary(consensus_run, by_n)["profit_by_strategy"]["alie"] < 0


def test_copying_validator_earns_less_than_honest(standin_run: SimResult, by_n: dict[int, RoundGas]) -> None:
    assert summary(standin_run, by_n)["copying_validator_vs_honest"] < 1


def test_every_target_with_standin_pipeline(standin_run: SimResult, by_n: dict[int, RoundGas]) -> None:
    figures = summary(standin_run, by_n)
    assert figures["honest_profit_min"] > 0
    assert figures["free_rider_profit_max"] <= 0
    assert figures["attacker_profit_max"] < 0
    assert figures["lazy_validator_vs_honest"] < 1


def test_rewards_and_slashes_went_through_the_chain(chain: SimChain, standin_run: SimResult) -> None:
    kinds = [r.kind for r in standin_run.gas]
    assert {"commit", "seal", "attest", "finalize", "claim", "claim_validator", "slash", "dissent"} <= set(kinds)
    # Pull payments: every peer claimed its reward; every honest validator its share, while the
    # lazy and the copying validator's shares stay unpaid (for the sweep after the claim window).
    assert kinds.count("claim_validator") == CONFIG.honest_validators * CONFIG.rounds
    for r in range(CONFIG.rounds):
        status, _, _, peer_left, validator_left, _, swept = chain.coordinator.functions.roundInfo(
            standin_run.task_id, r).call()
        assert status == 1 and peer_left == 0 and validator_left > 0 and not swept


def test_finalize_gas_does_not_grow_with_peers(by_n: dict[int, RoundGas]) -> None:
    assert by_n[12].finalize <= 1.05 * by_n[4].finalize
    # commits and claims are paid per peer, by each peer: two transactions of >= 21,000 gas each
    assert by_n[12].total - by_n[4].total >= 8 * 2 * 21_000
