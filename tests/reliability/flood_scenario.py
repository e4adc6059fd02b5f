"""One registered peer floods the update topic at 1,000 messages/s over the real p2p stack
(peer processes, gossipsub, the edge validator) while an honest peer announces a round update
every ~0.8 s. Shared by test_flood.py and benchmarks/reliability.py."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from harness.p2p.procs import PeerHandle, eventually
from loraswarm.paths import PROJECT_ROOT
from tests.p2p.conftest import CHAIN_ID, COORDINATOR, TASK_ID, Swarm

RATE = 1000.0
SECONDS = 4
HONEST_ROUNDS = 4


@dataclass(frozen=True)
class FloodRun:
    sent: int
    seconds: float
    refused_at_edge: int  # flood messages that got past gossip's rate limit to the validator
    honest_sent: int
    honest_accepted: int
    foreign_delivered: int  # envelopes delivered to the node from anyone but the honest sender
    rss_before_mb: float
    rss_after_mb: float
    all_alive: bool


def _start_flooder(swarm: Swarm, root: Path) -> PeerHandle:
    identity, = swarm.identities(1)
    handle = PeerHandle(
        "flooder", identity, root / "flooder", chain_id=CHAIN_ID, coordinator=COORDINATOR, task_id=TASK_ID,
        registered=swarm.registered, bootstrap=[p.addr for p in swarm.peers],
        module="tests.reliability.flooder", python_path=[str(PROJECT_ROOT)],
    )
    swarm.peers.append(handle)
    return handle.start()


def run_flood(root: Path) -> FloodRun:
    swarm = Swarm(root)
    try:
        ids = swarm.identities(2)
        sender, receiver = (swarm.start(identity, f"h{k}") for k, identity in enumerate(ids))
        flooder = _start_flooder(swarm, root)
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
        receiver.wait(lambda: len(receiver.received) >= 1 + HONEST_ROUNDS, 15, "every honest announcement")
        stats = receiver.request("stats")
        return FloodRun(
            sent=int(done["sent"]), seconds=float(done["seconds"]),
            refused_at_edge=sum(n for reason, n in stats["verdicts"].items() if reason != "ACCEPTED"),
            honest_sent=1 + HONEST_ROUNDS,
            honest_accepted=sum(e["origin"] == sender.peer_id for e in receiver.received),
            foreign_delivered=sum(e["origin"] != sender.peer_id for e in receiver.received),
            rss_before_mb=rss_before, rss_after_mb=stats["rss_mb"],
            all_alive=all(peer.alive() for peer in (sender, receiver, flooder)),
        )
    finally:
        swarm.stop()
