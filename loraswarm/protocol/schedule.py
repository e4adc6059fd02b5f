"""A task's round schedule as the Coordinator keeps it, rebuilt from its parameters and its
PhaseEnded log: windows follow one another at full length (commit, reveal, seal = attest / 2,
open = the rest), and every early end moves every later window by the same amount.

Window ``w`` is ``round * 4 + phase`` (0 commit, 1 reveal, 2 seal, 3 open). An early end
``(w, begins)`` says window ``w`` began at ``begins``; windows after it follow at full length until
the next early end. A round's openings close one open window after its seal window ended, also
when the next round was started early (late openers keep their window).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

COMMIT, REVEAL, SEAL, OPEN = range(4)


@dataclass(frozen=True)
class Schedule:
    start: int
    commit_s: int
    reveal_s: int
    attest_s: int
    ends: tuple[tuple[int, int], ...] = ()  # (window, begins) of each early end, in order

    @property
    def period_s(self) -> int:
        return self.commit_s + self.reveal_s + self.attest_s

    def _offset(self, window: int) -> int:
        """Where ``window`` begins on the full-length schedule, from round 0's start."""
        into = (0, self.commit_s, self.commit_s + self.reveal_s, self.commit_s + self.reveal_s + self.attest_s // 2)
        return (window // 4) * self.period_s + into[window % 4]

    def begins(self, window: int) -> int:
        """When ``window`` begins: at full length from the latest early end at or before it."""
        found = bisect_right(self.ends, (window, float("inf")))
        anchor, at = self.ends[found - 1] if found else (0, self.start)
        return at + self._offset(window) - self._offset(anchor)

    def windows(self, round_: int) -> tuple[int, int, int, int]:
        """(commit start, commit end = reveal start, reveal end = seal start, openings' end)."""
        first = round_ * 4
        return (self.begins(first), self.begins(first + REVEAL), self.begins(first + SEAL),
                self.seal_end(round_) + self.attest_s - self.attest_s // 2)

    def seal_end(self, round_: int) -> int:
        """Seals go in before this time, openings after it."""
        return self.begins(round_ * 4 + OPEN)

    def round_at(self, timestamp: float) -> int:
        """The round whose windows contain ``timestamp`` (0 before the start); a finalized
        round's late openings belong to it, but the time to the next round once that began."""
        found = bisect_right([at for _, at in self.ends], timestamp)
        anchor, at = self.ends[found - 1] if found else (0, self.start)
        if timestamp < at:
            return 0
        return int((timestamp - at + self._offset(anchor)) // self.period_s)
