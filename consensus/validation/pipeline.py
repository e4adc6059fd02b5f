"""The validation pipeline: ordered checks, cheapest first, each judging the updates that passed
all checks above it. Reads top to bottom like a middleware stack."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from loraswarm.consensus.types import Fingerprint, RoundContext, RoundVerdict, Submission, Verdict
from loraswarm.consensus.validation.collusion import collusion
from loraswarm.consensus.validation.envelope import base_hash, opened
from loraswarm.consensus.validation.free_riders import duplicate, noise, predictable, replay, zero_update
from loraswarm.consensus.validation.outliers import krum_outlier, median_outlier
from loraswarm.consensus.validation.state import Check, RoundState
from loraswarm.consensus.validation.tensors import finite, norm_bound, schema
from loraswarm.protocol.codes import MALICIOUS, Reason

PIPELINE: tuple[Check, ...] = (
    opened,
    base_hash,
    schema,
    finite,
    norm_bound,
    zero_update,
    duplicate,
    replay,
    noise,
    predictable,
    krum_outlier,
    median_outlier,
    collusion,
)

# Past the norm bound a delta is well-formed and on the value grid: it gets a fingerprint
# (later rounds compare against it) whatever happens to it afterwards.
_FINGERPRINT_AFTER = PIPELINE.index(norm_bound)


def validate_round(submissions: Iterable[Submission], ctx: RoundContext) -> RoundVerdict:
    submissions = list(submissions)
    peers = [s.peer.lower() for s in submissions]
    if len(set(peers)) != len(peers):
        raise ValueError("one peer submitted twice in a round")
    state = RoundState(submissions, ctx)
    alive = list(range(len(state.candidates)))
    reasons: dict[int, Reason] = {}
    measures: dict[int, dict[str, float]] = {i: {} for i in alive}
    fingerprints: dict[str, Fingerprint] = {}
    for step, check in enumerate(PIPELINE):
        for i, finding in check(state, alive).items():
            measures[i].update(finding.measures)
            if finding.reason is not Reason.ACCEPTED:
                reasons[i] = finding.reason
        alive = [i for i in alive if i not in reasons]
        if step == _FINGERPRINT_AFTER:
            fingerprints = {state.candidates[i].submission.peer: state.candidates[i].fingerprint
                            for i in alive}
    # A copy of an update rejected as an attack is that attack sent again by a colluder: it is
    # slashed like the original, not merely unpaid as a duplicate.
    for copy, original in state.originals.items():
        if reasons.get(original) in MALICIOUS:
            reasons[copy] = reasons[original]
    sizes = {g: list(state.groups.values()).count(g) for g in set(state.groups.values())}
    for i in alive:
        candidate = state.candidates[i]
        # "weight" stays the capped claim: incentives scores by it and then applies the same
        # multiplier to the reward share, which must not count twice. A group of colluding
        # updates is one contributor: its members split one claim's worth.
        size = sizes.get(state.groups.get(i, -1), 1)
        measures[i]["weight"] = float(max(1, candidate.claimed(state.claim_cap) // size))
        if candidate.prior is not None:
            measures[i]["prior"] = float(candidate.prior)
            measures[i]["aggregation_weight"] = float(candidate.weight(state.claim_cap))
    verdicts = tuple(
        Verdict(c.submission.peer, reasons.get(i, Reason.ACCEPTED), measures[i])
        for i, c in enumerate(state.candidates)
    )
    accepted = state.stack(alive)
    if any(i in state.groups for i in alive):
        accepted = dataclasses.replace(accepted, known_gram=accepted.gram,
                                       groups=tuple(state.groups.get(i, i) for i in alive))
    return RoundVerdict(verdicts, accepted, fingerprints)
