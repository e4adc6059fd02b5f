"""Aggregation rules: one module each, a pure function ``(Stack, ConsensusParams) -> Output``.
``RULES`` maps the on-chain rule id to its function."""

from __future__ import annotations

from collections.abc import Callable

from loraswarm.consensus.params import ConsensusParams
from loraswarm.consensus.rules.bulyan import bulyan
from loraswarm.consensus.rules.centered_clip import centered_clip
from loraswarm.consensus.rules.fedavg import fedavg
from loraswarm.consensus.rules.geometric_median import geometric_median
from loraswarm.consensus.rules.krum import krum, multi_krum
from loraswarm.consensus.rules.median import median
from loraswarm.consensus.rules.output import Output
from loraswarm.consensus.rules.trimmed_mean import trimmed_mean
from loraswarm.consensus.stack import Stack
from loraswarm.protocol.rules import RuleId

Rule = Callable[[Stack, ConsensusParams], Output]

RULES: dict[RuleId, Rule] = {
    RuleId.FEDAVG: fedavg,
    RuleId.MEDIAN: median,
    RuleId.TRIMMED_MEAN: trimmed_mean,
    RuleId.KRUM: krum,
    RuleId.MULTI_KRUM: multi_krum,
    RuleId.BULYAN: bulyan,
    RuleId.CENTERED_CLIP: centered_clip,
    RuleId.GEOMETRIC_MEDIAN: geometric_median,
}

__all__ = ["RULES", "Output", "Rule"]
