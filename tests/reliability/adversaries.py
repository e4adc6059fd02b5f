"""Adversarial gossip at the edge validator, in process: replays from another round, chain,
contract or task, forged signatures, unregistered senders, oversize frames, and a flood of junk
and replays from one peer with honest announcements mixed in. Shared by the tests and
benchmarks/reliability.py."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

from eth_account import Account

from loraswarm.node.p2p.envelope import Domain, Update, sign
from loraswarm.node.p2p.gossip import UPDATES_PER_SIGNER, EdgeValidator
from loraswarm.protocol import wire
from loraswarm.protocol.codes import Reason
from tests.reliability.fuzzing import CHAIN_ID, DOMAIN, KEYS, REGISTERED, TASK_ID

ROUND = 3


def _update(key: int, round_: int = ROUND, task: int = TASK_ID, nonce: int = 0) -> Update:
    peer = KEYS[key].address
    return Update(task, round_, peer, b"\x01" * 32, nonce.to_bytes(32, "big"), 1234, 64, 2, b"\x03" * 32)


def replays_and_forgeries() -> list[tuple[str, bytes, Reason]]:
    """(case, payload, the verdict it must get)."""
    honest = sign(DOMAIN, _update(0), KEYS[0])
    forged = json.loads(honest.encode())
    forged["message"]["sampleCount"] = 10**6  # the signed struct no longer matches
    impostor = sign(DOMAIN, _update(0, nonce=1), KEYS[1])  # signs as peer 0 with key 1
    return [
        ("replay from an old round", sign(DOMAIN, _update(0, ROUND - 2), KEYS[0]).encode(), Reason.STALE_ROUND),
        ("announcement for a far round", sign(DOMAIN, _update(0, ROUND + 5), KEYS[0]).encode(), Reason.FUTURE_ROUND),
        ("replay from another chain", sign(Domain(CHAIN_ID + 1, DOMAIN.coordinator), _update(0), KEYS[0]).encode(),
         Reason.WRONG_CHAIN),
        ("replay from another contract", sign(Domain(CHAIN_ID, Account.from_key("0x" + "c1" * 32).address),
                                              _update(0), KEYS[0]).encode(), Reason.WRONG_CHAIN),
        ("replay from another task", sign(DOMAIN, _update(0, task=TASK_ID + 1), KEYS[0]).encode(), Reason.WRONG_TASK),
        ("forged signature", json.dumps(forged, sort_keys=True, separators=(",", ":")).encode(), Reason.BAD_SIGNATURE),
        ("signed by another key", impostor.encode(), Reason.BAD_SIGNATURE),
        ("unregistered sender", sign(DOMAIN, _update(2), KEYS[2]).encode(), Reason.UNREGISTERED_SENDER),
        ("oversize frame", b"{" + b" " * wire.MAX_ENVELOPE_BYTES + b"}", Reason.OVERSIZE),
    ]


@dataclass(frozen=True)
class Flood:
    adversary_cases: int
    honest_sent: int
    honest_lost: int  # honest announcements the validator did not accept
    verdicts: Counter[Reason]


def edge_attack(flood: int = 1000) -> Flood:
    """Every replay and forgery, then ``flood`` messages from one peer (junk, replays of its own
    accepted announcement, further updates for the round) with peer 1's honest update last. Of the
    further updates the edge forwards a few (UPDATES_PER_SIGNER in all, with the first: two are
    equivocation evidence every validator must see) and refuses the rest."""
    validator = EdgeValidator(CHAIN_ID, DOMAIN.coordinator, TASK_ID, REGISTERED.__contains__, current_round=ROUND)
    cases = 0
    for case, payload, expected in replays_and_forgeries():
        reason, _ = validator.check(payload, None)
        assert reason == expected, (case, reason)
        cases += 1
    first = sign(DOMAIN, _update(0), KEYS[0]).encode()
    assert validator.check(first, None)[0] == Reason.ACCEPTED
    for i in range(flood):
        kind = i % 3
        if kind == 0:
            payload = b'{"junk":' + str(i).encode() + b"}"
        elif kind == 1:
            payload = first
        else:  # a fresh, validly signed second update for the same round: equivocation
            payload = sign(DOMAIN, _update(0, nonce=i + 2), KEYS[0]).encode()
        reason, _ = validator.check(payload, None)
        forwarded = kind == 2 and i // 3 < UPDATES_PER_SIGNER - 1
        assert (reason == Reason.ACCEPTED) == forwarded, (i, reason)
        cases += 1
    honest = [sign(DOMAIN, _update(1, r), KEYS[1]).encode() for r in (ROUND, ROUND + 1)]
    lost = sum(validator.check(payload, None)[0] != Reason.ACCEPTED for payload in honest)
    return Flood(cases, len(honest), lost, validator.verdicts)
