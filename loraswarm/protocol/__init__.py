"""Protocol constants and encodings in one place, the base every other package builds on: reason
codes (codes.py), the wire (wire.py: topics, EIP-712 types, limits; eip712.py: the hashing), the
chain (chain.py: contract names, Merkle leaves, commitment, tuple and seal hashes, pool formulas),
aggregation rule ids (rules.py) and the task file (taskspec.py). The contract tests check each
against the deployed bytecode."""
