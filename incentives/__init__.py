"""Contribution scores, rewards, slashing, Merkle reward and slash trees, economics simulation.

A validator turns a round's verdicts into what it attests and what gets paid:

    outcomes = outcomes_from_verdicts(consensus_outcome.verdicts)        # from_consensus.py
    settlement = settle(pool, outcomes, peer_stakes, previous, params)   # settlement.py
    trees = build_trees(task_id, round_id, settlement)                   # trees.py
    seal, then open, attest(..., trees.rewards_root, trees.slash_root); after finalization each account sends
    trees.claims()[account] to Coordinator.claim, and anyone sends trees.slash_orders().

``scoring`` (contribution score), ``rewards`` (largest-remainder split of the pool),
``slashing`` (the policy and its reasons) are pure integer arithmetic on ``outcome`` types;
``merkle`` is the OpenZeppelin StandardMerkleTree; ``sim`` drives the real contracts.
"""
