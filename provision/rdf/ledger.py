"""Which record asserted which triple: what makes in-place refreshes and deletions exact.

A datasource's graph is the *set* union of its records' triples, and records share triples (the
same actor, place or concept described by many records). Replacing or deleting one record must
therefore remove only the triples no other record still asserts. The ledger keeps, per graph,

* ``records``: each record's canonical lines (:mod:`provision.rdf.triples`), so the old triples of
  a changed record are known without asking the store;
* ``subjects``: the IRIs each record describes (subjects of its triples), so an entity's page
  links to the records it comes from;
* ``refs``: for each triple (a 64-bit BLAKE2b digest of its line), how many records assert it.

:meth:`Ledger.apply` turns a batch of replaced and deleted records into the lines whose count went
from 0 to 1 (to insert) and from 1 to 0 (to delete). A rebuild writes under a staging graph key and
:meth:`Ledger.switch` renames it to the live one in one SQLite transaction.

Why a side table and not one named graph per record: a graph per record doubles the stored quads
(the datasource graph must exist too, as a real graph, for ``GRAPH <ds>`` queries) and makes every
load a per-record transaction; the side table costs one SQLite row per record and per distinct
triple, written in batches (see bench/RESULTS.md for the load rates).
"""

from __future__ import annotations

import hashlib
import queue
import re
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from provision.rdf.base import RdfStoreError

SCHEMA = """
CREATE TABLE IF NOT EXISTS graphs (gid INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    gid INTEGER NOT NULL, id TEXT NOT NULL, nt BLOB NOT NULL, PRIMARY KEY (gid, id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS refs (
    gid INTEGER NOT NULL, h INTEGER NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (gid, h)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS subjects (
    gid INTEGER NOT NULL, id TEXT NOT NULL, iri TEXT NOT NULL, PRIMARY KEY (gid, id, iri)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS subjects_iri ON subjects (iri, gid);
"""


_SUBJECT = re.compile(rb"^<([^>]*)>", re.MULTILINE)


def subjects_of(lines: Sequence[bytes]) -> set[str]:
    """The subject IRIs of canonical lines (``<iri> <p> o .``): one regular-expression pass over the
    record's lines, decoding each distinct subject once (a record has ~27 lines, ~8 subjects)."""
    return {iri.decode("utf-8") for iri in set(_SUBJECT.findall(b"\n".join(lines)))}


def line_hash(line: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(line, digest_size=8).digest(), "big", signed=True)


def line_hashes(lines: Iterable[bytes]) -> list[int]:
    """:func:`line_hash` of many lines (one loop, no call per line)."""
    blake2b, from_bytes = hashlib.blake2b, int.from_bytes
    return [from_bytes(blake2b(line, digest_size=8).digest(), "big", signed=True) for line in lines]


class Ledger:
    """The record→triples side table of one store (a SQLite file; one writer at a time)."""

    def __init__(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = str(path)
        self._db = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        # the B-trees a load writes at random places (reference counts by digest, subjects by IRI)
        # stay in memory instead of SQLite's default 2 MB cache, which 100,000 records outgrow
        self._db.execute("PRAGMA cache_size=-262144")
        self._db.execute("PRAGMA temp_store=MEMORY")
        self._db.executescript(SCHEMA)
        #: a rebuild's reference counts by graph id, until :meth:`finish_fresh` writes them
        self._fresh: dict[int, Counter[int]] = {}
        #: graph id of each graph a rebuild writes (:meth:`add_fresh` asks SQLite once)
        self._fresh_gids: dict[str, int] = {}
        self._writer: _FreshWriter | None = None

    def close(self) -> None:
        self._settle(check=False)
        self._db.close()

    def sync(self) -> None:
        """Wait until the rebuild rows handed to the writer thread are committed; raise its error."""
        self._settle(check=True)

    def _settle(self, *, check: bool) -> None:
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.close(check=check)

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
        self._db.execute("DELETE FROM refs WHERE gid = ?", (gid,))
        self._db.execute("DELETE FROM subjects WHERE gid = ?", (gid,))
        self._db.execute("DELETE FROM graphs WHERE gid = ?", (gid,))

    def apply(
        self, graph: str, puts: Mapping[str, Sequence[bytes]], deletes: Sequence[str] = ()
    ) -> tuple[list[bytes], list[bytes]]:
        """Record the new lines of ``puts`` and forget ``deletes``; return (lines to insert into the
        graph, lines to delete from it)."""
        gid = self.gid(graph)
        ids = list(puts) + [rid for rid in deletes if rid not in puts]
        delta: Counter[bytes] = Counter()
        with self._transaction():
            for chunk in _chunks(ids, 500):
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT nt FROM records WHERE gid = ? AND id IN ({marks})",  # noqa: S608 - placeholders only
                    (gid, *chunk),
                )
                for (nt,) in rows:
                    delta.subtract(nt.split(b"\n"))
            for lines in puts.values():
                delta.update(lines)
            added: list[bytes] = []
            removed: list[bytes] = []
            upsert = (
                "INSERT INTO refs(gid, h, n) VALUES (?, ?, ?) "
                "ON CONFLICT(gid, h) DO UPDATE SET n = n + excluded.n RETURNING n"
            )
            execute = self._db.execute
            for line, change in delta.items():
                if not change or not line:
                    continue
                h = line_hash(line)
                (count,) = execute(upsert, (gid, h, change)).fetchone()
                if count <= 0:
                    execute("DELETE FROM refs WHERE gid = ? AND h = ?", (gid, h))
                    if count - change > 0:
                        removed.append(line)
                elif count == change:  # it was 0 before
                    added.append(line)
            if deletes:
                self._db.executemany(
                    "DELETE FROM records WHERE gid = ? AND id = ?", [(gid, rid) for rid in deletes]
                )
            self._db.executemany("DELETE FROM subjects WHERE gid = ? AND id = ?", [(gid, rid) for rid in ids])
            self._write_records(gid, puts)
        return added, removed

    def _write_records(self, gid: int, puts: Mapping[str, Sequence[bytes]]) -> None:
        _write_records(self._db, gid, puts)

    def records_about(self, graph: str, iri: str, limit: int = 20) -> list[str]:
        """Ids of the records that describe ``iri`` (have it as a subject)."""
        gid = self.gid(graph, create=False)
        if gid is None:
            return []
        rows = self._db.execute(
            "SELECT id FROM subjects WHERE iri = ? AND gid = ? ORDER BY id LIMIT ?", (iri, gid, limit)
        )
        return [row[0] for row in rows]

    def add_fresh(self, graph: str, puts: Mapping[str, Sequence[bytes]]) -> list[bytes]:
        """:meth:`apply` for a graph being built from nothing (a rebuild), whose records each come
        once: every distinct line of the batch is returned (loading a line the graph already holds
        changes nothing, so nobody needs to know which are new); the records and their subjects
        are written, and the lines' reference counts summed (one counter of 64-bit digests, ~90
        bytes a distinct triple) for :meth:`finish_fresh` to write once, in key order.

        Why in a thread of its own (:class:`_FreshWriter`, its own connection): these SQLite writes
        were a third of a rebuild's time on the caller's thread (bench/RESULTS.md), and SQLite
        releases the GIL while it works, so the caller canonicalizes the next records meanwhile.
        Why the counts in memory and not in SQLite as the batches come: appending every batch's
        counts to a scratch table and folding it into ``refs`` with one grouped insert took ~23 of
        the step's 89 CPU seconds at 100,000 records. A rebuild that dies loses nothing it needed
        (its rows are under a staging graph :meth:`drop` removes). Errors of the thread are raised
        by the next call."""
        gid = self._fresh_gids.get(graph)
        if gid is None:
            gid = self.gid(graph)
            assert gid is not None
            self._fresh_gids[graph] = gid
        batch: Counter[bytes] = Counter()
        for lines in puts.values():
            batch.update(lines)
        batch.pop(b"", None)
        if self._writer is None:
            self._writer = _FreshWriter(self.path)
        self._writer.submit(("records", gid, dict(puts), batch, self._fresh.setdefault(gid, Counter())))
        return list(batch)

    def finish_fresh(self, graph: str, *, wait: bool = True) -> None:
        """Write a rebuild's reference counts into ``refs`` (before :meth:`switch`); with ``wait``
        false the writer thread does it while the caller goes on (:meth:`sync` waits for it)."""
        gid = self._fresh_gids.get(graph)
        if gid is None:
            gid = self.gid(graph)
            assert gid is not None
        if self._writer is None:
            self._writer = _FreshWriter(self.path)
        self._writer.submit(("refs", gid, self._fresh.pop(gid, Counter())))
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
        records = self._db.execute("SELECT count(*) FROM records WHERE gid = ?", (gid,)).fetchone()[0]
        triples = self._db.execute("SELECT count(*) FROM refs WHERE gid = ?", (gid,)).fetchone()[0]
        return int(records), int(triples)

    def _transaction(self):
        return _Transaction(self._db)


def _write_records(db: sqlite3.Connection, gid: int, puts: Mapping[str, Sequence[bytes]]) -> None:
    db.executemany(
        "INSERT OR REPLACE INTO records(gid, id, nt) VALUES (?, ?, ?)",
        [(gid, rid, b"\n".join(lines)) for rid, lines in puts.items()],
    )
    db.executemany(
        "INSERT OR IGNORE INTO subjects(gid, id, iri) VALUES (?, ?, ?)",
        [(gid, rid, iri) for rid, lines in puts.items() for iri in subjects_of(lines)],
    )


#: rebuild batches handed to the writer thread and not yet written (bounds the memory they hold)
FRESH_QUEUE = 4
#: rebuild batches the writer thread commits at once (fewer commits, fewer WAL checkpoints)
FRESH_COMMIT_EVERY = 8


class _FreshWriter:
    """A rebuild's ledger writes, in a thread with its own connection to the ledger file.

    Work items (tuples) come through a bounded queue: ``("records", gid, puts, batch, counts)``
    writes a batch's records and subjects and adds its lines' digests to ``counts``;
    ``("refs", gid, counts)`` writes those counts into ``refs``, in key order (the counters are
    the ledger's, which hands each to the thread and touches it no more until it is written). The
    thread commits every :data:`FRESH_COMMIT_EVERY` batches and when it is closed. After an error
    it keeps taking (and dropping) items, so that the producer never blocks on a queue nobody
    reads; :meth:`submit` and :meth:`close` raise it.
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

    def close(self, *, check: bool = True) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        if check:
            self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            error = self._error
            raise RdfStoreError(f"writing the ledger failed: {error}", target=self._path) from error

    def _run(self) -> None:
        db: sqlite3.Connection | None = None
        pending = 0
        try:
            db = sqlite3.connect(self._path, timeout=60, isolation_level=None)
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA cache_size=-262144")
            while True:
                item = self._queue.get()
                if item is None:
                    break
                if not pending:
                    db.execute("BEGIN IMMEDIATE")
                if item[0] == "records":
                    _, gid, puts, batch, counts = item
                    for digest, n in zip(line_hashes(batch), batch.values()):
                        counts[digest] += n
                    _write_records(db, gid, puts)
                    pending += 1
                else:
                    _, gid, counts = item
                    # a fresh graph holds no counts yet: a plain insert, in key order (sorting the
                    # keys alone: a list of the items would hold ~100 bytes more a triple)
                    db.executemany(
                        "INSERT INTO refs(gid, h, n) VALUES (?, ?, ?)",
                        ((gid, digest, counts[digest]) for digest in sorted(counts)),
                    )
                    pending = FRESH_COMMIT_EVERY
                if pending >= FRESH_COMMIT_EVERY:
                    db.execute("COMMIT")
                    pending = 0
            if pending:
                db.execute("COMMIT")
        except BaseException as exc:  # raised again in the caller's thread (submit, close)
            self._error = exc
            if db is not None and db.in_transaction:
                db.execute("ROLLBACK")
            while self._queue.get() is not None:  # drain until close
                pass
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


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
