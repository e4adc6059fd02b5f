"""A flood of 1,000 messages/s from one registered peer over the real p2p stack (peer
processes, gossipsub, the edge validator): gossip's per-peer rate limit drops most of it before
validation, the rest is refused at the edge, honest announcements sent during the flood all
arrive, and the receiver's memory stays flat."""

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from loraswarm.node.p2p.procs import PeerHandle, eventually
from loraswarm.paths import PROJECT_ROOT
from tests.p2p.conftest import CHAIN_ID, COORDINATOR, TASK_ID, Swarm

pytestmark = pytest.mark.e2e

RATE = 1000.0
SECONDS = 4
HONEST_ROUNDS = 4
RSS_GROWTH_MB = 40


def start_flooder(swarm: Swarm, root: Path) -> PeerHandle:
    identity, = swarm.identities(1)
    handle = PeerHandle(
        "flooder", identity, root / "flooder", chain_id=CHAIN_ID, coordinator=COORDINATOR, task_id=TASK_ID,
        registered=swarm.registered, bootstrap=[p.addr for p in swarm.peers],
        module="tests.reliability.flooder", python_path=[str(PROJECT_ROOT)],
    )
    swarm.peers.append(handle)
    return handle.start()


def test_one_peer_flooding_1000_messages_per_second_is_contained(tmp_path: Path) -> None:
    swarm = Swarm(tmp_path)
    try:
        ids = swarm.identities(2)
        sender, receiver = (swarm.start(identity, f"h{k}") for k, identity in enumerate(ids))
        flooder = start_flooder(swarm, tmp_path)
        for peer in (sender, receiver, flooder):
            eventually(lambda p=peer: p.request("stats")["topic_peers"] >= 2, 20, f"{peer.name} mesh")
        blob = sender.request("put", size=1000)
        first = sender.request("announce", round=0, hash=blob["hash"], size=blob["size"])["envelope"]
        receiver.wait(lambda: len(receiver.received) == 1, 10, "the first honest announcement")
        rss_before = receiver.request("stats")["rss_mb"]

        with ThreadPoolExecutor(1) as pool:  # the flooder's request blocks until the flood ends
            flood = pool.submit(flooder.request, "flood", count=int(RATE * SECONDS), rate=RATE, replay=first,
                                replay_every=10)
            for r in range(1, HONEST_ROUNDS + 1):  # honest rounds while the flood runs
                time.sleep(SECONDS / (HONEST_ROUNDS + 1))
                for peer in (sender, receiver):
                    peer.request("set_round", round=r)
                sender.request("announce", round=r, hash=blob["hash"], size=blob["size"])
            done = flood.result(timeout=SECONDS * 10)
        receiver.wait(lambda: len(receiver.received) == 1 + HONEST_ROUNDS, 15, "every honest announcement")

        stats = receiver.request("stats")
        refused = sum(n for reason, n in stats["verdicts"].items() if reason != "ACCEPTED")
        print(f"flood: {done['sent']} messages in {done['seconds']:.1f} s; receiver refused {refused} at the edge "
              f"(the rest dropped by the rate limit); rss {rss_before} -> {stats['rss_mb']} MB")
        assert done["sent"] / done["seconds"] >= 0.8 * RATE  # the flood really ran at ~1,000/s
        assert stats["verdicts"]["ACCEPTED"] == 1 + HONEST_ROUNDS
        assert {e["origin"] for e in receiver.received} == {sender.peer_id}
        assert refused < done["sent"] / 2  # most of the flood never reached validation
        assert stats["rss_mb"] < rss_before + RSS_GROWTH_MB
        assert all(peer.alive() for peer in (sender, receiver, flooder))
    finally:
        swarm.stop()
