"""Stateful invariants: a hypothesis rule-based state machine drives the real contracts on an
anvil chain (eth-tester is ~10x slower per call, too slow for hundreds of steps) with commits,
attestations (two competing outcomes per round), claims, slashes, dissent slashes, failed rounds,
unstakes and time jumps, and after every step checks:

- token conservation: the balances of every holder add up to the fixed supply, the staking
  contract holds exactly the stakes, the coordinator exactly what it owes;
- no reward is paid twice, and a round never pays more than its pool;
- a slash never takes more than the stake (locked + unlocking <= stake, stake never negative);
- a finalized round never changes (status, roots, pool).

Every step either succeeds with the effects the model predicts or reverts with an error the model
can explain. LORASWARM_STATEFUL_EXAMPLES raises the number of runs (CI: the default, >= 200 steps).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from web3.exceptions import ContractCustomError

from harness import chaintime
from loraswarm.protocol import chain
from loraswarm.protocol.codes import Reason
from tests.contracts.conftest import anvil_swarm
from tests.contracts.harness import PERIOD_WINDOWS, TOKEN_UNIT, Outcome, Swarm, build_outcome, salt_of

EXAMPLES = int(os.environ.get("LORASWARM_STATEFUL_EXAMPLES", "6"))
STEPS_PER_EXAMPLE = 50
MIN_TOTAL_STEPS = 200
VALIDATOR_WEIGHTS = (1_000, 1_000, 1_500)  # quorum 60 % of 3,500 needs the big one and another


@dataclass
class World:
    """The chain state every example starts from (rolled back by snapshot)."""

    swarm: Swarm
    task: int
    peers: list[str]
    validators: list[str]
    keeper: str
    snapshot: object = None
    steps: int = 0
    # successful actions by kind, over all examples: proof that the run reached the interesting
    # states (finalized rounds, claims, slashes), not only reverts
    done: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)


@dataclass
class RoundModel:
    outcomes: dict[str, Outcome]
    final: tuple[object, ...] | None = None  # (status, rewardsRoot, slashRoot, pool) at finalization
    won: Outcome | None = None
    paid: set[int] = field(default_factory=set)
    paid_total: int = 0
    slashed: set[int] = field(default_factory=set)
    dissent_slashed: set[str] = field(default_factory=set)
    sealed: dict[str, str] = field(default_factory=dict)  # validator -> the outcome it sealed


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with anvil_swarm(tmp_path_factory.mktemp("stateful") / "state") as swarm:
        # Each block one second after the previous one (and explicit jumps), never wall-clock
        # time: a replayed example then sees the same timestamps, which hypothesis requires.
        swarm.w3.provider.make_request("anvil_setBlockTimestampInterval", [1])
        accounts = swarm.w3.eth.accounts
        task = swarm.create_task()
        for peer in accounts[1:5]:
            swarm.join_peer(task, peer)
        for validator, weight in zip(accounts[5:8], VALIDATOR_WEIGHTS, strict=True):
            swarm.join_validator(task, validator, weight * TOKEN_UNIT)
        yield World(swarm, task, list(accounts[1:5]), list(accounts[5:8]), accounts[9])


class ProtocolMachine(RuleBasedStateMachine):
    def __init__(self, world: World) -> None:
        super().__init__()
        self.world, self.swarm, self.task = world, world.swarm, world.task
        self.w3 = self.swarm.w3
        if world.snapshot is not None:
            chaintime.revert(self.w3, world.snapshot)
        world.snapshot = chaintime.snapshot(self.w3)
        self.rounds: dict[int, RoundModel] = {}
        self.commits: set[tuple[int, str]] = set()
        self.claimed_by: dict[str, int] = {}
        self.supply = self.swarm.token.functions.totalSupply().call()

    # -- helpers ---------------------------------------------------------------------------------

    def attempt(self, call: object, sender: str) -> str | None:
        """Send; None on success, else the custom error's name."""
        try:
            self.swarm.send(call, sender)
        except ContractCustomError as exc:
            error = self.swarm.error_of(exc)
            self.world.refused[error] += 1
            return error
        self.world.done[call.fn_name] += 1
        return None

    def current_round(self) -> int:
        return int(self.swarm.coordinator.functions.roundAt(self.task, chaintime.now(self.w3) + 1).call())

    def round_model(self, round_: int) -> RoundModel:
        if round_ not in self.rounds:
            committed = [p for p in self.world.peers if (round_, p) in self.commits]
            silent = [p for p in self.world.peers if (round_, p) not in self.commits]
            v1, v2, v3 = self.world.validators
            # "a" over-allocates the 1,000-token pool on purpose: the cap must hold.
            a = build_outcome(self.task, round_, [(p, (i + 4) * 250 * TOKEN_UNIT) for i, p in enumerate(committed)]
                              + [(v1, 50 * TOKEN_UNIT), (v3, 50 * TOKEN_UNIT)],
                              [(p, 30 * TOKEN_UNIT, Reason.NOT_REVEALED) for p in silent[:1]]
                              + [(p, 10**6 * TOKEN_UNIT, Reason.NORM_BOUND) for p in silent[1:2]], "a")
            b = build_outcome(self.task, round_, [(v2, 100 * TOKEN_UNIT)],
                              [(p, 20 * TOKEN_UNIT, Reason.KRUM_OUTLIER) for p in committed[:1]], "b")
            self.rounds[round_] = RoundModel({"a": a, "b": b})
        return self.rounds[round_]

    def finalized(self) -> list[int]:
        return sorted(r for r, model in self.rounds.items() if model.won is not None)

    def step(self) -> None:
        self.world.steps += 1

    # -- rules -----------------------------------------------------------------------------------

    # 86,401 s outlasts the unstake delay: pending withdrawals become payable.
    @rule(seconds=st.sampled_from([7, 40, 100, 160, 310, 86_401]))
    def advance(self, seconds: int) -> None:
        self.step()
        chaintime.advance(self.w3, seconds)

    @rule(phase=st.sampled_from([chain.Phase.COMMIT, chain.Phase.ATTEST, chain.Phase.ATTEST]))
    def next_phase(self, phase: chain.Phase) -> None:
        """Jump to the next start of a commit or attest window (random small jumps alone would
        rarely line up the attestations of one round)."""
        self.step()
        round_ = self.current_round()
        commit_start, _, reveal_end, _ = self.swarm.windows(self.task, round_)
        start = commit_start if phase == chain.Phase.COMMIT else reveal_end
        if start <= chaintime.now(self.w3) + 1:
            start += sum(PERIOD_WINDOWS)
        chaintime.travel_to(self.w3, start + 1)

    @rule(peer=st.integers(0, 3))
    def commit(self, peer: int) -> None:
        self.step()
        account, round_ = self.world.peers[peer], self.current_round()
        error = self.attempt(self.swarm.coordinator.functions.commit(
            self.task, round_, chain.commitment(account, round_, b"\x01" * 32, b"\x02" * 32)), account)
        if error is None:
            assert (round_, account) not in self.commits
            self.commits.add((round_, account))
        elif error == "AlreadyCommitted":
            assert (round_, account) in self.commits
        else:
            assert error in {"NotInCommitWindow", "NotPeer"}, error

    @rule(choices=st.lists(st.sampled_from(["a", "a", "a", "b"]), min_size=3, max_size=3))
    def all_validators_attest(self, choices: list[str]) -> None:
        self.step()
        for validator, choice in enumerate(choices):
            self._seal(validator, choice)
        for validator, choice in enumerate(choices):
            self._open(validator, choice)

    @rule(validator=st.sampled_from([0, 1, 2, 2]), choice=st.sampled_from(["a", "a", "a", "b"]))
    def seal(self, validator: int, choice: str) -> None:
        self.step()
        self._seal(validator, choice)

    @rule(validator=st.sampled_from([0, 1, 2, 2]), choice=st.sampled_from(["a", "a", "a", "b"]))
    def open_attestation(self, validator: int, choice: str) -> None:
        self.step()
        self._open(validator, choice)

    def _seal(self, validator: int, choice: str) -> None:
        account, round_ = self.world.validators[validator], self.current_round()
        phase = self.swarm.coordinator.functions.phaseAt(self.task, round_, chaintime.now(self.w3) + 1).call()
        if phase in (chain.Phase.COMMIT, chain.Phase.REVEAL):
            # A validator waits for the attest window (and the trees need the final commits).
            chaintime.travel_to(self.w3, self.swarm.windows(self.task, round_)[2] + 1)
        model = self.round_model(round_)
        seal = chain.attestation_seal(self.task, round_, account, model.outcomes[choice].tuple_hash,
                                      salt_of(account, round_))
        error = self.attempt(self.swarm.coordinator.functions.sealAttestation(self.task, round_, seal), account)
        if error is None:
            assert account not in model.sealed
            model.sealed[account] = choice
        elif error == "AlreadySealed":
            assert account in model.sealed
        else:
            assert error in {"NotInSealWindow", "NotValidator"}, error

    def _open(self, validator: int, choice: str) -> None:
        account, round_ = self.world.validators[validator], self.current_round()
        _, _, reveal_end, attest_end = self.swarm.windows(self.task, round_)
        if chaintime.now(self.w3) + 1 < chain.seal_end(reveal_end, attest_end):
            chaintime.travel_to(self.w3, chain.seal_end(reveal_end, attest_end) + 1)
        model = self.round_model(round_)
        outcome = model.outcomes[choice]
        info = self.swarm.coordinator.functions.taskInfo(self.task).call()
        budget, slash_pool = info[0][12], info[1]
        call = self.swarm.coordinator.functions.attest(self.task, round_, *outcome.args, salt_of(account, round_))
        error = self.attempt(call, account)
        if error is not None:
            if error == "SealMismatch":
                assert model.sealed.get(account) not in (None, choice)
            elif error == "NotSealed":
                assert account not in model.sealed
            else:
                assert error in {"AlreadyAttested", "NotInAttestWindow", "NotValidator"}, error
            return
        assert model.sealed[account] == choice, "an attestation opened that its seal does not bind"
        status, rewards_root, slash_root, pool, _ = self.swarm.round_info(self.task, round_)
        if status == chain.RoundStatus.FINALIZED and model.won is None:
            assert pool == min(info[0][8], budget) + slash_pool
            model.won = outcome
            model.final = (status, rewards_root, slash_root, pool)
            self.world.done["finalize"] += 1

    @rule(data=st.data())
    def claim(self, data: st.DataObject) -> None:
        self.step()
        rounds = self.finalized()
        if not rounds:
            return
        round_ = data.draw(st.sampled_from(rounds))
        model = self.rounds[round_]
        assert model.won is not None and model.final is not None
        index = data.draw(st.integers(0, len(model.won.rewards.values) - 1))
        _, _, _, account, amount = model.won.rewards.values[index]
        if account == "0x" + "00" * 20 or int(amount) == 0:  # the filler leaf of an empty list
            return
        forged = data.draw(st.sampled_from([False, False, False, True]))
        claim = self.swarm.coordinator.functions.claim
        proof = model.won.rewards.proof(index)
        before = self.swarm.balance(account)
        error = self.attempt(claim(self.task, round_, index, amount + int(forged), proof), account)
        if forged:
            assert error in {"InvalidProof", "AlreadyClaimed"}, error
        elif error is None:
            assert index not in model.paid, "a reward was paid twice"
            assert model.paid_total + amount <= model.final[3]
            assert self.swarm.balance(account) - before == amount
            model.paid.add(index)
            model.paid_total += amount
            self.claimed_by[account] = self.claimed_by.get(account, 0) + amount
        elif error == "AlreadyClaimed":
            assert index in model.paid
        else:
            assert error == "PoolExceeded" and model.paid_total + amount > model.final[3], error

    @rule(data=st.data())
    def execute_slash(self, data: st.DataObject) -> None:
        self.step()
        rounds = self.finalized()
        if not rounds:
            return
        round_ = data.draw(st.sampled_from(rounds))
        model = self.rounds[round_]
        assert model.won is not None
        index = data.draw(st.integers(0, len(model.won.slashes.values) - 1))
        _, _, account, amount, _ = model.won.slashes.values[index]
        stake = self.swarm.stake_of(account)
        error = self.attempt(self.swarm.coordinator.functions.executeSlash(
            self.task, round_, *model.won.slashes.values[index][2:], model.won.slashes.proof(index)), self.world.keeper)
        if error is None:
            assert index not in model.slashed and amount <= stake
            assert self.swarm.stake_of(account) == stake - amount
            model.slashed.add(index)
        elif error == "AlreadySlashed":
            assert index in model.slashed
        else:
            assert error == "SlashExceedsStake" and amount > stake, error

    @rule(data=st.data())
    def slash_dissenter(self, data: st.DataObject) -> None:
        self.step()
        rounds = self.finalized()
        if not rounds:
            return
        round_ = data.draw(st.sampled_from(rounds))
        model = self.rounds[round_]
        assert model.won is not None
        # Validators that sealed something else than the winner are drawn more often: dissent
        # needs a rare mix of seals and opens, and the refusals are covered by the others.
        won = next(c for c, o in model.outcomes.items() if o == model.won)
        suspects = [v for v, choice in model.sealed.items() if choice != won]
        account = data.draw(st.sampled_from(suspects * 2 + self.world.validators))
        attested = self.swarm.coordinator.functions.attestationOf(self.task, round_, account).call()
        # a seal never opened is dissent too: it differs from every tuple hash
        dissented = attested not in (b"\x00" * 32, chain.tuple_hash(*model.won.args))
        error = self.attempt(self.swarm.coordinator.functions.slashDissenter(self.task, round_, account),
                             self.world.keeper)
        if error is None:
            assert dissented and account not in model.dissent_slashed
            model.dissent_slashed.add(account)
        elif error == "AlreadySlashed":
            assert account in model.dissent_slashed
        else:
            assert error == "NotADissenter" and not dissented, error

    @rule(back=st.integers(0, 2))
    def mark_failed(self, back: int) -> None:
        self.step()
        round_ = max(self.current_round() - back, 0)
        error = self.attempt(self.swarm.coordinator.functions.markFailed(self.task, round_), self.world.keeper)
        model = self.rounds.get(round_)
        if error is None:
            assert model is None or model.won is None
        else:
            assert error in {"RoundNotExpired", "RoundAlreadyFailed", "RoundAlreadyFinalized"}, error

    @rule(who=st.integers(0, 6), tokens=st.integers(1, 600))
    def request_unstake(self, who: int, tokens: int) -> None:
        self.step()
        account = (self.world.peers + self.world.validators)[who]
        error = self.attempt(self.swarm.staking.functions.requestUnstake(tokens * TOKEN_UNIT), account)
        assert error in {None, "InsufficientFreeStake"}, error

    @rule(data=st.data(), wait=st.booleans())
    def withdraw(self, data: st.DataObject, wait: bool) -> None:
        self.step()
        everyone = self.world.peers + self.world.validators
        accounts = {a: self.swarm.staking.functions.accountOf(a).call() for a in everyone}
        # accounts with an unstake pending are drawn more often: withdraw needs a request first
        pending = [a for a, (_, _, unlocking, _) in accounts.items() if unlocking > 0]
        account = data.draw(st.sampled_from(pending * 2 + everyone))
        unlock_at = accounts[account][3]
        if wait and unlock_at > chaintime.now(self.w3):
            # the account sits out its unstake delay (rounds pass meanwhile)
            chaintime.travel_to(self.w3, unlock_at + 1)
        error = self.attempt(self.swarm.staking.functions.withdraw(), account)
        assert error in {None, "UnstakeNotReady", "NothingToWithdraw"}, error

    # -- invariants ------------------------------------------------------------------------------

    @invariant()
    def ledger_is_consistent(self) -> None:
        """All invariants from one batch of reads (one round trip per step)."""
        swarm, coordinator, staking = self.swarm, self.swarm.coordinator, self.swarm.staking
        holders = [*self.w3.eth.accounts, staking.address, coordinator.address]
        stakers = self.world.peers + self.world.validators
        finalized = self.finalized()
        claimers = sorted(self.claimed_by)
        reads = swarm.read(
            [(swarm.token, "balanceOf", [h]) for h in holders]
            + [(staking, "accountOf", [a]) for a in stakers]
            + [(coordinator, "taskInfo", [self.task]), (coordinator, "reserve", [])]
            + [(coordinator, "roundInfo", [self.task, r]) for r in finalized]
            + [(coordinator, "participantOf", [self.task, a]) for a in claimers])
        balances, reads = reads[:len(holders)], reads[len(holders):]
        stakes, reads = reads[:len(stakers)], reads[len(stakers):]
        (info, reserve), reads = reads[:2], reads[2:]
        rounds, totals = reads[:len(finalized)], reads[len(finalized):]

        # Conservation: every token is somewhere, and each contract holds exactly what it owes.
        assert sum(balances) == self.supply
        assert sum(stake[0] for stake in stakes) == balances[-2]
        owed_for_rounds = sum(self.rounds[r].final[3] - self.rounds[r].paid_total for r in finalized)
        assert balances[-1] == reserve + info[0][12] + info[1] + owed_for_rounds
        # Slashes never take more than the stake.
        for staked, locked, unlocking, _ in stakes:
            assert locked + unlocking <= staked
        # A finalized round never changes; it pays each leaf once and never beyond its pool.
        for round_, (status, rewards_root, slash_root, pool, claimed) in zip(finalized, rounds, strict=True):
            assert (status, rewards_root, slash_root, pool) == self.rounds[round_].final
            assert claimed == self.rounds[round_].paid_total <= pool
        for account, participant in zip(claimers, totals, strict=True):
            assert participant[3] == self.claimed_by[account]


@pytest.mark.e2e
def test_protocol_invariants(world: World) -> None:
    run_state_machine_as_test(
        lambda: ProtocolMachine(world),
        settings=settings(max_examples=EXAMPLES, stateful_step_count=STEPS_PER_EXAMPLE, deadline=None,
                          suppress_health_check=list(HealthCheck), derandomize=True),
    )
    print(f"stateful steps run: {world.steps}; successful actions: {dict(world.done)}; "
          f"refused: {dict(world.refused)}")
    assert world.steps >= min(MIN_TOTAL_STEPS, EXAMPLES * STEPS_PER_EXAMPLE), world.steps
    for action in ("commit", "finalize", "claim", "executeSlash", "slashDissenter", "markFailed", "withdraw"):
        assert world.done[action] > 0, f"no successful {action} in {world.steps} steps: the run proved little"
