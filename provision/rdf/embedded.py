"""The embedded RDF store: pyoxigraph (RocksDB) on disk, with immutable snapshots for readers.

Layout of the store directory (``oxigraph:///…/var/rdf``)::

    store/          the primary: opened read-write only by a loader, one at a time (``.lock``)
    ledger.sqlite   which record asserted which triple (:mod:`provision.rdf.ledger`)
    snapshots/N/    RocksDB checkpoints (hard links, cheap) made at each commit
    CURRENT         the number of the snapshot queries read (replaced atomically)
    dirty/DS        a loader of datasource DS changed the primary and has not committed

Why snapshots: RocksDB forbids a read-only open while another process writes, and ``contentcloud
serve`` and the ``rdf`` step are different processes. Queries therefore read the newest complete
snapshot, which no one writes, and switch to the next one when ``CURRENT`` changes: every
commit — an in-place refresh or a full rebuild — becomes visible at once and whole, and a query
never sees a half-loaded graph. The datasource graph keeps its IRI through a rebuild.

A rebuild writes the live graph of the primary directly (a bulk load; readers only see it once it
is published). It does not empty the graph first: pyoxigraph's ``clear_graph`` removes the quads
in one transaction, which took 130 s for the 1.8 million triples of 100,000 records (longer than
linearly: 4.6 s for a tenth), where the bulk load itself takes ~15. The rebuild loads the records
on top of the graph instead and, at its commit, removes the triples the graph held before that
it did not load again, one by one (~21 µs each; none when the records did not change). What the
graph held is the ledger's live rows when the store's state and the ledger agree on the counts,
else a dump of the graph taken first (``rebuild-old-graph.nt``; reading a freshly loaded graph back
costs ~6 µs a triple). An abort removes what the rebuild loaded that the graph did not hold.
A loader that dies leaves the primary with a graph no snapshot should show: its
``dirty/DS`` marker stays. The next load of DS is then a full rebuild (:meth:`EmbeddedRdf.state`
reports the marker as ``loading``), and a load of *another* datasource, before it publishes the
primary, first restores DS's graph from the ledger (which a rebuild never touches until its
commit), so one source's failure is never published by another's success. An aborted load restores
its own graph the same way.
"""

from __future__ import annotations

import fcntl
import logging
import os
import queue
import shutil
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import pyoxigraph as ox

from mdstore.errors import ConfigError
from provision.index.base import batched
from provision.rdf.base import (
    STATE_GRAPH,
    STATE_PREDICATE,
    QueryAnswer,
    RdfState,
    RdfStoreError,
    StoreBusy,
)
from provision.rdf.ledger import Ledger
from provision.rdf.query import QueryPool, run_query

logger = logging.getLogger(__name__)

#: snapshots kept besides the current one (a query that opened one keeps reading it)
KEEP_SNAPSHOTS = 3
#: lines per bulk-load or update request
LOAD_BATCH = 50_000
#: lines a restore buffers before a bulk load (fewer, larger loads are faster)
BULK_LINES = 1_000_000
#: lines of a rebuild's bulk-load chunk (:class:`ChunkedBulkLoad`)
LOAD_CHUNK_LINES = 300_000
#: threads loading chunks side by side, and chunks waiting for one
LOAD_THREADS = 2
LOAD_QUEUE = 2
#: where a rebuild keeps the triples the graph held before it, and an aborted load or a restore
#: what the graph holds when it gives up (one loader at a time: one file each)
OLD_GRAPH_DUMP = "rebuild-old-graph.nt"
ABORTED_GRAPH_DUMP = "rebuild-aborted-graph.nt"


def _state_subject(datasource: str) -> ox.NamedNode:
    return ox.NamedNode(f"{STATE_GRAPH}:{datasource}")


class EmbeddedRdf:
    """The embedded store in directory ``path``; ``base`` is where entity IRIs (and graph IRIs) live."""

    def __init__(
        self,
        path: str | Path,
        *,
        base: str,
        name: str | None = None,
        lock_timeout: float = 600.0,
        query_workers: int = 2,
    ) -> None:
        self.path = Path(path)
        self.base = base
        self.name = name or str(self.path)
        self.lock_timeout = lock_timeout
        self.path.mkdir(parents=True, exist_ok=True)
        self._reader: tuple[str, ox.Store] | None = None
        self._reader_lock = threading.Lock()
        self._pool: QueryPool | None = None
        self._query_workers = query_workers

    # ------------------------------------------------------------------ reading (snapshots)

    def graph_iri(self, datasource: str) -> str:
        return f"{self.base}graph/{datasource}"

    def snapshot_path(self) -> str | None:
        try:
            current = (self.path / "CURRENT").read_text().strip()
        except FileNotFoundError:
            return None
        return str(self.path / "snapshots" / current)

    def _snapshot(self) -> ox.Store:
        path = self.snapshot_path()
        with self._reader_lock:
            if path is None:
                if self._reader is None or self._reader[0] != "":
                    self._reader = ("", ox.Store())
                return self._reader[1]
            if self._reader is None or self._reader[0] != path:
                try:
                    self._reader = (path, ox.Store.read_only(path))
                except OSError as exc:
                    raise RdfStoreError(f"cannot open the snapshot: {exc}", target=path) from exc
            return self._reader[1]

    def states(self) -> dict[str, RdfState]:
        store = self._snapshot()
        dirty = self.dirty()
        found: dict[str, RdfState] = {}
        for quad in store.quads_for_pattern(
            None, ox.NamedNode(STATE_PREDICATE), None, ox.NamedNode(STATE_GRAPH)
        ):
            state = RdfState.from_json(quad.object.value)
            if state.datasource in dirty:
                state = replace(state, loading=dirty[state.datasource])
            found[state.datasource] = state
        return found

    def state(self, datasource: str) -> RdfState | None:
        return self.states().get(datasource)

    def dirty(self) -> dict[str, str]:
        """Datasource → the run of a load that changed the primary and has not committed."""
        found = {}
        folder = self.path / "dirty"
        if folder.is_dir():
            for marker in folder.iterdir():
                try:
                    found[unquote(marker.name)] = marker.read_text().strip() or "unknown"
                except FileNotFoundError:
                    continue
        return found

    def _marker(self, datasource: str) -> Path:
        return self.path / "dirty" / quote(datasource, safe="")

    def live_graphs(self) -> list[str]:
        return sorted(state.graph for state in self.states().values())

    def record_lines(self, datasource: str) -> Iterator[tuple[str, list[bytes]]]:
        ledger = Ledger(self.path / "ledger.sqlite")
        try:
            yield from ledger.records(self.graph_iri(datasource))
        finally:
            ledger.close()

    def records_about(self, iri: str, limit: int = 20) -> list[tuple[str, str]]:
        """``(datasource, record id)`` of the records that describe ``iri``."""
        ledger = Ledger(self.path / "ledger.sqlite")
        try:
            return [
                (state.datasource, rid)
                for state in self.states().values()
                for rid in ledger.records_about(state.graph, iri, limit)
            ]
        finally:
            ledger.close()

    def ledger_count(self, datasource: str) -> int:
        ledger = Ledger(self.path / "ledger.sqlite")
        try:
            return ledger.counts(self.graph_iri(datasource))[0]
        finally:
            ledger.close()

    def graph_lines(self, datasource: str) -> Iterator[bytes]:
        data = self._snapshot().dump(
            format=ox.RdfFormat.N_TRIPLES, from_graph=ox.NamedNode(self.graph_iri(datasource))
        )
        return (line for line in data.split(b"\n") if line)

    def count(self, datasource: str | None = None) -> int:
        """Triples in a datasource's live graph (all live graphs when None)."""
        store = self._snapshot()
        graphs = [self.graph_iri(datasource)] if datasource else self.live_graphs()
        return sum(sum(1 for _ in store.quads_for_pattern(None, None, None, ox.NamedNode(g))) for g in graphs)

    def query(
        self,
        query: str,
        *,
        accept: str | None = None,
        timeout: float | None = None,
        max_bytes: int | None = None,
    ) -> QueryAnswer:
        """Answer a query from the current snapshot; with ``timeout``, in a worker process that is
        killed when the time is up."""
        graphs = self.live_graphs()
        if timeout is None:
            return run_query(self._snapshot(), query, accept=accept, graphs=graphs, max_bytes=max_bytes)
        if self._pool is None:
            self._pool = QueryPool(self._query_workers)
        return self._pool.run(
            self.snapshot_path() or "",
            query,
            accept=accept,
            graphs=graphs,
            timeout=timeout,
            max_bytes=max_bytes,
        )

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        with self._reader_lock:
            self._reader = None

    # ------------------------------------------------------------------ writing (the primary)

    def open_loader(self, datasource: str, *, rebuild: bool = False, run_id: str = "") -> EmbeddedLoader:
        return EmbeddedLoader(self, datasource, rebuild=rebuild, run_id=run_id)

    def _publish(self, store: ox.Store) -> None:
        """Checkpoint the primary as the next snapshot and point CURRENT at it; prune old ones."""
        snapshots = self.path / "snapshots"
        snapshots.mkdir(exist_ok=True)
        numbers = sorted(int(p.name) for p in snapshots.iterdir() if p.name.isdigit())
        number = (numbers[-1] + 1) if numbers else 1
        store.flush()
        store.backup(str(snapshots / str(number)))
        temp = self.path / f".CURRENT.{os.getpid()}"
        temp.write_text(f"{number}\n")
        os.replace(temp, self.path / "CURRENT")
        for old in numbers[: max(0, len(numbers) + 1 - (KEEP_SNAPSHOTS + 1))]:
            shutil.rmtree(snapshots / str(old), ignore_errors=True)


class EmbeddedLoader:
    """One load into the primary (holding the store's write lock until commit or abort)."""

    def __init__(self, owner: EmbeddedRdf, datasource: str, *, rebuild: bool, run_id: str) -> None:
        self.owner = owner
        self.datasource = datasource
        self.graph = owner.graph_iri(datasource)
        self.rebuild = rebuild
        self.run_id = run_id
        self._key = f"{self.graph}#rebuild" if rebuild else self.graph
        self._lock_file = _acquire(owner.path / ".lock", owner.lock_timeout)
        try:
            self.store = ox.Store(str(owner.path / "store"))
        except OSError as exc:
            _release(self._lock_file)
            raise StoreBusy(f"cannot open the store for writing: {exc}", target=str(owner.path)) from exc
        self.ledger = Ledger(owner.path / "ledger.sqlite")
        self._node = ox.NamedNode(self.graph)
        dirty = owner.dirty()
        for other in dirty:
            if other != datasource:  # its loader died: put its graph back as its ledger has it
                logger.warning("rdf: restoring the graph of %s, whose last load did not finish", other)
                self._restore(other)
        marker = owner._marker(datasource)
        marker.parent.mkdir(exist_ok=True)
        marker.write_text(f"{run_id or 'unknown'}\n")
        self._bulk: ChunkedBulkLoad | None = None
        #: what a rebuild's graph held before it: ``ledger`` (its live rows say it exactly), ``dump``
        #: (:data:`OLD_GRAPH_DUMP`), or None (nothing)
        self._old: str | None = None
        self._open = True
        if rebuild:
            try:
                self.ledger.drop(self._key)
                dump = owner.path / OLD_GRAPH_DUMP
                dump.unlink(missing_ok=True)  # a dead rebuild's (the lock is ours)
                if next(self.store.quads_for_pattern(None, None, None, self._node), None) is not None:
                    if datasource not in dirty and self._ledger_holds_graph():
                        self._old = "ledger"
                    else:  # reading a freshly loaded graph back costs ~6 µs a triple: only when needed
                        self.store.dump(str(dump), ox.RdfFormat.N_TRIPLES, from_graph=self._node)
                        self._old = "dump"
                self._bulk = ChunkedBulkLoad(self.store, self._node, target=self.graph)
            except BaseException:
                self._close()
                raise

    def put(self, records: Mapping[str, Sequence[bytes]]) -> None:
        if self.rebuild:  # bulk: chunks to the bulk loaders; duplicates are harmless
            assert self._bulk is not None
            self._bulk.write(self.ledger.add_fresh(self._key, records))
            return
        added, removed = self.ledger.apply(self._key, records, present=self._present)
        self._write(added, removed)

    def _flush_bulk(self) -> None:
        if self._bulk is not None:
            bulk, self._bulk = self._bulk, None
            bulk.close()

    def delete(self, record_ids: Sequence[str]) -> None:
        added, removed = self.ledger.apply(self._key, {}, record_ids, present=self._present)
        self._write(added, removed)

    def _present(self, lines: Sequence[bytes]) -> set[bytes]:
        """Which of these canonical lines the graph holds (the ledger asks about the lines it keeps
        no count of: asserted by one record if the graph holds them, by none if not)."""
        quads = list(ox.parse(b"\n".join(lines) + b"\n", format=ox.RdfFormat.N_TRIPLES, lenient=True))
        if len(quads) != len(lines):
            raise RdfStoreError(
                f"{len(lines)} ledger lines parsed as {len(quads)} triples", target=self.graph
            )
        store, graph = self.store, self._node
        return {
            line
            for line, quad in zip(lines, quads)
            if ox.Quad(quad.subject, quad.predicate, quad.object, graph) in store
        }

    def _write(self, added: list[bytes], removed: list[bytes]) -> None:
        for start in range(0, len(removed), LOAD_BATCH):
            chunk = b"\n".join(removed[start : start + LOAD_BATCH]).decode("utf-8")
            self.store.update(f"DELETE DATA {{ GRAPH <{self.graph}> {{\n{chunk}\n}} }}")
        for start in range(0, len(added), LOAD_BATCH):
            data = b"\n".join(added[start : start + LOAD_BATCH]) + b"\n"
            self.store.load(data, ox.RdfFormat.N_TRIPLES, to_graph=self._node, lenient=True)

    def commit(self, state: RdfState) -> None:
        if self.rebuild:  # the ledger's reference counts are written while the bulk load ends
            loaded = self.ledger.fresh_hashes(self._key)
            self.ledger.finish_fresh(self._key, wait=False)
            self._flush_bulk()
            if self._old is not None:
                removed = self._remove_lines(self._stale(loaded), keep=loaded)
                logger.info(
                    "rdf %s: the rebuild removed %d triples of the graph before it", self.datasource, removed
                )
            self.ledger.switch(self._key, self.graph)
        records, triples = self.ledger.counts(self.graph)
        state = replace(state, graph=self.graph, records=records, triples=triples, loading=None)
        subject, graph = _state_subject(self.datasource), ox.NamedNode(STATE_GRAPH)
        for quad in list(self.store.quads_for_pattern(subject, None, None, graph)):
            self.store.remove(quad)
        self.store.add(ox.Quad(subject, ox.NamedNode(STATE_PREDICATE), ox.Literal(state.to_json()), graph))
        self.owner._publish(self.store)
        self.owner._marker(self.datasource).unlink(missing_ok=True)
        self._close()

    def close(self) -> None:
        if self.rebuild:
            raise RdfStoreError("a rebuild ends with commit or abort", target=self.graph)
        self._close()

    def abort(self) -> None:
        """The live graph back as it was: a rebuild only added triples, and those the graph did not
        hold before it are removed (it never touched the ledger's live rows); an in-place load's
        graph is restored from the ledger (a batch that failed between ledger and store is made
        whole)."""
        if not self._open:
            return
        try:
            if self._bulk is not None:  # the loader threads must be done with the store first
                bulk, self._bulk = self._bulk, None
                bulk.close(check=False)
            # a rebuild only added triples: back to what the graph held before it
            self._restore(self.datasource, self._old_lines() if self.rebuild else None)
        finally:
            self._close()

    def _ledger_holds_graph(self) -> bool:
        """Whether the ledger's live rows are the graph's triples: the state this store keeps and the
        ledger agree on the counts (a ledger or a store replaced by another one would not)."""
        state_quad = next(
            self.store.quads_for_pattern(
                _state_subject(self.datasource),
                ox.NamedNode(STATE_PREDICATE),
                None,
                ox.NamedNode(STATE_GRAPH),
            ),
            None,
        )
        if state_quad is None:
            return False
        state = RdfState.from_json(state_quad.object.value)
        records, triples = self.ledger.counts(self.graph)
        return records > 0 and (state.records, state.triples) == (records, triples)

    def _old_lines(self) -> Iterator[bytes]:
        """The lines of what a rebuild's graph held before it (repeats possible)."""
        if self._old == "ledger":
            for _, lines in self.ledger.records(self.graph):
                yield from lines
        elif self._old == "dump":
            yield from _file_lines(self.owner.path / OLD_GRAPH_DUMP)

    def _stale(self, loaded: set[int]) -> Iterator[bytes]:
        """The lines the graph held before the rebuild that it did not load again, once each."""
        met: set[int] = set()
        for line in self._old_lines():
            digest = hash(line)
            if digest not in loaded and digest not in met:
                met.add(digest)
                yield line

    def _remove_lines(
        self, lines: Iterator[bytes], node: ox.NamedNode | None = None, *, keep: set[int] | None = None
    ) -> int:
        """Remove these N-Triples lines' triples from the graph (``node``, default this loader's), one
        transaction each: one removal of many (``clear_graph``, ``DELETE DATA``) costs more than
        linearly in pyoxigraph 0.5. ``keep``: hashes of canonical lines whose triples stay, though a
        line spells one of them otherwise (a ledger written by another pyoxigraph, or a body that was
        not in its form: the line differs, the triple is the one the rebuild loaded)."""
        removed = 0
        store, graph = self.store, node or self._node
        for batch in batched(lines, LOAD_BATCH):
            triples = ox.parse(b"\n".join(batch) + b"\n", format=ox.RdfFormat.N_TRIPLES, lenient=True)
            for triple in triples:
                if keep is not None and hash(f"{triple} .".encode()) in keep:
                    continue
                store.remove(ox.Quad(triple.subject, triple.predicate, triple.object, graph))
                removed += 1
        return removed

    def _restore(self, datasource: str, lines: Iterator[bytes] | None = None) -> None:
        """A datasource's graph in the primary back to ``lines`` (default: what the ledger's live rows
        say): the triples it holds that they do not are removed, those they hold that it lacks loaded
        (not ``clear_graph`` and a reload: see the module's docstring)."""
        graph = self.owner.graph_iri(datasource)
        node = ox.NamedNode(graph)
        self.ledger.drop(f"{graph}#rebuild")
        if lines is None:
            lines = (line for _, held_lines in self.ledger.records(graph) for line in held_lines)
        dump = self.owner.path / ABORTED_GRAPH_DUMP
        try:
            self.store.dump(str(dump), ox.RdfFormat.N_TRIPLES, from_graph=node)
            held = {hash(line) for line in _file_lines(dump)}
            wanted: set[int] = set()
            pending: list[bytes] = []
            for line in lines:
                digest = hash(line)
                wanted.add(digest)
                if digest not in held:
                    pending.append(line)
                    if len(pending) >= BULK_LINES:
                        self._load_lines(node, pending)
                        pending = []
            self._remove_lines((line for line in _file_lines(dump) if hash(line) not in wanted), node)
            self._load_lines(node, pending)
        finally:
            dump.unlink(missing_ok=True)
        self.store.flush()
        self.owner._marker(datasource).unlink(missing_ok=True)

    def _load_lines(self, node: ox.NamedNode, lines: list[bytes]) -> None:
        if lines:
            data = b"\n".join(lines) + b"\n"
            self.store.bulk_load(data, ox.RdfFormat.N_TRIPLES, to_graph=node, lenient=True)

    def _close(self) -> None:
        if not self._open:
            return
        self._open = False
        if self._old == "dump":
            (self.owner.path / OLD_GRAPH_DUMP).unlink(missing_ok=True)
        self.ledger.close()
        del self.store
        _release(self._lock_file)


def _file_lines(path: Path) -> Iterator[bytes]:
    """The lines of an N-Triples file as pyoxigraph dumps it (no blank lines)."""
    with path.open("rb") as lines:
        for line in lines:
            line = line.rstrip(b"\n")
            if line:
                yield line


class ChunkedBulkLoad:
    """A rebuild's bulk load, fed while the rebuild still reads and canonicalizes records: the lines
    are cut into chunks of :data:`LOAD_CHUNK_LINES`, and :data:`LOAD_THREADS` threads each bulk-load
    one chunk at a time (pyoxigraph loads ``bytes`` in Rust without the GIL) while this thread
    makes the next.

    Why chunks and not one bulk load reading a named pipe (the code before): the bulk loader works
    in batches of a million triples and processed the last one (0.8 million of 1.8 million at
    100,000 records) only once its input had ended, which left the rebuild waiting for it with
    nothing else to do (8.8 CPU s, 20 s at a load of 4-5); a chunk's load ends soon after the chunk
    (sequential bulk loads of 300,000 lines cost the CPU of one load of the same lines,
    bench/RESULTS.md). Bulk loads of one store may run side by side: each writes its own files,
    which RocksDB ingests (thread-safe), and a triple two chunks hold is written twice, the same
    key and value. Memory: at most
    :data:`LOAD_QUEUE` chunks wait, besides those loading and the one being cut. The loaders'
    first error is raised by the next :meth:`write` or by :meth:`close`.
    """

    def __init__(self, store: ox.Store, graph: ox.NamedNode, *, target: str) -> None:
        self._store, self._graph, self._target = store, graph, target
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=LOAD_QUEUE)
        self._lines: list[bytes] = []
        self._error: BaseException | None = None
        self._threads = [
            threading.Thread(target=self._load, name=f"rdf-bulk-load-{n}", daemon=True)
            for n in range(LOAD_THREADS)
        ]
        for thread in self._threads:
            thread.start()

    def _load(self) -> None:
        try:
            while (data := self._queue.get()) is not None:
                if self._error is None:
                    self._store.bulk_load(data, ox.RdfFormat.N_TRIPLES, to_graph=self._graph, lenient=True)
        except BaseException as exc:  # raised again by write() or close(), in the caller's thread
            self._error = self._error or exc
            while self._queue.get() is not None:  # the producer must never block on a queue nobody reads
                pass

    def write(self, lines: Sequence[bytes]) -> None:
        self._raise()
        self._lines.extend(lines)
        if len(self._lines) >= LOAD_CHUNK_LINES:
            self._hand()

    def _hand(self) -> None:
        data = b"\n".join(self._lines) + b"\n"
        self._lines = []
        while True:
            try:
                self._queue.put(data, timeout=0.5)
                return
            except queue.Full:
                self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            raise RdfStoreError(f"the bulk load failed: {self._error}", target=self._target) from self._error

    def close(self, *, check: bool = True) -> None:
        """Load the last chunk (with ``check``), wait for the loads to finish; with ``check``, raise
        a loader's error (without: what was handed over is loaded, the rest dropped)."""
        if check and self._lines and self._error is None:
            self._hand()
        self._lines = []
        if self._threads:
            for _ in self._threads:
                self._queue.put(None)
            for thread in self._threads:
                thread.join()
            self._threads = []
        if check:
            self._raise()


def _acquire(path: Path, timeout: float) -> Any:
    handle = path.open("a+")
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return handle
        except BlockingIOError:
            if time.monotonic() > deadline:
                handle.close()
                raise StoreBusy(
                    f"another load holds the store for more than {timeout:g} s", target=str(path.parent)
                ) from None
            time.sleep(0.1)


def _release(handle: Any) -> None:
    fcntl.flock(handle, fcntl.LOCK_UN)
    handle.close()


def from_uri(uri: str, *, base: str, name: str | None = None, **options: Any) -> EmbeddedRdf:
    """``oxigraph:///absolute/dir`` (or ``oxigraph:relative/dir``)."""
    parts = urlsplit(uri)
    path = unquote(parts.path or parts.netloc)
    if not path:
        raise ConfigError(f"{uri!r} names no directory (oxigraph:///path/to/dir)", field="rdf", rule="path")
    return EmbeddedRdf(path, base=base, name=name, **options)
