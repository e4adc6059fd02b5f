"""Issue 16's attacks that go through the node's judging, on anvil: the real contracts, the node's
chain reads (TaskChain at the round's pinned block), its gossip intake and its validator role.

One round, four honest peers and three attackers, two validators that hold the gossiped updates in
opposite orders:
- the equivocator signs two different updates; whoever holds both reports them on chain;
- the base cheater committed to an update trained from the right global and, once the others have
  revealed, reveals the same delta and salt under a wrong base: the free ride (STALE_BASE, 0 %)
  the old commitment (delta hash and salt only) allowed; the coordinator now refuses that reveal;
- the leaver commits a scaled (poisoned) update and leaves the task in the same round, which made
  the old validators read a stake of 0, so no slash leaf existed.
Peers reveal on chain (Coordinator.reveal); gossip carries the updates too, in a different order
for each validator. Both validators must attest the same tuple; the equivocator is rejected and
slashed once (by the evidence); the base cheater counts as not revealed and is slashed like a peer
that withheld; the leaver's slash leaf exists and executes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import trio
from eth_account import Account
from eth_account.signers.local import LocalAccount

from loraswarm.evm.compile import compile_contracts
from loraswarm.evm.localchain import DEV_MNEMONIC
from loraswarm.node.blobs import Blobs
from loraswarm.node.chain.client import ChainClient
from loraswarm.node.chain.reverts import error_selectors
from loraswarm.node.chain.task import TaskChain
from loraswarm.node.codec import Codec, encode_delta
from loraswarm.node.globals import Globals
from loraswarm.node.intake import Intake
from loraswarm.node.p2p.envelope import Domain, Envelope, Update, sign
from loraswarm.node.p2p.service import Received
from loraswarm.node.results import ResultBook
from loraswarm.node.roles.context import NodeContext
from loraswarm.node.roles.validator import Validator
from loraswarm.node.round_result import RoundResult
from loraswarm.node.state.store import StateStore
from loraswarm.protocol import chain
from loraswarm.protocol.codes import Reason
from loraswarm.protocol.taskspec import TaskSpec
from tests.contracts.conftest import anvil_swarm
from tests.contracts.harness import TEST_TERMS, Swarm
from tests.node.fakes import SPEC, FakeLearner, FakeNetwork, delta, node_config, reporter_of

pytestmark = pytest.mark.e2e
ROUND = 0
HONEST = 4


def dev_key(index: int) -> LocalAccount:
    Account.enable_unaudited_hdwallet_features()
    return Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")


class Round:
    """A task on anvil with its peers committed; the updates everyone gossips; one shared network."""

    def __init__(self, swarm: Swarm, tmp: Path) -> None:
        self.swarm, self.tmp = swarm, tmp
        self.task = swarm.create_task()
        keys = [dev_key(i) for i in range(1, 10)]
        self.honest, (self.equivocator, self.cheater, self.leaver) = keys[:HONEST], keys[HONEST:HONEST + 3]
        self.validators = keys[HONEST + 3:]
        for peer in keys[:HONEST + 3]:
            swarm.join_peer(self.task, peer.address)
        for validator in self.validators:
            swarm.join_validator(self.task, validator.address)
        self.domain = Domain(swarm.chain_id, swarm.coordinator.address)
        self.base = bytes(swarm.params(self.task)["initialGlobalHash"])
        self.network = FakeNetwork(tmp / "net")
        (tmp / "net").mkdir()
        swarm.enter(self.task, ROUND, chain.Phase.COMMIT)
        self.committed: dict[str, Envelope] = {}
        for i, peer in enumerate(self.honest):
            self.committed[peer.address] = self.commit(peer, self.update(peer, i))
        self.committed[self.equivocator.address] = self.commit(self.equivocator, self.update(self.equivocator, 10))
        self.other = sign(self.domain, self.update(self.equivocator, 11), self.equivocator)
        cheat = self.update(self.cheater, 12)
        self.committed[self.cheater.address] = self.commit(self.cheater, cheat)
        self.wrong_base = sign(self.domain, replace(cheat, base_hash=b"\7" * 32), self.cheater)
        self.committed[self.leaver.address] = self.commit(self.leaver, self.update(self.leaver, 13, scale=20.0))
        swarm.leave(self.task, self.leaver.address)  # same round: its stake stays locked until slashes are due
        swarm.enter(self.task, ROUND, chain.Phase.REVEAL)
        for address, envelope in self.committed.items():
            if address != self.cheater.address:
                swarm.send(swarm.coordinator.functions.reveal(_struct(envelope)), address)
        with swarm.reverts("NotTheCommittedUpdate"):
            swarm.send(swarm.coordinator.functions.reveal(_struct(self.wrong_base)), self.cheater.address)

    def update(self, peer: LocalAccount, seed: int, scale: float = 1.0) -> Update:
        data = encode_delta({k: v * scale for k, v in delta(seed).items()}, SPEC, Codec("fp32"))
        digest = self.network.put_blob(data)
        self.network.remote[digest] = data
        return Update(task_id=self.task, round=ROUND, peer=peer.address, base_hash=self.base, delta_hash=digest,
                      delta_size=len(data), sample_count=256, codec_id=0, salt=bytes([seed]) * 32)

    def commit(self, peer: LocalAccount, update: Update) -> Envelope:
        envelope = sign(self.domain, update, peer)
        self.swarm.send(self.swarm.coordinator.functions.commit(self.task, ROUND, envelope.digest), peer.address)
        return envelope

    def gossip(self) -> list[Envelope]:
        """What the network carries in the reveal window: the honest and the committed updates,
        the equivocator's second one, and the cheater's re-based one instead of its committed one."""
        shown = [e for a, e in self.committed.items() if a != self.cheater.address]
        return [*shown, self.other, self.wrong_base]

    def validator_context(self, key: LocalAccount, name: str) -> NodeContext:
        """A validator's context with the node's real chain client and reads (its own journal)."""
        root = self.tmp / name
        root.mkdir()
        store = StateStore(root / "state.sqlite")
        client = ChainClient(self.swarm.w3, key, store, error_selectors(a.abi for a in compile_contracts().values()))
        task_chain = TaskChain(client, self.swarm.contracts, self.task, 0)
        return NodeContext(node_config(root, ["validator"]), TaskSpec(task_id=self.task), key.address, task_chain,
                           self.network, store, reporter_of(root, key.address, ["validator"], store))


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Round, list[NodeContext]]]:
    tmp = tmp_path_factory.mktemp("protocol")
    with anvil_swarm(tmp / "chain") as swarm:
        game = Round(swarm, tmp)
        contexts = [game.validator_context(v, f"validator{i}") for i, v in enumerate(game.validators)]
        orders = [game.gossip(), list(reversed(game.gossip()))]
        for ctx, order in zip(contexts, orders, strict=True):
            intake = Intake(ctx, Blobs(ctx.network, ctx.reporter.metrics), prefetch=True)

            async def take(intake: Intake = intake, order: list[Envelope] = order) -> None:
                async with trio.open_nursery() as nursery:
                    for envelope in order:
                        await intake.take(Received(envelope, None, "updates"), nursery)  # type: ignore[arg-type]

            trio.run(take)  # the second validator finds the evidence already on chain: reported once
        swarm.enter(game.task, ROUND, chain.Phase.ATTEST)
        for ctx in contexts:
            task = ctx.chain.task()
            blobs = Blobs(ctx.network, ctx.reporter.metrics)
            initial = "0x" + task.initial_global.hex()
            globals_ = Globals(ctx.data_dir, SPEC, initial, FakeLearner().initial_global, blobs)
            validator = Validator(ctx, globals_, blobs, ResultBook(ctx.data_dir / "results", blobs))
            trio.run(validator.judge, ROUND, task, SPEC.zeros(), "0x" + game.base.hex())
        attested = [_attested(ctx) for ctx in contexts]
        for ctx, (tuple_, salt) in zip(contexts, attested, strict=True):  # both seal, then both open
            seal = chain.attestation_seal(game.task, ROUND, ctx.address, chain.tuple_hash(*tuple_), salt)
            ctx.chain.seal_attestation(ROUND, seal)
        swarm.enter_open(game.task, ROUND)
        for ctx, (tuple_, salt) in zip(contexts, attested, strict=True):
            ctx.chain.attest(ROUND, tuple_, salt)
        yield game, contexts


def _attested(ctx: NodeContext) -> tuple[tuple[bytes, bytes, bytes, bytes, int], bytes]:
    saved = ctx.store.attestation(ROUND)
    assert saved is not None
    accepted, global_hash, rewards, slashes, pool = saved.tuple
    return ((bytes.fromhex(accepted[2:]), bytes.fromhex(global_hash[2:]), bytes.fromhex(rewards[2:]),
             bytes.fromhex(slashes[2:]), pool), bytes.fromhex(saved.salt[2:]))


def _struct(envelope: Envelope) -> tuple[object, ...]:
    body = envelope.body
    assert isinstance(body, Update)
    return (body.task_id, body.round, body.peer, body.base_hash, body.delta_hash, body.delta_size,
            body.sample_count, body.codec_id, body.salt)


def _result(ctx: NodeContext) -> RoundResult:
    saved = ctx.store.attestation(ROUND)
    assert saved is not None
    return RoundResult.decode(ctx.network.store.get(bytes.fromhex(saved.result_hash[2:])))


def test_validators_holding_the_updates_in_opposite_orders_attest_the_same_tuple(played) -> None:
    game, contexts = played
    tuples = [ctx.store.attestation(ROUND).tuple for ctx in contexts]  # type: ignore[union-attr]
    assert tuples[0] == tuples[1]
    reasons = {v.peer: Reason(v.reason) for v in _result(contexts[0]).verdicts}
    assert [reasons[p.address] for p in game.honest] == [Reason.ACCEPTED] * HONEST
    assert reasons[game.equivocator.address] is Reason.EQUIVOCATION
    assert reasons[game.cheater.address] is Reason.NOT_REVEALED  # not the free STALE_BASE
    assert reasons[game.leaver.address] in {Reason.NORM_BOUND, Reason.KRUM_OUTLIER, Reason.MEDIAN_OUTLIER}


def test_the_equivocator_was_slashed_once_on_chain_and_the_tuple_finalizes(played) -> None:
    game, contexts = played
    swarm = game.swarm
    reports = swarm.coordinator.events.EquivocationReported().get_logs(from_block=0)
    assert [(r["args"]["peer"], r["args"]["round"]) for r in reports] == [(game.equivocator.address, ROUND)]
    assert swarm.participant(game.task, game.equivocator.address)["peerStake"] == 0
    result = _result(contexts[0])
    assert all(a != game.equivocator.address for a, *_ in (*result.slashes, *result.rewards))
    assert swarm.round_info(game.task, ROUND)[0] == chain.RoundStatus.FINALIZED


def test_withholding_after_the_reveals_costs_what_not_revealing_costs_and_the_leaver_is_slashed(played) -> None:
    game, contexts = played
    swarm = game.swarm
    result = _result(contexts[0])
    slashes = {account: (amount, Reason(reason)) for account, amount, reason in result.slashes}
    stake = TEST_TERMS.peer_stake
    spec = contexts[0].spec_file.incentives
    assert slashes[game.cheater.address] == (stake * spec.unrevealed_bps // 10_000, Reason.NOT_REVEALED)
    amount, reason = slashes[game.leaver.address]
    assert amount == stake * spec.malicious_bps // 10_000 and reason is not Reason.ACCEPTED
    order = next(o for o in result.slash_orders() if o.account == game.leaver.address)
    contexts[0].chain.execute_slash(ROUND, order.account, order.amount, order.reason, order.proof)
    assert swarm.participant(game.task, game.leaver.address)["peerStake"] == stake - amount
