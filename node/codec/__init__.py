"""The delta codec: a task adapter's tensors as canonical safetensors bytes (fp32, fp16 or int8
with per-tensor scales, optionally zstd), their keccak content hash, and a strict decoder whose
every rejection is a CodecError carrying a protocol reason code."""

from loraswarm.node.codec.codec import Codec, content_hash, decode_delta, default_max_bytes, encode_delta, size_bound
from loraswarm.node.codec.errors import CodecError
from loraswarm.node.codec.spec import AdapterSpec, Delta

__all__ = [
    "AdapterSpec",
    "Codec",
    "CodecError",
    "Delta",
    "content_hash",
    "decode_delta",
    "default_max_bytes",
    "encode_delta",
    "size_bound",
]
