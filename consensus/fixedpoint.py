"""Fixed-point arithmetic that every validator reproduces bit for bit.

Floats summed in a different order (thread count, BLAS kernel, SIMD width) give different last
bits, and the chain only finalizes identical attestations. So every delta enters consensus once,
as integers on a grid fixed by the task's norm bound, and everything after is exact:

* the value grid: ``x * 2**bits`` rounded half to even, where ``bits`` maps the norm bound to
  2**30; a delta that passed the norm check has every coordinate within +-2**30, so it fits int32,
  and a weighted sum of up to 2**10 peers with weights up to 2**20 fits int64 exactly;
* the score grid: the value grid shifted right by 5 bits, so the norm bound maps to 2**25. A dot
  product of two vectors inside the bound has |partial sums| <= 2**50 in any order, which float64
  represents exactly: a BLAS Gram matrix over score-grid integers is exact, hence the same on
  every machine, and it stays fast.

Divisions round half up (floor((2a + b) / 2b)), the one place where a rounding choice is made.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from eth_utils import keccak

VALUE_BITS_TOP = 30
SCORE_SHIFT = 5
# Total integer weight up to which a weighted sum of value-grid rows is exact in float64
# (2**23 * 2**30 = 2**53). Fractional weights (clip factors, Weiszfeld weights) are floored onto
# integers that sum to at most this.
FLOAT_WEIGHT_TOTAL = 1 << 23


def value_bits(norm_bound: float) -> int:
    """Fractional bits of the value grid: the smallest power of two >= norm_bound maps to 2**30."""
    if not (norm_bound > 0 and math.isfinite(norm_bound)):
        raise ValueError(f"norm bound must be positive and finite, got {norm_bound}")
    mantissa, exponent = math.frexp(norm_bound)
    ceil_log2 = exponent - 1 if mantissa == 0.5 else exponent
    return VALUE_BITS_TOP - ceil_log2


def flatten(delta: Mapping[str, torch.Tensor], keys: list[str]) -> torch.Tensor:
    """One float32 vector, tensors concatenated in the given (sorted) key order."""
    return torch.cat([delta[k].detach().to(torch.float32).reshape(-1) for k in keys])


def quantize(flat: torch.Tensor, bits: int) -> torch.Tensor:
    """Value-grid int32 of a float vector whose coordinates are within the norm bound.

    The power-of-two scale is exact in the input's own precision (|x| * 2**bits <= 2**30 cannot
    overflow, and a subnormal scaled up loses nothing), so rounding there gives the integers a
    float64 copy would give, at a sixteenth of the cost; torch.round is half to even."""
    return torch.round(flat * math.ldexp(1.0, bits)).to(torch.int32)


def dequantize(values: torch.Tensor, bits: int) -> torch.Tensor:
    """float32 of a value-grid vector: one IEEE rounding of the integer to float32, then an exact
    power-of-two scale (the result stays normal), which is what rounding the exact float64 product
    once would give."""
    return values.to(torch.float32) * math.ldexp(1.0, -bits)


def to_score(values: torch.Tensor) -> torch.Tensor:
    """Score-grid integers (as exact float64) of value-grid integers, rounding half up.

    An arithmetic right shift is a floor division by 2**SCORE_SHIFT (C++20 defines >> on
    negative integers so); int32 input cannot overflow (|v| <= 2**30)."""
    return ((values + (1 << (SCORE_SHIFT - 1))) >> SCORE_SHIFT).to(torch.float64)


def round_div(num: torch.Tensor, den: int) -> torch.Tensor:
    """num / den for int64 tensors, rounded half up: the canonical rounding of every mean."""
    if den <= 0:
        raise ValueError("division by a non-positive total weight")
    return torch.div(2 * num + den, 2 * den, rounding_mode="floor")


def weighted_sum(wide: torch.Tensor, weights: list[int]) -> torch.Tensor:
    """Exact int64 sum of w_i * row_i over an (n, d) float64 matrix of value-grid integers.

    With total weight <= 2**23 every partial sum stays within 2**53 (|values| <= 2**30), so one
    float64 BLAS product is exact whatever order it adds in; heavier weights add in int64."""
    if sum(abs(w) for w in weights) <= FLOAT_WEIGHT_TOTAL:
        return exact_int(torch.tensor(weights, dtype=torch.float64) @ wide)
    total = torch.zeros(wide.shape[1], dtype=torch.int64)
    for row, w in zip(wide, weights, strict=True):
        if w:
            total.add_(row.to(torch.int64), alpha=w)
    return total


def sq_norm(values: torch.Tensor) -> int:
    """Exact squared L2 norm in score-grid units of one value-grid vector (any size).

    Summed in int64 blocks of 4096 (each < 2**62 while coordinates are within the bound), then
    in Python integers, so an update far outside the bound still gets an exact (recordable) norm.
    """
    s = to_score(values).to(torch.int64)  # exact: score-grid integers fit float64
    pad = (-s.numel()) % 4096
    blocks = torch.nn.functional.pad(s * s, (0, pad)).reshape(-1, 4096).sum(dim=1)
    return sum(int(b) for b in blocks.tolist())


def exact_int(products: torch.Tensor) -> torch.Tensor:
    """int64 of a float64 BLAS product of score-grid integers. Exact: every partial sum of two
    vectors within the bound is below 2**50 (module docstring), whatever order BLAS adds in."""
    return products.to(torch.int64)


def tensors_bytes(tensors: Mapping[str, torch.Tensor]) -> bytes:
    """Canonical bytes of named float32 tensors: sorted keys, each as name, shape, little-endian
    float32 data. Hash input for a global adapter or an aggregate delta."""
    parts: list[bytes] = []
    for key in sorted(tensors):
        t = tensors[key].detach().to(torch.float32).contiguous()
        parts.append(key.encode() + b"\0" + repr(tuple(t.shape)).encode() + b"\0")
        parts.append(t.numpy().astype("<f4").tobytes())
    return b"".join(parts)


def tensors_hash(tensors: Mapping[str, torch.Tensor]) -> str:
    """keccak256 of ``tensors_bytes``, 0x-prefixed hex: the global adapter's content hash."""
    return "0x" + keccak(tensors_bytes(tensors)).hex()
