"""Adversaries against the real contracts: wrong-root and Sybil validators, and every privileged
function refusing everyone but its one caller."""

from __future__ import annotations

from harness import chaintime
from tests.contracts.harness import TOKEN_UNIT, Swarm, default_params
from tests.reliability.contract_scenarios import sybil_below_quorum, wrong_root_validator


def test_a_validator_attesting_a_wrong_root_cannot_finalize_and_is_slashed(swarm: Swarm) -> None:
    played = wrong_root_validator(swarm)
    assert played.finalized_honest
    assert played.rewards_paid == played.rewards_owed == 2
    assert played.dissenters_slashed == 1


def test_colluding_sybils_below_quorum_cannot_finalize_and_are_all_slashed(swarm: Swarm) -> None:
    played = sybil_below_quorum(swarm)
    assert played.finalized_honest
    assert played.rewards_paid == played.rewards_owed == 2
    assert played.dissenters_slashed == played.adversary_cases == 2


def test_every_privileged_function_refuses_other_callers(swarm: Swarm) -> None:
    """Coordinator: createTask, closeTask, withdrawBudget, withdrawReserve, transferOwnership,
    renounceOwnership (owner = treasury). Staking: setCoordinator (admin, once), lock, unlock,
    slash (the coordinator only)."""
    outsider, victim = swarm.w3.eth.accounts[9], swarm.w3.eth.accounts[1]
    swarm.grant(victim)
    swarm.stake(victim, 1_000 * TOKEN_UNIT)
    coordinator, staking = swarm.coordinator.functions, swarm.staking.functions
    valid_task = default_params(chaintime.now(swarm.w3) + 10)  # valid: only the caller is wrong
    task = swarm.create_task()
    for call in (coordinator.createTask(valid_task), coordinator.closeTask(task), coordinator.withdrawBudget(task),
                 coordinator.withdrawReserve(outsider, 1),
                 coordinator.transferOwnership(outsider), coordinator.renounceOwnership()):
        with swarm.reverts("OwnableUnauthorizedAccount"):
            swarm.send(call, outsider)
    with swarm.reverts("NotAdmin"):
        swarm.send(staking.setCoordinator(outsider), outsider)
    with swarm.reverts("CoordinatorAlreadySet"):  # not even the admin can replace the slasher
        swarm.send(staking.setCoordinator(outsider), swarm.treasury)
    for caller in (outsider, victim, swarm.treasury):
        for call in (staking.lock(victim, 1), staking.unlock(victim, 1), staking.slash(victim, 1)):
            with swarm.reverts("NotCoordinator"):
                swarm.send(call, caller)
    assert swarm.stake_of(victim) == 1_000 * TOKEN_UNIT
    assert swarm.coordinator.functions.owner().call() == swarm.treasury
    # the owner itself may create a task: the refusals above are about the caller, not the call
    assert swarm.create_task() >= 1
