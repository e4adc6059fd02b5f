"""Small fakes of the chain and the network for the node's role tests: what the roles see through
``node.roles.context.Chain`` and ``Network``, kept in memory, on trio's mock clock.

FakeChain keeps commits, seals, openings, claims and slashes as lists the tests read back; each
write can be made to revert (``refuse``) as the coordinator would. Chain time is the mock clock
plus the task's start, so that ``sleep_until`` jumps straight to the next window.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import trio
from eth_account import Account
from eth_utils import to_checksum_address
from trio.testing import MockClock

from loraswarm.node.blobs import Blobs
from loraswarm.node.chain.client import Receipt
from loraswarm.node.chain.errors import ChainRevert
from loraswarm.node.chain.task import (
    CommitLog,
    FinalizedTuple,
    JudgingInputs,
    Participation,
    RevealedUpdate,
    RoundInfo,
    TaskInfo,
)
from loraswarm.node.codec import AdapterSpec, Codec, Delta, encode_delta
from loraswarm.node.config import NodeConfig
from loraswarm.node.globals import Globals, encode_global
from loraswarm.node.metrics import NodeMetrics
from loraswarm.node.p2p.envelope import Body, Domain, Envelope, Update, sign
from loraswarm.node.p2p.errors import BlobUnavailable
from loraswarm.node.reporter import Reporter
from loraswarm.node.roles.context import NodeContext
from loraswarm.node.state.store import StateStore
from loraswarm.node.status import NodeStatus
from loraswarm.node.training.outcome import TrainedDelta, TrainStats
from loraswarm.protocol.chain import RoundStatus
from loraswarm.protocol.taskspec import TaskSpec

TOKEN = 10**18
SPEC = AdapterSpec.of({"a.lora_A": (2, 8), "a.lora_B": (8, 2), "b.lora_A": (2, 8), "b.lora_B": (8, 2)})
DOMAIN = Domain(31337, to_checksum_address("0x" + "c0" * 20))
START = 1_000_000.0
_counter = itertools.count()


def task_info(**changes: Any) -> TaskInfo:
    info = TaskInfo(
        task_id=1, base_model_hash=b"\1" * 32, initial_global=b"\2" * 32, spec_hash=b"\3" * 32, rule_id=1,
        quorum_bps=6_000, validator_bps=1_000, start=int(START), commit_s=100, reveal_s=20, attest_s=40,
        claim_s=600, reward_per_round=1_000 * TOKEN, min_peer_stake=100 * TOKEN, min_validator_stake=1_000 * TOKEN,
        validator_slash=200 * TOKEN, absence_slash=50 * TOKEN, budget=10_000 * TOKEN, slash_pool=0,
        validator_weight=3_000 * TOKEN, latest_global=b"\2" * 32, latest_finalized=None)
    return replace(info, **changes)


def receipt(purpose: str) -> Receipt:
    return Receipt(purpose, "0x" + f"{next(_counter):064x}", 1, 50_000)


@dataclass
class FakeChain:
    clock: MockClock
    address: str
    info: TaskInfo = field(default_factory=task_info)
    commit_logs: dict[int, list[CommitLog]] = field(default_factory=dict)
    revealed: dict[int, dict[str, RevealedUpdate]] = field(default_factory=dict)  # round -> peer -> update
    stakes: dict[str, int] = field(default_factory=dict)
    equivocated: set[str] = field(default_factory=set)
    status: dict[int, RoundStatus] = field(default_factory=dict)
    final: dict[int, FinalizedTuple] = field(default_factory=dict)
    validators: list[str] = field(default_factory=list)
    sent: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)  # write -> custom error it reverts with
    first_round: int = 0  # the first round this node's validator registration counts in
    stale_reads: int = 0  # round_info calls that still see an open round

    # reads
    def now(self) -> float:
        return START + self.clock.current_time()

    def head_time(self) -> int:
        return int(self.now())

    def task(self) -> TaskInfo:
        return self.info

    def round_info(self, round_: int) -> RoundInfo:
        if self.stale_reads > 0:  # an RPC node whose latest block lags behind the chain
            self.stale_reads -= 1
            return RoundInfo(RoundStatus.OPEN, b"", b"", 0, 0)
        return RoundInfo(self.status.get(round_, RoundStatus.OPEN), b"", b"", 0, 0)

    def participant(self, account: str) -> Participation:
        return Participation(self.stakes.get(account, 100 * TOKEN), 1_000 * TOKEN, 0, self.first_round)

    def pinned_block(self, round_: int) -> int | None:
        return 100 + round_ if self.now() >= self.info.windows(round_)[2] + 1 else None

    def judging_inputs(self, round_: int, block: int) -> JudgingInputs:
        commits = tuple(self.commit_logs.get(round_, []))
        return JudgingInputs(block, commits, dict(self.revealed.get(round_, {})),
                             {c.peer: self.stakes.get(c.peer, 100 * TOKEN) for c in commits}, self.info.available,
                             frozenset(self.equivocated), tuple(sorted(self.final)))

    def commits(self, round_: int) -> list[CommitLog]:
        return list(self.commit_logs.get(round_, []))

    def finalized_tuple(self, round_: int) -> FinalizedTuple | None:
        return self.final.get(round_)

    def finalized_rounds(self) -> list[int]:
        return sorted(self.final)

    def registered(self) -> tuple[list[str], list[str]]:
        return [c.peer for cs in self.commit_logs.values() for c in cs], list(self.validators)

    # writes
    def _write(self, name: str, *args: Any) -> Receipt:
        if name in self.refuse:
            raise ChainRevert(name, self.refuse[name])
        self.sent.append((name, args))
        return receipt(name)

    def add_commit(self, peer: str, round_: int, commitment: bytes) -> None:
        logs = self.commit_logs.setdefault(round_, [])
        logs.append(CommitLog(peer, commitment, (len(logs) + 1, 0)))

    def commit(self, round_: int, commitment: bytes) -> Receipt:
        done = self._write("commit", round_, commitment)
        self.add_commit(self.address, round_, commitment)
        return done

    def seal_attestation(self, round_: int, seal: bytes) -> Receipt:
        return self._write("seal", round_, seal)

    def attest(self, round_: int, attested: tuple[bytes, bytes, bytes, bytes, int], salt: bytes) -> Receipt:
        return self._write("attest", round_, attested, salt)

    def claim(self, round_: int, index: int, amount: int, proof: list[bytes]) -> Receipt:
        return self._write("claim", round_, index, amount)

    def claim_validator(self, round_: int) -> Receipt:
        return self._write("claim_validator", round_)

    def execute_slash(self, round_: int, account: str, amount: int, reason: int, proof: list[bytes]) -> Receipt:
        return self._write("execute_slash", round_, account, amount, reason)

    def slash_validator(self, round_: int, validator: str) -> Receipt:
        return self._write("slash_validator", round_, validator)

    def report_equivocation(self, first: Envelope, second: Envelope) -> Receipt:
        return self._write("report_equivocation", first.body.peer, first.body.round)

    def reveal(self, update: Update) -> Receipt:
        done = self._write("reveal", update.peer, update.round)
        self.add_reveal(update)
        return done

    def add_reveal(self, update: Update) -> None:
        self.revealed.setdefault(update.round, {})[update.peer.lower()] = RevealedUpdate(
            update.base_hash, update.delta_hash, update.delta_size, update.sample_count)

    def leave(self) -> Receipt:
        return self._write("leave")

    def start_round(self, round_: int) -> Receipt:
        return self._write("start_round", round_)

    def mark_failed(self, round_: int, attempt: int = 0) -> Receipt:
        done = self._write("mark_failed", round_)
        self.status[round_] = RoundStatus.FAILED
        return done

    def names(self) -> list[str]:
        return [name for name, _ in self.sent]


class FakeStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs: dict[bytes, bytes] = {}

    def has(self, digest: bytes) -> bool:
        return digest in self.blobs

    def get(self, digest: bytes) -> bytes:
        return self.blobs[digest]

    def size(self, digest: bytes) -> int:
        return len(self.blobs[digest])


@dataclass
class FakeNetwork:
    root: Path
    remote: dict[bytes, bytes] = field(default_factory=dict)  # what peers would serve
    announced: list[Body] = field(default_factory=list)
    published: list[Envelope] = field(default_factory=list)
    fetches: int = 0

    def __post_init__(self) -> None:
        self.store = FakeStore(self.root)

    async def announce(self, body: Body) -> Envelope:
        self.announced.append(body)
        return sign(DOMAIN, body, Account.create())

    async def publish(self, envelope: Envelope) -> None:
        self.published.append(envelope)

    def put_blob(self, data: bytes) -> bytes:
        from loraswarm.keccak import keccak256

        digest = keccak256(data)
        self.store.blobs[digest] = data
        return digest

    async def fetch(self, digest: bytes, size: int | None = None, providers: Sequence[Any] = (),
                    purpose: str = "blob") -> Path:
        self.fetches += 1
        await trio.sleep(0)
        if digest not in self.remote:
            raise BlobUnavailable(f"{digest.hex()[:8]} nowhere")
        self.store.blobs[digest] = self.remote[digest]
        path = self.root / digest.hex()
        path.write_bytes(self.remote[digest])
        return path


def node_config(tmp: Path, roles: Sequence[str]) -> NodeConfig:
    return NodeConfig.model_validate({
        "node": {"name": "n", "data_dir": str(tmp), "roles": list(roles)},
        "keys": {"keystore": str(tmp / "key.json")},
        "chain": {"deployment": str(tmp / "d.json"), "task_file": str(tmp / "t.json"), "poll_s": 0.5},
    })


def reporter_of(tmp: Path, address: str, roles: Sequence[str], store: StateStore) -> Reporter:
    return Reporter(NodeStatus("n", address, list(roles), "honest"), tmp / "status.json", store, NodeMetrics())


def make_context(tmp: Path, clock: MockClock, account: Any, roles: Sequence[str] = ("trainer", "validator"),
                 spec_file: TaskSpec | None = None) -> NodeContext:
    store = StateStore(tmp / "state.sqlite")
    chain = FakeChain(clock, account.address)
    return NodeContext(node_config(tmp, roles), spec_file or TaskSpec(task_id=1), account.address, chain,
                       FakeNetwork(tmp), store, reporter_of(tmp, account.address, roles, store))


def delta(seed: int, scale: float = 0.01) -> Delta:
    """An honest-looking delta: a direction all seeds share plus a third as much of their own
    (independent random deltas would all be rejected as noise)."""
    shared, own = torch.Generator().manual_seed(10_000), torch.Generator().manual_seed(seed)
    return {k: (torch.randn(s, generator=shared) + torch.randn(s, generator=own) / 3) * scale for k, s in SPEC.shapes}


@dataclass
class FakeLearner:
    """Trains by returning a seeded random delta; counts its trainings. ``steps``: how many it
    reports (the default task recipe asks for 20)."""

    seed: int = 0
    spec: AdapterSpec = SPEC
    trainings: int = 0
    steps: int = 20

    def train(self, start: Delta, round_: int, behaviour: str, deadline: float | None = None) -> TrainedDelta:
        self.trainings += 1
        return TrainedDelta(delta(self.seed * 100 + round_), TrainStats(self.steps, 256, 1.0, 256.0, 1.0, 1.0, False))

    def initial_global(self) -> tuple[Delta, bytes, str]:
        state = SPEC.zeros()
        data, digest = encode_global(state, SPEC)
        return state, data, digest


def signed_update(account: Any, round_: int, network: FakeNetwork, the_delta: Delta, base: str,
                  samples: int = 256) -> Envelope:
    """A peer's update of a round, its delta served by the network (as the peer would)."""
    data = encode_delta(the_delta, SPEC, Codec("fp32"))
    digest = network.put_blob(data)
    network.remote[digest] = data
    body = Update(task_id=1, round=round_, peer=account.address, base_hash=bytes.fromhex(base[2:]), delta_hash=digest,
                  delta_size=len(data), sample_count=samples, codec_id=0, salt=bytes(range(32)))
    return sign(DOMAIN, body, account)


def globals_of(ctx: NodeContext, blobs: Blobs) -> Globals:
    """The node's globals: its folder, peers through the fake network, and the initial global
    FakeLearner derives (the task must name that one's hash for it to be used)."""
    assert isinstance(ctx.chain, FakeChain)
    return Globals(ctx.data_dir, SPEC, "0x" + ctx.chain.info.initial_global.hex(), FakeLearner().initial_global, blobs)

