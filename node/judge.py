"""The validator's round: build consensus submissions from what the node saw (on-chain commits,
verified envelopes, fetched blobs), validate and aggregate, settle rewards and slashes, and
produce the tuple to attest, the new global adapter and the round result document.

Every input is canonical (commit order from the chain, blobs by content hash), and consensus
and incentives are deterministic, so honest validators attest the same tuple byte for byte.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields

from loraswarm.consensus import ConsensusParams, RoundContext, RoundOutcome, Submission, apply_delta, settle_round
from loraswarm.consensus.types import Fingerprint
from loraswarm.incentives.from_consensus import outcomes_from_verdicts
from loraswarm.incentives.reputation import ReputationParams, Standing, fold_history, known_verdicts
from loraswarm.incentives.settlement import IncentiveParams, PreviousRound, settle
from loraswarm.node.chain.task import CommitLog, TaskInfo
from loraswarm.node.codec import AdapterSpec, CodecError, Delta, decode_delta
from loraswarm.node.learner import encode_global
from loraswarm.node.p2p.envelope import Update
from loraswarm.node.round_result import RoundResult, VerdictRow
from loraswarm.protocol.chain import commitment
from loraswarm.protocol.rules import RuleId
from loraswarm.protocol.taskspec import TaskSpec


@dataclass(frozen=True)
class Reveal:
    """A verified envelope of the round and its blob (None if no provider served it in time)."""

    update: Update
    blob: bytes | None


@dataclass(frozen=True)
class Judgement:
    outcome: RoundOutcome
    result: RoundResult
    attested: tuple[bytes, bytes, bytes, bytes]
    global_state: Delta
    global_bytes: bytes


def consensus_params(task: TaskSpec) -> ConsensusParams:
    known = {f.name for f in fields(ConsensusParams)}
    return ConsensusParams(**{k: v for k, v in task.consensus.items() if k in known})


def submissions(round_: int, commits: Sequence[CommitLog], reveals: Mapping[str, Reveal],
                spec: AdapterSpec) -> list[Submission]:
    """One submission per on-chain commit, in commit order; the reveal is matched by address."""
    subs = []
    for index, commit in enumerate(commits):
        reveal = reveals.get(commit.peer.lower())
        delta = None
        ok = False
        sample_count = 0
        base = ""
        if reveal is not None:
            u = reveal.update
            ok = commitment(commit.peer, round_, u.delta_hash, u.salt) == commit.commitment
            sample_count, base = u.sample_count, "0x" + u.base_hash.hex()
            if reveal.blob is not None:
                try:
                    delta = decode_delta(reveal.blob, spec)
                except CodecError:
                    delta = None  # an undecodable reveal is no reveal; the codec counted why
        subs.append(Submission(
            peer=commit.peer, commit_index=index, revealed=reveal is not None and delta is not None,
            commitment_ok=ok, signature_ok=reveal is not None, base_hash=base, sample_count=sample_count,
            delta=delta,
        ))
    return subs


def judge_round(round_: int, task: TaskInfo, spec_file: TaskSpec, spec: AdapterSpec, global_state: Delta,
                global_hash: str, commits: Sequence[CommitLog], reveals: Mapping[str, Reveal],
                stakes: Mapping[str, int], previous: PreviousRound | None,
                history: tuple[Fingerprint, ...], reputation: Standing | None = None) -> Judgement:
    """``reputation``: the standing when the round opens, given when the task has reputation on
    (TaskSpec.reputation). It weights reward shares and is consensus's prior: every committed
    peer's multiplier, from the same finalized verdicts on every validator."""
    prior = None if reputation is None else reputation.multipliers(c.peer for c in commits)
    ctx = RoundContext(
        round=round_, current_global_hash=global_hash, spec=dict(spec.shapes), norm_bound=spec_file.norm_bound,
        rule_id=RuleId(task.rule_id), params=consensus_params(spec_file), history=history, prior=prior,
    )
    outcome = settle_round(submissions(round_, commits, reveals, spec), ctx)
    new_state = apply_delta(global_state, outcome.aggregate.delta)
    new_state = {key: new_state[key] for key in spec.keys}
    global_bytes, new_hash = encode_global(new_state, spec)
    settlement = settle(task.expected_pool(), outcomes_from_verdicts(outcome.verdicts), stakes, previous,
                        IncentiveParams(), reputation)
    result = RoundResult(
        task_id=task.task_id, round=round_, global_hash=new_hash,
        verdicts=tuple(VerdictRow(v.peer, int(v.reason), dict(v.measures)) for v in outcome.verdicts),
        rewards=tuple(settlement.rewards.by_account().items()),
        slashes=tuple((s.account, s.amount, int(s.reason)) for s in settlement.slashes),
    )
    return Judgement(outcome, result, result.roots(), new_state, global_bytes)


def standing_before(round_: int, results: Sequence[RoundResult], finalized: Sequence[int]) -> Standing | None:
    """Reputation when ``round_`` opens, folded from the verified results of every round finalized
    before it; None when a result is missing (the validator then cannot settle like the others)."""
    have = {r.round: r for r in results if r.round < round_}
    if set(have) != {f for f in finalized if f < round_}:
        return None
    rounds = [(r, known_verdicts((v.peer, v.reason) for v in have[r].verdicts)) for r in sorted(have)]
    return fold_history(rounds, ReputationParams()).standing()
