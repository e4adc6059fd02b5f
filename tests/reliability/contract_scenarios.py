"""Adversarial validators on the real contracts (embedded chain): one validator attesting a wrong
root, and a Sybil set of colluding validators below the quorum. Each scenario plays one round to
the end and returns what it checked, so the tests and benchmarks/reliability.py share it.

Setup per scenario: peers pa, pb commit; three honest validators of 1,000 stake each; quorum 60 %
of validator stake (harness TEST_TERMS)."""

from __future__ import annotations

from dataclasses import dataclass

from loraswarm.protocol import chain
from loraswarm.protocol.codes import Reason
from tests.contracts.harness import TEST_TERMS, TOKEN_UNIT, Outcome, Swarm, build_outcome


@dataclass(frozen=True)
class Played:
    """What one adversarial round came to."""

    adversary_cases: int  # adversarial attestations sent
    finalized_honest: bool  # the round finalized with the honest tuple, and only with it
    rewards_owed: int  # honest reward leaves
    rewards_paid: int  # of those, claimed in full
    dissenters_slashed: int


def _round(swarm: Swarm, adversaries: list[str], label: str) -> Played:
    accounts = swarm.w3.eth.accounts
    peers, honest = list(accounts[1:3]), list(accounts[3:6])
    task = swarm.create_task()
    for peer in peers:
        swarm.join_peer(task, peer)
    for validator in honest + adversaries:
        swarm.join_validator(task, validator)
    swarm.enter(task, 0, chain.Phase.COMMIT)
    for peer in peers:
        swarm.commit(task, 0, peer)
    good = build_outcome(task, 0, [(peers[0], 300 * TOKEN_UNIT), (peers[1], 200 * TOKEN_UNIT)], [])
    # The colluders pay themselves and slash an honest peer: a wrong root in every field.
    bad: Outcome = build_outcome(task, 0, [(a, 400 * TOKEN_UNIT) for a in adversaries],
                                 [(peers[0], 100 * TOKEN_UNIT, Reason.NORM_BOUND)], label=label,
                                 peer_pool=400 * TOKEN_UNIT)
    swarm.enter(task, 0, chain.Phase.ATTEST)
    for adversary in adversaries:
        swarm.seal(task, 0, adversary, bad)
    for validator in honest:
        swarm.seal(task, 0, validator, good)
    swarm.enter_open(task, 0)
    for adversary in adversaries:
        swarm.attest(task, 0, adversary, bad)
    alone = swarm.round_info(task, 0)[0]
    assert alone != chain.RoundStatus.FINALIZED, "adversaries below the quorum finalized a round"
    for validator in honest:
        if swarm.round_info(task, 0)[0] != chain.RoundStatus.FINALIZED:
            swarm.attest(task, 0, validator, good)
    status, rewards_root, slash_root, *_ = swarm.round_info(task, 0)
    finalized_honest = (status == chain.RoundStatus.FINALIZED and bytes(rewards_root) == good.rewards.root
                        and bytes(slash_root) == good.slashes.root)
    paid = 0
    for index, (*_, account, amount) in enumerate(good.rewards.values):
        before = swarm.balance(str(account))
        swarm.claim(task, 0, good, index)
        paid += swarm.balance(str(account)) - before == amount
    slashed = 0
    for adversary in adversaries:
        before = swarm.stake_of(adversary)
        swarm.slash_validator(task, 0, adversary, accounts[9])
        slashed += before - swarm.stake_of(adversary) == TEST_TERMS.validator_slash
    with swarm.reverts("InvalidProof"):  # the colluders' own reward leaves pay nothing
        swarm.claim(task, 0, bad, 0)
    return Played(len(adversaries), finalized_honest, len(good.rewards.values), paid, slashed)


def wrong_root_validator(swarm: Swarm) -> Played:
    """One of four validators (25 % of stake) attests a wrong tuple."""
    return _round(swarm, [swarm.w3.eth.accounts[6]], "wrong root")


def sybil_below_quorum(swarm: Swarm) -> Played:
    """Two colluding Sybil validators (2,000 of 5,000 stake: 40 % < the 60 % quorum) attest one
    wrong tuple together. (A set above 1 - quorum, here > 40 %, can still stop the honest side
    from finalizing: the round then fails and the previous global stays.)"""
    return _round(swarm, list(swarm.w3.eth.accounts[6:8]), "sybil")
