"""A round's result document: verdicts (with the replay fingerprint of each well-formed update), the
peers' reward leaves and the slash leaves, as one canonical JSON blob.

Its keccak256 is the first element of the tuple validators attest (the coordinator's
``acceptedRoot``), so once a round finalizes its document is on chain by hash: anyone, a node that
joined late included, fetches it from any peer and checks it against the finalized tuple. Peers
that do not validate claim with it (they need their Merkle proof), the ledger says why an update
was rejected, and later rounds' validators read the same replay history and reputation from it.
It holds only what the deterministic pipeline decides (reasons, fingerprints, amounts); the
float measures behind a verdict stay in each validator's own report.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_utils import is_address

from loraswarm.consensus.types import Fingerprint
from loraswarm.incentives.settlement import Settlement
from loraswarm.incentives.trees import Claim, RoundTrees, SlashOrder, build_trees, settlement_leaves
from loraswarm.keccak import keccak256
from loraswarm.protocol.jsonguard import check_depth

MAX_RESULT_BYTES = 8 * 1024 * 1024
MAX_DEPTH = 5  # {"verdicts": [[peer, reason, [digest, [sketch]]]]}

Tuple = tuple[bytes, bytes, bytes, bytes, int]


class ResultMismatch(ValueError):
    """The document does not hash to the roots it claims."""


@dataclass(frozen=True)
class VerdictRow:
    peer: str
    reason: int
    fingerprint: Fingerprint | None = None  # a revealed, well-formed update's: later rounds' replay history


@dataclass(frozen=True)
class RoundResult:
    task_id: int
    round: int
    global_hash: str
    verdicts: tuple[VerdictRow, ...]
    rewards: tuple[tuple[str, int], ...]  # peers' (account, amount) in leaf-index order
    slashes: tuple[tuple[str, int, int], ...]  # (account, amount, reason)

    @classmethod
    def of(cls, task_id: int, round_: int, global_hash: str, verdicts: Sequence[VerdictRow],
           settlement: Settlement) -> RoundResult:
        """A round's document from its verdicts and its settlement: verdicts in account order (the
        attested hash then depends on what was decided, not on the order peers committed in), the
        reward and slash leaves as the one tree builder takes them (incentives.trees)."""
        rewards, slashes = settlement_leaves(settlement)
        return cls(task_id, round_, global_hash, tuple(sorted(verdicts, key=lambda v: v.peer.lower())),
                   tuple(rewards), tuple(slashes))

    @property
    def peer_pool(self) -> int:
        """What the reward tree pays: the peerPool of the attested tuple."""
        return sum(amount for _, amount in self.rewards)

    def trees(self) -> RoundTrees:
        return build_trees(self.task_id, self.round, self.rewards, self.slashes)

    def digest(self) -> bytes:
        """keccak256 of the canonical document: the tuple's first element (``acceptedRoot``)."""
        return keccak256(self.encode())

    def roots(self) -> Tuple:
        """(acceptedRoot, globalHash, rewardsRoot, slashRoot, peerPool): what a validator attests."""
        trees = self.trees()
        return (self.digest(), bytes.fromhex(self.global_hash[2:]), trees.rewards_root, trees.slash_root,
                self.peer_pool)

    def check(self, attested: Tuple) -> None:
        if self.roots() != attested:
            raise ResultMismatch(f"round {self.round} result does not match the finalized roots")

    def claim_of(self, account: str) -> Claim | None:
        return next((claim for who, claim in self.trees().claims().items() if who.lower() == account.lower()),
                    None)

    def slash_orders(self) -> list[SlashOrder]:
        return self.trees().slash_orders()

    def fingerprints(self) -> tuple[Fingerprint, ...]:
        return tuple(v.fingerprint for v in self.verdicts if v.fingerprint is not None)

    # bytes ----------------------------------------------------------------------------------
    def encode(self) -> bytes:
        doc: dict[str, Any] = {
            "task_id": self.task_id, "round": self.round, "global_hash": self.global_hash,
            "verdicts": [[v.peer, v.reason,
                          None if v.fingerprint is None else [v.fingerprint.digest, list(v.fingerprint.sketch)]]
                         for v in self.verdicts],
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
                tuple(VerdictRow(_address(p), _uint(r, 8), _fingerprint(f)) for p, r, f in doc["verdicts"]),
                tuple((_address(a), _uint(x)) for a, x in doc["rewards"]),
                tuple((_address(a), _uint(x), _uint(w, 8)) for a, x, w in doc["slashes"]),
            )
        except (ValueError, KeyError, TypeError, AttributeError, OverflowError) as exc:
            raise ResultMismatch(f"malformed round result: {exc}") from None
        return result


def replay_history(results: Sequence[RoundResult], round_: int, rounds: int) -> tuple[Fingerprint, ...]:
    """The fingerprints a validator of ``round_`` compares updates against: those of the verified
    results of the ``rounds`` finalized rounds before it (every validator holds the same ones)."""
    recent = sorted((r for r in results if r.round < round_), key=lambda r: r.round)[-rounds:] if rounds else []
    return tuple(f for r in recent for f in r.fingerprints())


def _fingerprint(value: object) -> Fingerprint | None:
    if value is None:
        return None
    if not (isinstance(value, list) and len(value) == 2 and isinstance(value[1], list)):
        raise ValueError("a fingerprint is [digest, [sketch]]")
    digest, sketch = value
    _hash(digest)
    if not all(type(v) is int and -(2**255) <= v < 2**255 for v in sketch):
        raise ValueError("a fingerprint sketch holds int256 values")
    return Fingerprint(digest, tuple(sketch))


def _uint(value: object, bits: int = 256) -> int:
    # bool is an int in Python: refuse it so `true` never reads as 1; floats are not amounts.
    if type(value) is not int or not 0 <= value < 2**bits:
        raise ValueError(f"not a uint{bits}: {str(value)[:32]}")
    return value


def _hash(value: object) -> str:
    if not (isinstance(value, str) and len(value) == 66 and value.startswith("0x")):
        raise ValueError("a hash is 0x + 64 hex digits")
    if len(bytes.fromhex(value[2:])) != 32:  # fromhex skips whitespace
        raise ValueError("a hash is 0x + 64 hex digits")
    return value


def _address(value: object) -> str:
    if not (isinstance(value, str) and is_address(value)):
        raise ValueError(f"not an address: {str(value)[:48]}")
    return value
