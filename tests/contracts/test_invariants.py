"""Stateful invariants: a hypothesis rule-based state machine drives the real contracts on an
anvil chain (eth-tester is ~10x slower per call, too slow for hundreds of steps). Two tasks run
side by side, their rounds out of phase, and ten actors register as peers and validators,
commit, seal and open (two competing outcomes per round), leave, release and re-register,
unstake and withdraw, claim, claim validator shares, execute slashes, slash validators, report
equivocations, sweep, mark rounds failed, and the owner closes a task and withdraws its budget,
all in random order with time jumps. A model follows every registration from the receipts alone.

After every step:
- token conservation: all balances add up to the minted supply, the staking contract holds
  exactly the stakes, each account's locked stake is what its registration holds, and the
  coordinator holds exactly what it owes (reserve + budgets + slash pools + what finalized,
  unswept rounds still owe);
- every slash took stake from an account registered in the slashing task for that round, in the
  role at fault, at most the stake it had locked there;
- a tuple's support is the sum of the seal weights of the validators that opened it, which is at
  most the round's quorum denominator (the validator weight when the round began);
- nothing is claimed twice, and finalized rounds never change.

LORASWARM_STATEFUL_EXAMPLES raises the number of runs (CI: the default).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from eth_account import Account
from eth_utils import keccak, to_checksum_address
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from web3.exceptions import ContractCustomError
from web3.logs import DISCARD

from harness import chaintime
from loraswarm.protocol import chain
from loraswarm.protocol.codes import Reason
from tests.contracts.conftest import anvil_swarm
from tests.contracts.harness import (
    TEST_TERMS,
    TOKEN_UNIT,
    Outcome,
    Swarm,
    build_outcome,
    salt_of,
    update_values,
)

EXAMPLES = int(os.environ.get("LORASWARM_STATEFUL_EXAMPLES", "8"))
STEPS_PER_EXAMPLE = 60
ACTORS = 10
STAKED = 5_000 * TOKEN_UNIT  # each actor's stake in escrow at the start
WEIGHTS = (500 * TOKEN_UNIT, 1_000 * TOKEN_UNIT, 1_500 * TOKEN_UNIT)
TERMS = {"validator_stake": 500 * TOKEN_UNIT, "validator_slash": 300 * TOKEN_UNIT, "budget": 5_000 * TOKEN_UNIT,
         "claim_periods": 5}
ZERO = "0x" + "00" * 20


@dataclass
class Role:
    stake: int
    joined: int  # block timestamp of the registration


@dataclass
class Member:
    """A model of one account in one task, kept from receipts."""

    peer: Role | None = None
    validator: Role | None = None
    exit_round: int | None = None


@dataclass
class RoundModel:
    outcomes: dict[str, Outcome]
    sealed: dict[str, tuple[str, int]] = field(default_factory=dict)  # validator -> (choice, seal weight)
    opened: dict[str, str] = field(default_factory=dict)  # validator -> choice, before finalization
    won: str | None = None
    final: tuple[Any, ...] | None = None  # roots and pools at finalization
    denominator: int = 0
    validator_pool: int = 0
    claimed: set[str] = field(default_factory=set)
    validator_claimed: set[str] = field(default_factory=set)
    swept: bool = False


@dataclass
class World:
    swarm: Swarm
    tasks: list[int]
    actors: list[str]
    keys: dict[str, bytes]
    keeper: str
    # (task, account, role, stake, block timestamp) of the registrations every example starts with
    registered: list[tuple[int, str, str, int, int]]
    snapshot: object = None
    steps: int = 0
    # successful actions by kind, over all examples: proof that the run reached the interesting
    # states (finalized rounds, claims, slashes, exits), not only reverts
    done: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with anvil_swarm(tmp_path_factory.mktemp("stateful") / "state") as swarm:
        w3 = swarm.w3
        # Each block one second after the previous one (and explicit jumps), never wall-clock
        # time: a replayed example then sees the same timestamps, which hypothesis requires.
        w3.provider.make_request("anvil_setBlockTimestampInterval", [1])
        w3.provider.make_request("anvil_autoImpersonateAccount", [True])
        keys = {}
        for i in range(ACTORS):
            key = keccak(text=f"stateful actor {i}")
            address = to_checksum_address(Account.from_key(key).address)
            keys[address] = key
            w3.provider.make_request("anvil_setBalance", [address, hex(10**21)])
            swarm.grant(address, STAKED)
            swarm.stake(address, STAKED)
        # Two tasks half a commit window out of phase: one's commits meet the other's reveals.
        tasks = [swarm.create_task(**TERMS), swarm.create_task(start_delay_s=170, **TERMS)]
        actors = list(keys)
        registered = []
        # Actors 4 and 5 start outside any task.
        for task, peers, validators in ((tasks[0], actors[0:3], actors[6:8]), (tasks[1], actors[3:4], actors[8:10])):
            for account in peers:
                receipt = swarm.send(swarm.coordinator.functions.registerPeer(task), account)
                registered.append((task, account, "peer", TEST_TERMS.peer_stake, _timestamp(w3, receipt)))
            for account, weight in zip(validators, WEIGHTS[1:], strict=True):
                receipt = swarm.send(swarm.coordinator.functions.registerValidator(task, weight), account)
                registered.append((task, account, "validator", weight, _timestamp(w3, receipt)))
        yield World(swarm, tasks, actors, keys, w3.eth.accounts[9], registered)


def _timestamp(w3: Any, receipt: Any) -> int:
    return int(w3.eth.get_block(receipt["blockNumber"])["timestamp"])


class ProtocolMachine(RuleBasedStateMachine):
    def __init__(self, world: World) -> None:
        super().__init__()
        self.world, self.swarm = world, world.swarm
        self.w3, self.coordinator = self.swarm.w3, self.swarm.coordinator
        if world.snapshot is not None:
            chaintime.revert(self.w3, world.snapshot)
        world.snapshot = chaintime.snapshot(self.w3)
        self.members: dict[tuple[int, str], Member] = {}
        self.active: dict[str, int] = {}
        self.weights: dict[int, list[tuple[int, int]]] = {t: [] for t in world.tasks}  # (timestamp, change)
        self.rounds: dict[tuple[int, int], RoundModel] = {}
        self.commits: set[tuple[int, int, str]] = set()
        self.slashed: set[bytes] = set()
        self.closed: set[int] = set()
        self.supply = self.swarm.token.functions.totalSupply().call()
        self.windows = {t: self.swarm.windows(t, 0) for t in world.tasks}
        self.period = sum(self.windows[world.tasks[0]][i + 1] - self.windows[world.tasks[0]][i] for i in range(3))
        for task, account, role, stake, joined in world.registered:
            setattr(self.member(task, account), role, Role(stake, joined))
            self.active[account] = task
            if role == "validator":
                self.move_weight(task, joined, stake)

    # -- helpers ---------------------------------------------------------------------------------

    def step(self) -> None:
        self.world.steps += 1

    def send(self, call: Any, sender: str) -> tuple[Any, str | None]:
        """(receipt, None) on success, (None, custom error name) on a revert."""
        try:
            receipt = self.swarm.send(call, sender)
        except ContractCustomError as exc:
            error = self.swarm.error_of(exc)
            self.world.refused[error] += 1
            return None, error
        self.world.done[call.fn_name] += 1
        return receipt, None

    def when(self, receipt: Any) -> int:
        return _timestamp(self.w3, receipt)

    def now(self) -> int:
        return chaintime.now(self.w3)

    def window(self, task: int, round_: int) -> tuple[int, int, int, int]:
        commit_start = self.windows[task][0] + round_ * self.period
        start = self.windows[task]
        return (commit_start, commit_start + start[1] - start[0], commit_start + start[2] - start[0],
                commit_start + start[3] - start[0])

    def current_round(self, task: int) -> int:
        return max(0, (self.now() + 1 - self.windows[task][0]) // self.period)

    def member(self, task: int, account: str) -> Member:
        return self.members.setdefault((task, account), Member())

    def move_weight(self, task: int, when: int, change: int) -> None:
        self.weights[task].append((when, change))

    def denominator(self, task: int, round_: int) -> int:
        """The model's validator weight when the round began."""
        start = self.window(task, round_)[0]
        return sum(change for when, change in self.weights[task] if when < start)

    def took_part(self, task: int, account: str, round_: int, role: str) -> Role | None:
        """The account's role if it was registered in the task for the round (else None)."""
        member = self.members.get((task, account))
        found = None if member is None else getattr(member, role)
        if found is None:
            return None
        commit_start, commit_end, _, _ = self.window(task, round_)
        cutoff = commit_end if role == "peer" else commit_start
        exited = member.exit_round is not None and round_ > member.exit_round
        return found if found.joined < cutoff and not exited else None

    def round_model(self, task: int, round_: int) -> RoundModel:
        """Two outcomes per round: "a" pays the round's committers 50 tokens each and slashes a
        silent peer, a committer (far beyond its stake) and every actor a little (a leaf against
        an account that did not take part must never execute); "b" pays validators."""
        key = (task, round_)
        if key not in self.rounds:
            actors = self.world.actors
            committed = [a for a in actors if (task, round_, a) in self.commits]
            silent = [a for a in actors if (task, round_, a) not in self.commits and self.member(task, a).peer]
            slashes = [(p, 30 * TOKEN_UNIT, Reason.NOT_REVEALED) for p in silent[:1]]
            slashes += [(p, 10**6 * TOKEN_UNIT, Reason.NORM_BOUND) for p in committed[:1]]
            slashes += [(a, 5 * TOKEN_UNIT, Reason.LOSS_GATE) for a in actors]
            a = build_outcome(task, round_, [(p, 50 * TOKEN_UNIT) for p in committed], slashes, "a")
            b = build_outcome(task, round_, [(v, 10 * TOKEN_UNIT) for v in actors[:2]], [], "b")
            self.rounds[key] = RoundModel({"a": a, "b": b})
        return self.rounds[key]

    def finalized(self) -> list[tuple[int, int]]:
        return sorted(k for k, m in self.rounds.items() if m.won is not None)

    def draw_finalized(self, data: st.DataObject, recent: bool = True) -> tuple[int, int] | None:
        """After the step, a finalized (task, round), the latest more often when ``recent``; None
        while no round has finalized."""
        self.step()
        rounds = self.finalized()
        if not rounds:
            return None
        return data.draw(self.recent(rounds) if recent else st.sampled_from(rounds))

    def recent(self, rounds: list[tuple[int, int]]) -> st.SearchStrategy[tuple[int, int]]:
        """A round, the latest ones of each task drawn more often (slashes and claims expire)."""
        latest = [max(r for r in rounds if r[0] == task) for task in {t for t, _ in rounds}]
        return st.sampled_from(latest * 4 + rounds)

    def check_slash(self, receipt: Any, task: int, round_: int, role: str) -> None:
        """A successful slash: the account took part in the round in that role and lost at most
        its stake there; the executor got the bounty."""
        event = self.swarm.event(receipt, "SlashExecuted")
        account, amount = event["account"], event["amount"]
        found = self.took_part(task, account, round_, role)
        assert found is not None, f"{account} slashed in task {task} round {round_} without taking part"
        assert 0 < amount <= found.stake, (amount, found.stake)
        assert event["bounty"] == chain.slash_bounty(amount)
        assert self.when(receipt) < self.window(task, round_ + 1)[3], "slashed after the slash deadline"
        found.stake -= amount
        if role == "validator" and self.member(task, account).exit_round is None:
            ejected = event["reason"] == chain.ABSENCE_REASON
            self.move_weight(task, self.when(receipt), -(found.stake + amount if ejected else amount))
            if ejected:
                self.member(task, account).exit_round = self.swarm.event(receipt, "ExitRequested")["round"]

    # -- time ------------------------------------------------------------------------------------

    @rule(seconds=st.sampled_from([7, 40, 100, 160, 310, 1_000]))
    def advance(self, seconds: int) -> None:
        self.step()
        chaintime.advance(self.w3, seconds)

    @rule(task=st.integers(0, 1), phase=st.sampled_from([0, 2, 2, 3]))
    def next_phase(self, task: int, phase: int) -> None:
        """Jump to the next start of a task's commit window, attest window or open window."""
        self.step()
        task_id = self.world.tasks[task]
        round_ = self.current_round(task_id)
        windows = self.window(task_id, round_)
        start = windows[phase] if phase < 3 else chain.seal_end(windows[2], windows[3])
        if start <= self.now() + 1:
            start += self.period
        chaintime.travel_to(self.w3, start + 1)

    # -- registration ----------------------------------------------------------------------------

    @rule(actor=st.integers(0, ACTORS - 1), task=st.integers(0, 1), weight=st.sampled_from([None, *WEIGHTS]))
    def register(self, actor: int, task: int, weight: int | None) -> None:
        self.step()
        self._register(actor, task, weight)

    def _register(self, actor: int, task: int, weight: int | None) -> None:
        account, task_id = self.world.actors[actor], self.world.tasks[task]
        functions = self.coordinator.functions
        call = functions.registerPeer(task_id) if weight is None else functions.registerValidator(task_id, weight)
        receipt, error = self.send(call, account)
        member = self.member(task_id, account)
        busy = self.active.get(account, task_id) != task_id
        if error is not None:
            assert error in {"AlreadyRegistered", "BusyInAnotherTask", "ExitPending", "TaskClosed",
                             "InsufficientFreeStake"}, error
            assert error in ({"BusyInAnotherTask", "TaskClosed"} if busy else {"AlreadyRegistered", "ExitPending",
                                                                              "TaskClosed", "InsufficientFreeStake"})
            return
        assert not busy and task_id not in self.closed
        assert member.exit_round is None
        self.active[account] = task_id
        when = self.when(receipt)
        if weight is None:
            assert member.peer is None or member.peer.stake == 0
            member.peer = Role(TEST_TERMS.peer_stake, when)
        else:
            assert member.validator is None or member.validator.stake == 0
            member.validator = Role(weight, when)
            self.move_weight(task_id, when, weight)

    @rule(actor=st.integers(0, ACTORS - 1))
    def leave(self, actor: int) -> None:
        self.step()
        self._leave(actor)

    @rule(actor=st.integers(0, ACTORS - 1), task=st.integers(0, 1), weight=st.sampled_from([None, *WEIGHTS]))
    def move_on(self, actor: int, task: int, weight: int | None) -> None:
        """An actor leaves its task, waits for its release and joins a task again."""
        self.step()
        account = self.world.actors[actor]
        if account in self.active:
            self._leave(actor)
            self._release(account, wait=True)
        self._register(actor, task, weight)

    def _leave(self, actor: int) -> None:
        account = self.world.actors[actor]
        task_id = self.active.get(account, self.world.tasks[actor % 2])
        receipt, error = self.send(self.coordinator.functions.leave(task_id), account)
        member = self.member(task_id, account)
        if error is not None:
            assert error in {"NotRegistered", "ExitPending"}, error
            assert (error == "ExitPending") == (member.exit_round is not None and account in self.active)
            return
        assert member.exit_round is None
        when = self.when(receipt)
        if member.validator is not None:
            self.move_weight(task_id, when, -member.validator.stake)
        if when < self.windows[task_id][0]:  # before the start: released at once
            self.release_member(task_id, account)
        else:
            member.exit_round = self.swarm.event(receipt, "ExitRequested")["round"]

    def release_member(self, task: int, account: str) -> None:
        self.members[(task, account)] = Member()
        del self.active[account]

    @rule(data=st.data(), wait=st.booleans())
    def release(self, data: st.DataObject, wait: bool) -> None:
        self.step()
        # accounts that left are drawn more often: release needs a pending exit
        leaving = [a for (_, a), m in self.members.items() if m.exit_round is not None]
        self._release(data.draw(st.sampled_from(leaving * 3 + self.world.actors)), wait)

    def _release(self, account: str, wait: bool) -> None:
        task_id = self.active.get(account, self.world.tasks[self.world.actors.index(account) % 2])
        member = self.member(task_id, account)
        if wait and member.exit_round is not None:
            chaintime.travel_to(self.w3, max(self.now(), self.window(task_id, member.exit_round + 1)[3]))
        receipt, error = self.send(self.coordinator.functions.release(task_id), account)
        if error is not None:
            assert error in {"NoExitPending", "ReleaseNotReady"}, error
            assert (error == "NoExitPending") == (member.exit_round is None)
            return
        assert member.exit_round is not None
        assert self.when(receipt) >= self.window(task_id, member.exit_round + 1)[3], "released before the deadline"
        released = sum(r.stake for r in (member.peer, member.validator) if r is not None)
        assert self.swarm.event(receipt, "ParticipantLeft")["released"] == released
        self.release_member(task_id, account)

    @rule(actor=st.integers(0, ACTORS - 1), tokens=st.integers(1, 3_000), wait=st.booleans())
    def unstake(self, actor: int, tokens: int, wait: bool) -> None:
        """Request an unstake of free stake; with `wait`, sit out the delay (rounds pass
        meanwhile) and withdraw what is unlocking."""
        self.step()
        account = self.world.actors[actor]
        staking = self.swarm.staking.functions
        _, error = self.send(staking.requestUnstake(tokens * TOKEN_UNIT), account)
        assert error in {None, "InsufficientFreeStake"}, error
        if not wait:
            return
        _, _, unlocking, unlock_at = staking.accountOf(account).call()
        chaintime.travel_to(self.w3, max(self.now(), unlock_at) + 1)
        _, error = self.send(staking.withdraw(), account)
        assert error == (None if unlocking else "NothingToWithdraw"), error

    # -- rounds ----------------------------------------------------------------------------------

    @rule(task=st.integers(0, 1), choices=st.lists(st.sampled_from("aaab"), min_size=ACTORS, max_size=ACTORS),
          settle=st.booleans())
    def play_round(self, task: int, choices: list[str], settle: bool) -> None:
        """From the next commit window of a task: its peers commit, then its validators attest;
        with `settle`, everything the round allows follows at once."""
        self.step()
        task_id = self.world.tasks[task]
        round_ = self.current_round(task_id) + 1
        chaintime.travel_to(self.w3, self.window(task_id, round_)[0] + 1)
        for actor in range(ACTORS):
            if self.member(task_id, self.world.actors[actor]).peer is not None:
                self._commit(task_id, actor)
        self._attest_all(task_id, choices)
        if settle and self.rounds.get((task_id, round_), RoundModel({})).won is not None:
            self._settle(task_id, round_)

    @rule(actor=st.integers(0, ACTORS - 1))
    def commit(self, actor: int) -> None:
        self.step()
        self._commit(self.active.get(self.world.actors[actor], self.world.tasks[actor % 2]), actor)

    def _commit(self, task_id: int, actor: int) -> None:
        account = self.world.actors[actor]
        round_ = self.current_round(task_id)
        commitment = self.swarm.commitment(task_id, round_, account)
        _, error = self.send(self.coordinator.functions.commit(task_id, round_, commitment), account)
        if error is None:
            member = self.member(task_id, account)
            assert member.peer is not None and member.peer.stake > 0
            assert member.exit_round is None or round_ <= member.exit_round
            assert (task_id, round_, account) not in self.commits
            self.commits.add((task_id, round_, account))
        else:
            assert error in {"NotInCommitWindow", "NotPeer", "AlreadyCommitted", "NotEligible", "TaskClosed"}, error

    @rule(task=st.integers(0, 1), choices=st.lists(st.sampled_from("aaab"), min_size=ACTORS, max_size=ACTORS))
    def all_validators_attest(self, task: int, choices: list[str]) -> None:
        """Every validator of a task seals, then every one opens: rounds finalize often."""
        self.step()
        self._attest_all(self.world.tasks[task], choices)

    def _attest_all(self, task_id: int, choices: list[str]) -> None:
        for actor, choice in enumerate(choices):
            if self.member(task_id, self.world.actors[actor]).validator is not None:
                self._seal(task_id, actor, choice)
        for actor, choice in enumerate(choices):
            if self.member(task_id, self.world.actors[actor]).validator is not None:
                self._open(task_id, actor, choice)

    @rule(actor=st.integers(0, ACTORS - 1), choice=st.sampled_from("aab"))
    def seal(self, actor: int, choice: str) -> None:
        self.step()
        self._seal(self.active.get(self.world.actors[actor], self.world.tasks[actor % 2]), actor, choice)

    @rule(actor=st.integers(0, ACTORS - 1), choice=st.sampled_from("aab"))
    def open_attestation(self, actor: int, choice: str) -> None:
        self.step()
        self._open(self.active.get(self.world.actors[actor], self.world.tasks[actor % 2]), actor, choice)

    def _seal(self, task: int, actor: int, choice: str) -> None:
        account, round_ = self.world.actors[actor], self.current_round(task)
        reveal_end = self.window(task, round_)[2]
        if self.now() + 1 < reveal_end:  # a validator waits for the attest window
            chaintime.travel_to(self.w3, reveal_end + 1)
        model = self.round_model(task, round_)
        seal = chain.attestation_seal(task, round_, account, model.outcomes[choice].tuple_hash,
                                      salt_of(account, round_))
        receipt, error = self.send(self.coordinator.functions.sealAttestation(task, round_, seal), account)
        role = self.took_part(task, account, round_, "validator")
        if error is not None:
            assert error in {"NotInSealWindow", "NotValidator", "NotEligible", "AlreadySealed", "TaskClosed"}, error
            assert error != "AlreadySealed" or account in model.sealed
            # the model agrees when a validator of the snapshot may not seal
            assert error != "NotEligible" or role is None
            return
        assert role is not None and role.stake > 0 and account not in model.sealed
        weight = self.swarm.event(receipt, "AttestationSealed")["weight"]
        assert weight == role.stake
        model.sealed[account] = (choice, weight)

    def _open(self, task: int, actor: int, choice: str) -> None:
        account, round_ = self.world.actors[actor], self.current_round(task)
        _, _, reveal_end, attest_end = self.window(task, round_)
        if self.now() + 1 < chain.seal_end(reveal_end, attest_end):
            chaintime.travel_to(self.w3, chain.seal_end(reveal_end, attest_end) + 1)
        model = self.round_model(task, round_)
        outcome = model.outcomes[choice]
        before = self.swarm.read([(self.coordinator, "taskInfo", [task])])[0]
        call = self.coordinator.functions.attest(task, round_, *outcome.args, salt_of(account, round_))
        receipt, error = self.send(call, account)
        if error is not None:
            assert error in {"SealMismatch", "NotSealed", "AlreadyAttested", "NotInAttestWindow",
                             "PoolUnavailable"}, error
            if error == "SealMismatch":
                assert model.sealed[account][0] != choice
            if error == "NotSealed":
                assert account not in model.sealed
            return
        assert model.sealed[account][0] == choice, "an attestation opened that its seal does not bind"
        if model.won is not None:
            return  # recorded, adds nothing
        model.opened[account] = choice
        support = sum(weight for v, (c, weight) in model.sealed.items() if model.opened.get(v) == c == choice)
        denominator = self.denominator(task, round_)
        assert support <= denominator, (support, denominator)
        finalized = self.coordinator.events.RoundFinalized().process_receipt(receipt, errors=DISCARD)
        if not finalized:
            assert self.swarm.support(task, round_, outcome) == (support, False)
            assert support * chain.BPS < TEST_TERMS.quorum_bps * denominator
            return
        args = finalized[0]["args"]
        assert (args["support"], args["denominator"]) == (support, denominator)
        assert support * chain.BPS >= TEST_TERMS.quorum_bps * denominator
        budget, slash_pool = before[0][-1], before[1]
        available = min(TEST_TERMS.reward_per_round, budget) + slash_pool
        assert args["validatorPool"] == chain.validator_pool(available, TEST_TERMS.validator_bps)
        model.won, model.denominator, model.validator_pool = choice, denominator, args["validatorPool"]
        model.final = (outcome.rewards.root, outcome.slashes.root, outcome.peer_pool, args["validatorPool"])
        self.world.done["finalize"] += 1

    @rule(task=st.integers(0, 1), back=st.integers(0, 2))
    def mark_failed(self, task: int, back: int) -> None:
        self.step()
        task_id = self.world.tasks[task]
        round_ = max(self.current_round(task_id) - back, 0)
        _, error = self.send(self.coordinator.functions.markFailed(task_id, round_), self.world.keeper)
        model = self.rounds.get((task_id, round_))
        if error is None:
            assert model is None or model.won is None
        else:
            assert error in {"RoundNotExpired", "RoundAlreadyFailed", "RoundAlreadyFinalized"}, error

    # -- money out -------------------------------------------------------------------------------

    @rule(data=st.data())
    def claim(self, data: st.DataObject) -> None:
        if (drawn := self.draw_finalized(data)) is None:
            return
        task, round_ = drawn
        tree = self.rounds[(task, round_)].outcomes[str(self.rounds[(task, round_)].won)].rewards
        self._claim(task, round_, data.draw(st.integers(0, len(tree.values) - 1)),
                    data.draw(st.sampled_from([False, False, False, True])))

    @rule(data=st.data())
    def settle_round(self, data: st.DataObject) -> None:
        """Everything a finalized round allows, at once: every reward leaf and validator share is
        claimed, every slash leaf executed and every actor tried for a validator slash."""
        if (drawn := self.draw_finalized(data)) is not None:
            self._settle(*drawn)

    def _settle(self, task: int, round_: int) -> None:
        model = self.rounds[(task, round_)]
        for index in range(len(model.outcomes[str(model.won)].rewards.values)):
            self._claim(task, round_, index, False)
        for account in sorted(model.sealed):
            self._claim_validator(task, round_, account)
        for index in range(len(model.outcomes[str(model.won)].slashes.values)):
            self._execute_slash(task, round_, index)
        for account in self.world.actors:
            if self.member(task, account).validator is not None or account in model.sealed:
                self._slash_validator(task, round_, account)

    def _claim(self, task: int, round_: int, index: int, forged: bool) -> None:
        model = self.rounds[(task, round_)]
        assert model.won is not None
        tree = model.outcomes[model.won].rewards
        _, _, _, account, amount = tree.values[index]
        if account == ZERO:  # the filler leaf of an empty list
            return
        before = self.swarm.balance(account)
        call = self.coordinator.functions.claim(task, round_, index, amount + int(forged), tree.proof(index))
        _, error = self.send(call, account)
        if forged:
            assert error in {"InvalidProof", "AlreadyClaimed", "ClaimExpired"}, error
        elif error is None:
            assert account not in model.claimed, "a reward was paid twice"
            assert self.swarm.balance(account) - before == amount
            model.claimed.add(account)
        else:  # honest trees pay exactly their peer pool: never PoolExceeded
            assert error in {"AlreadyClaimed", "ClaimExpired"}, error
            assert error != "AlreadyClaimed" or account in model.claimed

    @rule(data=st.data())
    def claim_validator(self, data: st.DataObject) -> None:
        if (drawn := self.draw_finalized(data, recent=False)) is None:
            return
        task, round_ = drawn
        model = self.rounds[(task, round_)]
        self._claim_validator(task, round_, data.draw(st.sampled_from(sorted(model.sealed) + self.world.actors[:2])))

    def _claim_validator(self, task: int, round_: int, account: str) -> None:
        model = self.rounds[(task, round_)]
        assert model.won is not None
        receipt, error = self.send(self.coordinator.functions.claimValidator(task, round_), account)
        opened_final = account in model.sealed and model.sealed[account][0] == model.won and self.swarm.read(
            [(self.coordinator, "attestationOf", [task, round_, account])])[0] == model.outcomes[model.won].tuple_hash
        if error is not None:
            assert error in {"NotFinalAttester", "AlreadyClaimed", "ClaimExpired"}, error
            assert error != "NotFinalAttester" or not opened_final
            assert error != "AlreadyClaimed" or account in model.validator_claimed
            return
        assert opened_final and account not in model.validator_claimed, "a validator share was paid twice"
        amount = self.swarm.event(receipt, "ValidatorRewardClaimed")["amount"]
        assert amount == chain.validator_pay(model.validator_pool, model.sealed[account][1], model.denominator)
        model.validator_claimed.add(account)

    @rule(data=st.data())
    def sweep(self, data: st.DataObject) -> None:
        if (drawn := self.draw_finalized(data, recent=False)) is None:
            return
        task, round_ = drawn
        model = self.rounds[(task, round_)]
        if data.draw(st.booleans()):
            self.swarm.past_claims(task, round_)
        _, error = self.send(self.coordinator.functions.sweep(task, round_), self.world.keeper)
        if error is None:
            assert not model.swept
            model.swept = True
        else:
            assert error in {"ClaimWindowOpen", "AlreadySwept"}, error
            assert (error == "AlreadySwept") == model.swept

    # -- slashes ---------------------------------------------------------------------------------

    @rule(data=st.data())
    def execute_slash(self, data: st.DataObject) -> None:
        if (drawn := self.draw_finalized(data)) is None:
            return
        task, round_ = drawn
        tree = self.rounds[(task, round_)].outcomes[str(self.rounds[(task, round_)].won)].slashes
        self._execute_slash(task, round_, data.draw(st.integers(0, len(tree.values) - 1)))

    def _execute_slash(self, task: int, round_: int, index: int) -> None:
        model = self.rounds[(task, round_)]
        assert model.won is not None
        values = model.outcomes[model.won].slashes.values[index]
        tree = model.outcomes[model.won].slashes
        call = self.coordinator.functions.executeSlash(task, round_, *values[2:], tree.proof(index))
        receipt, error = self.send(call, self.world.keeper)
        key = chain.slash_leaf_key(*values)
        if error is None:
            assert key not in self.slashed
            self.slashed.add(key)
            self.check_slash(receipt, task, round_, "peer")
        else:
            assert error in {"AlreadySlashed", "NotSlashable", "SlashExpired"}, error
            assert (error == "AlreadySlashed") == (key in self.slashed)
            if error == "NotSlashable":
                role = self.took_part(task, str(values[2]), round_, "peer")
                assert role is None or role.stake == 0 or values[3] == 0

    @rule(data=st.data())
    def slash_validator(self, data: st.DataObject) -> None:
        self.step()
        if not self.rounds:
            return
        task, round_ = data.draw(self.recent(sorted(self.rounds)))
        # the task's validators are drawn more often: the others are never slashable
        validators = [a for a in self.world.actors if self.member(task, a).validator is not None]
        self._slash_validator(task, round_, data.draw(st.sampled_from(validators * 3 + self.world.actors)))

    def _slash_validator(self, task: int, round_: int, account: str) -> None:
        model = self.rounds[(task, round_)]
        attested = self.swarm.read([(self.coordinator, "attestationOf", [task, round_, account])])[0]
        call = self.coordinator.functions.slashValidator(task, round_, account)
        receipt, error = self.send(call, self.world.keeper)
        if error is None:
            reason = self.swarm.event(receipt, "SlashExecuted")["reason"]
            self.check_slash(receipt, task, round_, "validator")
            if model.won is not None:  # finalized: absent without a seal, else dissent
                assert attested != model.outcomes[model.won].tuple_hash, "a final attester was slashed"
                assert reason == (chain.ABSENCE_REASON if account not in model.sealed else chain.DISSENT_REASON)
            else:  # failed: only a validator that opened nothing
                assert account not in model.opened and reason == chain.ABSENCE_REASON
        else:
            assert error in {"AlreadySlashed", "NotSlashable", "SlashExpired", "RoundNotExpired"}, error

    @rule(actor=st.integers(0, ACTORS - 1), task=st.integers(0, 1), back=st.integers(0, 1))
    def report_equivocation(self, actor: int, task: int, back: int) -> None:
        """The actor signs two updates for the current or the previous round of a task; the
        keeper reports them."""
        self.step()
        account, task = self.world.actors[actor], self.world.tasks[task]
        round_ = max(self.current_round(task) - back, 0)
        signed = []
        for label in ("delta", "other delta"):
            values = update_values(task, round_, account, label)
            digest = chain.commitment(self.swarm.chain_id, self.coordinator.address, values)
            signed += [values, Account.from_key(self.world.keys[account]).unsafe_sign_hash(digest).signature]
        receipt, error = self.send(self.coordinator.functions.reportEquivocation(*signed), self.world.keeper)
        if error is None:
            self.check_slash(receipt, task, round_, "peer")
        else:
            assert error in {"NotSlashable", "AlreadySlashed", "SlashExpired"}, error

    # -- the owner -------------------------------------------------------------------------------

    @rule(roll=st.integers(0, 19))
    def close_second_task(self, roll: int) -> None:
        """Rarely: the owner ends the second task (the first runs on)."""
        self.step()
        if roll:
            return
        task = self.world.tasks[1]
        _, error = self.send(self.coordinator.functions.closeTask(task), self.swarm.treasury)
        assert (error == "TaskClosed") == (task in self.closed), error
        self.closed.add(task)

    @rule(wait=st.booleans())
    def withdraw_budget(self, wait: bool) -> None:
        self.step()
        task = self.world.tasks[1]
        if wait and task in self.closed:
            last = self.coordinator.functions.taskEnd(task).call()[1]
            chaintime.travel_to(self.w3, max(self.now(), self.window(task, last)[3] + TERMS["claim_periods"]
                                             * self.period))
        _, error = self.send(self.coordinator.functions.withdrawBudget(task), self.swarm.treasury)
        assert error in {None, "TaskNotClosed", "BudgetLocked", "ZeroAmount"}, error
        assert (error == "TaskNotClosed") == (task not in self.closed)

    # -- invariants ------------------------------------------------------------------------------

    @invariant()
    def ledger_is_consistent(self) -> None:
        """All invariants from one batch of reads (one round trip per step)."""
        swarm, coordinator, staking = self.swarm, self.coordinator, self.swarm.staking
        actors, tasks = self.world.actors, self.world.tasks
        holders = [*self.w3.eth.accounts, *actors, staking.address, coordinator.address]
        finalized = self.finalized()
        reads = swarm.read(
            [(swarm.token, "balanceOf", [h]) for h in holders]
            + [(staking, "accountOf", [a]) for a in actors]
            + [(coordinator, "taskInfo", [t]) for t in tasks] + [(coordinator, "reserve", [])]
            + [(coordinator, "roundInfo", [t, r]) for t, r in finalized]
            + [(coordinator, "participantOf", [t, a]) for t in tasks for a in actors])
        balances, reads = reads[:len(holders)], reads[len(holders):]
        accounts, reads = reads[:len(actors)], reads[len(actors):]
        infos, reads = reads[:len(tasks)], reads[len(tasks):]
        reserve, reads = reads[0], reads[1:]
        rounds, participants = reads[:len(finalized)], reads[len(finalized):]

        # Conservation: every token is somewhere, and each contract holds exactly what it owes.
        assert sum(balances) == self.supply
        assert sum(account[0] for account in accounts) == balances[-2]
        owed = sum(round_info[3] + round_info[4] for round_info in rounds)
        assert balances[-1] == reserve + sum(info[0][-1] + info[1] for info in infos) + owed
        # Stake: locked is what the registrations hold; slashes never took free or unlocking stake.
        for account, (staked, locked, unlocking, _) in zip(actors, accounts, strict=True):
            assert locked + unlocking <= staked
            task = self.active.get(account)
            member = self.members.get((task, account)) if task else None
            held = sum(r.stake for r in (member.peer, member.validator) if r is not None) if member else 0
            assert locked == held, (account, locked, held)
        for (task, account), part in zip([(t, a) for t in tasks for a in actors], participants, strict=True):
            member = self.members.get((task, account), Member())
            assert part[0] == (member.peer.stake if member.peer else 0)
            assert part[1] == (member.validator.stake if member.validator else 0)
        # Finalized rounds keep their roots; what they still owe is what nobody claimed.
        for (task, round_), (status, rewards_root, slash_root, peer_left, validator_left, _, swept) in zip(
                finalized, rounds, strict=True):
            model = self.rounds[(task, round_)]
            assert model.final is not None
            assert (status, rewards_root, slash_root) == (chain.RoundStatus.FINALIZED, *model.final[:2])
            assert swept == model.swept
            tree = model.outcomes[str(model.won)].rewards
            paid = sum(int(v[4]) for v in tree.values if v[3] in model.claimed)
            paid_validators = sum(chain.validator_pay(model.validator_pool, model.sealed[v][1], model.denominator)
                                  for v in model.validator_claimed)
            assert peer_left == (0 if swept else model.final[2] - paid)
            assert validator_left == (0 if swept else model.final[3] - paid_validators)
        # The live validator weight is what the model's registrations, exits and slashes make it.
        for task, info in zip(tasks, infos, strict=True):
            assert info[2] == sum(change for _, change in self.weights[task])


@pytest.mark.e2e
def test_protocol_invariants(world: World) -> None:
    run_state_machine_as_test(
        lambda: ProtocolMachine(world),
        settings=settings(max_examples=EXAMPLES, stateful_step_count=STEPS_PER_EXAMPLE, deadline=None,
                          suppress_health_check=list(HealthCheck), derandomize=True),
    )
    print(f"stateful steps run: {world.steps}; successful actions: {dict(world.done)}; "
          f"refused: {dict(world.refused)}")
    assert world.steps >= EXAMPLES * STEPS_PER_EXAMPLE // 2, world.steps
    for action in ("registerPeer", "registerValidator", "commit", "finalize", "claim", "claimValidator",
                   "executeSlash", "slashValidator", "reportEquivocation", "leave", "release", "sweep",
                   "markFailed", "withdraw"):
        assert world.done[action] > 0, f"no successful {action} in {world.steps} steps: the run proved little"
