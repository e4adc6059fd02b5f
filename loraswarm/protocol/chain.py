"""On-chain protocol constants: contract names, Merkle leaf types, commitment and tuple hashes,
slash reasons and the money formulas the coordinator applies.

The Solidity side is ``contracts/Coordinator.sol``; every encoding here is what the contract
hashes, and ``tests/contracts`` checks each one against the deployed bytecode.

Merkle leaves follow OpenZeppelin's StandardMerkleTree (``@openzeppelin/merkle-tree``):
``keccak256(keccak256(abi.encode(*values)))`` with the ABI types below, in this order.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum
from typing import Final

from eth_abi import encode
from eth_utils import keccak, to_checksum_address

from loraswarm.protocol import eip712, wire
from loraswarm.protocol.codes import Reason

# Contract names as in build/contracts and in the deployment file's `addresses`.
TOKEN: Final = "RewardToken"
STAKING: Final = "Staking"
COORDINATOR: Final = "Coordinator"

# (taskId, round, index, account, amount): `index` is the leaf's position in the reward list and
# picks the bit of the claimed bitmap that makes a second claim impossible.
REWARD_LEAF_TYPES: Final = ("uint256", "uint256", "uint256", "address", "uint256")
# (taskId, round, account, amount, reason): reason is a loraswarm.protocol.codes.Reason value.
SLASH_LEAF_TYPES: Final = ("uint256", "uint256", "address", "uint256", "uint8")
# The attested tuple: (acceptedRoot, globalHash, rewardsRoot, slashRoot, peerPool).
TUPLE_TYPES: Final = ("bytes32", "bytes32", "bytes32", "bytes32", "uint256")

# Reasons the coordinator records for the slashes it decides itself (Coordinator.*_REASON):
# slashValidator's two faults, above every Reason code, and reportEquivocation's.
DISSENT_REASON: Final = 255  # attested against the quorum, or sealed and never opened
ABSENCE_REASON: Final = 254  # never attested (ejected from the task as well)
EQUIVOCATION_REASON: Final = int(Reason.EQUIVOCATION)
# Fractions are in basis points.
BPS: Final = 10_000
# Share of every slash paid to the account that executes it (Coordinator.SLASH_BOUNTY_BPS).
SLASH_BOUNTY_BPS: Final = 500


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


def commitment(chain_id: int, coordinator: str, update: Sequence[object]) -> bytes:
    """What a peer commits: the EIP-712 digest of its Update (values in wire.UPDATE_TYPE order)
    under the deployment's domain, the same digest it signs on gossip (Coordinator.updateDigest)."""
    return eip712.digest(chain_id, coordinator, "Update", wire.UPDATE_TYPE, update)


def tuple_hash(accepted_root: bytes, global_hash: bytes, rewards_root: bytes, slash_root: bytes,
               peer_pool: int) -> bytes:
    """The key under which the coordinator counts attestations of one outcome."""
    return keccak(encode(list(TUPLE_TYPES), [accepted_root, global_hash, rewards_root, slash_root, peer_pool]))


def attestation_seal(task_id: int, round_: int, validator: str, tuple_hash_: bytes, salt: bytes) -> bytes:
    """What a validator seals first: keccak256(abi.encode(taskId, round, validator, tupleHash, salt))."""
    return keccak(encode(["uint256", "uint64", "address", "bytes32", "bytes32"],
                         [task_id, round_, to_checksum_address(validator), tuple_hash_, salt]))


def seal_end(reveal_end: int, attest_end: int) -> int:
    """End of the seal window: seals in [reveal_end, seal_end), attestations open in [seal_end, attest_end)."""
    return reveal_end + (attest_end - reveal_end) // 2


def validator_pool(available: int, validator_bps: int) -> int:
    """The validators' share of a round, taken at finalization beside the attested peer pool;
    ``available`` = min(rewardPerRound, budget) + slashPool. The peer pool may be at most
    ``available - validator_pool(available, bps)``."""
    return available * validator_bps // BPS


def validator_pay(pool: int, seal_weight: int, denominator: int) -> int:
    """What Coordinator.claimValidator pays a validator that opened the final tuple."""
    return pool * seal_weight // denominator


def slash_bounty(amount: int) -> int:
    """The executor's part of a slash of ``amount``; the task's slash pool gets the rest."""
    return amount * SLASH_BOUNTY_BPS // BPS


def reward_leaf(task_id: int, round_: int, index: int, account: str, amount: int) -> tuple[object, ...]:
    """Values of a reward leaf, in REWARD_LEAF_TYPES order."""
    return (task_id, round_, index, to_checksum_address(account), amount)


def slash_leaf(task_id: int, round_: int, account: str, amount: int, reason: int) -> tuple[object, ...]:
    """Values of a slash leaf, in SLASH_LEAF_TYPES order."""
    return (task_id, round_, to_checksum_address(account), amount, reason)


def slash_leaf_key(task_id: int, round_: int, account: str, amount: int, reason: int) -> bytes:
    """Coordinator.isSlashed key of an executed slash leaf: its StandardMerkleTree leaf hash."""
    return keccak(keccak(encode(list(SLASH_LEAF_TYPES), list(slash_leaf(task_id, round_, account, amount, reason)))))


def validator_slash_key(task_id: int, round_: int, validator: str) -> bytes:
    """Coordinator.isSlashed key of a slashValidator slash (one per task, round and validator)."""
    return keccak(encode(["uint256", "uint64", "address"], [task_id, round_, to_checksum_address(validator)]))
