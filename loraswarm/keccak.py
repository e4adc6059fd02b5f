"""keccak256 of bulk bytes: blobs and encoded deltas, the content hashes that commitments and
fetch-by-hash use.

safe-pysha3 (XKCP's optimized Keccak) hashes about twice as fast as pycryptodome, which
eth_utils uses; on a machine whose cores a blob transfer fills, the receiver's hash is on the
fetch's critical path. The small EIP-712 structures keep eth_utils' keccak.
"""

from sha3 import keccak_256


def keccak256(data: bytes) -> bytes:
    digest: bytes = keccak_256(data).digest()
    return digest


def keccak_stream() -> keccak_256:
    """An incremental hasher (``update`` then ``digest``) for bytes that arrive in pieces."""
    return keccak_256()
