"""The coordinator as one task's node sees it: typed reads and journaled writes.

Writes go through ChainClient.send with a purpose key per (action, round[, account]) so that a
restarted node never sends the same action twice. Reads of logs are by block range from the
deployment block; the node asks for only what one round needs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from web3.contract import Contract

from loraswarm.node.chain.client import ChainClient, Receipt
from loraswarm.protocol.chain import Phase, RoundStatus, seal_end


@dataclass(frozen=True)
class TaskInfo:
    task_id: int
    base_model_hash: bytes
    initial_global: bytes
    rule_id: int
    quorum_bps: int
    start: int
    commit_s: int
    reveal_s: int
    attest_s: int
    reward_per_round: int
    min_peer_stake: int
    min_validator_stake: int
    budget: int
    slash_pool: int
    validator_weight: int
    latest_global: bytes
    latest_finalized: int | None

    @property
    def period_s(self) -> int:
        return self.commit_s + self.reveal_s + self.attest_s

    def windows(self, round_: int) -> tuple[int, int, int, int]:
        """(commit start, commit end = reveal start, reveal end = attest start, attest end)."""
        start = self.start + round_ * self.period_s
        return start, start + self.commit_s, start + self.commit_s + self.reveal_s, start + self.period_s

    def seal_end(self, round_: int) -> int:
        """Seals of attestations go in before this time, openings after it."""
        _, _, reveal_end, attest_end = self.windows(round_)
        return seal_end(reveal_end, attest_end)

    def round_at(self, timestamp: float) -> int:
        return 0 if timestamp < self.start else int((timestamp - self.start) // self.period_s)

    def expected_pool(self) -> int:
        """The pool a round finalized now would get (Coordinator._finalize)."""
        return min(self.reward_per_round, self.budget) + self.slash_pool


@dataclass(frozen=True)
class RoundInfo:
    status: RoundStatus
    rewards_root: bytes
    slash_root: bytes
    pool: int
    claimed: int


@dataclass(frozen=True)
class CommitLog:
    peer: str
    commitment: bytes
    order: tuple[int, int]  # (block, log index): the on-chain order of commits


@dataclass(frozen=True)
class AttestLog:
    validator: str
    tuple_hash: bytes
    accepted_root: bytes
    global_hash: bytes
    rewards_root: bytes
    slash_root: bytes
    weight: int


class TaskChain:
    def __init__(self, client: ChainClient, contracts: dict[str, Contract], task_id: int, from_block: int) -> None:
        self.client = client
        self.token = contracts["RewardToken"]
        self.staking = contracts["Staking"]
        self.coordinator = contracts["Coordinator"]
        self.task_id = task_id
        self.from_block = from_block
        self.address = client.address

    # time ---------------------------------------------------------------------------------
    def now(self) -> float:
        """Chain time: a local chain mines on demand, so its last block may lag the clock; the
        next block's timestamp is at least the wall clock."""
        return max(float(self.client.block_timestamp()), time.time())

    # reads --------------------------------------------------------------------------------
    def task(self) -> TaskInfo:
        params, slash_pool, weight, latest, has_final, last_final = self.client.call(
            self.coordinator.functions.taskInfo(self.task_id), "taskInfo")
        (base, initial, rule, quorum, start, commit_s, reveal_s, attest_s, reward, min_peer, min_val, _slash,
         budget) = params
        return TaskInfo(self.task_id, bytes(base), bytes(initial), int(rule), int(quorum), int(start),
                        int(commit_s), int(reveal_s), int(attest_s), int(reward), int(min_peer), int(min_val),
                        int(budget), int(slash_pool), int(weight), bytes(latest),
                        int(last_final) if has_final else None)

    def round_info(self, round_: int) -> RoundInfo:
        status, rewards_root, slash_root, pool, claimed = self.client.call(
            self.coordinator.functions.roundInfo(self.task_id, round_), "roundInfo")
        return RoundInfo(RoundStatus(status), bytes(rewards_root), bytes(slash_root), int(pool), int(claimed))

    def phase(self, round_: int, timestamp: float) -> Phase:
        return Phase(self.client.call(self.coordinator.functions.phaseAt(self.task_id, round_, int(timestamp))))

    def participant(self, account: str) -> tuple[int, int]:
        """(peer stake, validator stake) locked in this task."""
        peer, validator, *_ = self.client.call(self.coordinator.functions.participantOf(self.task_id, account))
        return int(peer), int(validator)

    def _logs(self, event: Any, **filters: Any) -> list[Any]:
        return self.client.with_retry(
            lambda: event.get_logs(from_block=self.from_block, argument_filters={"taskId": self.task_id, **filters}))

    def registered(self) -> tuple[list[str], list[str]]:
        """(peers, validators) that registered for the task, in registration order."""
        events = self.coordinator.events
        peers = [e["args"]["account"] for e in self._logs(events.PeerRegistered())]
        validators = [e["args"]["account"] for e in self._logs(events.ValidatorRegistered())]
        return peers, validators

    def commits(self, round_: int) -> list[CommitLog]:
        logs = self._logs(self.coordinator.events.UpdateCommitted(), round=round_)
        return sorted((CommitLog(e["args"]["peer"], bytes(e["args"]["commitment"]),
                                 (int(e["blockNumber"]), int(e["logIndex"]))) for e in logs),
                      key=lambda c: c.order)

    def attestations(self, round_: int) -> list[AttestLog]:
        logs = self._logs(self.coordinator.events.Attested(), round=round_)
        return [AttestLog(a["validator"], bytes(a["tupleHash"]), bytes(a["acceptedRoot"]), bytes(a["globalHash"]),
                          bytes(a["rewardsRoot"]), bytes(a["slashRoot"]), int(a["weight"]))
                for a in (e["args"] for e in logs)]

    def finalized_tuple(self, round_: int) -> AttestLog | None:
        logs = self._logs(self.coordinator.events.RoundFinalized(), round=round_)
        if not logs:
            return None
        a = logs[0]["args"]
        return AttestLog("", b"", bytes(a["acceptedRoot"]), bytes(a["globalHash"]), bytes(a["rewardsRoot"]),
                         bytes(a["slashRoot"]), int(a["support"]))

    def finalized_rounds(self) -> list[int]:
        return sorted(int(e["args"]["round"]) for e in self._logs(self.coordinator.events.RoundFinalized()))

    def is_claimed(self, round_: int, account: str) -> bool:
        return bool(self.client.call(self.coordinator.functions.isClaimed(self.task_id, round_, account)))

    # writes (journaled by purpose) --------------------------------------------------------
    def ensure_registered(self, as_peer: bool, validator_stake: int) -> list[Receipt]:
        """Stake what the roles need and register; every step is skipped once done."""
        task = self.task()
        peer_stake, val_stake = self.participant(self.address)
        need_peer = as_peer and peer_stake == 0
        need_val = validator_stake > 0 and val_stake == 0
        amount = (task.min_peer_stake if need_peer else 0) + (validator_stake if need_val else 0)
        done: list[Receipt] = []
        if amount == 0:
            return done
        free = int(self.client.call(self.staking.functions.freeStakeOf(self.address)))
        if free < amount:
            top_up = amount - free
            done.append(self.client.send(f"approve:{self.task_id}",
                                         self.token.functions.approve(self.staking.address, top_up)))
            done.append(self.client.send(f"stake:{self.task_id}", self.staking.functions.stake(top_up)))
        if need_peer:
            done.append(self.client.send(f"register-peer:{self.task_id}",
                                         self.coordinator.functions.registerPeer(self.task_id)))
        if need_val:
            done.append(self.client.send(f"register-validator:{self.task_id}",
                                         self.coordinator.functions.registerValidator(self.task_id, validator_stake)))
        return done

    def commit(self, round_: int, commitment: bytes) -> Receipt:
        return self.client.send(f"commit:{round_}", self.coordinator.functions.commit(self.task_id, round_, commitment))

    def seal_attestation(self, round_: int, seal: bytes) -> Receipt:
        fn = self.coordinator.functions.sealAttestation(self.task_id, round_, seal)
        return self.client.send(f"seal:{round_}", fn)

    def attest(self, round_: int, accepted_root: bytes, global_hash: bytes, rewards_root: bytes,
               slash_root: bytes, salt: bytes) -> Receipt:
        """Open the attestation sealed by seal_attestation (in the second half of the attest window)."""
        fn = self.coordinator.functions.attest(self.task_id, round_, accepted_root, global_hash, rewards_root,
                                               slash_root, salt)
        return self.client.send(f"attest:{round_}", fn)

    def claim(self, round_: int, index: int, amount: int, proof: list[bytes]) -> Receipt:
        fn = self.coordinator.functions.claim(self.task_id, round_, index, amount, proof)
        return self.client.send(f"claim:{round_}", fn)

    def execute_slash(self, round_: int, account: str, amount: int, reason: int, proof: list[bytes]) -> Receipt:
        fn = self.coordinator.functions.executeSlash(self.task_id, round_, account, amount, reason, proof)
        return self.client.send(f"slash:{round_}:{account.lower()}", fn)

    def slash_dissenter(self, round_: int, validator: str) -> Receipt:
        fn = self.coordinator.functions.slashDissenter(self.task_id, round_, validator)
        return self.client.send(f"dissent:{round_}:{validator.lower()}", fn)

    def mark_failed(self, round_: int, attempt: int = 0) -> Receipt:
        """Each attempt is its own journaled transaction: one mined with a revert (its block was
        stamped before the deadline) must not stop a later one."""
        purpose = f"failed:{round_}" if attempt == 0 else f"failed:{round_}:{attempt}"
        return self.client.send(purpose, self.coordinator.functions.markFailed(self.task_id, round_))
