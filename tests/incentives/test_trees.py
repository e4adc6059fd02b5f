"""Reward and slash trees built from a settlement: leaf order, claim indices, proofs, and the
same roots and proofs from npm @openzeppelin/merkle-tree (the library the contracts mirror)."""

from __future__ import annotations

import json
import subprocess

from loraswarm.incentives.merkle import verify
from loraswarm.incentives.outcome import PeerOutcome
from loraswarm.incentives.settlement import IncentiveParams, settle
from loraswarm.incentives.trees import ZERO_ROOT, RoundTrees, build_trees, settlement_leaves
from loraswarm.paths import NODE_MODULES, PROJECT_ROOT
from loraswarm.protocol.chain import REWARD_LEAF_TYPES, SLASH_LEAF_TYPES
from loraswarm.protocol.codes import Reason

TASK, ROUND = 7, 3
PEERS = [f"0x{i:040x}" for i in range(1, 8)]
REASONS = [Reason.ACCEPTED] * 4 + [Reason.NOT_REVEALED, Reason.KRUM_OUTLIER, Reason.ZERO_UPDATE]


def _trees() -> RoundTrees:
    outcomes = [PeerOutcome(p, r, 100 * (i + 1), 0.9) for i, (p, r) in enumerate(zip(PEERS, REASONS, strict=True))]
    stakes = dict.fromkeys(PEERS, 10**21)
    return build_trees(TASK, ROUND, *settlement_leaves(settle(10**21 + 7, outcomes, stakes, IncentiveParams())))


def test_claims_are_indexed_in_account_order_and_verify() -> None:
    trees = _trees()
    claims = trees.claims()
    assert [c.index for c in claims.values()] == list(range(len(claims)))
    assert [a.lower() for a in claims] == sorted(a.lower() for a in claims)
    assert sum(c.amount for c in claims.values()) == 10**21 + 7
    for account, c in claims.items():
        assert verify(trees.rewards_root, REWARD_LEAF_TYPES, (TASK, ROUND, c.index, account, c.amount), c.proof)
    orders = trees.slash_orders()
    assert [(o.reason, o.amount) for o in orders] == [(40, 10**20), (50, 5 * 10**20)]
    for o in orders:
        assert verify(trees.slash_root, SLASH_LEAF_TYPES, (TASK, ROUND, o.account, o.amount, o.reason), o.proof)


def test_empty_round_has_zero_roots() -> None:
    trees = build_trees(TASK, ROUND, *settlement_leaves(settle(0, [], {}, IncentiveParams())))
    assert trees.rewards_root == ZERO_ROOT and trees.slash_root == ZERO_ROOT
    assert trees.claims() == {} and trees.slash_orders() == []


NODE_SCRIPT = """
const { StandardMerkleTree } = require(process.argv[1]);
const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const out = input.map(({ types, values }) => {
  const tree = StandardMerkleTree.of(values, types);
  return { root: tree.root, proofs: values.map((v) => tree.getProof(v)) };
});
process.stdout.write(JSON.stringify(out));
"""


def test_npm_merkle_tree_gives_the_same_roots_and_proofs() -> None:
    trees = _trees()
    built = [t for t in (trees.rewards, trees.slashes) if t is not None]
    request = [{"types": list(t.types), "values": [[str(x) for x in v] for v in t.values]} for t in built]
    library = str(NODE_MODULES / "@openzeppelin" / "merkle-tree")
    run = subprocess.run(["node", "-e", NODE_SCRIPT, library], input=json.dumps(request), capture_output=True,
                         text=True, cwd=PROJECT_ROOT, timeout=60, check=True)
    for tree, js in zip(built, json.loads(run.stdout), strict=True):
        assert js["root"] == "0x" + tree.root.hex()
        assert js["proofs"] == [["0x" + p.hex() for p in tree.proof(i)] for i in range(len(tree.values))]
