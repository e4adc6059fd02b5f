"""OpenZeppelin StandardMerkleTree in Python: same leaves, layout, root and proofs as
``@openzeppelin/merkle-tree`` (``StandardMerkleTree.of(values, types)``), verifiable on chain by
OpenZeppelin's ``MerkleProof``.

- leaf = keccak256(keccak256(abi.encode(types, value))): the double hash keeps a 64-byte leaf from
  ever being mistaken for an inner node;
- inner node = keccak256(sorted(a, b)) (sorted-pair hashing, so a proof needs no left/right bits);
- leaves are sorted by hash and stored as a complete binary tree in one array, root at 0 and leaf i
  (in sorted order) at ``len(tree) - 1 - i``, exactly like the JS library, so roots and proofs are
  byte-identical, not merely both valid.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_abi import encode
from eth_utils import keccak


def leaf_hash(types: Sequence[str], value: Sequence[object]) -> bytes:
    """The StandardMerkleTree leaf: keccak256(keccak256(abi.encode(value)))."""
    return keccak(keccak(encode(list(types), list(value))))


def node_hash(a: bytes, b: bytes) -> bytes:
    """OpenZeppelin's commutative pair hash: keccak256 of the two children in ascending order."""
    return keccak(a + b if a <= b else b + a)


def process_proof(leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root a proof leads to from a leaf hash (MerkleProof.processProof)."""
    computed = leaf
    for sibling in proof:
        computed = node_hash(computed, sibling)
    return computed


def verify(root: bytes, types: Sequence[str], value: Sequence[object], proof: Sequence[bytes]) -> bool:
    """Whether ``proof`` shows that ``value`` is a leaf of the tree with ``root``."""
    return process_proof(leaf_hash(types, value), proof) == root


@dataclass(frozen=True)
class StandardMerkleTree:
    """A tree over ABI-encoded values. ``values[i]`` keeps the caller's order; proofs are by that
    index or by value."""

    types: tuple[str, ...]
    values: tuple[tuple[object, ...], ...]
    tree: tuple[bytes, ...]
    # values[i] sits at tree[tree_index[i]]
    tree_index: tuple[int, ...]

    @classmethod
    def of(cls, values: Sequence[Sequence[object]], types: Sequence[str]) -> StandardMerkleTree:
        if not values:
            raise ValueError("a Merkle tree needs at least one leaf")
        hashes = [leaf_hash(types, value) for value in values]
        order = sorted(range(len(values)), key=lambda i: hashes[i])
        size = 2 * len(values) - 1
        tree: list[bytes] = [b""] * size
        tree_index = [0] * len(values)
        for position, value_index in enumerate(order):
            tree[size - 1 - position] = hashes[value_index]
            tree_index[value_index] = size - 1 - position
        for i in range(size - 1 - len(values), -1, -1):
            tree[i] = node_hash(tree[2 * i + 1], tree[2 * i + 2])
        return cls(tuple(types), tuple(tuple(v) for v in values), tuple(tree), tuple(tree_index))

    @property
    def root(self) -> bytes:
        return self.tree[0]

    def index_of(self, value: Sequence[object]) -> int:
        return self.values.index(tuple(value))

    def proof(self, index: int) -> list[bytes]:
        """Sibling hashes from the leaf of ``values[index]`` up to the root."""
        node = self.tree_index[index]
        proof = []
        while node > 0:
            sibling = node - 1 if node % 2 == 0 else node + 1
            proof.append(self.tree[sibling])
            node = (node - 1) // 2
        return proof

    def verify(self, index: int, proof: Sequence[bytes]) -> bool:
        return verify(self.root, self.types, self.values[index], proof)
