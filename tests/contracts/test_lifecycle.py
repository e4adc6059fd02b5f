"""The whole protocol on real EVMs: register, commit, attest to quorum, claim, slash (by proof
and for dissent), a failed round, the slashed tokens in the next pool, leave and unstake."""

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
    # pc committed but never revealed: not paid, slashed.
    won = build_outcome(task, 0, [(pa, 600 * TOKEN_UNIT), (pb, 300 * TOKEN_UNIT), (v1, 50 * TOKEN_UNIT),
                                  (v2, 50 * TOKEN_UNIT)], [(pc, 40 * TOKEN_UNIT, Reason.NOT_REVEALED)])
    lost = build_outcome(task, 0, [(v3, 1_000 * TOKEN_UNIT)], [], label="forged")

    swarm.enter(task, 0, chain.Phase.ATTEST)
    for validator, outcome in ((v3, lost), (v1, won), (v2, won)):
        swarm.seal(task, 0, validator, outcome)
    assert coordinator.functions.roundInfo(task, 0).call()[0] == chain.RoundStatus.OPEN
    swarm.enter_open(task, 0)
    swarm.attest(task, 0, v3, lost)
    swarm.attest(task, 0, v1, won)
    assert swarm.round_info(task, 0)[0] == chain.RoundStatus.OPEN
    receipt = swarm.attest(task, 0, v2, won)  # 2000 of 3000 stake >= 60 %: finalizes
    finalized = swarm.event(receipt, "RoundFinalized")
    assert finalized["globalHash"] == won.global_hash
    assert finalized["pool"] == 1_000 * TOKEN_UNIT
    status, rewards_root, slash_root, pool, claimed = swarm.round_info(task, 0)
    assert (status, rewards_root, slash_root, pool, claimed) == (
        chain.RoundStatus.FINALIZED, won.rewards.root, won.slashes.root, 1_000 * TOKEN_UNIT, 0)
    info = coordinator.functions.taskInfo(task).call()
    assert info[3] == won.global_hash and info[4] is True and info[5] == 0

    before = swarm.balance(pa)
    claim_receipt = swarm.claim(task, 0, won, 0)
    assert swarm.balance(pa) - before == 600 * TOKEN_UNIT
    assert swarm.event(claim_receipt, "RewardClaimed")["amount"] == 600 * TOKEN_UNIT
    for index in (1, 2):
        swarm.claim(task, 0, won, index)
    assert swarm.round_info(task, 0)[4] == 950 * TOKEN_UNIT
    assert coordinator.functions.participantOf(task, pa).call()[3] == 600 * TOKEN_UNIT

    # Slashes: one by Merkle proof, executed by an outsider; one for the dissenting validator.
    stake_c = swarm.stake_of(pc)
    swarm.execute_slash(task, 0, won, 0, keeper)
    assert swarm.stake_of(pc) == stake_c - 40 * TOKEN_UNIT
    assert swarm.balance(keeper) == 0, "the slasher is never paid"
    swarm.send(coordinator.functions.slashDissenter(task, 0, v3), keeper)
    assert swarm.stake_of(v3) == 500 * TOKEN_UNIT
    info = coordinator.functions.taskInfo(task).call()
    assert info[1] == 540 * TOKEN_UNIT  # slash pool waiting for the next finalization
    assert info[2] == 2_500 * TOKEN_UNIT  # v3's weight shrank with its stake

    # Round 1: no quorum by the deadline -> failed; the previous global stays, no budget spent.
    swarm.attest_all(task, 1, [(v1, build_outcome(task, 1, [], []))])
    swarm.enter(task, 1, chain.Phase.FAILED)
    assert coordinator.functions.phaseAt(task, 1, chaintime.now(w3)).call() == chain.Phase.FAILED
    fail_receipt = swarm.send(coordinator.functions.markFailed(task, 1), keeper)
    assert swarm.event(fail_receipt, "RoundFailed")["round"] == 1
    info = coordinator.functions.taskInfo(task).call()
    assert info[3] == won.global_hash and info[0][12] == 9_000 * TOKEN_UNIT

    # Round 2: the pool holds the per-round reward plus everything slashed since round 0.
    outcome = build_outcome(task, 2, [(pb, 1_540 * TOKEN_UNIT)], [])
    swarm.attest_all(task, 2, [(v1, outcome), (v2, outcome)])
    assert swarm.round_info(task, 2)[3] == 1_540 * TOKEN_UNIT
    swarm.claim(task, 2, outcome, 0)

    # Leave and unstake: the delay holds, then the stake comes back.
    swarm.send(coordinator.functions.leave(task), pa)
    swarm.send(swarm.staking.functions.requestUnstake(1_000 * TOKEN_UNIT), pa)
    chaintime.advance(w3, deploy.DEFAULT_WITHDRAWAL_DELAY_S + 1)
    before = swarm.balance(pa)
    swarm.send(swarm.staking.functions.withdraw(), pa)
    assert swarm.balance(pa) - before == 1_000 * TOKEN_UNIT

    # The ledger can be rebuilt from logs: every kind of event the round emitted is there.
    ledger = {
        swarm.coordinator: ("TaskCreated", "PeerRegistered", "ValidatorRegistered", "UpdateCommitted", "Attested",
                            "RoundFinalized", "RoundFailed", "RewardClaimed", "SlashExecuted", "ParticipantLeft"),
        swarm.staking: ("Staked", "StakeLocked", "StakeSlashed", "StakeUnlocked", "UnstakeRequested", "Unstaked"),
    }
    for contract, names in ledger.items():
        for name in names:
            assert contract.events[name]().get_logs(from_block=swarm.deployment.block), name
    committed = swarm.coordinator.events.UpdateCommitted().get_logs(from_block=swarm.deployment.block)
    assert {log["args"]["peer"]: log["args"]["commitment"] for log in committed} == commitments

    # Conservation: every token is held by an account or one of the contracts.
    supply = swarm.token.functions.totalSupply().call()
    assert sum(swarm.balance(holder) for holder in token_holders(swarm)) == supply == deploy.DEFAULT_TOKEN_SUPPLY


def test_lifecycle_embedded(swarm: Swarm) -> None:
    run_lifecycle(swarm)


@pytest.mark.e2e
def test_lifecycle_anvil(anvil: Swarm) -> None:
    run_lifecycle(anvil)
