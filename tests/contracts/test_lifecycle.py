"""The whole protocol on real EVMs: register, commit, seal and open to quorum, peer and validator
claims, slashes (by proof and for dissent, with the executor's bounty), a failed round, the
slashed tokens in a later pool, a sweep of what nobody claimed, leave, release and unstake."""

from __future__ import annotations

import pytest

from harness import chaintime
from loraswarm.evm import deploy
from loraswarm.protocol import chain
from loraswarm.protocol.codes import Reason
from tests.contracts.harness import TOKEN_UNIT, Swarm, build_outcome


def token_holders(swarm: Swarm) -> list[str]:
    return [*swarm.w3.eth.accounts, swarm.staking.address, swarm.coordinator.address]


def run_lifecycle(swarm: Swarm) -> None:
    w3, coordinator = swarm.w3, swarm.coordinator
    accounts = w3.eth.accounts
    peers, validators, keeper = accounts[1:5], accounts[5:8], accounts[8]
    task = swarm.create_task()
    for peer in peers:
        swarm.join_peer(task, peer)
    for validator in validators:
        swarm.join_validator(task, validator)
    pa, pb, pc, _pd = peers
    v1, v2, v3 = validators

    # Round 0: three peers commit, the fourth stays silent (nothing waits for it).
    swarm.enter(task, 0, chain.Phase.COMMIT)
    assert coordinator.functions.phaseAt(task, 0, chaintime.now(w3) + 1).call() == chain.Phase.COMMIT
    commitments = {peer: swarm.commit(task, 0, peer) for peer in (pa, pb, pc)}
    for peer, value in commitments.items():
        assert coordinator.functions.commitmentOf(task, 0, peer).call() == value
    # pc committed but never revealed: not paid, slashed. Peers share 900 (validators get 100).
    won = build_outcome(task, 0, [(pa, 600 * TOKEN_UNIT), (pb, 300 * TOKEN_UNIT)],
                        [(pc, 40 * TOKEN_UNIT, Reason.NOT_REVEALED)])
    lost = build_outcome(task, 0, [(v3, 900 * TOKEN_UNIT)], [], label="forged")

    swarm.enter(task, 0, chain.Phase.ATTEST)
    for validator, outcome in ((v3, lost), (v1, won), (v2, won)):
        swarm.seal(task, 0, validator, outcome)
    assert swarm.round_info(task, 0)[0] == chain.RoundStatus.OPEN
    swarm.enter_open(task, 0)
    swarm.attest(task, 0, v3, lost)
    swarm.attest(task, 0, v1, won)
    assert swarm.round_info(task, 0)[0] == chain.RoundStatus.OPEN
    receipt = swarm.attest(task, 0, v2, won)  # 2000 of 3000 stake >= 60 %: finalizes
    finalized = swarm.event(receipt, "RoundFinalized")
    assert finalized["globalHash"] == won.global_hash
    assert (finalized["peerPool"], finalized["validatorPool"], finalized["support"], finalized["denominator"]) == (
        900 * TOKEN_UNIT, 100 * TOKEN_UNIT, 2_000 * TOKEN_UNIT, 3_000 * TOKEN_UNIT)
    status, rewards_root, slash_root, peer_left, validator_left, deadline, swept = swarm.round_info(task, 0)
    assert (status, rewards_root, slash_root, peer_left, validator_left, swept) == (
        chain.RoundStatus.FINALIZED, won.rewards.root, won.slashes.root, 900 * TOKEN_UNIT, 100 * TOKEN_UNIT, False)
    assert deadline == swarm.windows(task, 0)[3] + int(swarm.params(task)["claimWindow"])
    info = coordinator.functions.taskInfo(task).call()
    assert info[3] == won.global_hash and info[4] is True and info[5] == 0
    assert swarm.budget(task) == 9_000 * TOKEN_UNIT

    before = swarm.balance(pa)
    claim_receipt = swarm.claim(task, 0, won, 0)
    assert swarm.balance(pa) - before == 600 * TOKEN_UNIT
    assert swarm.event(claim_receipt, "RewardClaimed")["amount"] == 600 * TOKEN_UNIT
    swarm.claim(task, 0, won, 1)
    share = chain.validator_pay(100 * TOKEN_UNIT, 1_000 * TOKEN_UNIT, 3_000 * TOKEN_UNIT)
    for validator in (v1, v2):
        before = swarm.balance(validator)
        swarm.claim_validator(task, 0, validator)
        assert swarm.balance(validator) - before == share
    assert swarm.round_info(task, 0)[3:5] == (0, 100 * TOKEN_UNIT - 2 * share)

    # Slashes, executed by an outsider who earns the bounty: one by Merkle proof, one for dissent.
    stake_c = swarm.stake_of(pc)
    swarm.execute_slash(task, 0, won, 0, keeper)
    assert swarm.stake_of(pc) == stake_c - 40 * TOKEN_UNIT
    swarm.slash_validator(task, 0, v3, keeper)
    assert swarm.stake_of(v3) == 500 * TOKEN_UNIT
    assert swarm.balance(keeper) == chain.slash_bounty(40 * TOKEN_UNIT) + chain.slash_bounty(500 * TOKEN_UNIT)
    slash_pool = 540 * TOKEN_UNIT - swarm.balance(keeper)
    assert swarm.slash_pool(task) == slash_pool  # waiting for the next finalization
    assert swarm.live_weight(task) == 2_500 * TOKEN_UNIT  # v3's weight shrank with its stake

    # Round 1: no quorum by the deadline -> failed; the previous global stays, nothing is spent.
    swarm.attest_all(task, 1, [(v1, build_outcome(task, 1, [], []))])
    swarm.enter(task, 1, chain.Phase.FAILED)
    assert coordinator.functions.phaseAt(task, 1, chaintime.now(w3)).call() == chain.Phase.FAILED
    fail_receipt = swarm.send(coordinator.functions.markFailed(task, 1), keeper)
    assert swarm.event(fail_receipt, "RoundFailed")["round"] == 1
    assert coordinator.functions.taskInfo(task).call()[3] == won.global_hash
    assert swarm.budget(task) == 9_000 * TOKEN_UNIT

    # Round 2: what is available holds the per-round reward plus the slashes since round 0.
    available = 1_000 * TOKEN_UNIT + slash_pool
    peer_pool = available - chain.validator_pool(available, 1_000)
    outcome = build_outcome(task, 2, [(pb, peer_pool)], [])
    receipt = swarm.attest_all(task, 2, [(v1, outcome), (v2, outcome)])[-1]
    assert swarm.event(receipt, "RoundFinalized")["validatorPool"] == chain.validator_pool(available, 1_000)
    swarm.claim(task, 2, outcome, 0)

    # Round 0's claims are over: what nobody claimed (v3's validator share) goes back to the budget.
    swarm.past_claims(task, 0)
    budget = swarm.budget(task)
    sweep_receipt = swarm.send(coordinator.functions.sweep(task, 0), keeper)
    assert swarm.event(sweep_receipt, "RoundSwept")["amount"] == 100 * TOKEN_UNIT - 2 * share
    assert swarm.budget(task) == budget + 100 * TOKEN_UNIT - 2 * share

    # Leave, release after the last slash deadline, unstake after the delay: the stake comes back.
    exit_receipt = swarm.leave(task, pa)
    chaintime.travel_to(w3, swarm.event(exit_receipt, "ExitRequested")["releaseAt"])
    swarm.send(coordinator.functions.release(task), pa)
    swarm.send(swarm.staking.functions.requestUnstake(1_000 * TOKEN_UNIT), pa)
    chaintime.advance(w3, deploy.DEFAULT_WITHDRAWAL_DELAY_S + 1)
    before = swarm.balance(pa)
    swarm.send(swarm.staking.functions.withdraw(), pa)
    assert swarm.balance(pa) - before == 1_000 * TOKEN_UNIT

    # The ledger can be rebuilt from logs: every kind of event the run emitted is there.
    ledger = {
        swarm.coordinator: ("ReserveDeposited", "TaskCreated", "PeerRegistered", "ValidatorRegistered",
                            "UpdateCommitted", "AttestationSealed", "Attested", "RoundFinalized", "RoundFailed",
                            "RewardClaimed", "ValidatorRewardClaimed", "SlashExecuted", "RoundSwept",
                            "ExitRequested", "ParticipantLeft"),
        swarm.staking: ("Staked", "StakeLocked", "StakeSlashed", "StakeUnlocked", "UnstakeRequested", "Unstaked"),
    }
    for contract, names in ledger.items():
        for name in names:
            assert contract.events[name]().get_logs(from_block=swarm.deployment.block), name
    committed = swarm.coordinator.events.UpdateCommitted().get_logs(from_block=swarm.deployment.block)
    assert {log["args"]["peer"]: log["args"]["commitment"] for log in committed} == commitments

    # Conservation: every token is held by an account or one of the contracts, and the
    # coordinator holds exactly what it owes.
    supply = swarm.token.functions.totalSupply().call()
    assert sum(swarm.balance(holder) for holder in token_holders(swarm)) == supply == deploy.DEFAULT_TOKEN_SUPPLY
    owed = int(coordinator.functions.reserve().call()) + swarm.budget(task) + swarm.slash_pool(task)
    owed += sum(sum(swarm.round_info(task, r)[3:5]) for r in (0, 2))
    assert swarm.balance(swarm.coordinator.address) == owed


def test_lifecycle_embedded(swarm: Swarm) -> None:
    run_lifecycle(swarm)


@pytest.mark.e2e
def test_lifecycle_anvil(anvil: Swarm) -> None:
    run_lifecycle(anvil)
