"""The node's durable state: one SQLite database in WAL mode.

Every fact that a restart needs is written before the action that depends on it: the salt and
content hash before the commit transaction, the signed raw transaction before it is broadcast
(so a restart re-broadcasts the SAME transaction instead of sending a second one), the claim
before it is sent. ``synchronous=FULL`` makes each commit durable at the cost of an fsync.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS commitments (
    round INTEGER PRIMARY KEY,
    content_hash TEXT NOT NULL,
    salt TEXT NOT NULL,
    commitment TEXT NOT NULL,
    sample_count INTEGER NOT NULL,
    base_hash TEXT NOT NULL,
    revealed INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS transactions (
    purpose TEXT PRIMARY KEY,
    nonce INTEGER NOT NULL,
    tx_hash TEXT NOT NULL,
    raw TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'sent',
    gas_used INTEGER
);
CREATE TABLE IF NOT EXISTS envelopes (
    round INTEGER NOT NULL,
    peer TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    body BLOB NOT NULL,
    received_at REAL NOT NULL,
    PRIMARY KEY (round, peer)
);
CREATE TABLE IF NOT EXISTS rounds (
    round INTEGER PRIMARY KEY,
    phase TEXT NOT NULL,
    global_hash TEXT,
    outcome TEXT
);
CREATE TABLE IF NOT EXISTS claims (
    round INTEGER NOT NULL,
    kind TEXT NOT NULL,
    amount TEXT NOT NULL,
    proof TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    PRIMARY KEY (round, kind)
);
CREATE TABLE IF NOT EXISTS known_peers (
    peer_id TEXT PRIMARY KEY,
    addrs TEXT NOT NULL,
    last_seen REAL NOT NULL
);
"""


@dataclass(frozen=True)
class Commitment:
    round: int
    content_hash: str
    salt: str
    commitment: str
    sample_count: int
    base_hash: str
    revealed: bool


@dataclass(frozen=True)
class SentTransaction:
    purpose: str
    nonce: int
    tx_hash: str
    raw: str
    status: str
    gas_used: int | None


@dataclass(frozen=True)
class Claim:
    round: int
    kind: str
    amount: int
    proof: list[str]
    status: str


class StateStore:
    """Thread-safe (one lock) access to the node's SQLite state."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)  # executescript manages its own transaction
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return list(self._db.execute(sql, args).fetchall())

    # meta ---------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        rows = self._query("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # commitments --------------------------------------------------------------------------
    def save_commitment(self, c: Commitment) -> None:
        """Insert once: a commitment, once made for a round, never changes (its salt is fixed)."""
        with self._tx() as db:
            db.execute(
                "INSERT OR IGNORE INTO commitments VALUES (?, ?, ?, ?, ?, ?, ?)",
                (c.round, c.content_hash, c.salt, c.commitment, c.sample_count, c.base_hash, int(c.revealed)),
            )

    def commitment(self, round_: int) -> Commitment | None:
        rows = self._query("SELECT * FROM commitments WHERE round = ?", (round_,))
        if not rows:
            return None
        r = rows[0]
        return Commitment(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6]))

    def mark_revealed(self, round_: int) -> None:
        with self._tx() as db:
            db.execute("UPDATE commitments SET revealed = 1 WHERE round = ?", (round_,))

    # transactions (journal: what was signed is what is re-sent) ---------------------------
    def record_transaction(self, purpose: str, nonce: int, tx_hash: str, raw: str) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO transactions (purpose, nonce, tx_hash, raw) VALUES (?, ?, ?, ?)",
                (purpose, nonce, tx_hash, raw),
            )

    def transaction(self, purpose: str) -> SentTransaction | None:
        rows = self._query("SELECT * FROM transactions WHERE purpose = ?", (purpose,))
        return SentTransaction(*rows[0]) if rows else None

    def finish_transaction(self, purpose: str, status: str, gas_used: int | None) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE transactions SET status = ?, gas_used = ? WHERE purpose = ?", (status, gas_used, purpose)
            )

    def pending_transactions(self) -> list[SentTransaction]:
        return [SentTransaction(*r) for r in self._query("SELECT * FROM transactions WHERE status = 'sent'")]

    def gas_spent(self) -> int:
        rows = self._query("SELECT COALESCE(SUM(gas_used), 0) FROM transactions")
        return int(rows[0][0])

    # envelopes ----------------------------------------------------------------------------
    def save_envelope(self, round_: int, peer: str, content_hash: str, body: bytes, received_at: float) -> bool:
        """Store the first envelope of a peer for a round; False if one was already stored."""
        with self._tx() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO envelopes VALUES (?, ?, ?, ?, ?)",
                (round_, peer, content_hash, body, received_at),
            )
            return cur.rowcount == 1

    def envelopes(self, round_: int) -> list[tuple[str, str, bytes]]:
        rows = self._query(
            "SELECT peer, content_hash, body FROM envelopes WHERE round = ? ORDER BY peer", (round_,)
        )
        return [(r[0], r[1], bytes(r[2])) for r in rows]

    # rounds -------------------------------------------------------------------------------
    def set_round(self, round_: int, phase: str, global_hash: str | None = None,
                  outcome: dict[str, Any] | None = None) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO rounds VALUES (?, ?, ?, ?) ON CONFLICT(round) DO UPDATE SET phase = excluded.phase,"
                " global_hash = COALESCE(excluded.global_hash, rounds.global_hash),"
                " outcome = COALESCE(excluded.outcome, rounds.outcome)",
                (round_, phase, global_hash, json.dumps(outcome) if outcome is not None else None),
            )

    def round_phase(self, round_: int) -> str | None:
        rows = self._query("SELECT phase FROM rounds WHERE round = ?", (round_,))
        return rows[0][0] if rows else None

    def round_outcome(self, round_: int) -> dict[str, Any] | None:
        rows = self._query("SELECT outcome FROM rounds WHERE round = ?", (round_,))
        return json.loads(rows[0][0]) if rows and rows[0][0] else None

    def round_phases(self) -> dict[int, str]:
        """Every round this node recorded, with its latest phase."""
        return {int(r): str(p) for r, p in self._query("SELECT round, phase FROM rounds")}

    def last_round(self) -> int | None:
        rows = self._query("SELECT MAX(round) FROM rounds")
        return rows[0][0]

    # claims -------------------------------------------------------------------------------
    def save_claim(self, round_: int, kind: str, amount: int, proof: list[str]) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR IGNORE INTO claims (round, kind, amount, proof) VALUES (?, ?, ?, ?)",
                (round_, kind, str(amount), json.dumps(proof)),
            )

    def set_claim_status(self, round_: int, kind: str, status: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE claims SET status = ? WHERE round = ? AND kind = ?", (status, round_, kind))

    def claims(self, status: str | None = None) -> list[Claim]:
        sql = "SELECT round, kind, amount, proof, status FROM claims"
        rows = self._query(sql + " WHERE status = ?", (status,)) if status else self._query(sql)
        return [Claim(r[0], r[1], int(r[2]), json.loads(r[3]), r[4]) for r in rows]

    # known peers --------------------------------------------------------------------------
    def remember_peer(self, peer_id: str, addrs: list[str], seen_at: float) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO known_peers VALUES (?, ?, ?)", (peer_id, json.dumps(addrs), seen_at))

    def known_peers(self) -> dict[str, list[str]]:
        rows = self._query("SELECT peer_id, addrs FROM known_peers ORDER BY last_seen DESC")
        return {r[0]: json.loads(r[1]) for r in rows}
