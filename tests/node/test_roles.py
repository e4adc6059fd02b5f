"""The node's roles against fakes of the chain and the network (tests/node/fakes.py), on trio's
mock clock: each phase's decisions, its journal and its restarts, in milliseconds. The network
e2e test runs the same roles on a real chain with real peers."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Awaitable
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import trio
from eth_account import Account
from eth_utils import keccak
from trio.testing import MockClock

from loraswarm.node.blobs import Blobs
from loraswarm.node.chain.task import FinalizedTuple
from loraswarm.node.codec import Delta
from loraswarm.node.globals import encode_global
from loraswarm.node.intake import Intake
from loraswarm.node.p2p.envelope import Envelope, Update, decode
from loraswarm.node.p2p.errors import BlobUnavailable
from loraswarm.node.p2p.keys import identity_from_account
from loraswarm.node.p2p.service import Received
from loraswarm.node.results import ResultBook
from loraswarm.node.roles.context import NodeContext
from loraswarm.node.roles.settlement import SETTLE_FETCH_S, SLASH_TURN_S, Settlement
from loraswarm.node.roles.trainer import Trainer
from loraswarm.node.roles.validator import Validator
from loraswarm.node.round_result import RoundResult, VerdictRow
from loraswarm.node.state.phase import Phase
from loraswarm.node.state.store import SavedAttestation
from loraswarm.node.timing import Work
from loraswarm.protocol.chain import RoundStatus
from loraswarm.protocol.codes import Reason
from loraswarm.protocol.taskspec import RecipeSection, TaskSpec
from tests.node.fakes import (
    DOMAIN,
    SPEC,
    START,
    FakeChain,
    FakeLearner,
    FakeNetwork,
    delta,
    globals_of,
    make_context,
    signed_update,
)

ROUND = 0


def run(clock: MockClock, fn, *args) -> None:  # type: ignore[no-untyped-def]
    trio.run(fn, *args, clock=clock)


async def _append(out: list[bool], pending: Awaitable[bool]) -> None:
    out.append(await pending)


def _saved(result: RoundResult) -> SavedAttestation:
    accepted, global_hash, rewards, slashes, pool = result.roots()
    hexes = ["0x" + b.hex() for b in (accepted, global_hash, rewards, slashes)]
    return SavedAttestation(result.round, (*hexes, pool), "0x" + "11" * 32, "0x" + accepted.hex())  # type: ignore[arg-type]


@pytest.fixture
def clock() -> MockClock:
    return MockClock(autojump_threshold=0)


def chain_of(ctx: NodeContext) -> FakeChain:
    assert isinstance(ctx.chain, FakeChain)
    return ctx.chain


def network_of(ctx: NodeContext) -> FakeNetwork:
    assert isinstance(ctx.network, FakeNetwork)
    return ctx.network


def timed(ctx: NodeContext) -> set[Work]:
    """The phases of work the node timed in ROUND (its status's timings)."""
    return {Work(w) for w in ctx.reporter.status.timings.get(str(ROUND), {})}


# trainer ------------------------------------------------------------------------------------------
def test_the_commitment_is_the_digest_of_the_signed_update_and_a_restart_reveals_the_same_bytes(
        tmp_path: Path, clock: MockClock) -> None:
    account = Account.create()
    ctx = make_context(tmp_path, clock, account, roles=["trainer"])
    chain = chain_of(ctx)
    learner = FakeLearner()
    chain.refuse["commit"] = "RpcStalled"  # the node dies between journaling and the commit
    start_hash = "0x" + chain.info.latest_global.hex()
    commit_end = chain.info.windows(ROUND)[1]

    async def life(trainer: Trainer) -> bool:
        return await trainer.train_and_commit(ROUND, SPEC.zeros(), start_hash, commit_end)

    identity = identity_from_account(account)
    first = Trainer(ctx, learner, identity, DOMAIN)  # type: ignore[arg-type]
    committed: list[bool] = []
    run(clock, lambda: _append(committed, life(first)))
    assert committed == [False] and learner.trainings == 1
    own = ctx.store.own_update(ROUND)
    assert own is not None
    envelope = decode(own.envelope)
    assert isinstance(envelope.body, Update) and envelope.body.peer == account.address
    assert "0x" + envelope.digest.hex() == own.digest

    del chain.refuse["commit"]
    second = Trainer(ctx, learner, identity, DOMAIN)  # type: ignore[arg-type]
    run(clock, lambda: _append(committed, life(second)))
    assert committed[-1] is True and learner.trainings == 1  # not trained again
    assert chain.sent == [("commit", (ROUND, envelope.digest))]
    # the reveal sends exactly the committed update on chain and announces its bytes on gossip,
    # once (the commit must be mined first)
    ctx.store.record_transaction(f"commit:{ROUND}", 0, "0x01", "0x")
    ctx.store.finish_transaction(f"commit:{ROUND}", "mined", 1)
    run(clock, second.reveal, ROUND)
    run(clock, second.reveal, ROUND)
    assert chain.sent[1:] == [("reveal", (account.address, ROUND))]
    assert chain.revealed[ROUND][account.address.lower()].delta_hash == envelope.body.delta_hash
    assert [e.encode() for e in network_of(ctx).published] == [own.envelope]
    assert ctx.store.round(ROUND) is not None and ctx.store.round(ROUND).phase is Phase.REVEALED  # type: ignore[union-attr]
    assert timed(ctx) == {Work.TRAIN, Work.ENCODE, Work.COMMIT, Work.REVEAL, Work.PUBLISH}


@pytest.mark.parametrize("steps", [12, 3])
def test_a_deadline_that_cut_the_training_short_is_told_and_the_update_still_committed(
        tmp_path: Path, clock: MockClock, caplog: pytest.LogCaptureFixture, steps: int) -> None:
    account = Account.create()
    # The task's recipe, not the peer's config, says how many steps a round trains.
    spec = TaskSpec(task_id=1, recipe=RecipeSection(steps=12))
    ctx = make_context(tmp_path, clock, account, roles=["trainer"], spec_file=spec)
    chain = chain_of(ctx)
    commit_end = chain.info.windows(ROUND)[1]
    trainer = Trainer(ctx, FakeLearner(steps=steps), identity_from_account(account), DOMAIN)  # type: ignore[arg-type]
    committed: list[bool] = []
    with caplog.at_level(logging.WARNING):
        run(clock, lambda: _append(committed, trainer.train_and_commit(
            ROUND, SPEC.zeros(), "0x" + chain.info.latest_global.hex(), commit_end)))
    assert committed == [True]
    warned = [r.getMessage() for r in caplog.records if "before the commit deadline" in r.getMessage()]
    assert warned == ([] if steps == 12 else [f"round {ROUND}: trained 3 of 12 steps before the commit deadline "
                                               "(the task's recipe and commit window expect a faster machine: "
                                               "[training] device or threads may help)"])


def test_a_node_that_wakes_after_the_commit_window_does_not_train(tmp_path: Path, clock: MockClock) -> None:
    ctx = make_context(tmp_path, clock, Account.create(), roles=["trainer"])
    learner = FakeLearner()
    trainer = Trainer(ctx, learner, identity_from_account(Account.create()), DOMAIN)  # type: ignore[arg-type]
    committed: list[bool] = []
    # chain time is far past this window
    run(clock, lambda: _append(committed, trainer.train_and_commit(ROUND, SPEC.zeros(), "0x" + "00" * 32, 1.0)))
    assert committed == [False] and learner.trainings == 0 and not chain_of(ctx).sent


# validator ----------------------------------------------------------------------------------------
def _round_with_peers(ctx: NodeContext, orders: list[list[int]], junk: bool) -> list[Envelope]:
    """Three honest peers committed and revealed on chain; the node holds their gossiped updates in
    the given order; with ``junk``, peer 0 also signed a second, different update (which must
    change nothing)."""
    chain, network = chain_of(ctx), network_of(ctx)
    base = "0x" + chain.info.latest_global.hex()
    accounts = [Account.from_key(bytes([i + 1]) * 32) for i in range(3)]
    envelopes = [signed_update(a, ROUND, network, delta(i), base) for i, a in enumerate(accounts)]
    for a, e in zip(accounts, envelopes, strict=True):
        chain.add_commit(a.address, ROUND, e.digest)
        chain.add_reveal(e.body)  # type: ignore[arg-type]
    other = signed_update(accounts[0], ROUND, network, delta(99), base)
    held = [envelopes[i] for i in orders[0]] + ([other] if junk else [])
    for e in held:
        ctx.store.save_envelope(ROUND, e.body.peer.lower(), "0x" + e.digest.hex(), e.encode(), 0.0)
    return envelopes


def _validator(ctx: NodeContext) -> Validator:
    blobs = Blobs(network_of(ctx), ctx.reporter.metrics)
    return Validator(ctx, globals_of(ctx, blobs), blobs, ResultBook(ctx.data_dir / "results", blobs))


def _validate(ctx: NodeContext, clock: MockClock, after: float | None = None) -> None:
    """Run the validator role at ``after`` (chain time; default: just after the reveal window)."""
    validator, info = _validator(ctx), chain_of(ctx).info

    async def go() -> None:
        await trio.sleep_until((info.windows(ROUND)[2] + 2 if after is None else after) - START)
        await validator.take_part(ROUND, info, SPEC.zeros(), "0x" + info.latest_global.hex())

    run(clock, go)


def _attested(ctx: NodeContext) -> tuple[tuple[str, str, str, str, int], RoundResult]:
    saved = ctx.store.attestation(ROUND)
    assert saved is not None
    return saved.tuple, RoundResult.decode(network_of(ctx).store.get(bytes.fromhex(saved.result_hash[2:])))


def _judge(tmp: Path, clock: MockClock, order: list[int], junk: bool) -> tuple[tuple[str, str, str, str, int],
                                                                               RoundResult]:
    ctx = make_context(tmp, clock, Account.create(), roles=["validator"])
    _round_with_peers(ctx, [order], junk)
    _validate(ctx, clock)
    assert chain_of(ctx).names() == ["seal", "attest"]
    assert timed(ctx) == {Work.JUDGING_READS, Work.DELTA_FETCH, Work.DECODE, Work.VALIDATE, Work.AGGREGATE,
                          Work.INCENTIVES, Work.SAVE, Work.SEAL, Work.OPEN, Work.ANNOUNCE}
    return _attested(ctx)


def test_validators_holding_updates_in_any_order_and_extra_signed_updates_attest_the_same_tuple(
        tmp_path: Path, clock: MockClock) -> None:
    one, result = _judge(tmp_path / "a", clock, [0, 1, 2], junk=False)
    two, _ = _judge(tmp_path / "b", MockClock(autojump_threshold=0), [2, 1, 0], junk=True)
    assert one == two
    assert [Reason(v.reason) for v in result.verdicts] == [Reason.ACCEPTED] * 3
    assert one[4] == result.peer_pool > 0  # the attested pool is what the reward tree pays


def test_an_equivocation_on_chain_at_the_pinned_block_rejects_the_peer(tmp_path: Path, clock: MockClock) -> None:
    ctx = make_context(tmp_path, clock, Account.create(), roles=["validator"])
    envelopes = _round_with_peers(ctx, [[0, 1, 2]], junk=True)
    chain_of(ctx).equivocated.add(envelopes[0].body.peer.lower())
    _validate(ctx, clock)
    _, result = _attested(ctx)
    reasons = {v.peer.lower(): Reason(v.reason) for v in result.verdicts}
    assert reasons[envelopes[0].body.peer.lower()] is Reason.EQUIVOCATION
    # slashed on chain by the evidence: no second slash leaf, and no reward
    assert all(a.lower() != envelopes[0].body.peer.lower() for a, *_ in result.slashes + result.rewards)


def test_a_restarted_validator_opens_the_seal_it_made_without_judging_again(tmp_path: Path, clock: MockClock) -> None:
    ctx = make_context(tmp_path, clock, Account.create(), roles=["validator"])
    _round_with_peers(ctx, [[0, 1, 2]], junk=False)
    chain = chain_of(ctx)
    chain.refuse["attest"] = "NotInAttestWindow"
    _validate(ctx, clock)
    saved = ctx.store.attestation(ROUND)
    del chain.refuse["attest"]
    network_of(ctx).remote.clear()  # nothing to fetch: judging again would have to fail
    _validate(ctx, clock, after=chain.now())
    assert ctx.store.attestation(ROUND) == saved and chain.names() == ["seal", "seal", "attest"]
    assert saved is not None and chain.sent[-1][1][2] == bytes.fromhex(saved.salt[2:])


def test_a_validator_registered_during_the_round_sits_it_out(tmp_path: Path, clock: MockClock) -> None:
    ctx = make_context(tmp_path, clock, Account.create(), roles=["validator"])
    _round_with_peers(ctx, [[0, 1, 2]], junk=False)
    chain = chain_of(ctx)
    chain.first_round = ROUND + 1
    _validate(ctx, clock)
    assert ctx.store.attestation(ROUND) is None and not chain.sent


def test_no_attestation_once_the_seal_window_has_closed(tmp_path: Path, clock: MockClock) -> None:
    ctx = make_context(tmp_path, clock, Account.create(), roles=["validator"])
    chain = chain_of(ctx)
    _validate(ctx, clock, after=chain.info.seal_end(ROUND) + 1)
    assert ctx.store.attestation(ROUND) is None and not chain.sent


def test_the_judge_gets_the_globals_recent_changes_from_finalized_results(tmp_path: Path, clock: MockClock) -> None:
    """Each finalized round's global minus the one before it (the first one's: the task's initial
    global, derived, never fetched), oldest first, the last history_changes of them; a global the
    node lacks is fetched by its hash; one nobody serves means not attesting (None)."""
    ctx = make_context(tmp_path, clock, Account.create(), roles=["validator"])
    zeros, _, initial = FakeLearner().initial_global()
    chain_of(ctx).info = replace(chain_of(ctx).info, initial_global=bytes.fromhex(initial[2:]))
    validator = _validator(ctx)
    states, hashes = [], []
    for seed in range(4):
        state = delta(seed, scale=0.1)
        data, digest = encode_global(state, SPEC)
        network_of(ctx).remote[bytes.fromhex(digest[2:])] = data  # peers serve it; the node lacks it
        states.append(state)
        hashes.append(digest)
    results = [RoundResult(1, r, h, (), (), ()) for r, h in enumerate(hashes)]
    info = chain_of(ctx).info

    def changes(held: list[RoundResult], complete: bool) -> tuple[Delta, ...] | None:
        out: list[tuple[Delta, ...] | None] = []

        async def go() -> None:
            out.append(await validator._changes(4, info, held, complete))

        run(clock, go)
        return out[0]

    def expected(pairs: list[tuple[Delta, Delta]]) -> list[dict[str, torch.Tensor]]:
        return [{k: after[k].double() - before[k].double() for k in SPEC.keys} for before, after in pairs]

    two = changes(results[:2], complete=True)  # rounds 0 and 1: from the initial global on
    assert two is not None and len(two) == 2
    for got, want in zip(two, expected([(zeros, states[0]), (states[0], states[1])]), strict=True):
        assert all(torch.equal(got[k], want[k]) for k in SPEC.keys)
    last = changes(results, complete=False)  # four rounds held, three changes used: the last three
    assert last is not None and len(last) == validator.history_changes == 3
    for got, want in zip(last, expected(list(itertools.pairwise(states))), strict=True):
        assert all(torch.equal(got[k], want[k]) for k in SPEC.keys)
    assert changes(results[:1], complete=False) == ()  # no global before it: no change known
    network_of(ctx).remote.clear()
    missing = RoundResult(1, 4, "0x" + "ab" * 32, (), (), ())
    assert changes([*results, missing], complete=False) is None


# settlement ---------------------------------------------------------------------------------------
def _finalized(ctx: NodeContext, result: RoundResult) -> None:
    chain, network = chain_of(ctx), network_of(ctx)
    roots = result.roots()
    chain.final[result.round] = FinalizedTuple(*roots)
    chain.status[result.round] = RoundStatus.FINALIZED
    network.remote[roots[0]] = result.encode()


def _settlement(ctx: NodeContext) -> Settlement:
    blobs = Blobs(network_of(ctx), ctx.reporter.metrics)
    return Settlement(ctx, globals_of(ctx, blobs), ResultBook(ctx.data_dir / "results", blobs), None, None,
                      lambda r: {})


async def _settle(ctx: NodeContext, round_: int) -> None:
    """The round's outcome awaited and acted on, its chores (punishing, starting the next round)
    done alongside, as the round loop runs them."""
    settlement = _settlement(ctx)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(settlement.run_chores)
        await settlement.await_outcome(round_, chain_of(ctx).info)
        settlement.close_chores()


def test_settling_claims_pays_validators_punishes_and_adopts_the_global(tmp_path: Path, clock: MockClock) -> None:
    account = Account.create()
    ctx = make_context(tmp_path, clock, account, roles=["trainer", "validator"])
    chain, network = chain_of(ctx), network_of(ctx)
    cheat, absent = Account.create().address, Account.create().address
    chain.validators = [account.address, absent]
    global_bytes = network.put_blob(b"a global")
    result = RoundResult(1, ROUND, "0x" + global_bytes.hex(),
                         (VerdictRow(account.address, 0), VerdictRow(cheat, int(Reason.NORM_BOUND))),
                         ((account.address, 900),), ((cheat, 50, int(Reason.NORM_BOUND)),))
    network.remote[global_bytes] = network.store.blobs.pop(global_bytes)
    _finalized(ctx, result)
    ctx.store.save_attestation(_saved(result))
    run(clock, _settle, ctx, ROUND)
    assert chain.names() == ["claim", "claim_validator", "execute_slash", "slash_validator"]
    assert chain.sent[2][1] == (ROUND, cheat, 50, int(Reason.NORM_BOUND)) and chain.sent[3][1] == (ROUND, absent)
    assert (tmp_path / "globals" / f"{result.global_hash}.safetensors").read_bytes() == b"a global"
    record = ctx.store.round(ROUND)
    assert record is not None and record.phase is Phase.SETTLED and record.global_hash == result.global_hash
    assert {(c.kind, c.status) for c in ctx.store.claims()} == {("reward", "claimed"), ("validator", "claimed")}
    assert ctx.reporter.status.rewards == 900
    assert timed(ctx) == {Work.OUTCOME_READS, Work.RESULT_FETCH, Work.CLAIM, Work.SLASH, Work.GLOBAL_FETCH, Work.ADOPT}


def test_settling_a_round_also_punishes_the_validators_of_the_round_before(tmp_path: Path,
                                                                          clock: MockClock) -> None:
    """A seal of round r - 1 left unopened can be slashed only once r - 1's openings closed,
    after its finalization: settling round r tries the validators of both rounds (the contract
    refuses, free at gas estimation, those with nothing to answer for)."""
    account = Account.create()
    ctx = make_context(tmp_path, clock, account, roles=["validator"])
    chain, network = chain_of(ctx), network_of(ctx)
    lazy = Account.create().address
    chain.validators = [account.address, lazy]
    global_bytes = network.put_blob(b"a global")
    result = RoundResult(1, ROUND + 1, "0x" + global_bytes.hex(), (VerdictRow(account.address, 0),),
                         ((account.address, 900),), ())
    _finalized(ctx, result)
    run(clock, _settle, ctx, ROUND + 1)
    slashed = [args for name, args in chain.sent if name == "slash_validator"]
    assert slashed == [(ROUND + 1, lazy), (ROUND, lazy)]


def _ranked_last(account: str, round_: int) -> list[str]:
    """Validators among which ``account`` takes its turn at punishing last."""
    others = [Account.create().address, Account.create().address]
    while True:
        order = sorted([account, *others], key=lambda v: keccak(text=f"{round_}/{v.lower()}"))
        if order[-1] == account:
            return order
        others = [Account.create().address, Account.create().address]


def _slashable(ctx: NodeContext, account: str) -> tuple[RoundResult, str]:
    """A round finalized with a slash leaf for a cheat, its global served by another node: the
    result and the cheat."""
    network, cheat = network_of(ctx), Account.create().address
    global_bytes = network.put_blob(b"a global")
    network.remote[global_bytes] = network.store.blobs.pop(global_bytes)
    result = RoundResult(1, ROUND, "0x" + global_bytes.hex(),
                         (VerdictRow(account, 0), VerdictRow(cheat, int(Reason.NORM_BOUND))),
                         ((account, 900),), ((cheat, 50, int(Reason.NORM_BOUND)),))
    _finalized(ctx, result)
    return result, cheat


def test_a_validators_turn_at_punishing_holds_back_neither_its_claim_nor_its_next_round(
        tmp_path: Path, clock: MockClock) -> None:
    """Third in turn, a validator waits 2 x SLASH_TURN_S before it slashes; its settlement (claims,
    the new global) is over long before that, and the slashes follow off the round's path."""
    account = Account.create()
    ctx = make_context(tmp_path, clock, account, roles=["trainer", "validator"])
    chain = chain_of(ctx)
    chain.validators = _ranked_last(account.address, ROUND)
    result, cheat = _slashable(ctx, account.address)
    ctx.store.save_attestation(_saved(result))
    seen: dict[str, object] = {}

    async def go() -> None:
        settlement = _settlement(ctx)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(settlement.run_chores)
            began = trio.current_time()
            await settlement.await_outcome(ROUND, chain.info)
            seen["settled_s"], seen["sent"] = trio.current_time() - began, chain.names()
            settlement.close_chores()
        seen["chores_s"] = trio.current_time() - began

    run(clock, go)
    assert seen["sent"] == ["claim", "claim_validator"]
    assert isinstance(seen["settled_s"], float) and seen["settled_s"] < SLASH_TURN_S
    assert isinstance(seen["chores_s"], float) and seen["chores_s"] >= 2 * SLASH_TURN_S
    assert next(args for name, args in chain.sent if name == "execute_slash")[:2] == (ROUND, cheat)
    record = ctx.store.round(ROUND)
    assert record is not None and record.phase is Phase.SETTLED


def test_a_restarted_validator_redoes_the_chores_of_the_last_round_it_finished(tmp_path: Path,
                                                                                clock: MockClock) -> None:
    """Chores are not journaled: a validator killed after settling a round and before its slashes
    went out sends them after the restart (a settled round's slash leaves and validators; a failed
    round's absent validators), and a trainer has none."""
    account = Account.create()
    ctx = make_context(tmp_path, clock, account, roles=["trainer", "validator"])
    chain = chain_of(ctx)
    absent = Account.create().address
    chain.validators = [account.address, absent]
    _, cheat = _slashable(ctx, account.address)

    async def restarted(round_: int, phase: Phase, c: NodeContext) -> None:
        settlement = _settlement(c)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(settlement.run_chores)
            settlement.redo_chores(round_, phase)
            settlement.close_chores()

    run(clock, restarted, ROUND, Phase.SETTLED, ctx)
    assert chain.names() == ["execute_slash", "slash_validator"]
    assert chain.sent[0][1][:2] == (ROUND, cheat) and chain.sent[1][1] == (ROUND, absent)
    chain.sent.clear()
    run(clock, restarted, ROUND + 1, Phase.FAILED, ctx)
    assert chain.sent == [("slash_validator", (ROUND + 1, absent))]
    trainer = make_context(tmp_path / "trainer", clock, Account.create(), roles=["trainer"])
    run(clock, restarted, ROUND, Phase.SETTLED, trainer)
    assert not chain_of(trainer).sent


def test_a_refused_claim_is_recorded_as_refused(tmp_path: Path, clock: MockClock) -> None:
    account = Account.create()
    ctx = make_context(tmp_path, clock, account, roles=["trainer"])
    chain, network = chain_of(ctx), network_of(ctx)
    chain.refuse["claim"] = "ClaimWindowClosed"
    result = RoundResult(1, ROUND, "0x" + network.put_blob(b"g").hex(), (VerdictRow(account.address, 0),),
                         ((account.address, 900),), ())
    _finalized(ctx, result)
    run(clock, _settle, ctx, ROUND)
    assert [(c.kind, c.status, c.detail) for c in ctx.store.claims()] == [("reward", "refused", "ClaimWindowClosed")]
    assert ctx.reporter.status.rewards == 0


def test_a_result_nobody_serves_ends_the_round_after_a_deadline(tmp_path: Path, clock: MockClock) -> None:
    ctx = make_context(tmp_path, clock, Account.create(), roles=["trainer"])
    chain, network = chain_of(ctx), network_of(ctx)
    result = RoundResult(1, ROUND, "0x" + "ab" * 32, (), (), ())
    _finalized(ctx, result)
    network.remote.clear()
    began = clock.current_time()
    run(clock, _settle, ctx, ROUND)
    record = ctx.store.round(ROUND)
    assert record is not None and record.phase is Phase.SETTLED and record.outcome == {
        "status": "finalized", "result": "unavailable"}
    assert SETTLE_FETCH_S <= clock.current_time() - began < SETTLE_FETCH_S + 30 and not chain.sent


def test_a_finalization_in_the_attest_window_s_last_block_is_settled_not_failed(
        tmp_path: Path, clock: MockClock) -> None:
    """The node first reads the round open past its attest window (the finalizing block was not
    visible yet), then the outcome at a block stamped after the window: it settles and claims."""
    account = Account.create()
    ctx = make_context(tmp_path, clock, account, roles=["trainer", "validator"])
    chain, network = chain_of(ctx), network_of(ctx)
    result = RoundResult(1, ROUND, "0x" + network.put_blob(b"g").hex(), (VerdictRow(account.address, 0),),
                         ((account.address, 900),), ())
    _finalized(ctx, result)
    chain.refuse["mark_failed"] = "RoundAlreadyFinalized"
    chain.stale_reads = 1

    async def go() -> None:
        await trio.sleep_until(chain.info.windows(ROUND)[3] - START)
        await _settle(ctx, ROUND)

    run(clock, go)
    record = ctx.store.round(ROUND)
    assert record is not None and record.phase is Phase.SETTLED and "claim" in chain.names()


def test_a_round_without_quorum_is_marked_failed_and_absent_validators_are_slashed(
        tmp_path: Path, clock: MockClock) -> None:
    account = Account.create()
    ctx = make_context(tmp_path, clock, account, roles=["validator"])
    chain = chain_of(ctx)
    absent = Account.create().address
    chain.validators = [account.address, absent]
    run(clock, _settle, ctx, ROUND)
    assert chain.names() == ["mark_failed", "slash_validator"] and chain.sent[1][1] == (ROUND, absent)
    record = ctx.store.round(ROUND)
    assert record is not None and record.phase is Phase.FAILED
    assert timed(ctx) == {Work.OUTCOME_READS, Work.MARK_FAILED, Work.SLASH}


# intake and blobs ---------------------------------------------------------------------------------
def test_two_signed_updates_of_a_peer_are_reported_once(tmp_path: Path, clock: MockClock) -> None:
    ctx = make_context(tmp_path, clock, Account.create())
    network = network_of(ctx)
    intake = Intake(ctx, Blobs(network, ctx.reporter.metrics), prefetch=True)
    peer = Account.create()
    updates = [signed_update(peer, ROUND, network, delta(i), "0x" + "00" * 32) for i in range(3)]

    async def go() -> None:
        async with trio.open_nursery() as nursery:
            for envelope in [updates[0], updates[0], updates[1], updates[2]]:
                await intake.take(Received(envelope, None, "t"), nursery)  # type: ignore[arg-type]

    run(clock, go)
    assert chain_of(ctx).sent == [("report_equivocation", (peer.address, ROUND))]
    assert len(ctx.store.envelopes(ROUND)) == 3
    assert timed(ctx) == {Work.PREFETCH, Work.SLASH}  # the deltas as they arrive; the report slashes


@pytest.mark.parametrize("prefetch", [True, False])
def test_only_a_node_that_uses_the_deltas_prefetches_them(tmp_path: Path, clock: MockClock, prefetch: bool) -> None:
    """Validators and personal adapters read the round's deltas; a plain trainer journals the
    update (equivocation evidence) but fetches nothing: N nodes fetching N deltas each made a
    round move N^2 blobs."""
    ctx = make_context(tmp_path, clock, Account.create())
    network = network_of(ctx)
    peer_network = FakeNetwork(tmp_path / "peer")
    update = signed_update(Account.create(), ROUND, peer_network, delta(1), "0x" + "00" * 32)
    network.remote.update(peer_network.remote)
    intake = Intake(ctx, Blobs(network, ctx.reporter.metrics), prefetch=prefetch)

    async def go() -> None:
        async with trio.open_nursery() as nursery:
            await intake.take(Received(update, None, "t"), nursery)  # type: ignore[arg-type]

    run(clock, go)
    assert len(ctx.store.envelopes(ROUND)) == 1
    assert network.store.has(update.body.blob[0]) is prefetch
    assert network.fetches == (1 if prefetch else 0)
    assert timed(ctx) == ({Work.PREFETCH} if prefetch else set())


def test_a_blob_nobody_serves_raises_after_its_patience(tmp_path: Path, clock: MockClock) -> None:
    ctx = make_context(tmp_path, clock, Account.create())
    blobs = Blobs(network_of(ctx), ctx.reporter.metrics)

    async def go() -> None:
        with pytest.raises(BlobUnavailable):
            await blobs.fetch(b"\1" * 32, "update", 30.0)

    began = clock.current_time()
    run(clock, go)
    assert 30.0 <= clock.current_time() - began < 40.0 and network_of(ctx).fetches >= 4
