"""A round's reward and slash trees: the leaves the coordinator verifies, their roots, and the
proof each claim or slash needs.

Leaf encodings come from ``loraswarm.protocol.chain`` and the tree from
``loraswarm.incentives.merkle`` (OpenZeppelin StandardMerkleTree), so what is built here is what
``Coordinator.claim`` and ``Coordinator.executeSlash`` check. The coordinator pays each account
once per round, so every peer has exactly one reward leaf (validators are paid by the coordinator
itself); leaves are listed in account order and a leaf's index is its position in that list.
An empty tree has the zero root: no leaf hashes to zero, so nothing can be claimed against it.
"""

from __future__ import annotations

from collections.abc import Sequence
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
            str(value[3]): Claim(_uint(value[2]), _uint(value[4]), self.rewards.proof(i))
            for i, value in enumerate(self.rewards.values)
        }

    def slash_orders(self) -> list[SlashOrder]:
        if self.slashes is None:
            return []
        return [
            SlashOrder(str(value[2]), _uint(value[3]), _uint(value[4]), self.slashes.proof(i))
            for i, value in enumerate(self.slashes.values)
        ]


def build_trees(task_id: int, round_id: int, rewards: Sequence[tuple[str, int]],
                slashes: Sequence[tuple[str, int, int]]) -> RoundTrees:
    """The trees of a round: ``rewards`` as (account, amount) in leaf order, ``slashes`` as
    (account, amount, reason). The one place leaves become trees: the node's round result and the
    simulation both build here, so what they attest is the same for the same settlement."""
    reward_leaves = [reward_leaf(task_id, round_id, i, account, amount) for i, (account, amount) in enumerate(rewards)]
    slash_leaves = [slash_leaf(task_id, round_id, account, amount, reason) for account, amount, reason in slashes]
    return RoundTrees(
        task_id,
        round_id,
        StandardMerkleTree.of(reward_leaves, REWARD_LEAF_TYPES) if reward_leaves else None,
        StandardMerkleTree.of(slash_leaves, SLASH_LEAF_TYPES) if slash_leaves else None,
    )


def settlement_leaves(settlement: Settlement) -> tuple[list[tuple[str, int]], list[tuple[str, int, int]]]:
    """A settlement's reward leaves (account order) and slash leaves, as ``build_trees`` takes them."""
    return (list(settlement.rewards.by_account().items()),
            [(s.account, s.amount, int(s.reason)) for s in settlement.slashes])


def _uint(value: object) -> int:
    # leaf values are the ints that built the tree (protocol.chain.reward_leaf, slash_leaf)
    assert isinstance(value, int)
    return value
