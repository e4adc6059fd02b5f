"""What a node shows of itself: the status file (the demo's live view, ``loraswarm node status``),
the Prometheus metrics and the log, kept together so that every phase change reaches all three.

The reporter lives on the node's trio thread. Chain worker threads never call into it: it polls
the chain client's outage clock instead (``watch``), so a stalled RPC shows in the status while
the node waits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import trio

from loraswarm.node.metrics import NodeMetrics
from loraswarm.node.state.phase import Phase
from loraswarm.node.state.store import StateStore
from loraswarm.node.status import NodeStatus
from loraswarm.node.timing import Clock, Work
from loraswarm.protocol.codes import Reason

logger = logging.getLogger("loraswarm.node")

WATCH_EVERY_S = 1.0


class Reporter:
    def __init__(self, status: NodeStatus, path: Path, store: StateStore, metrics: NodeMetrics) -> None:
        self.status = status
        self.path = path
        self.store = store
        self.metrics = metrics
        self.clock = Clock(lambda round_, work, seconds: status.add_time(round_, work.value, seconds))

    def phase(self, round_: int, phase: Phase, detail: str = "") -> None:
        """The node entered ``phase`` of ``round_`` (journaled: a restart reads it back)."""
        if round_ >= 0:
            self.store.set_phase(round_, phase)
        self.show(round_, phase.value, detail)

    def show(self, round_: int, what: str, detail: str = "") -> None:
        """Tell the operator what the node is doing, without changing the journaled phase."""
        self.status.round, self.status.phase, self.status.detail = round_, what, detail
        self.status.write(self.path)
        self.metrics.phase.set(round_)
        logger.info("round %d %s %s", round_, what, detail)

    def timed(self, round_: int, work: Work) -> AbstractContextManager[None]:
        """Add the wall time of a block of work to the round's timings in the status (node/timing.py)."""
        return self.clock.timed(round_, work)

    def gas(self, used: int) -> None:
        self.metrics.gas_spent.inc(max(used, 0))

    def verdict(self, reason: Reason) -> None:
        self.metrics.verdict(reason)

    def ppl(self, label: str, adapter: str, value: float) -> None:
        self.status.ppl[label] = value
        self.metrics.ppl.labels(adapter=adapter).set(value)

    async def watch(self, outage_s: Callable[[], float | None],
                    edge_verdicts: Callable[[], dict[Reason, int]]) -> None:
        """Forever: show a chain outage while it lasts, and export the edge's verdict counts."""
        shown = False
        while True:
            down = outage_s()
            if down is not None:
                self.status.detail = f"chain RPC unreachable for {down:.0f} s; retrying"
                self.status.write(self.path)
                shown = True
            elif shown:
                self.status.detail = ""
                self.status.write(self.path)
                shown = False
            for reason, count in edge_verdicts().items():
                self.metrics.edge_verdicts.labels(reason=reason.name).set(count)
            await trio.sleep(WATCH_EVERY_S)
