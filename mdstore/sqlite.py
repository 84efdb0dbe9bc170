"""The embedded MDStore backend: one SQLite file, one table of records per version.

Why a table per version: a full harvest writes a fresh table, an incremental one starts with
``INSERT … SELECT`` from the current table, and garbage collection is a ``DROP TABLE``, so reads
never filter on a version column and old versions cost nothing once dropped. WAL mode lets
readers go on while a writer writes; every batch commits on its own, so a killed writer loses at
most the batch in flight and the persisted open transaction can be resumed.

Bodies given as bytes are stored compressed (:mod:`mdstore.compression`, from
:data:`COMPRESS_MIN_BYTES` on) and handed back as they were given: a transformed PE record of
~9 KB of N-Triples takes ~1.1 KB, where it filled a 16 KB page by itself. The transform step
writes a tenth of the pages (each twice: WAL, then checkpoint), the index and publish steps read
a tenth, for ~11 µs to compress and ~6 µs to read back a record; the pipeline bench's MDStore at
1,000,000 records went from 9.3 to 2.6 GB (bench/RESULTS.md, "Blobs and bodies in Zstandard").
Bodies given as text stay text. A stored body is told compressed by its first bytes (a Zstandard
frame's magic number); so that this cannot be ambiguous, a bytes body that starts with those
bytes is always stored compressed, whatever its size. Files written before hold raw bodies and
read as they are.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from mdstore.api import EMPTY_CHECKSUM, Backend, Discarded, Existing, Row, StoredError, tally_row_stats
from mdstore.compression import ZSTD_MAGIC, BlobError, compress, decompress
from mdstore.envelope import Record, UnitKey
from mdstore.errors import ConfigError, StoreError
from mdstore.sqlitedb import Generations, Sql, Tables, connect, marks, transaction
from mdstore.sqlitefile import check_sqlite_file, store_error

SCHEMA = """
CREATE TABLE IF NOT EXISTS units (
    id TEXT PRIMARY KEY,
    current TEXT,
    open TEXT
);
CREATE TABLE IF NOT EXISTS versions (
    id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    unit TEXT NOT NULL,
    state TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS versions_unit ON versions(unit, seq);
CREATE TABLE IF NOT EXISTS errors (
    version TEXT NOT NULL, record_id TEXT, step TEXT, message TEXT, location TEXT, created_at TEXT
);
CREATE INDEX IF NOT EXISTS errors_version ON errors(version);
CREATE UNIQUE INDEX IF NOT EXISTS errors_once ON errors(version, record_id, step, message);
CREATE TABLE IF NOT EXISTS discarded (
    version TEXT NOT NULL, source TEXT, error TEXT, raw BLOB, created_at TEXT
);
CREATE INDEX IF NOT EXISTS discarded_version ON discarded(version);
CREATE TABLE IF NOT EXISTS leases (
    id TEXT PRIMARY KEY, unit TEXT, version TEXT NOT NULL, expires TEXT NOT NULL, holder TEXT
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


#: bytes bodies from this size on are stored compressed. Below it, compressing costs more than it
#: saves: a 1 KB oai_dc record takes ~5 µs to compress and ~2.5 to read back, to save ~600 bytes of
#: a row that shares its page with a dozen others (20,000 of them: write 0.30 against 0.22 CPU s;
#: at 1,000,000 the harvest's one writer thread took 7 s longer), where a 9 KB record, a 16 KB page
#: on its own, is written faster compressed (0.72 against 0.92 CPU s) into a tenth of the file
#: (``bench/blobs.py``; bench/RESULTS.md, "Blobs and bodies in Zstandard")
COMPRESS_MIN_BYTES = 2048

#: one table of records per version: ``rec_v00000042``
VERSIONS = Generations("{kind}_{key}", ("rec",), key=r"v\d+", what="version id", field="version")


@lru_cache(maxsize=8192)
def _ts(value: datetime | None) -> str | None:
    """Datetimes as fixed-width ISO text in UTC: sortable and comparable as strings.

    Cached: a batch stamps thousands of rows with the same few instants.
    """
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _dt(text: str | None) -> datetime | None:
    if text is None:
        return None
    return datetime.fromisoformat(text)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$date": _ts(value)}
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def _json_hook(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and "$date" in obj:
        return _dt(obj["$date"])
    return obj


_dumps = json.JSONEncoder(default=_json_default, separators=(",", ":"), ensure_ascii=False).encode


def _stored_body(body: bytes | str | None) -> bytes | str | None:
    """A body as the records table keeps it (see the module's docstring)."""
    if type(body) is bytes and (len(body) >= COMPRESS_MIN_BYTES or body[:4] == ZSTD_MAGIC):
        return compress(body)
    return body


class _StoredBody:
    """Unpacks a record's stored body on first access (``Record.lazy``): a record that goes to
    another process first (a publish refresh's builders) travels compressed, ~1.1 KB instead of the
    ~9 KB of a transformed PE record, and its receiver decompresses it."""

    __slots__ = ("version_id",)

    def __init__(self, version_id: str) -> None:
        self.version_id = version_id

    def __call__(self, stored: bytes | str | None, record_id: str) -> bytes | str | None:
        return _given_body(stored, record_id, self.version_id)


def _given_body(stored: bytes | str | None, record_id: str = "", version_id: str = "") -> bytes | str | None:
    """A body as it was given to :meth:`SqliteBackend.write_rows`; a stored frame that does not
    decompress (a damaged file) is a :class:`StoreError` naming the record."""
    if type(stored) is bytes and stored[:4] == ZSTD_MAGIC:
        try:
            return decompress(stored)
        except BlobError as exc:
            raise StoreError(
                f"the stored body of record {record_id} does not decompress ({exc}): the file is damaged; "
                "restore it from a backup or harvest the datasource again",
                version=version_id,
            ) from None
    return stored


def _decode_meta(text: str) -> dict[str, Any]:
    """The envelope fields of a record row, decoded on first access (see ``Record.lazy``)."""
    m = json.loads(text, object_hook=_json_hook) if "$date" in text else json.loads(text)
    return {
        "checksum": m["cs"],
        "datestamp": _dt(m["ds"]),
        "deleted": m["del"],
        "deleted_at": _dt(m.get("da")),
        "collected_at": _dt(m.get("ca")),
        "transformed_at": _dt(m.get("ta")),
        "provenance": m.get("p") or {},
    }


#: the page cache of a connection while it writes a group (:meth:`SqliteBackend.grouped`), in KiB
GROUPED_CACHE_KIB = 65536


class SqliteBackend(Backend):
    """SQLite storage primitives. Thread-safe through one connection per thread."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        # each thread of a :memory: store sees its own database: no other process to tell about
        self.shared = self.path != ":memory:"
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            check_sqlite_file(self.path, "MDStore")
        self._local = threading.local()
        try:
            self.con.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            self.close()
            raise store_error(exc, self.path, "MDStore") from exc

    # --- connections --------------------------------------------------------------------------
    @property
    def con(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            con = connect(
                self.path,
                timeout=60,
                # 16 KB pages (effective only when the file is created): records of a few KB fit a
                # page and the WAL writes a quarter of the frames it would with 4 KB pages
                page_size=16384,
                # reads go through the OS page cache directly (measured: ~30% faster streaming
                # reads); a bigger private page cache, by contrast, made scans slower
                mmap_bytes=1073741824,
                # checkpoint the WAL every 64 MB rather than 16 MB: bulk writes pay fewer checkpoints
                autocheckpoint_pages=4000,
            )
            self._local.con = con
        return con

    def _tx(self) -> transaction:
        """``with self._tx() as con``: every write goes through here, so this is where a full disk
        or a damaged file becomes a :class:`StoreError` naming the file (:class:`StoreFull` for a
        full disk: resumable). Inside :meth:`grouped` it joins the group's transaction."""
        return transaction(self.con, self._storage_error, joined=getattr(self._local, "grouped", False))

    @contextmanager
    def grouped(self) -> Iterator[None]:
        # One COMMIT for the group. Each commit writes to the WAL every page its writes dirtied, and
        # with random record ids a batch of 500 dirties nearly one primary-key page per record once
        # the key's index outgrows the batch: at 1,000,000 records a commit per OAI-PMH page wrote
        # ~8 MB, and collect grew 14x for 10x the records. The larger page cache keeps the group's
        # dirty pages in memory until the commit (the default 2 MB spills them to the WAL early).
        if getattr(self._local, "grouped", False):
            yield  # already inside a group: part of it
            return
        con = self.con
        cache = con.execute("PRAGMA cache_size").fetchone()[0]
        con.execute(f"PRAGMA cache_size={-GROUPED_CACHE_KIB}")
        try:
            with self._tx():
                self._local.grouped = True
                try:
                    yield
                finally:
                    self._local.grouped = False
        finally:
            con.execute(f"PRAGMA cache_size={int(cache)}")

    def _storage_error(self, exc: sqlite3.Error) -> StoreError | None:
        return store_error(exc, self.path, "MDStore") if _is_storage_failure(exc) else None

    def close(self) -> None:
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None

    @staticmethod
    def _tables(version_id: str) -> Tables:
        """The version's table, as the ``{rec}`` slot of its statements (checked, quoted)."""
        return VERSIONS.tables(version_id)

    # --- units & versions ---------------------------------------------------------------------
    def get_unit(self, unit: UnitKey) -> dict[str, Any] | None:
        row = self.con.execute("SELECT id, current, open FROM units WHERE id=?", (unit.name,)).fetchone()
        return {"_id": row[0], "current": row[1], "open": row[2]} if row else None

    def list_units(self) -> list[dict[str, Any]]:
        return [
            {"_id": r[0], "current": r[1], "open": r[2]}
            for r in self.con.execute("SELECT id, current, open FROM units ORDER BY id")
        ]

    def new_version_id(self) -> str:
        with self._tx() as con:
            con.execute(
                "INSERT INTO counters(name, value) VALUES ('version', 1) "
                "ON CONFLICT(name) DO UPDATE SET value = value + 1"
            )
            (value,) = con.execute("SELECT value FROM counters WHERE name='version'").fetchone()
        return f"v{value:08d}"

    def claim_open(self, unit: UnitKey, version: dict[str, Any]) -> bool:
        with self._tx() as con:
            con.execute("INSERT OR IGNORE INTO units(id) VALUES (?)", (unit.name,))
            (open_id,) = con.execute("SELECT open FROM units WHERE id=?", (unit.name,)).fetchone()
            if open_id:
                return False
            con.execute("UPDATE units SET open=? WHERE id=?", (version["_id"], unit.name))
            con.execute(
                "INSERT INTO versions(id, seq, unit, state, doc) VALUES (?,?,?,?,?)",
                (
                    version["_id"],
                    int(version["_id"][1:]),
                    unit.name,
                    version["state"],
                    json.dumps(version, default=_json_default),
                ),
            )
        return True

    def get_version(self, version_id: str) -> dict[str, Any] | None:
        row = self.con.execute("SELECT doc FROM versions WHERE id=?", (version_id,)).fetchone()
        return json.loads(row[0], object_hook=_json_hook) if row else None

    def list_versions(self, unit: UnitKey) -> list[dict[str, Any]]:
        rows = self.con.execute("SELECT doc FROM versions WHERE unit=? ORDER BY seq", (unit.name,))
        return [json.loads(r[0], object_hook=_json_hook) for r in rows]

    def update_version(self, version_id: str, **fields: Any) -> None:
        with self._tx() as con:
            row = con.execute("SELECT doc FROM versions WHERE id=?", (version_id,)).fetchone()
            if row is None:
                raise StoreError("no such version", version=version_id)
            doc = json.loads(row[0], object_hook=_json_hook)
            doc.update(fields)
            con.execute(
                "UPDATE versions SET doc=?, state=? WHERE id=?",
                (json.dumps(doc, default=_json_default), doc["state"], version_id),
            )

    def flip_current(self, unit: UnitKey, expected: str | None, new: str, *, clear_open: str | None) -> bool:
        if clear_open:
            sql = "UPDATE units SET current=?, open=NULL WHERE id=? AND current IS ? AND open=?"
            params: tuple = (new, unit.name, expected, clear_open)
        else:
            sql = "UPDATE units SET current=? WHERE id=? AND current IS ?"
            params = (new, unit.name, expected)
        with self._tx() as con:
            return con.execute(sql, params).rowcount == 1

    def release_open(self, unit: UnitKey, version_id: str) -> None:
        with self._tx() as con:
            con.execute("UPDATE units SET open=NULL WHERE id=? AND open=?", (unit.name, version_id))

    # --- the writer lock ----------------------------------------------------------------------
    def _edit_open(self, version_id: str, edit) -> bool:
        """Read-modify-write an open version's document under BEGIN IMMEDIATE (serialised with
        every other writer of the file); ``edit(doc)`` returns False to leave it unchanged."""
        with self._tx() as con:
            row = con.execute(
                "SELECT doc FROM versions WHERE id=? AND state='open'", (version_id,)
            ).fetchone()
            if row is None:
                return False
            doc = json.loads(row[0], object_hook=_json_hook)
            if not edit(doc):
                return False
            con.execute(
                "UPDATE versions SET doc=? WHERE id=?", (json.dumps(doc, default=_json_default), version_id)
            )
        return True

    def swap_writers(self, version_id: str, epoch: int | None, holders: dict[str, dict[str, Any]]) -> bool:
        def edit(doc: dict[str, Any]) -> bool:
            if (doc.get("lock") or {}).get("epoch") != epoch:
                return False
            doc["lock"] = {"epoch": (epoch or 0) + 1, "holders": holders}
            return True

        return self._edit_open(version_id, edit)

    def beat_writer(self, version_id: str, owner: str, when: datetime) -> bool:
        def edit(doc: dict[str, Any]) -> bool:
            entry = ((doc.get("lock") or {}).get("holders") or {}).get(owner)
            if entry is None:
                return False
            entry["heartbeat_at"] = when
            return True

        return self._edit_open(version_id, edit)

    def drop_writer(self, version_id: str, owner: str) -> None:
        self._edit_open(
            version_id,
            lambda doc: ((doc.get("lock") or {}).get("holders") or {}).pop(owner, None) is not None,
        )

    # --- records ------------------------------------------------------------------------------
    def create_records(self, version_id: str, copy_from: str | None) -> None:
        # Index columns first, the encoded envelope (meta) and the body last: scans for statistics
        # never walk through bodies, and reads select just id, original_id, meta and body.
        t = self._tables(version_id)
        with self._tx() as con:
            con.execute(
                t.sql("""CREATE TABLE IF NOT EXISTS {rec} (
                id TEXT PRIMARY KEY, original_id TEXT NOT NULL, checksum TEXT NOT NULL,
                datestamp TEXT NOT NULL, deleted INTEGER NOT NULL, change TEXT NOT NULL,
                size INTEGER NOT NULL,
                meta TEXT NOT NULL, body BLOB)""")
            )
            if copy_from is not None:
                con.execute(
                    t.sql(
                        "INSERT INTO {rec} SELECT id, original_id, checksum, datestamp, deleted, "
                        "'unchanged', size, meta, body FROM {source}",
                        source=self._tables(copy_from)["rec"],
                    )
                )

    def finish_records(self, version_id: str) -> None:
        # built once at commit: cheaper than maintaining it on every insert
        with self._tx() as con:
            con.execute(
                self._tables(version_id).sql(
                    "CREATE INDEX IF NOT EXISTS {ds} ON {rec}(datestamp)", ds=f"ds_{version_id}"
                )
            )

    def drop_records(self, version_id: str) -> None:
        with self._tx() as con:
            VERSIONS.drop(con, version_id)

    def lookup(self, version_id: str, ids: Sequence[str]) -> dict[str, Existing]:
        result: dict[str, Existing] = {}
        t = self._tables(version_id)
        for start in range(0, len(ids), 900):
            chunk = ids[start : start + 900]
            sql = t.sql(
                "SELECT id, checksum, datestamp, deleted, change FROM {rec} WHERE id IN ({ids})",
                ids=marks(len(chunk)),
            )
            for rid, checksum, datestamp, deleted, change in self.con.execute(sql, chunk):
                result[rid] = Existing(checksum, _dt(datestamp), bool(deleted), change)
        return result

    def write_rows(self, version_id: str, rows: Sequence[Row]) -> None:
        sql = self._tables(version_id).sql("INSERT OR REPLACE INTO {rec} VALUES (?,?,?,?,?,?,?,?,?)")
        params = []
        for r in rows:
            datestamp = _ts(r.datestamp)
            # the envelope as compact JSON, written by hand: this runs for every stored record
            meta = f'{{"cs":"{r.checksum}","ds":"{datestamp}","del":{"true" if r.deleted else "false"}'
            if r.deleted_at is not None:
                meta += f',"da":"{_ts(r.deleted_at)}"'
            if r.collected_at is not None:
                meta += f',"ca":"{_ts(r.collected_at)}"'
            if r.transformed_at is not None:
                meta += f',"ta":"{_ts(r.transformed_at)}"'
            if r.provenance:
                meta += ',"p":' + _dumps(r.provenance)
            params.append(
                (
                    r.id,
                    r.original_id,
                    r.checksum,
                    datestamp,
                    int(r.deleted),
                    r.change,
                    r.size,
                    meta + "}",
                    _stored_body(r.body),
                )
            )
        with self._tx() as con:
            con.executemany(sql, params)

    @staticmethod
    def _where(after_id, since, until, deleted) -> tuple[Sql, list[Any]]:
        """A ``WHERE`` clause of fixed conditions (values as parameters), or nothing."""
        clauses: list[str] = []
        params: list[Any] = []
        if after_id is not None:
            clauses.append("id > ?")
            params.append(after_id)
        if since is not None:
            clauses.append("datestamp >= ?")
            params.append(_ts(since))
        if until is not None:
            clauses.append("datestamp <= ?")
            params.append(_ts(until))
        if deleted is not None:
            clauses.append("deleted = ?")
            params.append(int(deleted))
        return Sql(" WHERE " + " AND ".join(clauses) if clauses else ""), params

    def scan(self, version_id, unit, *, after_id, limit, since, until, deleted) -> list[Record]:
        where, params = self._where(after_id, since, until, deleted)
        sql = self._tables(version_id).sql(
            "SELECT id, original_id, body, meta FROM {rec}{where} ORDER BY id LIMIT ?", where=where
        )
        ds, fmt, lazy, unpack = unit.datasource, unit.format, Record.lazy, _StoredBody(version_id)
        return [
            lazy(rid, oid, ds, fmt, body, meta, _decode_meta, unpack if type(body) is bytes else None)
            for rid, oid, body, meta in self.con.execute(sql, [*params, limit])
        ]

    def scan_ids(self, version_id, *, after_id, limit, since, until, deleted) -> list[tuple[str, str, bool]]:
        where, params = self._where(after_id, since, until, deleted)
        sql = self._tables(version_id).sql(
            "SELECT id, original_id, deleted FROM {rec}{where} ORDER BY id LIMIT ?", where=where
        )
        return [(rid, oid, bool(d)) for rid, oid, d in self.con.execute(sql, [*params, limit])]

    def scan_keys(self, version_id, *, after_id, limit, since) -> list[str]:
        # ``id`` alone: the primary key's index covers it, no record is read (with ``since``
        # the datestamp is read from each record, as in scan_ids)
        where, params = self._where(after_id, since, None, None)
        sql = self._tables(version_id).sql("SELECT id FROM {rec}{where} ORDER BY id LIMIT ?", where=where)
        return [rid for (rid,) in self.con.execute(sql, [*params, limit])]

    def get_records(self, version_id: str, unit: UnitKey, ids: Sequence[str]) -> list[Record]:
        t = self._tables(version_id)
        found: list[Record] = []
        for start in range(0, len(ids), 900):
            chunk = list(ids[start : start + 900])
            sql = t.sql(
                "SELECT id, original_id, body, meta FROM {rec} WHERE id IN ({ids})", ids=marks(len(chunk))
            )
            found.extend(
                Record.lazy(
                    rid,
                    oid,
                    unit.datasource,
                    unit.format,
                    _given_body(body, rid, version_id),
                    meta,
                    _decode_meta,
                )
                for rid, oid, body, meta in self.con.execute(sql, chunk)
            )
        return found

    def count_rows(self, version_id, *, since=None, until=None, deleted=None) -> int:
        where, params = self._where(None, since, until, deleted)
        sql = self._tables(version_id).sql("SELECT count(*) FROM {rec}{where}", where=where)
        return self.con.execute(sql, params).fetchone()[0]

    def row_stats(self, version_id: str) -> dict[str, Any]:
        t = self._tables(version_id)
        stats = tally_row_stats(
            self.con.execute(
                t.sql("SELECT change, deleted, count(*), sum(size) FROM {rec} GROUP BY change, deleted")
            )
        )
        row = self.con.execute(t.sql("SELECT min(datestamp), max(datestamp) FROM {rec}")).fetchone()
        stats["earliest_datestamp"], stats["latest_datestamp"] = row
        return stats

    def tombstone_missing(self, version_id: str, parent_id: str, when: datetime) -> None:
        t = self._tables(version_id)
        now = _ts(when)
        with self._tx() as con:
            con.execute(
                t.sql(
                    """
                INSERT INTO {rec}
                SELECT p.id, p.original_id, ?, CASE WHEN p.deleted THEN p.datestamp ELSE ? END, 1,
                       CASE WHEN p.deleted THEN 'unchanged' ELSE 'deleted' END, 0,
                       CASE WHEN p.deleted THEN p.meta
                            ELSE json_set(p.meta, '$.cs', ?, '$.ds', ?, '$.del', json('true'), '$.da', ?) END,
                       NULL
                FROM {parent} p WHERE NOT EXISTS (SELECT 1 FROM {rec} t WHERE t.id = p.id)""",
                    parent=self._tables(parent_id)["rec"],
                ),
                (EMPTY_CHECKSUM, now, EMPTY_CHECKSUM, now, now),
            )

    # --- errors & discarded -------------------------------------------------------------------
    def add_errors(self, version_id: str, errors: Sequence[StoredError]) -> None:
        with self._tx() as con:
            # a record's identical error is kept once: a resumed or retried writer redoes its work
            con.executemany(
                "INSERT OR IGNORE INTO errors VALUES (?,?,?,?,?,?)",
                [(version_id, e.record_id, e.step, e.message, e.location, _ts(e.created_at)) for e in errors],
            )

    def add_discarded(self, version_id: str, items: Sequence[Discarded]) -> None:
        with self._tx() as con:
            con.executemany(
                "INSERT INTO discarded VALUES (?,?,?,?,?)",
                [(version_id, d.source, d.error, d.raw, _ts(d.created_at)) for d in items],
            )

    def list_errors(self, version_id: str, limit: int | None) -> list[StoredError]:
        rows = self.con.execute(
            "SELECT record_id, step, message, location, created_at FROM errors "
            "WHERE version=? ORDER BY rowid LIMIT ?",
            (version_id, -1 if limit is None else limit),
        )
        return [StoredError(r[0], r[1], r[2], r[3], _dt(r[4])) for r in rows]

    def list_discarded(self, version_id: str, limit: int | None) -> list[Discarded]:
        rows = self.con.execute(
            "SELECT source, error, raw, created_at FROM discarded WHERE version=? ORDER BY rowid LIMIT ?",
            (version_id, -1 if limit is None else limit),
        )
        return [Discarded(r[0], r[1], r[2], _dt(r[3])) for r in rows]

    def count_errors(self, version_id: str) -> tuple[int, int]:
        errors = self.con.execute("SELECT count(*) FROM errors WHERE version=?", (version_id,)).fetchone()[0]
        discarded = self.con.execute(
            "SELECT count(*) FROM discarded WHERE version=?", (version_id,)
        ).fetchone()[0]
        return errors, discarded

    def drop_side_data(self, version_id: str) -> None:
        with self._tx() as con:
            con.execute("DELETE FROM errors WHERE version=?", (version_id,))
            con.execute("DELETE FROM discarded WHERE version=?", (version_id,))

    # --- leases -------------------------------------------------------------------------------
    def add_lease(self, lease_id, unit, version_id, expires, holder) -> None:
        with self._tx() as con:
            con.execute(
                "INSERT INTO leases VALUES (?,?,?,?,?)",
                (lease_id, unit.name, version_id, _ts(expires), holder),
            )

    def renew_lease(self, lease_id: str, expires: datetime) -> bool:
        with self._tx() as con:
            return (
                con.execute("UPDATE leases SET expires=? WHERE id=?", (_ts(expires), lease_id)).rowcount == 1
            )

    def drop_lease(self, lease_id: str) -> None:
        with self._tx() as con:
            con.execute("DELETE FROM leases WHERE id=?", (lease_id,))

    def leased_versions(self, now: datetime) -> set[str]:
        return {
            r[0]
            for r in self.con.execute("SELECT DISTINCT version FROM leases WHERE expires > ?", (_ts(now),))
        }

    def expire_leases(self, now: datetime) -> int:
        with self._tx() as con:
            return con.execute("DELETE FROM leases WHERE expires <= ?", (_ts(now),)).rowcount


def _is_storage_failure(exc: sqlite3.DatabaseError) -> bool:
    """A full disk or a damaged file (not a constraint or a programming error, which stay bugs)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and (code & 0xFF) in (
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_CORRUPT,
        sqlite3.SQLITE_NOTADB,
        sqlite3.SQLITE_IOERR,
    )


def from_uri(uri: str) -> SqliteBackend:
    """``sqlite:///relative/path.sqlite`` or ``sqlite:////absolute/path.sqlite`` (SQLAlchemy's
    convention: the third slash ends the empty host); ``sqlite:///:memory:`` for throwaway stores."""
    rest = uri.split("://", 1)[1]
    if not rest.startswith("/") or len(rest) < 2:
        raise ConfigError(
            f"{uri!r} names no file (sqlite:///relative.sqlite or sqlite:////abs.sqlite)",
            field="mdstore",
            rule="sqlite-path",
        )
    return SqliteBackend(rest[1:])
