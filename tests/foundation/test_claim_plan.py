"""`loraswarm claim` plans against chain state: a round whose claim window has closed is skipped
and named (the contract reverts its claim, and a batch sent with it would stop there), the rest
are claimed. The contract's side (a claim after its deadline reverts ClaimExpired) is in
tests/contracts/test_reverts.py; this is the planning layer, against a stub coordinator."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from loraswarm.errors import NotFound
from loraswarm.evm.stakes import PeerClaim, plan_claims

NOW = 1_800_000_000
PEER = "0x" + "11" * 20


@dataclass
class _Call:
    value: Any

    def call(self) -> Any:
        return self.value


@dataclass
class _Functions:
    deadlines: dict[int, int]
    claimed: set[int] = field(default_factory=set)
    validator_pay: dict[int, int] = field(default_factory=dict)

    def claimDeadline(self, task: int, round_: int) -> _Call:
        return _Call(self.deadlines[round_])

    def isClaimed(self, task: int, round_: int, address: str) -> _Call:
        return _Call(round_ in self.claimed)

    def validatorPayOf(self, task: int, round_: int, address: str) -> _Call:
        return _Call((self.validator_pay.get(round_, 0), False))

    def claim(self, task: int, round_: int, index: int, amount: int, proof: list[bytes]) -> tuple[str, int]:
        return ("claim", round_)

    def claimValidator(self, task: int, round_: int) -> tuple[str, int]:
        return ("claimValidator", round_)


@dataclass
class _Coordinator:
    functions: _Functions


def _claims(*rounds: int) -> dict[int, PeerClaim | None]:
    return {r: PeerClaim(index=0, amount=10**18, proof=[]) for r in rounds}


def test_a_round_past_its_claim_window_is_skipped_and_named() -> None:
    functions = _Functions(deadlines={0: NOW - 1, 1: NOW + 3600, 2: NOW + 7200}, claimed={2},
                           validator_pay={1: 5 * 10**17})
    plan = plan_claims({"Coordinator": _Coordinator(functions)}, PEER, 1, _claims(0, 1, 2), NOW)
    assert [call for _, call in plan.calls] == [("claim", 1), ("claimValidator", 1)]
    assert plan.summary.startswith(f"claim 2 reward(s) of task 1 for {PEER}; past their claim window: round 0 (closed ")


def test_only_closed_or_claimed_rounds_is_nothing_to_claim_and_says_why() -> None:
    functions = _Functions(deadlines={0: NOW - 100, 1: NOW}, claimed=set())
    with pytest.raises(NotFound, match=r"rounds 0, 1: all claimed, or no reward; past their claim window: "
                                       r"round 0 \(closed .*\), round 1 \(closed "):
        plan_claims({"Coordinator": _Coordinator(functions)}, PEER, 1, _claims(0, 1), NOW)
