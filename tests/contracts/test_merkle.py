"""The Python StandardMerkleTree against OpenZeppelin's JS library: identical roots and proofs,
and the JS verifier accepts the Python proofs (the contracts accept them in test_lifecycle)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from eth_utils import keccak

from loraswarm.incentives import merkle
from loraswarm.paths import PROJECT_ROOT
from loraswarm.protocol import chain
from loraswarm.protocol.codes import Reason

SCRIPT = Path(__file__).with_name("merkle_parity.js")


def js_tree(types: tuple[str, ...], values: list[tuple[object, ...]], proofs: list[list[bytes]]) -> dict:
    payload = {
        "types": list(types),
        "values": [[str(v) for v in value] for value in values],
        "theirProofs": [["0x" + p.hex() for p in proof] for proof in proofs],
    }
    done = subprocess.run(["node", str(SCRIPT)], input=json.dumps(payload), capture_output=True, text=True,
                          cwd=PROJECT_ROOT, timeout=60, check=True)
    return json.loads(done.stdout)


def address(i: int) -> str:
    return "0x" + keccak(text=f"account {i}")[:20].hex()


@pytest.mark.parametrize("size", [1, 2, 3, 7, 16, 33])
def test_reward_tree_matches_openzeppelin(size: int) -> None:
    values = [chain.reward_leaf(5, 9, i, address(i), (i + 1) * 10**18) for i in range(size)]
    tree = merkle.StandardMerkleTree.of(values, chain.REWARD_LEAF_TYPES)
    proofs = [tree.proof(i) for i in range(size)]
    theirs = js_tree(chain.REWARD_LEAF_TYPES, values, proofs)
    assert theirs["root"] == "0x" + tree.root.hex()
    assert theirs["proofs"] == [["0x" + p.hex() for p in proof] for proof in proofs]
    assert all(theirs["verified"])


def test_slash_tree_matches_openzeppelin() -> None:
    values = [chain.slash_leaf(1, 0, address(i), i * 10**17, int(reason))
              for i, reason in enumerate((Reason.NOT_REVEALED, Reason.NORM_BOUND, Reason.KRUM_OUTLIER))]
    values.append(chain.slash_leaf(1, 0, address(9), 5, chain.DISSENT_REASON))
    tree = merkle.StandardMerkleTree.of(values, chain.SLASH_LEAF_TYPES)
    proofs = [tree.proof(i) for i in range(len(values))]
    theirs = js_tree(chain.SLASH_LEAF_TYPES, values, proofs)
    assert theirs["root"] == "0x" + tree.root.hex()
    assert all(theirs["verified"])


def test_verify_rejects_a_changed_leaf_or_proof() -> None:
    values = [chain.reward_leaf(1, 2, i, address(i), 100 + i) for i in range(5)]
    tree = merkle.StandardMerkleTree.of(values, chain.REWARD_LEAF_TYPES)
    assert all(tree.verify(i, tree.proof(i)) for i in range(5))
    forged = chain.reward_leaf(1, 2, 0, address(0), 101)
    assert not merkle.verify(tree.root, chain.REWARD_LEAF_TYPES, forged, tree.proof(0))
    assert not tree.verify(0, tree.proof(1))
    assert tree.index_of(values[3]) == 3
    with pytest.raises(ValueError):
        merkle.StandardMerkleTree.of([], chain.REWARD_LEAF_TYPES)
