"""Phases that end once everyone has acted (TaskParams.phasesEndEarly), played on anvil through
the real contracts, and the attacks on them: nobody can end a phase that still waits for someone
else, a finalized round's late openers keep their window after `startRound` began the next one,
and a seal left unopened is still slashed when the rounds after it run fast.

Setup: TEST_TERMS (100 s windows: commit 100, reveal 100, seal 50, open 50; quorum 60 %) with
phases_end_early, three peers and three validators of 1,000 tokens registered before the start."""

from __future__ import annotations

from typing import Any

from web3.logs import DISCARD

from harness import chaintime
from loraswarm.protocol import chain
from loraswarm.protocol.schedule import Schedule
from tests.contracts.harness import TOKEN_UNIT, Outcome, Swarm, build_outcome, salt_of, update_values

UNIT = TOKEN_UNIT


class Scene:
    def __init__(self, swarm: Swarm, **terms: int) -> None:
        self.swarm = swarm
        accounts = swarm.w3.eth.accounts
        self.peers, self.validators = list(accounts[1:4]), list(accounts[4:7])
        self.task = swarm.create_task(phases_end_early=True, **terms)
        for peer in self.peers:
            swarm.join_peer(self.task, peer)
        for validator in self.validators:
            swarm.join_validator(self.task, validator)

    def send(self, call: Any, sender: str) -> tuple[int, dict[str, Any] | None]:
        """(the block's timestamp, the PhaseEnded event's args or None)."""
        receipt = self.swarm.send(call, sender)
        logs = self.swarm.coordinator.events.PhaseEnded().process_receipt(receipt, errors=DISCARD)
        stamp = int(self.swarm.w3.eth.get_block(receipt["blockNumber"])["timestamp"])
        return stamp, (dict(logs[0]["args"]) if logs else None)

    def commit(self, round_: int, peer: str) -> tuple[int, dict[str, Any] | None]:
        value = self.swarm.commitment(self.task, round_, peer)
        return self.send(self.swarm.coordinator.functions.commit(self.task, round_, value), peer)

    def reveal(self, round_: int, peer: str) -> tuple[int, dict[str, Any] | None]:
        return self.send(self.swarm.coordinator.functions.reveal(update_values(self.task, round_, peer)), peer)

    def seal(self, round_: int, validator: str, outcome: Outcome) -> tuple[int, dict[str, Any] | None]:
        value = chain.attestation_seal(self.task, round_, validator, outcome.tuple_hash,
                                       salt_of(validator, round_))
        return self.send(self.swarm.coordinator.functions.sealAttestation(self.task, round_, value), validator)

    def start(self, round_: int, sender: str) -> tuple[int, dict[str, Any] | None]:
        return self.send(self.swarm.coordinator.functions.startRound(self.task, round_), sender)

    def open(self, round_: int, validator: str, outcome: Outcome) -> tuple[int, dict[str, Any] | None]:
        call = self.swarm.coordinator.functions.attest(self.task, round_, *outcome.args, salt_of(validator, round_))
        return self.send(call, validator)

    def outcome(self, round_: int) -> Outcome:
        return build_outcome(self.task, round_, [(p, 100 * UNIT) for p in self.peers], [])

    def at(self, timestamp: int) -> None:
        if chaintime.now(self.swarm.w3) < timestamp:
            chaintime.travel_to(self.swarm.w3, timestamp)

    def fast_round(self, round_: int, open_with: list[str]) -> Outcome:
        """Every peer commits, reveals and every validator seals as soon as it can (the reveal
        window runs its full length); `open_with` open; the round finalizes. Its commit window
        must be open already."""
        for peer in self.peers:
            stamp, _ = self.commit(round_, peer)
        self.at(stamp + 1)
        for peer in self.peers:
            self.reveal(round_, peer)
        self.at(self.swarm.windows(self.task, round_)[2])
        outcome = self.outcome(round_)
        for validator in self.validators:
            stamp, _ = self.seal(round_, validator, outcome)
        self.at(stamp + 1)
        for validator in open_with:
            self.open(round_, validator, outcome)
        assert self.swarm.round_info(self.task, round_)[0] == chain.RoundStatus.FINALIZED
        return outcome


def test_each_phase_ends_once_everyone_it_waits_for_has_acted(anvil: Swarm) -> None:
    """Commit ends once every registered peer committed, seal once the whole validator snapshot
    sealed (each at the next second), and a finalized round's open window once anyone starts the
    next round: the round takes its reveal window and seconds, not its 350-second period. The
    reveal window runs its full length after the last reveal (the deltas spread in it)."""
    scene, swarm = Scene(anvil), anvil
    static = swarm.windows(scene.task, 0)
    scene.at(static[0] + 1)
    for peer in scene.peers[:2]:
        assert scene.commit(0, peer)[1] is None
    assert swarm.windows(scene.task, 0) == static  # a peer is still to commit: nothing moved
    stamp, ended = scene.commit(0, scene.peers[2])
    assert ended == {"taskId": scene.task, "window": 1, "begins": stamp + 1}
    assert swarm.windows(scene.task, 0)[1:3] == (stamp + 1, stamp + 101)
    scene.at(stamp + 1)
    assert [scene.reveal(0, p)[1] for p in scene.peers] == [None, None, None]
    assert swarm.windows(scene.task, 0)[2] == stamp + 101
    scene.at(stamp + 101)
    outcome = scene.outcome(0)
    assert [scene.seal(0, v, outcome)[1] for v in scene.validators[:2]] == [None, None]
    stamp, ended = scene.seal(0, scene.validators[2], outcome)
    assert ended is not None and (ended["window"], ended["begins"]) == (3, stamp + 1)
    scene.at(stamp + 1)
    for validator in scene.validators[:2]:
        scene.open(0, validator, outcome)
    assert swarm.round_info(scene.task, 0)[0] == chain.RoundStatus.FINALIZED
    stamp, ended = scene.start(1, scene.validators[2])
    assert ended is not None and (ended["window"], ended["begins"]) == (4, stamp)
    assert swarm.windows(scene.task, 1)[:2] == (stamp, stamp + 100)
    with swarm.reverts("NotStartable"):  # once only
        scene.start(1, scene.peers[0])
    assert stamp - static[0] < 130 < static[3] - static[0]
    assert swarm.current_round(scene.task) == 1


def test_nobody_can_end_a_phase_that_still_waits_for_someone(anvil: Swarm) -> None:
    """Two colluding peers commit and reveal at once, one of them leaves and a sybil registers
    mid-window; a validator that registers mid-round tries to seal; a peer commits to the next
    round before the quorum. Every window still waits for the honest peer (validator), which
    acts late in it and is counted: the attackers end nothing early."""
    scene, swarm = Scene(anvil), anvil
    honest, colluders = scene.peers[0], scene.peers[1:]
    static = swarm.windows(scene.task, 0)
    scene.at(static[0] + 1)
    for peer in colluders:
        scene.commit(0, peer)
    swarm.leave(scene.task, colluders[0])  # still counted until its release, rounds later
    sybil = swarm.w3.eth.accounts[8]
    swarm.join_peer(scene.task, sybil)
    scene.commit(0, sybil)
    assert swarm.windows(scene.task, 0) == static
    with swarm.reverts("AlreadyCommitted"):
        scene.commit(0, colluders[1])
    scene.at(static[1] - 5)
    stamp, ended = scene.commit(0, honest)
    assert ended is not None and ended["begins"] == stamp + 1
    scene.at(stamp + 1)
    for peer in (*colluders, sybil):
        assert scene.reveal(0, peer)[1] is None
    reveal_end = swarm.windows(scene.task, 0)[2]
    scene.at(reveal_end - 5)
    assert scene.reveal(0, honest)[1] is None
    scene.at(reveal_end)
    late = swarm.w3.eth.accounts[9]
    swarm.join_validator(scene.task, late)
    outcome = scene.outcome(0)
    with swarm.reverts("NotEligible"):
        scene.seal(0, late, outcome)
    for validator in scene.validators[1:]:
        assert scene.seal(0, validator, outcome)[1] is None
    _, _, reveal_end, attest_end = swarm.windows(scene.task, 0)
    seal_end = chain.seal_end(reveal_end, attest_end)
    with swarm.reverts("NotInCommitWindow"):  # round 1 has not begun
        scene.commit(1, colluders[1])
    with swarm.reverts("NotStartable"):  # nor can it, before round 0's openings
        scene.start(1, colluders[1])
    scene.at(seal_end - 5)
    assert scene.seal(0, scene.validators[0], outcome)[1] is not None


def test_late_openers_keep_their_window_after_the_next_round_began(anvil: Swarm) -> None:
    """The quorum finalizes round 0 and a peer starts round 1 at once; the third validator opens
    the final tuple afterwards, inside round 0's open window: it is paid its share and cannot be
    slashed as absent or dissenting. An opening of an unfinalized round cannot be started past."""
    scene, swarm = Scene(anvil), anvil
    scene.at(swarm.windows(scene.task, 0)[0] + 1)
    for peer in scene.peers:
        scene.commit(0, peer)
    with swarm.reverts("NotStartable"):
        scene.start(1, scene.peers[0])
    scene.at(chaintime.now(swarm.w3) + 1)
    for peer in scene.peers:
        scene.reveal(0, peer)
    scene.at(swarm.windows(scene.task, 0)[2])
    outcome = scene.outcome(0)
    for validator in scene.validators:
        stamp, _ = scene.seal(0, validator, outcome)
    scene.at(stamp + 1)
    scene.open(0, scene.validators[0], outcome)
    with swarm.reverts("RoundNotFinalized"):  # no quorum yet: the open window stays
        scene.start(1, scene.peers[0])
    scene.open(0, scene.validators[1], outcome)
    stamp, ended = scene.start(1, scene.peers[0])
    assert ended is not None and ended["window"] == 4
    open_end = swarm.windows(scene.task, 0)[3]
    assert open_end > stamp
    scene.at(open_end - 3)
    late = scene.validators[2]
    scene.open(0, late, outcome)
    swarm.claim_validator(scene.task, 0, late)
    assert swarm.coordinator.functions.isValidatorClaimed(scene.task, 0, late).call()
    scene.at(open_end + 1)
    with swarm.reverts("NotSlashable"):
        swarm.slash_validator(scene.task, 0, late, scene.peers[0])


def test_a_seal_left_unopened_is_slashed_even_when_the_next_round_runs_fast(anvil: Swarm) -> None:
    """A validator seals round 0 and never opens, hoping the rounds after it end before round 0's
    open window does (so that its slash deadline would pass first). Round 1 runs fast and
    finalizes inside round 0's open window; round 0's slashes stay open a whole period after its
    openings close (a draft that closed them at round 1's open end left 3 s): the dissent slash
    lands long after round 1 is over. (A 10 s reveal window, so that round 1 fits in round 0's
    open window.)"""
    scene, swarm = Scene(anvil, reveal_s=10), anvil
    scene.at(swarm.windows(scene.task, 0)[0] + 1)
    scene.fast_round(0, open_with=scene.validators[:2])
    lazy = scene.validators[2]
    round0_open_end = swarm.windows(scene.task, 0)[3]
    scene.start(1, scene.peers[0])
    scene.fast_round(1, open_with=scene.validators)
    assert chaintime.now(swarm.w3) < round0_open_end
    with swarm.reverts("RoundNotExpired"):
        swarm.slash_validator(scene.task, 0, lazy, scene.peers[0])
    # Round 1 is over within seconds of round 0's openings; round 0's slashes stay open a period.
    period = sum(swarm.params(scene.task)[k] for k in ("commitWindow", "revealWindow", "attestWindow"))
    assert swarm.windows(scene.task, 1)[3] < round0_open_end + period - 10
    scene.at(round0_open_end + period - 10)
    before = swarm.participant(scene.task, lazy)["validatorStake"]
    swarm.slash_validator(scene.task, 0, lazy, scene.peers[0])
    assert swarm.participant(scene.task, lazy)["validatorStake"] == before - 500 * UNIT


def test_release_and_failure_follow_the_shifted_schedule(anvil: Swarm) -> None:
    """A peer leaves in round 0; round 0 finalizes early, round 1 starts at once and gets no
    quorum. Round 1 can be marked failed once its own open window is over, not before; the
    peer's stake is released exactly when round 0's slashes close (a period after round 0's
    openings), long before the fixed schedule's time for it."""
    scene, swarm = Scene(anvil), anvil
    static0 = swarm.windows(scene.task, 0)
    scene.at(static0[0] + 1)
    leaver = scene.peers[2]
    scene.fast_round(0, open_with=scene.validators)
    # Left during round 0's open window: round 0 is its last round.
    swarm.leave(scene.task, leaver)
    scene.peers = scene.peers[:2]
    scene.start(1, scene.peers[0])
    for peer in scene.peers:
        scene.commit(1, peer)
    attest_end = swarm.windows(scene.task, 1)[3]
    params = swarm.params(scene.task)
    period = sum(params[k] for k in ("commitWindow", "revealWindow", "attestWindow"))
    released_at = swarm.windows(scene.task, 0)[3] + period
    assert attest_end < released_at < static0[3] + period
    with swarm.reverts("RoundNotExpired"):
        swarm.send(swarm.coordinator.functions.markFailed(scene.task, 1), leaver)
    scene.at(attest_end)
    swarm.send(swarm.coordinator.functions.markFailed(scene.task, 1), leaver)
    assert swarm.round_info(scene.task, 1)[0] == chain.RoundStatus.FAILED
    with swarm.reverts("ReleaseNotReady"):
        swarm.send(swarm.coordinator.functions.release(scene.task), leaver)
    scene.at(released_at)
    swarm.send(swarm.coordinator.functions.release(scene.task), leaver)
    assert swarm.participant(scene.task, leaver)["peerStake"] == 0


def test_the_nodes_schedule_rebuilds_the_contracts_from_its_log(anvil: Swarm) -> None:
    """What a node computes from the task's parameters and the PhaseEnded log (protocol.schedule)
    is what the contract holds, at every step of two fast rounds and a slow one: every boundary
    the contract still knows, the seal end and the current round."""
    scene, swarm = Scene(anvil), anvil
    coordinator, task = swarm.coordinator, scene.task

    def check(rounds: range) -> None:
        logs = coordinator.events.PhaseEnded().get_logs(from_block=0, argument_filters={"taskId": task})
        params = swarm.params(task)
        schedule = Schedule(int(params["startTime"]), int(params["commitWindow"]), int(params["revealWindow"]),
                            int(params["attestWindow"]),
                            tuple((int(e["args"]["window"]), int(e["args"]["begins"])) for e in logs))
        now = chaintime.now(swarm.w3)
        assert schedule.round_at(now) == swarm.coordinator.functions.roundAt(task, now).call()
        for round_ in rounds:
            held = swarm.windows(task, round_)
            assert [ours for ours, theirs in zip(schedule.windows(round_), held, strict=True) if theirs] == \
                [theirs for theirs in held if theirs], round_
            sealed = coordinator.functions.sealEnd(task, round_).call()
            assert sealed in (0, schedule.seal_end(round_))

    check(range(3))
    scene.at(swarm.windows(task, 0)[0] + 1)
    for round_ in (0, 1):
        for peer in scene.peers:
            stamp, _ = scene.commit(round_, peer)
            check(range(round_, round_ + 2))
        scene.at(stamp + 1)
        for peer in scene.peers:
            scene.reveal(round_, peer)
        check(range(round_, round_ + 2))
        scene.at(swarm.windows(task, round_)[2])
        outcome = scene.outcome(round_)
        for validator in scene.validators:
            stamp, _ = scene.seal(round_, validator, outcome)
        scene.at(stamp + 1)
        for validator in scene.validators[:2]:
            scene.open(round_, validator, outcome)
        check(range(round_, round_ + 2))
        scene.start(round_ + 1, scene.peers[0])
        check(range(round_, round_ + 3))
    # Round 2 runs on the clock: one peer never commits.
    for peer in scene.peers[:2]:
        scene.commit(2, peer)
    scene.at(swarm.windows(task, 2)[1] + 3)
    check(range(2, 4))
    scene.at(swarm.windows(task, 2)[3] + 3)
    check(range(2, 4))


def test_a_closed_tasks_next_round_cannot_be_started_and_windows_are_bounded(anvil: Swarm) -> None:
    """The owner closes the task in round 0's open window: startRound(1) would move the schedule
    (and with it round 0's deadlines) for a round nobody may commit to. A window longer than
    2^24 s is refused at creation: the schedule's shift (the time early ends saved) could
    otherwise overflow and refuse every phase's last actor (a 32-bit draft did, found in review)."""
    scene, swarm = Scene(anvil), anvil
    scene.at(swarm.windows(scene.task, 0)[0] + 1)
    scene.fast_round(0, open_with=scene.validators[:2])
    swarm.send(swarm.coordinator.functions.closeTask(scene.task), swarm.treasury)
    with swarm.reverts("TaskClosed"):
        scene.start(1, scene.peers[0])
    limit = int(swarm.coordinator.functions.MAX_WINDOW().call())
    assert limit == 2**24 - 1
    swarm.create_task(phases_end_early=True, commit_s=limit)
    with swarm.reverts("WindowTooLong"):
        swarm.create_task(phases_end_early=True, attest_s=limit + 1)
