"""The publisher index: an SQLite file holding immutable *snapshots* of everything the OAI-PMH
endpoint disseminates (D-NET's "OAI store").

Why a materialized index rather than reading MDStore units per request: one OAI list spans every
published datasource and two units per datasource (native and transformed), is filtered by set
(datasource, entity type, configured queries) and datestamp, and must be paged by keyset in one
stable sort. Materializing it at refresh time makes every page one range read on a clustered
primary key, whatever its depth; it also keeps the derived payloads (oai_dc, RDF/XML) and their
own datestamps, and it keeps serving unchanged while a harvest or transform writes the MDStore.

Layout (``N`` is a snapshot id):

* ``snapshots``: id, random nonce, state (``live`` — exactly one — or ``retired``), creation and
  retirement times, ``keep_until`` and a JSON ``info`` (MDStore versions per datasource, formats,
  sets, counts, earliest datestamp).
* ``rec_N(prefix, datestamp, id, deleted, blob)``: one row per OAI record (item × format), the
  primary key *is* the list order, so a page is a range scan from the token's position.
* ``mem_N(setspec, prefix, datestamp, id)``: set memberships in the same order, for set lists.
* ``item_N(id, …)``: per item: datasource, original id, entity type, sets, formats, the checksums
  of its MDStore sources (so the next refresh reuses unchanged items) and provenance fields.
* ``blobs(hash, data)``: payloads, compressed (:mod:`mdstore.compression`), addressed by the md5
  of the payload, shared by every snapshot that holds the same bytes. A rowid table (files made
  before issue 18 have a ``WITHOUT ROWID`` one, which reads the same): new blobs are appended, and
  only the small hash index takes random inserts, where a ``WITHOUT ROWID`` B-tree of 1 KB rows
  split its pages at every other insert. In a file's first snapshot not even those: the index
  (``blobs_hash``; files made before have ``hash TEXT PRIMARY KEY`` instead) is dropped, and made
  again in one sort when the snapshot is complete.

A refresh builds a new snapshot in one SQLite write transaction and flips ``live`` at its end, so
a crash leaves the previous snapshot serving. A retired snapshot is kept while tokens that name
it can still be valid (``keep_until``); readers extend it when they hand out such tokens.
"""

from __future__ import annotations

import json
import logging
import queue
import secrets
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from itertools import count
from pathlib import Path
from typing import Any

from mdstore import compression
from mdstore.errors import PublisherError
from mdstore.sqlitedb import Generations, Sql, Tables, connect, marks, sql, transaction

logger = logging.getLogger(__name__)

BASE_SCHEMA = """
CREATE TABLE IF NOT EXISTS snapshots (
    id INTEGER PRIMARY KEY, nonce TEXT NOT NULL, state TEXT NOT NULL, created_at TEXT NOT NULL,
    retired_at TEXT, keep_until TEXT, info TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS errors (snapshot INTEGER NOT NULL, datasource TEXT, record_id TEXT, message TEXT);
CREATE INDEX IF NOT EXISTS errors_snapshot ON errors(snapshot);
"""

#: the blobs of a new file: the unique index on ``hash`` is a named one, so that a first snapshot can
#: drop it while it appends its blobs and build it once at its end (:class:`SnapshotWriter`); files
#: made before keep ``hash TEXT PRIMARY KEY`` (its index cannot be dropped) and insert as before
BLOBS_DDL = (
    "CREATE TABLE blobs (hash TEXT NOT NULL, data BLOB NOT NULL)",
    "CREATE UNIQUE INDEX blobs_hash ON blobs(hash)",
)

MAX_KEY = "\U0010ffff"

#: the tables of snapshot ``N``: ``rec_N``, ``mem_N``, ``item_N`` (see the module docstring)
SNAPSHOTS = Generations(
    "{kind}_{key}",
    ("rec", "mem", "item"),
    key=r"\d+",
    what="snapshot id",
    error=PublisherError,
    field="target",
)
SNAPSHOT_DDL = (
    "CREATE TABLE {rec} (prefix TEXT NOT NULL, datestamp TEXT NOT NULL, id TEXT NOT NULL, "
    "deleted INTEGER NOT NULL, blob TEXT, PRIMARY KEY (prefix, datestamp, id)) WITHOUT ROWID",
    "CREATE UNIQUE INDEX {rec_id} ON {rec}(prefix, id)",
    "CREATE TABLE {mem} (setspec TEXT NOT NULL, prefix TEXT NOT NULL, datestamp TEXT NOT NULL, "
    "id TEXT NOT NULL, PRIMARY KEY (setspec, prefix, datestamp, id)) WITHOUT ROWID",
    "CREATE TABLE {item} (id TEXT PRIMARY KEY, datasource TEXT NOT NULL, "
    "original_id TEXT NOT NULL, entity_type TEXT, sets TEXT NOT NULL, prefixes TEXT NOT NULL, "
    "native_cs TEXT, transformed_cs TEXT, fingerprint TEXT, about TEXT, deleted INTEGER NOT NULL) "
    "WITHOUT ROWID",
)


@lru_cache(maxsize=4096)
def ts(value: datetime) -> str:
    """A datestamp at second granularity (the form stored and compared as text).

    Cached: a refresh formats three datestamps per item, and a harvest gives thousands of records
    the same few instants."""
    v = value.astimezone(UTC)
    return f"{v.year:04d}-{v.month:02d}-{v.day:02d}T{v.hour:02d}:{v.minute:02d}:{v.second:02d}Z"


@dataclass(frozen=True)
class Snapshot:
    """One snapshot's identity and description (immutable once live)."""

    id: int
    nonce: str
    state: str
    created_at: str
    keep_until: str | None
    info: dict[str, Any]

    @property
    def formats(self) -> dict[str, dict[str, str]]:
        """prefix → {"schema", "namespace"}"""
        return self.info.get("formats", {})

    @property
    def sets(self) -> list[dict[str, str]]:
        """[{"spec", "name", "description"?}] sorted by spec"""
        return self.info.get("sets", [])

    def count(self, prefix: str, set_spec: str | None) -> int | None:
        """The precomputed size of an unfiltered list, if known."""
        return self.info.get("counts", {}).get(f"{set_spec or ''}|{prefix}")


@dataclass(frozen=True, slots=True)
class ListedRecord:
    """One row of a list page or a GetRecord."""

    datestamp: str
    id: str
    deleted: bool
    sets: str
    about: str | None
    payload: bytes | None


@dataclass(frozen=True, slots=True)
class ItemInfo:
    id: str
    datasource: str
    original_id: str
    prefixes: tuple[str, ...]
    deleted: bool


def _tables(snapshot_id: int) -> Tables:
    if not isinstance(snapshot_id, int):
        raise PublisherError("malformed snapshot id", target=str(snapshot_id))
    return SNAPSHOTS.tables(snapshot_id)


def _old_tables(snapshot_id: int) -> dict[str, str]:
    """A snapshot's tables as the ``{old_rec}``, ``{old_mem}``, ``{old_item}`` slots of statements
    that copy from it into the one being built."""
    return {f"old_{kind}": name for kind, name in _tables(snapshot_id).items()}


def compress(payload: bytes) -> bytes:
    """A payload's blob (:mod:`mdstore.compression`: a refresh compresses every new payload, a list
    page decompresses every record it shows)."""
    return compression.compress(payload)


#: the columns a list page reads, with or without the payloads (and their ``about``)
_WITH_PAYLOAD = {
    "about": Sql("i.about"),
    "payload": Sql("b.data"),
    "join_blob": Sql("LEFT JOIN blobs b ON b.hash = r.blob"),
}
_WITHOUT_PAYLOAD = {"about": Sql("NULL"), "payload": Sql("NULL"), "join_blob": Sql("")}


class PublisherIndex:
    """Readers and the snapshot writer over one SQLite file. Thread-safe (a connection per thread)."""

    def __init__(self, path: str | Path, *, idle_readers: int = 8) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        # readers share a small pool rather than one connection per server thread: each SQLite
        # connection has its own page cache, so memory follows the pool, not the thread count
        self._idle: queue.LifoQueue[sqlite3.Connection] = queue.LifoQueue()
        self.idle_readers = idle_readers
        self._snapshots: dict[int, Snapshot] = {}
        self._lock = threading.Lock()
        self.con.executescript(BASE_SCHEMA)
        # asked first without the write lock: a server opening the file must not wait for a refresh
        has_blobs = "SELECT 1 FROM sqlite_master WHERE name = 'blobs'"
        if self.con.execute(has_blobs).fetchone() is None:
            with transaction(self.con) as con:  # a new file: asked again under the lock
                if con.execute(has_blobs).fetchone() is None:
                    for statement in BLOBS_DDL:
                        con.execute(statement)

    # --- connections --------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        return connect(self.path, timeout=60, cache_kib=16384)

    @property
    def con(self) -> sqlite3.Connection:
        """This thread's own connection (the snapshot writer and schema set-up)."""
        con = getattr(self._local, "con", None)
        if con is None:
            con = self._connect()
            self._local.con = con
        return con

    @contextmanager
    def _reader(self) -> Iterator[sqlite3.Connection]:
        try:
            con = self._idle.get_nowait()
        except queue.Empty:
            con = self._connect()
        try:
            yield con
        finally:
            if self._idle.qsize() < self.idle_readers:
                self._idle.put(con)
            else:
                con.close()

    def _read(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._reader() as con:
            return con.execute(sql, params).fetchall()

    def close(self) -> None:
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                break

    # --- snapshots ----------------------------------------------------------------------------
    def current(self) -> Snapshot | None:
        """The live snapshot (what new list requests read), or None before the first refresh."""
        rows = self._read("SELECT id FROM snapshots WHERE state='live' ORDER BY id DESC LIMIT 1")
        return self.snapshot(rows[0][0]) if rows else None

    def snapshot(self, snapshot_id: int) -> Snapshot | None:
        """A kept (live or retired) snapshot; None once dropped."""
        rows = self._read(
            "SELECT id, nonce, state, created_at, keep_until, info FROM snapshots WHERE id=?", (snapshot_id,)
        )
        if not rows:
            return None
        row = rows[0]
        cached = self._snapshots.get(snapshot_id)
        if cached is not None and cached.state == row[2] and cached.keep_until == row[4]:
            return cached
        snap = Snapshot(row[0], row[1], row[2], row[3], row[4], json.loads(row[5]))
        with self._lock:
            self._snapshots[snapshot_id] = snap
        return snap

    def snapshots(self) -> list[Snapshot]:
        ids = [r[0] for r in self._read("SELECT id FROM snapshots ORDER BY id")]
        return [s for s in map(self.snapshot, ids) if s is not None]

    def keep_alive(self, snapshot: Snapshot, until: datetime) -> None:
        """Keep a retired snapshot at least ``until`` (a token naming it stays valid that long).

        Best effort and never blocking: a refresh holding the write lock just means a later
        request extends it (tokens are issued with a margin, see the app).
        """
        if snapshot.state != "retired":
            return
        wanted = ts(until)
        if snapshot.keep_until and snapshot.keep_until >= ts(until - timedelta(minutes=10)):
            return
        con = connect(self.path, timeout=0, tune=False)
        try:
            con.execute(
                "UPDATE snapshots SET keep_until=? WHERE id=? AND (keep_until IS NULL OR keep_until < ?)",
                (wanted, snapshot.id, wanted),
            )
        except sqlite3.OperationalError as exc:
            logger.debug("could not extend snapshot %s now: %s", snapshot.id, exc)
        finally:
            con.close()

    # --- reading ------------------------------------------------------------------------------
    def page(
        self,
        snapshot: Snapshot,
        prefix: str,
        set_spec: str | None,
        after: tuple[str, str] | None,
        from_bound: str | None,
        until_bound: str | None,
        limit: int,
        *,
        with_payload: bool,
    ) -> list[ListedRecord]:
        """One keyset page of a list, in ``(datestamp, id)`` order."""
        t = _tables(snapshot.id)
        lower = after if after is not None else ((from_bound or ""), "")
        upper = until_bound or MAX_KEY
        columns = _WITH_PAYLOAD if with_payload else _WITHOUT_PAYLOAD
        if set_spec is None:
            statement = t.sql(
                "SELECT r.datestamp, r.id, r.deleted, i.sets, {about}, {payload} FROM {rec} r "
                "JOIN {item} i ON i.id = r.id {join_blob} "
                "WHERE r.prefix = ? AND (r.datestamp, r.id) > (?, ?) AND r.datestamp <= ? "
                "ORDER BY r.datestamp, r.id LIMIT ?",
                **columns,
            )
            params: tuple = (prefix, lower[0], lower[1], upper, limit)
        else:
            statement = t.sql(
                "SELECT r.datestamp, r.id, r.deleted, i.sets, {about}, {payload} FROM {mem} m "
                "JOIN {rec} r ON r.prefix = m.prefix AND r.datestamp = m.datestamp AND r.id = m.id "
                "JOIN {item} i ON i.id = r.id {join_blob} "
                "WHERE m.setspec = ? AND m.prefix = ? AND (m.datestamp, m.id) > (?, ?) AND m.datestamp <= ? "
                "ORDER BY m.datestamp, m.id LIMIT ?",
                **columns,
            )
            params = (set_spec, prefix, lower[0], lower[1], upper, limit)
        rows = self._query(snapshot, statement, params)
        return [
            ListedRecord(d, i, bool(x), s, a, compression.decompress(p) if p is not None else None)
            for d, i, x, s, a, p in rows
        ]

    def count(
        self,
        snapshot: Snapshot,
        prefix: str,
        set_spec: str | None,
        from_bound: str | None,
        until_bound: str | None,
    ) -> int:
        """The complete list size (precomputed for unfiltered lists, else one index range count)."""
        if from_bound is None and until_bound is None:
            known = snapshot.count(prefix, set_spec)
            if known is not None:
                return known
        t = _tables(snapshot.id)
        lower, upper = from_bound or "", until_bound or MAX_KEY
        if set_spec is None:
            statement = t.sql(
                "SELECT count(*) FROM {rec} WHERE prefix = ? AND datestamp >= ? AND datestamp <= ?"
            )
            params: tuple = (prefix, lower, upper)
        else:
            statement = t.sql(
                "SELECT count(*) FROM {mem} WHERE setspec = ? AND prefix = ? AND datestamp >= ? "
                "AND datestamp <= ?"
            )
            params = (set_spec, prefix, lower, upper)
        return self._query(snapshot, statement, params)[0][0]

    def record(self, snapshot: Snapshot, prefix: str, record_id: str) -> ListedRecord | None:
        rows = self._query(
            snapshot,
            _tables(snapshot.id).sql(
                "SELECT r.datestamp, r.id, r.deleted, i.sets, i.about, b.data FROM {rec} r "
                "JOIN {item} i ON i.id = r.id LEFT JOIN blobs b ON b.hash = r.blob "
                "WHERE r.prefix = ? AND r.id = ?"
            ),
            (prefix, record_id),
        )
        if not rows:
            return None
        d, i, x, s, a, p = rows[0]
        return ListedRecord(d, i, bool(x), s, a, compression.decompress(p) if p is not None else None)

    def item(self, snapshot: Snapshot, record_id: str) -> ItemInfo | None:
        rows = self._query(
            snapshot,
            _tables(snapshot.id).sql(
                "SELECT id, datasource, original_id, prefixes, deleted FROM {item} WHERE id = ?"
            ),
            (record_id,),
        )
        if not rows:
            return None
        i, ds, oid, prefixes, deleted = rows[0]
        return ItemInfo(i, ds, oid, tuple(p for p in prefixes.split(" ") if p), bool(deleted))

    def sample_id(self, snapshot: Snapshot) -> str | None:
        rows = self._query(
            snapshot, _tables(snapshot.id).sql("SELECT id FROM {item} ORDER BY id LIMIT 1"), ()
        )
        return rows[0][0] if rows else None

    def _query(self, snapshot: Snapshot, sql: str, params: tuple) -> list[tuple]:
        try:
            return self._read(sql, params)
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                raise SnapshotGone(f"snapshot {snapshot.id} is no longer kept", target=self.path) from exc
            raise

    def errors(self, snapshot_id: int, limit: int = 100) -> list[tuple[str, str, str]]:
        return self._read(
            "SELECT datasource, record_id, message FROM errors WHERE snapshot=? LIMIT ?", (snapshot_id, limit)
        )

    # --- writing ------------------------------------------------------------------------------
    @contextmanager
    def build(self, now: datetime) -> Iterator[SnapshotWriter]:
        """Build the next snapshot in one write transaction; it goes live when the block ends.

        A second refresh waits on SQLite's write lock; an exception rolls everything back.
        """
        with transaction(self.con) as con:
            writer = SnapshotWriter(self, con, now)
            yield writer
            writer._finish()
        with self._lock:
            self._snapshots.clear()


class SnapshotGone(PublisherError):
    """A snapshot named by a resumption token was dropped (its retention passed)."""


class SnapshotWriter:
    """Rows of the snapshot being built; the previous live snapshot is readable as ``previous``."""

    def __init__(self, index: PublisherIndex, con: sqlite3.Connection, now: datetime) -> None:
        self.index = index
        self.con = con
        self.now = now
        row = con.execute("SELECT id FROM snapshots WHERE state='live' ORDER BY id DESC LIMIT 1").fetchone()
        self.previous: Snapshot | None = index.snapshot(row[0]) if row else None
        (last,) = con.execute("SELECT coalesce(max(id), 0) FROM snapshots").fetchone()
        self.id = int(last) + 1
        self.nonce = secrets.token_hex(6)
        self.info: dict[str, Any] = {}
        self._savepoints = count()
        self._previous_prefixes: str | None = None  # JSON list, for previous_items
        SNAPSHOTS.drop(con, self.id)  # leftovers of a crash are rolled back anyway
        #: the first snapshot of a new file appends its blobs without their hash index and builds
        #: it at the end (:meth:`_index_blobs`): inserted one by one, the random md5 keys of
        #: 2,000,000 blobs (1,000,000 items) took 37.5 of the writing process's CPU seconds, against
        #: 10.2 appended and 3.6 to build the index in one sort (bench/RESULTS.md, stop 23); a
        #: rolled-back build puts the index back with the rest
        self._bulk_blobs = bool(
            con.execute("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'blobs_hash'").fetchone()
            and con.execute("SELECT NOT EXISTS (SELECT 1 FROM blobs)").fetchone()[0]
        )
        if self._bulk_blobs:
            con.execute("DROP INDEX blobs_hash")
        #: the new snapshot's tables, as the ``{rec}``, ``{mem}``, ``{item}`` slots of statements
        self.t = SNAPSHOTS.create(con, self.id, SNAPSHOT_DDL, rec_id=f"rec_{self.id}_id")

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """What the block writes is undone if it raises (and the exception goes on), kept if not:
        one datasource's rows can be dropped without giving up the snapshot."""
        name = f"ds_{next(self._savepoints)}"
        self.con.execute(sql("SAVEPOINT {name}", name=name))
        try:
            yield
        except BaseException:
            self.con.execute(sql("ROLLBACK TO {name}", name=name))
            self.con.execute(sql("RELEASE {name}", name=name))
            raise
        self.con.execute(sql("RELEASE {name}", name=name))

    # --- rows ---------------------------------------------------------------------------------
    def put_blobs(self, blobs: Iterable[tuple[str, bytes]]) -> None:
        """(md5 of the payload, the payload already :func:`compress`-ed): the refresh compresses
        where it makes the payload (in its builder processes when it has some). A payload already
        stored is not stored again (in a first snapshot, until :meth:`_index_blobs` dedups)."""
        self.con.executemany("INSERT OR IGNORE INTO blobs(hash, data) VALUES (?, ?)", blobs)

    def put_items(self, items: Sequence[tuple], records: Sequence[tuple]) -> None:
        """items: (id, datasource, original_id, entity_type, sets (JSON list), prefixes, native_cs,
        transformed_cs, fingerprint, about, deleted); records: (prefix, datestamp, id, deleted, blob).

        Set memberships are derived from both at the end (``mem`` = item sets × item records).
        """
        self.con.executemany(self.t.sql("INSERT INTO {item} VALUES (?,?,?,?,?,?,?,?,?,?,?)"), items)
        self.con.executemany(self.t.sql("INSERT INTO {rec} VALUES (?,?,?,?,?)"), records)

    def previous_items(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The previous snapshot's rows for these items: ``row`` (item fields) and ``records``.

        Records are looked up by (prefix, id) for each prefix the previous snapshot has, on its
        ``(prefix, id)`` index: ``WHERE id IN (…)`` alone scanned the whole records table for
        every batch of 500 items (40 million rows read for a second refresh of 100,000 items).
        """
        if self.previous is None or not ids:
            return {}
        old = _tables(self.previous.id)
        if self._previous_prefixes is None:
            rows = self.con.execute(old.sql("SELECT DISTINCT prefix FROM {rec}")).fetchall()
            self._previous_prefixes = json.dumps(sorted(r[0] for r in rows))
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            ids_in = marks(len(chunk))
            for row in self.con.execute(
                old.sql("SELECT * FROM {item} WHERE id IN ({ids})", ids=ids_in), chunk
            ):
                found[row[0]] = {"row": row, "records": []}
            for row in self.con.execute(
                old.sql(
                    "SELECT r.* FROM json_each(?) p CROSS JOIN json_each(?) i "
                    "CROSS JOIN {rec} r ON r.prefix = p.value AND r.id = i.value"
                ),
                (self._previous_prefixes, json.dumps(chunk)),
            ):
                if row[2] in found:
                    found[row[2]]["records"].append(row)
        return found

    def copy_datasource(self, datasource: str) -> int:
        """Copy a datasource's rows from the previous snapshot unchanged (its sources did not move)."""
        if self.previous is None:
            return 0
        old = _old_tables(self.previous.id)
        cur = self.con.execute(
            self.t.sql("INSERT INTO {item} SELECT * FROM {old_item} WHERE datasource = ?", **old),
            (datasource,),
        )
        copied = cur.rowcount
        self.con.execute(
            self.t.sql(
                "INSERT INTO {rec} SELECT r.* FROM {old_rec} r JOIN {old_item} i ON i.id = r.id "
                "WHERE i.datasource = ?",
                **old,
            ),
            (datasource,),
        )
        return copied

    def tombstone_leftovers(self, datasources: Iterable[str] | None) -> int:
        """Persistent deletion: a record of the previous snapshot that the new one lacks is kept,
        as deleted (datestamp: now, unless it was deleted already).

        ``datasources`` limits this to those datasources (None: all of the previous snapshot).
        """
        if self.previous is None:
            return 0
        old = _old_tables(self.previous.id)
        now = ts(self.now)
        where, params = Sql(""), ()
        if datasources is not None:
            names = list(datasources)
            if not names:
                return 0
            where = Sql(" AND i.datasource IN (" + marks(len(names)) + ")")
            params = tuple(names)
        self.con.execute(
            self.t.sql(
                "INSERT INTO {item} SELECT i.id, i.datasource, i.original_id, i.entity_type, i.sets, "
                "i.prefixes, i.native_cs, i.transformed_cs, i.fingerprint, i.about, 1 FROM {old_item} i "
                "WHERE NOT EXISTS (SELECT 1 FROM {item} n WHERE n.id = i.id){where}",
                where=where,
                **old,
            ),
            params,
        )
        # records of those items, and missing formats of items that are still there
        cur = self.con.execute(
            self.t.sql(
                "INSERT INTO {rec} SELECT r.prefix, CASE WHEN r.deleted THEN r.datestamp ELSE ? END, "
                "r.id, 1, NULL FROM {old_rec} r JOIN {old_item} i ON i.id = r.id "
                "WHERE NOT EXISTS (SELECT 1 FROM {rec} n WHERE n.prefix = r.prefix AND n.id = r.id){where}",
                where=where,
                **old,
            ),
            (now, *params),
        )
        added = cur.rowcount
        if added:
            # keep item format lists complete for ListMetadataFormats
            self.con.execute(
                self.t.sql(
                    "UPDATE {item} SET prefixes = (SELECT group_concat(prefix, ' ') FROM "
                    "(SELECT prefix FROM {rec} r WHERE r.id = {item}.id ORDER BY prefix))"
                )
            )
        return added

    def add_error(self, datasource: str, record_id: str | None, message: str) -> None:
        self.con.execute("INSERT INTO errors VALUES (?,?,?,?)", (self.id, datasource, record_id, message))

    # --- statistics ---------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        counts = {
            f"|{p}": n
            for p, n in self.con.execute(self.t.sql("SELECT prefix, count(*) FROM {rec} GROUP BY prefix"))
        }
        counts.update(
            {
                f"{s}|{p}": n
                for s, p, n in self.con.execute(
                    self.t.sql("SELECT setspec, prefix, count(*) FROM {mem} GROUP BY setspec, prefix")
                )
            }
        )
        return counts

    def earliest(self) -> str | None:
        return self.con.execute(self.t.sql("SELECT min(datestamp) FROM {rec}")).fetchone()[0]

    def item_count(self) -> int:
        return self.con.execute(self.t.sql("SELECT count(*) FROM {item}")).fetchone()[0]

    def prefixes_in_use(self) -> set[str]:
        return {r[0] for r in self.con.execute(self.t.sql("SELECT DISTINCT prefix FROM {rec}"))}

    def set_specs_in_use(self) -> set[str]:
        return {r[0] for r in self.con.execute(self.t.sql("SELECT DISTINCT setspec FROM {mem}"))}

    # --- going live ---------------------------------------------------------------------------
    def build_memberships(self) -> None:
        """Derive ``mem`` (set × record, in list order) from the item sets and records, in one pass."""
        self.con.execute(
            self.t.sql(
                "INSERT OR IGNORE INTO {mem} SELECT j.value, r.prefix, r.datestamp, r.id "
                "FROM {rec} r JOIN {item} i ON i.id = r.id, json_each(i.sets) j "
                "ORDER BY 1, 2, 3, 4"
            )
        )

    def _index_blobs(self) -> None:
        """The hash index a first snapshot dropped, built in one sort. A payload that two batches
        both made was appended twice meanwhile: the copies after the first are deleted first."""
        try:
            self.con.execute(BLOBS_DDL[1])
        except sqlite3.IntegrityError:
            self.con.execute(
                "DELETE FROM blobs WHERE rowid NOT IN (SELECT min(rowid) FROM blobs GROUP BY hash)"
            )
            self.con.execute(BLOBS_DDL[1])
        self._bulk_blobs = False

    def _finish(self) -> None:
        if self._bulk_blobs:
            self._index_blobs()
        now = ts(self.now)
        self.con.execute(
            "INSERT INTO snapshots(id, nonce, state, created_at, info) VALUES (?,?,?,?,?)",
            (self.id, self.nonce, "live", now, json.dumps(self.info, sort_keys=True)),
        )
        keep_until = ts(self.now + timedelta(seconds=self.info.get("retention_seconds", 26 * 3600)))
        self.con.execute(
            "UPDATE snapshots SET state='retired', retired_at=?, keep_until=max(coalesce(keep_until, ''), ?) "
            "WHERE state='live' AND id != ?",
            (now, keep_until, self.id),
        )
        expired = [
            r[0]
            for r in self.con.execute(
                "SELECT id FROM snapshots WHERE state='retired' AND keep_until < ?", (now,)
            )
        ]
        for snapshot_id in expired:
            SNAPSHOTS.drop(self.con, snapshot_id)
            self.con.execute("DELETE FROM snapshots WHERE id=?", (snapshot_id,))
            self.con.execute("DELETE FROM errors WHERE snapshot=?", (snapshot_id,))
        if expired:
            self._collect_blobs()
        logger.info("publisher snapshot %s is live; dropped expired snapshots %s", self.id, expired or "none")

    def _collect_blobs(self) -> None:
        kept = [r[0] for r in self.con.execute("SELECT id FROM snapshots")]
        union = Sql(" UNION ").join(
            Sql(_tables(s).sql("SELECT blob FROM {rec} WHERE blob IS NOT NULL")) for s in kept
        )
        if union:
            self.con.execute(sql("DELETE FROM blobs WHERE hash NOT IN ({union})", union=union))
        else:
            self.con.execute("DELETE FROM blobs")
