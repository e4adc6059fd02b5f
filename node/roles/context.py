"""What every role of a node shares: its identity, task, state journal, chain, network and reporter.

The roles see the chain and the network through two small interfaces (``Chain``, ``Network``): the
node passes the real ``TaskChain`` and ``P2PService``, unit tests pass fakes. Chain calls block on
web3, so ``call`` runs them in a worker thread (gossip keeps flowing meanwhile); waiting is on
chain time, which a local chain that mines on demand lets lag the clock (``TaskChain.now``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Protocol, TypeVar

import trio

from loraswarm.node.chain.client import Receipt
from loraswarm.node.chain.task import (
    CommitLog,
    FinalizedTuple,
    JudgingInputs,
    Participation,
    RoundInfo,
    TaskInfo,
)
from loraswarm.node.config import NodeConfig
from loraswarm.node.p2p.envelope import Body, Envelope, Update
from loraswarm.node.reporter import Reporter
from loraswarm.node.state.store import StateStore
from loraswarm.protocol.taskspec import TaskSpec

T = TypeVar("T")


class Chain(Protocol):
    """The coordinator calls the roles make (``node.chain.task.TaskChain``)."""

    address: str

    def now(self) -> float: ...
    def head_time(self) -> int: ...
    def task(self) -> TaskInfo: ...
    def round_info(self, round_: int) -> RoundInfo: ...
    def participant(self, account: str) -> Participation: ...
    def pinned_block(self, round_: int) -> int | None: ...
    def judging_inputs(self, round_: int, block: int) -> JudgingInputs: ...
    def commits(self, round_: int) -> list[CommitLog]: ...
    def finalized_tuple(self, round_: int) -> FinalizedTuple | None: ...
    def finalized_rounds(self) -> list[int]: ...
    def registered(self) -> tuple[list[str], list[str]]: ...
    def commit(self, round_: int, commitment: bytes) -> Receipt: ...
    def reveal(self, update: Update) -> Receipt: ...
    def seal_attestation(self, round_: int, seal: bytes) -> Receipt: ...
    def attest(self, round_: int, attested: tuple[bytes, bytes, bytes, bytes, int], salt: bytes) -> Receipt: ...
    def claim(self, round_: int, index: int, amount: int, proof: list[bytes]) -> Receipt: ...
    def claim_validator(self, round_: int) -> Receipt: ...
    def execute_slash(self, round_: int, account: str, amount: int, reason: int, proof: list[bytes]) -> Receipt: ...
    def slash_validator(self, round_: int, validator: str) -> Receipt: ...
    def report_equivocation(self, first: Envelope, second: Envelope) -> Receipt: ...
    def mark_failed(self, round_: int, attempt: int = 0) -> Receipt: ...
    def start_round(self, round_: int) -> Receipt: ...
    def leave(self) -> Receipt: ...


class BlobStore(Protocol):
    def has(self, digest: bytes) -> bool: ...
    def get(self, digest: bytes) -> bytes: ...
    def size(self, digest: bytes) -> int: ...


class Network(Protocol):
    """The p2p calls the roles make (``node.p2p.service.P2PService``)."""

    store: BlobStore

    async def announce(self, body: Body) -> Envelope: ...
    async def publish(self, envelope: Envelope) -> None: ...
    def put_blob(self, data: bytes) -> bytes: ...
    async def fetch(self, digest: bytes, size: int | None = None, providers: Sequence[Any] = (),
                    purpose: str = "blob") -> Path: ...


@dataclass
class NodeContext:
    config: NodeConfig
    spec_file: TaskSpec
    address: str
    chain: Chain
    network: Network
    store: StateStore
    reporter: Reporter

    @property
    def data_dir(self) -> Path:
        return self.config.node.data_dir

    async def call(self, fn: Callable[..., T], *args: object) -> T:
        """A blocking (chain) call in a worker thread."""
        return await trio.to_thread.run_sync(partial(fn, *args), abandon_on_cancel=True)

    async def sleep_until(self, timestamp: float) -> None:
        """Sleep until chain time reaches ``timestamp``."""
        while True:
            now = await self.call(self.chain.now)
            if now >= timestamp:
                return
            await trio.sleep(min(timestamp - now, self.config.chain.poll_s * 4))

    async def sleep_until_due(self, due: Callable[[TaskInfo], float]) -> TaskInfo:
        """Sleep until chain time reaches ``due(task)``, the task read again at every poll: on a
        task whose phases end early the time comes forward once everyone has acted. Returns
        the task as last read."""
        while True:
            task = await self.call(self.chain.task)
            now = await self.call(self.chain.now)
            if now >= due(task):
                return task
            pause = self.config.chain.poll_s * (1 if task.phases_end_early else 4)
            await trio.sleep(min(due(task) - now, pause))
