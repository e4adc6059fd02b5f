"""Every refusal of the contracts, checked by its custom error on the embedded chain, and the
protocol constants of loraswarm.protocol against the deployed bytecode."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from eth_utils import keccak
from web3.logs import DISCARD

from harness import chaintime
from loraswarm.protocol import chain, eip712, wire
from loraswarm.protocol.codes import MALICIOUS, Reason
from tests.contracts.harness import (
    PERIOD_WINDOWS,
    TEST_TERMS,
    TOKEN_UNIT,
    Outcome,
    Swarm,
    build_outcome,
    default_params,
)


@dataclass(frozen=True)
class Scene:
    """Task with peers pa, pb, pc and validators v1..v3 (1000 stake each, quorum 60 %)."""

    swarm: Swarm
    task: int
    peers: list[str]
    validators: list[str]
    outsider: str

    def finalize_round0(self, outcome: Outcome) -> None:
        self.swarm.attest_all(self.task, 0, [(self.validators[0], outcome), (self.validators[1], outcome)])
        assert self.swarm.round_info(self.task, 0)[0] == chain.RoundStatus.FINALIZED


@pytest.fixture(scope="module")
def scene_base(embedded: Swarm) -> Scene:
    """Built once per module; `scene` rolls every test back to this state."""
    accounts = embedded.w3.eth.accounts
    task = embedded.create_task()
    for peer in accounts[1:4]:
        embedded.join_peer(task, peer)
    for validator in accounts[5:8]:
        embedded.join_validator(task, validator)
    return Scene(embedded, task, list(accounts[1:4]), list(accounts[5:8]), accounts[9])


@pytest.fixture
def scene(scene_base: Scene) -> Iterator[Scene]:
    snapshot = chaintime.snapshot(scene_base.swarm.w3)
    try:
        yield scene_base
    finally:
        chaintime.revert(scene_base.swarm.w3, snapshot)


# -- commits and attestations -------------------------------------------------------------------

def test_late_commit(scene: Scene) -> None:
    scene.swarm.enter(scene.task, 0, chain.Phase.REVEAL)
    with scene.swarm.reverts("NotInCommitWindow"):
        scene.swarm.commit(scene.task, 0, scene.peers[0])


def test_early_commit(scene: Scene) -> None:
    scene.swarm.enter(scene.task, 0, chain.Phase.COMMIT)
    with scene.swarm.reverts("NotInCommitWindow"):
        scene.swarm.commit(scene.task, 1, scene.peers[0])


def test_double_and_zero_commit(scene: Scene) -> None:
    swarm, peer = scene.swarm, scene.peers[0]
    swarm.enter(scene.task, 0, chain.Phase.COMMIT)
    with swarm.reverts("ZeroCommitment"):
        swarm.send(swarm.coordinator.functions.commit(scene.task, 0, b"\x00" * 32), peer)
    first = swarm.commit(scene.task, 0, peer)
    with swarm.reverts("AlreadyCommitted"):
        swarm.commit(scene.task, 0, peer)
    assert swarm.coordinator.functions.commitmentOf(scene.task, 0, peer).call() == first
    assert swarm.coordinator.functions.commitmentOf(scene.task, 1, peer).call() == b"\x00" * 32


def test_commit_by_unregistered(scene: Scene) -> None:
    scene.swarm.enter(scene.task, 0, chain.Phase.COMMIT)
    with scene.swarm.reverts("NotPeer"):
        scene.swarm.commit(scene.task, 0, scene.outsider)


def test_attest_by_non_validator(scene: Scene) -> None:
    outcome = build_outcome(scene.task, 0, [], [])
    scene.swarm.enter(scene.task, 0, chain.Phase.ATTEST)
    with scene.swarm.reverts("NotValidator"):
        scene.swarm.seal(scene.task, 0, scene.peers[0], outcome)
    scene.swarm.enter_open(scene.task, 0)
    with scene.swarm.reverts("NotSealed"):
        scene.swarm.attest(scene.task, 0, scene.peers[0], outcome)


def test_a_validator_that_joined_during_a_round_is_not_in_its_snapshot(scene: Scene) -> None:
    swarm = scene.swarm
    swarm.enter(scene.task, 0, chain.Phase.COMMIT)
    receipt_weight = swarm.coordinator.functions.quorumWeight(scene.task, 0).call()
    swarm.join_validator(scene.task, scene.outsider, 5_000 * TOKEN_UNIT)
    assert swarm.coordinator.functions.quorumWeight(scene.task, 0).call() == receipt_weight == 3_000 * TOKEN_UNIT
    assert swarm.coordinator.functions.quorumWeight(scene.task, 1).call() == 8_000 * TOKEN_UNIT
    swarm.enter(scene.task, 0, chain.Phase.ATTEST)
    with swarm.reverts("NotEligible"):
        swarm.seal(scene.task, 0, scene.outsider, build_outcome(scene.task, 0, [], []))
    swarm.enter(scene.task, 1, chain.Phase.ATTEST)
    swarm.seal(scene.task, 1, scene.outsider, build_outcome(scene.task, 1, [], []))
    assert swarm.coordinator.functions.sealWeightOf(scene.task, 1, scene.outsider).call() == 5_000 * TOKEN_UNIT


def test_seal_and_open_outside_their_windows(scene: Scene) -> None:
    swarm, validator = scene.swarm, scene.validators[0]
    outcome = build_outcome(scene.task, 0, [], [])
    swarm.enter(scene.task, 0, chain.Phase.REVEAL)
    with swarm.reverts("NotInSealWindow"):
        swarm.seal(scene.task, 0, validator, outcome)
    with swarm.reverts("NotInAttestWindow"):
        swarm.attest(scene.task, 0, validator, outcome)
    swarm.enter(scene.task, 0, chain.Phase.ATTEST)
    swarm.seal(scene.task, 0, validator, outcome)
    with swarm.reverts("NotInAttestWindow"):  # no attestation opens while seals are still coming in
        swarm.attest(scene.task, 0, validator, outcome)
    swarm.enter_open(scene.task, 0)
    with swarm.reverts("NotInSealWindow"):
        swarm.seal(scene.task, 0, scene.validators[1], outcome)
    swarm.enter(scene.task, 0, chain.Phase.FAILED)
    with swarm.reverts("NotInAttestWindow"):
        swarm.attest(scene.task, 0, validator, outcome)


def test_seal_refusals_and_repeated_attestation(scene: Scene) -> None:
    swarm, (v1, v2, _) = scene.swarm, scene.validators
    first = build_outcome(scene.task, 0, [], [])
    swarm.enter(scene.task, 0, chain.Phase.ATTEST)
    with swarm.reverts("ZeroSeal"):
        swarm.send(swarm.coordinator.functions.sealAttestation(scene.task, 0, b"\x00" * 32), v1)
    receipt = swarm.seal(scene.task, 0, v1, first)
    sealed = swarm.event(receipt, "AttestationSealed")
    assert (sealed["validator"], sealed["weight"]) == (v1, 1_000 * TOKEN_UNIT)
    with swarm.reverts("AlreadySealed"):
        swarm.seal(scene.task, 0, v1, first)
    swarm.enter_open(scene.task, 0)
    with swarm.reverts("SealMismatch"):
        swarm.attest(scene.task, 0, v1, build_outcome(scene.task, 0, [], [], label="other"))
    swarm.attest(scene.task, 0, v1, first)
    assert swarm.coordinator.functions.attestationOf(scene.task, 0, v1).call() == first.tuple_hash
    with swarm.reverts("AlreadyAttested"):
        swarm.attest(scene.task, 0, v1, first)
    # A validator that copies an opened attestation instead of validating had nothing to seal.
    with swarm.reverts("NotSealed"):
        swarm.attest(scene.task, 0, v2, first)


def test_refinalize(scene: Scene) -> None:
    swarm, (_, v2, v3) = scene.swarm, scene.validators
    outcome = build_outcome(scene.task, 0, [], [])
    other = build_outcome(scene.task, 0, [], [], label="other")
    swarm.enter(scene.task, 0, chain.Phase.ATTEST)
    swarm.seal(scene.task, 0, v3, other)
    scene.finalize_round0(outcome)
    before = swarm.round_info(scene.task, 0)
    # A late opening is recorded (its validator is then a dissenter) and changes nothing else.
    receipt = swarm.attest(scene.task, 0, v3, other)
    assert swarm.event(receipt, "Attested")["globalHash"] == other.global_hash
    assert swarm.coordinator.functions.attestationOf(scene.task, 0, v3).call() == other.tuple_hash
    assert not swarm.coordinator.events.RoundFinalized().process_receipt(receipt, errors=DISCARD)
    assert swarm.round_info(scene.task, 0) == before
    assert swarm.support(scene.task, 0, other) == (0, False)
    with swarm.reverts("AlreadyAttested"):
        swarm.attest(scene.task, 0, v2, outcome)
    swarm.enter(scene.task, 0, chain.Phase.FAILED)
    with swarm.reverts("RoundAlreadyFinalized"):
        swarm.send(swarm.coordinator.functions.markFailed(scene.task, 0), scene.outsider)


def test_mark_failed_too_early_and_twice(scene: Scene) -> None:
    mark = scene.swarm.coordinator.functions.markFailed(scene.task, 0)
    scene.swarm.enter(scene.task, 0, chain.Phase.ATTEST)
    with scene.swarm.reverts("RoundNotExpired"):
        scene.swarm.send(mark, scene.outsider)
    scene.swarm.enter(scene.task, 0, chain.Phase.FAILED)
    scene.swarm.send(mark, scene.outsider)
    with scene.swarm.reverts("RoundAlreadyFailed"):
        scene.swarm.send(mark, scene.outsider)


def test_a_peer_pool_above_what_is_available_cannot_finalize(scene: Scene) -> None:
    # 1,000 available, validators take 100: at most 900 for peers.
    greedy = build_outcome(scene.task, 0, [(scene.peers[0], 901 * TOKEN_UNIT)], [])
    scene.swarm.enter(scene.task, 0, chain.Phase.ATTEST)
    for validator in scene.validators[:2]:
        scene.swarm.seal(scene.task, 0, validator, greedy)
    scene.swarm.enter_open(scene.task, 0)
    scene.swarm.attest(scene.task, 0, scene.validators[0], greedy)
    with scene.swarm.reverts("PoolUnavailable"):
        scene.swarm.attest(scene.task, 0, scene.validators[1], greedy)


# -- claims -------------------------------------------------------------------------------------

def test_claim_with_bad_proof_and_twice(scene: Scene) -> None:
    pa, pb, _ = scene.peers
    outcome = build_outcome(scene.task, 0, [(pa, 10 * TOKEN_UNIT), (pb, 20 * TOKEN_UNIT)], [])
    scene.finalize_round0(outcome)
    claim = scene.swarm.coordinator.functions.claim
    with scene.swarm.reverts("InvalidProof"):  # more than the leaf says
        scene.swarm.send(claim(scene.task, 0, 0, 11 * TOKEN_UNIT, outcome.rewards.proof(0)), pa)
    with scene.swarm.reverts("InvalidProof"):  # someone else's leaf
        scene.swarm.send(claim(scene.task, 0, 1, 20 * TOKEN_UNIT, outcome.rewards.proof(1)), pa)
    scene.swarm.claim(scene.task, 0, outcome, 0)
    assert scene.swarm.coordinator.functions.isClaimed(scene.task, 0, pa).call()
    assert not scene.swarm.coordinator.functions.isClaimed(scene.task, 0, pb).call()
    with scene.swarm.reverts("AlreadyClaimed"):
        scene.swarm.claim(scene.task, 0, outcome, 0)


def test_claim_before_finalization(scene: Scene) -> None:
    outcome = build_outcome(scene.task, 0, [(scene.peers[0], TOKEN_UNIT)], [])
    with scene.swarm.reverts("RoundNotFinalized"):
        scene.swarm.claim(scene.task, 0, outcome, 0)
    with scene.swarm.reverts("RoundNotFinalized"):
        scene.swarm.claim_validator(scene.task, 0, scene.validators[0])


def test_peers_are_never_paid_more_than_the_attested_pool(scene: Scene) -> None:
    pa, pb, _ = scene.peers
    outcome = build_outcome(scene.task, 0, [(pa, 700 * TOKEN_UNIT), (pb, 700 * TOKEN_UNIT)], [],
                            peer_pool=900 * TOKEN_UNIT)
    scene.finalize_round0(outcome)
    scene.swarm.claim(scene.task, 0, outcome, 0)
    with scene.swarm.reverts("PoolExceeded"):
        scene.swarm.claim(scene.task, 0, outcome, 1)


def test_validator_claim_rules(scene: Scene) -> None:
    swarm, (v1, v2, v3) = scene.swarm, scene.validators
    outcome, other = build_outcome(scene.task, 0, [], []), build_outcome(scene.task, 0, [], [], label="other")
    swarm.enter(scene.task, 0, chain.Phase.ATTEST)
    swarm.seal(scene.task, 0, v3, other)
    scene.finalize_round0(outcome)
    swarm.attest(scene.task, 0, v3, other)
    for validator in (v3, scene.outsider):  # a dissenter, a stranger
        with swarm.reverts("NotFinalAttester"):
            swarm.claim_validator(scene.task, 0, validator)
    pay = chain.validator_pay(100 * TOKEN_UNIT, 1_000 * TOKEN_UNIT, 3_000 * TOKEN_UNIT)
    assert swarm.coordinator.functions.validatorPayOf(scene.task, 0, v1).call() == [pay, False]
    receipt = swarm.claim_validator(scene.task, 0, v1)
    assert swarm.event(receipt, "ValidatorRewardClaimed")["amount"] == pay
    assert swarm.coordinator.functions.validatorPayOf(scene.task, 0, v1).call() == [pay, True]
    assert swarm.coordinator.functions.isValidatorClaimed(scene.task, 0, v1).call()
    assert not swarm.coordinator.functions.isValidatorClaimed(scene.task, 0, v2).call()
    with swarm.reverts("AlreadyClaimed"):
        swarm.claim_validator(scene.task, 0, v1)
    swarm.past_claims(scene.task, 0)
    with swarm.reverts("ClaimExpired"):
        swarm.claim_validator(scene.task, 0, v2)


def test_a_late_opener_of_the_final_tuple_is_paid_and_not_slashed(scene: Scene) -> None:
    swarm, v3 = scene.swarm, scene.validators[2]
    outcome = build_outcome(scene.task, 0, [], [])
    swarm.enter(scene.task, 0, chain.Phase.ATTEST)
    swarm.seal(scene.task, 0, v3, outcome)
    scene.finalize_round0(outcome)
    swarm.attest(scene.task, 0, v3, outcome)  # after finalization: recorded, adds nothing
    assert swarm.support(scene.task, 0, outcome) == (0, True)
    before = swarm.balance(v3)
    swarm.claim_validator(scene.task, 0, v3)
    assert swarm.balance(v3) - before == chain.validator_pay(100 * TOKEN_UNIT, 1_000 * TOKEN_UNIT, 3_000 * TOKEN_UNIT)
    swarm.enter(scene.task, 0, chain.Phase.FAILED)
    with swarm.reverts("NotSlashable"):
        swarm.slash_validator(scene.task, 0, v3, scene.outsider)


def test_sweep_rules(scene: Scene) -> None:
    swarm = scene.swarm
    sweep = swarm.coordinator.functions.sweep(scene.task, 0)
    with swarm.reverts("RoundNotFinalized"):
        swarm.send(sweep, scene.outsider)
    scene.finalize_round0(build_outcome(scene.task, 0, [(scene.peers[0], 900 * TOKEN_UNIT)], []))
    with swarm.reverts("ClaimWindowOpen"):
        swarm.send(sweep, scene.outsider)
    swarm.past_claims(scene.task, 0)
    swarm.send(sweep, scene.outsider)
    status, *_, peer_left, validator_left, _, swept = swarm.round_info(scene.task, 0)
    assert (status, peer_left, validator_left, swept) == (chain.RoundStatus.FINALIZED, 0, 0, True)
    with swarm.reverts("AlreadySwept"):
        swarm.send(sweep, scene.outsider)


# -- stake and slashes --------------------------------------------------------------------------

def test_unstake_before_delay(scene: Scene) -> None:
    staking = scene.swarm.staking.functions
    peer = scene.peers[0]
    with scene.swarm.reverts("InsufficientFreeStake"):  # the registration's stake is locked
        scene.swarm.send(staking.requestUnstake(1_000 * TOKEN_UNIT), peer)
    scene.swarm.send(staking.requestUnstake(900 * TOKEN_UNIT), peer)
    chaintime.advance(scene.swarm.w3, 3_600)
    with scene.swarm.reverts("UnstakeNotReady"):
        scene.swarm.send(staking.withdraw(), peer)


def test_a_slash_takes_only_the_stake_locked_in_the_task(scene: Scene) -> None:
    swarm, peer = scene.swarm, scene.peers[0]
    outcome = build_outcome(scene.task, 0, [], [(peer, 1_000 * TOKEN_UNIT, Reason.NORM_BOUND)])
    swarm.send(swarm.staking.functions.requestUnstake(900 * TOKEN_UNIT), peer)
    scene.finalize_round0(outcome)
    receipt = swarm.execute_slash(scene.task, 0, outcome, 0, scene.outsider)
    assert swarm.event(receipt, "SlashExecuted")["amount"] == TEST_TERMS.peer_stake  # capped at the lock
    assert swarm.staking.functions.accountOf(peer).call()[:3] == [900 * TOKEN_UNIT, 0, 900 * TOKEN_UNIT]
    assert swarm.participant(scene.task, peer)["slashed"] == TEST_TERMS.peer_stake
    assert swarm.coordinator.functions.isSlashed(chain.slash_leaf_key(scene.task, 0, peer, 1_000 * TOKEN_UNIT,
                                                                      Reason.NORM_BOUND)).call()
    with swarm.reverts("AlreadySlashed"):
        swarm.execute_slash(scene.task, 0, outcome, 0, scene.outsider)


def test_slash_refusals(scene: Scene) -> None:
    swarm, (pa, pb, pc) = scene.swarm, scene.peers
    outcome = build_outcome(scene.task, 0, [], [(pa, 10 * TOKEN_UNIT, Reason.NOT_REVEALED),
                                                 (pb, 0, Reason.NOT_REVEALED), (pc, 10 * TOKEN_UNIT, Reason.LOSS_GATE)])
    with swarm.reverts("RoundNotFinalized"):
        swarm.execute_slash(scene.task, 0, outcome, 0, scene.outsider)
    scene.finalize_round0(outcome)
    call = swarm.coordinator.functions.executeSlash(
        scene.task, 0, pa, 11 * TOKEN_UNIT, Reason.NOT_REVEALED, outcome.slashes.proof(0))
    with swarm.reverts("InvalidProof"):
        swarm.send(call, scene.outsider)
    with swarm.reverts("NotSlashable"):  # nothing to take
        swarm.execute_slash(scene.task, 0, outcome, 1, scene.outsider)
    swarm.enter(scene.task, 1, chain.Phase.FAILED)  # round 0's slash deadline
    with swarm.reverts("SlashExpired"):
        swarm.execute_slash(scene.task, 0, outcome, 2, scene.outsider)


def test_a_leaver_answers_for_its_rounds_only(scene: Scene) -> None:
    swarm, (v1, v2, _) = scene.swarm, scene.validators
    peer = scene.peers[0]
    scene.finalize_round0(build_outcome(scene.task, 0, [], []))
    swarm.leave(scene.task, peer)  # during round 0: it takes part in round 0 only
    outcome = build_outcome(scene.task, 1, [], [(peer, 10 * TOKEN_UNIT, Reason.NOT_REVEALED)])
    swarm.attest_all(scene.task, 1, [(v1, outcome), (v2, outcome)])
    with swarm.reverts("NotSlashable"):
        swarm.execute_slash(scene.task, 1, outcome, 0, scene.outsider)


def test_leave_and_release_rules(scene: Scene) -> None:
    swarm, coordinator, peer = scene.swarm, scene.swarm.coordinator.functions, scene.peers[0]
    with swarm.reverts("NotRegistered"):
        swarm.leave(scene.task, scene.outsider)
    with swarm.reverts("NoExitPending"):
        swarm.send(coordinator.release(scene.task), peer)
    swarm.enter(scene.task, 0, chain.Phase.COMMIT)
    swarm.leave(scene.task, peer)
    with swarm.reverts("ExitPending"):
        swarm.leave(scene.task, peer)
    with swarm.reverts("ExitPending"):
        swarm.send(coordinator.registerValidator(scene.task, 1_000 * TOKEN_UNIT), peer)
    with swarm.reverts("ReleaseNotReady"):
        swarm.send(coordinator.release(scene.task), peer)
    swarm.enter(scene.task, 1, chain.Phase.FAILED)
    receipt = swarm.send(coordinator.release(scene.task), peer)
    assert swarm.event(receipt, "ParticipantLeft")["released"] == TEST_TERMS.peer_stake
    assert swarm.participant(scene.task, peer)["peerFirstRoundPlusOne"] == 0
    swarm.send(coordinator.registerPeer(scene.task), peer)  # back in, as a new registration


def test_slash_validator_rules(scene: Scene) -> None:
    swarm, (v1, v2, v3) = scene.swarm, scene.validators
    keeper = scene.outsider
    outcome = build_outcome(scene.task, 0, [], [])
    swarm.enter(scene.task, 0, chain.Phase.ATTEST)
    swarm.seal(scene.task, 0, v3, build_outcome(scene.task, 0, [], [], label="guess"))
    with swarm.reverts("RoundNotExpired"):  # the round is still open
        swarm.slash_validator(scene.task, 0, v3, keeper)
    scene.finalize_round0(outcome)
    for who in (v1, scene.peers[0]):  # opened the final tuple; not a validator of the round
        with swarm.reverts("NotSlashable"):
            swarm.slash_validator(scene.task, 0, who, keeper)
    with swarm.reverts("RoundNotExpired"):  # an unopened seal may still open the final tuple
        swarm.slash_validator(scene.task, 0, v3, keeper)
    swarm.enter(scene.task, 0, chain.Phase.FAILED)
    receipt = swarm.slash_validator(scene.task, 0, v3, keeper)
    assert swarm.event(receipt, "SlashExecuted")["reason"] == chain.DISSENT_REASON
    assert swarm.coordinator.functions.isSlashed(chain.validator_slash_key(scene.task, 0, v3)).call()
    # Round 1 fails: v1 opened a tuple (not slashable), v2 sealed and never opened (absent).
    lone = build_outcome(scene.task, 1, [], [])
    swarm.enter(scene.task, 1, chain.Phase.ATTEST)
    swarm.seal(scene.task, 1, v2, lone)
    swarm.attest_all(scene.task, 1, [(v1, lone)])
    swarm.enter(scene.task, 1, chain.Phase.FAILED)
    with swarm.reverts("NotSlashable"):
        swarm.slash_validator(scene.task, 1, v1, keeper)
    receipt = swarm.slash_validator(scene.task, 1, v2, keeper)
    assert swarm.event(receipt, "SlashExecuted")["reason"] == chain.ABSENCE_REASON
    assert swarm.participant(scene.task, v2)["exiting"]


def test_no_absence_slash_when_the_task_sets_none(swarm: Swarm) -> None:
    validator, keeper = swarm.w3.eth.accounts[4], swarm.w3.eth.accounts[8]  # not in a task yet
    task = swarm.create_task(absence_slash=0)
    swarm.join_validator(task, validator)
    swarm.enter(task, 0, chain.Phase.FAILED)
    with swarm.reverts("NotSlashable"):
        swarm.slash_validator(task, 0, validator, keeper)
    assert not swarm.participant(task, validator)["exiting"]


def test_only_the_coordinator_slashes_and_locks(scene: Scene) -> None:
    staking = scene.swarm.staking.functions
    with scene.swarm.reverts("NotCoordinator"):
        scene.swarm.send(staking.slash(scene.peers[0], 1), scene.outsider)
    with scene.swarm.reverts("NotCoordinator"):
        scene.swarm.send(staking.lock(scene.peers[0], 1), scene.outsider)
    with scene.swarm.reverts("CoordinatorAlreadySet"):
        scene.swarm.send(staking.setCoordinator(scene.outsider), scene.swarm.treasury)


# -- registration, tasks ------------------------------------------------------------------------

def test_registration_rules(scene: Scene) -> None:
    swarm, coordinator = scene.swarm, scene.swarm.coordinator.functions
    with swarm.reverts("AlreadyRegistered"):
        swarm.send(coordinator.registerPeer(scene.task), scene.peers[0])
    later = swarm.create_task(start_delay_s=10_000)
    with swarm.reverts("BusyInAnotherTask"):
        swarm.send(coordinator.registerPeer(later), scene.peers[0])
    with swarm.reverts("InsufficientFreeStake"):
        swarm.send(coordinator.registerPeer(scene.task), scene.outsider)
    with swarm.reverts("StakeBelowMinimum"):
        swarm.send(coordinator.registerValidator(scene.task, TOKEN_UNIT), scene.outsider)
    with swarm.reverts("UnknownTask"):
        swarm.send(coordinator.registerPeer(99), scene.outsider)
    # Before its start a task releases a leaver at once.
    swarm.grant(scene.outsider)
    swarm.stake(scene.outsider, 1_000 * TOKEN_UNIT)
    swarm.send(coordinator.registerValidator(later, 1_000 * TOKEN_UNIT), scene.outsider)
    assert swarm.live_weight(later) == 1_000 * TOKEN_UNIT
    receipt = swarm.leave(later, scene.outsider)
    assert swarm.event(receipt, "ParticipantLeft")["released"] == 1_000 * TOKEN_UNIT
    assert swarm.live_weight(later) == 0 and coordinator.activeTask(scene.outsider).call() == 0


def test_close_and_withdraw_rules(scene: Scene) -> None:
    swarm, coordinator, owner = scene.swarm, scene.swarm.coordinator.functions, scene.swarm.treasury
    for call in (coordinator.closeTask(scene.task), coordinator.withdrawBudget(scene.task),
                 coordinator.withdrawReserve(scene.outsider, 1)):
        with swarm.reverts("OwnableUnauthorizedAccount"):
            swarm.send(call, scene.outsider)
    with swarm.reverts("InsufficientReserve"):
        swarm.send(coordinator.withdrawReserve(owner, 10**30), owner)
    swarm.send(coordinator.closeTask(scene.task), owner)
    assert coordinator.taskEnd(scene.task).call() == [True, 0]
    with swarm.reverts("TaskClosed"):
        swarm.send(coordinator.closeTask(scene.task), owner)
    with swarm.reverts("TaskClosed"):
        swarm.send(coordinator.registerPeer(scene.task), scene.outsider)
    with swarm.reverts("TaskClosed"):
        swarm.send(coordinator.fundTask(scene.task, 1), owner)
    swarm.enter(scene.task, 1, chain.Phase.ATTEST)
    with swarm.reverts("TaskClosed"):
        swarm.seal(scene.task, 1, scene.validators[0], build_outcome(scene.task, 1, [], []))
    with swarm.reverts("BudgetLocked"):
        swarm.send(coordinator.withdrawBudget(scene.task), owner)
    chaintime.travel_to(swarm.w3, swarm.windows(scene.task, 0)[3] + TEST_TERMS.claim_window_s)
    swarm.send(coordinator.withdrawBudget(scene.task), owner)
    with swarm.reverts("ZeroAmount"):
        swarm.send(coordinator.withdrawBudget(scene.task), owner)


def test_task_creation_rules(swarm: Swarm) -> None:
    now = chaintime.now(swarm.w3)
    create = swarm.coordinator.functions.createTask
    with swarm.reverts("OwnableUnauthorizedAccount"):
        swarm.send(create(default_params(now)), swarm.w3.eth.accounts[1])
    refused = {"QuorumOutOfRange": {"quorum_bps": 5_000}, "ValidatorShareOutOfRange": {"validator_bps": 10_001},
               "EmptyWindow": {"reveal_s": 0}, "ClaimWindowTooShort": {"claim_periods": 0},
               "ZeroMinimumStake": {"peer_stake": 0}, "InsufficientReserve": {"budget": 10**30}}
    for error, overrides in refused.items():
        with swarm.reverts(error):
            swarm.send(create(default_params(now, **overrides)), swarm.treasury)
    with swarm.reverts("ZeroHash"):
        swarm.send(create({**default_params(now), "specHash": b"\x00" * 32}), swarm.treasury)
    # A start in the past starts now; the created task's parameters read back as given.
    receipt = swarm.send(create(default_params(now - 1_000)), swarm.treasury)
    created = swarm.event(receipt, "TaskCreated")
    params = swarm.params(created["taskId"])
    assert params["startTime"] >= now and params["specHash"] == keccak(text="task spec") == created["specHash"]
    assert {k: v for k, v in params.items() if k != "startTime"} == {
        k: v for k, v in default_params(now).items() if k != "startTime"}


def test_phase_and_round_views(scene: Scene) -> None:
    functions = scene.swarm.coordinator.functions
    commit_start, commit_end, reveal_end, attest_end = scene.swarm.windows(scene.task, 1)
    assert attest_end - commit_start == sum(PERIOD_WINDOWS)
    expected = {commit_start - 1: chain.Phase.ATTEST, commit_start: chain.Phase.COMMIT,
                commit_end - 1: chain.Phase.COMMIT, commit_end: chain.Phase.REVEAL,
                reveal_end: chain.Phase.ATTEST, attest_end: chain.Phase.FAILED}
    for timestamp, phase in expected.items():
        round_ = 1 if timestamp >= commit_start else 0
        assert functions.phaseAt(scene.task, round_, timestamp).call() == phase, timestamp
        assert functions.roundAt(scene.task, timestamp).call() == (round_ if timestamp < attest_end else 2)
    assert functions.phaseAt(scene.task, 1, commit_start - 1).call() == chain.Phase.NOT_STARTED


def test_protocol_constants_agree_with_the_contract(swarm: Swarm) -> None:
    """Every constant of loraswarm.protocol that the contract also holds. (Its encodings are
    checked by use: a seal opens only if chain.attestation_seal and chain.tuple_hash hash what the
    contract hashes, in every finalizing test; isSlashed answers chain.slash_leaf_key and
    chain.validator_slash_key in test_a_slash_takes_only_the_stake_locked_in_the_task and
    test_slash_validator_rules.)"""
    coordinator = swarm.coordinator.functions
    assert coordinator.DISSENT_REASON().call() == chain.DISSENT_REASON
    assert coordinator.ABSENCE_REASON().call() == chain.ABSENCE_REASON
    assert coordinator.EQUIVOCATION_REASON().call() == chain.EQUIVOCATION_REASON == Reason.EQUIVOCATION
    assert Reason.EQUIVOCATION in MALICIOUS
    assert max(Reason) < chain.ABSENCE_REASON < chain.DISSENT_REASON
    assert coordinator.SLASH_BOUNTY_BPS().call() == chain.SLASH_BOUNTY_BPS
    assert coordinator.BPS().call() == chain.BPS
    assert coordinator.UPDATE_TYPEHASH().call() == eip712.type_hash("Update", wire.UPDATE_TYPE)
    _, name, version, chain_id, verifying, *_ = coordinator.eip712Domain().call()
    assert (name, version, chain_id, verifying) == (wire.EIP712_NAME, wire.EIP712_VERSION, swarm.chain_id,
                                                     swarm.coordinator.address)
