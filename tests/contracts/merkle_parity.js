// Reads {types, values, theirProofs} JSON on stdin, builds the tree with @openzeppelin/merkle-tree
// and prints its root, its proofs and whether the library accepts the proofs built elsewhere
// (in Python), as JSON on stdout.
const { StandardMerkleTree } = require("@openzeppelin/merkle-tree");

let input = "";
process.stdin.on("data", (chunk) => { input += chunk; });
process.stdin.on("end", () => {
  const { types, values, theirProofs } = JSON.parse(input);
  const tree = StandardMerkleTree.of(values, types);
  const proofs = values.map((_, i) => tree.getProof(i));
  const verified = values.map((value, i) => StandardMerkleTree.verify(tree.root, types, value, theirProofs[i]));
  process.stdout.write(JSON.stringify({ root: tree.root, proofs, verified }));
});
