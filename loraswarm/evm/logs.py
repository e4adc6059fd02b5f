"""Event logs read the way public RPC endpoints serve them: a bounded block range per request.

Providers refuse an ``eth_getLogs`` over more than a few thousand blocks (10,000 is common, some
allow fewer) or with too many results; a query from a contract's deployment block to the head
works on a local chain and fails on a public one within hours of deployment (minutes on a fast
L2), and every restart fails the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# Blocks per eth_getLogs request: under every cap we know of.
LOG_RANGE_BLOCKS = 2_000
# A reader that reads on from a cursor reads this many blocks before it again: an endpoint whose
# log index lags its head by a block or two (load-balanced providers do), or a short reorg, would
# otherwise hide an event from it for good.
LOG_REREAD_BLOCKS = 64


def reread_from(cursor: int, last: int, floor: int) -> int:
    """Where a cursor's next read of blocks up to ``last`` starts: at the cursor, or earlier to
    cover the last LOG_REREAD_BLOCKS blocks again; never before ``floor``."""
    return max(floor, min(cursor, last + 1 - LOG_REREAD_BLOCKS))


def logs_between(event: Any, first: int, last: int, filters: dict[str, Any] | None = None,
                 attempt: Callable[[Callable[[], list[Any]]], list[Any]] = lambda ask: ask()) -> list[Any]:
    """The logs of a contract event (``contract.events.X()``) in blocks ``first``..``last``
    inclusive, in chain order, asked for LOG_RANGE_BLOCKS blocks at a time; ``attempt`` runs each
    request (a retrying one repeats that request, not the ones before it)."""
    found: list[Any] = []
    for start in range(first, last + 1, LOG_RANGE_BLOCKS):
        end = min(last, start + LOG_RANGE_BLOCKS - 1)
        found.extend(attempt(lambda start=start, end=end: event.get_logs(
            from_block=start, to_block=end, argument_filters=filters or {})))
    return found
