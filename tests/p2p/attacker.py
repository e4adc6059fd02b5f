"""A misbehaving peer process: gossips arbitrary bytes without validating them first, writes raw
frames on gossipsub streams, and can serve wrong bytes for any blob.

An honest peer validates its own messages before they leave (py-libp2p runs topic validators on
local publishes too), so a misbehaving peer has to go around that: it signs the pubsub message
with its host key, as any libp2p peer can, and hands it straight to the gossipsub router.
"""

import os
from typing import Any

import trio
from libp2p.abc import INetStream
from libp2p.custom_types import TProtocol
from libp2p.network.stream.exceptions import StreamError
from libp2p.peer.id import ID
from libp2p.pubsub.pb import rpc_pb2
from libp2p.pubsub.validators import PUBSUB_SIGNING_PREFIX
from libp2p.utils.varint import encode_varint_prefixed

from harness.p2p.peer import PeerProcess, main
from loraswarm.node.p2p.blobproto import FOUND, PROTOCOL, read_exactly
from loraswarm.node.p2p.service import P2PService
from loraswarm.protocol import wire


class AttackerProcess(PeerProcess):
    def __init__(self, service: P2PService) -> None:
        super().__init__(service)
        self.ops["inject"] = self.op_inject
        self.ops["serve_lies"] = self.op_serve_lies
        self.ops["raw_rpc"] = self.op_raw_rpc

    async def op_inject(self, req: dict[str, Any]) -> dict[str, Any]:
        service = self.service
        pubsub = service.pubsub
        message = rpc_pb2.Message(
            data=bytes.fromhex(req["data"]),
            topicIDs=[service.topics[req.get("kind", wire.UPDATES_TOPIC)]],
            from_id=service.host.get_id().to_bytes(),
            seqno=pubsub._next_seqno(),
        )
        message.signature = service.identity.key_pair.private_key.sign(
            PUBSUB_SIGNING_PREFIX.encode() + message.SerializeToString()
        )
        await pubsub.router.publish(service.host.get_id(), message)
        return {}

    async def op_raw_rpc(self, req: dict[str, Any]) -> dict[str, Any]:
        """Write one length-prefixed frame of raw bytes on a fresh gossipsub stream."""
        stream = await self.service.host.new_stream(
            ID.from_base58(req["peer"]), [TProtocol(wire.GOSSIPSUB_PROTOCOLS[0])]
        )
        data = bytes.fromhex(req["data"]) if "data" in req else os.urandom(int(req["size"]))
        try:
            await stream.write(encode_varint_prefixed(data))
            await trio.sleep(0.5)
            await stream.reset()
        except StreamError:  # the victim hung up on us, which is the point
            return {"reset_by_peer": True}
        return {"reset_by_peer": False}

    async def op_serve_lies(self, req: dict[str, Any]) -> dict[str, Any]:
        """Answer every blob request with random bytes of the requested blob's size."""
        size = int(req["size"])

        async def lie(stream: INetStream) -> None:
            await read_exactly(stream, wire.HASH_BYTES)
            await stream.write(bytes([FOUND]) + size.to_bytes(8, "big") + os.urandom(size))
            await stream.close()

        self.service.host.set_stream_handler(PROTOCOL, lie)
        return {}


if __name__ == "__main__":
    main(process_type=AttackerProcess)
