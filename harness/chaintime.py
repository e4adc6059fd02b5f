"""Time travel and snapshots on development chains, for tests and benchmarks only.

The embedded chain (eth-tester) and the local testnets (anvil, hardhat) expose the same two
abilities through different doors: eth-tester through its Python object, the testnets through
``evm_*`` JSON-RPC methods. Production code never imports this module: nothing outside tests may
assume that time can be moved.
"""

from __future__ import annotations

from typing import Any

from web3 import EthereumTesterProvider, Web3


def _tester(w3: Web3) -> Any | None:
    provider = w3.provider
    return provider.ethereum_tester if isinstance(provider, EthereumTesterProvider) else None


def now(w3: Web3) -> int:
    """Timestamp of the latest block."""
    return int(w3.eth.get_block("latest")["timestamp"])


def travel_to(w3: Web3, timestamp: int) -> None:
    """Move the clock to ``timestamp`` (later than the latest block), so the next transactions
    run at or just after it."""
    tester = _tester(w3)
    if tester is not None:
        # eth-tester's pending block may already be ahead of the latest one; it refuses to go back.
        if timestamp > tester.get_block_by_number("pending")["timestamp"]:
            tester.time_travel(timestamp)
        return
    w3.provider.make_request("evm_setNextBlockTimestamp", [timestamp])
    w3.provider.make_request("evm_mine", [])


def advance(w3: Web3, seconds: int) -> None:
    """Mine a block ``seconds`` after the latest one."""
    travel_to(w3, now(w3) + seconds)


def snapshot(w3: Web3) -> Any:
    """Remember the chain state; ``revert`` goes back to it."""
    tester = _tester(w3)
    if tester is not None:
        return tester.take_snapshot()
    return w3.provider.make_request("evm_snapshot", [])["result"]


def revert(w3: Web3, snapshot_id: Any) -> None:
    """Go back to a snapshot (on anvil and hardhat a snapshot can be used once)."""
    tester = _tester(w3)
    if tester is not None:
        tester.revert_to_snapshot(snapshot_id)
        return
    if not w3.provider.make_request("evm_revert", [snapshot_id])["result"]:
        raise RuntimeError(f"the chain refused to revert to snapshot {snapshot_id}")
