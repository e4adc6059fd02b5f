"""Contribution scores, the peers' reward split, slashing, and the Merkle reward and slash trees.

A validator turns a round's verdicts into what it attests and what gets paid:

    outcomes = outcomes_from_verdicts(consensus_outcome.verdicts)            # from_consensus.py
    pool = peer_pool(available_at_pinned_block, task.validator_bps)          # rewards.py
    settlement = settle(pool, outcomes, peer_stakes, params, reputation)     # settlement.py
    trees = build_trees(task_id, round_id, *settlement_leaves(settlement))   # trees.py
    seal, then open attest(..., trees.rewards_root, trees.slash_root, settlement.rewards.paid);
    after finalization each peer sends its claim to Coordinator.claim, anyone sends the slash orders,
    and validators that attested the finalized tuple call Coordinator.claimValidator.

``scoring`` (contribution score), ``rewards`` (largest-remainder split of the pool),
``slashing`` (the policy and its reasons), ``reputation`` (a bounded multiplier from finalized
history) are pure integer arithmetic on ``outcome`` types; ``merkle`` is the OpenZeppelin
StandardMerkleTree.
"""
