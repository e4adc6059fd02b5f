"""Peer keys: encrypted eth-account keystore files (the Web3 Secret Storage format).

One secp256k1 key is a peer's identity on chain and, through libp2p's secp256k1 support, on the
gossip network. Private keys never reach a log line: only addresses are printed.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from loraswarm.errors import LoraswarmError
from loraswarm.files import write_atomic

PASSWORD_ENV = "LORASWARM_PASSWORD"


class KeystoreError(LoraswarmError):
    """A keystore file is missing, malformed, or the password is wrong."""


@dataclass(frozen=True)
class KeyFile:
    path: Path
    address: str


def _to_checksum(address: str) -> str:
    return to_checksum_address("0x" + address.removeprefix("0x"))


def write_key(account: LocalAccount, directory: Path, password: str, kdf: str = "scrypt") -> KeyFile:
    if not password:
        raise KeystoreError("refusing to write a keystore with an empty password")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{account.address.lower()}.json"
    if path.exists():
        raise KeystoreError(f"a keystore for {account.address} already exists at {path}")
    encrypted = Account.encrypt(account.key, password, kdf=kdf)
    write_atomic(path, json.dumps(encrypted))  # mode 0600
    return KeyFile(path, account.address)


def new_key(directory: Path, password: str, kdf: str = "scrypt") -> KeyFile:
    return write_key(Account.create(), directory, password, kdf)


def import_key(private_key: str, directory: Path, password: str, kdf: str = "scrypt") -> KeyFile:
    try:
        account = Account.from_key(private_key)
    except (ValueError, TypeError):
        raise KeystoreError("not a valid secp256k1 private key") from None
    return write_key(account, directory, password, kdf)


def list_keys(directory: Path) -> list[KeyFile]:
    keys = []
    for path in sorted(directory.glob("*.json")):
        try:
            address = json.loads(path.read_text())["address"]
        except (json.JSONDecodeError, KeyError, TypeError):
            continue
        keys.append(KeyFile(path, _to_checksum(address)))
    return keys


def load_account(path: Path, password: str | None = None) -> LocalAccount:
    """Decrypt a keystore; the password comes from the argument or LORASWARM_PASSWORD."""
    password = password if password is not None else os.environ.get(PASSWORD_ENV)
    if password is None:
        raise KeystoreError(f"no password for {path}: set {PASSWORD_ENV} or pass one")
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise KeystoreError(f"keystore {path} not found") from None
    except json.JSONDecodeError as exc:
        raise KeystoreError(f"keystore {path} is not JSON: {exc}") from None
    try:
        return Account.from_key(Account.decrypt(data, password))
    except ValueError:
        raise KeystoreError(f"wrong password for keystore {path}") from None
