"""Blobs the node needs from its peers (deltas, result documents, global adapters), by content hash,
each fetch with a deadline.

Whoever announced a blob is its first provider; the p2p layer then tries every connected peer. A
fetch that found nobody retries with backoff until its deadline and then raises BlobUnavailable,
so every wait of the node ends with a logged outcome.
"""

from __future__ import annotations

import logging
from typing import Any

import trio

from loraswarm.node.metrics import NodeMetrics
from loraswarm.node.p2p.errors import BlobUnavailable
from loraswarm.node.roles.context import Network

logger = logging.getLogger(__name__)

FIRST_RETRY_S = 1.0
# Retries stay frequent up to the deadline: a validator whose fetch window closes while another one
# got the delta a moment ago should have asked again (a withholding peer's timing game narrows to
# the last retry's gap).
MAX_RETRY_S = 2.0


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


class Blobs:
    def __init__(self, network: Network, metrics: NodeMetrics) -> None:
        self.network = network
        self.metrics = metrics
        self._providers: dict[str, set[Any]] = {}  # blob hash -> peers that announced it

    def provided_by(self, digest: bytes, provider: Any) -> None:
        self._providers.setdefault(_hex(digest), set()).add(provider)

    def has(self, digest: bytes) -> bool:
        return self.network.store.has(digest)

    def get(self, digest: bytes) -> bytes | None:
        return self.network.store.get(digest) if self.network.store.has(digest) else None

    async def fetch(self, digest: bytes, purpose: str, patience_s: float, size: int | None = None) -> bytes:
        """The blob's bytes, from the store or from a provider. Across a healed partition the
        announcement can arrive on a link that TCP's retransmission backoff keeps stalled for
        seconds more, hence the retries; after ``patience_s`` it raises BlobUnavailable."""
        if self.network.store.has(digest):
            return self.network.store.get(digest)
        pause = FIRST_RETRY_S
        last: Exception | None = None
        with trio.move_on_after(patience_s):
            while True:
                try:
                    path = await self.network.fetch(digest, size, sorted(self._providers.get(_hex(digest), ()),
                                                                         key=str), purpose)
                    data = path.read_bytes()
                    self.metrics.bytes_in.inc(len(data))
                    return data
                except BlobUnavailable as exc:
                    last = exc
                    logger.info("%s blob %s not served yet, again in %.0f s: %s", purpose, _hex(digest), pause, exc)
                await trio.sleep(pause)
                pause = min(2 * pause, MAX_RETRY_S)
        raise BlobUnavailable(f"{purpose} blob {_hex(digest)} not served within {patience_s:.0f} s"
                              + (f" ({last})" if last else ""))
