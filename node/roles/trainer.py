"""The trainer role: train on the peer's own data, commit to the signed update, reveal it.

The commitment is the EIP-712 digest of the signed update itself (delta hash, base hash, sample
count, codec and salt): what the peer will be judged on is fixed before anyone reveals. The reveal
is a transaction (the coordinator checks the update against the commitment), so whether a peer
revealed, and what, is the same fact for every validator. The signed update is journaled before
the commit transaction, so a restart reveals the same update.
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import TYPE_CHECKING

import trio

from loraswarm.node.chain.errors import ChainRevert
from loraswarm.node.codec import Codec, Delta, encode_delta
from loraswarm.node.p2p.envelope import Domain, Update, decode, sign
from loraswarm.node.p2p.keys import PeerIdentity
from loraswarm.node.roles.context import NodeContext
from loraswarm.node.state.phase import Phase
from loraswarm.node.timing import Work
from loraswarm.node.windows import TRAIN_MARGIN_S

if TYPE_CHECKING:  # the model's libraries; a light scale-run peer's learner has none
    from loraswarm.node.learner import Learner

CODEC_ID = 0  # the delta's bytes name their own dtype and compression; the field is reserved

logger = logging.getLogger(__name__)


class Trainer:
    def __init__(self, ctx: NodeContext, learner: Learner, identity: PeerIdentity, domain: Domain) -> None:
        self.ctx = ctx
        self.learner = learner
        self.identity = identity
        self.domain = domain

    async def train_and_commit(self, round_: int, start_state: Delta, start_hash: str, commit_end: float) -> bool:
        """Train, sign and commit (each step skipped once journaled); True if the commit is on chain."""
        ctx = self.ctx
        if ctx.store.own_update(round_) is None:
            now = await ctx.call(ctx.chain.now)
            if now >= commit_end:
                ctx.reporter.phase(round_, Phase.WAITING, "missed the commit window")
                return False
            ctx.reporter.phase(round_, Phase.TRAINING)
            with ctx.reporter.timed(round_, Work.TRAIN):
                deadline = commit_end - TRAIN_MARGIN_S - (now - time.time())
                trained = await trio.to_thread.run_sync(self.learner.train, start_state, round_,
                                                        ctx.config.node.behaviour, deadline)
            ctx.reporter.metrics.train_tokens_per_s.set(trained.stats.tokens_per_s)
            if trained.stats.steps < ctx.spec_file.recipe.steps and not trained.stats.interrupted:
                # A shorter update is judged like any other; the operator should know why it is short.
                logger.warning("round %d: trained %d of %d steps before the commit deadline (the task's "
                               "recipe and commit window expect a faster machine: [training] device or threads "
                               "may help)", round_, trained.stats.steps, ctx.spec_file.recipe.steps)
            with ctx.reporter.timed(round_, Work.ENCODE):
                data = encode_delta(trained.delta, self.learner.spec, Codec.parse(ctx.spec_file.codec))
                digest = ctx.network.put_blob(data)
                body = Update(task_id=ctx.spec_file.task_id, round=round_, peer=ctx.address,
                              base_hash=bytes.fromhex(start_hash[2:]), delta_hash=digest, delta_size=len(data),
                              sample_count=trained.stats.tokens, codec_id=CODEC_ID, salt=secrets.token_bytes(32))
                envelope = sign(self.domain, body, self.identity.account)
            # Written before the transaction: a restart commits and reveals this update, never another.
            ctx.store.save_own_update(round_, envelope.encode(), "0x" + envelope.digest.hex())
        own = ctx.store.own_update(round_)
        assert own is not None
        if ctx.store.transaction(f"commit:{round_}") is None:
            ctx.reporter.show(round_, "trained", "waiting for the commit window")
            await ctx.sleep_until_due(lambda task: task.windows(round_)[0] + ctx.config.chain.margin_s)
        try:
            with ctx.reporter.timed(round_, Work.COMMIT):
                receipt = await ctx.call(ctx.chain.commit, round_, bytes.fromhex(own.digest[2:]))
        except ChainRevert as exc:
            ctx.reporter.phase(round_, Phase.WAITING, f"commit refused: {exc.error}")
            return False
        ctx.reporter.gas(receipt.gas_used)
        ctx.reporter.status.committed += 1
        ctx.reporter.phase(round_, Phase.COMMITTED)
        return True

    async def reveal(self, round_: int) -> None:
        """Once the commit window has closed: reveal the committed update on chain (validators
        judge what the chain says was revealed) and announce it on gossip, which tells peers that
        this node serves its delta. Both once per round; the reveal is journaled like every send."""
        ctx = self.ctx
        own = ctx.store.own_update(round_)
        tx = ctx.store.transaction(f"commit:{round_}")
        if own is None or tx is None or tx.status != "mined" or own.revealed:
            return
        envelope = decode(own.envelope)
        assert isinstance(envelope.body, Update)
        try:
            with ctx.reporter.timed(round_, Work.REVEAL):
                receipt = await ctx.call(ctx.chain.reveal, envelope.body)
        except ChainRevert as exc:
            ctx.reporter.show(round_, "reveal refused", exc.error)
            return
        ctx.reporter.gas(receipt.gas_used)
        with ctx.reporter.timed(round_, Work.PUBLISH):
            await ctx.network.publish(envelope)
        ctx.store.mark_revealed(round_)
        ctx.reporter.status.revealed += 1
        ctx.reporter.phase(round_, Phase.REVEALED)
