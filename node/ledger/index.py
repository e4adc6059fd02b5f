"""Index a deployment's coordinator events into SQLite, by block range, behind a confirmation
depth. Re-running continues from the last indexed block; events are keyed by (block, log index)
so nothing is counted twice."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from web3 import Web3
from web3.contract import Contract

from loraswarm.evm.logs import LOG_RANGE_BLOCKS

EVENTS = ("TaskCreated", "PeerRegistered", "ValidatorRegistered", "ExitRequested", "ParticipantLeft",
          "UpdateCommitted", "Attested", "RoundFinalized", "RoundFailed", "RewardClaimed", "ValidatorRewardClaimed",
          "SlashExecuted", "EquivocationReported", "RoundSwept")

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    block INTEGER NOT NULL, log_index INTEGER NOT NULL, name TEXT NOT NULL,
    task INTEGER, round INTEGER, account TEXT, args TEXT NOT NULL, tx TEXT NOT NULL,
    PRIMARY KEY (block, log_index)
);
CREATE INDEX IF NOT EXISTS events_by_name ON events (name, task, round);
CREATE TABLE IF NOT EXISTS cursor (id INTEGER PRIMARY KEY CHECK (id = 0), block INTEGER NOT NULL);
"""

# The indexed address argument of each event, for per-account queries.
ACCOUNT_ARG = {"PeerRegistered": "account", "ValidatorRegistered": "account", "ExitRequested": "account",
               "ParticipantLeft": "account", "UpdateCommitted": "peer", "Attested": "validator",
               "RewardClaimed": "account", "ValidatorRewardClaimed": "validator", "SlashExecuted": "account",
               "EquivocationReported": "peer"}


@dataclass(frozen=True)
class Event:
    block: int
    log_index: int
    name: str
    task: int | None
    round: int | None
    account: str | None
    args: dict[str, Any]
    tx: str  # the transaction that emitted it, 0x-hex


def _plain(value: Any) -> Any:
    """JSON-ready event arguments (a struct argument, such as TaskCreated's params, nests)."""
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):  # web3's AttributeDict too
        return {k: _plain(v) for k, v in value.items()}
    return value


class LedgerIndex:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # The web page serves from worker threads; it serialises access with a lock.
        self.db = sqlite3.connect(path, check_same_thread=False)
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(events)")}
        if columns and "tx" not in columns:  # an index from before transactions were kept: rebuild it
            self.db.executescript("DROP TABLE events; DROP TABLE IF EXISTS cursor;")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def cursor_block(self) -> int | None:
        row = self.db.execute("SELECT block FROM cursor WHERE id = 0").fetchone()
        return int(row[0]) if row else None

    def sync(self, w3: Web3, coordinator: Contract, from_block: int, confirmations: int = 0) -> int:
        """Index new events up to head - confirmations; return the number of events added."""
        head = int(w3.eth.block_number) - confirmations
        cursor = self.cursor_block()
        start = from_block if cursor is None else max(from_block, cursor + 1)
        added = 0
        while start <= head:
            end = min(head, start + LOG_RANGE_BLOCKS - 1)
            rows = []
            for name in EVENTS:
                for log in coordinator.events[name]().get_logs(from_block=start, to_block=end):
                    args = {k: _plain(v) for k, v in log["args"].items()}
                    account = args.get(ACCOUNT_ARG.get(name, ""))
                    rows.append((int(log["blockNumber"]), int(log["logIndex"]), name, args.get("taskId"),
                                 args.get("round"), account.lower() if account else None, json.dumps(args),
                                 "0x" + bytes(log["transactionHash"]).hex()))
            with self.db:
                cur = self.db.executemany("INSERT OR IGNORE INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
                added += cur.rowcount
                self.db.execute("INSERT OR REPLACE INTO cursor VALUES (0, ?)", (end,))
            start = end + 1
        return added

    def events(self, name: str | None = None, task: int | None = None, round_: int | None = None,
               account: str | None = None) -> Iterator[Event]:
        sql = "SELECT block, log_index, name, task, round, account, args, tx FROM events WHERE 1=1"
        args: list[Any] = []
        for column, value in (("name", name), ("task", task), ("round", round_),
                              ("account", account.lower() if account else None)):
            if value is not None:
                sql += f" AND {column} = ?"
                args.append(value)
        for row in self.db.execute(sql + " ORDER BY block, log_index", args):
            yield Event(row[0], row[1], row[2], row[3], row[4], row[5], json.loads(row[6]), row[7])
