"""Replay fingerprints: an exact digest plus an integer count sketch of the score-grid vector.

The sketch (1024 signed buckets, bucket and sign from a multiplicative hash of the coordinate's
index) keeps inner products in expectation, so an old update replayed with a little noise still
shows a cosine near 1 against its stored sketch, without keeping whole old deltas around. It is
integer arithmetic, hence identical on every validator.
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache

import torch
from eth_utils import keccak

from loraswarm.consensus.fixedpoint import to_score
from loraswarm.consensus.types import Fingerprint

SKETCH_BUCKETS = 1024
_GOLDEN = 2654435761  # Knuth's multiplicative hash constant; index * it stays below 2**63


@lru_cache(maxsize=4)
def _buckets(numel: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Bucket and sign of every coordinate index: a function of the adapter's size alone, so it is
    computed once per size, not once per update."""
    index = torch.arange(numel, dtype=torch.int64)
    h = (index * _GOLDEN) & 0xFFFFFFFF
    return h >> 22, 1 - 2 * ((h >> 21) & 1)


def fingerprint(values: torch.Tensor) -> Fingerprint:
    bucket, sign = _buckets(values.numel())
    sketch = torch.zeros(SKETCH_BUCKETS, dtype=torch.int64)
    sketch.index_add_(0, bucket, sign * to_score(values).to(torch.int64))
    digest = "0x" + keccak(values.to(torch.int32).numpy().astype("<i4").tobytes()).hex()
    return Fingerprint(digest, tuple(int(v) for v in sketch.tolist()))


def sketch_cosine(a: Fingerprint, b: Fingerprint) -> float:
    dot = sum(x * y for x, y in zip(a.sketch, b.sketch, strict=True))
    na, nb = sum(x * x for x in a.sketch), sum(y * y for y in b.sketch)
    return dot / math.sqrt(na * nb) if na and nb else 0.0


def is_replay(a: Fingerprint, b: Fingerprint, threshold: float) -> bool:
    """Exact digest match, or sketch cosine above ``threshold`` (decided on integers)."""
    if a.digest == b.digest:
        return True
    dot = sum(x * y for x, y in zip(a.sketch, b.sketch, strict=True))
    na, nb = sum(x * x for x in a.sketch), sum(y * y for y in b.sketch)
    return dot > 0 and dot * dot > Fraction(threshold) ** 2 * na * nb
