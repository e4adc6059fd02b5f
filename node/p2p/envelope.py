"""Signed announcements: EIP-712 typed data over an update (or a finalized global adapter),
encoded as canonical JSON so that one announcement has exactly one byte string.

The EIP-712 domain binds the chain id and the coordinator contract, the struct binds the task
and round: a signature cannot be replayed across chains, deployments, tasks or rounds.
"""

import functools
import json
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar

from eth_account.signers.local import LocalAccount
from eth_keys import KeyAPI
from eth_utils import is_checksum_address

from loraswarm.node.p2p.errors import DecodeError
from loraswarm.protocol import eip712, wire


def _hex32(value: bytes) -> str:
    return "0x" + value.hex()


@dataclass(frozen=True)
class Domain:
    chain_id: int
    coordinator: str  # checksummed address of the round coordinator contract

    def typed(self) -> dict[str, Any]:
        return {
            "name": wire.EIP712_NAME,
            "version": wire.EIP712_VERSION,
            "chainId": self.chain_id,
            "verifyingContract": self.coordinator,
        }


@dataclass(frozen=True)
class Update:
    """A revealed delta: what the peer trained, from which global, and the commitment salt."""

    PRIMARY: ClassVar[str] = "Update"
    TYPE: ClassVar[tuple[tuple[str, str], ...]] = wire.UPDATE_TYPE

    task_id: int
    round: int
    peer: str
    base_hash: bytes
    delta_hash: bytes
    delta_size: int
    sample_count: int
    codec_id: int
    salt: bytes

    @property
    def blob(self) -> tuple[bytes, int]:
        return self.delta_hash, self.delta_size


@dataclass(frozen=True)
class GlobalAdapter:
    """A finalized global adapter, mirrored from the chain for late joiners."""

    PRIMARY: ClassVar[str] = "GlobalAdapter"
    TYPE: ClassVar[tuple[tuple[str, str], ...]] = wire.GLOBAL_TYPE

    task_id: int
    round: int
    peer: str
    global_hash: bytes
    global_size: int

    @property
    def blob(self) -> tuple[bytes, int]:
        return self.global_hash, self.global_size


@dataclass(frozen=True)
class ResultNote:
    """Where a round's result document (verdicts, reward and slash leaves) can be fetched: its
    hash and size, announced by a validator once it opened its attestation."""

    PRIMARY: ClassVar[str] = "ResultNote"
    TYPE: ClassVar[tuple[tuple[str, str], ...]] = wire.RESULT_NOTE_TYPE

    task_id: int
    round: int
    peer: str
    result_hash: bytes
    result_size: int

    @property
    def blob(self) -> tuple[bytes, int]:
        return self.result_hash, self.result_size


Body = Update | GlobalAdapter | ResultNote
_BODIES: dict[str, type[Update] | type[GlobalAdapter] | type[ResultNote]] = {
    b.PRIMARY: b for b in (Update, GlobalAdapter, ResultNote)
}


def _snake_to_camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _message(body: Body) -> dict[str, Any]:
    return {_snake_to_camel(f.name): getattr(body, f.name) for f in fields(body)}


@dataclass(frozen=True)
class Envelope:
    domain: Domain
    body: Body
    signature: bytes

    def typed_data(self) -> dict[str, Any]:
        return typed_data(self.domain, self.body)

    @functools.cached_property
    def digest(self) -> bytes:
        """The EIP-712 hash that was signed: the envelope's identity for duplicate detection
        (loraswarm.protocol.eip712; tests check it equals the hash eth-account signs)."""
        body = self.body
        return eip712.digest(self.domain.chain_id, self.domain.coordinator, body.PRIMARY, body.TYPE,
                             [getattr(body, f.name) for f in fields(body)])

    def signer(self) -> str:
        """The address that produced the signature (raises on a malformed signature)."""
        v = self.signature[64]
        if v not in (27, 28):
            raise ValueError("signature v is not 27 or 28")
        signature = KeyAPI.Signature(
            vrs=(v - 27, int.from_bytes(self.signature[:32], "big"), int.from_bytes(self.signature[32:64], "big"))
        )
        return signature.recover_public_key_from_msg_hash(self.digest).to_checksum_address()

    def encode(self) -> bytes:
        doc = {
            "type": self.body.PRIMARY,
            "chainId": self.domain.chain_id,
            "coordinator": self.domain.coordinator,
            "message": {k: _hex32(v) if isinstance(v, bytes) else v for k, v in _message(self.body).items()},
            "signature": "0x" + self.signature.hex(),
        }
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def typed_data(domain: Domain, body: Body) -> dict[str, Any]:
    return {
        "types": {
            "EIP712Domain": [{"name": n, "type": t} for n, t in wire.EIP712_DOMAIN_TYPE],
            body.PRIMARY: [{"name": n, "type": t} for n, t in body.TYPE],
        },
        "primaryType": body.PRIMARY,
        "domain": domain.typed(),
        "message": _message(body),
    }


def sign(domain: Domain, body: Body, account: LocalAccount) -> Envelope:
    # Signing the EIP-712 digest directly is what sign_typed_data does after encoding; the
    # digest is tested against eth-account's own typed-data hash.
    unsigned = Envelope(domain=domain, body=body, signature=b"")
    signed = account.unsafe_sign_hash(unsigned.digest)
    return Envelope(domain=domain, body=body, signature=bytes(signed.signature))


def _field(solidity_type: str, value: Any) -> Any:
    if solidity_type == "bytes32":
        if not (isinstance(value, str) and value.startswith("0x") and len(value) == 66):
            raise DecodeError("bytes32 field is not 0x + 64 hex digits")
        return bytes.fromhex(value[2:])
    if solidity_type == "address":
        if not (isinstance(value, str) and is_checksum_address(value)):
            raise DecodeError("address field is not a checksummed address")
        return value
    bits = int(solidity_type.removeprefix("uint"))
    # bool is an int in Python: refuse it explicitly so `true` never reads as 1.
    if type(value) is not int or not 0 <= value < 2**bits:
        raise DecodeError(f"{solidity_type} field out of range")
    return value


def decode(data: bytes) -> Envelope:
    """Parse one envelope; anything but its canonical encoding is refused."""
    # eth-account imports py_ecc, which raises the recursion limit to 100000: deeply nested JSON
    # would then overflow the C stack instead of raising RecursionError. An envelope is one
    # object holding one object and no arrays, so refuse any other shape before parsing.
    if data.count(b"{") != 2 or b"[" in data:
        raise DecodeError("not shaped like an envelope")
    try:
        doc = json.loads(data)
        kind = _BODIES[doc["type"]]
        message = doc["message"]
        chain_id = _field("uint256", doc["chainId"])
        coordinator = _field("address", doc["coordinator"])
        signature = doc["signature"]
        if set(message) != {n for n, _ in kind.TYPE} or set(doc) != {
            "type", "chainId", "coordinator", "message", "signature",
        }:
            raise DecodeError("unexpected or missing fields")
        values = [_field(t, message[n]) for n, t in kind.TYPE]
        if not (isinstance(signature, str) and signature.startswith("0x") and len(signature) == 132):
            raise DecodeError("signature is not 65 hex bytes")
        envelope = Envelope(
            domain=Domain(chain_id=chain_id, coordinator=coordinator),
            body=kind(*values),
            signature=bytes.fromhex(signature[2:]),
        )
    except DecodeError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as error:
        raise DecodeError(str(error)) from error
    if envelope.encode() != data:
        raise DecodeError("not the canonical encoding")
    return envelope


def as_dict(envelope: Envelope) -> dict[str, Any]:
    """A JSON-friendly view for logs and control channels (hashes as 0x hex)."""
    body = {k: _hex32(v) if isinstance(v, bytes) else v for k, v in asdict(envelope.body).items()}
    return {"type": envelope.body.PRIMARY, "chain_id": envelope.domain.chain_id, **body}
