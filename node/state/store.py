"""The node's durable state: one SQLite database in WAL mode, with one typed method per fact.

Every fact that a restart needs is written before the action that depends on it: the signed
update before the commit transaction (a restart reveals the SAME bytes it committed to), the
signed raw transaction before it is broadcast (a restart re-broadcasts it, never a second one),
the attested tuple and its salt before the seal (a restart opens the seal it made), the claim
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

from loraswarm.errors import LoraswarmError
from loraswarm.node.state.phase import Phase

SCHEMA_VERSION = 2
# Distinct signed updates kept per (round, peer): one opens the peer's commitment, a second one is
# equivocation evidence; more add nothing and only cost space.
MAX_UPDATES_PER_PEER = 4

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS commitments (
    round INTEGER PRIMARY KEY,
    envelope BLOB NOT NULL,
    digest TEXT NOT NULL,
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
    digest TEXT NOT NULL,
    body BLOB NOT NULL,
    received_at REAL NOT NULL,
    PRIMARY KEY (round, peer, digest)
);
CREATE TABLE IF NOT EXISTS rounds (
    round INTEGER PRIMARY KEY,
    phase TEXT NOT NULL,
    start_global TEXT,
    global_hash TEXT,
    outcome TEXT,
    evaluated INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS attestations (
    round INTEGER PRIMARY KEY,
    tuple TEXT NOT NULL,
    salt TEXT NOT NULL,
    result_hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS claims (
    round INTEGER NOT NULL,
    kind TEXT NOT NULL,
    amount TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    detail TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (round, kind)
);
CREATE TABLE IF NOT EXISTS base_ppl (key TEXT PRIMARY KEY, ppl REAL NOT NULL);
"""


class StateVersionError(LoraswarmError):
    """The data directory was written by another version of the node."""


@dataclass(frozen=True)
class OwnUpdate:
    """This node's signed update of a round: its digest is the on-chain commitment."""

    round: int
    envelope: bytes
    digest: str
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
class SavedAttestation:
    """What a validator sealed: the tuple (acceptedRoot, globalHash, rewardsRoot, slashRoot as 0x hex,
    peerPool as an int), the salt, and the hash of the result document behind the tuple."""

    round: int
    tuple: tuple[str, str, str, str, int]
    salt: str
    result_hash: str


@dataclass(frozen=True)
class ClaimRecord:
    round: int
    kind: str  # "reward" (peer, Merkle) or "validator" (claimValidator)
    amount: int
    status: str  # pending, claimed, refused
    detail: str


@dataclass(frozen=True)
class RoundRecord:
    round: int
    phase: Phase
    start_global: str | None
    global_hash: str | None
    outcome: dict[str, Any] | None
    evaluated: bool  # the node measured the round's global (and made its personal adapter)


# The journal's name in a node's data_dir.
STATE_FILE = "state.sqlite"


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
        version = self._query("SELECT value FROM meta WHERE key = 'schema'")[0][0]
        if version != str(SCHEMA_VERSION):
            self.close()
            raise StateVersionError(f"{path} holds state schema {version}, this node writes {SCHEMA_VERSION}: "
                                    "start it with a new data_dir")

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

    # the task's base model: what every adapter in this data_dir applies to ---------------------
    def save_base_model(self, model_hash: str) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES ('base_model', ?)", (model_hash,))

    def base_model(self) -> str | None:
        rows = self._query("SELECT value FROM meta WHERE key = 'base_model'")
        return str(rows[0][0]) if rows else None

    # own update (its digest is the commitment) ------------------------------------------------
    def save_own_update(self, round_: int, envelope: bytes, digest: str) -> None:
        """Insert once: the update committed to in a round never changes."""
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO commitments (round, envelope, digest) VALUES (?, ?, ?)",
                       (round_, envelope, digest))

    def own_update(self, round_: int) -> OwnUpdate | None:
        rows = self._query("SELECT round, envelope, digest, revealed FROM commitments WHERE round = ?", (round_,))
        return OwnUpdate(rows[0][0], bytes(rows[0][1]), rows[0][2], bool(rows[0][3])) if rows else None

    def mark_revealed(self, round_: int) -> None:
        with self._tx() as db:
            db.execute("UPDATE commitments SET revealed = 1 WHERE round = ?", (round_,))

    # transactions (journal: what was signed is what is re-sent) ------------------------------
    def record_transaction(self, purpose: str, nonce: int, tx_hash: str, raw: str) -> None:
        with self._tx() as db:
            db.execute("INSERT INTO transactions (purpose, nonce, tx_hash, raw) VALUES (?, ?, ?, ?)",
                       (purpose, nonce, tx_hash, raw))

    def transaction(self, purpose: str) -> SentTransaction | None:
        rows = self._query("SELECT * FROM transactions WHERE purpose = ?", (purpose,))
        return SentTransaction(*rows[0]) if rows else None

    def finish_transaction(self, purpose: str, status: str, gas_used: int | None) -> None:
        with self._tx() as db:
            db.execute("UPDATE transactions SET status = ?, gas_used = ? WHERE purpose = ?",
                       (status, gas_used, purpose))

    def gas_spent(self) -> int:
        return int(self._query("SELECT COALESCE(SUM(gas_used), 0) FROM transactions")[0][0])

    # envelopes of other peers -----------------------------------------------------------------
    def save_envelope(self, round_: int, peer: str, digest: str, body: bytes, received_at: float) -> bool:
        """Keep a peer's signed update of a round (up to MAX_UPDATES_PER_PEER distinct ones);
        False if it was known or the peer's slots are full."""
        with self._tx() as db:
            held = db.execute("SELECT COUNT(*) FROM envelopes WHERE round = ? AND peer = ?",
                              (round_, peer)).fetchone()[0]
            if held >= MAX_UPDATES_PER_PEER:
                return False
            cur = db.execute("INSERT OR IGNORE INTO envelopes VALUES (?, ?, ?, ?, ?)",
                             (round_, peer, digest, body, received_at))
            return cur.rowcount == 1

    def envelopes(self, round_: int, peer: str | None = None) -> list[tuple[str, str, bytes]]:
        """(peer, digest, body) of every update held for the round (of one peer, if given), in a
        canonical order."""
        sql = "SELECT peer, digest, body FROM envelopes WHERE round = ?"
        rows = self._query(sql + " ORDER BY peer, digest", (round_,)) if peer is None else self._query(
            sql + " AND peer = ? ORDER BY digest", (round_, peer))
        return [(r[0], r[1], bytes(r[2])) for r in rows]

    # rounds -----------------------------------------------------------------------------------
    def set_phase(self, round_: int, phase: Phase) -> None:
        with self._tx() as db:
            db.execute("INSERT INTO rounds (round, phase) VALUES (?, ?) "
                       "ON CONFLICT(round) DO UPDATE SET phase = excluded.phase", (round_, phase.value))

    def finish_round(self, round_: int, phase: Phase, outcome: dict[str, Any],
                     global_hash: str | None = None) -> None:
        with self._tx() as db:
            db.execute("INSERT INTO rounds (round, phase, global_hash, outcome) VALUES (?, ?, ?, ?) "
                       "ON CONFLICT(round) DO UPDATE SET phase = excluded.phase, outcome = excluded.outcome, "
                       "global_hash = COALESCE(excluded.global_hash, rounds.global_hash)",
                       (round_, phase.value, global_hash, json.dumps(outcome)))

    def start_global(self, round_: int, latest: str) -> str:
        """The global adapter a round trains from: ``latest`` the first time it is asked, the same
        hash ever after (a node resuming a finalized round must not take the round's own result)."""
        with self._tx() as db:
            db.execute("INSERT INTO rounds (round, phase, start_global) VALUES (?, ?, ?) ON CONFLICT(round) "
                       "DO UPDATE SET start_global = COALESCE(rounds.start_global, excluded.start_global)",
                       (round_, Phase.WAITING.value, latest))
            return str(db.execute("SELECT start_global FROM rounds WHERE round = ?", (round_,)).fetchone()[0])

    def round(self, round_: int) -> RoundRecord | None:
        rows = self._query(_ROUND_COLUMNS + " WHERE round = ?", (round_,))
        return _round_record(rows[0]) if rows else None

    def rounds(self) -> list[RoundRecord]:
        return [_round_record(r) for r in self._query(_ROUND_COLUMNS + " ORDER BY round")]

    def mark_evaluated(self, round_: int) -> None:
        with self._tx() as db:
            db.execute("UPDATE rounds SET evaluated = 1 WHERE round = ?", (round_,))

    # attestations -----------------------------------------------------------------------------
    def save_attestation(self, saved: SavedAttestation) -> None:
        """Insert once: a seal can only ever be opened with the tuple and salt it was made of."""
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO attestations VALUES (?, ?, ?, ?)",
                       (saved.round, json.dumps(list(saved.tuple)), saved.salt, saved.result_hash))

    def attestation(self, round_: int) -> SavedAttestation | None:
        rows = self._query("SELECT round, tuple, salt, result_hash FROM attestations WHERE round = ?", (round_,))
        if not rows:
            return None
        accepted, global_, rewards, slashes, pool = json.loads(rows[0][1])
        return SavedAttestation(rows[0][0], (accepted, global_, rewards, slashes, int(pool)), rows[0][2], rows[0][3])

    # claims -----------------------------------------------------------------------------------
    def save_claim(self, round_: int, kind: str, amount: int) -> None:
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO claims (round, kind, amount) VALUES (?, ?, ?)",
                       (round_, kind, str(amount)))

    def finish_claim(self, round_: int, kind: str, status: str, detail: str = "") -> None:
        with self._tx() as db:
            db.execute("UPDATE claims SET status = ?, detail = ? WHERE round = ? AND kind = ?",
                       (status, detail, round_, kind))

    def claims(self) -> list[ClaimRecord]:
        rows = self._query("SELECT round, kind, amount, status, detail FROM claims ORDER BY round, kind")
        return [ClaimRecord(r[0], r[1], int(r[2]), r[3], r[4]) for r in rows]

    # the base model's held-out perplexity -----------------------------------------------------
    def base_ppl(self, key: str) -> float | None:
        rows = self._query("SELECT ppl FROM base_ppl WHERE key = ?", (key,))
        return float(rows[0][0]) if rows else None

    def save_base_ppl(self, key: str, ppl: float) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO base_ppl VALUES (?, ?)", (key, ppl))


_ROUND_COLUMNS = "SELECT round, phase, start_global, global_hash, outcome, evaluated FROM rounds"


def _round_record(row: tuple[Any, ...]) -> RoundRecord:
    return RoundRecord(int(row[0]), Phase(row[1]), row[2], row[3], json.loads(row[4]) if row[4] else None,
                       bool(row[5]))
