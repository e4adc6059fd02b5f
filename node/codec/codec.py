"""Encode a delta to canonical wire bytes and decode untrusted bytes back, strictly.

Wire format: canonical safetensors (see ``safetensors_wire``), optionally inside one zstd frame.
The dtype of every tensor says the codec: all F32 (fp32), all F16 (fp16), or all I8 plus one F32
tensor ``__scales__`` holding one symmetric per-tensor scale per spec key, in spec order (int8:
value = q * scale, scale = max|x| / 127). A zstd frame is recognised by its magic number; a
safetensors header length can never start with those bytes within our size limits.

The content hash is keccak256 over the exact wire bytes, so it is what a peer commits on chain and
what a receiver checks before decoding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import torch
import zstandard

from loraswarm.keccak import keccak256
from loraswarm.node.codec import safetensors_wire as wire
from loraswarm.node.codec.errors import CodecError
from loraswarm.node.codec.spec import AdapterSpec, Delta
from loraswarm.protocol.codes import Reason

Dtype = Literal["fp32", "fp16", "int8"]
FORMAT = "loraswarm-delta/1"
SCALES_KEY = "__scales__"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_WIRE_DTYPE: dict[Dtype, str] = {"fp32": "F32", "fp16": "F16", "int8": "I8"}
_NP_DTYPE = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "I8": np.dtype("i1")}
_INT8_MAX = 127
_FP32_MAX = float(np.finfo(np.float32).max)


@dataclass(frozen=True)
class Codec:
    """How a delta travels: element dtype and optional zstd (the level only trades CPU for size)."""

    dtype: Dtype = "fp32"
    zstd: bool = False
    level: int = 10

    @classmethod
    def parse(cls, name: str) -> Codec:
        """``fp32``, ``fp16``, ``int8``, each optionally with ``+zstd``."""
        dtype, _, suffix = name.partition("+")
        if dtype not in get_args(Dtype) or suffix not in ("", "zstd"):
            raise ValueError(f"unknown codec {name!r}: use fp32, fp16 or int8, optionally +zstd")
        return cls(dtype=dtype, zstd=bool(suffix))  # type: ignore[arg-type]

    def __str__(self) -> str:
        return self.dtype + ("+zstd" if self.zstd else "")


def content_hash(data: bytes) -> str:
    """keccak256 of the wire bytes, 0x-prefixed hex (what commitments and fetch-by-hash use)."""
    return "0x" + keccak256(data).hex()


def max_header_bytes(spec: AdapterSpec) -> int:
    # Generous: each header entry is ~100 bytes plus its name; a real header is far below this.
    return 1024 + sum(160 + 2 * len(k) for k in spec.keys)


def size_bound(spec: AdapterSpec, codec: Codec) -> int:
    """The most bytes an encoding takes before zstd (the largest header we accept, the elements,
    int8's scales). Sizing a task's windows takes it for a delta's size on the wire: zstd saves
    little on trained int8 deltas (benchmarks/train.py measured int8+zstd at 0.249 of fp32)."""
    scales = 4 * len(spec.keys) if codec.dtype == "int8" else 0
    return 8 + max_header_bytes(spec) + spec.numel * _NP_DTYPE[_WIRE_DTYPE[codec.dtype]].itemsize + scales


def default_max_bytes(spec: AdapterSpec) -> int:
    """The largest honest encoding: fp32, uncompressed, with the largest header we accept."""
    return size_bound(spec, Codec("fp32"))


def encode_delta(delta: Delta, spec: AdapterSpec, codec: Codec) -> bytes:
    """Canonical bytes of ``delta`` (which must match ``spec`` exactly and be finite)."""
    spec.check(delta)
    tensors: dict[str, wire.RawTensor] = {}
    scales = np.zeros(len(spec.keys), dtype="<f4")
    for i, (key, shape) in enumerate(spec.shapes):
        x = delta[key].detach().to(torch.float32).cpu().contiguous().numpy()
        if not np.isfinite(x).all():
            raise ValueError(f"{key}: delta has non-finite values")
        if codec.dtype == "int8":
            peak = np.float32(np.abs(x).max()) if x.size else np.float32(0)
            scales[i] = peak / np.float32(_INT8_MAX)
            q = np.rint(x / scales[i]) if scales[i] > 0 else np.zeros_like(x)
            arr = np.clip(q, -_INT8_MAX, _INT8_MAX).astype("i1")
        else:
            with np.errstate(over="ignore"):  # overflow becomes inf, refused just below
                arr = x.astype(_NP_DTYPE[_WIRE_DTYPE[codec.dtype]])
            if not np.isfinite(arr).all():
                raise ValueError(f"{key}: delta overflows {codec.dtype}")
        tensors[key] = wire.RawTensor(_WIRE_DTYPE[codec.dtype], shape, arr.tobytes())
    if codec.dtype == "int8":
        tensors[SCALES_KEY] = wire.RawTensor("F32", (len(spec.keys),), scales.tobytes())
    data = wire.write(tensors, {"format": FORMAT})
    if codec.zstd:
        data = zstandard.ZstdCompressor(level=codec.level, write_content_size=True).compress(data)
    return data


def _decompress(data: bytes, limit: int) -> bytes:
    try:
        size = zstandard.get_frame_parameters(data).content_size
    except zstandard.ZstdError:
        raise CodecError(Reason.CODEC_BAD_FORMAT, "malformed zstd frame header") from None
    # zstandard trusts a declared content size and allocates it up front: bound it first.
    if size == zstandard.CONTENTSIZE_UNKNOWN or size == zstandard.CONTENTSIZE_ERROR:
        raise CodecError(Reason.CODEC_BAD_FORMAT, "zstd frame without a content size")
    if size > limit:
        raise CodecError(Reason.CODEC_TOO_LARGE, f"zstd frame declares {size} bytes, limit {limit}")
    try:
        return zstandard.ZstdDecompressor().decompress(data, max_output_size=limit, allow_extra_data=False)
    except zstandard.ZstdError as exc:
        raise CodecError(Reason.CODEC_BAD_FORMAT, f"zstd: {exc}") from None


def decode_delta(data: bytes, spec: AdapterSpec, max_bytes: int | None = None) -> Delta:
    """Decode untrusted bytes into a float32 delta of exactly ``spec``; any defect raises
    CodecError with its reason code (never another exception)."""
    limit = default_max_bytes(spec)
    if max_bytes is not None:
        limit = min(limit, max_bytes)
    if len(data) > limit:
        raise CodecError(Reason.CODEC_TOO_LARGE, f"{len(data)} bytes, limit {limit}")
    if data[:4] == ZSTD_MAGIC:
        data = _decompress(data, default_max_bytes(spec))
    metadata, tensors = wire.read(data, max_header_bytes(spec))
    if metadata != {"format": FORMAT}:
        raise CodecError(Reason.CODEC_BAD_FORMAT, f"metadata must be exactly format={FORMAT}")
    dtypes = {t.dtype for k, t in tensors.items() if k != SCALES_KEY}
    if len(dtypes) > 1 or not dtypes <= set(_NP_DTYPE):
        raise CodecError(Reason.CODEC_BAD_DTYPE, f"tensor dtypes {sorted(dtypes)}: need one of F32, F16, I8")
    quantized = dtypes == {"I8"}
    expected = set(spec.keys) | ({SCALES_KEY} if quantized else set())
    if set(tensors) != expected:
        missing, extra = sorted(expected - set(tensors)), sorted(set(tensors) - expected)
        raise CodecError(Reason.CODEC_BAD_KEYS, f"missing {missing[:3]}, unexpected {[e[:64] for e in extra[:3]]}")
    for key, shape in spec.shapes:
        if tensors[key].shape != shape:
            raise CodecError(Reason.CODEC_BAD_SHAPE, f"{key}: shape {tensors[key].shape}, task says {shape}")
    scales = _scales(tensors[SCALES_KEY], len(spec.keys)) if quantized else None
    delta: Delta = {}
    for i, (key, shape) in enumerate(spec.shapes):
        t = tensors[key]
        arr = np.frombuffer(t.data, dtype=_NP_DTYPE[t.dtype]).astype(np.float32).reshape(shape)
        if scales is not None:
            arr = arr * scales[i]
        elif not np.isfinite(arr).all():
            raise CodecError(Reason.CODEC_NOT_FINITE, f"{key}: non-finite values")
        delta[key] = torch.from_numpy(arr)
    return delta


def _scales(raw: wire.RawTensor, n: int) -> np.ndarray:
    if raw.dtype != "F32" or raw.shape != (n,):
        raise CodecError(Reason.CODEC_BAD_SCALE, f"{SCALES_KEY} must be F32 of shape ({n},)")
    scales = np.frombuffer(raw.data, dtype="<f4")
    # q * scale with |q| <= 128 must stay finite, so the dequantized delta is finite by construction.
    if not (np.isfinite(scales).all() and (scales >= 0).all() and (scales <= _FP32_MAX / 128).all()):
        raise CodecError(Reason.CODEC_BAD_SCALE, "scales must be finite, non-negative and bounded")
    return scales
