"""The peer node: wires its parts and runs them in one trio nursery.

    keys, state journal, chain client, task check -> model and data -> registration -> p2p
    -> [gossip intake | registry refresh | reporter] alongside the round loop (rounds.py)

The daemon builds and starts; the round loop sequences the roles (roles/trainer.py,
roles/validator.py, roles/settlement.py), which do the work. Blocking work (web3 calls, training)
runs in worker threads so gossip keeps flowing. Everything a restart needs is in the state journal
before the action that depends on it, and every chain write is journaled by purpose, so
``kill -9`` at any point and a restart resume the round without sending anything twice.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import trio
from web3 import HTTPProvider, Web3

from loraswarm.evm import rpc
from loraswarm.evm.compile import contract_artifacts
from loraswarm.evm.deploy import Deployment, attach
from loraswarm.evm.funds import StakeNeed, require_node_funds
from loraswarm.node.blobs import Blobs
from loraswarm.node.chain.client import ChainClient
from loraswarm.node.chain.reverts import error_selectors
from loraswarm.node.chain.task import TaskChain, TaskInfo
from loraswarm.node.codec import CodecError, Delta, decode_delta
from loraswarm.node.config import ConfigError, NodeConfig
from loraswarm.node.globals import Globals
from loraswarm.node.intake import Intake
from loraswarm.node.judge import consensus_params
from loraswarm.node.keys import load_account
from loraswarm.node.metrics import NodeMetrics
from loraswarm.node.p2p.envelope import Domain, decode
from loraswarm.node.p2p.keys import identity_from_account
from loraswarm.node.p2p.service import P2PConfig, P2PService
from loraswarm.node.reporter import Reporter
from loraswarm.node.results import ResultBook
from loraswarm.node.roles.context import NodeContext
from loraswarm.node.roles.settlement import Settlement
from loraswarm.node.roles.trainer import Trainer
from loraswarm.node.roles.validator import Validator
from loraswarm.node.rounds import RoundLoop
from loraswarm.node.state.phase import Phase
from loraswarm.node.state.store import STATE_FILE, StateStore
from loraswarm.node.status import NodeStatus
from loraswarm.node.windows import margin_misfit
from loraswarm.protocol.taskspec import TaskSpec, TaskSpecError

if TYPE_CHECKING:
    from loraswarm.node.learner import Learner

logger = logging.getLogger("loraswarm.node")

REGISTRY_REFRESH_S = 2.0


class NodeDaemon:
    def __init__(self, config: NodeConfig, password: str | None = None, max_rounds: int | None = None) -> None:
        self.config = config
        self.max_rounds = max_rounds
        data_dir = config.node.data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self.account = load_account(config.keys.keystore,
                                    password if password is not None else os.environ.get(config.keys.password_env))
        self.deployment = Deployment.from_file(config.chain.deployment)
        url = rpc.resolve(config.chain.rpc_url, self.deployment.chain_id)
        journal = data_dir / STATE_FILE
        if not journal.exists():
            # A first start with a wrong endpoint is a mistake to report; a restart waits out an
            # outage (below) to finish what its journal holds.
            rpc.connect(url, self.deployment.chain_id)
        self.store = StateStore(journal)
        w3 = Web3(HTTPProvider(url, request_kwargs={"timeout": 10}))
        self._probe = Web3(HTTPProvider(url, request_kwargs={"timeout": 2}))  # a scrape must not hang
        metrics = NodeMetrics()
        status = NodeStatus(config.node.name, self.account.address, [r.value for r in config.node.roles],
                            config.node.behaviour.value)
        self.reporter = Reporter(status, data_dir / "status.json", self.store, metrics)
        selectors = error_selectors(a.abi for a in contract_artifacts().values())
        # A node (re)started while the chain is unreachable waits for it, like a running one.
        self.client = ChainClient(w3, self.account, self.store, selectors)
        contracts = self.client.with_retry(lambda: attach(self.deployment, w3))
        self.spec_file = TaskSpec.read(config.chain.task_file)
        consensus_params(self.spec_file)  # an unknown parameter is refused before anything is sent
        self.chain = TaskChain(self.client, contracts, self.spec_file.task_id, self.deployment.block,
                               self.spec_file.pin_grace_s)
        self.w3 = w3
        self.registered: set[str] = set()
        self.commitments: dict[tuple[str, int], bytes] = {}

    def _check_task_file(self, on_chain: bytes) -> None:
        mine = self.spec_file.spec_hash()
        if mine != "0x" + on_chain.hex():
            raise TaskSpecError(f"{self.config.chain.task_file} hashes to {mine}, but task {self.spec_file.task_id} "
                                f"on chain fixed {'0x' + on_chain.hex()}: get the task file from the task's owner")

    def _check_margins(self, task: TaskInfo) -> None:
        misfit = margin_misfit(self.config.chain.margin_s, self.spec_file.pin_grace_s, self.config.is_validator,
                               task.reveal_s, task.attest_s)
        if misfit is not None:
            raise ConfigError(f"task {self.spec_file.task_id}: {misfit}")

    # Where the node's model work starts: the two methods below and ``evaluates`` (the learner
    # they return is then used for training, evaluation and personal adapters). A scale run's
    # light peer (harness/light_peer.py) replaces them to submit cached real deltas without
    # loading a model; the model's libraries are imported here, not at the top, so that it
    # never loads them.
    evaluates = True  # held-out perplexity of the base, each global and the personal adapter

    def check_training(self, task_model: str) -> None:
        """The device, base model and data the node will train with, checked before it stakes:
        found wrong after registering, they cost the gas and leave the stake locked."""
        # The learner's module first: it imports every library training needs (torch,
        # transformers, peft, dp-accounting), so a broken install fails here, before the stake.
        import loraswarm.node.learner  # noqa: F401
        from loraswarm.node.training.corpus import load_texts, load_topics
        from loraswarm.node.training.device import pick_device
        from loraswarm.node.training.model import SET_TASK_MODEL, model_hash, require_base_model

        training = self.config.training
        pick_device(training.device)
        if training.topics:
            load_topics(training.topics)
        for path in training.data:  # the records' shapes: their rendering needs the model's chat template
            load_texts(path, lambda instruction, response: instruction + response)
        require_base_model(model_hash(training.model), task_model, SET_TASK_MODEL)

    def load_learner(self, task_model: str) -> Learner:
        """The base model with its LoRA adapter, and the node's data."""
        from loraswarm.node.learner import Learner

        learner = Learner(self.spec_file, self.config.training, task_model)
        learner.load_data()
        return learner

    def _check_funds(self, task: TaskInfo) -> None:
        """Gas money and the tokens its registrations stake, before the node registers and loads
        its model (Unfunded names the account, the chain, what is missing and where to get it)."""
        config, address = self.config, self.account.address
        mine = self.chain.participant(address)
        stake = (task.min_peer_stake if config.is_trainer and mine.peer_stake == 0 else 0) + (
            self.spec_file.validator_stake if config.is_validator and mine.validator_stake == 0 else 0)
        free = int(self.client.call(self.chain.staking.functions.freeStakeOf(address)))
        self.client.with_retry(lambda: require_node_funds(self.w3, self.chain.token, address, StakeNeed(stake, free)))

    async def run(self) -> None:
        config, reporter = self.config, self.reporter
        if config.metrics.port:
            reporter.metrics.serve(config.metrics.port, config.metrics.host)
        call = partial(trio.to_thread.run_sync, abandon_on_cancel=True)
        task = await call(self.chain.task)
        self._check_task_file(task.spec_hash)
        self._check_margins(task)
        await call(self._check_funds, task)
        await call(self.check_training, "0x" + task.base_model_hash.hex())
        # Registration first: a validator takes part from the first round that starts after it
        # registered, and loading the model takes a while.
        reporter.show(-1, Phase.STARTING.value, "registering")
        await call(self.chain.ensure_registered, config.is_trainer,
                   self.spec_file.validator_stake if config.is_validator else 0)
        await self._refresh_registry()
        reporter.show(-1, Phase.STARTING.value, "loading the model")
        learner = await call(self.load_learner, "0x" + task.base_model_hash.hex())
        self.store.save_base_model("0x" + task.base_model_hash.hex())  # `loraswarm export` checks it
        if config.is_trainer and self.evaluates:
            reporter.ppl("base", "base", await self._base_ppl(learner))
        identity = identity_from_account(self.account)
        domain = Domain(self.deployment.chain_id, self.deployment.addresses["Coordinator"])
        p2p_config = P2PConfig(chain_id=domain.chain_id, coordinator=domain.coordinator,
                               task_id=self.spec_file.task_id, data_dir=config.node.data_dir,
                               listen=(config.p2p.listen,), bootstrap=tuple(config.p2p.bootstrap))
        p2p = P2PService(identity, p2p_config, lambda a: a.lower() in self.registered,
                         commitment_of=lambda peer, round_: self.commitments.get((peer.lower(), round_)))
        reporter.metrics.watch(lambda: len(p2p.connected_peers()), self._head_lag_s)
        ctx = NodeContext(config, self.spec_file, self.account.address, self.chain, p2p, self.store, reporter)
        blobs = Blobs(p2p, reporter.metrics)
        results = ResultBook(config.node.data_dir / "results", blobs)
        personalizer = None
        if config.training.personal and config.is_trainer:
            from loraswarm.node.personal import Personalizer, PersonalParams

            params = PersonalParams(selection_blocks=config.training.personal_selection_blocks)
            personalizer = Personalizer.from_learner(learner, config.node.data_dir, params, self.account.address)
        globals_ = Globals(config.node.data_dir, learner.spec, "0x" + task.initial_global.hex(), learner.initial_global,
                           blobs)
        loop = RoundLoop(
            ctx, globals_,
            Trainer(ctx, learner, identity, domain) if config.is_trainer else None,
            Validator(ctx, globals_, blobs, results) if config.is_validator else None,
            Settlement(ctx, globals_, results, learner if self.evaluates else None, personalizer,
                       partial(self._round_deltas, p2p, learner)),
            self.commitments, p2p.set_round)
        intake = Intake(ctx, blobs, prefetch=config.is_validator or personalizer is not None)
        async with p2p.run(), trio.open_nursery() as nursery:
            (config.node.data_dir / "addrs.json").write_text(json.dumps(p2p.addrs()))
            nursery.start_soon(self._intake, p2p, intake, nursery)
            nursery.start_soon(self._registry_loop)
            nursery.start_soon(reporter.watch, self.client.outage_s, p2p.rejections)
            await loop.run(self.max_rounds)
            nursery.cancel_scope.cancel()
        reporter.show(reporter.status.round, Phase.STOPPED.value)

    def _head_lag_s(self) -> float:
        """Seconds since the chain's latest block (read when /metrics is scraped; NaN while the
        chain does not answer)."""
        try:
            return time.time() - float(self._probe.eth.get_block("latest")["timestamp"])
        except Exception:  # any failure to read the head means the same to a dashboard
            return math.nan

    async def _intake(self, p2p: P2PService, intake: Intake, nursery: trio.Nursery) -> None:
        async for received in p2p.received:
            await intake.take(received, nursery)

    async def _base_ppl(self, learner: Learner) -> float:
        """The base model's held-out perplexity, measured once per model and held-out set: a
        restart after a crash skips the evaluation (seconds to minutes on a CPU)."""
        key = await trio.to_thread.run_sync(learner.held_out_key)
        if (known := self.store.base_ppl(key)) is not None:
            return known
        self.reporter.show(-1, "evaluating the base model")
        ppl = await trio.to_thread.run_sync(learner.held_out_ppl, None)
        self.store.save_base_ppl(key, ppl)
        return ppl

    async def _refresh_registry(self) -> None:
        peers, validators = await trio.to_thread.run_sync(self.chain.registered, abandon_on_cancel=True)
        self.registered = {a.lower() for a in peers + validators}

    async def _registry_loop(self) -> None:
        while True:
            await trio.sleep(REGISTRY_REFRESH_S)
            await self._refresh_registry()

    def _round_deltas(self, p2p: P2PService, learner: Learner, round_: int) -> dict[str, Delta]:
        """The round's revealed deltas this node holds (those that opened their commitments), its own
        included; the personalizer keeps only those whose verdict is ACCEPTED."""
        bodies = [decode(b) for peer, digest, b in self.store.envelopes(round_)
                  if self.commitments.get((peer, round_)) == bytes.fromhex(digest[2:])]
        own = self.store.own_update(round_)
        if own is not None:
            bodies.append(decode(own.envelope))
        deltas = {}
        for envelope in bodies:
            digest, _ = envelope.body.blob
            if p2p.store.has(digest):
                try:
                    deltas[envelope.body.peer.lower()] = decode_delta(p2p.store.get(digest), learner.spec)
                except CodecError:
                    continue  # undecodable: consensus judged it already
        return deltas


def run_node(config: NodeConfig, password: str | None = None, max_rounds: int | None = None,
             log_file: Path | None = None) -> None:
    logging.basicConfig(level=logging.INFO, filename=log_file,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    trio.run(NodeDaemon(config, password, max_rounds).run)
