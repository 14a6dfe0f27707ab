"""The operator's durable state: SQLite (WAL, ``synchronous=FULL``), one transaction per
state change.

Opened from a URL so other databases can be added behind the same interface:
``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db`` or ``sqlite:///:memory:``
(tests only). Any other scheme is refused with :class:`StoreError` (PostgreSQL would be
``postgresql://...``: not implemented yet), and so is a path whose directory does not
exist (nothing is created but the file itself).

The file is SECRET: it holds the members' view keys (``members.view_key``) and their
decrypted trade lists. It is created with mode 0600; nothing in this module logs a key.

Tables (schema version 2: the exit data of each proved epoch):

``meta(key, value)``
    ``pool_id``, ``schema``.
``members(slot, address, transport_public, view_key, vkh, enrolled_at)``
    Enrolled members: the Ethereum account of the slot (as registered on-chain), its
    X25519 transport key and its view key ``K`` (hex; secret).
``request_nonces(address, nonce, ts)``
    Nonces of authenticated HTTP requests (replays refused); pruned past the time window.
``counters(pool, slot, last)``
    :class:`zkclear.privacy.transport.ReplayGuard`'s table: the highest transport counter accepted
    per member, updated in the same transaction as the submission it admits.
``submissions(id, epoch, slot, counter, received_at, trades)``
    Every trade list accepted (decrypted JSON); the latest per (epoch, slot) is netted.
``epochs(epoch, phase, prices, error, proof, public, new_state, exit_data, submit_tx, gas,
updated_at)``
    The lifecycle of each epoch (see :mod:`zkclear.operator.service`).
``results(epoch, slot, accepted, rejected, report, commitment)``
    The netting outcome per member: accepted trades, rejections with reasons, the Report
    (``delta``, ``trade_cash``, ``salt``) and the commitment its ciphertext must have.
``signed_commits(epoch, slot, commitment, ciphertext, signature)``
    Each member's signed commitment of its current report, posted with closeEpoch.
``signed_deposits(epoch, slot, amount, signature)``
    Deposits members signed for the operator to post with closeEpoch (the latest per
    slot and epoch), checked again right before the close.
``exclusions(epoch, slot, round, at)``
    Slots closed without their report (no valid signed commitment by the deadline):
    ``excludedMask`` of the epoch's closeEpoch.
``pool_state(epoch, state)``
    The off-chain PoolState after each accepted epoch (0 = genesis), JSON.
``journal(id, epoch, step, at, detail)``
    Every step, written before and after each on-chain side effect.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from zkclear.errors import ZkclearError
from zkclear.privacy.transport import COUNTERS_DDL, ReplayGuard

SCHEMA = 2

_DDL = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS members (
    slot INTEGER PRIMARY KEY, address TEXT NOT NULL UNIQUE, transport_public BLOB NOT NULL,
    view_key TEXT NOT NULL, vkh TEXT NOT NULL, enrolled_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS request_nonces (
    address TEXT NOT NULL, nonce TEXT NOT NULL, ts INTEGER NOT NULL,
    PRIMARY KEY (address, nonce));
{COUNTERS_DDL};
CREATE TABLE IF NOT EXISTS submissions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, epoch INTEGER NOT NULL, slot INTEGER NOT NULL,
    counter INTEGER NOT NULL, received_at REAL NOT NULL, trades TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS submissions_epoch ON submissions (epoch, slot, id);
CREATE TABLE IF NOT EXISTS epochs (
    epoch INTEGER PRIMARY KEY, phase TEXT NOT NULL, prices TEXT, error TEXT,
    proof TEXT, public TEXT, new_state TEXT, exit_data TEXT, submit_tx TEXT, gas INTEGER,
    updated_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS results (
    epoch INTEGER NOT NULL, slot INTEGER NOT NULL, accepted TEXT NOT NULL,
    rejected TEXT NOT NULL, report TEXT, commitment TEXT, PRIMARY KEY (epoch, slot));
CREATE TABLE IF NOT EXISTS signed_commits (
    epoch INTEGER NOT NULL, slot INTEGER NOT NULL, commitment TEXT NOT NULL,
    ciphertext BLOB NOT NULL, signature BLOB NOT NULL, PRIMARY KEY (epoch, slot));
CREATE TABLE IF NOT EXISTS signed_deposits (
    epoch INTEGER NOT NULL, slot INTEGER NOT NULL, amount TEXT NOT NULL,
    signature BLOB NOT NULL, PRIMARY KEY (epoch, slot));
CREATE TABLE IF NOT EXISTS exclusions (
    epoch INTEGER NOT NULL, slot INTEGER NOT NULL, round INTEGER NOT NULL,
    at REAL NOT NULL, PRIMARY KEY (epoch, slot));
CREATE TABLE IF NOT EXISTS pool_state (epoch INTEGER PRIMARY KEY, state TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS journal (
    id INTEGER PRIMARY KEY AUTOINCREMENT, epoch INTEGER NOT NULL, step TEXT NOT NULL,
    at REAL NOT NULL, detail TEXT NOT NULL DEFAULT '');
"""

TABLES = ("members", "request_nonces", "counters", "submissions", "epochs", "results",
          "signed_commits", "signed_deposits", "exclusions", "pool_state", "journal")


class StoreError(ZkclearError):
    """The operator database cannot be opened or is inconsistent."""


def sqlite_path(url: str) -> str:
    """The file path of a ``sqlite:///...`` URL (``:memory:`` allowed); else StoreError."""
    parsed = urlparse(url)
    if parsed.scheme != "sqlite":
        raise StoreError(f"unsupported database URL {url!r}: only sqlite:///PATH is "
                         "implemented (PostgreSQL is planned)")
    if parsed.netloc or not url.startswith("sqlite:///"):
        raise StoreError(f"bad SQLite URL {url!r}: use sqlite:///relative.db or "
                         "sqlite:////absolute/path.db")
    path = url[len("sqlite:///"):]
    if not path:
        raise StoreError(f"SQLite URL {url!r} names no file")
    return path


def check_url(url: str) -> str:
    """The file path of a database URL whose directory exists (nothing is created);
    else StoreError. ``zkclear operator run`` checks its ``--db`` with this first."""
    path = sqlite_path(url)
    if path != ":memory:":
        folder = Path(path).parent
        if not folder.is_dir():
            raise StoreError(f"database URL {url!r}: the directory {folder} does not exist "
                             "(create it first; zkclear does not create it)")
    return path


class _Guard(ReplayGuard):
    """ReplayGuard's atomic counter update, run on the store's connection (and therefore
    inside the transaction that stores the submission it admits)."""

    def __init__(self, conn: sqlite3.Connection) -> None:  # no own connection
        self.path = "<store>"
        self._db = conn

    def close(self) -> None:  # the store owns the connection
        pass


class Store:
    """The operator database. Thread-safe: one connection, one lock; every write goes
    through :meth:`transaction` (``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on error).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = check_url(url)
        if self.path != ":memory:":
            p = Path(self.path)
            if not p.exists():
                try:
                    os.close(os.open(p, os.O_CREAT | os.O_WRONLY, 0o600))
                except OSError as exc:
                    raise StoreError(f"cannot create the operator database {p}: "
                                     f"{exc.strerror}") from exc
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30,
                                       check_same_thread=False)
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = FULL")
            self._db.execute("PRAGMA foreign_keys = ON")
            self._db.executescript(_DDL)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the operator database {self.path}: {exc}") from exc
        self._lock = threading.RLock()
        self._depth = 0
        self.guard = _Guard(self._db)
        with self.transaction():
            row = self._db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            if row is None:
                self._db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA),))
            elif int(row[0]) != SCHEMA:
                raise StoreError(f"{self.path}: schema {row[0]}, this zkclear reads {SCHEMA}")

    @classmethod
    def open(cls, url: str) -> Store:
        return cls(url)

    # -- plumbing ------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic state change (nested calls join the outer transaction)."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self._db
                finally:
                    self._depth -= 1
                return
            self._db.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self._db
            except BaseException:
                self._depth = 0
                self._db.execute("ROLLBACK")
                raise
            self._depth = 0
            self._db.execute("COMMIT")

    def query(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row | tuple[Any, ...]]:
        with self._lock:
            return list(self._db.execute(sql, args).fetchall())

    def one(self, sql: str, args: tuple[Any, ...] = ()) -> Any:
        rows = self.query(sql, args)
        return rows[0] if rows else None

    def counts(self) -> dict[str, int]:
        """Rows per table (tests assert that refused requests store nothing)."""
        return {t: int(self.one(f"SELECT COUNT(*) FROM {t}")[0]) for t in TABLES}

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- meta ----------------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        row = self.one("SELECT value FROM meta WHERE key = ?", (key,))
        return None if row is None else str(row[0])

    def bind_pool(self, pool_id: str) -> None:
        """Tie the database to one pool; refuse a database made for another."""
        with self.transaction() as db:
            have = self.meta("pool_id")
            if have is None:
                db.execute("INSERT INTO meta VALUES ('pool_id', ?)", (pool_id,))
            elif have != pool_id:
                raise StoreError(f"{self.path} belongs to pool {have}, not {pool_id}")

    # -- journal -------------------------------------------------------------------------

    def journal(self, epoch: int, step: str, detail: Any = "") -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO journal (epoch, step, at, detail) VALUES (?, ?, ?, ?)",
                       (epoch, step, time.time(),
                        detail if isinstance(detail, str) else json.dumps(detail)))

    def journal_last(self, epoch: int, *steps: str) -> float | None:
        """When the latest of ``steps`` was journalled for ``epoch`` (None if never)."""
        marks = ", ".join("?" * len(steps))
        row = self.one(f"SELECT MAX(at) FROM journal WHERE epoch = ? AND step IN ({marks})",
                       (epoch, *steps))
        return None if row is None or row[0] is None else float(row[0])

    def journal_steps(self, epoch: int | None = None) -> list[tuple[int, str]]:
        if epoch is None:
            rows = self.query("SELECT epoch, step FROM journal ORDER BY id")
        else:
            rows = self.query("SELECT epoch, step FROM journal WHERE epoch = ? ORDER BY id",
                              (epoch,))
        return [(int(r[0]), str(r[1])) for r in rows]

    # -- epochs --------------------------------------------------------------------------

    def epoch_row(self, epoch: int) -> dict[str, Any] | None:
        with self._lock:
            cur = self._db.execute("SELECT * FROM epochs WHERE epoch = ?", (epoch,))
            row = cur.fetchone()
            if row is None:
                return None
            return dict(zip([d[0] for d in cur.description], row, strict=True))

    def set_epoch(self, epoch: int, **fields: Any) -> None:
        """Insert or update the epoch row (inside the caller's transaction if any)."""
        fields["updated_at"] = time.time()
        with self.transaction() as db:
            if db.execute("SELECT 1 FROM epochs WHERE epoch = ?", (epoch,)).fetchone():
                cols = ", ".join(f"{k} = ?" for k in fields)
                db.execute(f"UPDATE epochs SET {cols} WHERE epoch = ?",
                           (*fields.values(), epoch))
            else:
                fields.setdefault("phase", "intake")
                cols = ", ".join(["epoch", *fields])
                marks = ", ".join("?" * (len(fields) + 1))
                db.execute(f"INSERT INTO epochs ({cols}) VALUES ({marks})",
                           (epoch, *fields.values()))

    def epochs_in(self, *phases: str) -> list[int]:
        marks = ", ".join("?" * len(phases))
        return [int(r[0]) for r in self.query(
            f"SELECT epoch FROM epochs WHERE phase IN ({marks}) ORDER BY epoch", phases)]

    def last_closed_intake(self) -> int:
        """The highest epoch whose intake is over (netted or later); 0 if none."""
        row = self.one("SELECT MAX(epoch) FROM epochs WHERE phase != 'intake'")
        return int(row[0]) if row and row[0] is not None else 0

    # -- pool state ----------------------------------------------------------------------

    def put_state(self, epoch: int, state_json: dict[str, Any]) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO pool_state VALUES (?, ?)",
                       (epoch, json.dumps(state_json)))

    def latest_state(self) -> tuple[int, dict[str, Any]] | None:
        row = self.one("SELECT epoch, state FROM pool_state ORDER BY epoch DESC LIMIT 1")
        return None if row is None else (int(row[0]), json.loads(row[1]))
