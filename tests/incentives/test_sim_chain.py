"""A short economics simulation on the real contracts (embedded chain): the targets hold, every
payment went through the chain, and finalizing costs the same gas whatever the number of peers."""

from __future__ import annotations

import pytest
from web3 import EthereumTesterProvider, Web3

from loraswarm.incentives.sim.chain import open_sim_chain
from loraswarm.incentives.sim.report import summary
from loraswarm.incentives.sim.run import SimConfig, gas_by_n, run_simulation

pytestmark = pytest.mark.e2e


def test_short_simulation_meets_the_economic_targets() -> None:
    chain = open_sim_chain(Web3(EthereumTesterProvider()), "embedded", None)
    config = SimConfig(rounds=3)
    result = run_simulation(chain, config)
    by_n = gas_by_n(chain, (4, 12), config)
    figures = summary(result, by_n)

    assert result.finalized_rounds == 3
    assert figures["honest_profit_min"] > 0
    assert figures["free_rider_profit_max"] <= 0
    assert figures["attacker_profit_max"] < 0
    assert figures["lazy_validator_vs_honest"] < 1
    # Rewards were claimed and slashes executed on chain, by Merkle proof.
    kinds = {r.kind for r in result.gas}
    assert {"commit", "attest", "finalize", "claim", "slash", "dissent"} <= kinds
    # Pull payments: the round's total paid never exceeds its pool, and nothing is left behind.
    for r in range(config.rounds):
        _, _, _, pool, claimed = chain.coordinator.functions.roundInfo(result.task_id, r).call()
        assert claimed == pool
    # O(1) finalize: three times the peers, the same gas (within 5%).
    assert by_n[12].finalize <= 1.05 * by_n[4].finalize
    assert by_n[12].total > 2 * by_n[4].total  # commits and claims are paid per peer, by each peer
