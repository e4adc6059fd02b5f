"""Envelopes: EIP-712 signing and recovery, canonical encoding, the key shared with libp2p."""

import os

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data

from loraswarm.node.p2p.envelope import Domain, GlobalAdapter, Update, decode, sign
from loraswarm.node.p2p.errors import DecodeError
from loraswarm.node.p2p.keys import address_of_peer_id, identity_from_key, new_identity
from tests.p2p.conftest import CHAIN_ID, COORDINATOR, TASK_ID

DOMAIN = Domain(CHAIN_ID, COORDINATOR)


def _update(peer: str, round: int = 3) -> Update:
    return Update(TASK_ID, round, peer, os.urandom(32), os.urandom(32), 2_000_000, 640, 2, os.urandom(32))


def test_libp2p_peer_id_names_the_ethereum_account():
    identity = identity_from_key("0x" + "42" * 32)
    assert identity.peer_id.to_base58().startswith("16Uiu2")
    assert address_of_peer_id(identity.peer_id) == Account.from_key("0x" + "42" * 32).address
    assert "42" * 8 not in repr(identity)


def test_sign_encode_decode_recover_roundtrip():
    identity = new_identity()
    for body in (_update(identity.address), GlobalAdapter(TASK_ID, 2, identity.address, os.urandom(32), 10)):
        envelope = sign(DOMAIN, body, identity.account)
        again = decode(envelope.encode())
        assert again == envelope
        assert again.signer() == identity.address


def test_digest_is_the_eip712_hash_any_wallet_signs():
    identity = new_identity()
    envelope = sign(DOMAIN, _update(identity.address), identity.account)
    signed = Account.sign_message(encode_typed_data(full_message=envelope.typed_data()), identity.account.key)
    assert envelope.digest == bytes(signed.message_hash)
    assert envelope.signature == bytes(signed.signature)  # RFC 6979: the same signature


@pytest.mark.parametrize("tamper", [
    lambda raw: raw.replace(b'"round":3', b'"round":4'),  # signature no longer matches, decodes
    lambda raw: raw.replace(b'"round":3', b'"round": 3'),  # not canonical
    lambda raw: raw.replace(b'"round":3', b'"round":true'),
    lambda raw: raw.replace(b'"round":3', b'"round":-1'),
    lambda raw: raw.replace(b'"codecId":2', b'"codecId":70000'),
    lambda raw: raw[:-2] + b',"extra":1}',
    lambda raw: raw[:40],
    lambda raw: b"\xff" * 10,
    lambda raw: b"[" * 100000,
])
def test_tampered_envelopes_fail_to_decode_or_to_verify(tamper):
    identity = new_identity()
    raw = sign(DOMAIN, _update(identity.address), identity.account).encode()
    try:
        envelope = decode(tamper(raw))
    except DecodeError:
        return
    assert envelope.signer() != identity.address
