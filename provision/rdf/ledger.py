"""Which record asserted which triple: what makes in-place refreshes and deletions exact.

A datasource's graph is the *set* union of its records' triples, and records share triples (the
same actor, place or concept described by many records). Replacing or deleting one record must
therefore remove only the triples no other record still asserts. The ledger keeps, per graph,

* ``records``: each record's canonical lines (:mod:`provision.rdf.triples`), so the old triples of
  a changed record are known without asking the store;
* ``subjects``: the IRIs each record describes (subjects of its triples), keyed by the IRI (one
  B-tree, no second index), so an entity's page links to the records it comes from;
* ``shared``: for each triple that **two or more** records assert (a 64-bit digest of its line),
  how many do. A triple without a row is asserted by one record if it is in the graph, by none if
  it is not: the graph itself is the rest of the count, and :meth:`Ledger.apply` asks the store
  (its ``present`` argument) about the lines it changes that have no row;
* ``graphs``: each graph's record and triple totals.

:meth:`Ledger.apply` turns a batch of replaced and deleted records into the lines whose count went
from 0 to 1 (to insert) and from 1 to 0 (to delete). A rebuild writes under a staging graph key and
:meth:`Ledger.switch` renames it to the live one in one SQLite transaction.

Why a side table and not one named graph per record: a graph per record doubles the stored quads
(the datasource graph must exist too, as a real graph, for ``GRAPH <ds>`` queries) and makes every
load a per-record transaction; the side table costs one SQLite row per record and per subject,
written in batches (see bench/RESULTS.md for the load rates). Why rows only for shared triples:
in a rebuild, one row per distinct triple (1.8 million at 100,000 records) and a digest of every
line cost ~9 CPU s, half of the ledger's work, for a number the graph already tells (≥ 1); most
triples are asserted by one record (49 of 90,048 distinct triples are shared in 5,000 synthetic PE
records), so the rows that remain are few. The price: an in-place load asks the store about the
lines it changes that have no row.

The lines' digests are 64 bits (a rebuild tells the lines it met before by Python's 64-bit
``hash``): two lines with the same digest would share a count. At 100,000 records (1.8 million
distinct lines) the chance of any such collision is about 1 in 10 million; its effect would be a
triple outliving its last record, which ``contentcloud rdf --check`` reports (``extra_triples``)
and a rebuild removes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import queue
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provision.rdf.base import RdfStoreError

#: bumped when the tables change: a ledger of another version is emptied when opened, which makes
#: the next load of every datasource a rebuild (its record count no longer matches the store's state)
SCHEMA_VERSION = 2
SCHEMA = (
    """CREATE TABLE IF NOT EXISTS graphs (
    gid INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL,
    records INTEGER NOT NULL DEFAULT 0, triples INTEGER NOT NULL DEFAULT 0)""",
    # a rowid table: a record's ~3 KB of lines fit in its leaf cell (a WITHOUT ROWID row keeps ~1 KB
    # there and the rest in an overflow page), and a rebuild's rows are appended
    """CREATE TABLE IF NOT EXISTS records (
    gid INTEGER NOT NULL, id TEXT NOT NULL, nt BLOB NOT NULL, UNIQUE (gid, id))""",
    """CREATE TABLE IF NOT EXISTS shared (
    gid INTEGER NOT NULL, h INTEGER NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (gid, h)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS subjects (
    gid INTEGER NOT NULL, iri BLOB NOT NULL, id TEXT NOT NULL, PRIMARY KEY (gid, iri, id)) WITHOUT ROWID""",
)
#: the page size of a ledger file created by this code (SQLite keeps a file's own): at the default
#: 4 KB, a record's ~2.7 KB of lines took a page to itself, and writing a rebuild's rows cost ~0.4
#: CPU s more at 100,000 records (bench/RESULTS.md, stop 20)
PAGE_SIZE = 16384
#: what earlier versions had besides
OLD_TABLES = ("refs",)

#: ``present(lines)``: which of these canonical lines the graph holds now
Present = Callable[[Sequence[bytes]], set[bytes]]

logger = logging.getLogger(__name__)


def subjects_of(lines: Iterable[bytes]) -> set[bytes]:
    """The subject IRIs (UTF-8) of canonical lines ``<iri> <p> o .`` (no blank nodes: skolemized);
    a record has ~27 lines, ~8 subjects. (Slicing each line up to its first ``>`` costs half of one
    regular-expression pass over the joined lines.)"""
    return {line[1 : line.find(b">")] for line in lines if line[:1] == b"<"}


def line_hash(line: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(line, digest_size=8).digest(), "big", signed=True)


def line_hashes(lines: Iterable[bytes]) -> list[int]:
    """:func:`line_hash` of many lines (one loop, no call per line)."""
    blake2b, from_bytes = hashlib.blake2b, int.from_bytes
    return [from_bytes(blake2b(line, digest_size=8).digest(), "big", signed=True) for line in lines]


@dataclass
class _Fresh:
    """What a rebuild keeps in memory until :meth:`Ledger.finish_fresh`: Python's ``hash`` of every
    distinct line met (one set of ints, ~70 bytes a distinct triple) and the lines met more than
    once with their counts."""

    seen: set[int] = field(default_factory=set)
    shared: dict[bytes, int] = field(default_factory=dict)


class Ledger:
    """The record→triples side table of one store (a SQLite file; one writer at a time)."""

    def __init__(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = str(path)
        self._db = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
        self._db.execute(f"PRAGMA page_size={PAGE_SIZE}")  # a new file's only (see PAGE_SIZE)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        # the B-trees a load writes at random places (subjects by digest) stay in memory instead of
        # SQLite's default 2 MB cache, which 100,000 records outgrow
        self._db.execute("PRAGMA cache_size=-262144")
        self._db.execute("PRAGMA temp_store=MEMORY")
        self._migrate()
        #: a rebuild's in-memory part by graph id, until :meth:`finish_fresh` writes it
        self._fresh: dict[int, _Fresh] = {}
        #: graph id of each graph a rebuild writes (:meth:`add_fresh` asks SQLite once)
        self._fresh_gids: dict[str, int] = {}
        self._writer: _FreshWriter | None = None

    def _migrate(self) -> None:
        if self._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
            return
        with self._transaction():
            if self._db.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
                for table in ("graphs", "records", "subjects", "shared", *OLD_TABLES):
                    self._db.execute(f"DROP TABLE IF EXISTS {table}")
                for statement in SCHEMA:
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        self._settle(check=False)
        self._db.close()

    def sync(self) -> None:
        """Wait until the rebuild rows handed to the writer thread are committed; raise its error.
        The thread goes on (its connection holds the rebuild's staged subjects until
        :meth:`finish_fresh`)."""
        if self._writer is not None:
            self._writer.drain()

    def _settle(self, *, check: bool) -> None:
        """Close the writer thread; its error is raised with ``check``, else logged (a ledger being
        closed or a staging graph being dropped after a failure: the rows go anyway)."""
        if self._writer is not None:
            writer, self._writer = self._writer, None
            try:
                writer.close()
            except RdfStoreError as exc:
                if check:
                    raise
                logger.warning("%s", exc)

    def gid(self, graph: str, *, create: bool = True) -> int | None:
        self.sync()
        row = self._db.execute("SELECT gid FROM graphs WHERE name = ?", (graph,)).fetchone()
        if row is not None:
            return int(row[0])
        if not create:
            return None
        return int(
            self._db.execute("INSERT INTO graphs(name) VALUES (?) RETURNING gid", (graph,)).fetchone()[0]
        )

    def drop(self, graph: str) -> None:
        """Forget a graph (an aborted rebuild's staging graph, a wiped store)."""
        self._settle(check=False)  # an aborted rebuild's writer may have failed: its rows go anyway
        gid = self.gid(graph, create=False)
        if gid is None:
            return
        with self._transaction():
            self._drop_gid(gid)

    def _drop_gid(self, gid: int) -> None:
        self._fresh.pop(gid, None)
        self._fresh_gids = {name: g for name, g in self._fresh_gids.items() if g != gid}
        self._db.execute("DELETE FROM records WHERE gid = ?", (gid,))
        self._db.execute("DELETE FROM shared WHERE gid = ?", (gid,))
        self._db.execute("DELETE FROM subjects WHERE gid = ?", (gid,))
        self._db.execute("DELETE FROM graphs WHERE gid = ?", (gid,))

    def apply(
        self,
        graph: str,
        puts: Mapping[str, Sequence[bytes]],
        deletes: Sequence[str] = (),
        *,
        present: Present,
    ) -> tuple[list[bytes], list[bytes]]:
        """Record the new lines of ``puts`` and forget ``deletes``; return (lines to insert into the
        graph, lines to delete from it). ``present`` tells which of the changed lines without a
        ``shared`` row the graph holds (each is asserted by one record then, else by none); it is
        asked before the caller writes the returned lines, while graph and ledger agree."""
        gid = self.gid(graph)
        ids = list(puts) + [rid for rid in deletes if rid not in puts]
        delta: Counter[bytes] = Counter()
        old_subjects: list[tuple[int, bytes, str]] = []
        existed = 0
        with self._transaction():
            for chunk in _chunks(ids, 500):
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT id, nt FROM records WHERE gid = ? AND id IN ({marks})",  # noqa: S608 - placeholders only
                    (gid, *chunk),
                )
                for rid, nt in rows:
                    existed += 1
                    delta.subtract(nt.split(b"\n"))
                    old_subjects.extend((gid, iri, rid) for iri in subjects_of(nt.split(b"\n")))
            for lines in puts.values():
                delta.update(lines)
            changed = [(line, change) for line, change in delta.items() if change and line]
            digests = line_hashes(line for line, _ in changed)
            rows_n: dict[int, int] = {}
            for chunk_h in _chunks(digests, 500):
                marks = ",".join("?" * len(chunk_h))
                rows_n.update(
                    self._db.execute(
                        f"SELECT h, n FROM shared WHERE gid = ? AND h IN ({marks})",  # noqa: S608 - placeholders only
                        (gid, *chunk_h),
                    ).fetchall()
                )
            unknown = [line for (line, _), h in zip(changed, digests) if h not in rows_n]
            here = present(unknown) if unknown else set()
            added: list[bytes] = []
            removed: list[bytes] = []
            upserts: list[tuple[int, int, int]] = []
            gone: list[tuple[int, int]] = []
            for (line, change), h in zip(changed, digests):
                before = rows_n.get(h)
                if before is None:
                    before = 1 if line in here else 0
                after = before + change
                if after >= 2:
                    upserts.append((gid, h, after))
                elif h in rows_n:
                    gone.append((gid, h))
                if before <= 0 < after:
                    added.append(line)
                elif after <= 0 < before:
                    removed.append(line)
            execute, executemany = self._db.execute, self._db.executemany
            executemany("INSERT OR REPLACE INTO shared(gid, h, n) VALUES (?, ?, ?)", upserts)
            executemany("DELETE FROM shared WHERE gid = ? AND h = ?", gone)
            if deletes:
                executemany("DELETE FROM records WHERE gid = ? AND id = ?", [(gid, rid) for rid in deletes])
            executemany("DELETE FROM subjects WHERE gid = ? AND iri = ? AND id = ?", old_subjects)
            _write_records(self._db, gid, puts)
            execute(
                "UPDATE graphs SET records = records + ?, triples = triples + ? WHERE gid = ?",
                (len(puts) - existed, len(added) - len(removed), gid),
            )
        return added, removed

    def records_about(self, graph: str, iri: str, limit: int = 20) -> list[str]:
        """Ids of the records that describe ``iri`` (have it as a subject)."""
        gid = self.gid(graph, create=False)
        if gid is None:
            return []
        rows = self._db.execute(
            "SELECT id FROM subjects WHERE gid = ? AND iri = ? ORDER BY id LIMIT ?",
            (gid, iri.encode("utf-8"), limit),
        )
        return [row[0] for row in rows]

    def add_fresh(self, graph: str, puts: Mapping[str, Sequence[bytes]]) -> list[bytes]:
        """:meth:`apply` for a graph being built from nothing (a rebuild), whose records each come
        once: every distinct line of the batch is returned (loading a line the graph already holds
        changes nothing, so nobody needs to know which are new; a line is returned once a batch);
        the records and their subjects are written, and the lines met more than once counted, for
        :meth:`finish_fresh` to write.

        Why in a thread of its own (:class:`_FreshWriter`, its own connection): these SQLite writes
        were a third of a rebuild's time on the caller's thread (bench/RESULTS.md), and SQLite
        releases the GIL while it works, so the caller canonicalizes the next records meanwhile.
        Why Python's ``hash`` to tell the lines met before: it is computed in C and cached on the
        line, where a BLAKE2b digest of each of a rebuild's lines cost a Python call each (~3 CPU s
        at 100,000 records); the few shared lines get their digest at the end. A rebuild that dies
        loses nothing it needed (its rows are under a staging graph :meth:`drop` removes). Errors
        of the thread are raised by the next call."""
        gid = self._fresh_gids.get(graph)
        if gid is None:
            gid = self.gid(graph)
            assert gid is not None
            self._fresh_gids[graph] = gid
        fresh = self._fresh.setdefault(gid, _Fresh())
        batch: Counter[bytes] = Counter()
        for lines in puts.values():
            batch.update(lines)
        batch.pop(b"", None)
        seen, shared = fresh.seen, fresh.shared
        hashes = list(map(hash, batch))  # set operations in C; Python loops only over repeats
        again = seen.intersection(hashes)
        seen.update(hashes)
        for line in [line for line, n in batch.items() if n > 1]:
            if hash(line) not in again:
                shared[line] = batch[line]
        if again:
            for line in [line for line, h in zip(batch, hashes) if h in again]:
                shared[line] = shared.get(line, 1) + batch[line]
        if self._writer is None:
            self._writer = _FreshWriter(self.path)
        self._writer.submit(("records", gid, dict(puts)))
        return list(batch)

    def fresh_hashes(self, graph: str) -> set[int]:
        """Python's ``hash`` of every distinct line a rebuild of ``graph`` has handed over so far (the
        set :meth:`add_fresh` keeps; valid in this process only)."""
        gid = self._fresh_gids.get(graph)
        fresh = self._fresh.get(gid) if gid is not None else None
        return fresh.seen if fresh is not None else set()

    def finish_fresh(self, graph: str, *, wait: bool = True) -> None:
        """Write a rebuild's shared lines' counts and its totals (before :meth:`switch`); with
        ``wait`` false the writer thread does it while the caller goes on (:meth:`sync` waits for
        it)."""
        gid = self._fresh_gids.get(graph)
        if gid is None:
            gid = self.gid(graph)
            assert gid is not None
        fresh = self._fresh.pop(gid, _Fresh())
        counts = dict(zip(line_hashes(fresh.shared), fresh.shared.values()))
        if self._writer is None:
            self._writer = _FreshWriter(self.path)
        self._writer.submit(("totals", gid, counts, len(fresh.seen)))
        if wait:
            self.sync()

    def switch(self, staging: str, live: str) -> None:
        """The staging graph's rows become the live graph's, in one transaction."""
        self.sync()
        self._fresh_gids.clear()
        with self._transaction():
            old = self.gid(live, create=False)
            if old is not None:
                self._drop_gid(old)
            self._db.execute("UPDATE graphs SET name = ? WHERE name = ?", (live, staging))

    def records(self, graph: str) -> Iterator[tuple[str, list[bytes]]]:
        """``(record id, lines)`` ordered by id."""
        gid = self.gid(graph, create=False)
        if gid is None:
            return
        after = ""
        while True:
            rows = self._db.execute(
                "SELECT id, nt FROM records WHERE gid = ? AND id > ? ORDER BY id LIMIT 1000", (gid, after)
            ).fetchall()
            if not rows:
                return
            for rid, nt in rows:
                yield rid, [line for line in nt.split(b"\n") if line]
            after = rows[-1][0]

    def counts(self, graph: str) -> tuple[int, int]:
        """(records, distinct triples) of a graph."""
        gid = self.gid(graph, create=False)
        if gid is None:
            return 0, 0
        row = self._db.execute("SELECT records, triples FROM graphs WHERE gid = ?", (gid,)).fetchone()
        return int(row[0]), int(row[1])

    def _transaction(self):
        return _Transaction(self._db)


def _write_records(db: sqlite3.Connection, gid: int, puts: Mapping[str, Sequence[bytes]]) -> None:
    _write_lines(db, gid, puts)
    db.executemany(
        "INSERT OR IGNORE INTO subjects(gid, iri, id) VALUES (?, ?, ?)",
        [(gid, iri, rid) for rid, lines in puts.items() for iri in subjects_of(lines)],
    )


def _write_lines(db: sqlite3.Connection, gid: int, puts: Mapping[str, Sequence[bytes]]) -> None:
    db.executemany(
        "INSERT OR REPLACE INTO records(gid, id, nt) VALUES (?, ?, ?)",
        [(gid, rid, b"\n".join(lines)) for rid, lines in puts.items()],
    )


#: a rebuild's subjects, staged by the writer thread's connection (a temporary table: never written
#: to the ledger file's WAL) as one JSON list per record, until :data:`MOVE_STAGED_SUBJECTS` puts
#: them into ``subjects`` in one statement, in one transaction (no ``ORDER BY``: sorting the 1.1
#: million rows of 100,000 records first cost ~0.6 CPU s more than inserting them in the order they
#: come; bench/RESULTS.md, stop 20)
STAGE_SUBJECTS = """CREATE TEMP TABLE IF NOT EXISTS fresh_subjects (
    gid INTEGER NOT NULL, id TEXT NOT NULL, subs TEXT NOT NULL)"""
MOVE_STAGED_SUBJECTS = """INSERT OR IGNORE INTO subjects(gid, iri, id)
SELECT f.gid, CAST(j.value AS BLOB), f.id FROM fresh_subjects AS f, json_each(f.subs) AS j
WHERE f.gid = ?"""


def _stage_subjects(db: sqlite3.Connection, gid: int, puts: Mapping[str, Sequence[bytes]]) -> None:
    """A rebuild batch's subjects into the staging table (IRIs are UTF-8: pyoxigraph wrote them)."""
    dumps = _json_list
    db.executemany(
        "INSERT INTO fresh_subjects(gid, id, subs) VALUES (?, ?, ?)",
        [
            (gid, rid, dumps([iri.decode("utf-8") for iri in subjects_of(lines)]))
            for rid, lines in puts.items()
        ],
    )


_json_list = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


#: rebuild batches handed to the writer thread and not yet written (bounds the memory they hold)
FRESH_QUEUE = 4
#: rebuild batches the writer thread commits at once (fewer commits, fewer WAL checkpoints)
FRESH_COMMIT_EVERY = 8


class _FreshWriter:
    """A rebuild's ledger writes, in a thread with its own connection to the ledger file.

    Work items (tuples) come through a bounded queue: ``("records", gid, puts)`` writes a batch's
    records, stages their subjects and adds them to the graph's total; ``("totals", gid, counts,
    triples)`` moves the staged subjects into ``subjects`` in one statement and writes the shared
    lines' counts (digest → count) and the graph's triple total; ``("sync", event)`` commits and
    sets the event (:meth:`drain`). The thread commits every :data:`FRESH_COMMIT_EVERY` batches and
    when it is closed. After an error it keeps taking (and dropping) items, so that the producer never
    blocks on a queue nobody reads; :meth:`submit`, :meth:`drain` and :meth:`close` raise it.

    Why the subjects are staged (bench/RESULTS.md, "The rebuild's subjects in key order"): one
    row per record and subject (1.1 million at 100,000 records) inserted as the batches come lands
    at random places of the ``(gid, iri, id)`` B-tree; beside the bulk loaders that took the thread
    ~8 CPU seconds, half of a rebuild's time beyond the loaders'. Staged as one JSON list a
    record in a temporary table, and moved by one ``INSERT … SELECT`` (SQLite splits the lists
    without the GIL), they are written in one transaction at the end instead. The staging table
    belongs to this thread's connection, which is why :meth:`Ledger.sync` drains the thread
    instead of closing it.
    """

    def __init__(self, path: str) -> None:
        self._queue: queue.Queue[tuple[Any, ...] | None] = queue.Queue(maxsize=FRESH_QUEUE)
        self._error: BaseException | None = None
        self._path = path
        self._thread = threading.Thread(target=self._run, name="rdf-ledger-writer", daemon=True)
        self._thread.start()

    def submit(self, item: tuple[Any, ...]) -> None:
        self._raise()
        while self._thread.is_alive():
            try:
                self._queue.put(item, timeout=0.5)
                return
            except queue.Full:
                self._raise()
        self._raise()
        raise RdfStoreError("the ledger's writer thread stopped", target=self._path)

    def drain(self) -> None:
        """Wait until what was handed over is written and committed; raise the thread's error."""
        done = threading.Event()
        self.submit(("sync", done))
        while not done.wait(0.5) and self._thread.is_alive():
            pass
        self._raise()
        if not done.is_set():
            raise RdfStoreError("the ledger's writer thread stopped", target=self._path)

    def close(self) -> None:
        """Commit what was handed over and stop the thread; raise its error."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            error = self._error
            raise RdfStoreError(f"writing the ledger failed: {error}", target=self._path) from error

    def _run(self) -> None:
        db: sqlite3.Connection | None = None
        pending = 0
        closing = False  # the sentinel was taken: nothing more will come to drain
        try:
            db = sqlite3.connect(self._path, timeout=60, isolation_level=None)
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA cache_size=-262144")
            db.execute(STAGE_SUBJECTS)
            while True:
                item = self._queue.get()
                if item is None:
                    closing = True
                    break
                if item[0] == "sync":
                    if pending:
                        db.execute("COMMIT")
                        pending = 0
                    item[1].set()
                    continue
                if not pending:
                    db.execute("BEGIN IMMEDIATE")
                if item[0] == "records":
                    _, gid, puts = item
                    _write_lines(db, gid, puts)
                    _stage_subjects(db, gid, puts)
                    db.execute("UPDATE graphs SET records = records + ? WHERE gid = ?", (len(puts), gid))
                    pending += 1
                else:
                    _, gid, counts, triples = item
                    db.execute(MOVE_STAGED_SUBJECTS, (gid,))
                    db.execute("DELETE FROM fresh_subjects WHERE gid = ?", (gid,))
                    db.executemany(
                        "INSERT INTO shared(gid, h, n) VALUES (?, ?, ?)",
                        ((gid, digest, counts[digest]) for digest in sorted(counts)),
                    )
                    db.execute("UPDATE graphs SET triples = ? WHERE gid = ?", (triples, gid))
                    pending = FRESH_COMMIT_EVERY
                if pending >= FRESH_COMMIT_EVERY:
                    db.execute("COMMIT")
                    pending = 0
            if pending:
                db.execute("COMMIT")
        except BaseException as exc:  # raised again in the caller's thread (submit, close)
            self._error = exc
            if db is not None and db.in_transaction:
                with contextlib.suppress(sqlite3.Error):  # the error above is the one to report
                    db.execute("ROLLBACK")
            while not closing:  # drain until close; a waiting drain() is woken to raise the error
                item = self._queue.get()
                if item is None:
                    break
                if item[0] == "sync":
                    item[1].set()
        finally:
            if db is not None:
                db.close()


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind, *rest) -> None:
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
