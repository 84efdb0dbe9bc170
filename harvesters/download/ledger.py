"""The download ledger: what happened to every file a datasource's records point to.

One SQLite file per datasource (``var/downloads/<datasource>.sqlite`` by default), independent
of the MDStore backend: it is mutable per-file state written by many threads thousands of times
a second, which the MDStore's immutable versions are not made for. WAL mode makes each row
durable as it is written, so a killed run loses at most the files in flight.

A row is keyed by (record id, URL) and holds the last attempt: its state, HTTP status, final
URL after redirects, content type, size, sha256 of the stored copy, fetch date, validators
(ETag, Last-Modified) and error. States:

``ok``             stored (``sha256`` names the copy)
``not-modified``   a conditional request was answered 304: the stored copy is current
``failed``         the last attempt failed (``error``, maybe ``status``); a copy stored before stays
``gone``           the server answered 404 or 410
``skipped``        filtered out by extension before any request
``record-deleted`` the record was deleted upstream (tombstone): marked, its file kept
``unreferenced``   no present record points to the URL any more (record or link removed)

The ``runs`` table holds each run's state and its cursor (the last record id whose files are
all settled), from which ``--resume`` continues.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from harvesters.download.groupcommit import GroupCommit
from mdstore.errors import StoreError
from mdstore.sqlitedb import Sql, connect, marks, quote, sql, transaction

State = Literal["ok", "not-modified", "failed", "gone", "skipped", "record-deleted", "unreferenced"]
STATES: tuple[str, ...] = (
    "ok",
    "not-modified",
    "failed",
    "gone",
    "skipped",
    "record-deleted",
    "unreferenced",
)
#: states a listing of failures shows
FAILURE_STATES = ("failed", "gone")
#: states in which the stored copy is current and can be re-validated
HELD_STATES = ("ok", "not-modified")

SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    record_id     TEXT NOT NULL,
    url           TEXT NOT NULL,
    original_id   TEXT,
    final_url     TEXT,
    status        INTEGER,
    content_type  TEXT,
    size          INTEGER,
    sha256        TEXT,
    fetched_at    TEXT,
    checked_at    TEXT,
    etag          TEXT,
    last_modified TEXT,
    error         TEXT,
    state         TEXT NOT NULL,
    run_id        TEXT,
    PRIMARY KEY (record_id, url)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS files_by_url ON files (url, run_id);
CREATE TABLE IF NOT EXISTS runs (
    run_id      TEXT PRIMARY KEY,
    state       TEXT NOT NULL,
    layer       TEXT,
    unit        TEXT,
    version     TEXT,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    cursor      TEXT,
    counts      TEXT NOT NULL DEFAULT '{}',
    message     TEXT
);
"""


def now_text() -> str:
    """UTC now to the second (``2024-05-01T10:00:00Z``); formatted once per second."""
    global _now_cache
    second = int(time.time())
    cached = _now_cache
    if cached[0] != second:
        cached = (second, datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        _now_cache = cached
    return cached[1]


_now_cache: tuple[int, str] = (-1, "")


@dataclass(frozen=True)
class Entry:
    """One ledger row (see the module docstring for the states)."""

    record_id: str
    url: str
    state: str
    original_id: str | None = None
    final_url: str | None = None
    status: int | None = None
    content_type: str | None = None
    size: int | None = None
    sha256: str | None = None
    fetched_at: str | None = None
    checked_at: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    error: str | None = None
    run_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


COLUMNS = tuple(f.name for f in fields(Entry))
#: the ``{columns}`` of the statements that read or write whole rows
_COLUMNS = Sql(", ".join(map(quote, COLUMNS)))


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    state: str  # open | finished | abandoned
    layer: str | None
    unit: str | None
    version: str | None
    started_at: str
    finished_at: str | None
    cursor: str | None
    counts: dict[str, Any]
    message: str | None


class Ledger:
    """The ledger of one datasource; safe to share between the service's threads."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = connect(self.path, timeout=30)
            self._db.executescript(SCHEMA)
            # reads (the dispatcher's look-ups) on their own connection: WAL lets them run while
            # workers write, each SELECT seeing every row committed before it; the writer's
            # connection has set the file up
            self._reader = connect(self.path, timeout=30, tune=False)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot open the download ledger: {exc}") from exc
        self._lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._writes: GroupCommit[tuple, None] = GroupCommit(
            self._write_rows, name=f"ledger {self.path.name}"
        )

    def close(self) -> None:
        self._writes.close()
        with self._lock, self._read_lock:
            self._reader.close()
            self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._db.execute(sql, params)

    def _fetchall(self, sql: str, params: Any = ()) -> list[tuple]:
        with self._read_lock:
            return self._reader.execute(sql, params).fetchall()

    # --- files --------------------------------------------------------------------------------
    def put(self, entry: Entry) -> None:
        """Insert or replace the row of (record id, URL); committed when this returns.

        Group commit: the rows that threads put while a transaction is being written go
        together into the next one, while their threads wait for it. Many workers thus share
        one transaction instead of queueing for one each.
        """
        self._writes.submit(tuple(getattr(entry, c) for c in COLUMNS))

    def _write_rows(self, rows: list[tuple]) -> list[None]:
        statement = sql(
            "INSERT OR REPLACE INTO files ({columns}) VALUES ({values})",
            columns=_COLUMNS,
            values=marks(len(COLUMNS)),
        )
        with self._lock, transaction(self._db, self._write_failed) as db:
            db.executemany(statement, rows)
        return [None] * len(rows)

    def _write_failed(self, exc: sqlite3.Error) -> StoreError:
        return StoreError(f"{self.path}: cannot write to the download ledger: {exc}")

    def entries(self, record_id: str) -> dict[str, Entry]:
        """The rows of one record by URL."""
        rows = self._fetchall(
            sql("SELECT {columns} FROM files WHERE record_id = ?", columns=_COLUMNS), (record_id,)
        )
        return {row[1]: Entry(*row) for row in rows}

    def get(self, record_id: str, url: str) -> Entry | None:
        rows = self._fetchall(
            sql("SELECT {columns} FROM files WHERE record_id = ? AND url = ?", columns=_COLUMNS),
            (record_id, url),
        )
        return Entry(*rows[0]) if rows else None

    def fetched_in_run(self, url: str, run_id: str, exclude_record: str) -> Entry | None:
        """The same URL already settled for another record in this run (fetched once per run)."""
        rows = self._fetchall(
            sql(
                "SELECT {columns} FROM files WHERE url = ? AND run_id = ? AND record_id != ? "
                "AND state != 'record-deleted' LIMIT 1",
                columns=_COLUMNS,
            ),
            (url, run_id, exclude_record),
        )
        return Entry(*rows[0]) if rows else None

    def mark_record_deleted(self, record_id: str, run_id: str) -> int:
        """A record tombstoned upstream: its rows are marked (files stay in the store)."""
        cursor = self._execute(
            "UPDATE files SET state = 'record-deleted', run_id = ?, checked_at = ? "
            "WHERE record_id = ? AND state != 'record-deleted'",
            (run_id, now_text(), record_id),
        )
        return cursor.rowcount

    def mark_unreferenced(self, run_id: str) -> int:
        """After a complete run: rows no record of the version pointed to are ``unreferenced``."""
        cursor = self._execute(
            "UPDATE files SET state = 'unreferenced', checked_at = ? "
            "WHERE (run_id IS NULL OR run_id != ?) AND state NOT IN ('record-deleted', 'unreferenced')",
            (now_text(), run_id),
        )
        return cursor.rowcount

    def failures(self, *, limit: int | None = None) -> list[Entry]:
        """Rows whose last attempt failed or found the file gone, by record id and URL."""
        statement = sql(
            "SELECT {columns} FROM files WHERE state IN ('failed', 'gone') ORDER BY record_id, url LIMIT ?",
            columns=_COLUMNS,
        )
        return [Entry(*row) for row in self._fetchall(statement, (-1 if limit is None else int(limit),))]

    def all(self) -> Iterator[Entry]:
        for row in self._fetchall(
            sql("SELECT {columns} FROM files ORDER BY record_id, url", columns=_COLUMNS)
        ):
            yield Entry(*row)

    def counts_by_state(self) -> dict[str, int]:
        return dict(self._fetchall("SELECT state, COUNT(*) FROM files GROUP BY state"))

    # --- runs ---------------------------------------------------------------------------------
    def start_run(self, run_id: str, *, layer: str, unit: str, version: str) -> RunInfo:
        self._execute(
            "INSERT INTO runs (run_id, state, layer, unit, version, started_at) "
            "VALUES (?, 'open', ?, ?, ?, ?)",
            (run_id, layer, unit, version, now_text()),
        )
        return self.run(run_id)

    def run(self, run_id: str) -> RunInfo:
        rows = self._fetchall(
            "SELECT run_id, state, layer, unit, version, started_at, finished_at, cursor, "
            "counts, message FROM runs WHERE run_id = ?",
            (run_id,),
        )
        if not rows:
            raise StoreError(f"{self.path}: no download run {run_id}")
        row = list(rows[0])
        row[8] = json.loads(row[8] or "{}")
        return RunInfo(*row)

    def open_run(self) -> RunInfo | None:
        """The run that was interrupted (killed, crashed) and can be resumed, if any."""
        rows = self._fetchall("SELECT run_id FROM runs WHERE state = 'open' ORDER BY started_at DESC LIMIT 1")
        return self.run(rows[0][0]) if rows else None

    def last_run(self) -> RunInfo | None:
        rows = self._fetchall("SELECT run_id FROM runs ORDER BY started_at DESC, rowid DESC LIMIT 1")
        return self.run(rows[0][0]) if rows else None

    def save_progress(self, run_id: str, cursor: str | None, counts: Mapping[str, Any]) -> None:
        self._execute(
            "UPDATE runs SET cursor = ?, counts = ? WHERE run_id = ?",
            (cursor, json.dumps(dict(counts)), run_id),
        )

    def end_run(self, run_id: str, state: str, counts: Mapping[str, Any], message: str = "") -> None:
        """``finished`` or ``abandoned`` (a new run superseded an interrupted one)."""
        self._execute(
            "UPDATE runs SET state = ?, finished_at = ?, counts = ?, message = ? WHERE run_id = ?",
            (state, now_text(), json.dumps(dict(counts)), message, run_id),
        )
