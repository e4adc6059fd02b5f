"""The validator's round: build consensus submissions from what the node saw (on-chain commits and
chain state read at the round's pinned block, signed updates held from gossip, fetched blobs),
validate and aggregate, settle rewards and slashes, and produce the tuple to attest, the new
global adapter and the round result document.

Every input is canonical (commits and chain state at one block every validator derives the same
way, blobs by content hash, the update that opens a commitment chosen by its digest whatever else
arrived), and consensus and incentives are deterministic, so honest validators attest the same
tuple byte for byte.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields

from loraswarm.consensus import ConsensusParams, RoundContext, RoundOutcome, Submission, apply_delta, settle_round
from loraswarm.consensus.types import Fingerprint
from loraswarm.incentives.from_consensus import outcomes_from_verdicts
from loraswarm.incentives.reputation import ReputationParams, Standing, fold_history, known_verdicts
from loraswarm.incentives.rewards import peer_pool
from loraswarm.incentives.scoring import ScoringParams
from loraswarm.incentives.settlement import IncentiveParams, settle
from loraswarm.incentives.slashing import SlashParams
from loraswarm.node.chain.task import JudgingInputs, TaskInfo
from loraswarm.node.codec import AdapterSpec, CodecError, Delta, decode_delta
from loraswarm.node.learner import encode_global
from loraswarm.node.p2p.envelope import Envelope, Update
from loraswarm.node.round_result import RoundResult, Tuple, VerdictRow
from loraswarm.protocol.codes import Reason
from loraswarm.protocol.rules import RuleId
from loraswarm.protocol.taskspec import TaskSpec


class TaskFileError(ValueError):
    """The task file names a parameter this version does not know."""


@dataclass(frozen=True)
class Held:
    """A signed update of the round held from gossip (its signature checked at the edge), and its
    blob (None if no provider served it in time)."""

    envelope: Envelope
    blob: bytes | None

    @property
    def update(self) -> Update:
        body = self.envelope.body
        assert isinstance(body, Update)
        return body


@dataclass(frozen=True)
class Judgement:
    outcome: RoundOutcome
    result: RoundResult
    attested: Tuple
    global_state: Delta
    global_bytes: bytes


def consensus_params(task: TaskSpec) -> ConsensusParams:
    known = {f.name for f in fields(ConsensusParams)}
    unknown = sorted(set(task.consensus) - known)
    if unknown:
        raise TaskFileError(f"unknown consensus parameters in the task file: {', '.join(unknown)}")
    return ConsensusParams(**task.consensus)  # type: ignore[arg-type]


def incentive_params(task: TaskSpec) -> IncentiveParams:
    section = task.incentives
    return IncentiveParams(
        scoring=ScoringParams(min_agreement_ppm=section.min_agreement_ppm),
        slashing=SlashParams(unrevealed_bps=section.unrevealed_bps, malicious_bps=section.malicious_bps,
                             free_ride_bps=section.free_ride_bps),
    )


def _submission(round_index: int, peer: str, commitment: bytes, held: Sequence[Held], spec: AdapterSpec,
                equivocated: bool) -> Submission:
    """What the node established about one committed peer. Only the update whose EIP-712 digest IS
    the commitment opens it: other signed updates of the peer (held in any order) change nothing
    here; two of them are evidence the chain judges (``equivocated``, read at the pinned block)."""
    opening = next((h for h in held if h.envelope.digest == commitment), None)
    opened = Reason.ACCEPTED
    delta = None
    if equivocated:
        opened = Reason.EQUIVOCATION
    elif opening is None:
        opened = Reason.COMMITMENT_MISMATCH if held else Reason.NOT_REVEALED
    elif opening.blob is None:
        opened = Reason.NOT_REVEALED  # announced, but no provider served the delta in time
    else:
        try:
            delta = decode_delta(opening.blob, spec)
        except CodecError as exc:
            opened = exc.reason
    update = opening.update if opening is not None else None
    return Submission(peer=peer, commit_index=round_index, base_hash="0x" + update.base_hash.hex() if update else "",
                      sample_count=update.sample_count if update else 0, delta=delta, opened=opened)


def submissions(inputs: JudgingInputs, held: Mapping[str, Sequence[Held]], spec: AdapterSpec) -> list[Submission]:
    """One submission per on-chain commit, in commit order."""
    return [_submission(i, c.peer, c.commitment, held.get(c.peer.lower(), ()), spec,
                        c.peer.lower() in inputs.equivocated)
            for i, c in enumerate(inputs.commits)]


def judge_round(round_: int, task: TaskInfo, spec_file: TaskSpec, spec: AdapterSpec, global_state: Delta,
                global_hash: str, inputs: JudgingInputs, held: Mapping[str, Sequence[Held]],
                history: tuple[Fingerprint, ...], reputation: Standing | None = None) -> Judgement:
    """``reputation``: the standing when the round opens, given when the task has reputation on
    (TaskSpec.reputation). It weights reward shares and is consensus's prior: every committed
    peer's multiplier, from the same finalized verdicts on every validator."""
    prior = None if reputation is None else reputation.multipliers(c.peer for c in inputs.commits)
    ctx = RoundContext(
        round=round_, current_global_hash=global_hash, spec=dict(spec.shapes), norm_bound=spec_file.norm_bound,
        rule_id=RuleId(task.rule_id), params=consensus_params(spec_file), history=history, prior=prior,
    )
    outcome = settle_round(submissions(inputs, held, spec), ctx)
    new_state = apply_delta(global_state, outcome.aggregate.delta)
    new_state = {key: new_state[key] for key in spec.keys}
    global_bytes, new_hash = encode_global(new_state, spec)
    settlement = settle(peer_pool(inputs.available, task.validator_bps), outcomes_from_verdicts(outcome.verdicts),
                        inputs.peer_stakes, incentive_params(spec_file), reputation)
    result = RoundResult.of(task.task_id, round_, new_hash,
                            [VerdictRow(v.peer, int(v.reason), outcome.fingerprints.get(v.peer))
                             for v in outcome.verdicts], settlement)
    return Judgement(outcome, result, result.roots(), new_state, global_bytes)


def standing_before(round_: int, results: Sequence[RoundResult], finalized: Sequence[int]) -> Standing | None:
    """Reputation when ``round_`` opens, folded from the verified results of every round finalized
    before it; None when a result is missing (the validator then cannot settle like the others)."""
    have = {r.round: r for r in results if r.round < round_}
    if set(have) != {f for f in finalized if f < round_}:
        return None
    rounds = [(r, known_verdicts((v.peer, v.reason) for v in have[r].verdicts)) for r in sorted(have)]
    return fold_history(rounds, ReputationParams()).standing()
