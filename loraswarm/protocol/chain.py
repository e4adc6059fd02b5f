"""On-chain protocol constants: contract names, Merkle leaf types, commitment and tuple hashes.

The Solidity side is ``contracts/Coordinator.sol``; every encoding here is what the contract
hashes, and ``tests/contracts`` checks each one against the deployed bytecode.

Merkle leaves follow OpenZeppelin's StandardMerkleTree (``@openzeppelin/merkle-tree``):
``keccak256(keccak256(abi.encode(*values)))`` with the ABI types below, in this order.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final

from eth_abi import encode
from eth_utils import keccak, to_checksum_address

# Contract names as in build/contracts and in the deployment file's `addresses`.
TOKEN: Final = "RewardToken"
STAKING: Final = "Staking"
COORDINATOR: Final = "Coordinator"

# (taskId, round, index, account, amount): `index` is the leaf's position in the reward list and
# picks the bit of the claimed bitmap that makes a second claim impossible.
REWARD_LEAF_TYPES: Final = ("uint256", "uint256", "uint256", "address", "uint256")
# (taskId, round, account, amount, reason): reason is a loraswarm.protocol.codes.Reason value.
SLASH_LEAF_TYPES: Final = ("uint256", "uint256", "address", "uint256", "uint8")
# Reason recorded by Coordinator.slashDissenter (a validator who attested a losing tuple).
DISSENT_REASON: Final = 255
# Quorum and other fractions are in basis points.
BPS: Final = 10_000


class Phase(IntEnum):
    """Coordinator.Phase: where a round stands at a timestamp."""

    NOT_STARTED = 0
    COMMIT = 1
    REVEAL = 2
    ATTEST = 3
    FINALIZED = 4
    FAILED = 5


class RoundStatus(IntEnum):
    """Coordinator.RoundStatus: the recorded outcome of a round."""

    OPEN = 0
    FINALIZED = 1
    FAILED = 2


def commitment(peer: str, round_: int, content_hash: bytes, salt: bytes) -> bytes:
    """What a peer commits: keccak256(abi.encode(peer, round, contentHash, salt))."""
    return keccak(encode(["address", "uint64", "bytes32", "bytes32"],
                         [to_checksum_address(peer), round_, content_hash, salt]))


def tuple_hash(accepted_root: bytes, global_hash: bytes, rewards_root: bytes, slash_root: bytes) -> bytes:
    """The key under which the coordinator counts attestations of one outcome."""
    return keccak(encode(["bytes32"] * 4, [accepted_root, global_hash, rewards_root, slash_root]))


def attestation_seal(task_id: int, round_: int, validator: str, tuple_hash_: bytes, salt: bytes) -> bytes:
    """What a validator seals first: keccak256(abi.encode(taskId, round, validator, tupleHash, salt))."""
    return keccak(encode(["uint256", "uint64", "address", "bytes32", "bytes32"],
                         [task_id, round_, to_checksum_address(validator), tuple_hash_, salt]))


def seal_end(reveal_end: int, attest_end: int) -> int:
    """End of the seal window: seals in [reveal_end, seal_end), attestations open in [seal_end, attest_end)."""
    return reveal_end + (attest_end - reveal_end) // 2


def reward_leaf(task_id: int, round_: int, index: int, account: str, amount: int) -> tuple[object, ...]:
    """Values of a reward leaf, in REWARD_LEAF_TYPES order."""
    return (task_id, round_, index, to_checksum_address(account), amount)


def slash_leaf(task_id: int, round_: int, account: str, amount: int, reason: int) -> tuple[object, ...]:
    """Values of a slash leaf, in SLASH_LEAF_TYPES order."""
    return (task_id, round_, to_checksum_address(account), amount, reason)
