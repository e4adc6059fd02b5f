"""Hypothesis fuzzing of the delta decoder (1,100 cases in all): whatever the bytes, decoding
returns a delta of exactly the spec or raises CodecError with a codec reason code, never another
exception and never a hang (hypothesis' deadline fails any case slower than 2 s)."""

from __future__ import annotations

import json
import struct

import torch
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loraswarm.node.codec import Codec, CodecError, decode_delta, encode_delta
from loraswarm.protocol.codes import Reason
from tests.training.codec_cases import SPEC, random_delta

CODEC_REASONS = {r for r in Reason if r.name.startswith("CODEC_")}
FUZZ = settings(deadline=2000, suppress_health_check=[HealthCheck.too_slow], database=None)
VALID = [encode_delta(random_delta(i), SPEC, Codec.parse(c)) for i, c in enumerate(
    ["fp32", "fp16", "int8", "fp32+zstd", "fp16+zstd", "int8+zstd"])]


def decode_is_total(data: bytes) -> None:
    try:
        delta = decode_delta(data, SPEC)
    except CodecError as exc:
        assert exc.reason in CODEC_REASONS
        return
    assert list(delta) == list(SPEC.keys)
    for key, shape in SPEC.shapes:
        assert delta[key].dtype == torch.float32 and tuple(delta[key].shape) == shape
        assert bool(torch.isfinite(delta[key]).all())


@settings(FUZZ, max_examples=300)
@given(st.binary(max_size=2048))
def test_random_bytes(data: bytes) -> None:
    decode_is_total(data)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "set", "truncate", "insert", "delete"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and data:
            data[at] = draw(st.integers(0, 255))
        elif op == "truncate":
            del data[at:]
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 16))]
    return bytes(data)


@settings(FUZZ, max_examples=400)
@given(mutated())
def test_mutated_valid_encodings(data: bytes) -> None:
    decode_is_total(data)


DTYPES = st.sampled_from(["F32", "F16", "I8", "F64", "BF16", "U8", "BOOL", "X", 7, None])
KEYS = st.sampled_from([*SPEC.keys, "__scales__", "__metadata__", "", "x"])
SHAPES = st.one_of(
    st.sampled_from([list(s) for _, s in SPEC.shapes] + [[4], [0], []]),
    st.lists(st.one_of(st.integers(-2, 2**40), st.booleans(), st.floats(allow_nan=False)), max_size=9),
)


@st.composite
def crafted(draw: st.DrawFn) -> bytes:
    """Headers built field by field, with offsets that are often, but not always, consistent."""
    header: dict[str, object] = {}
    if draw(st.booleans()):
        header["__metadata__"] = draw(st.sampled_from([{"format": "loraswarm-delta/1"}, {}, {"format": 1}, []]))
    offset = 0
    for key in draw(st.lists(KEYS, max_size=6)):
        shape = draw(SHAPES)
        size = draw(st.integers(0, 64))
        header[key] = {"dtype": draw(DTYPES), "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header, sort_keys=draw(st.booleans()), separators=(",", ":")).encode()
    if draw(st.booleans()):
        text += b" " * (-len(text) % 8)
    body = draw(st.binary(min_size=offset, max_size=offset + 8)) if draw(st.booleans()) else bytes(offset)
    data = struct.pack("<Q", len(text)) + text + body
    return zstandard.ZstdCompressor().compress(data) if draw(st.booleans()) else data


@settings(FUZZ, max_examples=400)
@given(crafted())
def test_crafted_headers(data: bytes) -> None:
    decode_is_total(data)
