"""Reason codes: why an input was rejected, from the network edge to the validation pipeline.

The numeric value is what the ledger records (on chain in acceptedRoot/slashRoot leaves and in
node state), so values are append-only: never renumber, never reuse. ``MALICIOUS`` marks the
codes that the slashing policy treats as an attack rather than as a free ride or an accident.
"""

from enum import IntEnum


class Reason(IntEnum):
    ACCEPTED = 0
    # network edge (node/p2p): the message never reaches validation
    BAD_ENCODING = 1
    OVERSIZE = 2
    WRONG_CHAIN = 3
    WRONG_TASK = 4
    BAD_SIGNATURE = 5
    UNREGISTERED_SENDER = 6
    STALE_ROUND = 7
    FUTURE_ROUND = 8
    DUPLICATE = 9
    RATE_LIMITED = 10
    HASH_MISMATCH = 11
    # delta codec (node/codec): the bytes are not a well-formed delta of this task's adapter
    CODEC_BAD_FORMAT = 20
    CODEC_BAD_KEYS = 21
    CODEC_BAD_SHAPE = 22
    CODEC_BAD_DTYPE = 23
    CODEC_NOT_FINITE = 24
    CODEC_TOO_LARGE = 25
    CODEC_BAD_SCALE = 26
    # validation pipeline (consensus/)
    NOT_REVEALED = 40
    COMMITMENT_MISMATCH = 41
    STALE_BASE = 42
    SCHEMA = 43
    NOT_FINITE = 44
    NORM_BOUND = 45
    ZERO_UPDATE = 46
    DUPLICATE_UPDATE = 47
    REPLAYED_UPDATE = 48
    NOISE_UPDATE = 49
    KRUM_OUTLIER = 50
    MEDIAN_OUTLIER = 51
    LOSS_GATE = 52
    NOT_SELECTED = 53
    # on chain (Coordinator.reportEquivocation): two different signed updates for one round
    EQUIVOCATION = 54


# Codes that say "this update attacked the model": slashed, not merely unpaid.
MALICIOUS: frozenset[Reason] = frozenset({
    Reason.NORM_BOUND,
    Reason.NOT_FINITE,
    Reason.KRUM_OUTLIER,
    Reason.MEDIAN_OUTLIER,
    Reason.LOSS_GATE,
    Reason.EQUIVOCATION,
})

# Codes that say "this update contributed nothing": unpaid (the slashing policy decides the rest).
FREE_RIDE: frozenset[Reason] = frozenset({
    Reason.ZERO_UPDATE,
    Reason.DUPLICATE_UPDATE,
    Reason.REPLAYED_UPDATE,
    Reason.NOISE_UPDATE,
    Reason.STALE_BASE,
    Reason.NOT_REVEALED,
})
