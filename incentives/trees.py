"""A round's reward and slash trees: the leaves the coordinator verifies, their roots, and the
proof each claim or slash needs.

Leaf encodings come from ``loraswarm.protocol.chain`` and the tree from
``loraswarm.incentives.merkle`` (OpenZeppelin StandardMerkleTree), so what is built here is what
``Coordinator.claim`` and ``Coordinator.executeSlash`` check. The coordinator pays each account
once per round, so every account has exactly one reward leaf (a peer that also validates gets
the sum); leaves are listed in account order and a leaf's index is its position in that list.
An empty tree has the zero root: no leaf hashes to zero, so nothing can be claimed against it.
"""

from __future__ import annotations

from dataclasses import dataclass

from loraswarm.incentives.merkle import StandardMerkleTree
from loraswarm.incentives.settlement import Settlement
from loraswarm.protocol.chain import REWARD_LEAF_TYPES, SLASH_LEAF_TYPES, reward_leaf, slash_leaf

ZERO_ROOT = b"\x00" * 32


@dataclass(frozen=True)
class Claim:
    """What an account sends to ``Coordinator.claim`` for one round."""

    index: int
    amount: int
    proof: list[bytes]


@dataclass(frozen=True)
class SlashOrder:
    """What anyone sends to ``Coordinator.executeSlash`` for one slash leaf."""

    account: str
    amount: int
    reason: int
    proof: list[bytes]


@dataclass(frozen=True)
class RoundTrees:
    task_id: int
    round_id: int
    rewards: StandardMerkleTree | None
    slashes: StandardMerkleTree | None

    @property
    def rewards_root(self) -> bytes:
        return self.rewards.root if self.rewards else ZERO_ROOT

    @property
    def slash_root(self) -> bytes:
        return self.slashes.root if self.slashes else ZERO_ROOT

    def claims(self) -> dict[str, Claim]:
        """Every account's claim, by checksummed address."""
        if self.rewards is None:
            return {}
        return {
            str(value[3]): Claim(int(value[2]), int(value[4]), self.rewards.proof(i))
            for i, value in enumerate(self.rewards.values)
        }

    def slash_orders(self) -> list[SlashOrder]:
        if self.slashes is None:
            return []
        return [
            SlashOrder(str(value[2]), int(value[3]), int(value[4]), self.slashes.proof(i))
            for i, value in enumerate(self.slashes.values)
        ]


def build_trees(task_id: int, round_id: int, settlement: Settlement) -> RoundTrees:
    amounts = settlement.rewards.by_account().items()
    rewards = [reward_leaf(task_id, round_id, i, account, amount) for i, (account, amount) in enumerate(amounts)]
    slashes = [slash_leaf(task_id, round_id, s.account, s.amount, int(s.reason)) for s in settlement.slashes]
    return RoundTrees(
        task_id,
        round_id,
        StandardMerkleTree.of(rewards, REWARD_LEAF_TYPES) if rewards else None,
        StandardMerkleTree.of(slashes, SLASH_LEAF_TYPES) if slashes else None,
    )
