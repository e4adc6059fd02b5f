"""The validator role: judge the round at its pinned block, seal the outcome, open it.

The tuple and salt are journaled before the seal is sent: a restarted validator opens the seal it
made (judging again with a fresh salt could never open it). The result document's hash is the
tuple's first element, so it is announced only after the opening: before, it would let a lazy
validator copy the outcome instead of judging.
"""

from __future__ import annotations

import itertools
import json
import logging
import secrets
from dataclasses import dataclass
from functools import partial

import trio

from loraswarm.consensus.types import Fingerprint
from loraswarm.files import write_atomic
from loraswarm.incentives.reputation import Standing
from loraswarm.node.blobs import Blobs
from loraswarm.node.chain.errors import ChainRevert
from loraswarm.node.chain.task import JudgingInputs, TaskInfo
from loraswarm.node.codec import Delta
from loraswarm.node.faults import crash_point
from loraswarm.node.globals import Globals
from loraswarm.node.judge import consensus_params, judge_round, standing_before
from loraswarm.node.p2p.envelope import ResultNote
from loraswarm.node.p2p.errors import BlobUnavailable, PublishRefused
from loraswarm.node.results import ResultBook
from loraswarm.node.roles.context import NodeContext
from loraswarm.node.round_result import ResultMismatch, RoundResult, replay_history
from loraswarm.node.state.phase import Phase
from loraswarm.node.state.store import SavedAttestation
from loraswarm.node.timing import Work
from loraswarm.protocol.chain import attestation_seal, tuple_hash

logger = logging.getLogger(__name__)

# A revealed delta the store lacks gets this long at judging (retried within it); then it counts as
# not revealed.
FETCH_AT_JUDGE_S = 10.0
# Earlier rounds' result documents (replay history, reputation) and globals (the recent changes)
# get this long to arrive.
PAST_RESULTS_S = 20.0


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


@dataclass(frozen=True)
class Past:
    """What the finalized rounds before a round hand its judging, the same on every validator."""

    history: tuple[Fingerprint, ...]  # the replay fingerprints
    changes: tuple[Delta, ...]  # the global's change in each of the last finalized rounds, oldest first
    standing: Standing | None  # the reputation, when the task has it


class Validator:
    def __init__(self, ctx: NodeContext, globals_: Globals, blobs: Blobs, results: ResultBook) -> None:
        self.ctx = ctx
        self.globals = globals_
        self.spec = globals_.spec
        self.blobs = blobs
        self.results = results
        params = consensus_params(ctx.spec_file)
        self.replay_rounds = params.replay_rounds
        self.history_changes = params.history_changes

    async def take_part(self, round_: int, task: TaskInfo, start_state: Delta, start_hash: str) -> None:
        ctx = self.ctx
        saved = ctx.store.attestation(round_)
        if saved is None:
            with ctx.reporter.timed(round_, Work.JUDGING_READS):
                first = (await ctx.call(ctx.chain.participant, ctx.address)).validator_first_round
            if first is None or first > round_:
                # the round's quorum counts the stake of validators registered before it began
                ctx.reporter.show(round_, "not attesting", "registered as a validator during this round")
                return
            with ctx.reporter.timed(round_, Work.JUDGING_READS):
                now = await ctx.call(ctx.chain.now)
                task = await ctx.call(ctx.chain.task)
            if now >= task.seal_end(round_):
                ctx.reporter.show(round_, "not attesting", "the seal window closed before this node judged")
                return
            saved = await self.judge(round_, task, start_state, start_hash)
            if saved is None:
                return
        await self._seal_and_open(round_, task, saved)

    # judging ----------------------------------------------------------------------------------
    async def judge(self, round_: int, task: TaskInfo, start_state: Delta, start_hash: str) -> SavedAttestation | None:
        """Validate and aggregate the round; journal what to attest. None: this node cannot attest."""
        ctx = self.ctx
        ctx.reporter.phase(round_, Phase.JUDGING)
        block = await self._pinned_block(round_, task)
        if block is None:
            ctx.reporter.show(round_, "not attesting", "no block after the reveal window before the seal window closed")
            return None
        with ctx.reporter.timed(round_, Work.JUDGING_READS):
            inputs = await ctx.call(ctx.chain.judging_inputs, round_, block)
        with ctx.reporter.timed(round_, Work.DELTA_FETCH):
            deltas = await self._deltas(round_, inputs)
        past = await self._past(round_, task, inputs)
        if past is None:
            ctx.reporter.show(round_, "not attesting", "missing result documents or globals of earlier rounds")
            return None
        judgement = await trio.to_thread.run_sync(partial(
            judge_round, round_, task, ctx.spec_file, self.spec, start_state, start_hash, inputs, deltas,
            past.history, past.standing, past.changes, timed=ctx.reporter.clock.of_round(round_)))
        for verdict in judgement.outcome.verdicts:
            ctx.reporter.verdict(verdict.reason)
        with ctx.reporter.timed(round_, Work.SAVE):
            ctx.network.put_blob(judgement.global_bytes)
            result_bytes = judgement.result.encode()
            ctx.network.put_blob(result_bytes)
            self.globals.keep(judgement.result.global_hash, judgement.global_bytes)
            # The float measures behind each verdict are this validator's own report (not attested).
            reports = ctx.data_dir / "reports"
            reports.mkdir(exist_ok=True)
            write_atomic(reports / f"{round_}.json", json.dumps(
                {v.peer: {"reason": v.reason.name, **v.measures} for v in judgement.outcome.verdicts},
                sort_keys=True))
            accepted, global_hash, rewards, slashes, peer_pool = judgement.attested
            ctx.store.save_attestation(SavedAttestation(
                round_, (_hex(accepted), _hex(global_hash), _hex(rewards), _hex(slashes), peer_pool),
                _hex(secrets.token_bytes(32)), _hex(judgement.result.digest())))
        return ctx.store.attestation(round_)

    async def _pinned_block(self, round_: int, task: TaskInfo) -> int | None:
        """The round's pinned block, waiting for the chain to pass the reveal window (until the seal
        window closes)."""
        ctx = self.ctx
        while True:
            with ctx.reporter.timed(round_, Work.JUDGING_READS):  # the reads, not the pauses between them
                task = await ctx.call(ctx.chain.task)
                if await ctx.call(ctx.chain.now) >= task.seal_end(round_):
                    return None
                block = await ctx.call(ctx.chain.pinned_block, round_)
            if block is not None:
                return block
            await trio.sleep(ctx.config.chain.poll_s)

    async def _deltas(self, round_: int, inputs: JudgingInputs) -> dict[bytes, bytes | None]:
        """The delta of every update revealed on chain, by its hash: from the store (gossip's
        prefetch), else fetched once more from any peer that holds it (all at once, bounded)."""
        found: dict[bytes, bytes | None] = {}

        async def fetch(peer: str, digest: bytes, size: int) -> None:
            try:
                found[digest] = await self.blobs.fetch(digest, "update", FETCH_AT_JUDGE_S, size)
            except BlobUnavailable as exc:
                found[digest] = None
                logger.warning("round %d: the delta of %s is unavailable at judging: %s", round_, peer, exc)

        async with trio.open_nursery() as nursery:
            for peer, update in inputs.revealed.items():
                nursery.start_soon(fetch, peer, update.delta_hash, update.delta_size)
        return found

    async def _past(self, round_: int, task: TaskInfo, inputs: JudgingInputs) -> Past | None:
        """Replay history, the global's recent changes and reputation from the verified documents
        of earlier finalized rounds (fetched when missing); None if one of them cannot be had."""
        earlier = [r for r in inputs.finalized if r < round_]
        depth = max(self.replay_rounds, self.history_changes + 1)  # a change needs the global before it
        needed = earlier if self.ctx.spec_file.reputation else earlier[-depth:]
        results: list[RoundResult] = []
        timed = self.ctx.reporter.clock.of_round(round_)
        for past in needed:
            with timed(Work.JUDGING_READS):
                final = await self.ctx.call(self.ctx.chain.finalized_tuple, past)
            if final is None:
                return None
            try:
                with timed(Work.RESULT_FETCH):
                    results.append(await self.results.obtain(past, final, PAST_RESULTS_S))
            except (BlobUnavailable, ResultMismatch) as exc:
                logger.warning("round %d: result of round %d unavailable: %s", round_, past, exc)
                return None
        changes = await self._changes(round_, task, results, complete=len(needed) == len(earlier))
        if changes is None:
            return None
        history = replay_history(results, round_, self.replay_rounds)
        if not self.ctx.spec_file.reputation:
            return Past(history, changes, None)
        standing = standing_before(round_, results, earlier)
        return None if standing is None else Past(history, changes, standing)

    async def _changes(self, round_: int, task: TaskInfo, results: list[RoundResult],
                       complete: bool) -> tuple[Delta, ...] | None:
        """Each of the last history_changes finalized rounds' global minus the global before it
        (the previous finalized round's, or the task's initial global when ``results`` holds every
        finalized round): the public history consensus judges an update's own work against."""
        hashes = [r.global_hash for r in sorted(results, key=lambda r: r.round)]
        if complete:
            hashes.insert(0, "0x" + task.initial_global.hex())
        hashes = hashes[-(self.history_changes + 1):] if self.history_changes else []
        if len(hashes) < 2:
            return ()
        try:
            with self.ctx.reporter.timed(round_, Work.GLOBAL_FETCH):
                states = [await self.globals.state(h, PAST_RESULTS_S) for h in hashes]
        except (BlobUnavailable, ResultMismatch) as exc:
            logger.warning("round %d: a global of an earlier round is unavailable: %s", round_, exc)
            return None
        return tuple({key: after[key].double() - before[key].double() for key in self.spec.keys}
                     for before, after in itertools.pairwise(states))

    # attesting --------------------------------------------------------------------------------
    async def _seal_and_open(self, round_: int, task: TaskInfo, saved: SavedAttestation) -> None:
        ctx = self.ctx
        accepted, global_hash, rewards, slashes, peer_pool = saved.tuple
        attested = (bytes.fromhex(accepted[2:]), bytes.fromhex(global_hash[2:]), bytes.fromhex(rewards[2:]),
                    bytes.fromhex(slashes[2:]), peer_pool)
        salt = bytes.fromhex(saved.salt[2:])
        seal = attestation_seal(ctx.spec_file.task_id, round_, ctx.address, tuple_hash(*attested), salt)
        # Both sends are journaled: after a restart they return the mined receipt, or finish the
        # transaction that was in flight, and never send a second one.
        try:
            with ctx.reporter.timed(round_, Work.SEAL):
                receipt = await ctx.call(ctx.chain.seal_attestation, round_, seal)
            ctx.reporter.gas(receipt.gas_used)
            crash_point(f"sealed:{round_}")
            ctx.reporter.phase(round_, Phase.SEALED, "opening after the seal window")
            await ctx.sleep_until_due(lambda t: t.seal_end(round_) + ctx.config.chain.margin_s)
            with ctx.reporter.timed(round_, Work.OPEN):
                receipt = await ctx.call(ctx.chain.attest, round_, attested, salt)
            ctx.reporter.gas(receipt.gas_used)
        except ChainRevert as exc:
            ctx.reporter.show(round_, "attest refused", exc.error)
            return
        crash_point(f"attested:{round_}")
        ctx.reporter.status.attested += 1
        result_hash = bytes.fromhex(saved.result_hash[2:])
        try:
            # Announced again after a restart: the same signed bytes, which peers that saw them drop.
            with ctx.reporter.timed(round_, Work.ANNOUNCE):
                await ctx.network.announce(ResultNote(task_id=ctx.spec_file.task_id, round=round_,
                                                      peer=ctx.address, result_hash=result_hash,
                                                      result_size=ctx.network.store.size(result_hash)))
        except PublishRefused as exc:  # e.g. the round is over: the document is on chain by hash anyway
            logger.info("result note of round %d not announced: %s", round_, exc)
        ctx.reporter.phase(round_, Phase.ATTESTED)

