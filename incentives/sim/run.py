"""The simulation loop: each round, peers commit on chain, the stand-in pipeline judges their
reveals, validators attest (the lazy one first, with a tuple it did not validate), the round
finalizes on chain, and every reward is claimed and every slash executed with Merkle proofs.

Profit per account = (tokens held + stake in escrow, at the end) - (the same at the start)
- stake cost, where the stake cost is the opportunity cost of the stake locked in the task
(``stake_cost_bps`` of it per round). Rewards and slashes are therefore measured on chain, not
taken from the Python side.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace

import numpy as np
from eth_utils import keccak

from loraswarm.incentives.merkle import StandardMerkleTree
from loraswarm.incentives.outcome import Attestation, AttestedTuple, PeerOutcome
from loraswarm.incentives.rewards import BPS, RewardParams
from loraswarm.incentives.settlement import IncentiveParams, PreviousRound, settle
from loraswarm.incentives.sim.chain import UNIT, GasRecord, SimChain, TaskTerms
from loraswarm.incentives.sim.judge import JudgeParams, Reveal, delta_digest, judge
from loraswarm.incentives.sim.strategies import RoundView, Strategy, make_delta
from loraswarm.incentives.sim.synthetic import SyntheticTask
from loraswarm.incentives.slashing import dissent_slash
from loraswarm.incentives.trees import RoundTrees, build_trees
from loraswarm.protocol.chain import commitment
from loraswarm.protocol.codes import Reason

S = Strategy
DEFAULT_PEERS: tuple[Strategy, ...] = (
    (S.HONEST,) * 10 + (S.NO_SHOW, S.NO_SHOW, S.ZERO, S.ZERO, S.COPYCAT, S.COPYCAT, S.NOISE)
    + (S.SCALING, S.ALIE, S.ALIE)
)
# Verdict leaves of the stand-in accepted root: (peer, reason).
VERDICT_LEAF_TYPES = ("address", "uint8")
HONEST_VALIDATOR = "honest_validator"
LAZY_VALIDATOR = "lazy_validator"


@dataclass(frozen=True)
class SimConfig:
    rounds: int = 50
    peers: tuple[Strategy, ...] = DEFAULT_PEERS
    honest_validators: int = 3
    lazy_validators: int = 1
    terms: TaskTerms = field(default_factory=TaskTerms)
    params: IncentiveParams = field(default_factory=lambda: IncentiveParams(rewards=RewardParams(2_000)))
    judge: JudgeParams = field(default_factory=JudgeParams)
    stake_cost_bps: int = 10
    seed: int = 1


@dataclass(frozen=True)
class Member:
    address: str
    role: str  # a Strategy value, or HONEST_VALIDATOR / LAZY_VALIDATOR
    index: int
    sample_count: int


@dataclass
class SimResult:
    config: SimConfig
    task_id: int
    members: list[Member]
    profit: dict[str, int]  # address -> profit in token units
    earnings: dict[str, int]  # address -> rewards - slashes (no stake cost)
    rejections: Counter[tuple[str, Reason]]  # (role, reason) -> count
    finalized_rounds: int
    gas: list[GasRecord]  # this run's transactions


@dataclass(frozen=True)
class RoundGas:
    finalize: int  # the attestation that reached quorum
    total: int  # every transaction of the round: commits, attestations, claims


def gas_by_n(chain: SimChain, ns: tuple[int, ...], config: SimConfig) -> dict[int, RoundGas]:
    """Gas of one round with N honest peers, for each N: a fresh task and fresh accounts per N
    (an account takes part in one task at a time)."""
    gas = {}
    for n in ns:
        sweep = replace(config, rounds=1, peers=(Strategy.HONEST,) * n, lazy_validators=0, seed=config.seed * 1000 + n)
        records = run_simulation(chain, sweep).gas
        gas[n] = RoundGas(next(r.gas for r in records if r.kind == "finalize"), sum(r.gas for r in records))
    return gas


def outcome_tuple(
    task_id: int, round_id: int, pool: int, outcomes: list[PeerOutcome], deltas: dict[str, np.ndarray | None],
    stakes: dict[str, int], previous: PreviousRound | None, params: IncentiveParams,
) -> tuple[AttestedTuple, RoundTrees]:
    """What a validator attests for a set of verdicts, and the trees behind it."""
    trees = build_trees(task_id, round_id, settle(pool, outcomes, stakes, previous, params))
    verdicts = StandardMerkleTree.of([(o.peer, int(o.reason)) for o in outcomes], VERDICT_LEAF_TYPES)
    accepted = [delta_digest(deltas[o.peer]) for o in outcomes if o.reason is Reason.ACCEPTED]
    # Stand-in for the hash of the new global adapter: it changes exactly when the accepted set does.
    global_hash = keccak(round_id.to_bytes(8, "big") + b"".join(accepted))
    return AttestedTuple(verdicts.root, global_hash, trees.rewards_root, trees.slash_root), trees


def _unvalidated(reveals: list[Reveal]) -> list[PeerOutcome]:
    """A lazy validator's verdicts: every reveal taken at face value."""
    return [
        PeerOutcome(r.peer, Reason.NOT_REVEALED if r.delta is None else Reason.ACCEPTED, r.sample_count, 1.0)
        for r in reveals
    ]


def _join(chain: SimChain, config: SimConfig, task_id: int) -> list[Member]:
    seed = config.seed.to_bytes(8, "big")
    peer_addrs = chain.new_accounts(b"peer" + seed, len(config.peers))
    n_val = config.honest_validators + config.lazy_validators
    val_addrs = chain.new_accounts(b"validator" + seed, n_val)
    chain.join(task_id, peer_addrs, val_addrs, config.terms)
    # Honest sample counts differ per peer so that scores, and with them the split, are uneven.
    strategies = zip(peer_addrs, config.peers, strict=True)
    members = [Member(a, s.value, i, 100 + 37 * i) for i, (a, s) in enumerate(strategies)]
    members += [
        Member(a, LAZY_VALIDATOR if i < config.lazy_validators else HONEST_VALIDATOR, i, 0)
        for i, a in enumerate(val_addrs)
    ]
    return members


def run_simulation(chain: SimChain, config: SimConfig) -> SimResult:
    task = SyntheticTask(config.seed)
    terms = config.terms
    task_id = chain.create_task(terms, keccak(b"initial global"), dissent_slash(terms.validator_stake * UNIT,
                                                                                  config.params.slashing))
    members = _join(chain, config, task_id)
    first_gas = len(chain.gas)
    peers = [m for m in members if m.role in {s.value for s in Strategy}]
    validators = [m for m in members if m not in peers]
    keeper = next(m.address for m in validators if m.role == HONEST_VALIDATOR)
    start = {m.address: chain.wealth(m.address) for m in members}
    stake_cost: Counter[str] = Counter()
    rejections: Counter[tuple[str, Reason]] = Counter()
    seen: set[bytes] = set()
    replayable: list[np.ndarray] = []
    previous: PreviousRound | None = None
    colluders = sum(1 for m in peers if m.role == Strategy.ALIE.value)
    finalized = 0
    for r in range(config.rounds):
        commit_start, _, reveal_end, _ = chain.windows(task_id, r)
        chain.warp(commit_start)
        locked = {m.address: chain.locked_stake(task_id, m.address) for m in members}
        for address, stake in locked.items():
            stake_cost[address] += stake * config.stake_cost_bps // BPS
        honest = [task.honest_delta(m.index, r) for m in peers if m.role == Strategy.HONEST.value]
        view = RoundView(task, r, len(peers), colluders, honest, replayable)
        deltas = {m.address: make_delta(Strategy(m.role), m.index, view) for m in peers}
        for m in peers:
            delta = deltas[m.address]
            content = delta_digest(delta) if delta is not None else keccak(b"withheld" + m.address.encode())
            salt = keccak(config.seed.to_bytes(8, "big") + m.address.encode() + r.to_bytes(8, "big"))
            call = chain.coordinator.functions.commit(task_id, r, commitment(m.address, r, content, salt))
            chain.send(m.address, call, r, "commit")

        chain.warp(reveal_end)
        reveals = [Reveal(m.address, m.sample_count, deltas[m.address]) for m in peers]
        outcomes = judge(reveals, seen, config.judge)
        peer_stakes = {m.address: locked[m.address] for m in peers}
        pool = chain.next_pool(task_id)
        honest_tuple, trees = outcome_tuple(task_id, r, pool, outcomes, deltas, peer_stakes, previous, config.params)
        lazy_tuple, _ = outcome_tuple(task_id, r, pool, _unvalidated(reveals), deltas, peer_stakes, previous,
                                      config.params)
        attestations = _attest(chain, task_id, r, validators, honest_tuple, lazy_tuple)
        if not chain.is_finalized(task_id, r):
            previous = None  # a failed round pays nobody; its validators go unpaid
            continue
        finalized += 1
        for account, claim in trees.claims().items():
            chain.send(account, chain.coordinator.functions.claim(task_id, r, claim.index, claim.amount, claim.proof),
                       r, "claim")
        for order in trees.slash_orders():
            call = chain.coordinator.functions.executeSlash(task_id, r, order.account, order.amount, order.reason,
                                                            order.proof)
            chain.send(keeper, call, r, "slash")
        for a in attestations:
            if a.attested != honest_tuple:
                chain.send(keeper, chain.coordinator.functions.slashDissenter(task_id, r, a.validator), r, "dissent")
        role_of = {m.address: m.role for m in peers}
        rejections.update((role_of[o.peer], o.reason) for o in outcomes)
        previous = PreviousRound(attestations, honest_tuple)
        seen |= {delta_digest(d) for d in deltas.values() if d is not None}
        replayable = honest

    earnings = {m.address: chain.wealth(m.address) - start[m.address] for m in members}
    profit = {a: e - stake_cost[a] for a, e in earnings.items()}
    return SimResult(config, task_id, members, profit, earnings, rejections, finalized, chain.gas[first_gas:])


def _attest(
    chain: SimChain, task_id: int, round_id: int, validators: list[Member],
    honest_tuple: AttestedTuple, lazy_tuple: AttestedTuple,
) -> list[Attestation]:
    """Validators attest until the round finalizes: the lazy ones first (they skip validation,
    so they are fastest), then the honest ones in an order that rotates every round (only the
    attestations up to quorum land, and rotation shares that fairly)."""
    lazy = [m for m in validators if m.role == LAZY_VALIDATOR]
    honest = [m for m in validators if m.role == HONEST_VALIDATOR]
    shift = round_id % len(honest)
    attestations = []
    for m in lazy + honest[shift:] + honest[:shift]:
        if chain.is_finalized(task_id, round_id):
            break
        weight = chain.validator_stake(task_id, m.address)
        if weight == 0:
            continue  # slashed out of the validator set
        attested = lazy_tuple if m.role == LAZY_VALIDATOR else honest_tuple
        call = chain.coordinator.functions.attest(task_id, round_id, attested.accepted_root, attested.global_hash,
                                                  attested.rewards_root, attested.slash_root)
        chain.send(m.address, call, round_id, "attest")
        attestations.append(Attestation(m.address, weight, attested))
        if chain.is_finalized(task_id, round_id):
            chain.relabel_last("finalize")
    return attestations
