"""The MDStore contract: units, versions, write transactions, leased reads, GC and rollback.

Semantics (D-NET's MDStore, done better):

* A store holds **units**, one per :class:`~mdstore.envelope.UnitKey`.
* A unit has **versions**. A writer opens a transaction: ``full`` starts a new version from
  empty, ``incremental`` from a copy of the current one. It upserts and deletes records (deletes
  leave tombstones with a deletion date), then ``commit`` flips the unit's *current* pointer to
  the new version in one single-document/single-row update, or ``abort`` throws it away.
* The open transaction is persisted (its id, parent, checkpoint): after a crash the writer can
  :meth:`MDStore.resume` it, or it can be aborted. Every write is idempotent, so re-doing the last
  page after a crash never double-counts.
* The open transaction also holds the **writer lock**: each writer attached to it is recorded
  (owner id, host, pid, run id, start time) with a heartbeat a background thread refreshes. A
  second writer is refused with who holds the unit; :meth:`MDStore.resume` and
  :meth:`MDStore.abort_open` take over only from a writer that is gone (see :class:`WriterInfo`).
* Readers read one version under a **lease**; :meth:`MDStore.gc` removes versions that are
  neither current, leased, open, nor among the last *K* committed (kept for :meth:`rollback`).

This module holds the shared logic; backends (``sqlite``, ``mongodb``) implement the storage
primitives declared abstract in :class:`Backend`, so both behave identically by construction.
"""

from __future__ import annotations

import abc
import logging
import os
import socket
import threading
import uuid
import weakref
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from mdstore.envelope import Body, Record, RecordInput, UnitKey, body_checksum, make_record_id, utcnow
from mdstore.errors import LeaseError, TransactionError, VersionNotFound, WriterLockError

logger = logging.getLogger(__name__)

Mode = Literal["full", "incremental"]
Stamp = Literal["collected", "transformed"]
VersionState = Literal["open", "committed", "aborted", "collected"]
Change = Literal["added", "updated", "unchanged", "deleted"]

#: how many records a transaction writes per backend round trip
BATCH_SIZE = 2000
#: seconds between two heartbeats of a writer (``writer_heartbeat`` setting)
HEARTBEAT = 10.0
#: a writer on another host is presumed dead when its last heartbeat is older than this many
#: heartbeat intervals (unless the store is given its own ``writer_timeout``)
STALE_BEATS = 3
WriterState = Literal["alive", "dead", "stale"]
EMPTY_CHECKSUM = body_checksum(b"")


def tally_row_stats(groups: Iterable[tuple[str, bool, int, int | None]]) -> dict[str, Any]:
    """A version's row counts from its rows grouped by (change, deleted): count and body bytes
    per group. Each backend groups in its own query language; the tally is the same for all."""
    stats: dict[str, Any] = dict.fromkeys(
        ("total", "present", "deleted", "added", "updated", "unchanged", "newly_deleted", "bytes"), 0
    )
    for change, deleted, count, size in groups:
        stats["total"] += count
        stats["deleted" if deleted else "present"] += count
        stats["newly_deleted" if change == "deleted" else change] += count
        stats["bytes"] += size or 0
    return stats


@dataclass(frozen=True)
class VersionInfo:
    """One version of a unit, as listed by :meth:`MDStore.versions`."""

    id: str
    unit: UnitKey
    state: VersionState
    mode: Mode
    parent: str | None
    created_at: datetime
    committed_at: datetime | None = None
    run_id: str | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    checkpoint: dict[str, Any] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)
    writer: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["unit"] = self.unit.name
        return data


@dataclass(frozen=True)
class UnitInfo:
    """A unit and its current version, with that version's statistics."""

    key: UnitKey
    current: str | None
    open_version: str | None
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredError:
    """A per-record error kept with a version: never dropped silently."""

    record_id: str | None
    step: str
    message: str
    location: str | None
    created_at: datetime


@dataclass(frozen=True)
class Discarded:
    """A raw input that could not be parsed, kept with a version together with the error."""

    source: str | None
    error: str
    raw: bytes
    created_at: datetime


@dataclass
class WriteCounts:
    """What a batch of writes did relative to the parent version."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0

    def __iadd__(self, other: WriteCounts) -> WriteCounts:
        self.added += other.added
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.deleted += other.deleted
        return self

    @property
    def written(self) -> int:
        return self.added + self.updated + self.unchanged + self.deleted


@dataclass(frozen=True)
class GcReport:
    removed: list[str]
    kept: list[str]
    leases_expired: int


@dataclass(slots=True)
class Row:
    """The storage form of a record inside one version (backends map it to rows/documents)."""

    id: str
    original_id: str
    body: Body | None
    checksum: str
    datestamp: datetime
    deleted: bool
    deleted_at: datetime | None
    collected_at: datetime | None
    transformed_at: datetime | None
    provenance: dict[str, Any]
    change: Change
    size: int = 0  # bytes of the body as given (a backend may store it compressed)


@dataclass(frozen=True, slots=True)
class Existing:
    """The part of a stored row that decides what a write changes."""

    checksum: str
    datestamp: datetime
    deleted: bool
    change: Change | None  # None when it comes from the parent version


# ------------------------------------------------------------------------------------------------


class Backend(abc.ABC):
    """Storage primitives a backend provides; all semantics live in :class:`MDStore`."""

    # units & versions
    @abc.abstractmethod
    def get_unit(self, unit: UnitKey) -> dict[str, Any] | None: ...
    @abc.abstractmethod
    def list_units(self) -> list[dict[str, Any]]: ...
    @abc.abstractmethod
    def claim_open(self, unit: UnitKey, version: dict[str, Any]) -> bool:
        """Create the unit if needed and register ``version`` as its open one, atomically.

        Returns False when the unit already has an open version.
        """

    @abc.abstractmethod
    def new_version_id(self) -> str: ...
    @abc.abstractmethod
    def get_version(self, version_id: str) -> dict[str, Any] | None: ...
    @abc.abstractmethod
    def list_versions(self, unit: UnitKey) -> list[dict[str, Any]]: ...
    @abc.abstractmethod
    def update_version(self, version_id: str, **fields: Any) -> None: ...
    @abc.abstractmethod
    def flip_current(self, unit: UnitKey, expected: str | None, new: str, *, clear_open: str | None) -> bool:
        """Set the unit's current version to ``new`` if it is still ``expected`` (one atomic update).

        When ``clear_open`` is given, the unit's open version must be it and is cleared in the same
        update. Returns False if the compare failed.
        """

    @abc.abstractmethod
    def release_open(self, unit: UnitKey, version_id: str) -> None: ...

    # the writer lock of an open version (``lock`` in its document: ``epoch`` and ``holders``)
    @abc.abstractmethod
    def swap_writers(self, version_id: str, epoch: int | None, holders: dict[str, dict[str, Any]]) -> bool:
        """Replace the writers of the open version ``version_id`` if its lock epoch is still
        ``epoch`` (None: a version written before the lock existed), bumping the epoch, in one
        single-document/single-row update. False if the version is no longer open or another
        writer swapped first: two processes taking over at once cannot both win."""

    @abc.abstractmethod
    def beat_writer(self, version_id: str, owner: str, when: datetime) -> bool:
        """Refresh one writer's heartbeat; False when its entry is gone (another writer took over)."""

    @abc.abstractmethod
    def drop_writer(self, version_id: str, owner: str) -> None:
        """Remove one writer's entry (it hands the open transaction back)."""

    #: False for a store no other process can see (SQLite ``:memory:``): no heartbeat needed
    shared = True

    # record rows of one version
    @abc.abstractmethod
    def create_records(self, version_id: str, copy_from: str | None) -> None:
        """Create the record space of a version, optionally as a copy of another (change='unchanged')."""

    def finish_records(self, version_id: str) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Called once before commit (build secondary indexes late, where that is cheaper)."""

    @abc.abstractmethod
    def drop_records(self, version_id: str) -> None: ...
    @abc.abstractmethod
    def lookup(self, version_id: str, ids: Sequence[str]) -> dict[str, Existing]: ...
    @abc.abstractmethod
    def write_rows(self, version_id: str, rows: Sequence[Row]) -> None:
        """Insert or replace rows by id (idempotent)."""

    def grouped(self) -> AbstractContextManager[None]:
        """This thread's writes inside the block as one backend transaction, where the backend has
        transactions that cheap (SQLite); elsewhere each write stays its own."""
        return nullcontext()

    @abc.abstractmethod
    def scan(
        self,
        version_id: str,
        unit: UnitKey,
        *,
        after_id: str | None,
        limit: int,
        since: datetime | None,
        until: datetime | None,
        deleted: bool | None,
    ) -> list[Record]:
        """One keyset page of records, ordered by id."""

    @abc.abstractmethod
    def scan_ids(
        self,
        version_id: str,
        *,
        after_id: str | None,
        limit: int,
        since: datetime | None,
        until: datetime | None,
        deleted: bool | None,
    ) -> list[tuple[str, str, bool]]:
        """One keyset page of ``(id, original_id, deleted)``, ordered by id, without bodies."""

    def scan_keys(
        self, version_id: str, *, after_id: str | None, limit: int, since: datetime | None
    ) -> list[str]:
        """One keyset page of ids alone, ordered by id (present and deleted records). A backend
        whose id index answers it without reading the records overrides it (SQLite)."""
        page = self.scan_ids(
            version_id, after_id=after_id, limit=limit, since=since, until=None, deleted=None
        )
        return [record_id for record_id, _, _ in page]

    @abc.abstractmethod
    def get_records(self, version_id: str, unit: UnitKey, ids: Sequence[str]) -> list[Record]: ...

    def stream(
        self,
        version_id: str,
        unit: UnitKey,
        *,
        after_id: str | None,
        since: datetime | None,
        until: datetime | None,
        deleted: bool | None,
        page_size: int,
    ) -> Iterator[list[Record]]:
        """Pages of records ordered by id until the end: keyset pagination over :meth:`scan`.

        A backend may override it with a server-side cursor, as long as it resumes by keyset.
        """
        while True:
            page = self.scan(
                version_id,
                unit,
                after_id=after_id,
                limit=page_size,
                since=since,
                until=until,
                deleted=deleted,
            )
            if not page:
                return
            yield page
            if len(page) < page_size:
                return
            after_id = page[-1].id

    @abc.abstractmethod
    def count_rows(
        self,
        version_id: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        deleted: bool | None = None,
    ) -> int: ...
    @abc.abstractmethod
    def row_stats(self, version_id: str) -> dict[str, Any]:
        """Counts by change and deletion status, body bytes."""

    @abc.abstractmethod
    def tombstone_missing(self, version_id: str, parent_id: str, when: datetime) -> None:
        """Copy parent rows absent from the version as tombstones (full mode: persistent deletion)."""

    # errors & discarded
    @abc.abstractmethod
    def add_errors(self, version_id: str, errors: Sequence[StoredError]) -> None: ...
    @abc.abstractmethod
    def add_discarded(self, version_id: str, items: Sequence[Discarded]) -> None: ...
    @abc.abstractmethod
    def list_errors(self, version_id: str, limit: int | None) -> list[StoredError]: ...
    @abc.abstractmethod
    def list_discarded(self, version_id: str, limit: int | None) -> list[Discarded]: ...
    @abc.abstractmethod
    def count_errors(self, version_id: str) -> tuple[int, int]:
        """(errors, discarded) counts."""

    @abc.abstractmethod
    def drop_side_data(self, version_id: str) -> None: ...

    # leases
    @abc.abstractmethod
    def add_lease(
        self, lease_id: str, unit: UnitKey, version_id: str, expires: datetime, holder: str
    ) -> None: ...
    @abc.abstractmethod
    def renew_lease(self, lease_id: str, expires: datetime) -> bool: ...
    @abc.abstractmethod
    def drop_lease(self, lease_id: str) -> None: ...
    @abc.abstractmethod
    def leased_versions(self, now: datetime) -> set[str]: ...
    @abc.abstractmethod
    def expire_leases(self, now: datetime) -> int: ...

    @abc.abstractmethod
    def close(self) -> None: ...


# ------------------------------------------------------------------------------------------------


def _writer_identity() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid()}


#: owner id → the live WriteTransaction of this process holding it (a dropped one is gone)
_LIVE: weakref.WeakValueDictionary[str, WriteTransaction] = weakref.WeakValueDictionary()


def _proc_stat(pid: int) -> tuple[str, str] | None:
    """(state, start time in clock ticks since boot) of a process from ``/proc`` (Linux), or None."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[-1].split()  # the command name may hold spaces and parentheses
    return (fields[0], fields[19]) if len(fields) > 19 else None


def _pid_alive(pid: int, started: str | None) -> bool:
    """Is process ``pid`` of this host running, and is it still the one that started the writer?

    A zombie (killed, not yet reaped) is dead; a pid reused by a later process is told apart by
    its start time where ``/proc`` gives one.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        pass
    stat = _proc_stat(pid)
    if stat is None:
        return True
    state, proc_started = stat
    return state not in ("Z", "X") and (started is None or proc_started == started)


@dataclass(frozen=True)
class WriterInfo:
    """One writer attached to a unit's open transaction, and whether it is still there.

    ``state`` is judged from this process: a writer of this host is ``alive`` while its process
    runs (checked by pid, immediately ``dead`` once it is gone); a writer of another host cannot be
    checked, so it is ``alive`` while its heartbeat is younger than the store's ``writer_timeout``
    and ``stale`` (presumed dead: a take-over needs ``force``) after that. A writer that handed
    the transaction back (a resumable failure, a closed store) has no entry at all.
    """

    owner: str
    host: str
    pid: int | None
    run_id: str | None
    started_at: datetime | None
    heartbeat_at: datetime | None
    shared: bool
    state: WriterState

    def describe(self, now: datetime | None = None) -> str:
        now = now or utcnow()
        since = f"{self.started_at:%Y-%m-%d %H:%M:%S} UTC" if self.started_at else "an unknown time"
        if self.heartbeat_at is not None:
            beat = f"last heartbeat {max(0.0, (now - self.heartbeat_at).total_seconds()):.0f} s ago"
        else:
            beat = "no heartbeat"
        return f"host {self.host}, pid {self.pid}, run {self.run_id or '-'}, since {since}, {beat}"


def _judge(owner: str, entry: dict[str, Any], now: datetime, timeout: float) -> WriterInfo:
    host, pid = entry.get("host") or "?", entry.get("pid")
    beat = entry.get("heartbeat_at") or entry.get("started_at")
    if host == socket.gethostname() and pid:
        if pid == os.getpid():  # this very process: is the transaction object still there?
            state: WriterState = "alive" if owner in _LIVE else "dead"
        else:
            state = "alive" if _pid_alive(pid, entry.get("proc_started")) else "dead"
    elif beat is not None and (now - beat).total_seconds() < timeout:
        state = "alive"
    else:
        state = "stale"
    return WriterInfo(
        owner=owner,
        host=host,
        pid=pid,
        run_id=entry.get("run_id"),
        started_at=entry.get("started_at"),
        heartbeat_at=entry.get("heartbeat_at"),
        shared=bool(entry.get("shared")),
        state=state,
    )


def _new_writer(run_id: str | None, *, shared: bool = False) -> tuple[str, dict[str, Any]]:
    now = utcnow()
    pid = os.getpid()
    stat = _proc_stat(pid)
    return uuid.uuid4().hex, {
        "host": socket.gethostname(),
        "pid": pid,
        "proc_started": stat[1] if stat else None,
        "run_id": run_id,
        "started_at": now,
        "heartbeat_at": now,
        "shared": shared,
    }


class _Heartbeat:
    """Refreshes one writer's heartbeat from a daemon thread until stopped.

    A thread rather than a refresh on each write: a harvester may wait minutes on a slow server
    (retries, Retry-After) between two pages, and a live writer must not look dead meanwhile.
    The thread holds no reference to the transaction, so a transaction that is dropped without
    commit, abort or release stops its heartbeat and hands the unit back (as a crash would leave
    it, but at once). If the entry is gone (another process forced a take-over), ``lost`` is set
    and the transaction refuses further writes.
    """

    def __init__(self, backend: Backend, version_id: str, owner: str, interval: float) -> None:
        self.backend = backend
        self.version_id = version_id
        self.owner = owner
        self.interval = interval
        self.lost = False
        self._stop = threading.Event()
        self._release = False
        self._thread: threading.Thread | None = None
        if backend.shared:
            self._thread = threading.Thread(
                target=self._run, name=f"mdstore-heartbeat-{version_id}", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                if not self.backend.beat_writer(self.version_id, self.owner, utcnow()):
                    if not self._stop.is_set():  # not a beat racing this writer's own commit or abort
                        self.lost = True
                        logger.error("%s: another writer took this transaction over", self.version_id)
                    return
            except Exception as exc:  # a missed beat; the next one may get through
                logger.warning("%s: heartbeat failed: %s", self.version_id, exc)
        if self._release:
            self._drop()

    def _drop(self) -> None:
        try:
            self.backend.drop_writer(self.version_id, self.owner)
        except Exception as exc:  # the store may be closed already; the entry then goes stale
            logger.debug("%s: could not hand the transaction back: %s", self.version_id, exc)

    def stop(self, *, release: bool = False) -> None:
        """Stop beating; with ``release`` also remove this writer's entry (from the thread, when
        it is the finalizer of a dropped transaction that calls)."""
        self._release = release
        self._stop.set()


class MDStore:
    """The versioned, transactional metadata store over one :class:`Backend`.

    Open one with :func:`mdstore.open_store` (``sqlite:///path`` or ``mongodb://…``).
    """

    def __init__(
        self,
        backend: Backend,
        *,
        uri: str = "",
        keep: int = 3,
        lease_ttl: float = 3600,
        heartbeat: float = HEARTBEAT,
        writer_timeout: float | None = None,
    ) -> None:
        self.backend = backend
        self.uri = uri
        self.keep = keep
        self.lease_ttl = lease_ttl
        #: seconds between two heartbeats of this store's writers
        self.heartbeat = heartbeat
        #: a writer of another host whose last heartbeat is older is presumed dead (``stale``)
        self.writer_timeout = writer_timeout if writer_timeout is not None else STALE_BEATS * heartbeat
        self._writers: weakref.WeakSet[WriteTransaction] = weakref.WeakSet()

    # --- context management -------------------------------------------------------------------
    def close(self) -> None:
        """Close the backend; transactions still open hand their units back first (released, not
        aborted: they stay resumable by anyone, at once)."""
        for tx in list(self._writers):
            if not tx.closed:
                tx.release()
        self.backend.close()

    def __enter__(self) -> MDStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- units and versions -------------------------------------------------------------------
    def units(self) -> list[UnitInfo]:
        """Every unit with its current version's statistics."""
        result = []
        for doc in self.backend.list_units():
            key = UnitKey.parse(doc["_id"])
            stats = {}
            if doc.get("current"):
                version = self.backend.get_version(doc["current"])
                stats = (version or {}).get("stats") or {}
            result.append(UnitInfo(key, doc.get("current"), doc.get("open"), stats))
        return sorted(result, key=lambda u: u.key.name)

    def unit(self, unit: UnitKey) -> UnitInfo | None:
        doc = self.backend.get_unit(unit)
        if doc is None:
            return None
        stats = {}
        if doc.get("current"):
            stats = (self.backend.get_version(doc["current"]) or {}).get("stats") or {}
        return UnitInfo(unit, doc.get("current"), doc.get("open"), stats)

    def current_version(self, unit: UnitKey) -> str | None:
        doc = self.backend.get_unit(unit)
        return doc.get("current") if doc else None

    def versions(self, unit: UnitKey) -> list[VersionInfo]:
        """All versions of a unit that are not yet collected, oldest first."""
        doc = self.backend.get_unit(unit)
        current = doc.get("current") if doc else None
        infos = [self._version_info(v, current) for v in self.backend.list_versions(unit)]
        return sorted(infos, key=lambda v: (v.created_at, v.id))

    def version(self, version_id: str) -> VersionInfo:
        doc = self.backend.get_version(version_id)
        if doc is None:
            raise VersionNotFound("no such version", version=version_id)
        unit = UnitKey.parse(doc["unit"])
        unit_doc = self.backend.get_unit(unit) or {}
        return self._version_info(doc, unit_doc.get("current"))

    def lineage(self, unit: UnitKey, version: str | None = None) -> Iterator[VersionInfo]:
        """``version`` (default: the unit's current one), then its parent, its parent's parent, …

        The parent pointers are the store's own, so the walk lives here rather than in each
        caller. It ends at a version without a parent, at one that is gone (collected by
        :meth:`gc`), at a version of another unit, or where a pointer comes back to a version
        already seen: a damaged store cannot make a caller loop. An unknown starting version
        raises :class:`VersionNotFound`; a unit without a current version yields nothing.
        """
        doc = self.backend.get_unit(unit)
        current = doc.get("current") if doc else None
        next_id = version if version is not None else current
        if next_id is None:
            return
        start = self.backend.get_version(next_id)
        if start is None or start.get("unit") != unit.name:
            raise VersionNotFound("no such version of this unit", unit=unit.name, version=next_id)
        seen: set[str] = set()
        version_doc: dict[str, Any] | None = start
        while version_doc and version_doc["_id"] not in seen and version_doc.get("unit") == unit.name:
            seen.add(version_doc["_id"])
            yield self._version_info(version_doc, current)
            parent = version_doc.get("parent")
            version_doc = self.backend.get_version(parent) if parent else None

    def is_ancestor(self, unit: UnitKey, ancestor: str, version: str | None = None) -> bool:
        """Is ``ancestor`` in the lineage of ``version`` (default: current; a version is its own
        ancestor)? False when either is unknown or collected: nothing links them any more."""
        try:
            return any(info.id == ancestor for info in self.lineage(unit, version))
        except VersionNotFound:
            return False

    def add_to_report(self, version_id: str, **sections: Any) -> dict[str, Any]:
        """Merge top-level sections into a version's JSON report (e.g. a pipeline run's summary
        written after the commit); returns the whole report. Values must be JSON-friendly."""
        doc = self.backend.get_version(version_id)
        if doc is None:
            raise VersionNotFound("no such version", version=version_id)
        report = {**(doc.get("report") or {}), **sections}
        self.backend.update_version(version_id, report=report)
        return report

    @staticmethod
    def _version_info(doc: dict[str, Any], current: str | None) -> VersionInfo:
        state = doc["state"]
        # the pointer flip is the commit; a crash before the version row was marked is repaired here
        if doc["_id"] == current and state == "open":
            state = "committed"
        return VersionInfo(
            id=doc["_id"],
            unit=UnitKey.parse(doc["unit"]),
            state=state,
            mode=doc["mode"],
            parent=doc.get("parent"),
            created_at=doc["created_at"],
            committed_at=doc.get("committed_at"),
            run_id=doc.get("run_id"),
            stats=doc.get("stats") or {},
            checkpoint=doc.get("checkpoint") or {},
            report=doc.get("report") or {},
            writer=doc.get("writer") or {},
        )

    # --- writing ------------------------------------------------------------------------------
    def begin(
        self,
        unit: UnitKey,
        mode: Mode = "full",
        *,
        run_id: str | None = None,
        stamp: Stamp = "collected",
        nsprefix: str | None = None,
        tombstone_missing: bool = True,
    ) -> WriteTransaction:
        """Open a write transaction on ``unit``.

        ``full`` starts from empty (records of the current version that are not written again
        become tombstones at commit when ``tombstone_missing``); ``incremental`` starts from a
        copy of the current version. ``nsprefix`` (default: the datasource id) prefixes record ids.
        Raises :class:`TransactionError` if the unit already has an open transaction.
        """
        if mode not in ("full", "incremental"):
            raise TransactionError(f"unknown mode {mode!r} (full or incremental)", unit=unit.name)
        unit_doc = self.backend.get_unit(unit)
        parent = unit_doc.get("current") if unit_doc else None
        version_id = self.backend.new_version_id()
        now = utcnow()
        owner, entry = _new_writer(run_id)
        doc = {
            "_id": version_id,
            "unit": unit.name,
            "state": "open",
            "mode": mode,
            "parent": parent,
            "created_at": now,
            "committed_at": None,
            "run_id": run_id,
            "stats": {},
            "checkpoint": {},
            "report": {},
            "writer": _writer_identity(),
            "lock": {"epoch": 0, "holders": {owner: entry}},
            "options": {
                "stamp": stamp,
                "nsprefix": nsprefix or unit.datasource,
                "tombstone_missing": tombstone_missing,
            },
        }
        if not self.backend.claim_open(unit, doc):
            open_id = (self.backend.get_unit(unit) or {}).get("open")
            writers = self.writers(unit)
            live = [w for w in writers if w.state == "alive"]
            if live:
                raise WriterLockError(
                    f"an open transaction ({open_id}) already exists, held by a live writer "
                    f"({live[0].describe()}); wait for it to finish or stop it first",
                    unit=unit.name,
                    version=open_id,
                )
            left = f" (left by {writers[0].describe()}, {writers[0].state})" if writers else ""
            raise TransactionError(
                f"an open transaction ({open_id}) already exists{left}; resume it or abort it first",
                unit=unit.name,
                version=open_id,
            )
        try:
            self.backend.create_records(version_id, parent if mode == "incremental" else None)
        except Exception:
            self.backend.release_open(unit, version_id)
            self.backend.update_version(version_id, state="aborted")
            raise
        logger.info("opened %s transaction %s on %s (parent %s)", mode, version_id, unit, parent)
        return WriteTransaction(self, unit, doc, owner=owner)

    def open_transaction(self, unit: UnitKey) -> VersionInfo | None:
        """The persisted open transaction of ``unit``, if any (to resume or abort after a crash)."""
        doc = self.backend.get_unit(unit)
        if not doc or not doc.get("open"):
            return None
        return self.version(doc["open"])

    def writers(self, unit: UnitKey) -> list[WriterInfo]:
        """The writers attached to the unit's open transaction, judged alive, dead or stale now
        (empty when nothing is open or every writer handed the transaction back)."""
        doc = self._open_doc(unit, missing_ok=True)
        return self._judge_writers(doc) if doc else []

    def _judge_writers(self, doc: dict[str, Any]) -> list[WriterInfo]:
        now = utcnow()
        holders = (doc.get("lock") or {}).get("holders") or {}
        infos = [_judge(owner, entry, now, self.writer_timeout) for owner, entry in holders.items()]
        return sorted(infos, key=lambda w: (w.state != "alive", w.started_at or now))

    def _open_doc(self, unit: UnitKey, *, missing_ok: bool = False) -> dict[str, Any] | None:
        unit_doc = self.backend.get_unit(unit)
        open_id = unit_doc.get("open") if unit_doc else None
        if not open_id:
            if missing_ok:
                return None
            raise TransactionError("no open transaction to resume", unit=unit.name)
        doc = self.backend.get_version(open_id)
        if doc is None:
            raise TransactionError(
                "the open transaction's version record is missing", unit=unit.name, version=open_id
            )
        return doc

    def resume(
        self, unit: UnitKey, *, force: bool = False, run_id: str | None = None, join: bool = False
    ) -> WriteTransaction:
        """Re-attach to the unit's open transaction; its checkpoint says where to continue.

        The caller becomes the transaction's only writer. Refused with :class:`WriterLockError`
        while a writer holding it is alive, whatever ``force`` says (stop that writer first: the
        error names its host and pid); a writer of another host whose heartbeat is older than
        ``writer_timeout`` is presumed dead, and only ``force=True`` takes over from it. A writer
        of this host whose process is gone, or one that handed the transaction back, needs no
        ``force``.

        ``join=True`` attaches one more worker of the same run instead (a run split into parts
        that write disjoint id ranges): allowed while the other live writers are joined workers
        of the run ``run_id`` (the transaction's own run id by default); never a take-over.
        """
        for _attempt in range(10):
            doc = self._open_doc(unit)
            assert doc is not None
            lock = doc.get("lock") or {}
            epoch = lock.get("epoch")
            writers = self._judge_writers(doc)
            run = run_id or doc.get("run_id")
            owner, entry = _new_writer(run, shared=join)
            if join:
                self._check_join(unit, doc, writers, run)
                holders = {
                    w.owner: (lock.get("holders") or {})[w.owner] for w in writers if w.state == "alive"
                }
                holders[owner] = entry
            else:
                self._check_takeover(unit, doc, writers, force)
                holders = {owner: entry}
            if self.backend.swap_writers(doc["_id"], epoch, holders):
                break
        else:  # pragma: no cover - ten writers racing for one unit
            raise WriterLockError("other writers keep taking the unit; try again", unit=unit.name)
        if not join:
            self.backend.update_version(doc["_id"], writer={**_writer_identity(), "resumed_at": utcnow()})
        gone = [w for w in writers if w.state != "alive"]
        logger.info(
            "%s transaction %s on %s%s",
            "joined" if join else "resumed",
            doc["_id"],
            unit,
            f" (from {gone[0].describe()}, {gone[0].state})" if gone and not join else "",
        )
        doc = self.backend.get_version(doc["_id"]) or doc
        return WriteTransaction(self, unit, doc, owner=owner)

    def _check_takeover(
        self, unit: UnitKey, doc: dict[str, Any], writers: list[WriterInfo], force: bool
    ) -> None:
        live = [w for w in writers if w.state == "alive"]
        if live:
            # never taken from a live writer, not even with force: two writers on one unit lose data
            raise WriterLockError(
                f"the open transaction is held by a live writer ({live[0].describe()}); wait for it "
                "to finish or stop it first"
                + (" (force takes over only a dead writer's transaction)" if force else ""),
                unit=unit.name,
                version=doc["_id"],
            )
        stale = [w for w in writers if w.state == "stale"]
        if stale and not force:
            raise WriterLockError(
                f"the open transaction is held by a writer on another host that stopped beating "
                f"({stale[0].describe()}, more than {self.writer_timeout:g} s): presumed dead, but "
                "this host cannot check",
                takeover=True,
                unit=unit.name,
                version=doc["_id"],
            )

    @staticmethod
    def _check_join(unit: UnitKey, doc: dict[str, Any], writers: list[WriterInfo], run: str | None) -> None:
        for w in writers:
            if w.state == "alive" and (not w.shared or w.run_id != run):
                raise WriterLockError(
                    f"cannot join run {run or '-'}: the open transaction is held by another live writer "
                    f"({w.describe()})",
                    unit=unit.name,
                    version=doc["_id"],
                )

    def abort_open(self, unit: UnitKey, *, force: bool = False) -> str:
        """Abort the unit's open transaction (e.g. one left by a crashed writer); returns its id.

        Refused like :meth:`resume` while its writer is alive (``force`` takes over only from a
        stale writer of another host)."""
        return self.resume(unit, force=force).abort()

    # --- reading ------------------------------------------------------------------------------
    def reader(self, unit: UnitKey, version: str | None = None) -> ReadSession:
        """A leased read of ``version`` (default: the current one). Use as a context manager."""
        if version is None:
            version = self.current_version(unit)
            if version is None:
                raise VersionNotFound("the unit has no committed version yet", unit=unit.name)
        doc = self.backend.get_version(version)
        if doc is None or doc["unit"] != unit.name or doc["state"] in ("aborted", "collected"):
            raise VersionNotFound("no such readable version", unit=unit.name, version=version)
        return ReadSession(self, unit, version)

    # --- history ------------------------------------------------------------------------------
    def rollback(self, unit: UnitKey, version: str | None = None) -> str:
        """Make an earlier committed version current (default: the one before the current).

        Refused while a transaction is open (its commit would otherwise silently undo the rollback).
        """
        unit_doc = self.backend.get_unit(unit)
        if unit_doc is None:
            raise VersionNotFound("no such unit", unit=unit.name)
        if unit_doc.get("open"):
            raise TransactionError(
                "a transaction is open; commit or abort it before a rollback",
                unit=unit.name,
                version=unit_doc["open"],
            )
        current = unit_doc.get("current")
        committed = [v for v in self.versions(unit) if v.state == "committed"]
        committed.sort(key=lambda v: (v.committed_at or v.created_at, v.id))
        if version is None:
            older = [v for v in committed if v.id != current]
            older = [
                v
                for v in older
                if current is None
                or (v.committed_at or v.created_at)
                <= (self.version(current).committed_at or self.version(current).created_at)
            ]
            if not older:
                raise VersionNotFound("no earlier committed version is kept", unit=unit.name)
            version = older[-1].id
        if version not in {v.id for v in committed}:
            raise VersionNotFound(
                "not a kept committed version of this unit", unit=unit.name, version=version
            )
        if version == current:
            return version
        if not self.backend.flip_current(unit, current, version, clear_open=None):
            raise TransactionError("the current version changed during rollback; try again", unit=unit.name)
        self.backend.update_version(version, rolled_back_at=utcnow())
        logger.info("rolled %s back from %s to %s", unit, current, version)
        return version

    def gc(self, keep: int | None = None) -> GcReport:
        """Remove versions that are neither current, open, leased, nor among the last ``keep``.

        Aborted versions' records are removed too. Version rows stay (state ``collected``) as
        history with their statistics.
        """
        keep = self.keep if keep is None else keep
        now = utcnow()
        expired = self.backend.expire_leases(now)
        leased = self.backend.leased_versions(now)
        removed: list[str] = []
        kept: list[str] = []
        for unit_doc in self.backend.list_units():
            unit = UnitKey.parse(unit_doc["_id"])
            protected = {unit_doc.get("current"), unit_doc.get("open")} | leased
            committed = sorted(
                (v for v in self.backend.list_versions(unit) if v["state"] == "committed"),
                key=lambda v: (v.get("committed_at") or v["created_at"], v["_id"]),
                reverse=True,
            )
            protected |= {v["_id"] for v in committed[:keep]}
            for v in self.backend.list_versions(unit):
                if v["state"] in ("committed", "aborted") and v["_id"] not in protected:
                    self.backend.drop_records(v["_id"])
                    self.backend.drop_side_data(v["_id"])
                    self.backend.update_version(v["_id"], state="collected", collected_at=now)
                    removed.append(v["_id"])
                elif v["state"] != "collected":
                    kept.append(v["_id"])
        logger.info("gc removed %d versions, kept %d", len(removed), len(kept))
        return GcReport(removed=removed, kept=kept, leases_expired=expired)


# ------------------------------------------------------------------------------------------------


class WriteTransaction:
    """An open write transaction on one unit. Not thread-safe; one writer per unit.

    Writes go to the backend at once, batch by batch; nothing is visible to readers until
    :meth:`commit`. Every write is idempotent (upserting the same body again changes nothing),
    so a resumed writer can safely redo the last page after a crash.

    The object is this writer's hold on the unit (its entry in the writer lock, kept alive by a
    heartbeat thread): :meth:`commit` and :meth:`abort` end it with the transaction, :meth:`release`
    (or leaving a ``with`` block) ends it and leaves the transaction open for the next writer.
    """

    def __init__(self, store: MDStore, unit: UnitKey, doc: dict[str, Any], *, owner: str) -> None:
        self.store = store
        self.unit = unit
        self.version_id: str = doc["_id"]
        self.mode: Mode = doc["mode"]
        self.parent: str | None = doc.get("parent")
        self.run_id: str | None = doc.get("run_id")
        options = doc.get("options") or {}
        self.stamp: Stamp = options.get("stamp", "collected")
        self.nsprefix: str = options.get("nsprefix") or unit.datasource
        self.tombstone_missing: bool = options.get("tombstone_missing", True)
        self._checkpoint: dict[str, Any] = dict(doc.get("checkpoint") or {})
        self._closed = False
        self._backend = store.backend
        #: this writer's entry in the transaction's writer lock
        self.owner = owner
        self._heartbeat = _Heartbeat(self._backend, self.version_id, owner, store.heartbeat)
        _LIVE[owner] = self
        store._writers.add(self)
        # dropped without commit, abort or release: stop beating and hand the unit back
        weakref.finalize(self, self._heartbeat.stop, release=True)

    def __repr__(self) -> str:
        return f"<WriteTransaction {self.version_id} {self.mode} on {self.unit}>"

    def __enter__(self) -> WriteTransaction:
        return self

    def __exit__(self, *exc: object) -> None:
        """Leaving the block hands the transaction back if it is still open (it stays resumable)."""
        if not self._closed:
            self.release()

    def release(self) -> None:
        """Stop writing but leave the transaction open: another writer (a resumed run, the next
        part of a split run) may take it at once, without waiting for a timeout or ``force``."""
        if self._closed:
            return
        self._heartbeat.stop()
        self._closed = True
        _LIVE.pop(self.owner, None)
        self._backend.drop_writer(self.version_id, self.owner)
        logger.info("released %s on %s", self.version_id, self.unit)

    # --- records ------------------------------------------------------------------------------
    def record_id(self, original_id: str) -> str:
        return make_record_id(self.nsprefix, original_id)

    def upsert(self, records: Iterable[RecordInput], *, when: datetime | None = None) -> WriteCounts:
        """Add or replace records; returns what changed relative to the parent version."""
        self._check_open()
        counts = WriteCounts()
        batch: list[RecordInput] = []
        for record in records:
            batch.append(record)
            if len(batch) >= BATCH_SIZE:
                counts += self._write_batch(batch, when or utcnow())
                batch = []
        if batch:
            counts += self._write_batch(batch, when or utcnow())
        return counts

    def delete(self, original_ids: Iterable[str], *, when: datetime | None = None) -> WriteCounts:
        """Tombstone records by original id (kept with their deletion date)."""
        self._check_open()
        counts = WriteCounts()
        batch: list[RecordInput] = []
        for original_id in original_ids:
            batch.append(RecordInput(original_id, None))
            if len(batch) >= BATCH_SIZE:
                counts += self._write_batch(batch, when or utcnow(), deleting=True)
                batch = []
        if batch:
            counts += self._write_batch(batch, when or utcnow(), deleting=True)
        return counts

    def write(
        self, records: Iterable[tuple[RecordInput, bool]], *, when: datetime | None = None
    ) -> WriteCounts:
        """Upserts and deletes interleaved, in input order: ``(record, deleted)`` pairs.

        Order matters when one page holds a record and later its deletion (or the reverse).
        """
        self._check_open()
        counts = WriteCounts()
        batch: list[RecordInput] = []
        flags: list[bool] = []
        for record, deleted in records:
            batch.append(record)
            flags.append(deleted)
            if len(batch) >= BATCH_SIZE:
                counts += self._write_batch(batch, when or utcnow(), deleted_flags=flags)
                batch, flags = [], []
        if batch:
            counts += self._write_batch(batch, when or utcnow(), deleted_flags=flags)
        return counts

    def _write_batch(
        self,
        batch: list[RecordInput],
        now: datetime,
        *,
        deleting: bool = False,
        deleted_flags: list[bool] | None = None,
    ) -> WriteCounts:
        ids = [r.id or self.record_id(r.original_id) for r in batch]
        unique_ids = list(dict.fromkeys(ids))
        existing = self._backend.lookup(self.version_id, unique_ids)
        if self.mode == "full" and self.parent is not None:
            missing = [i for i in unique_ids if i not in existing]
            if missing:
                # rows of the parent count as "before this transaction": their change is not ours
                existing.update(
                    {
                        rid: Existing(old.checksum, old.datestamp, old.deleted, None)
                        for rid, old in self._backend.lookup(self.parent, missing).items()
                    }
                )
        rows: dict[str, Row] = {}
        flags = deleted_flags or [deleting] * len(batch)
        for record, record_id, deleted in zip(batch, ids, flags, strict=True):
            earlier = rows.get(record_id)  # the same record twice in one batch: the later one wins
            old = (
                existing.get(record_id)
                if earlier is None
                else Existing(earlier.checksum, earlier.datestamp, earlier.deleted, earlier.change)
            )
            rows[record_id] = self._make_row(record, record_id, deleting or deleted, old, now)
        changes = Counter(row.change for row in rows.values())
        counts = WriteCounts(changes["added"], changes["updated"], changes["unchanged"], changes["deleted"])
        self._backend.write_rows(self.version_id, list(rows.values()))
        return counts

    def _make_row(
        self, record: RecordInput, record_id: str, deleted: bool, old: Existing | None, now: datetime
    ) -> Row:
        body = None if deleted else record.body
        # the body is encoded once: for the checksum and the stored size
        encoded = b"" if body is None else body.encode("utf-8") if isinstance(body, str) else body
        checksum = EMPTY_CHECKSUM if deleted else body_checksum(encoded)
        if old is None:
            change: Change = "deleted" if deleted else "added"
            datestamp = now
        elif old.checksum == checksum and old.deleted == deleted:
            datestamp = old.datestamp
            change = old.change if old.change is not None else "unchanged"
        else:
            datestamp = now
            if deleted:
                change = "deleted"
            elif old.change == "added":
                change = "added"  # written twice within this transaction, still new
            else:
                change = "updated"
        return Row(
            id=record_id,
            original_id=record.original_id,
            body=body,
            checksum=checksum,
            datestamp=datestamp,
            deleted=deleted,
            deleted_at=datestamp if deleted else None,
            collected_at=now if self.stamp == "collected" else None,
            transformed_at=now if self.stamp == "transformed" else None,
            provenance=dict(record.provenance) if record.provenance else {},
            change=change,
            size=len(encoded),
        )

    # --- side data ----------------------------------------------------------------------------
    def add_error(
        self, message: str, *, record_id: str | None = None, step: str = "", location: str | None = None
    ) -> None:
        """Keep a per-record error with this version."""
        self._check_open()
        self._backend.add_errors(self.version_id, [StoredError(record_id, step, message, location, utcnow())])

    def add_errors(self, errors: Sequence[StoredError]) -> None:
        self._check_open()
        if errors:
            self._backend.add_errors(self.version_id, list(errors))

    def add_discarded(self, raw: bytes | str, error: str, *, source: str | None = None) -> None:
        """Keep a raw input that could not be parsed, with why."""
        self._check_open()
        raw_bytes = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else raw
        self._backend.add_discarded(self.version_id, [Discarded(source, error, raw_bytes, utcnow())])

    @contextmanager
    def grouped(self) -> Iterator[None]:
        """Writes, side data and checkpoints inside the block as one backend transaction, where the
        backend has them (SQLite: the group is kept whole or not at all); elsewhere (MongoDB) each
        write stays its own.

        A writer that stores many small batches quickly (a fast OAI-PMH source) pays one backend
        commit per group instead of one per batch (what a commit costs:
        :meth:`mdstore.sqlite.SqliteBackend.grouped`). The caller's last checkpoint in the block must
        describe every write before it: after an error, the stored checkpoint (read back here) says
        where a resumed writer continues, and whatever it redoes is idempotent.
        """
        self._check_open()
        try:
            with self._backend.grouped():
                yield
        except BaseException:
            doc = self._backend.get_version(self.version_id)
            if doc is not None:
                self._checkpoint = dict(doc.get("checkpoint") or {})
            raise

    # --- checkpoints --------------------------------------------------------------------------
    @property
    def checkpoint_data(self) -> dict[str, Any]:
        """The last checkpoint saved (a resumed writer reads where to continue from here)."""
        return dict(self._checkpoint)

    def checkpoint(self, data: dict[str, Any]) -> None:
        """Persist the writer's progress (JSON-friendly values) with the open transaction."""
        self._check_open()
        self._checkpoint = dict(data)
        self._backend.update_version(self.version_id, checkpoint=self._checkpoint)

    # --- reading your own writes --------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """Statistics of the version being written (as :meth:`ReadSession.stats`)."""
        return _version_stats(self._backend, self.version_id)

    def get(self, original_id: str) -> Record | None:
        found = self._backend.get_records(self.version_id, self.unit, [self.record_id(original_id)])
        return found[0] if found else None

    # --- ending -------------------------------------------------------------------------------
    def commit(self, *, report: dict[str, Any] | None = None) -> VersionInfo:
        """Make the new version current: one atomic pointer flip. Returns the committed version."""
        self._check_holding()
        now = utcnow()
        if self.mode == "full" and self.parent is not None and self.tombstone_missing:
            self._backend.tombstone_missing(self.version_id, self.parent, now)
        self._backend.finish_records(self.version_id)
        stats = _version_stats(self._backend, self.version_id)
        self._backend.update_version(self.version_id, stats=stats, report=report or {}, committing_at=now)
        if not self._backend.flip_current(
            self.unit, self.parent, self.version_id, clear_open=self.version_id
        ):
            current = self.store.current_version(self.unit)
            raise TransactionError(
                f"the current version moved from {self.parent} to {current} while this transaction was "
                "open (a rollback?); abort it and start again",
                unit=self.unit.name,
                version=self.version_id,
            )
        self._heartbeat.stop()
        self._backend.update_version(self.version_id, state="committed", committed_at=now)
        self._end()
        logger.info("committed %s on %s: %s", self.version_id, self.unit, stats)
        return self.store.version(self.version_id)

    def abort(self) -> str:
        """Throw the new version away; the current version is untouched."""
        self._check_holding()
        self._heartbeat.stop()
        self._backend.update_version(self.version_id, state="aborted", aborted_at=utcnow())
        self._backend.release_open(self.unit, self.version_id)
        self._backend.drop_records(self.version_id)
        self._end()
        logger.info("aborted %s on %s", self.version_id, self.unit)
        return self.version_id

    @property
    def closed(self) -> bool:
        return self._closed

    def _end(self) -> None:
        self._closed = True
        self._heartbeat.stop()
        _LIVE.pop(self.owner, None)

    def _check_open(self) -> None:
        if self._closed:
            raise TransactionError(
                "the transaction is already closed", unit=self.unit.name, version=self.version_id
            )
        if self._heartbeat.lost:
            self._lost()

    def _check_holding(self) -> None:
        """Before a commit or an abort: is this writer still in the lock (not taken over)?"""
        self._check_open()
        doc = self._backend.get_version(self.version_id) or {}
        if doc.get("state") == "open" and self.owner not in ((doc.get("lock") or {}).get("holders") or {}):
            self._lost()

    def _lost(self) -> None:
        self._end()
        raise WriterLockError(
            "another writer took this transaction over (this one was presumed dead); nothing more "
            "is written by this one",
            unit=self.unit.name,
            version=self.version_id,
        )


def _version_stats(backend: Backend, version_id: str) -> dict[str, Any]:
    stats = backend.row_stats(version_id)
    errors, discarded = backend.count_errors(version_id)
    stats.update(errors=errors, discarded=discarded)
    return stats


# ------------------------------------------------------------------------------------------------


class ReadSession:
    """A leased view of one version: stream records in constant memory with keyset pagination.

    The lease keeps :meth:`MDStore.gc` from removing the version while it is read; it is renewed
    as pages are fetched and released on exit.
    """

    def __init__(self, store: MDStore, unit: UnitKey, version_id: str) -> None:
        self.store = store
        self.unit = unit
        self.version_id = version_id
        self._backend = store.backend
        self._lease_id: str | None = None
        self._lease_renewed: datetime | None = None

    def __enter__(self) -> ReadSession:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def acquire(self) -> None:
        import uuid

        self._lease_id = uuid.uuid4().hex
        now = utcnow()
        self._backend.add_lease(
            self._lease_id,
            self.unit,
            self.version_id,
            now + timedelta(seconds=self.store.lease_ttl),
            holder=str(_writer_identity()),
        )
        self._lease_renewed = now
        doc = self._backend.get_version(self.version_id)
        if doc is None or doc["state"] in ("collected", "aborted"):
            self.release()
            raise LeaseError(
                "the version was removed before the lease was taken",
                unit=self.unit.name,
                version=self.version_id,
            )

    def release(self) -> None:
        if self._lease_id is not None:
            self._backend.drop_lease(self._lease_id)
            self._lease_id = None

    def _renew(self) -> None:
        if self._lease_id is None:
            raise LeaseError(
                "read outside a lease (use the session as a context manager)",
                unit=self.unit.name,
                version=self.version_id,
            )
        now = utcnow()
        if self._lease_renewed and (now - self._lease_renewed).total_seconds() > self.store.lease_ttl / 4:
            if not self._backend.renew_lease(self._lease_id, now + timedelta(seconds=self.store.lease_ttl)):
                raise LeaseError("the read lease expired", unit=self.unit.name, version=self.version_id)
            self._lease_renewed = now

    def records(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        deleted: bool | None = None,
        after_id: str | None = None,
        limit: int | None = None,
        page_size: int = BATCH_SIZE,
    ) -> Iterator[Record]:
        """Records ordered by id, from ``after_id`` (exclusive), datestamp in [since, until]."""
        remaining = limit
        if remaining is not None and remaining <= 0:
            return
        pages = self._backend.stream(
            self.version_id,
            self.unit,
            after_id=after_id,
            since=since,
            until=until,
            deleted=deleted,
            page_size=page_size if limit is None else min(page_size, limit),
        )
        for page in pages:
            self._renew()
            if remaining is not None and len(page) >= remaining:
                yield from page[:remaining]
                return
            yield from page
            if remaining is not None:
                remaining -= len(page)

    def ids(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        deleted: bool | None = None,
        after_id: str | None = None,
    ) -> Iterator[tuple[str, str, bool]]:
        """``(id, original_id, deleted)`` ordered by id, without bodies."""

        def fetch(after: str | None, size: int) -> list[tuple[str, str, bool]]:
            return self._backend.scan_ids(
                self.version_id, after_id=after, limit=size, since=since, until=until, deleted=deleted
            )

        for page in self._pages(fetch, after_id, None, 5000, key=lambda t: t[0]):
            yield from page

    def keys(self, *, since: datetime | None = None) -> Iterator[str]:
        """Ids alone, ordered by id (present records and tombstones, datestamp ≥ ``since``): what
        cutting a run into id ranges needs. Unlike :meth:`ids`, the SQLite store answers it from
        its id index without reading a record (a whole pass over a 9 GB version otherwise)."""

        def fetch(after: str | None, size: int) -> list[str]:
            return self._backend.scan_keys(self.version_id, after_id=after, limit=size, since=since)

        for page in self._pages(fetch, None, None, 5000, key=lambda record_id: record_id):
            yield from page

    def page(
        self,
        *,
        after_id: str | None,
        limit: int,
        since: datetime | None = None,
        until: datetime | None = None,
        deleted: bool | None = None,
    ) -> list[Record]:
        """Exactly one keyset page (the OAI-PMH publisher's unit of work)."""
        self._renew()
        return self._backend.scan(
            self.version_id,
            self.unit,
            after_id=after_id,
            limit=limit,
            since=since,
            until=until,
            deleted=deleted,
        )

    def _pages(self, fetch, after_id, limit, page_size, key) -> Iterator[list]:
        """Keyset pagination: each page starts after the last key of the previous one."""
        remaining = limit
        while remaining is None or remaining > 0:
            self._renew()
            size = page_size if remaining is None else min(page_size, remaining)
            page = fetch(after_id, size)
            if not page:
                return
            yield page
            after_id = key(page[-1])
            if remaining is not None:
                remaining -= len(page)
            if len(page) < size:
                return

    def get(self, record_id: str) -> Record | None:
        self._renew()
        found = self._backend.get_records(self.version_id, self.unit, [record_id])
        return found[0] if found else None

    def get_many(self, record_ids: Sequence[str]) -> dict[str, Record]:
        self._renew()
        return {r.id: r for r in self._backend.get_records(self.version_id, self.unit, record_ids)}

    def count(
        self, *, since: datetime | None = None, until: datetime | None = None, deleted: bool | None = None
    ) -> int:
        self._renew()
        if since is None and until is None:
            # a committed version's rows never change, and its commit counted them: reading the
            # counts back spares a scan of every record for ``deleted=`` (no index serves it)
            doc = self._backend.get_version(self.version_id) or {}
            stats = doc.get("stats") or {}
            key = "total" if deleted is None else "deleted" if deleted else "present"
            if doc.get("state") == "committed" and isinstance(stats.get(key), int):
                return stats[key]
        return self._backend.count_rows(self.version_id, since=since, until=until, deleted=deleted)

    def stats(self) -> dict[str, Any]:
        """Counts (total, present, deleted, by change), body bytes, errors and discarded."""
        self._renew()
        return _version_stats(self._backend, self.version_id)

    def errors(self, limit: int | None = None) -> list[StoredError]:
        return self._backend.list_errors(self.version_id, limit)

    def discarded(self, limit: int | None = None) -> list[Discarded]:
        return self._backend.list_discarded(self.version_id, limit)

    def info(self) -> VersionInfo:
        return self.store.version(self.version_id)
