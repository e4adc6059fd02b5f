"""Real peer processes on 127.0.0.1, always stopped when the test ends."""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from eth_utils import to_checksum_address

from harness.p2p.procs import PeerHandle
from loraswarm.node.p2p.keys import PeerIdentity, new_identity
from loraswarm.paths import PROJECT_ROOT

CHAIN_ID = 31337
TASK_ID = 7
COORDINATOR = to_checksum_address("0x" + "c0" * 20)


class Swarm:
    """Starts peers that bootstrap from every peer already started (a full mesh)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.peers: list[PeerHandle] = []
        self.registered: list[str] = []

    def identities(self, n: int) -> list[PeerIdentity]:
        ids = [new_identity() for _ in range(n)]
        self.registered += [i.address for i in ids]
        return ids

    def start(self, identity: PeerIdentity, name: str, *, attacker: bool = False,
              round: int = 0, bootstrap: list[str] | None = None) -> PeerHandle:
        handle = PeerHandle(
            name, identity, self.root / name,
            chain_id=CHAIN_ID, coordinator=COORDINATOR, task_id=TASK_ID,
            registered=self.registered, round=round,
            bootstrap=[p.addr for p in self.peers if p.alive()] if bootstrap is None else bootstrap,
            module="tests.p2p.attacker" if attacker else "harness.p2p.peer",
            python_path=[str(PROJECT_ROOT)],
        )
        self.peers.append(handle)
        return handle.start()

    def stop(self) -> None:
        for peer in self.peers:
            peer.signal_stop()
        for peer in self.peers:
            peer.stop()


@pytest.fixture
def swarm(tmp_path: Path) -> Iterator[Swarm]:
    s = Swarm(tmp_path)
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def connected() -> Callable[[list[PeerHandle], int], None]:
    from harness.p2p.procs import eventually

    def wait(peers: list[PeerHandle], n: int) -> None:
        for peer in peers:
            eventually(lambda p=peer: p.request("stats")["topic_peers"] >= n, 20, f"{peer.name} mesh")

    return wait
