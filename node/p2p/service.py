"""The p2p layer as the node daemon sees it: start, announce, receive verified envelopes,
fetch and serve blobs, and read the rejection counters.

    async with P2PService(identity, config, is_registered).run() as p2p:
        p2p.set_round(r)
        await p2p.announce(Update(...))              # signs and gossips
        async for received in p2p.received: ...      # only envelopes that passed the edge
        path = await p2p.fetch(*received.envelope.body.blob, providers=[received.origin])
"""

import logging
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import multiaddr
import trio
from libp2p.abc import IHost, ISubscriptionAPI
from libp2p.custom_types import TProtocol
from libp2p.host.ping import PingService
from libp2p.peer.id import ID
from libp2p.pubsub.pb import rpc_pb2
from libp2p.pubsub.pubsub import Pubsub
from libp2p.tools.anyio_service import background_trio_service

from loraswarm.node.p2p.blobproto import BlobFetcher, BlobServer
from loraswarm.node.p2p.blobstore import BlobStore
from loraswarm.node.p2p.envelope import Body, Domain, Envelope, GlobalAdapter, ResultNote, decode, sign
from loraswarm.node.p2p.errors import PublishRefused
from loraswarm.node.p2p.gossip import CommitmentOf, EdgeValidator, IsRegistered, RoundWindow, new_router
from loraswarm.node.p2p.host import Dialer, PeerBook, build_host, guard_stream_handlers
from loraswarm.node.p2p.keys import PeerIdentity, address_of_peer_id
from loraswarm.protocol import wire
from loraswarm.protocol.codes import Reason

logger = logging.getLogger(__name__)

# Envelopes waiting for the node; a node that stops reading loses the newest, never its memory.
RECEIVED_BUFFER = 1024


@dataclass(frozen=True)
class P2PConfig:
    chain_id: int
    coordinator: str
    task_id: int
    data_dir: Path  # holds peers.json and, unless a store is shared in, blobs/
    listen: Sequence[str] = ("/ip4/127.0.0.1/tcp/0",)
    bootstrap: Sequence[str] = ()
    window: RoundWindow = field(default_factory=RoundWindow)


@dataclass(frozen=True)
class Received:
    envelope: Envelope
    origin: ID  # the gossip author, who is also the signer and a provider of the blob
    topic: str


def _is_registered_peer(peer: ID, is_registered: IsRegistered) -> bool:
    address = address_of_peer_id(peer)
    return address is not None and is_registered(address)


class P2PService:
    def __init__(
        self,
        identity: PeerIdentity,
        config: P2PConfig,
        is_registered: IsRegistered,
        store: BlobStore | None = None,
        commitment_of: CommitmentOf | None = None,
    ) -> None:
        self.identity = identity
        self.config = config
        self.domain = Domain(chain_id=config.chain_id, coordinator=config.coordinator)
        self.store = store or BlobStore(config.data_dir / "blobs")
        self.validator = EdgeValidator(
            config.chain_id, config.coordinator, config.task_id, is_registered, window=config.window,
            commitment_of=commitment_of,
        )
        self.topics = {
            kind: wire.topic(config.chain_id, config.task_id, kind)
            for kind in (wire.UPDATES_TOPIC, wire.ROUNDS_TOPIC)
        }
        self.blob_rejections: Counter[Reason] = Counter()
        self.dropped_deliveries = 0
        self._accepted: OrderedDict[bytes, Envelope] = OrderedDict()
        self._send, self.received = trio.open_memory_channel[Received](RECEIVED_BUFFER)
        self.host: IHost = build_host(identity)
        self.pubsub = Pubsub(
            self.host,
            new_router(),
            seen_ttl=wire.SEEN_TTL_S,
            max_inbound_rpc_size=wire.MAX_GOSSIP_RPC_BYTES,
            allowed_topics=set(self.topics.values()),
        )
        self._ping = PingService(self.host)
        self.blob_server = BlobServer(self.host, self.store)
        self.fetcher = BlobFetcher(self.host, self.store, self.blob_rejections)
        self.frame_rejections: Counter[Reason] = Counter()
        guard_stream_handlers(self.host, self._stream_failed)
        self.dialer = Dialer(
            self.host,
            PeerBook(config.data_dir / "peers.json"),
            list(config.bootstrap),
            worth_remembering=lambda peer: _is_registered_peer(peer, is_registered),
        )

    @asynccontextmanager
    async def run(self) -> AsyncIterator["P2PService"]:
        listen = [multiaddr.Multiaddr(a) for a in self.config.listen]
        async with (
            self.host.run(listen_addrs=listen),
            background_trio_service(self.pubsub),
            background_trio_service(self.pubsub.router),  # type: ignore[arg-type]
            trio.open_nursery() as nursery,
        ):
            await self.pubsub.wait_until_ready()
            for name in self.topics.values():
                self.pubsub.set_topic_validator(name, self._validate, is_async_validator=False)
                subscription = await self.pubsub.subscribe(name)
                nursery.start_soon(self._deliver, subscription, name)
            nursery.start_soon(self.dialer.run)
            try:
                yield self
            finally:
                nursery.cancel_scope.cancel()

    def _stream_failed(self, protocol: TProtocol, error: Exception) -> None:
        # what reaches here is a frame py-libp2p could not parse (or a bug of its own)
        self.frame_rejections[Reason.BAD_ENCODING] += 1

    # -- gossip ------------------------------------------------------------------------------
    def set_round(self, current: int) -> None:
        self.validator.set_round(current)

    async def announce(self, body: Body) -> Envelope:
        """Sign `body` with the peer's account and gossip it on its topic."""
        envelope = sign(self.domain, body, self.identity.account)
        await self.publish(envelope)
        return envelope

    async def publish(self, envelope: Envelope) -> None:
        """Gossip a signed envelope; PublishRefused if it fails the checks peers will apply."""
        data = envelope.encode()
        # judged here rather than in _validate, so that the caller learns the verdict
        reason, accepted = self.validator.check(data, self.host.get_id())
        if accepted is None:
            raise PublishRefused(reason, f"own {envelope.body.PRIMARY} of round {envelope.body.round}")
        self._accepted[data] = accepted
        kind = wire.ROUNDS_TOPIC if isinstance(envelope.body, GlobalAdapter | ResultNote) else wire.UPDATES_TOPIC
        await self.pubsub.publish(self.topics[kind], data)

    def _validate(self, forwarder: ID, message: rpc_pb2.Message) -> bool:
        own = self.host.get_id()
        if forwarder == own and message.from_id == own.to_bytes():
            return True  # our own publish: publish() has judged it
        reason, envelope = self.validator.check(message.data, ID(message.from_id))
        if envelope is not None:
            # py-libp2p hands the subscription the raw message: keep the decoded envelope for it
            self._accepted[message.data] = envelope
            while len(self._accepted) > RECEIVED_BUFFER:
                self._accepted.popitem(last=False)
        return reason == Reason.ACCEPTED

    async def _deliver(self, subscription: ISubscriptionAPI, name: str) -> None:
        while True:
            message = await subscription.get()
            envelope = self._accepted.pop(message.data, None) or decode(message.data)
            item = Received(envelope, ID(message.from_id), name)
            try:
                self._send.send_nowait(item)
            except trio.WouldBlock:
                self.dropped_deliveries += 1

    # -- blobs -------------------------------------------------------------------------------
    def put_blob(self, data: bytes) -> bytes:
        return self.store.put(data)

    async def fetch(
        self, digest: bytes, size: int | None = None, providers: Sequence[ID] = (), purpose: str = "blob"
    ) -> Path:
        """Fetch a blob into the store by hash (the named providers first, then every connected
        peer) and return its path there."""
        ordered = list(dict.fromkeys([*providers, *self.host.get_connected_peers()]))
        return await self.fetcher.fetch(digest, ordered, expected_size=size, purpose=purpose)

    # -- observation -------------------------------------------------------------------------
    async def ping(self, peer_id: ID) -> int:
        """Round-trip time to a connected peer over the libp2p ping protocol, in ms."""
        rtts = await self._ping.ping(peer_id, 1)
        return rtts[0]

    def peer_protocols(self, peer_id: ID) -> list[str]:
        """What a peer said it speaks, as learnt by identify."""
        return list(self.host.get_peerstore().get_protocols(peer_id))

    def rejections(self) -> Counter[Reason]:
        """Every verdict so far: gossip messages, gossip frames and blobs (ACCEPTED included)."""
        return self.validator.verdicts + self.blob_rejections + self.frame_rejections

    def addrs(self) -> list[str]:
        return [str(a) for a in self.host.get_addrs()]

    def topic_peers(self) -> int:
        """Peers known to be subscribed to our updates topic (gossip can reach them)."""
        return len(self.pubsub.peer_topics.get(self.topics[wire.UPDATES_TOPIC], ()))

    def connected_peers(self) -> list[ID]:
        return list(self.host.get_connected_peers())
