"""The simulation loop: each round, peers commit on chain, the validation pipeline (consensus's,
or the stand-in) judges their reveals, validators seal and then open their attestations (the
lazy one guesses, the copier has nothing to copy before openings start and cannot open what it
did not seal, the honest ones attest what the pipeline says), the
round finalizes on chain, and every reward is claimed and every slash executed with Merkle
proofs. Validators are paid one round late (settlement.py), so the last round's go unpaid.

Profit per account = (tokens held + stake in escrow, at the end) - (the same at the start)
- stake cost, where the stake cost is the opportunity cost of the stake locked in the task
(``stake_cost_bps`` of it per round). Rewards and slashes are therefore measured on chain, not
taken from the Python side.

With ``SimConfig.reputation`` set, every validator folds each finalized round's verdicts into a
reputation book and judges (the multipliers are consensus's prior: the consensus judge) and
settles the next round with it (reputation.py); the Sybil operator's
identities are replaced by fresh ones every ``sybil_lifetime`` rounds (the old ones leave the
task, so their stake stops costing).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import astuple, dataclass, field, replace

import torch
from eth_utils import keccak

from harness.sim.chain import UNIT, GasRecord, SimChain, TaskTerms
from harness.sim.standin import StandInJudge
from harness.sim.strategies import RoundView, Strategy, make_delta
from harness.sim.synthetic import SyntheticTask
from harness.sim.verdicts import ConsensusJudge, Judge, Reveal, delta_digest
from loraswarm.incentives.merkle import StandardMerkleTree
from loraswarm.incentives.outcome import Attestation, AttestedTuple, PeerOutcome
from loraswarm.incentives.reputation import ReputationBook, ReputationParams, Standing
from loraswarm.incentives.rewards import BPS, RewardParams
from loraswarm.incentives.settlement import IncentiveParams, PreviousRound, settle
from loraswarm.incentives.slashing import dissent_slash
from loraswarm.incentives.trees import RoundTrees, build_trees
from loraswarm.protocol.chain import attestation_seal, commitment, seal_end, tuple_hash
from loraswarm.protocol.codes import Reason

S = Strategy
DEFAULT_PEERS: tuple[Strategy, ...] = (
    (S.HONEST,) * 10 + (S.NO_SHOW, S.NO_SHOW, S.ZERO, S.ZERO, S.COPYCAT, S.COPYCAT, S.NOISE)
    + (S.SCALING, S.ALIE, S.ALIE)
)
# The reputation run adds one Sybil operator with four identities at a time and a slow poisoner.
REPUTATION_PEERS: tuple[Strategy, ...] = DEFAULT_PEERS + (S.SYBIL,) * 4 + (S.SLOW_POISON,)
# Verdict leaves of the simulation's accepted root: (peer, reason).
VERDICT_LEAF_TYPES = ("address", "uint8")
PIPELINES: dict[str, type[ConsensusJudge] | type[StandInJudge]] = {
    "consensus": ConsensusJudge, "standin": StandInJudge,
}
HONEST_VALIDATOR = "honest_validator"
# Attests without validating: guesses that every reveal is fine.
LAZY_VALIDATOR = "lazy_validator"
# Attests without validating: would copy the first attestation opened on chain.
COPYING_VALIDATOR = "copying_validator"
VALIDATOR_ROLES = (HONEST_VALIDATOR, LAZY_VALIDATOR, COPYING_VALIDATOR)
# The smallest honest peer's sample count (index 0), held by the strategies compared with it.
LIKE_FOR_LIKE_SAMPLES = 100
LIKE_FOR_LIKE = frozenset({Strategy.SYBIL, Strategy.SLOW_POISON})


@dataclass(frozen=True)
class SimConfig:
    rounds: int = 50
    peers: tuple[Strategy, ...] = DEFAULT_PEERS
    # Five of seven equal stakes clear the 2/3 quorum without the lazy and copying validators.
    honest_validators: int = 5
    lazy_validators: int = 1
    copying_validators: int = 1
    terms: TaskTerms = field(default_factory=TaskTerms)
    params: IncentiveParams = field(default_factory=lambda: IncentiveParams(rewards=RewardParams(2_000)))
    pipeline: str = "consensus"  # a PIPELINES key
    stake_cost_bps: int = 10
    seed: int = 1
    reputation: ReputationParams | None = None  # None: rewards split by score alone
    sybil_lifetime: int = 1  # rounds a Sybil identity is used before a fresh one replaces it
    poison_from: int | None = None  # the round slow poisoners turn; None: half-way

    @property
    def poison_round(self) -> int:
        return self.rounds // 2 if self.poison_from is None else self.poison_from


@dataclass(frozen=True)
class Member:
    address: str
    role: str  # a Strategy value, or one of VALIDATOR_ROLES
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
    reputation: dict[str, int]  # account key -> reputation (ppm) at the end; empty without reputation


@dataclass(frozen=True)
class RoundGas:
    finalize: int  # the attestation that reached quorum
    total: int  # every transaction of the round: commits, attestations, claims


def gas_by_n(chain: SimChain, ns: tuple[int, ...], config: SimConfig) -> dict[int, RoundGas]:
    """Gas of one round with N honest peers, for each N: a fresh task and fresh accounts per N
    (an account takes part in one task at a time)."""
    gas = {}
    for n in ns:
        sweep = replace(config, rounds=1, peers=(Strategy.HONEST,) * n, lazy_validators=0, copying_validators=0,
                        seed=config.seed * 1000 + n)
        records = run_simulation(chain, sweep).gas
        gas[n] = RoundGas(next(r.gas for r in records if r.kind == "finalize"), sum(r.gas for r in records))
    return gas


def outcome_tuple(
    task_id: int, round_id: int, pool: int, outcomes: list[PeerOutcome], global_hash: bytes,
    stakes: dict[str, int], previous: PreviousRound | None, params: IncentiveParams,
    reputation: Standing | None = None,
) -> tuple[AttestedTuple, RoundTrees]:
    """What a validator attests for a set of verdicts, and the trees behind it."""
    trees = build_trees(task_id, round_id, settle(pool, outcomes, stakes, previous, params, reputation))
    verdicts = StandardMerkleTree.of([(o.peer, int(o.reason)) for o in outcomes], VERDICT_LEAF_TYPES)
    return AttestedTuple(verdicts.root, global_hash, trees.rewards_root, trees.slash_root), trees


def _unvalidated(reveals: list[Reveal]) -> list[PeerOutcome]:
    """A lazy validator's verdicts: every reveal taken at face value."""
    return [
        PeerOutcome(r.peer, Reason.NOT_REVEALED if r.delta is None else Reason.ACCEPTED, r.sample_count, 1.0)
        for r in reveals
    ]


def _join(chain: SimChain, config: SimConfig, task_id: int) -> list[Member]:
    # Accounts differ per pipeline, so one chain can run the same deltas through both.
    seed = config.seed.to_bytes(8, "big") + config.pipeline.encode()
    peer_addrs = chain.new_accounts(b"peer" + seed, len(config.peers))
    roles = ((LAZY_VALIDATOR,) * config.lazy_validators + (COPYING_VALIDATOR,) * config.copying_validators
             + (HONEST_VALIDATOR,) * config.honest_validators)
    val_addrs = chain.new_accounts(b"validator" + seed, len(roles))
    chain.join(task_id, peer_addrs, val_addrs, config.terms)
    # Honest sample counts differ per peer so that scores, and with them the split, are uneven.
    # A Sybil identity claims as many samples as the smallest honest peer holds, the operator's
    # whole dataset, and the slow poisoner holds that many too: both compare like for like with
    # that peer (the smallest honest profit), whatever their place in the peer list.
    strategies = zip(peer_addrs, config.peers, strict=True)
    members = [Member(a, s.value, i, LIKE_FOR_LIKE_SAMPLES if s in LIKE_FOR_LIKE else 100 + 37 * i)
               for i, (a, s) in enumerate(strategies)]
    members += [Member(a, role, i, 0) for i, (a, role) in enumerate(zip(val_addrs, roles, strict=True))]
    return members


def run_simulation(chain: SimChain, config: SimConfig) -> SimResult:
    task = SyntheticTask(config.seed)
    terms = config.terms
    dissent = dissent_slash(terms.validator_stake * UNIT, config.params.slashing)
    task_id = chain.create_task(terms, keccak(b"initial global"), dissent)
    members = _join(chain, config, task_id)
    first_gas = len(chain.gas)
    peers = [m for m in members if m.role in {s.value for s in Strategy}]
    book = ReputationBook(config.reputation) if config.reputation is not None else None
    validators = [m for m in members if m not in peers]
    judge: Judge = PIPELINES[config.pipeline]()
    start = {m.address: chain.wealth(m.address) for m in members}
    stake_cost: Counter[str] = Counter()
    rejections: Counter[tuple[str, Reason]] = Counter()
    replayable: torch.Tensor | None = None
    previous: PreviousRound | None = None
    finalized = 0
    for r in range(config.rounds):
        commit_start, _, reveal_end, _ = chain.windows(task_id, r)
        if r > 0 and r % config.sybil_lifetime == 0:
            fresh = _renew_sybils(chain, config, task_id, r, peers)
            members += fresh
            start.update({m.address: chain.wealth(m.address) for m in fresh})  # its stake: the operator's money
            sybils = iter(fresh)
            peers = [next(sybils) if m.role == Strategy.SYBIL.value else m for m in peers]
        chain.warp(commit_start)
        locked = {m.address: chain.locked_stake(task_id, m.address) for m in members}
        for address, stake in locked.items():
            stake_cost[address] += stake * config.stake_cost_bps // BPS
        honest = torch.stack([task.honest_delta(m.index, r) for m in peers if m.role == Strategy.HONEST.value])
        view = RoundView(task, r, len(peers), honest, replayable, Counter(Strategy(m.role) for m in peers),
                         config.poison_round)
        deltas = {m.address: make_delta(Strategy(m.role), m.index, view) for m in peers}
        _commit(chain, task_id, r, deltas, config.seed)

        chain.warp(reveal_end)
        standing = book.standing() if book is not None else None
        reveals = [Reveal(m.address, m.sample_count, deltas[m.address],
                          None if standing is None else standing.multiplier(m.address)) for m in peers]
        judged = judge(r, reveals)
        stakes = {m.address: locked[m.address] for m in peers}
        pool = chain.next_pool(task_id)
        honest_tuple, trees = outcome_tuple(task_id, r, pool, judged.outcomes, judged.global_hash, stakes, previous,
                                            config.params, standing)
        lazy_tuple, _ = outcome_tuple(task_id, r, pool, _unvalidated(reveals), keccak(b"unvalidated"), stakes,
                                      previous, config.params, standing)
        attestations, unopened = _attest(chain, task_id, r, validators, honest_tuple, lazy_tuple)
        replayable = honest
        if not chain.is_finalized(task_id, r):
            previous = None  # a failed round pays nobody; its validators go unpaid
            continue
        finalized += 1
        keeper = next(a.validator for a in attestations if a.attested == honest_tuple)
        _pay_and_slash(chain, trees, keeper,
                       [a.validator for a in attestations if a.attested != honest_tuple] + unopened)
        role_of = {m.address: m.role for m in peers}
        rejections.update((role_of[o.peer], o.reason) for o in judged.outcomes)
        previous = PreviousRound(attestations, honest_tuple)
        if book is not None:
            book.fold(r, {o.peer: o.reason for o in judged.outcomes})

    earnings = {m.address: chain.wealth(m.address) - start[m.address] for m in members}
    profit = {a: e - stake_cost[a] for a, e in earnings.items()}
    return SimResult(config, task_id, members, profit, earnings, rejections, finalized, chain.gas[first_gas:],
                     dict(book.levels) if book is not None else {})


def _renew_sybils(chain: SimChain, config: SimConfig, task_id: int, round_id: int, peers: list[Member]) -> list[Member]:
    """The Sybil operator's identities leave the task and fresh ones (new keys, new stake) take
    their places, in the same order."""
    old = [m for m in peers if m.role == Strategy.SYBIL.value]
    for m in old:
        chain.send(m.address, chain.coordinator.functions.leave(task_id))
    seed = b"sybil" + config.seed.to_bytes(8, "big") + config.pipeline.encode() + round_id.to_bytes(8, "big")
    fresh = chain.new_accounts(seed, len(old))
    chain.join(task_id, fresh, [], config.terms)
    return [Member(a, m.role, m.index, m.sample_count) for a, m in zip(fresh, old, strict=True)]


def _commit(chain: SimChain, task_id: int, round_id: int, deltas: dict[str, torch.Tensor | None], seed: int) -> None:
    """Every peer commits, a no-show too (to a content hash it will never reveal)."""
    for peer, delta in deltas.items():
        content = delta_digest(delta) if delta is not None else keccak(b"withheld" + peer.encode())
        salt = keccak(seed.to_bytes(8, "big") + peer.encode() + round_id.to_bytes(8, "big"))
        call = chain.coordinator.functions.commit(task_id, round_id, commitment(peer, round_id, content, salt))
        chain.send(peer, call, round_id, "commit")


def _pay_and_slash(chain: SimChain, trees: RoundTrees, keeper: str, dissenters: list[str]) -> None:
    """After finalization: every account claims its reward, and a keeper (any account: here an
    honest validator) executes every slash leaf and slashes every dissenting validator."""
    task_id, r = trees.task_id, trees.round_id
    functions = chain.coordinator.functions
    for account, claim in trees.claims().items():
        chain.send(account, functions.claim(task_id, r, claim.index, claim.amount, claim.proof), r, "claim")
    for order in trees.slash_orders():
        call = functions.executeSlash(task_id, r, order.account, order.amount, order.reason, order.proof)
        chain.send(keeper, call, r, "slash")
    for validator in dissenters:
        chain.send(keeper, functions.slashDissenter(task_id, r, validator), r, "dissent")


def _attest(
    chain: SimChain, task_id: int, round_id: int, validators: list[Member],
    honest_tuple: AttestedTuple, lazy_tuple: AttestedTuple,
) -> tuple[list[Attestation], list[str]]:
    """Validators seal, then open, their attestations; returns the opened ones and the accounts
    whose seal stayed unopened.

    In the seal window nothing can be copied yet, so the copier seals the lazy guess too; once
    openings start, it tries to open the first honest tuple instead, which its seal does not
    bind (the call would revert), and leaves its seal unopened. Openings go lazy first (they
    skip validation, so they are fastest), then the honest ones in an order that rotates every
    round; openings after the quorum are recorded too."""
    by_role = {role: [m for m in validators if m.role == role] for role in VALIDATOR_ROLES}
    honest = by_role[HONEST_VALIDATOR]
    shift = round_id % len(honest)
    honest = honest[shift:] + honest[:shift]
    salts = {m.address: keccak(b"attestation salt" + m.address.encode() + round_id.to_bytes(8, "big"))
             for m in validators}
    sealed: dict[str, tuple[AttestedTuple, int]] = {}
    for m in by_role[LAZY_VALIDATOR] + honest + by_role[COPYING_VALIDATOR]:
        weight = chain.validator_stake(task_id, m.address)
        if weight == 0:
            continue  # slashed out of the validator set
        guess = honest_tuple if m.role == HONEST_VALIDATOR else lazy_tuple
        seal = attestation_seal(task_id, round_id, m.address, tuple_hash(*astuple(guess)), salts[m.address])
        chain.send(m.address, chain.coordinator.functions.sealAttestation(task_id, round_id, seal), round_id, "seal")
        sealed[m.address] = (guess, weight)
    _, _, reveal_end, attest_end = chain.windows(task_id, round_id)
    chain.warp(seal_end(reveal_end, attest_end))
    attestations: list[Attestation] = []
    unopened: list[str] = []
    for m in by_role[LAZY_VALIDATOR] + honest + by_role[COPYING_VALIDATOR]:
        if m.address not in sealed:
            continue
        attested, weight = sealed[m.address]
        call = chain.coordinator.functions.attest(task_id, round_id, *astuple(attested), salts[m.address])
        if m.role == COPYING_VALIDATOR:
            copied = next((a.attested for a in attestations if a.attested != attested), None)
            if copied is not None:
                copy = chain.coordinator.functions.attest(task_id, round_id, *astuple(copied), salts[m.address])
                assert not chain.would_succeed(m.address, copy), "a seal opened a tuple it does not bind"
            unopened.append(m.address)
            continue
        was_final = chain.is_finalized(task_id, round_id)
        chain.send(m.address, call, round_id, "attest")
        attestations.append(Attestation(m.address, weight, attested))
        if not was_final and chain.is_finalized(task_id, round_id):
            chain.relabel_last("finalize")
    return attestations, unopened
