"""The round loop: which round to work on, and the roles called in order on the round's windows.

    start global -> train + commit (trainer) -> commit window closes -> reveal (trainer)
    -> judge, seal, open (validator) -> outcome: claim, punish, adopt, evaluate (settlement)

The next round starts as soon as this one settled or failed: its global adapter is then known, so
training runs before its commit window even opens and the window only has to hold the commit
transaction. A round a crash interrupted is finished first, its claim above all, even when its
windows are over.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import trio

from loraswarm.node.chain.errors import ChainRevert
from loraswarm.node.chain.task import TaskInfo
from loraswarm.node.codec import Delta
from loraswarm.node.config import Behaviour
from loraswarm.node.globals import Globals
from loraswarm.node.p2p.errors import BlobUnavailable
from loraswarm.node.roles.context import NodeContext
from loraswarm.node.roles.settlement import Settlement
from loraswarm.node.roles.trainer import Trainer
from loraswarm.node.roles.validator import Validator
from loraswarm.node.state.phase import Phase
from loraswarm.node.timing import Work

logger = logging.getLogger(__name__)


class RoundLoop:
    def __init__(self, ctx: NodeContext, globals_: Globals, trainer: Trainer | None,
                 validator: Validator | None, settlement: Settlement, commitments: dict[tuple[str, int], bytes],
                 set_round: Callable[[int], None]) -> None:
        self.ctx = ctx
        self.globals = globals_
        self.trainer = trainer
        self.validator = validator
        self.settlement = settlement
        self.commitments = commitments  # (peer, round) -> on-chain commitment, for the edge
        self.set_round = set_round
        self._nursery: trio.Nursery
        self._evaluation: trio.Event | None = None  # set when the background evaluation is done

    async def run(self, max_rounds: int | None) -> None:
        """Round after round; ``max_rounds`` counts rounds finished before a restart too."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(self.settlement.run_chores)
            await self._rounds(max_rounds)
            self.settlement.close_chores()
            await self._evaluated()
            await self.settlement.evaluate()  # the last round's global and personal adapter

    async def _rounds(self, max_rounds: int | None) -> None:
        ctx = self.ctx
        records = ctx.store.rounds()
        done = sum(r.phase.finished for r in records)
        next_round = max((r.round for r in records if r.phase.finished), default=-1) + 1
        if done:
            last = next(r for r in records if r.round == next_round - 1)
            self.settlement.redo_chores(last.round, last.phase)
        while max_rounds is None or done < max_rounds:
            task = await ctx.call(ctx.chain.task)
            now = await ctx.call(ctx.chain.now)
            record = ctx.store.round(next_round)
            if self._took_part(next_round) and (record is None or not record.phase.finished):
                round_ = next_round  # interrupted by a crash, maybe over by now: finish it
            else:
                round_ = max(task.round_at(now), next_round)
                if done == 0 and now >= task.windows(round_)[1] and not self._took_part(round_):
                    # Joined after this round's commit window: it missed reveals, so it sits the
                    # round out rather than judge a partial view (and be slashed as a dissenter).
                    round_ += 1
            if task.last_round is not None and round_ > task.last_round:
                await self._leave(task.last_round)
                break
            self.set_round(round_)
            await self.round(task, round_)
            done += 1
            next_round = round_ + 1

    def _evaluate(self) -> None:
        """Measure settled rounds' globals (and personal adapters) in the background: nothing on
        chain waits for them, and the model is free until the next round's training (the caller
        waited for the previous evaluation: the model serves one at a time)."""
        self._evaluation = trio.Event()
        self._nursery.start_soon(self._evaluate_then_signal, self._evaluation)

    async def _evaluate_then_signal(self, done: trio.Event) -> None:
        try:
            await self.settlement.evaluate()
        finally:
            done.set()

    async def _evaluated(self) -> None:
        if self._evaluation is not None:
            await self._evaluation.wait()

    async def _leave(self, last_round: int) -> None:
        """The task's owner closed it: leave (the stake stays slashable for the last round, and
        `release` unlocks it after the next), and stop."""
        ctx = self.ctx
        try:
            await ctx.call(ctx.chain.leave)
        except ChainRevert as exc:  # left already, or released
            logger.info("leaving the closed task: %s", exc.error)
        ctx.reporter.show(last_round, "task closed", f"round {last_round} was its last; left the task")

    def _took_part(self, round_: int) -> bool:
        store = self.ctx.store
        return (store.own_update(round_) is not None or store.attestation(round_) is not None
                or bool(store.envelopes(round_)))

    async def round(self, task: TaskInfo, round_: int) -> None:
        ctx = self.ctx
        commit_start, commit_end = task.windows(round_)[:2]  # ending early, it waits for our commit
        now = await ctx.call(ctx.chain.now)
        if task.phases_end_early and now < commit_start:
            # A startRound may yet bring the round forward, to no earlier than now.
            commit_end = min(commit_end, now + task.commit_s)
        start = await self._start_global(task, round_, commit_end)
        if start is None:
            ctx.store.finish_round(round_, Phase.FAILED, {"status": "no start global"})
            ctx.reporter.phase(round_, Phase.FAILED, "the round's start global was not served in time: sat it out")
            return
        state, start_hash = start
        await self._evaluated()  # the model trains next
        if self.trainer is not None and ctx.config.node.behaviour is not Behaviour.NOSHOW:
            await self.trainer.train_and_commit(round_, state, start_hash, commit_end)
        self._evaluate()  # the previous round's, while this round's windows run
        task = await ctx.sleep_until_due(lambda t: t.windows(round_)[1])
        await self._learn_commitments(round_)
        if self.trainer is not None:
            task = await ctx.sleep_until_due(lambda t: t.windows(round_)[1] + ctx.config.chain.margin_s)
            await self.trainer.reveal(round_)
        if self.validator is not None:
            task = await ctx.sleep_until_due(lambda t: t.windows(round_)[2] + ctx.config.chain.margin_s)
            await self.validator.take_part(round_, task, state, start_hash)
        await self.settlement.await_outcome(round_, task)

    async def _learn_commitments(self, round_: int) -> None:
        """The round's commitments, for the edge: the update that opens one always passes."""
        with self.ctx.reporter.timed(round_, Work.COMMIT_READS):
            commits = await self.ctx.call(self.ctx.chain.commits, round_)
        for commit in commits:
            self.commitments[(commit.peer.lower(), round_)] = commit.commitment

    async def _start_global(self, task: TaskInfo, round_: int, commit_end: float) -> tuple[Delta, str] | None:
        """The global adapter the round trains from: the latest on chain when the round began, by
        its hash (journaled: a node resuming a finalized round must not take the round's own result).
        A late joiner fetches it from peers, until the round's commit window closes."""
        ctx = self.ctx
        wanted = ctx.store.start_global(round_, "0x" + task.latest_global.hex())
        if not self.globals.path(wanted).exists() and wanted != self.globals.initial_hash:
            ctx.reporter.phase(round_, Phase.WAITING, f"fetching the start global {wanted}")
        patience = max(commit_end - await ctx.call(ctx.chain.now), 1.0)
        try:
            with ctx.reporter.timed(round_, Work.GLOBAL_FETCH):
                return await self.globals.state(wanted, patience), wanted
        except BlobUnavailable as exc:
            logger.warning("round %d: %s", round_, exc)
            return None
