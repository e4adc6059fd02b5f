"""Protocol constants in one place: reason codes (codes.py), wire format (wire.py: topics,
EIP-712 types, limits) and on-chain ids (chain.py: aggregation rule ids, Merkle leaf types).
``export.py`` writes them all as JSON for tooling outside Python (contract tests, js peers)."""
