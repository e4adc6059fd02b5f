"""Why reentrancy cannot occur, tested rather than assumed.

Tokens move only through `Coordinator.rewardToken` and `Staking.token`, both `immutable` and
both the project's RewardToken: a plain OpenZeppelin ERC-20 with no hooks (no ERC-777/1363
receiver calls), so a transfer runs no code of the recipient. Hence no untrusted contract ever
gets control during a state change, and the only calls are Coordinator -> Staking -> RewardToken
and Coordinator -> RewardToken: an acyclic graph of the three trusted contracts. (A malicious
token cannot be swapped in: there is no setter, and a test-only token deployed beside them would
not be the one they call.) On top of that, every function that moves tokens (claims, slashes
and their bounty, withdrawals) updates state before it transfers (checks-effects-interactions).

The test runs every token-moving function on anvil and walks each transaction's call tree
(debug_traceTransaction, callTracer): every callee is one of the three contracts and no frame
calls a contract that is already on the stack."""

from __future__ import annotations

from typing import Any

import pytest

from harness import chaintime
from loraswarm.evm.compile import compile_contracts
from loraswarm.protocol import chain
from loraswarm.protocol.codes import Reason
from tests.contracts.harness import TOKEN_UNIT, Swarm, build_outcome

pytestmark = pytest.mark.e2e

ERC20_WRITES = {"approve", "transfer", "transferFrom"}


def _frames(frame: dict[str, Any], stack: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], str]]:
    """(callers on the stack, callee) for every call in a callTracer tree."""
    callee = frame["to"].lower()
    found = [(stack, callee)]
    for child in frame.get("calls", []):
        found += _frames(child, (*stack, callee))
    return found


def test_the_token_has_no_receiver_hooks_and_cannot_be_replaced() -> None:
    artifacts = compile_contracts()
    writes = {f["name"] for f in artifacts[chain.TOKEN].abi
              if f["type"] == "function" and f["stateMutability"] not in ("view", "pure")}
    assert writes == ERC20_WRITES
    for name in (chain.COORDINATOR, chain.STAKING):
        setters = [f["name"] for f in artifacts[name].abi if f["type"] == "function"
                   and any(i["type"] == "address" for i in f["inputs"]) and "oken" in f["name"]]
        assert setters == [], (name, setters)


def test_no_token_moving_call_reaches_untrusted_code_or_reenters(anvil: Swarm) -> None:
    swarm, accounts = anvil, anvil.w3.eth.accounts
    trusted = {swarm.token.address.lower(), swarm.staking.address.lower(), swarm.coordinator.address.lower()}
    assert swarm.coordinator.functions.rewardToken().call() == swarm.token.address
    assert swarm.staking.functions.token().call() == swarm.token.address
    peer, validators, dissenter, leaver = accounts[1], accounts[2:4], accounts[4], accounts[5]
    first_block = swarm.w3.eth.block_number + 1
    task = swarm.create_task()
    swarm.join_peer(task, peer)  # transfer, approve, stake (transferFrom), register (lock)
    for validator in (*validators, dissenter):
        swarm.join_validator(task, validator)
    swarm.enter(task, 0, chain.Phase.COMMIT)
    swarm.commit(task, 0, peer)
    outcome = build_outcome(task, 0, [(peer, 100 * TOKEN_UNIT)], [(peer, 10 * TOKEN_UNIT, Reason.NORM_BOUND)])
    swarm.attest_all(task, 0, [(dissenter, build_outcome(task, 0, [], [], label="other"))]
                     + [(validator, outcome) for validator in validators])
    swarm.claim(task, 0, outcome, 0)  # coordinator -> token transfer
    swarm.claim_validator(task, 0, validators[0])  # coordinator -> token transfer
    swarm.execute_slash(task, 0, outcome, 0, accounts[9])  # coordinator -> staking -> token, then the bounty
    swarm.slash_validator(task, 0, dissenter, accounts[9])
    swarm.past_claims(task, 0)
    swarm.send(swarm.coordinator.functions.sweep(task, 0), accounts[9])
    swarm.grant(leaver)
    swarm.stake(leaver, 50 * TOKEN_UNIT)
    swarm.send(swarm.staking.functions.requestUnstake(50 * TOKEN_UNIT), leaver)
    chaintime.travel_to(swarm.w3, chaintime.now(swarm.w3) + swarm.staking.functions.withdrawalDelay().call() + 1)
    swarm.send(swarm.staking.functions.withdraw(), leaver)  # staking -> token transfer

    traced = moved = 0
    for number in range(first_block, swarm.w3.eth.block_number + 1):
        for tx in swarm.w3.eth.get_block(number)["transactions"]:
            tree = swarm.w3.provider.make_request("debug_traceTransaction", [tx.hex() if isinstance(tx, bytes)
                                                  else tx, {"tracer": "callTracer"}])["result"]
            frames = _frames(tree)
            traced += 1
            moved += any(callee == swarm.token.address.lower() for stack, callee in frames if stack)
            for stack, callee in frames:
                assert callee in trusted, (tree["to"], callee)
                assert callee not in stack, f"reentrant call into {callee} via {stack}"
    # the run covered claims, slashes, stakes and withdrawals: token transfers made by contracts
    assert traced >= 20 and moved >= 9
