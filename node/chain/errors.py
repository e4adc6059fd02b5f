"""Errors of the chain client."""

from loraswarm.errors import LoraswarmError


class ChainRevert(LoraswarmError):
    """A transaction or call reverted; ``error`` is the contract's custom error name if known."""

    def __init__(self, purpose: str, error: str, detail: str = "") -> None:
        self.purpose = purpose
        self.error = error
        super().__init__(f"{purpose} reverted: {error}{f' ({detail})' if detail else ''}")


class RpcStalled(LoraswarmError):
    """The RPC endpoint stayed unreachable for longer than the caller allowed."""


class TransactionNotMined(LoraswarmError):
    """A sent transaction was not mined within the client's patience (RetryPolicy.mined_within_s)."""
