"""The simulation loop: each round, peers commit on chain, the validation pipeline (consensus's,
or the stand-in) judges their reveals, validators seal and then open their attestations (the
lazy one guesses, the copier has nothing to copy before openings start and cannot open what it
did not seal, the honest ones attest what the pipeline says), the round finalizes on chain,
every peer claims its reward with a Merkle proof, every validator that opened the final tuple
claims its share (Coordinator.claimValidator), and a keeper executes every slash leaf and slashes
the validators that dissented or never opened (the coordinator pays it a bounty).

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
from dataclasses import dataclass, field, replace

import torch
from eth_utils import keccak

from harness.sim.chain import SIM_TERMS, GasRecord, SimChain
from harness.sim.standin import StandInJudge
from harness.sim.strategies import CLAIMS, RoundView, Strategy, make_delta
from harness.sim.synthetic import SyntheticTask
from harness.sim.verdicts import ConsensusJudge, Judge, Reveal, delta_digest
from loraswarm.evm.tasks import TaskTerms
from loraswarm.incentives.merkle import StandardMerkleTree
from loraswarm.incentives.outcome import PeerOutcome
from loraswarm.incentives.reputation import ReputationBook, ReputationParams, Standing
from loraswarm.incentives.rewards import peer_pool
from loraswarm.incentives.settlement import IncentiveParams, settle
from loraswarm.incentives.trees import RoundTrees, build_trees, settlement_leaves
from loraswarm.protocol.chain import BPS, attestation_seal, commitment, seal_end, tuple_hash
from loraswarm.protocol.codes import Reason

# (acceptedRoot, globalHash, rewardsRoot, slashRoot, peerPool): what a validator attests
Tuple = tuple[bytes, bytes, bytes, bytes, int]

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
    terms: TaskTerms = SIM_TERMS
    params: IncentiveParams = field(default_factory=IncentiveParams)
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
    stakes: dict[str, int], params: IncentiveParams, reputation: Standing | None = None,
) -> tuple[Tuple, RoundTrees]:
    """What a validator attests for a set of verdicts, and the trees behind it; ``pool`` is the
    peers' pool."""
    settlement = settle(pool, outcomes, stakes, params, reputation)
    trees = build_trees(task_id, round_id, *settlement_leaves(settlement))
    verdicts = StandardMerkleTree.of([(o.peer, int(o.reason)) for o in outcomes], VERDICT_LEAF_TYPES)
    return (verdicts.root, global_hash, trees.rewards_root, trees.slash_root, settlement.rewards.paid), trees


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
    members = [Member(a, s.value, i, CLAIMS.get(s, LIKE_FOR_LIKE_SAMPLES if s in LIKE_FOR_LIKE else 100 + 37 * i))
               for i, (a, s) in enumerate(strategies)]
    members += [Member(a, role, i, 0) for i, (a, role) in enumerate(zip(val_addrs, roles, strict=True))]
    return members


def run_simulation(chain: SimChain, config: SimConfig) -> SimResult:
    task = SyntheticTask(config.seed)
    terms = config.terms
    task_id = chain.create_task(terms, keccak(b"initial global"))
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
    changes: list[torch.Tensor] = []  # the global's public changes, for the mimicking free riders
    typical: float | None = None  # the previous round's median revealed norm (public)
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
                         config.poison_round, tuple(changes[-3:]), typical)
        deltas = {m.address: make_delta(Strategy(m.role), m.index, view) for m in peers}
        _commit(chain, task_id, r, {m.address: (deltas[m.address], m.sample_count) for m in peers}, config.seed)

        chain.warp(reveal_end)
        standing = book.standing() if book is not None else None
        reveals = [Reveal(m.address, m.sample_count, deltas[m.address],
                          None if standing is None else standing.multiplier(m.address)) for m in peers]
        judged = judge(r, reveals)
        stakes = {m.address: chain.locked_stake(task_id, m.address) for m in peers}
        pool = peer_pool(chain.available(task_id), terms.validator_bps)
        honest_tuple, trees = outcome_tuple(task_id, r, pool, judged.outcomes, judged.global_hash, stakes,
                                            config.params, standing)
        lazy_tuple, _ = outcome_tuple(task_id, r, pool, _unvalidated(reveals), keccak(b"unvalidated"), stakes,
                                      config.params, standing)
        opened = _attest(chain, task_id, r, validators, honest_tuple, lazy_tuple)
        replayable = honest
        norms = sorted(float(d.norm()) for d in deltas.values() if d is not None)
        typical = norms[(len(norms) - 1) // 2] if norms else None
        if not chain.is_finalized(task_id, r):
            continue  # a failed round pays nobody and moves no money
        finalized += 1
        change = judged.change if judged.change is not None else _accepted_mean(reveals, judged.outcomes)
        if change is not None:
            changes.append(change)
        keeper = next(v for v, attested in opened.items() if attested == honest_tuple)
        _pay_and_slash(chain, trees, keeper, [v for v, attested in opened.items() if attested == honest_tuple],
                       [m.address for m in validators if opened.get(m.address) != honest_tuple])
        role_of = {m.address: m.role for m in peers}
        rejections.update((role_of[o.peer], o.reason) for o in judged.outcomes)
        if book is not None:
            book.fold(r, {o.peer: o.reason for o in judged.outcomes})

    earnings = {m.address: chain.wealth(m.address) - start[m.address] for m in members}
    profit = {a: e - stake_cost[a] for a, e in earnings.items()}
    return SimResult(config, task_id, members, profit, earnings, rejections, finalized, chain.gas[first_gas:],
                     dict(book.levels) if book is not None else {})


def _accepted_mean(reveals: list[Reveal], outcomes: list[PeerOutcome]) -> torch.Tensor | None:
    """The sample-weighted mean of the accepted reveals: the global change of a judge that does not
    report one (the stand-in); None when nothing was accepted (the global stays)."""
    accepted = {o.peer for o in outcomes if o.reason is Reason.ACCEPTED}
    kept = [(r.delta, r.sample_count) for r in reveals if r.peer in accepted and r.delta is not None]
    if not kept:
        return None
    total = sum(w for _, w in kept)
    return sum((w / total * d.to(torch.float64) for d, w in kept), torch.zeros(kept[0][0].shape, dtype=torch.float64))


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


def _commit(chain: SimChain, task_id: int, round_id: int, deltas: dict[str, tuple[torch.Tensor | None, int]],
            seed: int) -> None:
    """Every peer commits to the digest of its update, a no-show too (to a delta it will never
    reveal); nobody reveals over gossip here: the judge receives the deltas directly."""
    for peer, (delta, samples) in deltas.items():
        content = delta_digest(delta) if delta is not None else keccak(b"withheld" + peer.encode())
        salt = keccak(seed.to_bytes(8, "big") + peer.encode() + round_id.to_bytes(8, "big"))
        update = (task_id, round_id, peer, keccak(b"initial global"), content, 0, samples, 0, salt)
        digest = commitment(chain.chain_id, chain.coordinator.address, update)
        chain.send(peer, chain.coordinator.functions.commit(task_id, round_id, digest), round_id, "commit")


def _pay_and_slash(chain: SimChain, trees: RoundTrees, keeper: str, matched: list[str], others: list[str]) -> None:
    """After finalization: every peer claims its reward, every validator that opened the final
    tuple its share, and a keeper (any account: here an honest validator) executes every slash
    leaf and slashes every validator that dissented or never opened."""
    task_id, r = trees.task_id, trees.round_id
    functions = chain.coordinator.functions
    for account, claim in trees.claims().items():
        chain.send(account, functions.claim(task_id, r, claim.index, claim.amount, claim.proof), r, "claim")
    for validator in matched:
        chain.send(validator, functions.claimValidator(task_id, r), r, "claim_validator")
    for order in trees.slash_orders():
        call = functions.executeSlash(task_id, r, order.account, order.amount, order.reason, order.proof)
        chain.send(keeper, call, r, "slash")
    for validator in others:
        call = functions.slashValidator(task_id, r, validator)
        if chain.would_succeed(keeper, call):  # slashed out of the set already: nothing to answer for
            chain.send(keeper, call, r, "dissent")


def _attest(chain: SimChain, task_id: int, round_id: int, validators: list[Member], honest_tuple: Tuple,
            lazy_tuple: Tuple) -> dict[str, Tuple]:
    """Validators seal, then open, their attestations; returns what each validator opened.

    In the seal window nothing can be copied yet, so the copier seals the lazy guess too; once
    openings start, it tries to open the first honest tuple instead, which its seal does not
    bind (the call would revert), and leaves its seal unopened. Openings go lazy first (they
    skip validation, so they are fastest), then the honest ones in an order that rotates every
    round; openings after the quorum are recorded (and paid) too."""
    by_role = {role: [m for m in validators if m.role == role] for role in VALIDATOR_ROLES}
    honest = by_role[HONEST_VALIDATOR]
    shift = round_id % len(honest)
    honest = honest[shift:] + honest[:shift]
    salts = {m.address: keccak(b"attestation salt" + m.address.encode() + round_id.to_bytes(8, "big"))
             for m in validators}
    sealed: dict[str, Tuple] = {}
    for m in by_role[LAZY_VALIDATOR] + honest + by_role[COPYING_VALIDATOR]:
        if chain.validator_stake(task_id, m.address) == 0:
            continue  # slashed out of the validator set
        guess = honest_tuple if m.role == HONEST_VALIDATOR else lazy_tuple
        seal = attestation_seal(task_id, round_id, m.address, tuple_hash(*guess), salts[m.address])
        chain.send(m.address, chain.coordinator.functions.sealAttestation(task_id, round_id, seal), round_id, "seal")
        sealed[m.address] = guess
    _, _, reveal_end, attest_end = chain.windows(task_id, round_id)
    chain.warp(seal_end(reveal_end, attest_end))
    opened: dict[str, Tuple] = {}
    for m in by_role[LAZY_VALIDATOR] + honest + by_role[COPYING_VALIDATOR]:
        if m.address not in sealed:
            continue
        attested = sealed[m.address]
        call = chain.coordinator.functions.attest(task_id, round_id, *attested, salts[m.address])
        if m.role == COPYING_VALIDATOR:
            copied = next((t for t in opened.values() if t != attested), None)
            if copied is not None:
                copy = chain.coordinator.functions.attest(task_id, round_id, *copied, salts[m.address])
                assert not chain.would_succeed(m.address, copy), "a seal opened a tuple it does not bind"
            continue
        was_final = chain.is_finalized(task_id, round_id)
        chain.send(m.address, call, round_id, "attest")
        opened[m.address] = attested
        if not was_final and chain.is_finalized(task_id, round_id):
            chain.relabel_last("finalize")
    return opened
