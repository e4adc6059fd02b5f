"""The validator's round: build consensus submissions from the chain at the round's pinned block
(commits, the updates revealed on chain, equivocation marks, stakes, the available pool) and the
deltas fetched by their hashes; validate and aggregate, settle rewards and slashes, and produce the
tuple to attest, the new global adapter and the round result document.

Every input is canonical (chain state at one block every validator derives the same way, blobs by
content hash), and consensus and incentives are deterministic, so honest validators attest the same
tuple byte for byte. What gossip carried and when changes nothing here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields

from loraswarm.consensus import (
    ConsensusParams,
    RoundContext,
    RoundOutcome,
    Submission,
    aggregate,
    apply_delta,
    fold_outcome,
    validate_round,
)
from loraswarm.consensus.types import Fingerprint
from loraswarm.incentives.from_consensus import outcomes_from_verdicts
from loraswarm.incentives.reputation import ReputationParams, Standing, fold_history, known_verdicts
from loraswarm.incentives.rewards import peer_pool
from loraswarm.incentives.scoring import ScoringParams
from loraswarm.incentives.settlement import IncentiveParams, settle
from loraswarm.incentives.slashing import SlashParams
from loraswarm.node.chain.task import CommitLog, JudgingInputs, TaskInfo
from loraswarm.node.codec import AdapterSpec, CodecError, Delta, decode_delta
from loraswarm.node.globals import encode_global
from loraswarm.node.round_result import RoundResult, Tuple, VerdictRow
from loraswarm.node.timing import Timed, Work, untimed
from loraswarm.protocol.codes import Reason
from loraswarm.protocol.rules import RuleId
from loraswarm.protocol.taskspec import TaskSpec


class TaskFileError(ValueError):
    """The task file names a parameter this version does not know."""


@dataclass(frozen=True)
class Judgement:
    outcome: RoundOutcome
    result: RoundResult
    attested: Tuple
    global_state: Delta
    global_bytes: bytes


def consensus_params(task: TaskSpec) -> ConsensusParams:
    """The task file's consensus overrides over the defaults, each of its field's type: an integer
    parameter given a fraction (or a number given where none may be unset) would judge rounds by a
    rule nobody wrote down."""
    known = {f.name: str(f.type) for f in fields(ConsensusParams)}
    unknown = sorted(set(task.consensus) - set(known))
    if unknown:
        raise TaskFileError(f"unknown consensus parameters in the task file: {', '.join(unknown)}")
    for name, value in task.consensus.items():
        kind = known[name]
        fits = ((value is None and "None" in kind)
                or (kind.startswith("int") and isinstance(value, int))
                or (kind.startswith("float") and isinstance(value, int | float))
                or (kind == "bool" and value in (0, 1)))
        if not fits:
            raise TaskFileError(f"consensus parameter {name} in the task file is {value!r}: it takes {kind}")
    return ConsensusParams(**task.consensus)  # type: ignore[arg-type]


def incentive_params(task: TaskSpec) -> IncentiveParams:
    section = task.incentives
    return IncentiveParams(
        scoring=ScoringParams(min_agreement_ppm=section.min_agreement_ppm),
        slashing=SlashParams(unrevealed_bps=section.unrevealed_bps, malicious_bps=section.malicious_bps,
                             free_ride_bps=section.free_ride_bps),
    )


def _submission(index: int, commit: CommitLog, inputs: JudgingInputs, blobs: Mapping[bytes, bytes | None],
                spec: AdapterSpec) -> Submission:
    """What the chain, at the pinned block, says about one committed peer's reveal, and its delta:
    the update it revealed on chain (Coordinator.reveal checked it against the commitment), or
    evidence of two signed updates; then the delta fetched by its hash, if it decodes."""
    peer = commit.peer.lower()
    update = inputs.revealed.get(peer)
    opened = Reason.ACCEPTED
    delta = None
    if peer in inputs.equivocated:
        opened = Reason.EQUIVOCATION
    elif update is None or blobs.get(update.delta_hash) is None:
        opened = Reason.NOT_REVEALED  # not revealed on chain, or no provider served the delta in time
    else:
        try:
            delta = decode_delta(blobs[update.delta_hash] or b"", spec)
        except CodecError as exc:
            opened = exc.reason
    return Submission(peer=commit.peer, commit_index=index, base_hash="0x" + update.base_hash.hex() if update else "",
                      sample_count=update.sample_count if update else 0, delta=delta, opened=opened)


def submissions(inputs: JudgingInputs, blobs: Mapping[bytes, bytes | None], spec: AdapterSpec) -> list[Submission]:
    """One submission per on-chain commit, in commit order; ``blobs`` maps a delta hash to its bytes."""
    return [_submission(i, c, inputs, blobs, spec) for i, c in enumerate(inputs.commits)]


def judge_round(round_: int, task: TaskInfo, spec_file: TaskSpec, spec: AdapterSpec, global_state: Delta,
                global_hash: str, inputs: JudgingInputs, blobs: Mapping[bytes, bytes | None],
                history: tuple[Fingerprint, ...], reputation: Standing | None = None,
                changes: tuple[Delta, ...] = (), timed: Timed = untimed) -> Judgement:
    """``reputation``: the standing when the round opens, given when the task has reputation on
    (TaskSpec.reputation). It weights reward shares and is consensus's prior: every committed
    peer's multiplier, from the same finalized verdicts on every validator. ``changes``: the
    global's change in each of the last finalized rounds, oldest first (RoundContext.changes).
    ``timed``: a context per phase of work (decode, validate, aggregate, incentives) that times it."""
    prior = None if reputation is None else reputation.multipliers(c.peer for c in inputs.commits)
    ctx = RoundContext(
        round=round_, current_global_hash=global_hash, spec=dict(spec.shapes), norm_bound=spec_file.norm_bound,
        rule_id=RuleId(task.rule_id), params=consensus_params(spec_file), history=history, prior=prior,
        changes=changes,
    )
    # settle_round step by step, each step timed (``timed``: the node's Clock for this round)
    with timed(Work.DECODE):
        subs = submissions(inputs, blobs, spec)
    with timed(Work.VALIDATE):
        verdict = validate_round(subs, ctx)
    with timed(Work.AGGREGATE):
        outcome = fold_outcome(verdict, aggregate(verdict.accepted, ctx))
        new_state = apply_delta(global_state, outcome.aggregate.delta)
        new_state = {key: new_state[key] for key in spec.keys}
        global_bytes, new_hash = encode_global(new_state, spec)
    with timed(Work.INCENTIVES):
        settlement = settle(peer_pool(inputs.available, task.validator_bps), outcomes_from_verdicts(outcome.verdicts),
                            inputs.peer_stakes, incentive_params(spec_file), reputation)
        result = RoundResult.of(task.task_id, round_, new_hash,
                                [VerdictRow(v.peer, int(v.reason), outcome.fingerprints.get(v.peer))
                                 for v in outcome.verdicts], settlement)
        attested = result.roots()
    return Judgement(outcome, result, attested, new_state, global_bytes)


def standing_before(round_: int, results: Sequence[RoundResult], finalized: Sequence[int]) -> Standing | None:
    """Reputation when ``round_`` opens, folded from the verified results of every round finalized
    before it; None when a result is missing (the validator then cannot settle like the others)."""
    have = {r.round: r for r in results if r.round < round_}
    if set(have) != {f for f in finalized if f < round_}:
        return None
    rounds = [(r, known_verdicts((v.peer, v.reason) for v in have[r].verdicts)) for r in sorted(have)]
    return fold_history(rounds, ReputationParams()).standing()
