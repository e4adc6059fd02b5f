"""A peer process with one extra op: gossip arbitrary bytes without validating them first.

An honest peer validates its own messages before they leave (py-libp2p runs topic validators on
local publishes too), so a misbehaving peer has to go around that: it signs the pubsub message
with its host key, as any libp2p peer can, and hands it straight to the gossipsub router.
"""

from typing import Any

from libp2p.pubsub.pb import rpc_pb2
from libp2p.pubsub.validators import PUBSUB_SIGNING_PREFIX

from loraswarm.node.p2p.peer import PeerProcess, main
from loraswarm.node.p2p.service import P2PService
from loraswarm.protocol import wire


class AttackerProcess(PeerProcess):
    def __init__(self, service: P2PService) -> None:
        super().__init__(service)
        self.ops["inject"] = self.op_inject

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


if __name__ == "__main__":
    main(process_type=AttackerProcess)
