"""The edge validator, one reason code at a time (the e2e test drives the same checks over gossip)."""

import os

from loraswarm.node.p2p.envelope import Domain, GlobalAdapter, Update, decode, sign
from loraswarm.node.p2p.gossip import UPDATES_PER_SIGNER, EdgeValidator
from loraswarm.node.p2p.keys import new_identity
from loraswarm.protocol.codes import Reason
from tests.p2p.conftest import CHAIN_ID, COORDINATOR, TASK_ID

DOMAIN = Domain(CHAIN_ID, COORDINATOR)


def _signed(identity, round=5, task=TASK_ID, domain=DOMAIN, peer=None) -> bytes:
    body = Update(task, round, peer or identity.address, b"\0" * 32, os.urandom(32), 10, 1, 0, os.urandom(32))
    return sign(domain, body, identity.account).encode()


def test_each_rejection_has_its_reason_and_is_counted():
    honest, other, outsider = new_identity(), new_identity(), new_identity()
    edge = EdgeValidator(CHAIN_ID, COORDINATOR, TASK_ID, {honest.address, other.address}.__contains__,
                         current_round=5)
    cases = [
        (b"not json", honest, Reason.BAD_ENCODING),
        (b"{" + b" " * 5000 + b"}", honest, Reason.OVERSIZE),
        (_signed(honest, domain=Domain(CHAIN_ID + 1, COORDINATOR)), honest, Reason.WRONG_CHAIN),
        (_signed(honest, task=TASK_ID + 1), honest, Reason.WRONG_TASK),
        (_signed(honest, round=4), honest, Reason.STALE_ROUND),
        (_signed(honest, round=7), honest, Reason.FUTURE_ROUND),
        (_signed(outsider, peer=honest.address), outsider, Reason.BAD_SIGNATURE),  # forged
        (_signed(honest), other, Reason.BAD_SIGNATURE),  # someone else gossips honest's envelope
        (_signed(outsider), outsider, Reason.UNREGISTERED_SENDER),
    ]
    for data, author, reason in cases:
        assert edge.check(data, author.peer_id) == (reason, None), reason
    accepted = _signed(honest)
    verdict, envelope = edge.check(accepted, honest.peer_id)
    assert verdict == Reason.ACCEPTED and envelope is not None
    assert edge.check(accepted, honest.peer_id)[0] == Reason.DUPLICATE
    assert edge.check(_signed(honest, round=6), honest.peer_id)[0] == Reason.ACCEPTED
    expected = {reason for _, _, reason in cases} | {Reason.ACCEPTED, Reason.DUPLICATE}
    assert set(edge.verdicts) == expected
    assert sum(edge.verdicts.values()) == len(cases) + 3


def test_other_updates_of_a_signer_pass_up_to_a_cap_and_the_committed_one_always():
    """A second signed update of one round is equivocation evidence every validator must see, so it
    is forwarded; past a few, more are spam, except the one that opens the on-chain commitment:
    junk sent first must never keep the real reveal from a validator."""
    peer = new_identity()
    committed = _signed(peer)
    commitment = decode(committed).digest
    edge = EdgeValidator(CHAIN_ID, COORDINATOR, TASK_ID, lambda _: True, current_round=5,
                         commitment_of=lambda who, r: commitment if (who, r) == (peer.address, 5) else None)
    for _ in range(UPDATES_PER_SIGNER):
        assert edge.check(_signed(peer), peer.peer_id)[0] == Reason.ACCEPTED
    assert edge.check(_signed(peer), peer.peer_id)[0] == Reason.DUPLICATE
    assert edge.check(committed, peer.peer_id)[0] == Reason.ACCEPTED
    assert edge.check(committed, peer.peer_id)[0] == Reason.DUPLICATE
    # a global or a result note stays one per signer and round
    notice = sign(DOMAIN, GlobalAdapter(TASK_ID, 5, peer.address, os.urandom(32), 1), peer.account).encode()
    other = sign(DOMAIN, GlobalAdapter(TASK_ID, 5, peer.address, os.urandom(32), 1), peer.account).encode()
    assert edge.check(notice, peer.peer_id)[0] == Reason.ACCEPTED
    assert edge.check(other, peer.peer_id)[0] == Reason.DUPLICATE


def test_round_window_moves_and_forgets_old_rounds():
    peer = new_identity()
    edge = EdgeValidator(CHAIN_ID, COORDINATOR, TASK_ID, lambda _: True, current_round=1)
    assert edge.check(_signed(peer, round=1), peer.peer_id)[0] == Reason.ACCEPTED
    edge.set_round(3)
    assert edge.check(_signed(peer, round=1), peer.peer_id)[0] == Reason.STALE_ROUND
    assert not edge._seen and not edge._slots
    # the global of round r is announced while the chain is already in round r + 1
    notice = sign(DOMAIN, GlobalAdapter(TASK_ID, 2, peer.address, os.urandom(32), 1), peer.account).encode()
    assert edge.check(notice, peer.peer_id)[0] == Reason.ACCEPTED


def test_a_crashing_check_costs_one_message_not_the_node():
    def broken_registry(address: str) -> bool:
        raise RuntimeError("registry view unavailable")

    peer = new_identity()
    edge = EdgeValidator(CHAIN_ID, COORDINATOR, TASK_ID, broken_registry, current_round=5)
    assert edge.check(_signed(peer), peer.peer_id)[0] == Reason.BAD_ENCODING
