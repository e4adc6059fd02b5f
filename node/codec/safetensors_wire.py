"""A canonical, strict reader and writer of the safetensors container.

Why not the safetensors library: its writer does not promise one byte string per content (and the
content hash is taken over the bytes), and its reader is lenient about what we must refuse
(duplicate JSON keys, padding, gaps or overlaps between tensors, trailing bytes). The format is
small enough to own: an 8-byte little-endian header length, a JSON header, then the tensor bytes.
Our bytes stay plain safetensors that any safetensors reader loads.

Canonical form: header JSON with sorted keys, no whitespace, ASCII only, padded with spaces to a
multiple of 8 bytes (as the reference writer does); tensor data contiguous in header order; nothing
after the last tensor. The reader refuses any other byte string for the same content.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass

from loraswarm.node.codec.errors import CodecError
from loraswarm.protocol.codes import Reason
from loraswarm.protocol.jsonguard import check_depth

METADATA_KEY = "__metadata__"
ITEMSIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}
_ENTRY_FIELDS = ["data_offsets", "dtype", "shape"]
# {"name": {"shape": [..]}}: a header of a large adapter allows tens of thousands of brackets,
# enough to overflow the C stack under py_ecc's recursion limit (see jsonguard).
MAX_DEPTH = 3


@dataclass(frozen=True)
class RawTensor:
    dtype: str
    shape: tuple[int, ...]
    data: bytes


def _header_bytes(header: dict[str, object]) -> bytes:
    text = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")
    return text + b" " * (-len(text) % 8)


def write(tensors: dict[str, RawTensor], metadata: dict[str, str]) -> bytes:
    header: dict[str, object] = {METADATA_KEY: dict(metadata)}
    offset = 0
    names = sorted(tensors)
    for name in names:
        t = tensors[name]
        header[name] = {"dtype": t.dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(t.data)]}
        offset += len(t.data)
    head = _header_bytes(header)
    return struct.pack("<Q", len(head)) + head + b"".join(tensors[n].data for n in names)


def _fail(message: str) -> CodecError:
    return CodecError(Reason.CODEC_BAD_FORMAT, message)


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise _fail("duplicate key in the safetensors header")
    return out


def _is_uint(x: object) -> bool:
    return type(x) is int and x >= 0  # bool is an int subclass: JSON true must not pass as 1


def read(data: bytes, max_header: int) -> tuple[dict[str, str], dict[str, RawTensor]]:
    """Parse canonical safetensors bytes; raise CodecError (BAD_FORMAT / BAD_DTYPE) otherwise."""
    if len(data) < 8:
        raise _fail("shorter than the 8-byte header length")
    (n,) = struct.unpack_from("<Q", data, 0)
    if n == 0 or n % 8 or n > max_header or n > len(data) - 8:
        raise _fail(f"header length {n} is not a multiple of 8 within bounds")
    raw = data[8 : 8 + n]
    try:
        check_depth(raw, MAX_DEPTH)
        header = json.loads(raw.decode("ascii"), object_pairs_hook=_no_duplicates)
    except CodecError:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _fail(f"header is not ASCII JSON: {type(exc).__name__}") from None
    if not isinstance(header, dict):
        raise _fail("header is not a JSON object")
    metadata = header.pop(METADATA_KEY, None)
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise _fail("missing or malformed __metadata__")
    body = memoryview(data)[8 + n :]
    tensors: dict[str, RawTensor] = {}
    offset = 0
    for name in sorted(header):
        entry = header[name]
        if not isinstance(entry, dict) or sorted(entry) != _ENTRY_FIELDS:
            raise _fail(f"{name!r}: entry must have exactly dtype, shape, data_offsets")
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if not isinstance(dtype, str) or dtype not in ITEMSIZE:
            raise CodecError(Reason.CODEC_BAD_DTYPE, f"{name!r}: unknown dtype {str(dtype)[:16]!r}")
        if not isinstance(shape, list) or len(shape) > 8 or not all(_is_uint(d) for d in shape):
            raise _fail(f"{name!r}: shape must be a short list of non-negative integers")
        if not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_uint(o) for o in offsets):
            raise _fail(f"{name!r}: data_offsets must be two non-negative integers")
        size = math.prod(shape) * ITEMSIZE[dtype]
        if offsets != [offset, offset + size] or offset + size > len(body):
            raise _fail(f"{name!r}: data is not contiguous, sized to its shape and inside the buffer")
        tensors[name] = RawTensor(dtype, tuple(shape), bytes(body[offset : offset + size]))
        offset += size
    if offset != len(body):
        raise _fail(f"{len(body) - offset} bytes after the last tensor")
    header[METADATA_KEY] = metadata
    if _header_bytes(header) != raw:
        raise _fail("header is not in canonical form")
    return metadata, tensors
