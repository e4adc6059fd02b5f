"""The libp2p host: TCP + Noise + Yamux (identify and ping come with py-libp2p's host), keyed by
the peer's account key, plus the peer book that survives restarts.

Bootstrap and redial are one loop: every peer in the config's bootstrap list or in the book that
is not connected is dialled, with a per-peer backoff, so a restarted peer finds its mesh again
from the book and a peer that comes back is redialled without anyone's help.
"""

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import multiaddr
import trio
from libp2p import new_host
from libp2p.abc import IHost, INetStream
from libp2p.crypto.x25519 import create_new_key_pair as create_new_x25519_key_pair
from libp2p.custom_types import StreamHandlerFn, TProtocol
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo, info_from_p2p_addr
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport
from libp2p.stream_muxer.yamux.yamux import PROTOCOL_ID as YAMUX_PROTOCOL_ID
from libp2p.stream_muxer.yamux.yamux import Yamux

from loraswarm.files import write_atomic
from loraswarm.node.p2p.keys import PeerIdentity

logger = logging.getLogger(__name__)

DIAL_TIMEOUT_S = 5.0
MAINTAIN_INTERVAL_S = 1.0
MAX_BACKOFF_S = 30.0
# A bound on what strangers can make us store and redial.
MAX_BOOK_PEERS = 512


def build_host(identity: PeerIdentity) -> IHost:
    """Noise and Yamux only: the one stack that go- and js-libp2p also speak (tests/p2p/test_js_interop.py)."""
    return new_host(
        key_pair=identity.key_pair,
        sec_opt={
            TProtocol(NOISE_PROTOCOL_ID): NoiseTransport(
                identity.key_pair, noise_privkey=create_new_x25519_key_pair().private_key
            )
        },
        muxer_opt={TProtocol(YAMUX_PROTOCOL_ID): Yamux},
    )


def guard_stream_handlers(host: IHost, on_failure: Callable[[TProtocol, Exception], None]) -> None:
    """Make every handler registered so far fail alone.

    py-libp2p 0.8.1 runs stream handlers in the swarm's task group, so a handler that raises takes
    the whole host down; its own pubsub handler does on a malformed protobuf frame. Wrapped, a bad
    stream costs that stream only, and `on_failure` counts it.
    """
    mux = host.get_mux()
    for protocol, handler in list(mux.handlers.items()):
        if protocol is not None and handler is not None:
            host.set_stream_handler(protocol, _guarded(protocol, handler, on_failure))


def _guarded(
    protocol: TProtocol, handler: StreamHandlerFn, on_failure: Callable[[TProtocol, Exception], None]
) -> StreamHandlerFn:
    async def guarded(stream: INetStream) -> None:
        try:
            await handler(stream)
        except Exception as error:
            on_failure(protocol, error)
            logger.debug("%s handler failed: %r", protocol, error)
            try:
                await stream.reset()
            except Exception as reset_error:  # the stream may be gone already
                logger.debug("reset after failure failed: %r", reset_error)

    return guarded


def dialable(addr: multiaddr.Multiaddr) -> bool:
    protocols = {p.name for p in addr.protocols()}
    return "tcp" in protocols and not protocols & {"ws", "wss", "quic-v1", "p2p-circuit"}


class PeerBook:
    """Known peers and their listen addresses, in a JSON file written atomically."""

    def __init__(self, path: os.PathLike[str] | str) -> None:
        self.path = Path(path)
        self.peers: dict[str, list[str]] = {}
        if self.path.is_file():
            try:
                loaded = json.loads(self.path.read_text())
                self.peers = {str(k): [str(a) for a in v] for k, v in loaded.items()}
            except (ValueError, AttributeError, TypeError):
                logger.warning("peer book %s is unreadable; starting empty", self.path)

    def remember(self, peer_id: ID, addrs: list[multiaddr.Multiaddr]) -> bool:
        """Record a peer's addresses; True when the book changed (and was saved)."""
        entry = sorted(str(a) for a in addrs if dialable(a))
        key = peer_id.to_base58()
        if not entry or self.peers.get(key) == entry:
            return False
        if key not in self.peers and len(self.peers) >= MAX_BOOK_PEERS:
            return False
        self.peers[key] = entry
        self._save()
        return True

    def infos(self) -> list[PeerInfo]:
        return [
            PeerInfo(ID.from_base58(k), [multiaddr.Multiaddr(a) for a in addrs])
            for k, addrs in self.peers.items()
        ]

    def _save(self) -> None:
        write_atomic(self.path, json.dumps(self.peers, indent=1, sort_keys=True))


@dataclass
class _Backoff:
    next_try: float = 0.0
    delay: float = MAINTAIN_INTERVAL_S


@dataclass
class Dialer:
    """Keeps the host connected to its bootstrap peers and to every peer in its book."""

    host: IHost
    book: PeerBook
    bootstrap: list[str] = field(default_factory=list)
    # only peers worth a redial go into the book (the service: registered accounts)
    worth_remembering: Callable[[ID], bool] = lambda _: True
    _backoff: dict[ID, _Backoff] = field(default_factory=dict)

    def targets(self) -> list[PeerInfo]:
        infos = {info.peer_id: info for info in self.book.infos()}
        for text in self.bootstrap:
            info = info_from_p2p_addr(multiaddr.Multiaddr(text))
            infos[info.peer_id] = info
        infos.pop(self.host.get_id(), None)
        return list(infos.values())

    async def run(self) -> None:
        while True:
            self.remember_connected()
            connected = set(self.host.get_connected_peers())
            now = trio.current_time()
            async with trio.open_nursery() as nursery:
                for info in self.targets():
                    backoff = self._backoff.setdefault(info.peer_id, _Backoff())
                    if info.peer_id in connected:
                        self._backoff[info.peer_id] = _Backoff()
                    elif now >= backoff.next_try:
                        nursery.start_soon(self._dial, info, backoff)
            await trio.sleep(MAINTAIN_INTERVAL_S)

    def remember_connected(self) -> None:
        peerstore = self.host.get_peerstore()
        for peer_id in self.host.get_connected_peers():
            if not self.worth_remembering(peer_id):
                continue
            try:
                self.book.remember(peer_id, peerstore.addrs(peer_id))
            except Exception as error:  # a peer without known listen addresses yet
                logger.debug("no addresses for %s yet: %s", peer_id, error)

    async def _dial(self, info: PeerInfo, backoff: _Backoff) -> None:
        with trio.move_on_after(DIAL_TIMEOUT_S):
            try:
                await self.host.connect(info)
                self._backoff[info.peer_id] = _Backoff()
                # identify may not report addresses we can use; the ones we just dialled are
                if self.worth_remembering(info.peer_id):
                    self.book.remember(info.peer_id, info.addrs)
                return
            except Exception as error:  # unreachable peers are normal; retry later
                logger.debug("dial %s failed: %s", info.peer_id, error)
        backoff.next_try = trio.current_time() + backoff.delay
        backoff.delay = min(backoff.delay * 2, MAX_BACKOFF_S)
