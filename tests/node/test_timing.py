"""The node's timing helper (node/timing.py): what a block of work adds to a round's timings, and
that its phases are named in one place (the status and the round benchmark read them)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from loraswarm.node.metrics import NodeMetrics
from loraswarm.node.reporter import Reporter
from loraswarm.node.state.store import StateStore
from loraswarm.node.status import NodeStatus
from loraswarm.node.timing import MONITORING, PROTOCOL, Clock, Work, untimed


class Ticks:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def clock_with(ticks: Ticks) -> tuple[Clock, dict[tuple[int, Work], float]]:
    spent: dict[tuple[int, Work], float] = {}

    def add(round_: int, work: Work, seconds: float) -> None:
        spent[(round_, work)] = spent.get((round_, work), 0.0) + seconds

    return Clock(add, ticks), spent


def test_blocks_of_a_phase_add_up_per_round_and_phases_stay_apart() -> None:
    ticks = Ticks()
    clock, spent = clock_with(ticks)
    for round_, work, seconds in ((0, Work.SEAL, 1.5), (0, Work.SEAL, 0.5), (0, Work.OPEN, 2.0), (1, Work.SEAL, 3.0)):
        with clock.timed(round_, work):
            ticks.now += seconds
    assert spent == {(0, Work.SEAL): 2.0, (0, Work.OPEN): 2.0, (1, Work.SEAL): 3.0}


def test_overlapping_blocks_of_one_phase_count_their_wall_time_once() -> None:
    """Prefetches run at once: from the first one's start to the last one's end, not the sum."""
    ticks = Ticks()
    clock, spent = clock_with(ticks)
    first, second = clock.timed(0, Work.PREFETCH), clock.timed(0, Work.PREFETCH)
    first.__enter__()
    ticks.now = 1.0
    second.__enter__()
    ticks.now = 3.0
    first.__exit__(None, None, None)
    assert spent == {}  # one is still running
    ticks.now = 4.0
    second.__exit__(None, None, None)
    with clock.timed(0, Work.PREFETCH):  # a later one adds to it
        ticks.now = 4.5
    assert spent == {(0, Work.PREFETCH): 4.5}


def test_a_block_that_raises_is_timed_and_the_error_passes() -> None:
    ticks = Ticks()
    clock, spent = clock_with(ticks)
    with pytest.raises(RuntimeError), clock.timed(2, Work.CLAIM):
        ticks.now = 0.25
        raise RuntimeError("reverted")
    assert spent == {(2, Work.CLAIM): 0.25}


def test_a_round_s_clock_times_code_that_knows_no_round_and_untimed_times_nothing() -> None:
    ticks = Ticks()
    clock, spent = clock_with(ticks)
    timed = clock.of_round(7)
    with timed(Work.VALIDATE):
        ticks.now = 1.0
    with untimed(Work.VALIDATE):
        ticks.now = 5.0
    assert spent == {(7, Work.VALIDATE): 1.0}


def test_worker_threads_time_into_the_status_under_its_lock(tmp_path: Path) -> None:
    status = NodeStatus("n", "0x" + "00" * 20, ["validator"], "honest")
    reporter = Reporter(status, tmp_path / "status.json", StateStore(tmp_path / "state.sqlite"), NodeMetrics())

    def work() -> None:
        for _ in range(200):
            with reporter.timed(3, Work.DECODE):
                pass

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for _ in range(50):
        status.write(tmp_path / "status.json")  # the trio thread writes meanwhile
    for t in threads:
        t.join()
    status.write(tmp_path / "status.json")
    read = NodeStatus.read(tmp_path / "status.json")
    assert read is not None and set(read.timings) == {"3"} and set(read.timings["3"]) == {"decode"}
    assert read.timings["3"]["decode"] >= 0.0


def test_every_phase_is_protocol_or_monitoring_and_named_once() -> None:
    assert set(PROTOCOL) | set(MONITORING) == set(Work) and not set(PROTOCOL) & set(MONITORING)
    assert len({w.value for w in Work}) == len(Work)
    assert Work.TRAIN in PROTOCOL and Work.EVALUATE in MONITORING
