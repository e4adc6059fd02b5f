"""A node's status as a small JSON file in its data directory, rewritten atomically on every
change: the demo's live view and operators read it without talking to the node."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from loraswarm.files import write_atomic

# The node's trio thread and its chain-call worker threads (stall notices) both write the status;
# one at a time, so that an older snapshot never replaces a newer one.
_WRITE_LOCK = threading.Lock()


@dataclass
class NodeStatus:
    name: str
    address: str
    roles: list[str]
    behaviour: str
    round: int = -1
    phase: str = "starting"
    detail: str = ""
    committed: int = 0
    revealed: int = 0
    attested: int = 0
    claimed_rounds: int = 0
    rewards: int = 0
    ppl: dict[str, float] = field(default_factory=dict)  # "base", "global@r"
    verdicts: dict[str, str] = field(default_factory=dict)  # round -> own reason
    timings: dict[str, dict[str, float]] = field(default_factory=dict)  # round -> phase -> seconds of work
    updated_at: float = 0.0

    def add_time(self, round_: int, work: str, seconds: float) -> None:
        """Add seconds of work to a phase of a round (from the trio thread or a worker thread)."""
        with _WRITE_LOCK:
            spent = self.timings.setdefault(str(round_), {})
            spent[work] = spent.get(work, 0.0) + seconds

    def write(self, path: Path) -> None:
        with _WRITE_LOCK:
            self.updated_at = time.time()
            # not fsynced: a view, rewritten on every change
            write_atomic(path, json.dumps(asdict(self), sort_keys=True), durable=False)

    @classmethod
    def read(cls, path: Path) -> NodeStatus | None:
        try:
            data: dict[str, Any] = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
