"""Errors of the p2p layer. Each carries the protocol reason code that the counters and the
ledger use, so callers never parse messages."""

from loraswarm.errors import LoraswarmError
from loraswarm.protocol.codes import Reason


class P2PError(LoraswarmError):
    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(f"{reason.name}: {message}")
        self.reason = reason


class DecodeError(P2PError):
    """The bytes are not one canonical, well-typed envelope."""

    def __init__(self, message: str) -> None:
        super().__init__(Reason.BAD_ENCODING, message)


class HashMismatch(P2PError):
    """The bytes do not hash to the name they were offered under."""

    def __init__(self, message: str) -> None:
        super().__init__(Reason.HASH_MISMATCH, message)


class PublishRefused(P2PError):
    """Our own announcement failed the edge checks every peer will apply to it (a second
    update in one round, a round outside the window, a key not registered yet)."""


class BlobUnavailable(P2PError):
    """No provider delivered bytes that hash to the requested name."""

    def __init__(self, message: str) -> None:
        # not a verdict on anyone: each provider's failure was counted on its own
        super().__init__(Reason.ACCEPTED, message)
