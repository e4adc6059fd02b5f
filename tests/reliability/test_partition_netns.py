"""Network faults between real processes in separate network namespaces (tests/reliability/netns):
every frame leaving a namespace is delayed 50 ms and 1% are lost, then a partition cuts the
peers into two sides and heals. Blobs still arrive and verify, and so do the ones announced
while the sides could not hear each other; a round whose reveals a validator missed finalizes
or fails cleanly, never twice, and the round after the heal finalizes."""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from eth_hash.auto import keccak
from rich.console import Console
from web3 import HTTPProvider, Web3

from harness.p2p.procs import PeerHandle, eventually
from loraswarm.demo.network import default_plans
from loraswarm.demo.run import DemoConfig, launch, local_network, stop
from loraswarm.evm.deploy import Deployment, attach
from loraswarm.evm.tasks import TaskTerms
from loraswarm.node.p2p.keys import PeerIdentity
from loraswarm.node.state.store import StateStore
from loraswarm.paths import PROJECT_ROOT
from loraswarm.protocol.chain import RoundStatus
from tests.p2p.conftest import CHAIN_ID, COORDINATOR, TASK_ID, Swarm
from tests.reliability.netns import Netem, NetLab, NetnsUnavailable, require_netns
from tests.support import wait_for_status

pytestmark = pytest.mark.e2e

NETEM = Netem(delay_ms=50, loss=0.01)
BLOB_BYTES = 2 * 2**20
PARTITION_S = 30


@pytest.fixture
def lab(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NetLab]:
    try:
        require_netns()
    except NetnsUnavailable as why:
        pytest.skip(f"no network namespaces here: {why}")
    with NetLab(request.param, tmp_path / "lab", NETEM) as net:
        yield net


class NamespacedSwarm(Swarm):
    """The p2p tests' swarm, with peer k in namespace k, listening on its namespace's address."""

    def __init__(self, root: Path, lab: NetLab) -> None:
        super().__init__(root)
        self.lab = lab

    def start_in(self, index: int, identity: PeerIdentity, name: str) -> PeerHandle:
        workdir = self.root / name
        handle = PeerHandle(
            name, identity, workdir,
            chain_id=CHAIN_ID, coordinator=COORDINATOR, task_id=TASK_ID, registered=self.registered,
            bootstrap=[p.addr for p in self.peers if p.alive()],
            listen=[f"/ip4/{self.lab.hosts[index].ip}/tcp/0"],
            python_path=[str(PROJECT_ROOT)],
            command=[*self.lab.exec_prefix(index), sys.executable, "-m", "harness.p2p.peer",
                     "--config", str(workdir / "peer.json")],
        )
        self.peers.append(handle)
        return handle.start()


def _has_blob(peer: PeerHandle, digest: str) -> bool:
    """The peer stored the blob under its hash, and the bytes hash to it."""
    path = peer.workdir / "data" / "blobs" / digest.removeprefix("0x")
    return path.is_file() and "0x" + keccak(path.read_bytes()).hex() == digest


def _announce(peer: PeerHandle, round_: int) -> str:
    blob = peer.request("put", size=BLOB_BYTES)
    peer.request("announce", round=round_, hash=blob["hash"], size=blob["size"])
    return str(blob["hash"])


@pytest.mark.parametrize("lab", [3], indirect=True)
def test_blobs_cross_a_lossy_wan_and_a_healed_partition(lab: NetLab, tmp_path: Path) -> None:
    swarm = NamespacedSwarm(tmp_path / "peers", lab)
    try:
        ids = swarm.identities(3)
        a, b, c = (swarm.start_in(k, identity, name) for k, (identity, name) in enumerate(zip(ids, "abc", strict=True)))
        for peer in (a, b, c):
            eventually(lambda p=peer: p.request("stats")["topic_peers"] >= 2, 60, f"{peer.name} mesh")
            # as the node daemon does: fetch every announced blob from its announcer on arrival
            peer.request("auto_fetch", on=True)
        # the delay is real: one ping crosses two namespace egresses
        assert b.request("ping", peer=a.peer_id)["rtt_ms"] >= 2 * NETEM.delay_ms

        first = _announce(a, 0)
        for peer in (b, c):
            eventually(lambda p=peer: _has_blob(p, first), 60, f"{peer.name}: the first blob")

        lab.partition([0], [1, 2])
        cut_at = time.monotonic()
        during_a = _announce(a, 1)
        during_b = _announce(b, 1)
        eventually(lambda: _has_blob(c, during_b), 60, "c: b's blob from its side of the partition")
        # the cut is real: nothing crossed it
        assert not _has_blob(a, during_b) and not _has_blob(b, during_a) and not _has_blob(c, during_a)
        assert lab.stats()["cut"] > 0
        # long enough for TCP's retransmission backoff to grow: the stalled connections then stay
        # silent for a while after the heal (the announcements cross only when TCP retransmits)
        time.sleep(max(0.0, cut_at + PARTITION_S - time.monotonic()))

        lab.heal()
        for peer, digest in ((a, during_b), (b, during_a), (c, during_a)):
            eventually(lambda p=peer, d=digest: _has_blob(p, d), 120, f"{peer.name}: {digest} after healing")
        for peer in (a, b, c):
            assert peer.alive()
            assert set(peer.request("stats")["verdicts"]) == {"ACCEPTED"}
    finally:
        swarm.stop()


@pytest.mark.parametrize("lab", [3], indirect=True)
def test_a_round_with_a_validator_partitioned_off_fails_cleanly_and_the_next_finalizes(
        lab: NetLab, tmp_path: Path) -> None:
    """Three nodes (two validators) in namespaces, the chain at the LAN's gateway (reachable from
    both sides, as a public chain would be). Validator peer1 is cut off from the other peers once
    every commitment of round 0 is in, so it hears no reveal but its own, and the partition heals
    once both validators are done with round 0."""
    plans = [replace(plan, host=host.ip) for plan, host in zip(default_plans(3, 2), lab.hosts, strict=True)]
    config = DemoConfig(peers=3, rounds=2, validators=2, steps=2, batch_size=2, seq_len=32, plans=tuple(plans),
                        terms=TaskTerms(commit_s=60, reveal_s=15, attest_s=30, start_delay_s=45),
                        workdir=tmp_path / "net", chain_host=lab.gateway)
    with local_network(config, Console(width=160)) as net:
        procs = {p.plan.name: launch(p, config.rounds, prefix=lab.exec_prefix(i)) for i, p in enumerate(net.peers)}
        try:
            status_files = [p.data_dir / "status.json" for p in net.peers]
            for path in status_files:
                wait_for_status(path, lambda s: s.committed >= 1, 300)
            lab.partition([1], [0, 2])
            for path in status_files[:2]:  # the validators
                wait_for_status(path, lambda s: s.round > 0 or s.phase == "awaiting quorum", 200)
            cut = lab.stats()["cut"]
            lab.heal()
            for path in status_files:
                wait_for_status(path, lambda s: s.phase == "stopped", 300)
            codes = {name: proc.wait(timeout=60) for name, proc in procs.items()}
        finally:
            stop(procs)
        assert codes == dict.fromkeys(procs, 0), (codes, net.workdir)
        assert cut > 0  # the partition dropped traffic between the sides

        w3 = Web3(HTTPProvider(net.rpc_url))
        coordinator = attach(Deployment.from_file(net.deployment_file), w3)["Coordinator"]
        finalized = Counter(e["args"]["round"] for e in coordinator.events.RoundFinalized().get_logs(from_block=0))
        status = [RoundStatus(coordinator.functions.roundInfo(1, r).call()[0]) for r in (0, 1)]
        outcomes = [{_outcome(p.data_dir, r) for p in net.peers} for r in (0, 1)]
    # no two finalized globals for one round
    assert set(finalized) <= {0, 1} and all(n == 1 for n in finalized.values()), finalized
    # the partitioned round finalized or failed, every node agrees which, and so does the chain
    # (validators mark a round without quorum failed)
    expected = "finalized" if finalized[0] else "failed"
    assert outcomes[0] == {expected}, outcomes
    assert status[0] == (RoundStatus.FINALIZED if finalized[0] else RoundStatus.FAILED), status
    # the round after healing finalizes
    assert outcomes[1] == {"finalized"} and status[1] == RoundStatus.FINALIZED and finalized[1] == 1


def _outcome(data_dir: Path, round_: int) -> str:
    """The round's outcome as the node recorded it in its state."""
    store = StateStore(data_dir / "state.sqlite")
    try:
        record = store.round(round_)
        return str(((record.outcome if record else None) or {}).get("status"))
    finally:
        store.close()
