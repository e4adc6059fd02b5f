"""EIP-712 hashing of the protocol's typed structs, in one place: the gossip envelopes
(loraswarm.node.p2p.envelope) sign these digests and the coordinator checks the same ones
(``Coordinator.updateDigest``: a peer's commitment is the digest of the Update it signs).

Hand-rolled rather than eth-account's generic typed-data encoder, which took most of a
validator's time; the struct fields are all static ABI types, so a struct hash is the type hash
followed by one 32-byte word per field. Tests check the digests against eth-account's and the
contract's.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from eth_utils import keccak

from loraswarm.protocol import wire

StructType = tuple[tuple[str, str], ...]  # (field name, solidity type), as in loraswarm.protocol.wire


@functools.lru_cache(maxsize=8)
def type_hash(primary: str, type_: StructType) -> bytes:
    """keccak256 of the type string, e.g. ``Update(uint256 taskId,uint64 round,...)``."""
    return keccak(text=f"{primary}(" + ",".join(f"{t} {n}" for n, t in type_) + ")")


_DOMAIN_TYPEHASH = type_hash("EIP712Domain", wire.EIP712_DOMAIN_TYPE)


def word(solidity_type: str, value: object) -> bytes:
    """ABI encoding of one static field (every field of the protocol's structs is static)."""
    if solidity_type == "bytes32" and isinstance(value, bytes):
        return value
    if solidity_type == "address" and isinstance(value, str):
        return bytes(12) + bytes.fromhex(value[2:])
    if solidity_type.startswith("uint") and isinstance(value, int):
        return value.to_bytes(32, "big")
    raise TypeError(f"cannot encode {type(value).__name__} as {solidity_type}")


@functools.lru_cache(maxsize=64)
def domain_separator(chain_id: int, verifying_contract: str) -> bytes:
    """The domain of one deployment: wire.EIP712_NAME / EIP712_VERSION, the chain and the
    coordinator's address."""
    return keccak(
        _DOMAIN_TYPEHASH
        + keccak(text=wire.EIP712_NAME)
        + keccak(text=wire.EIP712_VERSION)
        + chain_id.to_bytes(32, "big")
        + word("address", verifying_contract)
    )


def struct_hash(primary: str, type_: StructType, values: Sequence[object]) -> bytes:
    """hashStruct: the type hash and the encoded fields, ``values`` in ``type_`` order."""
    if len(values) != len(type_):
        raise ValueError(f"{primary} has {len(type_)} fields, got {len(values)} values")
    return keccak(type_hash(primary, type_) + b"".join(word(t, v) for (_, t), v in zip(type_, values, strict=True)))


def digest(chain_id: int, verifying_contract: str, primary: str, type_: StructType,
           values: Sequence[object]) -> bytes:
    """The EIP-712 digest that is signed: keccak256(0x1901 || domainSeparator || hashStruct)."""
    return keccak(b"\x19\x01" + domain_separator(chain_id, verifying_contract) + struct_hash(primary, type_, values))
