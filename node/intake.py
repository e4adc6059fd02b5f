"""What arrives over gossip, after the edge checks: signed updates are journaled and their deltas
prefetched (by the nodes that use them: validators judge them, a personal adapter blends them),
every announcement names a provider of its blob, and two different signed updates of one peer
and round are reported on chain as equivocation.

A trainer without a personal adapter never reads other peers' deltas, so it does not fetch them:
when every node fetched every delta a round moved N^2 blobs, and at 40 peers on one machine the
validators' own fetches then timed out (benchmarks/scale.py, README "Scale").

The report is evidence anyone can check (two EIP-712 signatures by the same key over different
updates of one round), so it does not matter who sends it: the coordinator slashes the peer once and
pays the sender a bounty; validators read the mark at the round's pinned block, whatever order the
updates reached each of them in.
"""

from __future__ import annotations

import logging

import trio

from loraswarm.node.blobs import Blobs
from loraswarm.node.chain.errors import ChainRevert
from loraswarm.node.p2p.envelope import Envelope, Update, decode
from loraswarm.node.p2p.errors import BlobUnavailable
from loraswarm.node.p2p.service import Received
from loraswarm.node.roles.context import NodeContext
from loraswarm.node.timing import Work

logger = logging.getLogger(__name__)

PREFETCH_PATIENCE_S = 45.0


class Intake:
    def __init__(self, ctx: NodeContext, blobs: Blobs, *, prefetch: bool) -> None:
        self.ctx = ctx
        self.blobs = blobs
        self.prefetch = prefetch
        self._reported: set[tuple[int, str]] = set()

    async def take(self, received: Received, nursery: trio.Nursery) -> None:
        envelope = received.envelope
        body = envelope.body
        digest, _size = body.blob
        self.blobs.provided_by(digest, received.origin)
        if not isinstance(body, Update):
            return  # a global or a result note: only its provider matters
        peer = body.peer.lower()
        if not self.ctx.store.save_envelope(body.round, peer, "0x" + envelope.digest.hex(), envelope.encode(),
                                            trio.current_time()):
            return
        if self.prefetch:
            nursery.start_soon(self._prefetch, body)
        held = [decode(b) for _, _, b in self.ctx.store.envelopes(body.round, peer)]
        if len(held) >= 2 and (body.round, peer) not in self._reported:
            self._reported.add((body.round, peer))
            nursery.start_soon(self._report, held[0], held[1])

    async def _prefetch(self, update: Update) -> None:
        try:
            with self.ctx.reporter.timed(update.round, Work.PREFETCH):  # concurrent prefetches count once
                await self.blobs.fetch(update.delta_hash, "update", PREFETCH_PATIENCE_S, update.delta_size)
        except BlobUnavailable as exc:
            logger.warning("prefetch of %s's round-%d delta given up: %s", update.peer, update.round, exc)

    async def _report(self, first: Envelope, second: Envelope) -> None:
        ctx = self.ctx
        body = first.body
        try:
            with ctx.reporter.timed(body.round, Work.SLASH):
                receipt = await ctx.call(ctx.chain.report_equivocation, first, second)
        except ChainRevert as exc:  # reported already, or the peer has nothing left to slash
            logger.info("equivocation of %s in round %d not reported: %s", body.peer, body.round, exc.error)
            return
        ctx.reporter.gas(receipt.gas_used)
        logger.warning("reported %s for signing two updates in round %d", body.peer, body.round)
