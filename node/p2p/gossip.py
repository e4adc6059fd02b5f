"""Gossipsub tuned for announcements, and the edge validator that runs before any message is
stored or forwarded.

The checks run cheapest first: size, encoding, chain, task, round window and duplicate
need no cryptography, so a flood of junk never costs a signature recovery.
"""

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID
from libp2p.pubsub.gossipsub import GossipSub

from loraswarm.node.p2p.envelope import Body, Envelope, Update, decode
from loraswarm.node.p2p.errors import DecodeError
from loraswarm.node.p2p.keys import address_of_peer_id
from loraswarm.protocol import wire
from loraswarm.protocol.codes import Reason

logger = logging.getLogger(__name__)

IsRegistered = Callable[[str], bool]
# The on-chain commitment of (peer, round) when the node knows it, else None.
CommitmentOf = Callable[[str, int], bytes | None]

# Distinct signed updates forwarded per (signer, round): the one that opens the signer's commitment
# always passes; besides it, a second one is equivocation evidence every validator must see (and
# anyone can report on chain); more would only be spam.
UPDATES_PER_SIGNER = 4


def new_router() -> GossipSub:
    return GossipSub(
        protocols=[TProtocol(p) for p in wire.GOSSIPSUB_PROTOCOLS],
        degree=wire.MESH_DEGREE,
        degree_low=wire.MESH_DEGREE_LOW,
        degree_high=wire.MESH_DEGREE_HIGH,
        heartbeat_initial_delay=0.1,
        heartbeat_interval=wire.HEARTBEAT_S,
        # Measured: with adaptive gossip on, RSS grew 126 -> 440 MB in two minutes.
        adaptive_gossip_enabled=False,
        max_messages_per_topic_per_second=wire.MAX_MESSAGES_PER_TOPIC_PER_S,
        # Every peer of a test or a small deployment shares one IP.
        eclipse_protection_enabled=False,
    )


@dataclass(frozen=True)
class RoundWindow:
    """Which rounds are live relative to the chain's current round, per announcement kind.

    An update is live in the current round and the next (a peer may see the chain advance a
    moment before we do); a finalized global is announced during the round after its own.
    """

    update_past: int = 0
    update_future: int = 1
    global_past: int = 1
    global_future: int = 0

    def bounds(self, body: Body, current: int) -> tuple[int, int]:
        if isinstance(body, Update):
            return current - self.update_past, current + self.update_future
        return current - self.global_past, current + self.global_future


class EdgeValidator:
    """Judges one gossip payload; counts every verdict by reason code."""

    def __init__(
        self,
        chain_id: int,
        coordinator: str,
        task_id: int,
        is_registered: IsRegistered,
        current_round: int = 0,
        window: RoundWindow | None = None,
        commitment_of: CommitmentOf | None = None,
    ) -> None:
        self.chain_id = chain_id
        self.coordinator = coordinator
        self.task_id = task_id
        self.is_registered = is_registered
        self.commitment_of = commitment_of
        self.window = window or RoundWindow()
        self.verdicts: Counter[Reason] = Counter()
        self._round = current_round
        self._seen: dict[bytes, int] = {}  # envelope digest -> round, pruned as rounds pass
        # digests accepted per (kind, signer, round): one for a global or a result note; for
        # updates, see UPDATES_PER_SIGNER
        self._slots: dict[tuple[str, str, int], set[bytes]] = {}

    @property
    def current_round(self) -> int:
        return self._round

    def set_round(self, current: int) -> None:
        self._round = current
        oldest = current - max(self.window.update_past, self.window.global_past)
        self._seen = {d: r for d, r in self._seen.items() if r >= oldest}
        self._slots = {k: d for k, d in self._slots.items() if k[2] >= oldest}

    def check(self, data: bytes, origin: ID | None) -> tuple[Reason, Envelope | None]:
        """The verdict on one payload, counted. `origin` is the gossip author, when known."""
        try:
            reason, envelope = self._judge(data, origin)
        except Exception:  # a bug in a check must cost one message, never the node
            logger.exception("edge validator failed on a %d-byte message", len(data))
            reason, envelope = Reason.BAD_ENCODING, None
        self.verdicts[reason] += 1
        return reason, envelope if reason == Reason.ACCEPTED else None

    def _opens(self, body: Body, digest: bytes) -> bool:
        """The update opens its signer's on-chain commitment (as far as the node knows it)."""
        return (isinstance(body, Update) and self.commitment_of is not None
                and self.commitment_of(body.peer, body.round) == digest)

    def _judge(self, data: bytes, origin: ID | None) -> tuple[Reason, Envelope | None]:
        if len(data) > wire.MAX_ENVELOPE_BYTES:
            return Reason.OVERSIZE, None
        try:
            envelope = decode(data)
        except DecodeError:
            return Reason.BAD_ENCODING, None
        body = envelope.body
        if envelope.domain.chain_id != self.chain_id or envelope.domain.coordinator != self.coordinator:
            return Reason.WRONG_CHAIN, None
        if body.task_id != self.task_id:
            return Reason.WRONG_TASK, None
        low, high = self.window.bounds(body, self._round)
        if body.round < low:
            return Reason.STALE_ROUND, None
        if body.round > high:
            return Reason.FUTURE_ROUND, None
        digest = envelope.digest
        if digest in self._seen:
            return Reason.DUPLICATE, None
        try:
            signer = envelope.signer()
        except Exception:  # malformed r/s/v: as forged as a wrong signer
            return Reason.BAD_SIGNATURE, None
        if signer != body.peer:
            return Reason.BAD_SIGNATURE, None
        # The gossip author must be the signer: the libp2p key is the account key (keys.py), so
        # nobody can push another peer's announcement into the mesh as their own.
        if origin is not None and address_of_peer_id(origin) != signer:
            return Reason.BAD_SIGNATURE, None
        if not self.is_registered(signer):
            return Reason.UNREGISTERED_SENDER, None
        slot = (body.PRIMARY, signer, body.round)
        held = self._slots.setdefault(slot, set())
        if len(held) >= (UPDATES_PER_SIGNER if isinstance(body, Update) else 1) and not self._opens(body, digest):
            return Reason.DUPLICATE, None
        held.add(digest)
        self._seen[digest] = body.round
        return Reason.ACCEPTED, envelope
