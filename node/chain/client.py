"""A web3.py client for one node account: signed sends that survive a crash, retried reads.

Sends are journaled: the signed raw transaction is stored under a *purpose* key (e.g.
``commit:7``) before it is broadcast. A restart that finds the purpose already journaled
re-broadcasts the same bytes (same nonce, same hash) and waits for that receipt, so a
``kill -9`` between broadcast and receipt can never produce a second transaction.
An RPC outage makes every call wait and retry with capped exponential backoff; it never
crashes the node. How long the current outage has lasted is a thread-safe read (``outage_s``):
the node's reporter polls it, so no worker thread ever calls back into the node.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract.contract import ContractFunction
from web3.exceptions import (
    ContractCustomError,
    ContractLogicError,
    TimeExhausted,
    TransactionNotFound,
    Web3RPCError,
)
from web3.types import BlockIdentifier

from loraswarm.node.chain.errors import ChainRevert, RpcStalled, TransactionNotMined
from loraswarm.node.chain.reverts import revert_name
from loraswarm.node.faults import crash_point
from loraswarm.node.state.store import StateStore

T = TypeVar("T")
logger = logging.getLogger(__name__)

STALL_LOG_EVERY_S = 5.0
TRANSIENT = (requests.exceptions.ConnectionError, requests.exceptions.Timeout, ConnectionError, TimeoutError, OSError)


@dataclass(frozen=True)
class RetryPolicy:
    first_wait_s: float = 0.2
    max_wait_s: float = 5.0
    give_up_after_s: float = float("inf")  # the node waits out any outage by default
    receipt_timeout_s: float = 120.0
    # A transaction the chain has not mined this long after it was first sent (re-broadcast all the
    # while) stops the node with TransactionNotMined: a nonce gap or a fee the chain refuses will
    # not heal by waiting, and the journal lets a restart pick the transaction up again.
    mined_within_s: float = 1_800.0


@dataclass(frozen=True)
class BlockHeader:
    number: int
    timestamp: int


@dataclass(frozen=True)
class Receipt:
    purpose: str
    tx_hash: str
    block: int
    gas_used: int


class ChainClient:
    def __init__(self, w3: Web3, account: LocalAccount, store: StateStore, selectors: dict[str, str],
                 retry: RetryPolicy | None = None) -> None:
        self.w3 = w3
        self.account = account
        self.address = account.address
        self.store = store
        self.selectors = selectors
        self.retry = retry or RetryPolicy()
        self._outage_lock = threading.Lock()
        # From reading the pending nonce to the first broadcast: a validator's chores send while
        # its round goes on, and two transactions built at once would take the same nonce.
        self._send_lock = threading.Lock()
        self._down_since: float | None = None  # first failure of the current outage, any call
        self._noticed = -math.inf
        self.chain_id = self.with_retry(lambda: int(w3.eth.chain_id))

    def with_retry(self, fn: Callable[[], T]) -> T:
        """Run a read (or broadcast) and retry transport failures with capped backoff."""
        wait = self.retry.first_wait_s
        started = time.monotonic()
        while True:
            try:
                result = fn()
            except TRANSIENT as exc:
                stalled = time.monotonic() - started
                if stalled > self.retry.give_up_after_s:
                    raise RpcStalled(f"RPC unreachable for {stalled:.0f} s: {exc}") from exc
                self._outage_begins()
                time.sleep(wait)
                wait = min(wait * 2, self.retry.max_wait_s)
            else:
                if self._down_since is not None:  # unlocked read: most calls see no outage
                    with self._outage_lock:
                        self._down_since = None
                return result

    def _outage_begins(self) -> None:
        """Start the outage clock (shared by every call of the node) and log it at most every
        STALL_LOG_EVERY_S, however many calls wait."""
        now = time.monotonic()
        with self._outage_lock:
            if self._down_since is None:
                self._down_since, self._noticed = now, -math.inf
            if now - self._noticed < STALL_LOG_EVERY_S:
                return
            self._noticed = now
            down = now - self._down_since
        logger.warning("chain RPC unreachable for %.0f s; retrying", down)

    def outage_s(self) -> float | None:
        """Seconds the chain RPC has been unreachable, None when it answers."""
        with self._outage_lock:
            return None if self._down_since is None else time.monotonic() - self._down_since

    def call(self, fn: ContractFunction, purpose: str = "call", block: BlockIdentifier = "latest") -> Any:
        try:
            return self.with_retry(lambda: fn.call(block_identifier=block))
        except (ContractCustomError, ContractLogicError) as exc:
            raise ChainRevert(purpose, revert_name(exc.data, self.selectors)) from exc

    def send(self, purpose: str, fn: ContractFunction, gas: int | None = None) -> Receipt:
        """Send once per purpose; after a crash, finish the journaled transaction instead."""
        journaled = self.store.transaction(purpose)
        if journaled is not None:
            if journaled.status == "mined":
                return Receipt(purpose, journaled.tx_hash, -1, journaled.gas_used or 0)
            return self._finish(purpose, journaled.tx_hash, journaled.raw)
        with self._send_lock:
            try:
                tx = self.with_retry(lambda: fn.build_transaction({
                    "from": self.address,
                    "nonce": self.w3.eth.get_transaction_count(self.address, "pending"),
                    "chainId": self.chain_id,
                }))
            except (ContractCustomError, ContractLogicError) as exc:
                # estimate_gas ran the call: it would revert, so nothing is sent and nothing is spent.
                raise ChainRevert(purpose, revert_name(exc.data, self.selectors)) from exc
            # A margin over the estimate: state can change before inclusion (e.g. another validator's
            # attestation lands first and ours becomes the one that finalizes, which costs more).
            tx["gas"] = gas if gas is not None else int(tx["gas"]) * 2 + 100_000
            signed = self.account.sign_transaction(tx)
            raw = "0x" + bytes(signed.raw_transaction).hex()
            tx_hash = "0x" + bytes(signed.hash).hex()
            self.store.record_transaction(purpose, int(tx["nonce"]), tx_hash, raw)
            self.with_retry(lambda: self._broadcast(raw))
        crash_point(f"sent:{purpose}")
        return self._finish(purpose, tx_hash, raw)

    def _broadcast(self, raw: str) -> None:
        try:
            self.w3.eth.send_raw_transaction(raw)
        # The chain already has it (a re-broadcast after a crash, or while it waits) or mined it:
        # eth-tester says so with a ValueError, a JSON-RPC node with a Web3RPCError.
        except (ValueError, Web3RPCError) as exc:
            message = str(exc).lower()
            if "already" not in message and "nonce too low" not in message and "known" not in message:
                raise

    def _finish(self, purpose: str, tx_hash: str, raw: str) -> Receipt:
        # Broadcast again whenever the receipt does not come: a restarted or reorganised chain
        # may have dropped the transaction; the same signed bytes can never be mined twice.
        deadline = time.monotonic() + self.retry.mined_within_s
        while (receipt := self.with_retry(lambda: self._receipt_or_none(tx_hash))) is None:
            if time.monotonic() > deadline:
                raise TransactionNotMined(f"{purpose}: transaction {tx_hash} not mined within "
                                          f"{self.retry.mined_within_s:.0f} s (journaled; a restart sends it again)")
            self.with_retry(lambda: self._broadcast(raw))
            crash_point(f"sent:{purpose}")
            if (receipt := self.with_retry(lambda: self._wait(tx_hash))) is not None:
                break
        status = "mined" if receipt["status"] == 1 else "reverted"
        self.store.finish_transaction(purpose, status, int(receipt["gasUsed"]))
        if status == "reverted":
            raise ChainRevert(purpose, self._mined_revert(tx_hash, int(receipt["blockNumber"])), tx_hash)
        return Receipt(purpose, tx_hash, int(receipt["blockNumber"]), int(receipt["gasUsed"]))

    def _mined_revert(self, tx_hash: str, block: int) -> str:
        """Why a mined transaction reverted: its call replayed on the state its block left. That
        names the usual cause, a transaction earlier in the block (e.g. another validator
        executed the same slash first); a revert that depended on its own position may replay
        cleanly, and then only "reverted on chain" is known."""
        try:
            tx = self.w3.eth.get_transaction(tx_hash)
            self.w3.eth.call({"from": tx["from"], "to": tx["to"], "data": tx["input"], "value": tx["value"]},
                             block_identifier=block)
        except (ContractCustomError, ContractLogicError) as exc:
            return f"{revert_name(exc.data, self.selectors)} (mined)"
        except TRANSIENT:
            pass  # the reason is a courtesy: the receipt already says it failed
        return "reverted on chain"

    def _receipt_or_none(self, tx_hash: str) -> Any:
        try:
            return self.w3.eth.get_transaction_receipt(tx_hash)
        except TransactionNotFound:
            return None

    def _wait(self, tx_hash: str) -> Any:
        try:
            return self.w3.eth.wait_for_transaction_receipt(
                tx_hash, timeout=self.retry.receipt_timeout_s, poll_latency=0.05
            )
        except TimeExhausted:
            return None

    def block_timestamp(self) -> int:
        return self.block(None).timestamp

    def block(self, number: int | None) -> BlockHeader:
        """A block's number and timestamp (None: the latest)."""
        block = self.with_retry(lambda: self.w3.eth.get_block("latest" if number is None else number))
        return BlockHeader(int(block["number"]), int(block["timestamp"]))
