"""The peer node: one trio program running the round state machine end to end.

    sync chain state -> train on local data -> commit -> reveal (announce + serve the blob)
    -> fetch the others' blobs -> validate -> aggregate -> attest -> watch finalization
    -> claim -> adopt the new global -> next round

The daemon only sequences; the work lives in p2p/, learner.py, judge.py, chain/ and state/.
Blocking work (web3 calls, training) runs in worker threads so gossip keeps flowing. Everything
a restart needs is in SQLite before the action that depends on it, and every chain write is
journaled by purpose, so ``kill -9`` at any point and a restart resume the round without
sending anything twice.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TypeVar

import trio
from web3 import HTTPProvider, Web3

from loraswarm.consensus.types import Fingerprint
from loraswarm.evm.compile import compile_contracts
from loraswarm.evm.deploy import Deployment, attach
from loraswarm.incentives.outcome import Attestation, AttestedTuple
from loraswarm.incentives.settlement import PreviousRound
from loraswarm.node.chain.client import ChainClient
from loraswarm.node.chain.errors import ChainRevert
from loraswarm.node.chain.reverts import error_selectors
from loraswarm.node.chain.task import TaskChain, TaskInfo
from loraswarm.node.codec import Codec, CodecError, Delta, content_hash, decode_delta, encode_delta
from loraswarm.node.config import NodeConfig
from loraswarm.node.faults import crash_point
from loraswarm.node.judge import Reveal, judge_round, standing_before
from loraswarm.node.keys import load_account
from loraswarm.node.learner import Learner
from loraswarm.node.metrics import NodeMetrics
from loraswarm.node.p2p.blobproto import BlobUnavailable
from loraswarm.node.p2p.envelope import GlobalAdapter, ResultNote, Update, decode
from loraswarm.node.p2p.errors import PublishRefused
from loraswarm.node.p2p.keys import identity_from_account
from loraswarm.node.p2p.service import P2PConfig, P2PService, Received
from loraswarm.node.personal import Personalizer, PersonalParams
from loraswarm.node.round_result import ResultMismatch, RoundResult
from loraswarm.node.state.store import Commitment, StateStore
from loraswarm.node.status import NodeStatus
from loraswarm.protocol.chain import RoundStatus, attestation_seal, commitment, tuple_hash
from loraswarm.protocol.codes import Reason
from loraswarm.protocol.taskspec import TaskSpec

logger = logging.getLogger("loraswarm.node")
T = TypeVar("T")

REGISTRY_REFRESH_S = 2.0
# Calls are estimated against the latest block, whose timestamp lags the clock by up to one block
# interval: a time-windowed call waits this long past its window's opening.
WINDOW_MARGIN_S = 2.0
# Validators start judging a moment after the reveal window closes, so that reveals gossiped at
# its very end have arrived everywhere.
JUDGE_GRACE_S = 2.0
# Round phases after which nothing is left to do in a round.
FINISHED = frozenset({"settled", "failed"})
TRAIN_MARGIN_S = 8.0
FETCH_AT_JUDGE_S = 10.0
PREFETCH_PATIENCE_S = 45.0
MARK_FAILED_ATTEMPTS = 5


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


class NodeDaemon:
    def __init__(self, config: NodeConfig, password: str | None = None, max_rounds: int | None = None) -> None:
        self.config = config
        self.max_rounds = max_rounds
        data_dir = config.node.data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self.account = load_account(config.keys.keystore,
                                    password if password is not None else os.environ.get(config.keys.password_env))
        self.store = StateStore(data_dir / "state.sqlite")
        self.deployment = Deployment.from_file(config.chain.deployment)
        rpc = config.chain.rpc_url or self.deployment.rpc_url
        self.w3 = Web3(HTTPProvider(rpc, request_kwargs={"timeout": 10}))
        self.metrics = NodeMetrics()
        self.status = NodeStatus(config.node.name, self.account.address, [r.value for r in config.node.roles],
                                 config.node.behaviour)
        self.status_path = data_dir / "status.json"
        selectors = error_selectors(a.abi for a in compile_contracts().values())
        # A node (re)started while the chain is unreachable waits for it, like a running one.
        self.client = ChainClient(self.w3, self.account, self.store, selectors, on_stall=self._stalled)
        contracts = self.client.with_retry(lambda: attach(self.deployment, self.w3))
        self.spec_file = TaskSpec.read(config.chain.task_file)
        self.chain = TaskChain(self.client, contracts, self.spec_file.task_id, self.deployment.block)
        self.globals_dir = data_dir / "globals"
        self.globals_dir.mkdir(exist_ok=True)
        self.registered: set[str] = set()
        self.providers: dict[str, set] = {}  # blob hash -> peers that announced it
        self.learner: Learner | None = None
        self.personalizer: Personalizer | None = None
        self.p2p: P2PService | None = None

    # plumbing ---------------------------------------------------------------------------------
    async def _chain(self, fn: Callable[..., T], *args: object) -> T:
        return await trio.to_thread.run_sync(partial(fn, *args), abandon_on_cancel=True)

    def _stalled(self, seconds: float) -> None:
        """Called on a chain-call worker thread while the RPC is down. Showing the stall is a
        courtesy: it must never end the call it reports on."""
        logger.warning("chain RPC unreachable for %.0f s; retrying", seconds)
        self.status.detail = f"chain RPC unreachable for {seconds:.0f} s; retrying"
        try:
            self.status.write(self.status_path)
        except (OSError, RuntimeError) as exc:  # RuntimeError: the trio thread changed a dict meanwhile
            logger.warning("status not updated: %s", exc)

    def _set(self, round_: int, phase: str, detail: str = "") -> None:
        self.status.round, self.status.phase, self.status.detail = round_, phase, detail
        self.status.write(self.status_path)
        self.store.set_round(round_, phase)
        self.metrics.phase.set(round_)
        logger.info("round %d %s %s", round_, phase, detail)

    @contextmanager
    def _timed(self, round_: int, phase: str) -> Iterator[None]:
        """Add the wall time of a block of work to the round's phase timings (in the status)."""
        began = time.perf_counter()
        try:
            yield
        finally:
            spent = self.status.timings.setdefault(str(round_), {})
            spent[phase] = spent.get(phase, 0.0) + time.perf_counter() - began

    async def _sleep_until(self, timestamp: float) -> None:
        while True:
            now = await self._chain(self.chain.now)
            if now >= timestamp:
                return
            await trio.sleep(min(timestamp - now, self.config.chain.poll_s * 4))

    # start ------------------------------------------------------------------------------------
    async def run(self) -> None:
        if self.config.metrics.port:
            self.metrics.serve(self.config.metrics.port)
        task = await self._chain(self.chain.task)
        self._set(-1, "loading model")
        self.learner = await trio.to_thread.run_sync(
            partial(Learner, self.spec_file, self.config.training, _hex(task.base_model_hash)))
        await trio.to_thread.run_sync(self.learner.load_data)
        if self.config.training.personal and self.config.is_trainer:
            params = PersonalParams(selection_blocks=self.config.training.personal_selection_blocks)
            self.personalizer = Personalizer.from_learner(self.learner, self.config.node.data_dir, params)
        if self.config.is_trainer:
            self.status.ppl["base"] = await self._base_ppl()
            self.metrics.ppl.labels(adapter="base").set(self.status.ppl["base"])
        self._set(-1, "registering")
        await self._chain(self.chain.ensure_registered, self.config.is_trainer,
                          self.spec_file.validator_stake if self.config.is_validator else 0)
        await self._refresh_registry()
        identity = identity_from_account(self.account)
        p2p_config = P2PConfig(
            chain_id=self.deployment.chain_id, coordinator=self.deployment.addresses["Coordinator"],
            task_id=self.spec_file.task_id, data_dir=self.config.node.data_dir,
            listen=(self.config.p2p.listen,), bootstrap=tuple(self.config.p2p.bootstrap),
        )
        self.p2p = P2PService(identity, p2p_config, lambda a: a.lower() in self.registered)
        async with self.p2p.run() as p2p, trio.open_nursery() as nursery:
            (self.config.node.data_dir / "addrs.json").write_text(json.dumps(p2p.addrs()))
            nursery.start_soon(self._receive, p2p, nursery)
            nursery.start_soon(self._registry_loop)
            await self._rounds(p2p)
            nursery.cancel_scope.cancel()
        self._set(self.status.round, "stopped")

    async def _base_ppl(self) -> float:
        """The base model's held-out perplexity, measured once per model and held-out set: a
        restart after a crash skips the evaluation (seconds to minutes on a CPU)."""
        assert self.learner is not None
        key = "base-ppl:" + await trio.to_thread.run_sync(self.learner.held_out_key)
        if (known := self.store.get_meta(key)) is not None:
            return float(known)
        self._set(-1, "evaluating the base model")
        ppl = await trio.to_thread.run_sync(self.learner.held_out_ppl, None)
        self.store.set_meta(key, repr(ppl))
        return ppl

    async def _refresh_registry(self) -> None:
        peers, validators = await self._chain(self.chain.registered)
        self.registered = {a.lower() for a in peers + validators}

    async def _registry_loop(self) -> None:
        while True:
            await trio.sleep(REGISTRY_REFRESH_S)
            await self._refresh_registry()
            if self.p2p is not None:
                for reason, count in self.p2p.rejections().items():
                    self.metrics.edge_verdicts.labels(reason=reason.name).set(count)

    async def _receive(self, p2p: P2PService, nursery: trio.Nursery) -> None:
        """Store every verified envelope; prefetch update blobs right away."""
        async for received in p2p.received:
            body = received.envelope.body
            digest, _size = body.blob
            self.providers.setdefault(_hex(digest), set()).add(received.origin)
            if isinstance(body, Update):
                stored = self.store.save_envelope(body.round, body.peer.lower(), _hex(digest),
                                                  received.envelope.encode(), trio.current_time())
                if stored:
                    nursery.start_soon(self._prefetch, p2p, received)
            elif isinstance(body, ResultNote):
                self._note_result(body.round, _hex(body.result_hash))

    async def _prefetch(self, p2p: P2PService, received: Received) -> None:
        digest, size = received.envelope.body.blob
        # Retried with backoff: across a healed partition the announcement can arrive on a link
        # that TCP's retransmission backoff keeps stalled for seconds more. Judging fetches once
        # more after that.
        pause = 1.0
        with trio.move_on_after(PREFETCH_PATIENCE_S):
            while True:
                try:
                    await p2p.fetch(digest, size, [received.origin], "update")
                    self.metrics.bytes_in.inc(size)
                    return
                except Exception as exc:  # whatever went wrong, this task must not end the node
                    logger.warning("prefetch of %s failed, again in %.0f s: %s", _hex(digest), pause, exc)
                await trio.sleep(pause)
                pause = min(2 * pause, 8.0)
        logger.warning("prefetch of %s given up after %.0f s", _hex(digest), PREFETCH_PATIENCE_S)

    # rounds -----------------------------------------------------------------------------------
    async def _rounds(self, p2p: P2PService) -> None:
        """Round after round. The next round starts as soon as this one settled or failed: its
        global adapter is then known, so training runs before its commit window even opens and
        the window only has to hold the commit transaction (a window is a deadline)."""
        # Rounds finished before a restart count towards max_rounds.
        phases = self.store.round_phases()
        done = sum(phase in FINISHED for phase in phases.values())
        next_round = max((r for r, phase in phases.items() if phase in FINISHED), default=-1) + 1
        while self.max_rounds is None or done < self.max_rounds:
            task = await self._chain(self.chain.task)
            now = await self._chain(self.chain.now)
            if self._took_part(next_round) and self.store.round_phase(next_round) not in FINISHED:
                # A round a crash interrupted, maybe over by now: finish it (its claim above all).
                round_ = next_round
            else:
                round_ = max(task.round_at(now), next_round)
                if done == 0 and now >= task.windows(round_)[1] and not self._took_part(round_):
                    # Joined after this round's commit window: it missed reveals, so it sits the
                    # round out rather than judge a partial view (and be slashed as a dissenter).
                    round_ += 1
            p2p.set_round(round_)
            await self._round(p2p, task, round_)
            done += 1
            next_round = round_ + 1

    def _round_deltas(self, p2p: P2PService, round_: int) -> dict[str, Delta]:
        """The round's revealed deltas this node holds, its own included; the personalizer keeps
        only those whose verdict is ACCEPTED."""
        assert self.learner is not None
        digests = {peer: d for peer, d, _ in self.store.envelopes(round_)}
        own = self.store.commitment(round_)
        if own is not None:
            digests[self.account.address.lower()] = own.content_hash
        deltas = {}
        for peer, digest_hex in digests.items():
            digest = bytes.fromhex(digest_hex[2:])
            if p2p.store.has(digest):
                try:
                    deltas[peer] = decode_delta(p2p.store.get(digest), self.learner.spec)
                except CodecError:
                    continue  # undecodable: consensus judged it already
        return deltas

    def _took_part(self, round_: int) -> bool:
        return (self.store.commitment(round_) is not None
                or self.store.transaction(f"attest:{round_}") is not None
                or bool(self.store.envelopes(round_)))

    async def _start_global(self, task: TaskInfo, p2p: P2PService, round_: int) -> tuple[Delta, str]:
        """The global adapter the round trains from: the latest on chain when the round began,
        by its hash. Kept in the store: a node that resumes a round after it finalized must not
        take the round's own result for its start."""
        assert self.learner is not None
        key = f"start-global:{round_}"
        wanted = self.store.get_meta(key) or _hex(task.latest_global)
        self.store.set_meta(key, wanted)
        path = self.globals_dir / f"{wanted}.safetensors"
        if not path.exists():
            if wanted == _hex(task.initial_global):
                _, data, digest = self.learner.initial_global()
                if digest != wanted:
                    raise ResultMismatch(f"initial global {digest} differs from the task's {wanted}")
            else:
                data = await self._fetch_blob(p2p, wanted, "global")
            path.write_bytes(data)
        return decode_delta(path.read_bytes(), self.learner.spec), wanted

    async def _fetch_blob(self, p2p: P2PService, digest_hex: str, purpose: str) -> bytes:
        digest = bytes.fromhex(digest_hex[2:])
        if p2p.store.has(digest):
            return p2p.store.get(digest)
        while True:
            try:
                return await self._fetch_blob_once(p2p, digest_hex, purpose)
            except BlobUnavailable:
                await trio.sleep(1.0)  # a late joiner waits until some peer serves it

    async def _round(self, p2p: P2PService, task: TaskInfo, round_: int) -> None:
        commit_start, commit_end, reveal_end, attest_end = task.windows(round_)
        global_state, global_hash = await self._start_global(task, p2p, round_)
        if self.config.is_trainer and self.config.node.behaviour != "noshow":
            await self._train_and_commit(round_, global_state, global_hash, commit_start, commit_end)
        await self._sleep_until(commit_end)
        await self._reveal(p2p, round_)
        if self.config.is_validator:
            await self._sleep_until(reveal_end + JUDGE_GRACE_S)
            await self._validate(p2p, task, round_, global_state, global_hash)
        await self._await_outcome(p2p, round_, attest_end, global_state)

    async def _train_and_commit(self, round_: int, global_state: Delta, global_hash: str, commit_start: float,
                                commit_end: float) -> None:
        assert self.learner is not None
        if self.store.commitment(round_) is None:
            now = await self._chain(self.chain.now)
            if now >= commit_end:
                self._set(round_, "missed commit window")
                return
            self._set(round_, "training")
            with self._timed(round_, "train"):
                # stop early enough to encode and send the commit inside its window
                deadline = commit_end - TRAIN_MARGIN_S - (await self._chain(self.chain.now) - time.time())
                update = await trio.to_thread.run_sync(self.learner.train, global_state, round_,
                                                       self.config.node.behaviour, deadline)
            self.metrics.train_tokens_per_s.set(update.stats.tokens_per_s)
            with self._timed(round_, "encode"):
                data = encode_delta(update.delta, self.learner.spec, Codec.parse(self.spec_file.codec))
            assert self.p2p is not None
            digest = self.p2p.put_blob(data)
            salt = secrets.token_bytes(32)
            made = commitment(self.account.address, round_, digest, salt)
            # Written before the transaction: a restart re-sends this commitment, never another.
            self.store.save_commitment(Commitment(round_, _hex(digest), _hex(salt), _hex(made),
                                                  update.stats.tokens, global_hash, False))
        saved = self.store.commitment(round_)
        assert saved is not None
        if self.store.transaction(f"commit:{round_}") is None:
            self._set(round_, "trained; waiting for the commit window")
            await self._sleep_until(commit_start + WINDOW_MARGIN_S)
        self._set(round_, "committing")
        try:
            with self._timed(round_, "commit"):
                receipt = await self._chain(self.chain.commit, round_, bytes.fromhex(saved.commitment[2:]))
        except ChainRevert as exc:
            self._set(round_, "commit refused", exc.error)
            return
        self.metrics.gas_spent.inc(max(receipt.gas_used, 0))
        self.status.committed += 1
        self._set(round_, "committed")

    async def _reveal(self, p2p: P2PService, round_: int) -> None:
        saved = self.store.commitment(round_)
        if saved is None:
            return
        if not self.chain_committed(round_):
            return
        digest = bytes.fromhex(saved.content_hash[2:])
        size = len(p2p.store.get(digest))
        body = Update(task_id=self.spec_file.task_id, round=round_, peer=self.account.address,
                      base_hash=bytes.fromhex(saved.base_hash[2:]), delta_hash=digest, delta_size=size,
                      sample_count=saved.sample_count, codec_id=0, salt=bytes.fromhex(saved.salt[2:]))
        if not saved.revealed:
            self._set(round_, "revealing")
            with self._timed(round_, "gossip+fetch"):
                await p2p.announce(body)
            self.store.mark_revealed(round_)
            self.status.revealed += 1
            self._set(round_, "revealed")

    def chain_committed(self, round_: int) -> bool:
        tx = self.store.transaction(f"commit:{round_}")
        return tx is not None and tx.status == "mined"

    async def _validate(self, p2p: P2PService, task: TaskInfo, round_: int, global_state: Delta,
                        global_hash: str) -> None:
        """Judge the round, seal the attestation in the seal window, open it after.

        The tuple and salt are saved before the seal is sent: a restarted validator opens the seal
        it made (judging again with a fresh salt could never open it)."""
        judged = self.store.get_meta(f"attestation:{round_}") is not None
        if not judged and await self._chain(self.chain.now) >= task.seal_end(round_):
            self._set(round_, "not attesting", "the seal window closed before this node judged")
            return
        if not judged and not await self._judge(p2p, task, round_, global_state, global_hash):
            return
        raw, result_hex = self.store.get_meta(f"attestation:{round_}"), self.store.get_meta(f"result:{round_}")
        assert raw is not None and result_hex is not None  # _judge saved both, now or before a restart
        saved = json.loads(raw)
        attested = tuple(bytes.fromhex(h[2:]) for h in saved["tuple"])
        salt = bytes.fromhex(saved["salt"][2:])
        # Both sends are journaled: after a restart they return the mined receipt, or finish the
        # transaction that was in flight, and never send a second one.
        self._set(round_, "sealing")
        seal = attestation_seal(self.spec_file.task_id, round_, self.account.address, tuple_hash(*attested), salt)
        try:
            with self._timed(round_, "attest"):
                receipt = await self._chain(self.chain.seal_attestation, round_, seal)
            self.metrics.gas_spent.inc(max(receipt.gas_used, 0))
            crash_point(f"sealed:{round_}")
            self._set(round_, "sealed; opening after the seal window")
            await self._sleep_until(task.seal_end(round_) + WINDOW_MARGIN_S)
            self._set(round_, "attesting")
            with self._timed(round_, "attest"):
                receipt = await self._chain(self.chain.attest, round_, *attested, salt)
            self.metrics.gas_spent.inc(max(receipt.gas_used, 0))
        except ChainRevert as exc:
            self._set(round_, "attest refused", exc.error)
            return
        crash_point(f"attested:{round_}")
        self.status.attested += 1
        # Only now: the result document names the tuple, which must stay secret until opened.
        # Announced again after a restart: the same signed bytes, which peers that saw them drop.
        result_hash = bytes.fromhex(result_hex[2:])
        try:
            await p2p.announce(ResultNote(task_id=self.spec_file.task_id, round=round_, peer=self.account.address,
                                          result_hash=result_hash, result_size=p2p.store.size(result_hash)))
        except PublishRefused as exc:  # e.g. the round is over: the other validators' notes remain
            logger.info("result note of round %d not announced: %s", round_, exc)
        self._set(round_, "attested")

    async def _judge(self, p2p: P2PService, task: TaskInfo, round_: int, global_state: Delta,
                     global_hash: str) -> bool:
        """Validate and aggregate the round; save what to attest. False: this node cannot attest."""
        assert self.learner is not None
        self._set(round_, "validating")
        commits = await self._chain(self.chain.commits, round_)
        reveals: dict[str, Reveal] = {}
        for peer, digest_hex, body in self.store.envelopes(round_):
            update = decode(body).body
            assert isinstance(update, Update)
            digest = bytes.fromhex(digest_hex[2:])
            if not p2p.store.has(digest):
                # the prefetch failed or is late: one bounded retry, then judge without it
                with trio.move_on_after(FETCH_AT_JUDGE_S):
                    try:
                        with self._timed(round_, "gossip+fetch"):
                            await self._fetch_blob_once(p2p, digest_hex, "update")
                    except BlobUnavailable as exc:
                        logger.warning("blob of %s unavailable at judging: %s", peer, exc)
            blob = p2p.store.get(digest) if p2p.store.has(digest) else None
            reveals[peer] = Reveal(update, blob)
        stakes = {}
        for c in commits:
            stakes[c.peer] = (await self._chain(self.chain.participant, c.peer))[0]
        previous = await self._previous(round_ - 1)
        fresh = await self._chain(self.chain.task)
        reputation = None
        if self.spec_file.reputation:
            finalized = await self._chain(self.chain.finalized_rounds)
            results = [RoundResult.decode(p.read_bytes())
                       for p in sorted((self.config.node.data_dir / "results").glob("*.json"))]
            reputation = standing_before(round_, results, finalized)
            if reputation is None:
                self._set(round_, "not attesting", "missing results of earlier rounds for reputation")
                return False
        with self._timed(round_, "validate+aggregate"):
            judgement = await trio.to_thread.run_sync(
                judge_round, round_, fresh, self.spec_file, self.learner.spec, global_state, global_hash, commits,
                reveals, stakes, previous, self._history(), reputation)
        for verdict in judgement.outcome.verdicts:
            self.metrics.verdict(verdict.reason)
        self._remember(round_, judgement.outcome.fingerprints)
        p2p.put_blob(judgement.global_bytes)
        result_bytes = judgement.result.encode()
        p2p.put_blob(result_bytes)
        (self.globals_dir / f"{judgement.result.global_hash}.safetensors").write_bytes(judgement.global_bytes)
        self.store.set_meta(f"result:{round_}", content_hash(result_bytes))
        self.store.set_meta(f"attestation:{round_}", json.dumps({
            "tuple": [_hex(part) for part in judgement.attested], "salt": _hex(secrets.token_bytes(32))}))
        return True

    async def _previous(self, round_: int) -> PreviousRound | None:
        if round_ < 0:
            return None
        final = await self._chain(self.chain.finalized_tuple, round_)
        if final is None:
            return None
        logs = await self._chain(self.chain.attestations, round_)
        attestations = [Attestation(a.validator, a.weight, AttestedTuple(a.accepted_root, a.global_hash,
                                                                         a.rewards_root, a.slash_root))
                        for a in logs]
        return PreviousRound(attestations, AttestedTuple(final.accepted_root, final.global_hash,
                                                         final.rewards_root, final.slash_root))

    def _history(self) -> tuple[Fingerprint, ...]:
        raw = self.store.get_meta("fingerprints")
        if not raw:
            return ()
        return tuple(Fingerprint(d, tuple(s)) for d, s in json.loads(raw))

    def _remember(self, round_: int, fingerprints: dict[str, Fingerprint]) -> None:
        if self.store.get_meta(f"fingerprinted:{round_}"):
            return
        known = [[f.digest, list(f.sketch)] for f in self._history()]
        known += [[f.digest, list(f.sketch)] for _, f in sorted(fingerprints.items())]
        self.store.set_meta("fingerprints", json.dumps(known))
        self.store.set_meta(f"fingerprinted:{round_}", "1")

    async def _await_outcome(self, p2p: P2PService, round_: int, attest_end: float, start_global: Delta) -> None:
        self._set(round_, "awaiting quorum")
        while True:
            info = await self._chain(self.chain.round_info, round_)
            if info.status == RoundStatus.FINALIZED:
                await self._settle(p2p, round_, start_global)
                return
            now = await self._chain(self.chain.now)
            if info.status == RoundStatus.FAILED or now >= attest_end:
                if info.status != RoundStatus.FAILED and self.config.is_validator:
                    await self._mark_failed(round_)
                self.metrics.rounds.labels(outcome="failed").inc()
                self.store.set_round(round_, "failed", outcome={"status": "failed"})
                self._set(round_, "failed", "no quorum: the previous global stays")
                return
            await trio.sleep(self.config.chain.poll_s)

    async def _mark_failed(self, round_: int) -> None:
        """Record on chain that the round failed (anyone may; the first call wins), so that the
        ledger and late joiners read the outcome instead of an open round."""
        for attempt in range(MARK_FAILED_ATTEMPTS):
            try:
                await self._chain(self.chain.mark_failed, round_, attempt)
                return
            except ChainRevert as exc:
                logger.info("round %d not marked failed (attempt %d): %s", round_, attempt, exc.error)
            # Another validator was first, or the call met a block stamped before the deadline
            # (the latest block lags the clock): then try again.
            if (await self._chain(self.chain.round_info, round_)).status != RoundStatus.OPEN:
                return
            await trio.sleep(self.config.chain.poll_s)
        logger.warning("round %d is still open after %d attempts to mark it failed", round_, MARK_FAILED_ATTEMPTS)

    def _note_result(self, round_: int, digest_hex: str) -> None:
        """Remember an announced result document in the store: a node restarted while settling
        would otherwise wait for announcements that were made once, before it died."""
        noted = self._noted_results(round_)
        if digest_hex not in noted:
            self.store.set_meta(f"result-notes:{round_}", json.dumps([*noted, digest_hex]))

    def _noted_results(self, round_: int) -> list[str]:
        return json.loads(self.store.get_meta(f"result-notes:{round_}") or "[]")

    async def _result(self, p2p: P2PService, round_: int) -> RoundResult:
        final = await self._chain(self.chain.finalized_tuple, round_)
        assert final is not None
        attested = (final.accepted_root, final.global_hash, final.rewards_root, final.slash_root)
        own = self.store.get_meta(f"result:{round_}")
        candidates = [own] if own else []
        while True:
            candidates += self._noted_results(round_)
            for digest_hex in dict.fromkeys(candidates):
                try:
                    result = RoundResult.decode(await self._fetch_blob_once(p2p, digest_hex, "result"))
                    result.check(attested)
                    return result
                except (ResultMismatch, BlobUnavailable) as exc:
                    logger.warning("round %d result %s unusable: %s", round_, digest_hex, exc)
            await trio.sleep(1.0)

    async def _fetch_blob_once(self, p2p: P2PService, digest_hex: str, purpose: str) -> bytes:
        digest = bytes.fromhex(digest_hex[2:])
        if p2p.store.has(digest):
            return p2p.store.get(digest)
        providers = list(self.providers.get(digest_hex, set()))
        return (await p2p.fetch(digest, None, providers, purpose)).read_bytes()

    async def _settle(self, p2p: P2PService, round_: int, start_global: Delta) -> None:
        """After finalization: adopt the global, claim our reward, execute slashes (validators)."""
        self._set(round_, "finalized")
        result = await self._result(p2p, round_)
        results_dir = self.config.node.data_dir / "results"
        results_dir.mkdir(exist_ok=True)
        (results_dir / f"{round_}.json").write_bytes(result.encode())
        own = next((v for v in result.verdicts if v.peer.lower() == self.account.address.lower()), None)
        if own is not None:
            self.status.verdicts[str(round_)] = Reason(own.reason).name
        claim = result.claim_of(self.account.address)
        if claim is not None and claim.amount > 0:
            self.store.save_claim(round_, "reward", claim.amount, [_hex(p) for p in claim.proof])
            try:
                with self._timed(round_, "claim"):
                    receipt = await self._chain(self.chain.claim, round_, claim.index, claim.amount, claim.proof)
                self.metrics.gas_spent.inc(max(receipt.gas_used, 0))
                self.metrics.rewards.inc(claim.amount)
                self.status.rewards += claim.amount
                self.status.claimed_rounds += 1
            except ChainRevert as exc:
                logger.warning("claim of round %d refused: %s", round_, exc.error)
            self.store.set_claim_status(round_, "reward", "claimed")
        if self.config.is_validator:
            for order in result.slash_orders():
                try:
                    await self._chain(self.chain.execute_slash, round_, order.account, order.amount, order.reason,
                                      order.proof)
                except ChainRevert as exc:  # another validator was first: that is fine
                    logger.info("slash of %s in round %d: %s", order.account, round_, exc.error)
        global_path = self.globals_dir / f"{result.global_hash}.safetensors"
        if not global_path.exists():
            global_path.write_bytes(await self._fetch_blob(p2p, result.global_hash, "global"))
        if self.config.is_validator:
            size = global_path.stat().st_size
            p2p.put_blob(global_path.read_bytes())
            try:
                await p2p.announce(GlobalAdapter(task_id=self.spec_file.task_id, round=round_,
                                                 peer=self.account.address,
                                                 global_hash=bytes.fromhex(result.global_hash[2:]),
                                                 global_size=size))
            except PublishRefused as exc:  # announcing is a courtesy to late joiners
                logger.info("global announcement of round %d skipped: %s", round_, exc)
        if self.learner is not None and self.config.is_trainer:
            state = decode_delta(global_path.read_bytes(), self.learner.spec)
            with self._timed(round_, "evaluate"):
                ppl = await trio.to_thread.run_sync(self.learner.held_out_ppl, state)
            self.status.ppl[f"global@{round_}"] = ppl
            self.metrics.ppl.labels(adapter="global").set(ppl)
            if self.personalizer is not None:
                with self._timed(round_, "personalize"):
                    known = {"base": self.status.ppl["base"], "global": ppl}  # trainers measure base at start
                    report = await trio.to_thread.run_sync(self.personalizer.update, round_, start_global, state,
                                                           result.verdicts, self._round_deltas(p2p, round_), known)
                self.status.ppl[f"personal@{round_}"] = report.ppl["personal"]
                self.metrics.ppl.labels(adapter="personal").set(report.ppl["personal"])
        self.metrics.rounds.labels(outcome="finalized").inc()
        self.store.set_round(round_, "settled", global_hash=result.global_hash,
                             outcome={"status": "finalized", "own": own.reason if own else None})
        self._set(round_, "settled")


def run_node(config: NodeConfig, password: str | None = None, max_rounds: int | None = None,
             log_file: Path | None = None) -> None:
    logging.basicConfig(level=logging.INFO, filename=log_file,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    trio.run(NodeDaemon(config, password, max_rounds).run)
