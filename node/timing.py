"""Seconds of work per protocol phase and round, as a node records them in its status
(``NodeStatus.timings``: round -> phase -> seconds): the phases' names, and the one helper that
times a block of work.

Only work is timed: a chain call, a fetch, a computation. Sleeping until a window opens, or between
polls, is not (windows are deadlines the task sets). Blocks of one phase that run at once (the
deltas prefetched as reveals arrive) count once, as the wall time during which at least one of
them ran; different phases may overlap (a prefetch runs in the background while the node reveals),
so their sum can exceed the wall time they took.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from enum import StrEnum


class Work(StrEnum):
    """A round's phases of work, in the order a node meets them."""

    GLOBAL_FETCH = "global fetch"  # a global adapter by hash: the start global, past globals, the new one
    TRAIN = "train"
    ENCODE = "encode"  # the delta to wire bytes, signed into an update
    COMMIT = "commit"  # the commit transaction
    COMMIT_READS = "commit reads"  # the round's commit logs (what the gossip edge lets through)
    REVEAL = "reveal"  # the reveal transaction
    PUBLISH = "publish"  # gossiping the own update
    PREFETCH = "prefetch"  # other peers' deltas, fetched as their reveals arrive (in the background)
    JUDGING_READS = "judging reads"  # chain reads of judging: pinned block, logs and state at it, past tuples
    DELTA_FETCH = "delta fetch"  # the revealed deltas at judging (from the store, or fetched once more)
    RESULT_FETCH = "result fetch"  # a finalized round's result document, fetched and verified
    DECODE = "decode"  # the revealed deltas from wire bytes
    VALIDATE = "validate"  # the validation pipeline
    AGGREGATE = "aggregate"  # the task's rule, the new global and its wire bytes
    INCENTIVES = "incentives"  # rewards, slashes and the result document
    SAVE = "save"  # the judgement kept: global and result blobs, report, journal
    SEAL = "seal"  # the sealed attestation transaction
    OPEN = "open"  # the opening transaction
    ANNOUNCE = "announce"  # gossiping the result note
    OUTCOME_READS = "outcome reads"  # the round's status and finalized tuple
    MARK_FAILED = "mark failed"  # the transaction recording a round without quorum
    CLAIM = "claim"  # reward and validator-share claims
    SLASH = "slash"  # slash leaves, dissenting or absent validators, equivocation reports
    ADOPT = "adopt"  # the new global kept and announced (validators)
    EVALUATE = "evaluate"  # held-out perplexity of the new global (monitoring)
    PERSONALIZE = "personalize"  # the personal adapter (off the critical path)


# Not protocol: nothing on chain or on the wire waits for them.
MONITORING: tuple[Work, ...] = (Work.EVALUATE, Work.PERSONALIZE)
PROTOCOL: tuple[Work, ...] = tuple(w for w in Work if w not in MONITORING)

Timed = Callable[[Work], AbstractContextManager[object]]


def untimed(_work: Work) -> AbstractContextManager[object]:
    return nullcontext()


class Clock:
    """Times blocks of work and hands each phase's seconds to ``add(round, work, seconds)``. Safe
    to use from worker threads; overlapping blocks of one phase and round count once."""

    def __init__(self, add: Callable[[int, Work, float], None],
                 now: Callable[[], float] = time.perf_counter) -> None:
        self._add = add
        self._now = now
        self._lock = threading.Lock()
        self._open: dict[tuple[int, Work], tuple[int, float]] = {}  # (round, work) -> (blocks running, since)

    @contextmanager
    def timed(self, round_: int, work: Work) -> Iterator[None]:
        key = (round_, work)
        with self._lock:
            running, since = self._open.get(key, (0, self._now()))
            self._open[key] = (running + 1, since)
        try:
            yield
        finally:
            with self._lock:
                running, since = self._open.pop(key)
                if running > 1:
                    self._open[key] = (running - 1, since)
                else:
                    self._add(round_, work, self._now() - since)

    def of_round(self, round_: int) -> Timed:
        """``timed`` for one round: what code that knows no round (the judge) is handed."""
        return lambda work: self.timed(round_, work)
