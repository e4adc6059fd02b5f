"""consensus verdicts become incentives' input with consensus's own weight and agreement."""

from __future__ import annotations

from loraswarm.consensus.types import Verdict
from loraswarm.incentives.from_consensus import outcomes_from_verdicts
from loraswarm.incentives.outcome import PeerOutcome
from loraswarm.incentives.scoring import ScoringParams, score_round
from loraswarm.protocol.codes import Reason


def test_verdicts_map_to_outcomes_and_score() -> None:
    verdicts = [
        Verdict("0xa", Reason.ACCEPTED, {"weight": 300.0, "agreement": 0.5, "norm_to_median": 1.1}),
        Verdict("0xb", Reason.NOT_SELECTED, {"weight": 200.0, "agreement": 0.9}),
        Verdict("0xc", Reason.NORM_BOUND, {"norm_to_median": 30.0}),
    ]
    outcomes = outcomes_from_verdicts(verdicts)
    assert outcomes == [
        PeerOutcome("0xa", Reason.ACCEPTED, 300, 0.5),
        PeerOutcome("0xb", Reason.NOT_SELECTED, 200, 0.9),
        PeerOutcome("0xc", Reason.NORM_BOUND, 0, 0.0),
    ]
    assert score_round(outcomes, ScoringParams()) == {"0xa": 300 * 500_000, "0xb": 0, "0xc": 0}
