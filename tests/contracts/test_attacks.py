"""The attacks of issue 16, each played on anvil through the real contracts: the attacker gains
nothing and the honest outcome stands. Every test here failed on the previous Coordinator (the
failure each showed is in its docstring).

Setup unless a test says otherwise: TEST_TERMS (100 s windows, quorum 60 %, 1,000 tokens per
round of which validators get 10 %, peer stake 100, validator slash 500, absence slash 100)."""

from __future__ import annotations

from web3.exceptions import ContractCustomError

from harness import chaintime
from loraswarm.protocol import chain
from loraswarm.protocol.codes import Reason
from tests.contracts.harness import TOKEN_UNIT, Swarm, build_outcome

UNIT = TOKEN_UNIT


def attempt(swarm: Swarm, call: object, sender: str) -> str | None:
    """Send; None on success, else the custom error's name (the attacker tries everything)."""
    try:
        swarm.send(call, sender)
    except ContractCustomError as exc:
        return swarm.error_of(exc)
    return None


def test_a_slash_never_reaches_another_tasks_stake_or_weight(anvil: Swarm) -> None:
    """Finding 1. A validator alone in a thin task finalizes slash leaves against a peer and a
    validator of another task and against an account that never registered anywhere.
    Old contract: the victims lost stake (900 != 1000 tokens)."""
    swarm = anvil
    attacker, victim, victim_validator, stranger = swarm.w3.eth.accounts[1:5]
    thin, busy = swarm.create_task(), swarm.create_task()
    swarm.join_validator(thin, attacker)
    swarm.join_peer(busy, victim)
    swarm.join_validator(busy, victim_validator)
    swarm.grant(stranger)
    swarm.stake(stranger, 1_000 * UNIT)
    outcome = build_outcome(thin, 0, [], [(victim, 100 * UNIT, Reason.NORM_BOUND),
                                          (victim_validator, 500 * UNIT, Reason.NORM_BOUND),
                                          (stranger, 100 * UNIT, Reason.NORM_BOUND)])
    swarm.attest_all(thin, 0, [(attacker, outcome)])
    assert swarm.round_info(thin, 0)[0] == chain.RoundStatus.FINALIZED
    victims = (victim, victim_validator, stranger)
    stakes = [swarm.stake_of(v) for v in victims]
    weight, balance = swarm.live_weight(busy), swarm.balance(attacker)
    for index in range(3):
        with swarm.reverts("NotSlashable"):
            swarm.execute_slash(thin, 0, outcome, index, attacker)
    assert [swarm.stake_of(v) for v in victims] == stakes
    assert swarm.participant(busy, victim)["peerStake"] == 100 * UNIT
    assert swarm.live_weight(busy) == weight
    assert swarm.balance(attacker) == balance and swarm.slash_pool(thin) == 0


def test_leave_and_reregister_cannot_drain_an_honest_tuples_support(anvil: Swarm) -> None:
    """Finding 2. A validator that opened the honest tuple leaves and re-registers in a loop to
    subtract its weight from the tuple again and again. Old contract: support drained to 0 and
    the honest quorum could not finalize."""
    swarm = anvil
    v1, v2, v3, attacker = swarm.w3.eth.accounts[1:5]
    task = swarm.create_task()
    for validator in (v1, v2, v3, attacker):
        swarm.join_validator(task, validator)
    good = build_outcome(task, 0, [], [])
    swarm.enter(task, 0, chain.Phase.ATTEST)
    for validator in (v1, v2, v3, attacker):
        swarm.seal(task, 0, validator, good)
    swarm.enter_open(task, 0)
    swarm.attest(task, 0, v1, good)
    swarm.attest(task, 0, attacker, good)
    errors = []
    for _ in range(3):
        errors.append(attempt(swarm, swarm.coordinator.functions.leave(task), attacker))
        errors.append(attempt(swarm, swarm.coordinator.functions.registerValidator(task, 1_000 * UNIT), attacker))
    assert errors[:2] == [None, "ExitPending"], errors
    assert swarm.support(task, 0, good) == (2_000 * UNIT, False)
    # The attacker's weight left the live weight, not round 0's denominator: 3,000 of 4,000.
    assert swarm.live_weight(task) == 3_000 * UNIT
    assert swarm.coordinator.functions.quorumWeight(task, 0).call() == 4_000 * UNIT
    swarm.attest(task, 0, v2, good)
    assert swarm.round_info(task, 0)[0] == chain.RoundStatus.FINALIZED


def test_a_peer_that_commits_and_leaves_stays_slashable_for_the_round(anvil: Swarm) -> None:
    """Finding 3b. A peer commits a bad update and leaves in the same round. Old contract: its
    locked stake read 0 at once (what validators size the slash by), and it was free to go."""
    swarm = anvil
    peer, v1, v2, keeper = (swarm.w3.eth.accounts[i] for i in (1, 2, 3, 9))
    task = swarm.create_task()
    swarm.join_peer(task, peer)
    swarm.join_validator(task, v1)
    swarm.join_validator(task, v2)
    swarm.enter(task, 0, chain.Phase.COMMIT)
    swarm.commit(task, 0, peer)
    receipt = swarm.leave(task, peer)
    exit_requested = swarm.event(receipt, "ExitRequested")
    assert exit_requested["round"] == 0 and exit_requested["releaseAt"] == swarm.windows(task, 1)[3]
    part = swarm.participant(task, peer)
    assert part["peerStake"] == 100 * UNIT and part["exiting"] and part["exitRound"] == 0
    # The stake stays locked and the peer stays bound: no unstake, no other task, no new round.
    with swarm.reverts("InsufficientFreeStake"):
        swarm.send(swarm.staking.functions.requestUnstake(1_000 * UNIT), peer)
    with swarm.reverts("BusyInAnotherTask"):
        swarm.send(swarm.coordinator.functions.registerPeer(swarm.create_task()), peer)
    with swarm.reverts("ReleaseNotReady"):
        swarm.send(swarm.coordinator.functions.release(task), peer)
    outcome = build_outcome(task, 0, [], [(peer, 100 * UNIT, Reason.NORM_BOUND)])
    swarm.attest_all(task, 0, [(v1, outcome), (v2, outcome)])
    swarm.enter(task, 1, chain.Phase.COMMIT)
    with swarm.reverts("NotEligible"):
        swarm.commit(task, 1, peer)
    stake = swarm.stake_of(peer)
    swarm.execute_slash(task, 0, outcome, 0, keeper)
    assert swarm.stake_of(peer) == stake - 100 * UNIT
    assert swarm.balance(keeper) == chain.slash_bounty(100 * UNIT)
    swarm.enter(task, 1, chain.Phase.FAILED)  # the end of round 1: round 0's slash deadline
    receipt = swarm.send(swarm.coordinator.functions.release(task), peer)
    assert swarm.event(receipt, "ParticipantLeft")["released"] == 0
    assert swarm.coordinator.functions.activeTask(peer).call() == 0


def test_stake_added_after_sealing_buys_no_weight(anvil: Swarm) -> None:
    """Finding 5. A validator seals a self-serving tuple with the minimum stake, leaves and
    re-registers with 200 times more, then opens; another registers a large stake during the
    round and tries to seal. Old contract: the re-registered weight was read at opening and the
    attacker finalized its own tuple alone (support [0, isFinal=True])."""
    swarm = anvil
    v1, v2, v3, attacker, latecomer = swarm.w3.eth.accounts[1:6]
    task = swarm.create_task(validator_stake=100 * UNIT)
    for validator in (v1, v2, v3):
        swarm.join_validator(task, validator)
    swarm.join_validator(task, attacker, 100 * UNIT)
    swarm.grant(attacker, 20_000 * UNIT)
    swarm.stake(attacker, 20_000 * UNIT)
    good = build_outcome(task, 0, [], [])
    bad = build_outcome(task, 0, [(attacker, 900 * UNIT)], [], label="bad")
    swarm.enter(task, 0, chain.Phase.ATTEST)
    swarm.seal(task, 0, attacker, bad)
    for validator in (v1, v2, v3):
        swarm.seal(task, 0, validator, good)
    assert attempt(swarm, swarm.coordinator.functions.leave(task), attacker) is None
    register = swarm.coordinator.functions.registerValidator(task, 20_000 * UNIT)
    assert attempt(swarm, register, attacker) == "ExitPending"
    swarm.join_validator(task, latecomer, 20_000 * UNIT)
    with swarm.reverts("NotEligible"):  # not in round 0's weight snapshot
        swarm.seal(task, 0, latecomer, bad)
    swarm.enter_open(task, 0)
    swarm.attest(task, 0, attacker, bad)
    assert swarm.support(task, 0, bad) == (100 * UNIT, False)
    swarm.attest(task, 0, v1, good)
    swarm.attest(task, 0, v2, good)
    assert swarm.round_info(task, 0)[0] == chain.RoundStatus.FINALIZED
    assert swarm.support(task, 0, good)[1] and not swarm.support(task, 0, bad)[1]
    with swarm.reverts("NotFinalAttester"):
        swarm.claim_validator(task, 0, attacker)
    # Honest validators share the validators' 100 tokens by their seal weights over 3,100.
    before = swarm.balance(v1)
    swarm.claim_validator(task, 0, v1)
    assert swarm.balance(v1) - before == chain.validator_pay(100 * UNIT, 1_000 * UNIT, 3_100 * UNIT)


def test_a_dissenter_is_slashed_cannot_run_and_its_executor_is_paid(anvil: Swarm) -> None:
    """Finding 6: dissent is punished in practice. A validator opens a wrong tuple and leaves at
    once. Old contract: its stake was unlocked by `leave` and could be unstaked (requestUnstake
    did not revert); the executor of a dissent slash got nothing (balance 0, not 25 tokens)."""
    swarm = anvil
    v1, v2, dissenter, keeper = (swarm.w3.eth.accounts[i] for i in (1, 2, 3, 9))
    task = swarm.create_task()
    for validator in (v1, v2, dissenter):
        swarm.join_validator(task, validator)
    good, bad = build_outcome(task, 0, [], []), build_outcome(task, 0, [], [], label="bad")
    swarm.enter(task, 0, chain.Phase.ATTEST)
    swarm.seal(task, 0, dissenter, bad)
    swarm.attest_all(task, 0, [(v1, good), (v2, good)])
    swarm.attest(task, 0, dissenter, bad)
    swarm.leave(task, dissenter)
    with swarm.reverts("InsufficientFreeStake"):
        swarm.send(swarm.staking.functions.requestUnstake(1_000 * UNIT), dissenter)
    with swarm.reverts("NotSlashable"):  # an honest validator is not
        swarm.slash_validator(task, 0, v1, keeper)
    # Opened after finalization, its tuple got no support: judged once the window closed (an
    # unopened seal could still open the final tuple until then).
    with swarm.reverts("RoundNotExpired"):
        swarm.slash_validator(task, 0, dissenter, keeper)
    swarm.enter(task, 0, chain.Phase.FAILED)
    receipt = swarm.slash_validator(task, 0, dissenter, keeper)
    slashed = swarm.event(receipt, "SlashExecuted")
    assert (slashed["reason"], slashed["amount"], slashed["executor"]) == (chain.DISSENT_REASON, 500 * UNIT, keeper)
    assert swarm.balance(keeper) == chain.slash_bounty(500 * UNIT) == 25 * UNIT
    assert swarm.slash_pool(task) == 475 * UNIT
    assert swarm.participant(task, dissenter)["validatorStake"] == 500 * UNIT
    with swarm.reverts("AlreadySlashed"):
        swarm.slash_validator(task, 0, dissenter, keeper)


def test_an_absent_validator_is_ejected_and_stops_blocking_the_quorum(anvil: Swarm) -> None:
    """Finding 6: stake that never seals must not block finalization for free. A validator with
    half the weight never attests: rounds fail while it counts. Old contract: it could not be
    slashed at all (slashDissenter reverted NotADissenter)."""
    swarm = anvil
    v1, v2, absent, keeper = (swarm.w3.eth.accounts[i] for i in (1, 2, 3, 9))
    task = swarm.create_task()
    swarm.join_validator(task, v1)
    swarm.join_validator(task, v2)
    swarm.join_validator(task, absent, 2_000 * UNIT)
    swarm.attest_all(task, 0, [(v1, build_outcome(task, 0, [], [])), (v2, build_outcome(task, 0, [], []))])
    assert swarm.round_info(task, 0)[0] == chain.RoundStatus.OPEN  # 2,000 of 4,000 < 60 %
    swarm.enter(task, 0, chain.Phase.FAILED)
    stake = swarm.stake_of(absent)
    receipt = swarm.slash_validator(task, 0, absent, keeper)
    assert swarm.event(receipt, "SlashExecuted")["reason"] == chain.ABSENCE_REASON
    assert swarm.event(receipt, "ExitRequested")["forced"]
    assert swarm.stake_of(absent) == stake - 100 * UNIT
    assert swarm.balance(keeper) == chain.slash_bounty(100 * UNIT)
    # Ejected during round 1: out of the weight from round 2's snapshot on.
    assert swarm.coordinator.functions.quorumWeight(task, 1).call() == 4_000 * UNIT
    assert swarm.coordinator.functions.quorumWeight(task, 2).call() == 2_000 * UNIT
    outcome = build_outcome(task, 2, [], [])
    swarm.enter(task, 2, chain.Phase.ATTEST)
    with swarm.reverts("NotEligible"):
        swarm.seal(task, 2, absent, outcome)
    swarm.attest_all(task, 2, [(v1, outcome), (v2, outcome)])
    assert swarm.round_info(task, 2)[0] == chain.RoundStatus.FINALIZED


def test_funds_that_arrive_after_judging_wait_for_the_next_round(anvil: Swarm) -> None:
    """Finding 7: a slash executed and a top-up made after the validators read the available
    pool at their pinned block. Old contract: the round's pool grew to 1,100 tokens that its
    reward tree (built on 1,000) could never pay out."""
    swarm = anvil
    v1, v2, peer, cheat, funder, keeper = (swarm.w3.eth.accounts[i] for i in (1, 2, 3, 4, 5, 9))
    task = swarm.create_task()
    swarm.join_validator(task, v1)
    swarm.join_validator(task, v2)
    swarm.join_peer(task, peer)
    swarm.join_peer(task, cheat)
    round0 = build_outcome(task, 0, [(peer, 900 * UNIT)], [(cheat, 100 * UNIT, Reason.NORM_BOUND)])
    swarm.attest_all(task, 0, [(v1, round0), (v2, round0)])
    available = min(1_000 * UNIT, swarm.budget(task)) + swarm.slash_pool(task)  # read at round 1's pinned block
    round1 = build_outcome(task, 1, [(peer, available - chain.validator_pool(available, 1_000))], [])
    swarm.enter(task, 1, chain.Phase.ATTEST)
    swarm.execute_slash(task, 0, round0, 0, keeper)
    swarm.grant(funder, 300 * UNIT)
    swarm.send(swarm.token.functions.approve(swarm.coordinator.address, 300 * UNIT), funder)
    swarm.send(swarm.coordinator.functions.fundTask(task, 300 * UNIT), funder)
    held = swarm.budget(task) + swarm.slash_pool(task)
    receipt = swarm.attest_all(task, 1, [(v1, round1), (v2, round1)])[-1]
    finalized = swarm.event(receipt, "RoundFinalized")
    assert finalized["peerPool"] == 900 * UNIT == swarm.round_info(task, 1)[3]
    # The round took its attested pool and the validators' share of what is available now;
    # everything else (most of the late slash, all of the top-up) stays with the task.
    assert swarm.budget(task) + swarm.slash_pool(task) == held - 900 * UNIT - finalized["validatorPool"]
    swarm.claim(task, 1, round1, 0)
    assert swarm.round_info(task, 1)[3] == 0


def test_an_empty_round_pays_validators_their_share_only(anvil: Swarm) -> None:
    """Finding 7: with no peer to pay, validators used to share the whole pool. Old contract: the
    empty round took 1,000 tokens from the budget (9,000 left, not 9,900)."""
    swarm = anvil
    v1, v2 = swarm.w3.eth.accounts[1:3]
    task = swarm.create_task()
    swarm.join_validator(task, v1)
    swarm.join_validator(task, v2)
    outcome = build_outcome(task, 0, [], [])
    assert outcome.peer_pool == 0
    swarm.attest_all(task, 0, [(v1, outcome), (v2, outcome)])
    assert swarm.budget(task) == 9_900 * UNIT
    for validator in (v1, v2):
        before = swarm.balance(validator)
        swarm.claim_validator(task, 0, validator)
        assert swarm.balance(validator) - before == 50 * UNIT


def test_validators_are_paid_even_when_the_next_round_fails(anvil: Swarm) -> None:
    """Finding 7: validators were paid in the next round's reward tree, so a failed next round
    cost them their pay. Old contract: no on-chain validator pay (no claimValidator)."""
    swarm = anvil
    v1, v2, peer = swarm.w3.eth.accounts[1:4]
    task = swarm.create_task()
    swarm.join_validator(task, v1)
    swarm.join_validator(task, v2)
    swarm.join_peer(task, peer)
    outcome = build_outcome(task, 0, [(peer, 900 * UNIT)], [])
    swarm.attest_all(task, 0, [(v1, outcome), (v2, outcome)])
    swarm.enter(task, 1, chain.Phase.FAILED)
    swarm.send(swarm.coordinator.functions.markFailed(task, 1), peer)
    before = swarm.balance(v1)
    swarm.claim_validator(task, 0, v1)
    assert swarm.balance(v1) - before == 50 * UNIT
    with swarm.reverts("AlreadyClaimed"):
        swarm.claim_validator(task, 0, v1)


def test_unclaimed_rewards_and_a_closed_tasks_budget_come_back(anvil: Swarm) -> None:
    """Finding 7: rewards nobody claims and the budget of a finished task were locked forever.
    Old contract: there was no way out (no sweep, no close, no withdrawal)."""
    swarm = anvil
    v1, v2, peer, keeper = (swarm.w3.eth.accounts[i] for i in (1, 2, 3, 9))
    owner, coordinator = swarm.treasury, swarm.coordinator.functions
    task = swarm.create_task()
    swarm.join_validator(task, v1)
    swarm.join_validator(task, v2)
    swarm.join_peer(task, peer)
    outcome = build_outcome(task, 0, [(peer, 900 * UNIT)], [])
    swarm.attest_all(task, 0, [(v1, outcome), (v2, outcome)])
    swarm.claim_validator(task, 0, v1)
    with swarm.reverts("TaskNotClosed"):  # the owner cannot touch a running task's money
        swarm.send(coordinator.withdrawBudget(task), owner)
    with swarm.reverts("ClaimWindowOpen"):
        swarm.send(coordinator.sweep(task, 0), keeper)
    swarm.past_claims(task, 0)
    with swarm.reverts("ClaimExpired"):
        swarm.claim(task, 0, outcome, 0)
    budget = swarm.budget(task)
    receipt = swarm.send(coordinator.sweep(task, 0), keeper)
    assert swarm.event(receipt, "RoundSwept")["amount"] == 950 * UNIT  # the peer's 900 and v2's 50
    assert swarm.budget(task) == budget + 950 * UNIT
    with swarm.reverts("AlreadySwept"):
        swarm.send(coordinator.sweep(task, 0), keeper)
    last = swarm.current_round(task)
    receipt = swarm.send(coordinator.closeTask(task), owner)
    assert swarm.event(receipt, "TaskEnded")["lastRound"] == last
    swarm.enter(task, last + 1, chain.Phase.COMMIT)
    with swarm.reverts("TaskClosed"):
        swarm.commit(task, last + 1, peer)
    with swarm.reverts("BudgetLocked"):
        swarm.send(coordinator.withdrawBudget(task), owner)
    attest_end = swarm.windows(task, last)[3]
    chaintime.travel_to(swarm.w3, attest_end + int(swarm.params(task)["claimWindow"]))
    reserve, left = int(coordinator.reserve().call()), swarm.budget(task) + swarm.slash_pool(task)
    swarm.send(coordinator.withdrawBudget(task), owner)
    assert int(coordinator.reserve().call()) == reserve + left and swarm.budget(task) == 0
    before = swarm.balance(owner)
    swarm.send(coordinator.withdrawReserve(owner, reserve + left), owner)
    assert swarm.balance(owner) - before == reserve + left


def test_closing_a_task_slashes_no_validator_for_the_rounds_after_it(anvil: Swarm) -> None:
    """Review of the redesign: after the task's last round nobody can seal, so nobody is absent.
    Before the fix, the owner closed a task and every running validator was slashed for absence
    in the round after the last (and the stayers twice), the slashes flowing to the reserve the
    owner withdraws."""
    swarm = anvil
    v1, v2, keeper = (swarm.w3.eth.accounts[i] for i in (1, 2, 9))
    task = swarm.create_task()
    swarm.join_validator(task, v1)
    swarm.join_validator(task, v2)
    outcome = build_outcome(task, 0, [], [])
    swarm.attest_all(task, 0, [(v1, outcome), (v2, outcome)])
    swarm.send(swarm.coordinator.functions.closeTask(task), swarm.treasury)
    swarm.enter(task, 1, chain.Phase.ATTEST)
    with swarm.reverts("TaskClosed"):
        swarm.seal(task, 1, v1, build_outcome(task, 1, [], []))
    swarm.enter(task, 1, chain.Phase.FAILED)
    for validator in (v1, v2):
        with swarm.reverts("NotSlashable"):
            swarm.slash_validator(task, 1, validator, keeper)
    assert [swarm.participant(task, v)["validatorStake"] for v in (v1, v2)] == [1_000 * UNIT] * 2


def test_a_role_slashed_to_nothing_cannot_register_again_to_dodge_a_pending_slash(anvil: Swarm) -> None:
    """Review of the redesign: with a validator slash as large as the stake, a dissenter slashed
    to zero registered again at once (the check was `stake != 0`), which reset its join time and
    made its pending slash of another round NotSlashable. A role registers once until release."""
    swarm = anvil
    v1, v2, cheat, keeper = (swarm.w3.eth.accounts[i] for i in (1, 2, 3, 9))
    task = swarm.create_task(validator_slash=1_000 * UNIT)
    for validator in (v1, v2, cheat):
        swarm.join_validator(task, validator)
    for round_ in (0, 1):  # it dissents in two rounds
        good, bad = build_outcome(task, round_, [], []), build_outcome(task, round_, [], [], label="bad")
        swarm.enter(task, round_, chain.Phase.ATTEST)
        swarm.seal(task, round_, cheat, bad)
        swarm.attest_all(task, round_, [(v1, good), (v2, good)])
        swarm.attest(task, round_, cheat, bad)
    swarm.slash_validator(task, 0, cheat, keeper)  # round 0's slash takes all of its stake
    assert swarm.participant(task, cheat)["validatorStake"] == 0
    swarm.grant(cheat, 1_000 * UNIT)
    swarm.stake(cheat, 1_000 * UNIT)
    with swarm.reverts("AlreadyRegistered"):  # fresh stake would have escaped round 1's slash
        swarm.send(swarm.coordinator.functions.registerValidator(task, 1_000 * UNIT), cheat)
