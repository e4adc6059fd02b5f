"""The coordinator as one task's node sees it: typed reads and journaled writes.

Writes go through ChainClient.send with a purpose key per (action, round[, account]) so that a
restarted node never sends the same action twice. Reads of logs are by block range from the
deployment block; the node asks for only what one round needs.

Judging reads chain state at the round's pinned block (``pinned_block``): the last block stamped
before the reveal window closed. Every validator derives the same block from the chain alone, so a
``leave``, a slash or a top-up timed to land while validators judge cannot split their views.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from web3.contract import Contract
from web3.types import BlockIdentifier

from loraswarm.evm.logs import logs_between, reread_from
from loraswarm.node.chain.client import BlockHeader, ChainClient, Receipt
from loraswarm.node.p2p.envelope import Envelope, Update
from loraswarm.node.windows import PIN_GRACE_S
from loraswarm.protocol.chain import RoundStatus
from loraswarm.protocol.schedule import Schedule


@dataclass(frozen=True)
class TaskInfo:
    task_id: int
    base_model_hash: bytes
    initial_global: bytes
    spec_hash: bytes
    rule_id: int
    quorum_bps: int
    validator_bps: int
    start: int
    commit_s: int
    reveal_s: int
    attest_s: int
    claim_s: int
    reward_per_round: int
    min_peer_stake: int
    min_validator_stake: int
    validator_slash: int
    absence_slash: int
    budget: int
    slash_pool: int
    validator_weight: int
    latest_global: bytes
    latest_finalized: int | None
    last_round: int | None = None  # the task's last round once its owner closed it
    phases_end_early: bool = False
    phase_ends: tuple[tuple[int, int], ...] = ()  # (window, begins) of each early end so far

    @property
    def schedule(self) -> Schedule:
        return Schedule(self.start, self.commit_s, self.reveal_s, self.attest_s, self.phase_ends)

    def windows(self, round_: int) -> tuple[int, int, int, int]:
        """(commit start, commit end = reveal start, reveal end = attest start, attest end): as
        far as the chain has got; phases ending early can only bring later ones forward."""
        return self.schedule.windows(round_)

    def seal_end(self, round_: int) -> int:
        """Seals of attestations go in before this time, openings after it."""
        return self.schedule.seal_end(round_)

    def round_at(self, timestamp: float) -> int:
        return self.schedule.round_at(timestamp)

    @property
    def available(self) -> int:
        """What a round finalized now could pay out (Coordinator: min(rewardPerRound, budget) + slashPool)."""
        return min(self.reward_per_round, self.budget) + self.slash_pool


@dataclass(frozen=True)
class RoundInfo:
    status: RoundStatus
    rewards_root: bytes
    slash_root: bytes
    peer_pool_left: int  # what peers have not claimed yet
    validator_pool_left: int


@dataclass(frozen=True)
class Participation:
    """An account's stakes locked in the task, and per role the first round its registration
    counts in (None: not registered in that role)."""

    peer_stake: int
    validator_stake: int
    peer_first_round: int | None
    validator_first_round: int | None


@dataclass(frozen=True)
class CommitLog:
    peer: str
    commitment: bytes
    order: tuple[int, int]  # (block, log index): the on-chain order of commits


@dataclass(frozen=True)
class FinalizedTuple:
    accepted_root: bytes
    global_hash: bytes
    rewards_root: bytes
    slash_root: bytes
    peer_pool: int

    def as_tuple(self) -> tuple[bytes, bytes, bytes, bytes, int]:
        return (self.accepted_root, self.global_hash, self.rewards_root, self.slash_root, self.peer_pool)


@dataclass(frozen=True)
class RevealedUpdate:
    """What a peer revealed on chain (Coordinator.reveal checked its digest against the commitment)."""

    base_hash: bytes
    delta_hash: bytes
    delta_size: int
    sample_count: int


@dataclass(frozen=True)
class JudgingInputs:
    """Chain state a validator judges a round by, read at the round's pinned block."""

    block: int
    commits: tuple[CommitLog, ...]  # in on-chain order
    revealed: dict[str, RevealedUpdate]  # committed peer (lowercase) -> its update, if revealed
    peer_stakes: dict[str, int]  # committed peer -> stake locked in the task
    available: int  # min(rewardPerRound, budget) + slashPool
    equivocated: frozenset[str]  # committed peers (lowercase) reported for equivocation
    finalized: tuple[int, ...]  # rounds finalized before the pinned block


def _update_struct(update: Update) -> tuple[Any, ...]:
    return (update.task_id, update.round, update.peer, update.base_hash, update.delta_hash, update.delta_size,
            update.sample_count, update.codec_id, update.salt)


@dataclass
class _Cursor:
    """Where reading an event list on from the last read continues; held while reading."""

    next_block: int
    lock: threading.Lock = field(default_factory=threading.Lock)


class TaskChain:
    def __init__(self, client: ChainClient, contracts: dict[str, Contract], task_id: int, from_block: int,
                 pin_grace_s: float = PIN_GRACE_S) -> None:
        self.client = client
        self.pin_grace_s = pin_grace_s
        self.token = contracts["RewardToken"]
        self.staking = contracts["Staking"]
        self.coordinator = contracts["Coordinator"]
        self.task_id = task_id
        self.from_block = from_block
        self.address = client.address
        self._floors: dict[int, int] = {}
        self._registry = _Cursor(from_block)
        self._peers: dict[str, None] = {}  # registrations read so far (dicts as ordered sets)
        self._validators: dict[str, None] = {}
        self._finalized = _Cursor(from_block)
        self._finalized_at: dict[int, int] = {}  # round -> the block that finalized it
        self._phase_ends = _Cursor(from_block)
        self._ends: dict[int, int] = {}  # window -> when it began, for each early end
        outputs = self.coordinator.get_function_by_name("taskInfo").abi["outputs"]
        self._param_names = [component["name"] for component in outputs[0]["components"]]

    # time ---------------------------------------------------------------------------------
    def now(self) -> float:
        """Chain time: a local chain mines on demand, so its last block may lag the clock; the
        next block's timestamp is at least the wall clock."""
        return max(float(self.client.block_timestamp()), time.time())

    def head_time(self) -> int:
        """The timestamp of the chain's latest block."""
        return self.client.block_timestamp()

    def pinned_block(self, round_: int) -> int | None:
        """The last block stamped before the round's reveal window closed, once a later block
        exists (none can be added before it then); None while the chain has not got there. A
        chain that mines only on demand may have no later block: once the clock is ``pin_grace_s``
        past the window with none, the latest block is the pin (any block mined from now on is
        stamped after the window, so every validator pins the same one)."""
        reveal_end = self.task().windows(round_)[2]
        latest = self.client.block(None)
        if latest.timestamp < reveal_end:
            return latest.number if time.time() >= reveal_end + self.pin_grace_s else None
        return self._last_block_before(reveal_end, latest)

    def _last_block_before(self, timestamp: int, latest: BlockHeader) -> int:
        """The last block stamped before ``timestamp`` (the deployment block at the earliest), by
        bisection: a few dozen header reads on any chain."""
        low, high = self.from_block, latest.number  # invariant: block `low` is before timestamp
        while high - low > 1:
            middle = (low + high) // 2
            if self.client.block(middle).timestamp < timestamp:
                low = middle
            else:
                high = middle
        return low

    def _round_floor(self, round_: int) -> int:
        """A block before any event of the round (its commit window opens after it): the round's
        logs are read from here rather than from the deployment."""
        if (known := self._floors.get(round_)) is not None:
            return known
        commit_start = self.task().windows(round_)[0]
        latest = self.client.block(None)
        if latest.timestamp < commit_start:
            return latest.number  # the round has not begun: nothing of it is on chain yet
        self._floors[round_] = floor = self._last_block_before(commit_start, latest)
        return floor

    # reads --------------------------------------------------------------------------------
    def task(self, block: BlockIdentifier = "latest") -> TaskInfo:
        values, slash_pool, weight, latest, has_final, last_final = self.client.call(
            self.coordinator.functions.taskInfo(self.task_id), "taskInfo", block)
        params = dict(zip(self._param_names, values, strict=True))
        return TaskInfo(
            self.task_id, bytes(params["baseModelHash"]), bytes(params["initialGlobalHash"]),
            bytes(params["specHash"]), int(params["aggregationRule"]), int(params["quorumBps"]),
            int(params["validatorBps"]), int(params["startTime"]), int(params["commitWindow"]),
            int(params["revealWindow"]), int(params["attestWindow"]), int(params["claimWindow"]),
            int(params["rewardPerRound"]), int(params["minPeerStake"]), int(params["minValidatorStake"]),
            int(params["validatorSlash"]), int(params["absenceSlash"]), int(params["budget"]), int(slash_pool),
            int(weight), bytes(latest), int(last_final) if has_final else None, self._last_round(block),
            bool(params["phasesEndEarly"]), self.phase_ends() if params["phasesEndEarly"] else ())

    def phase_ends(self) -> tuple[tuple[int, int], ...]:
        """(window, begins) of every early end so far (PhaseEnded), read on from where the last
        call stopped, its last blocks again."""
        with self._phase_ends.lock:
            (ended,) = self._read_on(self._phase_ends, self.client.block(None).number,
                                     self.coordinator.events.PhaseEnded())
            self._ends.update((int(e["args"]["window"]), int(e["args"]["begins"])) for e in ended)
            return tuple(sorted(self._ends.items()))

    def _last_round(self, block: BlockIdentifier) -> int | None:
        closed, last = self.client.call(self.coordinator.functions.taskEnd(self.task_id), "taskEnd", block)
        return int(last) if closed else None

    def round_info(self, round_: int) -> RoundInfo:
        status, rewards_root, slash_root, peer_left, validator_left, _deadline, _swept = self.client.call(
            self.coordinator.functions.roundInfo(self.task_id, round_), "roundInfo")
        return RoundInfo(RoundStatus(status), bytes(rewards_root), bytes(slash_root), int(peer_left),
                         int(validator_left))

    def participant(self, account: str, block: BlockIdentifier = "latest") -> Participation:
        peer, validator, peer_first, validator_first, *_ = self.client.call(
            self.coordinator.functions.participantOf(self.task_id, account), "participantOf", block)
        return Participation(int(peer), int(validator), int(peer_first) - 1 if peer_first else None,
                             int(validator_first) - 1 if validator_first else None)

    def _logs(self, event: Any, first: int, to_block: BlockIdentifier = "latest", **filters: Any) -> list[Any]:
        last = to_block if isinstance(to_block, int) else self.client.block(None).number
        return logs_between(event, first, last, {"taskId": self.task_id, **filters}, self.client.with_retry)

    def registered(self) -> tuple[list[str], list[str]]:
        """(peers, validators) that ever registered for the task, in registration order; read
        on from where the last call stopped (the node asks every few seconds), its last blocks
        again."""
        with self._registry.lock:
            peers, validators = self._read_on(self._registry, self.client.block(None).number,
                                              self.coordinator.events.PeerRegistered(),
                                              self.coordinator.events.ValidatorRegistered())
            self._peers.update(dict.fromkeys(e["args"]["account"] for e in peers))
            self._validators.update(dict.fromkeys(e["args"]["account"] for e in validators))
            return list(self._peers), list(self._validators)

    def _read_on(self, cursor: _Cursor, last: int, *events: Any) -> list[list[Any]]:
        """Each event's logs from the cursor, its last LOG_REREAD_BLOCKS blocks again, to ``last``;
        moves the cursor on (the caller holds its lock)."""
        start = reread_from(cursor.next_block, last, self.from_block)
        found = [self._logs(event, start, last) for event in events]
        cursor.next_block = max(cursor.next_block, last + 1)
        return found

    def commits(self, round_: int, to_block: BlockIdentifier = "latest") -> list[CommitLog]:
        logs = self._logs(self.coordinator.events.UpdateCommitted(), self._round_floor(round_), to_block, round=round_)
        return sorted((CommitLog(e["args"]["peer"], bytes(e["args"]["commitment"]),
                                 (int(e["blockNumber"]), int(e["logIndex"]))) for e in logs),
                      key=lambda c: c.order)

    def commitment(self, round_: int, peer: str) -> bytes | None:
        found = bytes(self.client.call(self.coordinator.functions.commitmentOf(self.task_id, round_, peer)))
        return found if any(found) else None

    def revealed(self, round_: int, to_block: BlockIdentifier = "latest") -> dict[str, RevealedUpdate]:
        logs = self._logs(self.coordinator.events.UpdateRevealed(), self._round_floor(round_), to_block, round=round_)
        return {e["args"]["peer"].lower(): RevealedUpdate(bytes(e["args"]["baseHash"]), bytes(e["args"]["deltaHash"]),
                                                         int(e["args"]["deltaSize"]), int(e["args"]["sampleCount"]))
                for e in logs}

    def judging_inputs(self, round_: int, block: int) -> JudgingInputs:
        commits = tuple(self.commits(round_, block))
        equivocated = frozenset(c.peer.lower() for c in commits if self.client.call(
            self.coordinator.functions.isEquivocated(self.task_id, round_, c.peer), "isEquivocated", block))
        return JudgingInputs(
            block=block, commits=commits, revealed=self.revealed(round_, block),
            peer_stakes={c.peer: self.participant(c.peer, block).peer_stake for c in commits},
            available=self.task(block).available, equivocated=equivocated,
            finalized=tuple(self.finalized_rounds(block)))

    def finalized_tuple(self, round_: int) -> FinalizedTuple | None:
        logs = self._logs(self.coordinator.events.RoundFinalized(), self._round_floor(round_), round=round_)
        if not logs:
            return None
        a = logs[0]["args"]
        return FinalizedTuple(bytes(a["acceptedRoot"]), bytes(a["globalHash"]), bytes(a["rewardsRoot"]),
                              bytes(a["slashRoot"]), int(a["peerPool"]))

    def finalized_rounds(self, to_block: BlockIdentifier = "latest") -> list[int]:
        """Rounds finalized at or before ``to_block`` (a pinned block gives every validator the
        same list); read on from where the last call stopped, its last blocks again."""
        with self._finalized.lock:
            last = to_block if isinstance(to_block, int) else self.client.block(None).number
            (finalized,) = self._read_on(self._finalized, last, self.coordinator.events.RoundFinalized())
            self._finalized_at.update((int(e["args"]["round"]), int(e["blockNumber"])) for e in finalized)
            return sorted(r for r, block in self._finalized_at.items() if block <= last)

    # writes (journaled by purpose) --------------------------------------------------------
    def ensure_registered(self, as_peer: bool, validator_stake: int) -> list[Receipt]:
        """Stake what the roles need and register; every step is skipped once done."""
        task = self.task()
        mine = self.participant(self.address)
        need_peer = as_peer and mine.peer_stake == 0
        need_val = validator_stake > 0 and mine.validator_stake == 0
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

    def reveal(self, update: Update) -> Receipt:
        fn = self.coordinator.functions.reveal(_update_struct(update))
        return self.client.send(f"reveal:{update.round}", fn)

    def seal_attestation(self, round_: int, seal: bytes) -> Receipt:
        fn = self.coordinator.functions.sealAttestation(self.task_id, round_, seal)
        return self.client.send(f"seal:{round_}", fn)

    def attest(self, round_: int, attested: tuple[bytes, bytes, bytes, bytes, int], salt: bytes) -> Receipt:
        """Open the attestation sealed by seal_attestation (in the second half of the attest window)."""
        fn = self.coordinator.functions.attest(self.task_id, round_, *attested, salt)
        return self.client.send(f"attest:{round_}", fn)

    def claim(self, round_: int, index: int, amount: int, proof: list[bytes]) -> Receipt:
        fn = self.coordinator.functions.claim(self.task_id, round_, index, amount, proof)
        return self.client.send(f"claim:{round_}", fn)

    def claim_validator(self, round_: int) -> Receipt:
        fn = self.coordinator.functions.claimValidator(self.task_id, round_)
        return self.client.send(f"claim-validator:{round_}", fn)

    def execute_slash(self, round_: int, account: str, amount: int, reason: int, proof: list[bytes]) -> Receipt:
        fn = self.coordinator.functions.executeSlash(self.task_id, round_, account, amount, reason, proof)
        return self.client.send(f"slash:{round_}:{account.lower()}", fn)

    def slash_validator(self, round_: int, validator: str) -> Receipt:
        fn = self.coordinator.functions.slashValidator(self.task_id, round_, validator)
        return self.client.send(f"slash-validator:{round_}:{validator.lower()}", fn)

    def report_equivocation(self, first: Envelope, second: Envelope) -> Receipt:
        a, b = first.body, second.body
        assert isinstance(a, Update) and isinstance(b, Update)
        fn = self.coordinator.functions.reportEquivocation(_update_struct(a), first.signature,
                                                            _update_struct(b), second.signature)
        return self.client.send(f"equivocation:{a.round}:{a.peer.lower()}", fn)

    def leave(self) -> Receipt:
        return self.client.send(f"leave:{self.task_id}", self.coordinator.functions.leave(self.task_id))

    def start_round(self, round_: int) -> Receipt:
        """Begin a round at once, its previous round being finalized (Coordinator.startRound)."""
        return self.client.send(f"start:{round_}", self.coordinator.functions.startRound(self.task_id, round_))

    def mark_failed(self, round_: int, attempt: int = 0) -> Receipt:
        """Each attempt is its own journaled transaction: one mined with a revert (its block was
        stamped before the deadline) must not stop a later one."""
        purpose = f"failed:{round_}" if attempt == 0 else f"failed:{round_}:{attempt}"
        return self.client.send(purpose, self.coordinator.functions.markFailed(self.task_id, round_))
