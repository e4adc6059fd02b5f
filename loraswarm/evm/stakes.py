"""An account's money in a deployment, and what an operator does with it by hand: stake,
request an unstake, withdraw, leave a task, release the stake a task held, claim rewards.

Each action is first planned against the chain's state (``Plan``: the calls it will send and
why), so that a call the contracts would refuse is a sentence naming the cause and the fix
instead of a revert; then it is sent and the account's position read again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

from loraswarm.errors import LoraswarmError, NotFound
from loraswarm.evm.deploy import send
from loraswarm.evm.funds import gas_cost, require_eth, require_tokens, tokens

# Gas of one operator call with a margin (approve + stake ~110k; a claim with a long proof ~80k).
CALL_GAS = 200_000


class Refused(LoraswarmError):
    """The contracts would refuse the action now (the message says when or what would let it)."""


def when(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass(frozen=True)
class Position:
    """An account's balances, its stake in the escrow and its part in one task."""

    address: str
    eth: int
    lsw: int
    staked: int
    locked: int
    unlocking: int
    unlock_at: int
    active_task: int
    peer_stake: int
    validator_stake: int
    exiting: bool
    exit_round: int
    slashed: int

    @property
    def free(self) -> int:
        return self.staked - self.locked - self.unlocking

    @classmethod
    def read(cls, w3: Web3, contracts: dict[str, Contract], address: str, task_id: int) -> Position:
        token, staking, coordinator = contracts["RewardToken"], contracts["Staking"], contracts["Coordinator"]
        staked, locked, unlocking, unlock_at = staking.functions.accountOf(address).call()
        peer, validator, _, _, exiting, exit_round, slashed = coordinator.functions.participantOf(
            task_id, address).call()
        return cls(address, int(w3.eth.get_balance(address)), int(token.functions.balanceOf(address).call()),
                   int(staked), int(locked), int(unlocking), int(unlock_at),
                   int(coordinator.functions.activeTask(address).call()), int(peer), int(validator), bool(exiting),
                   int(exit_round), int(slashed))

    def rows(self, task_id: int) -> list[tuple[str, str]]:
        """(what, value) lines for a before/after table."""
        exit_text = f"leaving after round {self.exit_round}" if self.exiting else "-"
        return [
            ("ETH", f"{self.eth / 10**18:,.6f}"), ("LSW in the wallet", tokens(self.lsw)),
            ("LSW staked", tokens(self.staked)), ("  locked by a task", tokens(self.locked)),
            ("  unlocking", tokens(self.unlocking) + (f" (from {when(self.unlock_at)})" if self.unlocking else "")),
            ("  free", tokens(self.free)), ("active task", str(self.active_task or "-")),
            (f"task {task_id}: peer stake", tokens(self.peer_stake)),
            (f"task {task_id}: validator stake", tokens(self.validator_stake)),
            (f"task {task_id}: exit", exit_text), (f"task {task_id}: slashed", tokens(self.slashed)),
        ]


@dataclass(frozen=True)
class Plan:
    """What an action sends: one line per call, in order."""

    summary: str
    calls: tuple[tuple[str, Any], ...]  # (what it does, contract function)


def plan_stake(w3: Web3, contracts: dict[str, Contract], pos: Position, amount: int) -> Plan:
    require_tokens(w3, contracts["RewardToken"], pos.address, amount, f"staking {tokens(amount)} LSW")
    staking = contracts["Staking"]
    return Plan(f"stake {tokens(amount)} LSW from {pos.address} into the escrow {staking.address}", (
        (f"approve the escrow to take {tokens(amount)} LSW", contracts["RewardToken"].functions.approve(
            staking.address, amount)),
        (f"stake {tokens(amount)} LSW", staking.functions.stake(amount)),
    ))


def plan_unstake(contracts: dict[str, Contract], pos: Position, amount: int | None, now: float) -> Plan:
    if pos.unlocking and now >= pos.unlock_at:
        # A new request restarts the delay for everything unlocking, matured stake included.
        raise Refused(f"{tokens(pos.unlocking)} LSW of {pos.address} finished unlocking at {when(pos.unlock_at)}: "
                      "`loraswarm withdraw` it first; a new unstake request would restart its delay")
    amount = pos.free if amount is None else amount
    if amount <= 0 or amount > pos.free:
        held = " (a task holds the rest: `loraswarm leave`, then `loraswarm release` once it allows)" \
            if pos.locked else ""
        raise Refused(f"{pos.address} has {tokens(pos.free)} LSW of free stake, asked to unstake {tokens(amount)}"
                      f"{held}")
    staking = contracts["Staking"]
    delay = int(staking.functions.withdrawalDelay().call())
    return Plan(f"request to unstake {tokens(amount)} LSW; `loraswarm withdraw` pays it out {delay // 3600} h "
                f"{delay % 3600 // 60} min later (a new request restarts the delay for all that is unlocking)",
                ((f"request an unstake of {tokens(amount)} LSW", staking.functions.requestUnstake(amount)),))


def plan_withdraw(contracts: dict[str, Contract], pos: Position, now: float) -> Plan:
    if not pos.unlocking:
        raise Refused(f"{pos.address} has nothing unlocking: `loraswarm unstake AMOUNT` first")
    if now < pos.unlock_at:
        raise Refused(f"the {tokens(pos.unlocking)} LSW unlocking can be withdrawn from {when(pos.unlock_at)}")
    return Plan(f"withdraw {tokens(pos.unlocking)} LSW from the escrow to {pos.address}",
                (("withdraw the unlocked stake", contracts["Staking"].functions.withdraw()),))


def plan_leave(contracts: dict[str, Contract], pos: Position, task_id: int, now: float) -> Plan:
    if pos.active_task != task_id:
        raise Refused(f"{pos.address} is not registered in task {task_id}" +
                      (f" (it is in task {pos.active_task})" if pos.active_task else ""))
    if pos.exiting:
        raise Refused(f"{pos.address} already leaves task {task_id} after round {pos.exit_round}: "
                      "`loraswarm release` once that round's slash deadline passed")
    coordinator = contracts["Coordinator"]
    start = int(coordinator.functions.roundWindows(task_id, 0).call()[0])
    if now < start:  # the contract releases the stake at once: no round has used it
        return Plan(f"leave task {task_id} before it starts ({when(start)}): its stake "
                    f"({tokens(pos.peer_stake + pos.validator_stake)} LSW) becomes free stake at once "
                    "(`loraswarm unstake` to take it out)",
                    (("leave the task", coordinator.functions.leave(task_id)),))
    return Plan(f"leave task {task_id}: the node takes part in the current round, its stake "
                f"({tokens(pos.peer_stake + pos.validator_stake)} LSW) stays locked and slashable until the end of "
                "the next round, then `loraswarm release` unlocks it",
                (("request the exit", coordinator.functions.leave(task_id)),))


def release_at(contracts: dict[str, Contract], task_id: int, exit_round: int) -> int:
    """When an account leaving after ``exit_round`` can release its stake (the next round's end)."""
    return int(contracts["Coordinator"].functions.roundWindows(task_id, exit_round + 1).call()[3])


def plan_release(contracts: dict[str, Contract], pos: Position, task_id: int, now: float) -> Plan:
    if not pos.exiting:
        raise Refused(f"{pos.address} has not asked to leave task {task_id}: `loraswarm leave` first")
    ready = release_at(contracts, task_id, pos.exit_round)
    if now < ready:
        raise Refused(f"the stake in task {task_id} can be released from {when(ready)} (the slash deadline of "
                      f"round {pos.exit_round})")
    return Plan(f"release what slashes left of {tokens(pos.peer_stake + pos.validator_stake)} LSW locked in task "
                f"{task_id}; it becomes free stake (`loraswarm unstake` to take it out)",
                (("release the stake", contracts["Coordinator"].functions.release(task_id)),))


@dataclass(frozen=True)
class PeerClaim:
    index: int
    amount: int
    proof: list[bytes]


def plan_claims(contracts: dict[str, Contract], address: str, task_id: int,
                peer_claims: dict[int, PeerClaim | None], now: float) -> Plan:
    """Claims of the given finalized rounds: a peer's Merkle reward where its round's result
    document names one, a validator's share where it opened the final tuple; claimed ones and
    rounds whose claim window has closed are skipped (a closed one would revert the rest)."""
    coordinator = contracts["Coordinator"]
    calls = []
    closed = []
    for round_, claim in sorted(peer_claims.items()):
        deadline = int(coordinator.functions.claimDeadline(task_id, round_).call())
        if now >= deadline:
            closed.append(f"round {round_} (closed {when(deadline)})")
            continue
        if claim is not None and claim.amount and not coordinator.functions.isClaimed(task_id, round_, address).call():
            calls.append((f"claim the round-{round_} reward of {tokens(claim.amount)} LSW",
                          coordinator.functions.claim(task_id, round_, claim.index, claim.amount, claim.proof)))
        pay, claimed = coordinator.functions.validatorPayOf(task_id, round_, address).call()
        if pay and not claimed:
            calls.append((f"claim the round-{round_} validator share of {tokens(int(pay))} LSW",
                          coordinator.functions.claimValidator(task_id, round_)))
    skipped = f"; past their claim window: {', '.join(closed)}" if closed else ""
    if not calls:
        raise NotFound(f"nothing to claim for {address} in task {task_id}, rounds "
                       f"{', '.join(map(str, sorted(peer_claims))) or '(none finalized)'}: all claimed, or no reward"
                       f"{skipped}")
    return Plan(f"claim {len(calls)} reward(s) of task {task_id} for {address}{skipped}", tuple(calls))


def execute(w3: Web3, account: LocalAccount, plan: Plan,
            on_sent: Callable[[str, str], None] = lambda what, tx: None) -> list[str]:
    """Send the plan's calls in order (each waits for its receipt) after checking the account can
    pay their gas; returns the transaction hashes."""
    require_eth(w3, account.address, gas_cost(w3, len(plan.calls) * CALL_GAS), plan.summary)
    hashes = []
    for what, call in plan.calls:
        receipt = send(w3, call, account)
        tx = "0x" + bytes(receipt["transactionHash"]).hex()
        on_sent(what, tx)
        hashes.append(tx)
    return hashes


def chain_now(w3: Web3) -> float:
    """The time the next block will carry at least (a local chain may lag the clock)."""
    return max(time.time(), float(w3.eth.get_block("latest")["timestamp"]))
