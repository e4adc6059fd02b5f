"""A js-libp2p 3.x peer (TCP + Noise + Yamux + gossipsub) and a Python peer share a topic and
receive each other's messages; the js peer's envelope passes the Python edge validator."""

import os

import pytest

from harness.p2p.procs import PeerHandle, eventually
from loraswarm.node.p2p.envelope import Domain, Update, sign
from loraswarm.paths import PROJECT_ROOT
from loraswarm.protocol import wire
from tests.p2p.conftest import CHAIN_ID, COORDINATOR, TASK_ID

pytestmark = pytest.mark.e2e

JS_PEER = PROJECT_ROOT / "tests" / "p2p" / "js" / "peer.mjs"


def test_gossip_flows_both_ways_between_python_and_js(swarm):
    py_identity, js_identity = swarm.identities(2)
    python = swarm.start(py_identity, "python")
    updates = wire.topic(CHAIN_ID, TASK_ID, wire.UPDATES_TOPIC)
    js = PeerHandle(
        "js", js_identity, swarm.root / "js", chain_id=CHAIN_ID, coordinator=COORDINATOR,
        task_id=TASK_ID, registered=[],
        command=["node", str(JS_PEER), updates, python.addr],
    )
    swarm.peers.append(js)
    js.start()
    assert js.peer_id == str(js_identity.peer_id)  # same key, same peer id in both stacks
    eventually(lambda: python.request("stats")["topic_peers"] >= 1, 20, "python sees js on the topic")
    eventually(lambda: js.request("stats")["topic_peers"] >= 1, 20, "js sees python on the topic")

    # Python -> js: an announcement signed and gossiped by the Python peer
    blob = python.request("put", size=1000)
    sent = python.request("announce", round=0, hash=blob["hash"], size=blob["size"])
    js.wait(lambda: any(m["data"] == sent["envelope"] for m in js.received), 15, "python's envelope")

    # js -> Python: an envelope signed with the js peer's account, gossiped by js-libp2p
    body = Update(TASK_ID, 0, js_identity.address, b"\0" * 32, os.urandom(32), 10, 1, 0, os.urandom(32))
    envelope = sign(Domain(CHAIN_ID, COORDINATOR), body, js_identity.account).encode()
    js.request("publish", topic=updates, data=envelope.hex())
    python.wait(lambda: any(e["raw"] == envelope.hex() for e in python.received), 15, "js's envelope")
    event = next(e for e in python.received if e["raw"] == envelope.hex())
    assert event["origin"] == js.peer_id
    assert python.request("stats")["verdicts"].get("ACCEPTED") == 2
