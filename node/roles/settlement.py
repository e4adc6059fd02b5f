"""The settlement role: wait for the round's outcome, then claim, punish, adopt; evaluate and
personalize later, off the critical path.

Every node claims its own pay (a peer's Merkle reward, a validator's on-chain share). Validators
also execute the round's slash leaves and slash the validators that dissented or stayed away (the
coordinator pays the executor a bounty, so punishing costs the honest nothing); they take turns in
an order that rotates with the round, so that two of them rarely race for the same slash.

Measuring the new global on the peer's held-out text and updating its personal adapter take tens of
seconds on a CPU and nothing on chain waits for them, so the round loop runs them (``evaluate``)
once the next round's update is committed, while the node would otherwise wait for its windows.
A validator's chores (starting the next round, punishing) wait for its turn, seconds per validator
before it: they run off the round's path (``run_chores``), so that its claim and its next training
do not wait for them (in ``benchmarks/round.py`` the second validator's turns held its next
training back 4 s).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING

import trio
from eth_utils import keccak

from loraswarm.node.chain.errors import ChainRevert
from loraswarm.node.chain.task import TaskInfo
from loraswarm.node.codec import Delta, decode_delta
from loraswarm.node.globals import Globals
from loraswarm.node.p2p.envelope import GlobalAdapter
from loraswarm.node.p2p.errors import BlobUnavailable, PublishRefused
from loraswarm.node.results import ResultBook
from loraswarm.node.roles.context import NodeContext
from loraswarm.node.round_result import ResultMismatch, RoundResult
from loraswarm.node.state.phase import Phase
from loraswarm.node.timing import Work
from loraswarm.protocol.chain import RoundStatus
from loraswarm.protocol.codes import Reason

if TYPE_CHECKING:  # both load the model's libraries; a light scale-run peer has neither
    from loraswarm.node.learner import Learner
    from loraswarm.node.personal import Personalizer

logger = logging.getLogger(__name__)

MARK_FAILED_ATTEMPTS = 5
# How long a node waits for a block stamped after a round's attest window before reading the outcome.
BLOCK_AFTER_S = 30.0
# A round's result document and global adapter get this long to arrive after finalization.
SETTLE_FETCH_S = 60.0
# Validators take turns at punishing, this far apart.
SLASH_TURN_S = 2.0


class Settlement:
    def __init__(self, ctx: NodeContext, globals_: Globals, results: ResultBook, learner: Learner | None,
                 personalizer: Personalizer | None, round_deltas: Callable[[int], dict[str, Delta]]) -> None:
        self.ctx = ctx
        self.globals = globals_
        self.results = results
        self.learner = learner
        self.personalizer = personalizer
        self.round_deltas = round_deltas
        self._chores, self._chores_out = trio.open_memory_channel[Callable[[], Awaitable[None]]](math.inf)

    async def run_chores(self) -> None:
        """The validator's chores, one at a time in the order given, until ``close_chores``."""
        async with self._chores_out:
            async for chore in self._chores_out:
                await chore()

    def close_chores(self) -> None:
        """No more chores: ``run_chores`` returns once it has done those given."""
        self._chores.close()

    def redo_chores(self, round_: int, phase: Phase) -> None:
        """After a restart, the chores of the last round this node finished: they are not journaled
        and may have been cut off. Each is idempotent (a round started or a slash taken already is
        refused at gas estimation, free)."""
        if not self.ctx.config.is_validator:
            return
        if phase is Phase.FAILED:
            self._chores.send_nowait(partial(self._punish_validators, round_))
        else:
            self._chores.send_nowait(partial(self._redo_settled, round_))

    async def _redo_settled(self, round_: int) -> None:
        try:
            result = await self._result(round_)
        except (BlobUnavailable, ResultMismatch):
            return
        await self._start_next(round_)
        await self._punish(round_, result)

    async def await_outcome(self, round_: int, task: TaskInfo) -> None:
        ctx = self.ctx
        ctx.reporter.phase(round_, Phase.AWAITING_QUORUM)
        while True:
            with ctx.reporter.timed(round_, Work.OUTCOME_READS):  # the reads, not the pauses between them
                if task.phases_end_early:  # the openings' end comes forward once every seal is in
                    task = await ctx.call(ctx.chain.task)
                attest_end = task.windows(round_)[3]
                info = await ctx.call(ctx.chain.round_info, round_)
                over = info.status != RoundStatus.FINALIZED and (
                    info.status == RoundStatus.FAILED or await ctx.call(ctx.chain.now) >= attest_end)
            if info.status == RoundStatus.FINALIZED:
                await self._settle(round_)
                return
            if over:
                break
            await trio.sleep(ctx.config.chain.poll_s)
        if ctx.config.is_validator and info.status != RoundStatus.FAILED:
            await self._mark_failed(round_)
        # The outcome is known only at a block stamped after the attest window: the opening that
        # reached the quorum may sit in the window's last block, not yet visible a moment ago.
        await self._block_after(round_, attest_end)
        with ctx.reporter.timed(round_, Work.OUTCOME_READS):
            info = await ctx.call(ctx.chain.round_info, round_)
        if info.status == RoundStatus.FINALIZED:
            await self._settle(round_)
            return
        if ctx.config.is_validator:
            self._chores.send_nowait(partial(self._punish_validators, round_))
        ctx.reporter.metrics.rounds.labels(outcome="failed").inc()
        ctx.store.finish_round(round_, Phase.FAILED, {"status": "failed"})
        ctx.reporter.phase(round_, Phase.FAILED, "no quorum: the previous global stays")

    async def _block_after(self, round_: int, timestamp: float) -> None:
        """Wait for a block stamped at or after ``timestamp``; a chain that mines only on demand may
        bring none, so after BLOCK_AFTER_S the latest state is taken as final (nothing can land
        before ``timestamp`` any more)."""
        ctx = self.ctx
        with trio.move_on_after(BLOCK_AFTER_S):
            while True:
                with ctx.reporter.timed(round_, Work.OUTCOME_READS):
                    head = await ctx.call(ctx.chain.head_time)
                if head >= timestamp:
                    break
                await trio.sleep(ctx.config.chain.poll_s)

    async def _mark_failed(self, round_: int) -> None:
        """Record on chain that the round failed (anyone may; the first call wins), so that the
        ledger and late joiners read the outcome instead of an open round."""
        ctx = self.ctx
        for attempt in range(MARK_FAILED_ATTEMPTS):
            try:
                with ctx.reporter.timed(round_, Work.MARK_FAILED):
                    await ctx.call(ctx.chain.mark_failed, round_, attempt)
                return
            except ChainRevert as exc:
                logger.info("round %d not marked failed (attempt %d): %s", round_, attempt, exc.error)
            # Another validator was first, or the call met a block stamped before the deadline
            # (the latest block lags the clock): then try again.
            with ctx.reporter.timed(round_, Work.OUTCOME_READS):
                info = await ctx.call(ctx.chain.round_info, round_)
            if info.status != RoundStatus.OPEN:
                return
            await trio.sleep(ctx.config.chain.poll_s)
        logger.warning("round %d is still open after %d attempts to mark it failed", round_, MARK_FAILED_ATTEMPTS)

    async def _settle(self, round_: int) -> None:
        ctx = self.ctx
        ctx.reporter.phase(round_, Phase.SETTLING)
        if ctx.config.is_validator:
            self._chores.send_nowait(partial(self._start_next, round_))
        try:
            result = await self._result(round_)
        except (BlobUnavailable, ResultMismatch) as exc:
            ctx.store.finish_round(round_, Phase.SETTLED, {"status": "finalized", "result": "unavailable"})
            ctx.reporter.phase(round_, Phase.SETTLED, f"result document unavailable, nothing claimed: {exc}")
            return
        own = next((v for v in result.verdicts if v.peer.lower() == ctx.address.lower()), None)
        if own is not None:
            ctx.reporter.status.verdicts[str(round_)] = Reason(own.reason).name
        await self._claim(round_, result)
        if ctx.config.is_validator:
            self._chores.send_nowait(partial(self._punish, round_, result))
        await self._adopt_global(round_, result)
        ctx.reporter.metrics.rounds.labels(outcome="finalized").inc()
        ctx.store.finish_round(round_, Phase.SETTLED, {"status": "finalized", "own": own.reason if own else None},
                               global_hash=result.global_hash)
        ctx.reporter.phase(round_, Phase.SETTLED)

    async def _result(self, round_: int) -> RoundResult:
        """The finalized round's result document, checked against its tuple; BlobUnavailable or
        ResultMismatch when it cannot be had within SETTLE_FETCH_S."""
        ctx = self.ctx
        with ctx.reporter.timed(round_, Work.OUTCOME_READS):
            final = await ctx.call(ctx.chain.finalized_tuple, round_)
        assert final is not None  # settled rounds are finalized
        with ctx.reporter.timed(round_, Work.RESULT_FETCH):
            return await self.results.obtain(round_, final, SETTLE_FETCH_S)

    async def _start_next(self, round_: int) -> None:
        """On a task whose phases end early, begin the next round now that this one is finalized
        (its commit window runs at full length from here). Validators take turns; a later one
        finds it started."""
        ctx = self.ctx
        task = await ctx.call(ctx.chain.task)
        if not task.phases_end_early or (task.last_round is not None and round_ >= task.last_round):
            return
        await self._turn(round_)
        task = await ctx.call(ctx.chain.task)
        if task.round_at(await ctx.call(ctx.chain.now)) > round_:
            return
        try:
            with ctx.reporter.timed(round_, Work.OUTCOME_READS):
                await ctx.call(ctx.chain.start_round, round_ + 1)
        except ChainRevert as exc:  # another validator was first
            logger.info("round %d not started: %s", round_ + 1, exc.error)

    # pay --------------------------------------------------------------------------------------
    async def _claim(self, round_: int, result: RoundResult) -> None:
        ctx = self.ctx
        claim = result.claim_of(ctx.address)
        if claim is not None and claim.amount > 0:
            await self._pay(round_, "reward", claim.amount,
                            lambda: ctx.call(ctx.chain.claim, round_, claim.index, claim.amount, claim.proof))
        saved = ctx.store.attestation(round_)
        if ctx.config.is_validator and saved is not None:
            await self._pay(round_, "validator", 0, lambda: ctx.call(ctx.chain.claim_validator, round_))

    async def _pay(self, round_: int, kind: str, amount: int, send: Callable[[], Awaitable[object]]) -> None:
        ctx = self.ctx
        ctx.store.save_claim(round_, kind, amount)
        try:
            with ctx.reporter.timed(round_, Work.CLAIM):
                receipt = await send()
        except ChainRevert as exc:
            logger.warning("%s claim of round %d refused: %s", kind, round_, exc.error)
            ctx.store.finish_claim(round_, kind, "refused", exc.error)
            return
        ctx.reporter.gas(getattr(receipt, "gas_used", 0))
        ctx.store.finish_claim(round_, kind, "claimed")
        ctx.reporter.status.claimed_rounds += kind == "reward"
        if amount:
            ctx.reporter.metrics.rewards.inc(amount)
            ctx.reporter.status.rewards += amount

    # punish -----------------------------------------------------------------------------------
    async def _turn(self, round_: int) -> None:
        """Wait for this validator's turn: an order of the task's validators that rotates per round."""
        ctx = self.ctx
        with ctx.reporter.timed(round_, Work.SLASH):
            _peers, validators = await ctx.call(ctx.chain.registered)
        order = sorted(validators, key=lambda v: keccak(text=f"{round_}/{v.lower()}"))
        rank = next((i for i, v in enumerate(order) if v.lower() == ctx.address.lower()), 0)
        await trio.sleep(rank * SLASH_TURN_S)

    async def _punish(self, round_: int, result: RoundResult) -> None:
        ctx = self.ctx
        await self._turn(round_)
        for order in result.slash_orders():
            try:
                with ctx.reporter.timed(round_, Work.SLASH):
                    await ctx.call(ctx.chain.execute_slash, round_, order.account, order.amount, order.reason,
                                   order.proof)
            except ChainRevert as exc:  # another validator was first, or the slash has nothing to take
                logger.info("slash of %s in round %d: %s", order.account, round_, exc.error)
        await self._punish_validators(round_, wait=False)
        if round_ > 0:
            # A seal of the round before left unopened is slashable only once that round's
            # openings closed, after its finalization: by now they have (a round outlasts an open
            # window whenever training does), and its slashes stay open a period after them.
            await self._punish_validators(round_ - 1, wait=False)

    async def _punish_validators(self, round_: int, wait: bool = True) -> None:
        """Slash every validator of the round that dissented or stayed away (the coordinator
        decides: a validator with nothing to answer for is refused at gas estimation, free)."""
        ctx = self.ctx
        if wait:
            await self._turn(round_)
        with ctx.reporter.timed(round_, Work.SLASH):
            _peers, validators = await ctx.call(ctx.chain.registered)
        for validator in validators:
            if validator.lower() == ctx.address.lower():
                continue
            try:
                with ctx.reporter.timed(round_, Work.SLASH):
                    await ctx.call(ctx.chain.slash_validator, round_, validator)
                logger.info("slashed validator %s for round %d", validator, round_)
            except ChainRevert as exc:
                logger.debug("validator %s in round %d: %s", validator, round_, exc.error)

    # the new global ---------------------------------------------------------------------------
    async def _adopt_global(self, round_: int, result: RoundResult) -> None:
        ctx = self.ctx
        try:
            with ctx.reporter.timed(round_, Work.GLOBAL_FETCH):
                data = await self.globals.bytes_of(result.global_hash, SETTLE_FETCH_S)
        except BlobUnavailable as exc:
            logger.warning("round %d global adapter unavailable: %s", round_, exc)
            return
        if ctx.config.is_validator:
            digest = bytes.fromhex(result.global_hash[2:])
            with ctx.reporter.timed(round_, Work.ADOPT):
                ctx.network.put_blob(data)
                try:
                    await ctx.network.announce(GlobalAdapter(task_id=ctx.spec_file.task_id, round=round_,
                                                             peer=ctx.address, global_hash=digest,
                                                             global_size=len(data)))
                except PublishRefused as exc:  # announcing is a courtesy to late joiners
                    logger.info("global announcement of round %d skipped: %s", round_, exc)

    # off the critical path ------------------------------------------------------------------------
    async def evaluate(self) -> None:
        """Every settled round this trainer has not measured yet, in order (the personal adapter of
        a round builds on the previous one): the global's held-out perplexity, then the personal
        adapter. Journaled per round, so a restart finishes what a kill interrupted."""
        ctx = self.ctx
        if self.learner is None or not ctx.config.is_trainer:
            return
        for record in ctx.store.rounds():
            if record.phase is not Phase.SETTLED or record.evaluated or record.global_hash is None:
                continue
            result = self.results.load(record.round)
            path, start = self.globals.path(record.global_hash), record.start_global
            if result is not None and path.exists() and start is not None and self.globals.path(start).exists():
                spec = self.learner.spec
                await self._evaluate(record.round, result, decode_delta(self.globals.path(start).read_bytes(), spec),
                                     decode_delta(path.read_bytes(), spec))
            ctx.store.mark_evaluated(record.round)

    async def _evaluate(self, round_: int, result: RoundResult, start_state: Delta, state: Delta) -> None:
        ctx = self.ctx
        assert self.learner is not None
        with ctx.reporter.timed(round_, Work.EVALUATE):
            ppl = await trio.to_thread.run_sync(self.learner.held_out_ppl, state)
        ctx.reporter.ppl(f"global@{round_}", "global", ppl)
        if self.personalizer is not None:
            with ctx.reporter.timed(round_, Work.PERSONALIZE):
                known = {"base": ctx.reporter.status.ppl["base"], "global": ppl}  # trainers measure base at start
                report = await trio.to_thread.run_sync(self.personalizer.update, round_, start_state, state,
                                                       result.verdicts, self.round_deltas(round_), known)
            ctx.reporter.ppl(f"personal@{round_}", "personal", report.ppl["personal"])
