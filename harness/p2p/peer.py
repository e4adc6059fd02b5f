"""A p2p peer as its own process, driven by JSON lines: the tests, the benchmark and the js
interop check run real peers through it.

    python -m harness.p2p.peer --config peer.json

stdin takes one request per line, `{"id": 1, "op": "fetch", ...}`; stdout carries one JSON object
per line: the answer `{"reply": 1, ...}` or an event (`ready`, `received`). The config names the
key through an environment variable, never inline, so it stays out of files and process lists.
"""

import argparse
import json
import os
import resource
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import trio
from libp2p.peer.id import ID
from pydantic import BaseModel, ConfigDict

from loraswarm.node.p2p.blobstore import hash_hex, parse_hash
from loraswarm.node.p2p.envelope import Update, as_dict
from loraswarm.node.p2p.errors import BlobUnavailable
from loraswarm.node.p2p.keys import identity_from_env
from loraswarm.node.p2p.service import P2PConfig, P2PService, Received
from loraswarm.protocol.codes import Reason

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]

# How long the auto-fetch of an announced blob keeps trying its providers, and its backoff.
FETCH_PATIENCE_S = 45.0
FETCH_RETRY_S = 1.0
FETCH_RETRY_MAX_S = 8.0


class PeerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key_env: str = "LORASWARM_PEER_KEY"
    chain_id: int
    coordinator: str
    task_id: int
    data_dir: Path
    listen: list[str] = ["/ip4/127.0.0.1/tcp/0"]
    bootstrap: list[str] = []
    registered: list[str]  # a static registry view; the node wires the chain's instead
    round: int = 0


def emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


class PeerProcess:
    """Maps JSON requests onto the P2PService API; subclasses add ops (the test attacker)."""

    def __init__(self, service: P2PService) -> None:
        self.service = service
        self.ops: dict[str, Handler] = {
            "put": self.op_put,
            "announce": self.op_announce,
            "fetch": self.op_fetch,
            "set_round": self.op_set_round,
            "auto_fetch": self.op_auto_fetch,
            "stats": self.op_stats,
            "ping": self.op_ping,
        }
        self.auto_fetch = False

    async def op_put(self, req: dict[str, Any]) -> dict[str, Any]:
        data = os.urandom(int(req["size"]))
        return {"hash": hash_hex(self.service.put_blob(data)), "size": len(data)}

    async def op_announce(self, req: dict[str, Any]) -> dict[str, Any]:
        body = Update(
            task_id=self.service.config.task_id,
            round=int(req["round"]),
            peer=self.service.identity.address,
            base_hash=parse_hash(req.get("base", "0x" + "00" * 32)),
            delta_hash=parse_hash(req["hash"]),
            delta_size=int(req["size"]),
            sample_count=int(req.get("samples", 1)),
            codec_id=int(req.get("codec", 0)),
            salt=os.urandom(32),
        )
        sent_at = time.time()
        envelope = await self.service.announce(body)
        return {"envelope": envelope.encode().hex(), "t": sent_at}

    async def op_fetch(self, req: dict[str, Any]) -> dict[str, Any]:
        start = time.perf_counter()
        path = await self.service.fetch(
            parse_hash(req["hash"]),
            req.get("size"),
            [ID.from_base58(p) for p in req.get("providers", [])],
        )
        return {"size": path.stat().st_size, "seconds": time.perf_counter() - start}

    async def op_set_round(self, req: dict[str, Any]) -> dict[str, Any]:
        self.service.set_round(int(req["round"]))
        return {}

    async def op_auto_fetch(self, req: dict[str, Any]) -> dict[str, Any]:
        """Fetch every announced blob as its announcement arrives, as the node daemon will."""
        self.auto_fetch = bool(req.get("on", True))
        return {}

    async def op_ping(self, req: dict[str, Any]) -> dict[str, Any]:
        peer = ID.from_base58(req["peer"])
        return {"rtt_ms": await self.service.ping(peer), "protocols": self.service.peer_protocols(peer)}

    async def op_stats(self, req: dict[str, Any]) -> dict[str, Any]:
        return {
            "verdicts": {Reason(r).name: n for r, n in self.service.rejections().items()},
            "peers": [p.to_base58() for p in self.service.connected_peers()],
            "topic_peers": self.service.topic_peers(),
            "rss_mb": rss_mb(),
            "served": self.service.blob_server.served,
        }

    async def handle(self, line: bytes) -> None:
        req: dict[str, Any] = {}
        try:
            req = json.loads(line)
            answer = await self.ops[req["op"]](req)
            emit({"reply": req.get("id"), "ok": True, **answer})
        except Exception as error:  # a bad request is answered, never fatal
            emit({"reply": req.get("id"), "ok": False, "error": repr(error)})

    async def serve(self, nursery: trio.Nursery) -> None:
        nursery.start_soon(self._report_received, nursery)
        stdin = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
        buffer = b""
        while chunk := await stdin.receive_some():
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                if line.strip():
                    nursery.start_soon(self.handle, line)

    async def _report_received(self, nursery: trio.Nursery) -> None:
        async for item in self.service.received:
            if self.auto_fetch and item.origin != self.service.host.get_id():
                nursery.start_soon(self._fetch_announced, item)
            emit({
                "event": "received",
                "t": time.time(),
                "topic": item.topic,
                "origin": item.origin.to_base58(),
                "envelope": as_dict(item.envelope),
                "raw": item.envelope.encode().hex(),
            })

    async def _fetch_announced(self, item: Received) -> None:
        """Fetch until it works or FETCH_PATIENCE_S is over: an announcement that crossed a
        healed partition late arrives on connections that TCP's retransmission backoff may keep
        stalled a while longer, and a stream opened on one then fails."""
        digest, size = item.envelope.body.blob
        event: dict[str, Any] = {"event": "fetched", "hash": hash_hex(digest), "ok": False}
        backoff = FETCH_RETRY_S
        with trio.move_on_after(FETCH_PATIENCE_S):
            while True:
                try:
                    await self.service.fetch(digest, size, [item.origin])
                    event.update(ok=True, t=time.time())
                    event.pop("error", None)  # an earlier try's, now moot
                    break
                except BlobUnavailable as error:
                    event.update(error=repr(error), tries=event.get("tries", 0) + 1)
                    await trio.sleep(backoff)
                    backoff = min(2 * backoff, FETCH_RETRY_MAX_S)
                except Exception as error:  # reported to the driver, the peer goes on
                    event.update(error=repr(error))
                    break
        emit(event)


async def run_peer(config: PeerConfig, process_type: type[PeerProcess] = PeerProcess) -> None:
    registered = frozenset(config.registered)
    service = P2PService(
        identity_from_env(config.key_env),
        P2PConfig(
            chain_id=config.chain_id,
            coordinator=config.coordinator,
            task_id=config.task_id,
            data_dir=config.data_dir,
            listen=config.listen,
            bootstrap=config.bootstrap,
        ),
        registered.__contains__,
    )
    service.set_round(config.round)
    async with service.run(), trio.open_nursery() as nursery:
        emit({
            "event": "ready",
            "peer_id": service.host.get_id().to_base58(),
            "address": service.identity.address,
            "addrs": service.addrs(),
        })
        # stdin closing is the parent's way to stop this peer
        await process_type(service).serve(nursery)
        nursery.cancel_scope.cancel()


def main(argv: list[str] | None = None, process_type: type[PeerProcess] = PeerProcess) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True)
    args = parser.parse_args(argv)
    config = PeerConfig.model_validate_json(args.config.read_text())
    trio.run(run_peer, config, process_type)


if __name__ == "__main__":
    main()
