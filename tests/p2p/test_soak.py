"""Soak: 4 peers run rounds of announcements and fetches for two minutes (LORASWARM_SOAK_S);
every announcement arrives, every blob verifies, and no peer's memory keeps growing."""

import os
import time

import pytest

pytestmark = pytest.mark.e2e

SOAK_S = float(os.environ.get("LORASWARM_SOAK_S", "120"))
BLOB_BYTES = 256 * 1024
WARMUP_ROUNDS = 3


def test_rounds_for_two_minutes_lose_nothing_and_keep_rss_flat(swarm, connected):
    ids = swarm.identities(4)
    peers = [swarm.start(identity, f"p{k}") for k, identity in enumerate(ids)]
    connected(peers, 3)
    baseline: list[float] = []
    deadline = time.monotonic() + SOAK_S
    round = 0
    while round < WARMUP_ROUNDS + 2 or time.monotonic() < deadline:
        for peer in peers:
            peer.request("set_round", round=round)
        announced = {}
        for peer in peers:
            blob = peer.request("put", size=BLOB_BYTES)
            peer.request("announce", round=round, hash=blob["hash"], size=blob["size"])
            announced[peer.peer_id] = blob["hash"]
        for peer in peers:
            def arrived(p=peer, r=round):
                return {e["origin"] for e in p.received
                        if e["envelope"]["round"] == r and e["origin"] != p.peer_id}

            peer.wait(lambda p=peer, a=arrived: len(a(p)) == 3, 15, f"round {round} announcements")
            for origin in arrived():
                answer = peer.request("fetch", hash=announced[origin], size=BLOB_BYTES, providers=[origin])
                assert answer["size"] == BLOB_BYTES
        if round == WARMUP_ROUNDS:
            baseline = [peer.request("stats")["rss_mb"] for peer in peers]
        round += 1

    final = [peer.request("stats") for peer in peers]
    print(f"soak: {round} rounds; rss MB {baseline} -> {[s['rss_mb'] for s in final]}")
    for peer, stats, start in zip(peers, final, baseline, strict=True):
        # every envelope of every round arrived once (its own included); nothing was rejected
        assert len(peer.received) == 4 * round
        assert stats["verdicts"] == {"ACCEPTED": 4 * round}, stats["verdicts"]
        assert stats["rss_mb"] < start * 1.2, (peer.name, start, stats["rss_mb"], round)
