"""A round's result document: verdicts, reward and slash leaves, as one canonical JSON blob.

Validators publish it by content hash next to the new global adapter, so that peers that do not
validate can claim (they need their Merkle proof) and the ledger can say why an update was
rejected. Nothing in it is trusted: a reader rebuilds the trees and checks the roots against
the finalized tuple on chain.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from eth_utils import is_address

from loraswarm.incentives.merkle import StandardMerkleTree
from loraswarm.incentives.trees import ZERO_ROOT, Claim, SlashOrder
from loraswarm.protocol.chain import REWARD_LEAF_TYPES, SLASH_LEAF_TYPES, reward_leaf, slash_leaf
from loraswarm.protocol.jsonguard import check_depth

VERDICT_LEAF_TYPES = ("address", "uint8")
MAX_RESULT_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 4  # {"verdicts": [[peer, reason, {measures}]]}


class ResultMismatch(ValueError):
    """The document does not hash to the roots it claims."""


@dataclass(frozen=True)
class VerdictRow:
    peer: str
    reason: int
    measures: dict[str, float]


@dataclass(frozen=True)
class RoundResult:
    task_id: int
    round: int
    global_hash: str
    verdicts: tuple[VerdictRow, ...]
    rewards: tuple[tuple[str, int], ...]  # (account, amount) in leaf-index order
    slashes: tuple[tuple[str, int, int], ...]  # (account, amount, reason)

    # trees ----------------------------------------------------------------------------------
    def _tree(self, leaves: list[tuple[object, ...]], types: tuple[str, ...]) -> StandardMerkleTree | None:
        return StandardMerkleTree.of(leaves, types) if leaves else None

    def accepted_tree(self) -> StandardMerkleTree | None:
        return self._tree([(v.peer, v.reason) for v in self.verdicts], VERDICT_LEAF_TYPES)

    def rewards_tree(self) -> StandardMerkleTree | None:
        leaves = [reward_leaf(self.task_id, self.round, i, a, amt) for i, (a, amt) in enumerate(self.rewards)]
        return self._tree(leaves, REWARD_LEAF_TYPES)

    def slash_tree(self) -> StandardMerkleTree | None:
        leaves = [slash_leaf(self.task_id, self.round, a, amt, why) for a, amt, why in self.slashes]
        return self._tree(leaves, SLASH_LEAF_TYPES)

    def roots(self) -> tuple[bytes, bytes, bytes, bytes]:
        """(acceptedRoot, globalHash, rewardsRoot, slashRoot): what a validator attests."""
        def root(tree: StandardMerkleTree | None) -> bytes:
            return tree.root if tree else ZERO_ROOT

        return (root(self.accepted_tree()), bytes.fromhex(self.global_hash[2:]), root(self.rewards_tree()),
                root(self.slash_tree()))

    def check(self, attested: tuple[bytes, bytes, bytes, bytes]) -> None:
        if self.roots() != attested:
            raise ResultMismatch(f"round {self.round} result does not match the finalized roots")

    def claim_of(self, account: str) -> Claim | None:
        tree = self.rewards_tree()
        for i, (who, amount) in enumerate(self.rewards):
            if who.lower() == account.lower() and tree is not None:
                return Claim(i, amount, tree.proof(i))
        return None

    def slash_orders(self) -> list[SlashOrder]:
        tree = self.slash_tree()
        return [SlashOrder(a, amt, why, tree.proof(i)) for i, (a, amt, why) in enumerate(self.slashes)
                if tree is not None]

    # bytes ----------------------------------------------------------------------------------
    def encode(self) -> bytes:
        doc: dict[str, Any] = {
            "task_id": self.task_id, "round": self.round, "global_hash": self.global_hash,
            "verdicts": [[v.peer, v.reason, v.measures] for v in self.verdicts],
            "rewards": [list(r) for r in self.rewards], "slashes": [list(s) for s in self.slashes],
        }
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, data: bytes) -> RoundResult:
        """Parse an untrusted document; any defect raises ResultMismatch, and a decoded result's
        trees always build (a bad address or amount would otherwise fail later, in ``check``)."""
        if len(data) > MAX_RESULT_BYTES:
            raise ResultMismatch("round result too large")
        try:
            # Strict UTF-8 first: json.loads(bytes) would also accept UTF-16/32, whose
            # multi-byte characters can hide brackets from check_depth's byte scan.
            text = data.decode("utf-8")
            check_depth(data, MAX_DEPTH)
            doc = json.loads(text)
            result = cls(
                _uint(doc["task_id"]), _uint(doc["round"]), _hash(doc["global_hash"]),
                tuple(VerdictRow(_address(p), _uint(r, 8), {str(k): float(x) for k, x in m.items()})
                      for p, r, m in doc["verdicts"]),
                tuple((_address(a), _uint(x)) for a, x in doc["rewards"]),
                tuple((_address(a), _uint(x), _uint(w, 8)) for a, x, w in doc["slashes"]),
            )
        except (ValueError, KeyError, TypeError, AttributeError, OverflowError) as exc:
            raise ResultMismatch(f"malformed round result: {exc}") from None
        return result


def _uint(value: object, bits: int = 256) -> int:
    # bool is an int in Python: refuse it so `true` never reads as 1; floats are not amounts.
    if type(value) is not int or not 0 <= value < 2**bits:
        raise ValueError(f"not a uint{bits}: {str(value)[:32]}")
    return value


def _hash(value: object) -> str:
    if not (isinstance(value, str) and len(value) == 66 and value.startswith("0x")):
        raise ValueError("global_hash is not 0x + 64 hex digits")
    if len(bytes.fromhex(value[2:])) != 32:  # fromhex skips whitespace
        raise ValueError("global_hash is not 0x + 64 hex digits")
    return value


def _address(value: object) -> str:
    if not (isinstance(value, str) and is_address(value)):
        raise ValueError(f"not an address: {str(value)[:48]}")
    return value
