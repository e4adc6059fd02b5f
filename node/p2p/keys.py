"""One secp256k1 key for both identities: the Ethereum account signs envelopes and the libp2p
host uses the same key, so a gossip origin's peer id names its on-chain account."""

import os
from dataclasses import dataclass

import coincurve
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from libp2p.crypto.keys import KeyPair, KeyType, PublicKey
from libp2p.crypto.secp256k1 import create_new_key_pair
from libp2p.peer.id import ID

KEY_ENV = "LORASWARM_PEER_KEY"


@dataclass(frozen=True)
class PeerIdentity:
    account: LocalAccount
    key_pair: KeyPair

    @property
    def address(self) -> str:
        return self.account.address

    @property
    def peer_id(self) -> ID:
        return ID.from_pubkey(self.key_pair.public_key)

    def __repr__(self) -> str:  # never let the key reach a log line
        return f"PeerIdentity({self.address}, {self.peer_id})"


def identity_from_account(account: LocalAccount) -> PeerIdentity:
    """The daemon's way in: `identity_from_account(loraswarm.node.keys.load_account(path))`."""
    return PeerIdentity(account=account, key_pair=create_new_key_pair(bytes(account.key)))


def identity_from_key(private_key: bytes | str) -> PeerIdentity:
    return identity_from_account(Account.from_key(private_key))


def identity_from_env(var: str = KEY_ENV) -> PeerIdentity:
    return identity_from_key(os.environ[var])


def new_identity() -> PeerIdentity:
    return identity_from_key(Account.create().key)


def address_of_public_key(public_key: PublicKey) -> str | None:
    """The Ethereum address of a libp2p public key, or None if it is not secp256k1."""
    if public_key.get_type() != KeyType.Secp256k1:
        return None
    uncompressed = coincurve.PublicKey(public_key.to_bytes()).format(compressed=False)
    return to_checksum_address(keccak(uncompressed[1:])[-20:])


def address_of_peer_id(peer_id: ID) -> str | None:
    """The account behind a peer id whose key is inlined in it (all secp256k1 ids are)."""
    try:
        public_key = peer_id.extract_public_key()
    except Exception:  # an id that is not a valid multihash of a key
        return None
    return None if public_key is None else address_of_public_key(public_key)

