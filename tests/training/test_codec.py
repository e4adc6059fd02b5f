"""The delta codec: round trips per codec, canonical bytes and hash, and one typed rejection per
defect, each with its reason code."""

from __future__ import annotations

import io
import json
import struct
import sys

import numpy as np
import pytest
import safetensors.numpy
import torch
import zstandard

from loraswarm.node.codec import (
    AdapterSpec,
    Codec,
    CodecError,
    content_hash,
    decode_delta,
    default_max_bytes,
    encode_delta,
    size_bound,
)
from loraswarm.node.codec import safetensors_wire as wire
from loraswarm.node.codec.codec import SCALES_KEY, max_header_bytes
from loraswarm.protocol.codes import Reason
from tests.training.codec_cases import SPEC, random_delta

CODECS = [Codec.parse(n) for n in ("fp32", "fp16", "int8", "fp32+zstd", "fp16+zstd", "int8+zstd")]


@pytest.mark.parametrize("codec", CODECS, ids=str)
def test_round_trip_within_the_codec_precision(codec: Codec) -> None:
    delta = random_delta()
    decoded = decode_delta(encode_delta(delta, SPEC, codec), SPEC)
    assert list(decoded) == list(SPEC.keys)
    for key, value in delta.items():
        assert decoded[key].dtype == torch.float32 and decoded[key].shape == value.shape
        # int8: half a quantization step of the tensor's own scale; fp16: 11-bit mantissa.
        tolerance = {"fp32": 0.0, "fp16": 1e-3 * float(value.abs().max()), "int8": float(value.abs().max()) / 254}
        assert float((decoded[key] - value).abs().max()) <= tolerance[codec.dtype] * 1.0001


def test_encoding_is_canonical_and_hashed_with_keccak() -> None:
    delta = random_delta(1)
    shuffled = dict(reversed(list(delta.items())))
    for codec in CODECS:
        assert encode_delta(delta, SPEC, codec) == encode_delta(shuffled, SPEC, codec)
    data = encode_delta(delta, SPEC, Codec())
    digest = content_hash(data)
    assert digest.startswith("0x") and len(digest) == 66 and digest != content_hash(data + b"x")
    # keccak256, not sha3-256: the empty-input digests differ.
    assert content_hash(b"") == "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"


def test_wire_bytes_are_plain_safetensors() -> None:
    delta = random_delta(2)
    loaded = safetensors.numpy.load(encode_delta(delta, SPEC, Codec("fp16")))
    assert set(loaded) == set(SPEC.keys)
    quantized = safetensors.numpy.load(encode_delta(delta, SPEC, Codec("int8")))
    assert quantized[SCALES_KEY].shape == (len(SPEC.keys),) and quantized[SPEC.keys[0]].dtype == np.int8


def test_int8_with_zstd_is_under_a_third_of_fp32() -> None:
    big = AdapterSpec.of([(f"m.{i}.lora_A.weight", (8, 576)) for i in range(8)])
    data = encode_delta(random_delta(3, big), big, Codec("int8", zstd=True))
    assert len(data) <= 0.3 * big.fp32_bytes


@pytest.mark.parametrize("codec", CODECS, ids=str)
def test_size_bound_holds_and_is_tight_without_zstd(codec: Codec) -> None:
    """Window sizing takes size_bound for a delta's wire size: never below an encoding, and above
    one that zstd did not shrink by less than the header allowance."""
    data = encode_delta(random_delta(4), SPEC, codec)
    bound = size_bound(SPEC, codec)
    assert len(data) <= bound <= default_max_bytes(SPEC)
    if not codec.zstd:
        assert bound - len(data) < max_header_bytes(SPEC)


def test_zero_tensor_quantizes_to_zero() -> None:
    delta = SPEC.zeros()
    assert all(float(t.abs().max()) == 0 for t in decode_delta(encode_delta(delta, SPEC, Codec("int8")), SPEC).values())


def test_encoder_refuses_local_misuse() -> None:
    delta = random_delta()
    with pytest.raises(ValueError, match="keys differ"):
        encode_delta({k: v for k, v in list(delta.items())[1:]}, SPEC, Codec())
    delta[SPEC.keys[0]][0, 0] = float("nan")
    with pytest.raises(ValueError, match="non-finite"):
        encode_delta(delta, SPEC, Codec())
    with pytest.raises(ValueError, match="overflows fp16"):
        encode_delta({k: torch.full(s, 1e6) for k, s in SPEC.shapes}, SPEC, Codec("fp16"))
    with pytest.raises(ValueError, match="unknown codec"):
        Codec.parse("int4")


def _raw(dtype: str, values: np.ndarray) -> wire.RawTensor:
    return wire.RawTensor(dtype, values.shape, values.tobytes())


def _file(overrides: dict[str, wire.RawTensor | None], dtype: str = "F32", metadata: dict | None = None) -> bytes:
    np_dtype = {"F32": "<f4", "F16": "<f2", "F64": "<f8", "I8": "i1"}[dtype]
    tensors = {k: _raw(dtype, np.zeros(s, dtype=np_dtype)) for k, s in SPEC.shapes}
    for key, raw in overrides.items():
        if raw is None:
            tensors.pop(key)
        else:
            tensors[key] = raw
    return wire.write(tensors, {"format": "loraswarm-delta/1"} if metadata is None else metadata)


KEY = SPEC.keys[0]
SHAPE = SPEC.shape(KEY)
SCALES_OK = _raw("F32", np.ones(len(SPEC.keys), dtype="<f4"))


def _zstd_claiming(size: int) -> bytes:
    # A frame whose header declares `size` bytes: the decoder must refuse before allocating.
    frame = bytearray(zstandard.ZstdCompressor(write_content_size=True).compress(b"x" * 300))
    params = zstandard.get_frame_parameters(bytes(frame))
    assert params.content_size == 300
    return bytes(frame[:4]) + bytes([0xE0]) + struct.pack("<Q", size) + bytes(frame[4 + 1 + 2 :])


BAD = {
    "missing key": (_file({KEY: None}), Reason.CODEC_BAD_KEYS),
    "extra key": (_file({"extra.lora_A.weight": _raw("F32", np.zeros(2, "<f4"))}), Reason.CODEC_BAD_KEYS),
    "int8 without scales": (_file({}, "I8"), Reason.CODEC_BAD_KEYS),
    "scales in fp32 file": (_file({SCALES_KEY: SCALES_OK}), Reason.CODEC_BAD_KEYS),
    "wrong shape": (_file({KEY: _raw("F32", np.zeros((6, 2), "<f4"))}), Reason.CODEC_BAD_SHAPE),
    "float64": (_file({}, "F64"), Reason.CODEC_BAD_DTYPE),
    "mixed dtypes": (_file({KEY: _raw("F16", np.zeros(SHAPE, "<f2"))}), Reason.CODEC_BAD_DTYPE),
    "unknown dtype": (_file({KEY: wire.RawTensor("F8_E4M3", SHAPE, bytes(12))}), Reason.CODEC_BAD_DTYPE),
    "nan fp32": (_file({KEY: _raw("F32", np.full(SHAPE, np.nan, "<f4"))}), Reason.CODEC_NOT_FINITE),
    "inf fp16": (_file({KEY: _raw("F16", np.full(SHAPE, np.inf, "<f2"))}, "F16"), Reason.CODEC_NOT_FINITE),
    "negative scale": (_file({SCALES_KEY: _raw("F32", -np.ones(4, "<f4"))}, "I8"), Reason.CODEC_BAD_SCALE),
    "nan scale": (_file({SCALES_KEY: _raw("F32", np.full(4, np.nan, "<f4"))}, "I8"), Reason.CODEC_BAD_SCALE),
    "huge scale": (_file({SCALES_KEY: _raw("F32", np.full(4, 3e38, "<f4"))}, "I8"), Reason.CODEC_BAD_SCALE),
    "short scales": (_file({SCALES_KEY: _raw("F32", np.ones(3, "<f4"))}, "I8"), Reason.CODEC_BAD_SCALE),
    "other metadata": (_file({}, metadata={"format": "other"}), Reason.CODEC_BAD_FORMAT),
    "trailing bytes": (_file({}) + b"\0", Reason.CODEC_BAD_FORMAT),
    "empty": (b"", Reason.CODEC_BAD_FORMAT),
    "pickle": (b"\x80\x04\x95" + bytes(64), Reason.CODEC_BAD_FORMAT),
    "zstd bomb": (_zstd_claiming(1 << 40), Reason.CODEC_TOO_LARGE),
    "zstd garbage": (b"\x28\xb5\x2f\xfd" + bytes(40), Reason.CODEC_BAD_FORMAT),
    "zstd trailing": (zstandard.ZstdCompressor().compress(_file({})) + b"\0", Reason.CODEC_BAD_FORMAT),
    "too large": (_file({}) + bytes(1 << 16), Reason.CODEC_TOO_LARGE),
}


@pytest.mark.parametrize("name", list(BAD))
def test_each_defect_is_a_typed_rejection(name: str) -> None:
    data, reason = BAD[name]
    with pytest.raises(CodecError) as caught:
        decode_delta(data, SPEC)
    assert caught.value.reason == reason, str(caught.value)


def test_torch_pickle_files_are_refused() -> None:
    buffer = io.BytesIO()
    torch.save(random_delta(), buffer)
    with pytest.raises(CodecError) as caught:
        decode_delta(buffer.getvalue(), SPEC)
    assert caught.value.reason in {Reason.CODEC_BAD_FORMAT, Reason.CODEC_TOO_LARGE}


def test_caller_size_limit_applies() -> None:
    data = encode_delta(random_delta(), SPEC, Codec())
    assert decode_delta(data, SPEC, max_bytes=len(data))
    with pytest.raises(CodecError) as caught:
        decode_delta(data, SPEC, max_bytes=len(data) - 1)
    assert caught.value.reason == Reason.CODEC_TOO_LARGE


def _with_header(data: bytes, edit: object) -> bytes:
    (n,) = struct.unpack_from("<Q", data)
    header = json.loads(data[8 : 8 + n])
    text = edit(header)  # type: ignore[operator]
    return struct.pack("<Q", len(text)) + text + data[8 + n :]


def _pad(text: bytes) -> bytes:
    return text + b" " * (-len(text) % 8)


@pytest.mark.parametrize(
    "edit",
    [
        lambda h: _pad(json.dumps(h, sort_keys=True).encode()),  # whitespace: not canonical
        lambda h: _pad(json.dumps(h, separators=(",", ":")).encode()[::1]).replace(b"{", b"{ ", 1)[:-1],
        lambda h: json.dumps(h, sort_keys=True, separators=(",", ":")).encode(),  # unpadded
        lambda h: _pad(json.dumps(h, sort_keys=True, separators=(",", ":")).encode()[:-1] + b',"x":1}'),
        lambda h: _pad(b'{"__metadata__":{"format":"loraswarm-delta/1"},"__metadata__":{"format":"x"}}'),
        lambda h: _pad(b"[]"),
        lambda h: _pad(b"\xff\xfe"),
    ],
    ids=["spaces", "brace-space", "unpadded", "extra-top-level", "duplicate-key", "array", "not-ascii"],
)
def test_non_canonical_or_malformed_headers_are_refused(edit: object) -> None:
    data = _with_header(encode_delta(random_delta(), SPEC, Codec()), edit)
    with pytest.raises(CodecError) as caught:
        decode_delta(data, SPEC)
    assert caught.value.reason in {Reason.CODEC_BAD_FORMAT, Reason.CODEC_BAD_KEYS}


def test_boolean_shape_is_not_an_integer() -> None:
    data = _file({KEY: wire.RawTensor("F32", (True, 1), bytes(4))})  # type: ignore[arg-type]
    with pytest.raises(CodecError) as caught:
        decode_delta(data, SPEC)
    assert caught.value.reason == Reason.CODEC_BAD_FORMAT


def test_deeply_nested_header_is_refused_even_with_a_raised_recursion_limit() -> None:
    # eth-account's py_ecc raises the recursion limit to 100000; json.loads on deep nesting would
    # then overflow the C stack instead of raising, so the reader bounds depth before parsing.
    text = _pad(b"[" * 30000 + b"]" * 30000)
    data = struct.pack("<Q", len(text)) + text
    big_spec = AdapterSpec.of([(f"k{i}", (1,)) for i in range(400)])
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(100_000)
    try:
        with pytest.raises(CodecError) as caught:
            decode_delta(data, big_spec)
    finally:
        sys.setrecursionlimit(limit)
    assert caught.value.reason == Reason.CODEC_BAD_FORMAT
