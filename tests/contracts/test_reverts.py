"""Every refusal of the contracts, checked by its custom error on the embedded chain."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from eth_utils import keccak
from web3.logs import DISCARD

from harness import chaintime
from loraswarm.protocol import chain
from loraswarm.protocol.codes import Reason
from tests.contracts.harness import PERIOD_WINDOWS, TOKEN_UNIT, Outcome, Swarm, build_outcome, default_params


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


def test_late_commit(scene: Scene) -> None:
    scene.swarm.enter(scene.task, 0, chain.Phase.REVEAL)
    with scene.swarm.reverts("NotInCommitWindow"):
        scene.swarm.commit(scene.task, 0, scene.peers[0])


def test_early_commit(scene: Scene) -> None:
    scene.swarm.enter(scene.task, 0, chain.Phase.COMMIT)
    with scene.swarm.reverts("NotInCommitWindow"):
        scene.swarm.commit(scene.task, 1, scene.peers[0])


def test_double_commit(scene: Scene) -> None:
    scene.swarm.enter(scene.task, 0, chain.Phase.COMMIT)
    scene.swarm.commit(scene.task, 0, scene.peers[0])
    with scene.swarm.reverts("AlreadyCommitted"):
        scene.swarm.commit(scene.task, 0, scene.peers[0])


def test_leaving_does_not_buy_a_second_commitment(scene: Scene) -> None:
    swarm, peer = scene.swarm, scene.peers[0]
    swarm.enter(scene.task, 0, chain.Phase.COMMIT)
    with swarm.reverts("ZeroCommitment"):
        swarm.send(swarm.coordinator.functions.commit(scene.task, 0, b"\x00" * 32), peer)
    first = swarm.commit(scene.task, 0, peer)
    swarm.send(swarm.coordinator.functions.leave(scene.task), peer)
    swarm.send(swarm.coordinator.functions.registerPeer(scene.task), peer)
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
    with scene.swarm.reverts("NotValidator"):
        scene.swarm.attest(scene.task, 0, scene.peers[0], outcome)


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
    assert swarm.event(receipt, "AttestationSealed")["validator"] == v1
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
    assert swarm.event(receipt, "Attested")["tupleHash"] == other.tuple_hash
    assert not swarm.coordinator.events.RoundFinalized().process_receipt(receipt, errors=DISCARD)
    assert swarm.round_info(scene.task, 0) == before
    assert swarm.coordinator.functions.supportOf(scene.task, 0, other.tuple_hash).call() == [0, False]
    with swarm.reverts("AlreadyAttested"):
        swarm.attest(scene.task, 0, v2, outcome)
    scene.swarm.enter(scene.task, 0, chain.Phase.FAILED)
    with scene.swarm.reverts("RoundAlreadyFinalized"):
        scene.swarm.send(scene.swarm.coordinator.functions.markFailed(scene.task, 0), scene.outsider)


def test_mark_failed_too_early_and_twice(scene: Scene) -> None:
    mark = scene.swarm.coordinator.functions.markFailed(scene.task, 0)
    scene.swarm.enter(scene.task, 0, chain.Phase.ATTEST)
    with scene.swarm.reverts("RoundNotExpired"):
        scene.swarm.send(mark, scene.outsider)
    scene.swarm.enter(scene.task, 0, chain.Phase.FAILED)
    scene.swarm.send(mark, scene.outsider)
    with scene.swarm.reverts("RoundAlreadyFailed"):
        scene.swarm.send(mark, scene.outsider)


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


def test_round_never_pays_more_than_its_pool(scene: Scene) -> None:
    pa, pb, _ = scene.peers
    outcome = build_outcome(scene.task, 0, [(pa, 700 * TOKEN_UNIT), (pb, 700 * TOKEN_UNIT)], [])
    scene.finalize_round0(outcome)
    scene.swarm.claim(scene.task, 0, outcome, 0)
    with scene.swarm.reverts("PoolExceeded"):
        scene.swarm.claim(scene.task, 0, outcome, 1)


def test_unstake_before_delay(scene: Scene) -> None:
    staking = scene.swarm.staking.functions
    peer = scene.peers[0]
    with scene.swarm.reverts("InsufficientFreeStake"):  # the registration's stake is locked
        scene.swarm.send(staking.requestUnstake(1_000 * TOKEN_UNIT), peer)
    scene.swarm.send(staking.requestUnstake(900 * TOKEN_UNIT), peer)
    chaintime.advance(scene.swarm.w3, 3_600)
    with scene.swarm.reverts("UnstakeNotReady"):
        scene.swarm.send(staking.withdraw(), peer)


def test_pending_unstake_is_still_slashed(scene: Scene) -> None:
    peer = scene.peers[0]
    outcome = build_outcome(scene.task, 0, [], [(peer, 1_000 * TOKEN_UNIT, Reason.NORM_BOUND)])
    scene.swarm.send(scene.swarm.staking.functions.requestUnstake(900 * TOKEN_UNIT), peer)
    scene.finalize_round0(outcome)
    scene.swarm.execute_slash(scene.task, 0, outcome, 0, scene.outsider)
    assert scene.swarm.staking.functions.accountOf(peer).call()[:3] == [0, 0, 0]
    with scene.swarm.reverts("NothingToWithdraw"):
        scene.swarm.send(scene.swarm.staking.functions.withdraw(), peer)


def test_slash_above_stake_and_twice(scene: Scene) -> None:
    pa, pb, _ = scene.peers
    outcome = build_outcome(scene.task, 0, [], [(pa, 1_001 * TOKEN_UNIT, Reason.KRUM_OUTLIER),
                                                 (pb, 10 * TOKEN_UNIT, Reason.NOT_REVEALED)])
    scene.finalize_round0(outcome)
    with scene.swarm.reverts("SlashExceedsStake"):
        scene.swarm.execute_slash(scene.task, 0, outcome, 0, scene.outsider)
    scene.swarm.execute_slash(scene.task, 0, outcome, 1, scene.outsider)
    with scene.swarm.reverts("AlreadySlashed"):
        scene.swarm.execute_slash(scene.task, 0, outcome, 1, scene.outsider)
    call = scene.swarm.coordinator.functions.executeSlash(
        scene.task, 0, pb, 11 * TOKEN_UNIT, Reason.NOT_REVEALED, outcome.slashes.proof(1))
    with scene.swarm.reverts("InvalidProof"):
        scene.swarm.send(call, scene.outsider)


def test_a_slash_follows_the_stake_into_another_task(scene: Scene) -> None:
    swarm, peer = scene.swarm, scene.peers[0]
    functions = swarm.coordinator.functions
    outcome = build_outcome(scene.task, 0, [], [(peer, 950 * TOKEN_UNIT, Reason.NORM_BOUND)])
    scene.finalize_round0(outcome)
    other = swarm.create_task(minPeerStake=1_000 * TOKEN_UNIT)
    swarm.send(functions.leave(scene.task), peer)
    swarm.send(functions.registerPeer(other), peer)  # all of its stake is now locked there
    swarm.execute_slash(scene.task, 0, outcome, 0, scene.outsider)
    assert swarm.staking.functions.accountOf(peer).call()[:3] == [50 * TOKEN_UNIT, 50 * TOKEN_UNIT, 0]
    assert functions.participantOf(other, peer).call()[0] == 50 * TOKEN_UNIT
    assert functions.taskInfo(scene.task).call()[1] == 950 * TOKEN_UNIT  # the pool of the faulty task
    swarm.send(functions.leave(other), peer)
    assert swarm.staking.functions.freeStakeOf(peer).call() == 50 * TOKEN_UNIT


def test_a_leaving_validator_takes_its_support_along(scene: Scene) -> None:
    swarm, (v1, v2, v3) = scene.swarm, scene.validators
    outcome = build_outcome(scene.task, 0, [], [])
    tuple_hash = chain.tuple_hash(*outcome.args)
    swarm.enter(scene.task, 0, chain.Phase.ATTEST)
    for validator in (v1, v2, v3):
        swarm.seal(scene.task, 0, validator, outcome)
    swarm.enter_open(scene.task, 0)
    swarm.attest(scene.task, 0, v1, outcome)
    assert swarm.coordinator.functions.supportOf(scene.task, 0, tuple_hash).call() == [1_000 * TOKEN_UNIT, False]
    swarm.send(swarm.coordinator.functions.leave(scene.task), v1)
    assert swarm.coordinator.functions.supportOf(scene.task, 0, tuple_hash).call() == [0, False]
    # 1,000 of the 2,000 stake left is not 60 %: v1's departed stake must not tip the balance.
    swarm.attest(scene.task, 0, v2, outcome)
    assert swarm.round_info(scene.task, 0)[0] == chain.RoundStatus.OPEN
    swarm.attest(scene.task, 0, v3, outcome)
    assert swarm.round_info(scene.task, 0)[0] == chain.RoundStatus.FINALIZED


def test_only_dissenters_are_slashed_for_dissent(scene: Scene) -> None:
    v1, _, v3 = scene.validators
    scene.finalize_round0(build_outcome(scene.task, 0, [], []))
    dissent = scene.swarm.coordinator.functions.slashDissenter
    with scene.swarm.reverts("NotADissenter"):  # attested the finalized tuple
        scene.swarm.send(dissent(scene.task, 0, v1), scene.outsider)
    with scene.swarm.reverts("NotADissenter"):  # did not attest at all
        scene.swarm.send(dissent(scene.task, 0, v3), scene.outsider)


def test_a_seal_never_opened_is_slashed_as_dissent(scene: Scene) -> None:
    swarm, (v1, v2, v3) = scene.swarm, scene.validators
    outcome = build_outcome(scene.task, 0, [], [])
    swarm.enter(scene.task, 0, chain.Phase.ATTEST)
    swarm.seal(scene.task, 0, v3, build_outcome(scene.task, 0, [], [], label="guess"))
    swarm.attest_all(scene.task, 0, [(v1, outcome), (v2, outcome)])
    stake = swarm.stake_of(v3)
    swarm.send(swarm.coordinator.functions.slashDissenter(scene.task, 0, v3), scene.outsider)
    assert swarm.stake_of(v3) < stake


def test_only_the_coordinator_slashes_and_locks(scene: Scene) -> None:
    staking = scene.swarm.staking.functions
    with scene.swarm.reverts("NotCoordinator"):
        scene.swarm.send(staking.slash(scene.peers[0], 1, 0), scene.outsider)
    with scene.swarm.reverts("NotCoordinator"):
        scene.swarm.send(staking.lock(scene.peers[0], 1), scene.outsider)
    with scene.swarm.reverts("CoordinatorAlreadySet"):
        scene.swarm.send(staking.setCoordinator(scene.outsider), scene.swarm.treasury)


def test_registration_rules(scene: Scene) -> None:
    swarm, coordinator = scene.swarm, scene.swarm.coordinator.functions
    with swarm.reverts("AlreadyRegistered"):
        swarm.send(coordinator.registerPeer(scene.task), scene.peers[0])
    other = swarm.create_task()
    with swarm.reverts("BusyInAnotherTask"):
        swarm.send(coordinator.registerPeer(other), scene.peers[0])
    with swarm.reverts("InsufficientFreeStake"):
        swarm.send(coordinator.registerPeer(scene.task), scene.outsider)
    with swarm.reverts("StakeBelowMinimum"):
        swarm.send(coordinator.registerValidator(scene.task, TOKEN_UNIT), scene.outsider)
    with swarm.reverts("UnknownTask"):
        swarm.send(coordinator.registerPeer(99), scene.outsider)
    swarm.send(coordinator.leave(scene.task), scene.peers[0])
    swarm.send(coordinator.registerPeer(other), scene.peers[0])
    assert coordinator.activeTask(scene.peers[0]).call() == other


def test_task_creation_rules(swarm: Swarm) -> None:
    now = chaintime.now(swarm.w3)
    create = swarm.coordinator.functions.createTask
    with swarm.reverts("OwnableUnauthorizedAccount"):
        swarm.send(create(default_params(now)), swarm.w3.eth.accounts[1])
    with swarm.reverts("QuorumOutOfRange"):
        swarm.send(create(default_params(now, quorumBps=5_000)), swarm.treasury)
    with swarm.reverts("EmptyWindow"):
        swarm.send(create(default_params(now, revealWindow=0)), swarm.treasury)
    with swarm.reverts("ZeroMinimumStake"):
        swarm.send(create(default_params(now, minPeerStake=0)), swarm.treasury)
    with swarm.reverts("PeriodExceedsUnstakeDelay"):  # a round longer than half the unstake delay
        swarm.send(create(default_params(now, commitWindow=50_000)), swarm.treasury)
    with swarm.reverts("InsufficientReserve"):
        swarm.send(create(default_params(now, budget=10**30)), swarm.treasury)


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


def test_views_agree_with_python_encodings(swarm: Swarm) -> None:
    peer, content, salt = swarm.w3.eth.accounts[3], keccak(text="delta"), keccak(text="salt")
    coordinator = swarm.coordinator.functions
    assert coordinator.commitmentFor(peer, 7, content, salt).call() == chain.commitment(peer, 7, content, salt)
    roots = [keccak(text=str(i)) for i in range(4)]
    assert coordinator.tupleHashOf(*roots).call() == chain.tuple_hash(*roots)
    tuple_ = chain.tuple_hash(*roots)
    assert coordinator.sealFor(3, 7, peer, tuple_, salt).call() == chain.attestation_seal(3, 7, peer, tuple_, salt)
    assert coordinator.DISSENT_REASON().call() == chain.DISSENT_REASON
    assert max(Reason) < chain.DISSENT_REASON
