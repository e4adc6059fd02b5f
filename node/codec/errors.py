"""The codec's one error type. Every rejection carries a protocol reason code, so the edge and the
validation pipeline can record why a delta was refused without parsing messages."""

from loraswarm.errors import LoraswarmError
from loraswarm.protocol.codes import Reason


class CodecError(LoraswarmError):
    """The bytes are not a well-formed delta of the task's adapter."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(f"{reason.name}: {message}")
        self.reason = reason
