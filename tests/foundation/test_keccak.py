"""The bulk keccak256 (safe-pysha3) is the same function as eth_utils' keccak (the chain's)."""

from __future__ import annotations

from itertools import pairwise

from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from loraswarm.keccak import keccak256, keccak_stream


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=4096), st.lists(st.integers(min_value=0, max_value=4096), max_size=6))
def test_one_shot_and_pieces_equal_eth_utils_keccak(data: bytes, cuts: list[int]) -> None:
    assert keccak256(data) == keccak(data)
    hasher = keccak_stream()
    bounds = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    for start, end in pairwise(bounds):
        hasher.update(data[start:end])
    assert hasher.digest() == keccak(data)


def test_known_vectors() -> None:
    assert keccak256(b"").hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    assert keccak256(b"abc").hex() == "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"
