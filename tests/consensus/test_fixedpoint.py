"""The exact arithmetic under consensus: grids, canonical rounding, exact Gram and norms."""

from __future__ import annotations

import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from loraswarm.consensus import fixedpoint
from loraswarm.consensus.stack import Stack


def exact_gram(values: torch.Tensor) -> torch.Tensor:
    n = values.shape[0]
    return Stack.of(tuple(f"0x{i:040x}" for i in range(n)), values, (1,) * n, bits=26).gram


def test_value_bits_map_the_bound_onto_two_to_the_thirty() -> None:
    assert fixedpoint.value_bits(1.0) == 30
    assert fixedpoint.value_bits(16.0) == 26
    assert fixedpoint.value_bits(10.5) == 26  # next power of two: 16
    assert fixedpoint.value_bits(0.25) == 32


def test_quantize_round_trip_within_half_a_step() -> None:
    bits = fixedpoint.value_bits(8.0)
    x = torch.randn(10_000, generator=torch.Generator().manual_seed(0))
    back = fixedpoint.dequantize(fixedpoint.quantize(x, bits), bits)
    assert float((back - x).abs().max()) <= math.ldexp(0.5, -bits) + 1e-9


@given(st.integers(0, 2**32 - 1), st.sampled_from([0.25, 1.0, 8.0, 16.0, 1000.0]))
@settings(max_examples=60)
def test_the_grids_are_the_exact_float64_roundings(seed: int, bound: float) -> None:
    """Both conversions work in float32, which must give the integers and floats the exact float64
    formulas give: validators on either formula would otherwise disagree on a round's hashes."""
    bits = fixedpoint.value_bits(bound)
    gen = torch.Generator().manual_seed(seed)
    step = math.ldexp(1.0, -bits)
    x = torch.cat([
        torch.randn(4_000, generator=gen) * bound * 10.0 ** -torch.randint(0, 12, (4_000,), generator=gen),
        (torch.randint(-2**20, 2**20, (2_000,), generator=gen).double() + 0.5).mul(step).float(),  # halfway
        torch.tensor([bound, -bound, 0.0, -0.0, 1e-45, -1e-45, 1.1754942e-38, step / 2, -step / 2]),
    ]).clamp(-bound, bound)
    reference = torch.round(x.to(torch.float64) * math.ldexp(1.0, bits)).to(torch.int32)
    assert torch.equal(fixedpoint.quantize(x, bits), reference)
    grid = torch.cat([reference, torch.randint(-2**30, 2**30, (4_000,), generator=gen, dtype=torch.int32)])
    back = (grid.to(torch.float64) * math.ldexp(1.0, -bits)).to(torch.float32)
    assert torch.equal(fixedpoint.dequantize(grid, bits), back)


@given(st.lists(st.integers(-(2**40), 2**40), min_size=1, max_size=20), st.integers(1, 2**20))
def test_round_div_is_round_half_up(nums: list[int], den: int) -> None:
    got = fixedpoint.round_div(torch.tensor(nums, dtype=torch.int64), den).tolist()
    # floor(x / den + 1/2) computed with Python's exact integers.
    assert got == [(2 * n + den) // (2 * den) for n in nums]


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 6), st.integers(1, 3000), st.integers(0, 2**31))
def test_gram_and_norm_are_exact(n: int, d: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    # Rows at the edge of the bound: every coordinate up to 2**30 / sqrt(d), norms up to 2**30.
    limit = int(2**30 / math.sqrt(d))
    values = torch.randint(-limit, limit + 1, (n, d), generator=g, dtype=torch.int32)
    score = [[(int(v) + 16) >> 5 for v in row] for row in values.tolist()]
    expected = [[sum(a * b for a, b in zip(r, s, strict=True)) for s in score] for r in score]
    assert exact_gram(values).tolist() == expected
    assert fixedpoint.sq_norm(values[0]) == expected[0][0]


def test_gram_is_exact_across_thread_counts() -> None:
    g = torch.Generator().manual_seed(1)
    d = 100_003
    values = torch.randint(-(2**30) // 700, 2**30 // 700, (5, d), generator=g, dtype=torch.int32)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = exact_gram(values)
        torch.set_num_threads(2)
        two = exact_gram(values)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one, two)
    s = ((values.to(torch.int64) + 16) >> 5)
    assert int(one[0, 1]) == sum(int(a) * int(b) for a, b in zip(s[0].tolist(), s[1].tolist(), strict=True))


def test_tensors_hash_is_canonical() -> None:
    a = {"b": torch.ones(2, 3), "a": torch.zeros(4)}
    b = {"a": torch.zeros(4), "b": torch.ones(2, 3)}
    assert fixedpoint.tensors_hash(a) == fixedpoint.tensors_hash(b)
    assert fixedpoint.tensors_hash(a) != fixedpoint.tensors_hash({**a, "b": torch.ones(3, 2)})
    assert fixedpoint.tensors_hash(a).startswith("0x") and len(fixedpoint.tensors_hash(a)) == 66


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 8), st.integers(1, 40_000), st.sampled_from([1_000, 2**20]), st.integers(0, 2**31))
def test_weighted_sum_is_exact_on_both_paths(n: int, d: int, max_weight: int, seed: int) -> None:
    # Small total weight takes the float64 BLAS path, large the int64 path: both exact.
    g = torch.Generator().manual_seed(seed)
    values = torch.randint(-(2**30), 2**30 + 1, (n, d), generator=g, dtype=torch.int32)
    weights = torch.randint(1, max_weight + 1, (n,), generator=g).tolist()
    got = fixedpoint.weighted_sum(values.to(torch.float64), weights)
    columns = [0, d // 2, d - 1]
    rows = values.tolist()
    assert [int(got[c]) for c in columns] == [sum(w * r[c] for w, r in zip(weights, rows, strict=True))
                                              for c in columns]
