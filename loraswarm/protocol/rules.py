"""On-chain ids of the aggregation rules (consensus/rules/ implements each one).

A task fixes its rule id when it is created, and every validator looks the function up by that
id, so values are append-only: never renumber, never reuse.
"""

from enum import IntEnum


class RuleId(IntEnum):
    FEDAVG = 1
    MEDIAN = 2
    TRIMMED_MEAN = 3
    KRUM = 4
    MULTI_KRUM = 5
    BULYAN = 6
    CENTERED_CLIP = 7
    GEOMETRIC_MEDIAN = 8


# The validation pipeline (zero, duplicate, replay, noise, norm and outlier filters) removes what
# a textbook rule is weak against (identical colluders win Krum; a trimmed mean lets one of three
# colluders through); centered clipping then bounds what an in-distribution attacker can shift,
# while leaving honest updates inside the clipping radius untouched (FedAvg quality when clean).
DEFAULT_RULE = RuleId.CENTERED_CLIP
