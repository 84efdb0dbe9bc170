"""The index step: a datasource's current transformed version → its documents in the search index.

Three ways to feed, chosen per run (the step decides; ``--full`` forces the first):

* **full**: a fresh core/collection/generation holding every other datasource's documents as they
  are and this datasource's present records, switched in atomically at the end (SolrCloud alias,
  core SWAP, embedded generation flip): readers never see an empty or half-built index.
* **incremental**: the index's state for the datasource says which MDStore version it last indexed
  completely; when that version is an ancestor of the current one, only records whose datestamp
  moved since then are sent (upserts), and tombstones since then are deleted.
* **refeed** (in place): when there is no usable state (first feed, a rollback, a changed index
  profile, too many live versions), every present record is upserted with the current version,
  then a sweep deletes the datasource's documents of any other version.

Every document carries ``mdstore_version`` and ``indexed_at``; the state (version, live versions,
the records the index does not hold and why) is stored *in the index* with the data, so a rebuilt or
wiped index never lies about what it holds. A record that cannot become a document (not RDF, no
main entity) or that the index refuses is a record error: counted, kept in the state, listed by
``contentcloud index --check``, and the rest goes on. Past the error rate the feed is abandoned:
a rebuild is dropped and the live index stays as it was; an in-place feed stops without sweeping
and without advancing the state, so the next run redoes it.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from contentcloud.pipeline.summary import Outcome, ProgressFn, RunSummary, new_run_id
from mdstore.envelope import Record, utcnow
from mdstore.errors import RecordError, VersionNotFound
from provision.index.analysis import normalize_instant
from provision.index.base import (
    MAX_KEPT_ERRORS,
    IndexBackend,
    IndexNotFound,
    IndexState,
    IndexWriter,
    batched,
)

if TYPE_CHECKING:
    from contentcloud.datasources import Datasource
    from contentcloud.settings import Settings
    from mdstore import MDStore, ReadSession
    from provision.index.profile import IndexProfile

logger = logging.getLogger(__name__)

STEP = "index"
#: records read (and documents sent) per page
PAGE_SIZE = 1000
#: an incremental feed also re-sends records changed this long before the last indexed version was
#: committed (clock skew between writers); re-sending is harmless, documents are replaced by id
INCREMENTAL_OVERLAP = timedelta(minutes=5)
#: more live versions than this and the next feed is a refeed (keeps the sweep query short)
MAX_LIVE_VERSIONS = 20
#: builder processes of a feed run from the command line or Airflow (profile: ``index.workers``)
DEFAULT_WORKERS = 1
#: how many ids ``--check`` lists per kind of difference
CHECK_LIST_LIMIT = 1000


@dataclass
class _Feed:
    """What one feed did, gathered while it runs."""

    read: int = 0
    sent: int = 0
    deleted: int = 0
    swept: int = 0
    pages: int = 0
    warnings: int = 0
    errors: dict[str, str] = field(default_factory=dict)
    error_count: int = 0
    first_warnings: list[str] = field(default_factory=list)
    touched: set[str] = field(default_factory=set)
    #: documents to delete because their record now fails (incremental): only once the run is accepted
    stale_on_error: list[str] = field(default_factory=list)

    def error(self, record_id: str, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_KEPT_ERRORS:
            self.errors[record_id] = message


def feed_digest(profile: IndexProfile, provider: str | None, rdf_format: str | None) -> str:
    """What the documents depend on besides the records: a change means every document is rebuilt."""
    text = f"{profile.digest}\n{provider or ''}\n{rdf_format or ''}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _descends_from(store: MDStore, version: str, ancestor: str, limit: int = 10_000) -> bool:
    """Is ``ancestor`` a parent of ``version``, so unchanged records kept their datestamps?"""
    current: str | None = version
    for _ in range(limit):
        if current is None:
            return False
        if current == ancestor:
            return True
        try:
            current = store.version(current).parent
        except VersionNotFound:
            return False
    return False


def choose_mode(
    store: MDStore, state: IndexState | None, current: str, digest: str, *, full: bool
) -> tuple[str, str]:
    """(mode, reason): ``full``, ``incremental``, ``refeed`` or ``none``."""
    if full:
        return "full", "asked for a full rebuild"
    if state is None:
        return "refeed", "the index holds no state for this datasource"
    if state.profile_digest != digest:
        return "refeed", "the index profile (or provider, or RDF format) changed"
    if state.version == current:
        return "none", f"version {current} is already indexed"
    if len(state.live_versions) >= MAX_LIVE_VERSIONS:
        return "refeed", f"{len(state.live_versions)} live versions; folding them into one"
    if not state.version_committed_at or not _descends_from(store, current, state.version):
        return "refeed", f"the indexed version {state.version} is not an ancestor of {current} (a rollback?)"
    return "incremental", f"changes since version {state.version}"


def index(
    store: MDStore,
    datasource: Datasource,
    backend: IndexBackend,
    profile: IndexProfile,
    *,
    full: bool = False,
    run_id: str | None = None,
    on_progress: ProgressFn | None = None,
    max_error_rate: float = 0.05,
    rdf_format: str | None = None,
    workers: int = 0,
) -> RunSummary:
    """Feed ``datasource``'s current transformed version into ``backend`` (see the module docstring).

    ``workers`` builder processes turn records into documents while this process reads and sends
    (0: build here). Document building is the feed's main cost; one builder lets it overlap with the
    index's own work even when this process is busy sending.
    """
    run_id = run_id or new_run_id(STEP)
    started = time.monotonic()
    unit = datasource.transformed_unit
    provider = datasource.raw.get("provider")
    current = store.current_version(unit)
    base = {
        "step": STEP,
        "datasource": datasource.id,
        "run_id": run_id,
        "unit_in": unit.name,
        "unit_out": f"{backend.name}",
    }
    if current is None:
        return RunSummary(
            outcome=Outcome.NOTHING_TO_DO, message=f"{unit.name} has no committed version yet", **base
        )
    digest = feed_digest(profile, provider, rdf_format)
    state = backend.state(datasource.id)
    mode, reason = choose_mode(store, state, current, digest, full=full)
    logger.info("index %s: %s (%s)", datasource.id, mode, reason)
    if mode == "none":
        return RunSummary(
            outcome=Outcome.NOTHING_TO_DO,
            version_in=current,
            version_out=current,
            message=reason,
            extra={"mode": mode, "index_count": backend.count(datasource.id)},
            **base,
        )
    feed = _Feed()
    with store.reader(unit, current) as view:
        info = view.info()
        writer = backend.open_writer(datasource.id, rebuild=mode == "full")
        try:
            args = _BuildArgs(datasource.id, current, normalize_instant(utcnow()), provider, rdf_format)
            _send(
                view,
                writer,
                profile,
                feed,
                mode=mode,
                state=state,
                args=args,
                workers=workers,
                on_progress=on_progress,
            )
            present = view.count(deleted=False)
            rate = feed.error_count / feed.read if feed.read else 0.0
            if feed.error_count and rate > max_error_rate:
                writer.abort()
                return _summary(
                    base,
                    feed,
                    Outcome.FAILED,
                    mode,
                    reason,
                    current,
                    started,
                    backend,
                    message=f"{feed.error_count} of {feed.read} records failed ({rate:.1%} > "
                    f"{max_error_rate:.1%}); the index was left as it was"
                    + (
                        " (the rebuild was dropped)"
                        if mode == "full"
                        else " (no sweep; the state was not advanced)"
                    ),
                )
            live, errors = _next_state(mode, state, current, feed)
            if feed.stale_on_error:
                writer.delete(feed.stale_on_error)
                feed.deleted += len(feed.stale_on_error)
            if mode != "full":
                feed.swept = writer.sweep(live)
            new_state = IndexState(
                datasource=datasource.id,
                version=current,
                unit=unit.name,
                mode=mode,
                live_versions=tuple(live),
                version_committed_at=info.committed_at.isoformat() if info.committed_at else None,
                count=max(present - len(errors), 0),
                profile_digest=digest,
                updated_at=utcnow().isoformat(),
                run_id=run_id,
                errors=errors,
                errors_total=len(errors) + feed.error_count - len(feed.errors),
            )
            writer.commit(new_state)
        except BaseException:
            writer.abort()
            raise
    outcome = Outcome.RECORD_ERRORS if feed.error_count else Outcome.FINISHED
    message = reason
    if new_state.errors_total:
        message += f"; the index lacks {new_state.errors_total} record(s) because of record errors"
    return _summary(base, feed, outcome, mode, reason, current, started, backend, message=message)


def _records(view: ReadSession, mode: str, state: IndexState | None) -> tuple[Iterator[Any], int]:
    if mode == "incremental":
        assert state is not None
        assert state.version_committed_at
        since = datetime.fromisoformat(state.version_committed_at) - INCREMENTAL_OVERLAP
        return view.records(since=since), view.count(since=since)
    return view.records(deleted=False), view.count(deleted=False)


@dataclass(frozen=True)
class _BuildArgs:
    """What every document of one feed shares."""

    datasource: str
    version: str
    indexed_at: str
    provider: str | None
    rdf_format: str | None


@dataclass
class _Built:
    """One page of records turned into documents: the documents, record errors and warnings by record id."""

    docs: list[dict[str, Any]]
    errors: list[tuple[str, str]]
    warnings: list[tuple[str, str]]
    records: int


def build_page(profile: IndexProfile, records: list[tuple[str, str, Any]], args: _BuildArgs) -> _Built:
    """Build the documents of one page of ``(id, original_id, body)``; record errors are data."""
    built = _Built([], [], [], len(records))
    for record_id, original_id, body in records:
        record = Record(record_id, original_id, args.datasource, "", body, "", None)  # type: ignore[arg-type]
        try:
            doc, warnings = profile.build(
                record,
                datasource=args.datasource,
                version=args.version,
                indexed_at=args.indexed_at,
                provider=args.provider,
                rdf_format=args.rdf_format,
            )
        except RecordError as exc:
            built.errors.append((record_id, f"{type(exc).__name__}: {exc.message}"))
        else:
            built.docs.append(doc)
            built.warnings.extend((record_id, warning) for warning in warnings)
    return built


_WORKER_PROFILE: IndexProfile | None = None


def _init_builder(profile: IndexProfile) -> None:
    global _WORKER_PROFILE
    _WORKER_PROFILE = profile


def _build_in_builder(records: list[tuple[str, str, Any]], args: _BuildArgs) -> _Built:
    assert _WORKER_PROFILE is not None
    return build_page(_WORKER_PROFILE, records, args)


@contextmanager
def _builder(profile: IndexProfile, workers: int) -> Iterator[Callable[..., Future[_Built]]]:
    """``build(records, args) -> Future``: in builder processes (documents are built while the feeder
    sends the previous pages and the index digests them), or in this process when ``workers`` is 0."""
    if workers <= 0:

        def build_here(records: list[tuple[str, str, Any]], args: _BuildArgs) -> Future[_Built]:
            future: Future[_Built] = Future()
            future.set_result(build_page(profile, records, args))
            return future

        yield build_here
        return
    context = multiprocessing.get_context("spawn")  # no fork of a process with threads and open connections
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_init_builder, initargs=(profile,)
    ) as pool:
        yield lambda records, args: pool.submit(_build_in_builder, records, args)


def _send(
    view: ReadSession,
    writer: IndexWriter,
    profile: IndexProfile,
    feed: _Feed,
    *,
    mode: str,
    state: IndexState | None,
    args: _BuildArgs,
    workers: int,
    on_progress: ProgressFn | None,
) -> None:
    """Build and send every document of the feed, page by page; deletions for tombstones.

    Pages are built ahead (up to ``workers + 1`` in flight) and sent in order.
    """
    records, total = _records(view, mode, state)
    incremental = mode == "incremental"  # other modes read present records only
    pending: deque[Future[_Built]] = deque()
    done = 0

    def take(built: _Built) -> None:
        nonlocal done
        done += built.records
        for record_id, message in built.errors:
            feed.error(record_id, message)
            if incremental:
                feed.stale_on_error.append(record_id)  # its document no longer reflects the record
        feed.warnings += len(built.warnings)
        for record_id, warning in built.warnings[: max(0, 5 - len(feed.first_warnings))]:
            feed.first_warnings.append(f"{record_id}: {warning}")
        _flush_page(writer, built.docs, [], feed)
        if on_progress:
            on_progress(done, total, f"{feed.sent} sent")

    with _builder(profile, workers) as build:
        for page in batched(records, PAGE_SIZE):
            feed.read += len(page)
            if incremental:
                feed.touched.update(record.id for record in page)
                deletes = [record.id for record in page if record.deleted]
                if deletes:
                    done += len(deletes)
                    _flush_page(writer, [], deletes, feed)
                page = [record for record in page if not record.deleted]
            pending.append(build([(r.id, r.original_id, r.body) for r in page], args))
            while len(pending) > workers + 1 or (pending and pending[0].done()):
                take(pending.popleft().result())
        while pending:
            take(pending.popleft().result())
    for rejected in writer.flush():
        feed.error(rejected.id, f"refused by the index: {rejected.message}")
    if on_progress:
        on_progress(feed.read, total, f"{feed.sent} sent")


def _flush_page(writer: IndexWriter, docs: list[dict[str, Any]], deletes: list[str], feed: _Feed) -> None:
    if docs:
        writer.add(docs)
        feed.sent += len(docs)
    if deletes:
        writer.delete(deletes)
        feed.deleted += len(deletes)
    if docs or deletes:
        feed.pages += 1


def _next_state(
    mode: str, state: IndexState | None, current: str, feed: _Feed
) -> tuple[list[str], dict[str, str]]:
    """(live versions, record errors) after this feed."""
    if mode != "incremental" or state is None:
        return [current], dict(feed.errors)
    errors = {rid: msg for rid, msg in state.errors.items() if rid not in feed.touched}
    for rid, msg in feed.errors.items():
        if len(errors) < MAX_KEPT_ERRORS:
            errors[rid] = msg
    live = [v for v in state.live_versions if v != current] + [current]
    return live, errors


def _summary(
    base: dict[str, Any],
    feed: _Feed,
    outcome: Outcome,
    mode: str,
    reason: str,
    current: str,
    started: float,
    backend: IndexBackend,
    *,
    message: str = "",
) -> RunSummary:
    first = [f"{rid}: {msg}" for rid, msg in list(feed.errors.items())[:5]]
    first += feed.first_warnings[: max(0, 5 - len(first))]
    extra = {
        "mode": mode,
        "reason": reason,
        "swept": feed.swept,
        "warnings": feed.warnings,
        "index_count": backend.count(base["datasource"]) if outcome != Outcome.FAILED else None,
    }
    return RunSummary(
        outcome=outcome,
        version_in=current,
        version_out=current if outcome != Outcome.FAILED else None,
        read=feed.read,
        written=feed.sent,
        deleted=feed.deleted + feed.swept,
        errors=feed.error_count,
        pages=feed.pages,
        seconds=time.monotonic() - started,
        message=message or reason,
        first_errors=tuple(first),
        extra=extra,
        **base,
    )


# ----------------------------------------------------------------------------------- check


def check_index(
    store: MDStore, datasource: Datasource, backend: IndexBackend, *, run_id: str | None = None
) -> RunSummary:
    """Compare the index with the datasource's current transformed version, id by id.

    ``missing``: present in the MDStore, absent from the index (with the recorded reason when the
    feed kept one); ``unexpected``: in the index, not a present record; ``stale``: in both, but fed
    from a version the state does not count as live.
    """
    run_id = run_id or new_run_id("index-check")
    started = time.monotonic()
    unit = datasource.transformed_unit
    base = {
        "step": "index-check",
        "datasource": datasource.id,
        "run_id": run_id,
        "unit_in": unit.name,
        "unit_out": backend.name,
    }
    current = store.current_version(unit)
    try:
        state = backend.state(datasource.id)
    except IndexNotFound:
        state = None
    missing: list[str] = []
    unexpected: list[str] = []
    stale: list[str] = []
    totals = {"missing": 0, "unexpected": 0, "stale": 0}
    live = set(state.live_versions) if state else set()
    errors = dict(state.errors) if state else {}

    def note(kind: str, text: str, target: list[str]) -> None:
        totals[kind] += 1
        if len(target) < CHECK_LIST_LIMIT:
            target.append(text)

    mdstore_count = 0
    index_count = 0
    explained = 0  # missing records whose feed recorded a record error: known, not an inconsistency
    if current is None:
        stored_ids: Iterator[str] = iter(())
        view = None
    else:
        view = store.reader(unit, current)
        view.acquire()
        stored_ids = (rid for rid, _, _ in view.ids(deleted=False))
    try:
        indexed = _ids_or_none(backend, datasource.id)
        stored_id = next(stored_ids, None)
        indexed_item = next(indexed, None)
        while stored_id is not None or indexed_item is not None:
            if indexed_item is None or (stored_id is not None and stored_id < indexed_item[0]):
                mdstore_count += 1
                reason = errors.get(stored_id)  # type: ignore[arg-type]
                explained += bool(reason)
                note("missing", f"{stored_id}: {reason}" if reason else str(stored_id), missing)
                stored_id = next(stored_ids, None)
            elif stored_id is None or indexed_item[0] < stored_id:
                index_count += 1
                note("unexpected", indexed_item[0], unexpected)
                indexed_item = next(indexed, None)
            else:
                mdstore_count += 1
                index_count += 1
                if live and indexed_item[1] not in live:
                    note("stale", f"{indexed_item[0]}: version {indexed_item[1]}", stale)
                stored_id = next(stored_ids, None)
                indexed_item = next(indexed, None)
    finally:
        if view is not None:
            view.release()
    differences = sum(totals.values())
    behind = (state.version if state else None) != current
    parts = [f"index {index_count} documents, MDStore {mdstore_count} present records"]
    if differences:
        parts.append(", ".join(f"{n} {kind}" for kind, n in totals.items() if n))
    else:
        parts.append("no differences")
    if behind:
        parts.append(
            f"the index state is at version {state.version if state else 'none'}, the MDStore at "
            f"{current or 'none'}"
        )
    extra = {
        "index_count": index_count,
        "mdstore_count": mdstore_count,
        "missing": missing,
        "unexpected": unexpected,
        "stale": stale,
        **{f"{k}_total": v for k, v in totals.items()},
        "unexplained_total": sum(totals.values()) - explained,
        "state_version": state.version if state else None,
        "current_version": current,
        "behind": behind,
    }
    outcome = Outcome.RECORD_ERRORS if differences or behind else Outcome.FINISHED
    return RunSummary(
        outcome=outcome,
        version_in=current,
        version_out=state.version if state else None,
        read=mdstore_count,
        written=index_count,
        errors=differences,
        seconds=time.monotonic() - started,
        message="; ".join(parts),
        first_errors=tuple((missing + unexpected + stale)[:5]),
        extra=extra,
        **base,
    )


def _ids_or_none(backend: IndexBackend, datasource_id: str) -> Iterator[tuple[str, str | None]]:
    """The index's ids of a datasource; none when the index does not exist yet."""
    try:
        yield from backend.ids(datasource_id)
    except IndexNotFound:
        return


# ----------------------------------------------------------------------------------- wrapper


def _rdf_format(datasource: Datasource) -> str | None:
    output = datasource.section("transform").get("output")
    return {"ntriples": "ntriples", "turtle": "turtle", "rdfxml": "rdfxml"}.get(output) if output else None


def run_index(
    datasource_id: str,
    settings: Settings,
    *,
    full: bool = False,
    check: bool = False,
    run_id: str | None = None,
    on_progress: ProgressFn | None = None,
) -> RunSummary:
    """The index step for one datasource, resolved from the settings (the CLI and Airflow call this)."""
    from contentcloud.datasources import DatasourceRegistry
    from mdstore import open_store
    from provision.index.profile import find_profile, load_profile
    from provision.registry import open_index

    datasource = DatasourceRegistry(settings.registry).get(datasource_id)
    section = datasource.section("index")
    if section.get("enabled") is False and not check:
        return RunSummary(
            step=STEP,
            datasource=datasource.id,
            run_id=run_id or new_run_id(STEP),
            outcome=Outcome.NOTHING_TO_DO,
            message="indexing is disabled in the profile",
        )
    store = open_store(settings.mdstore, keep=settings.keep_versions, lease_ttl=settings.lease_ttl)
    try:
        backend = open_index(settings.index, name=section.get("name"))
        try:
            if check:
                summary = check_index(store, datasource, backend, run_id=run_id)
            else:
                profile = load_profile(find_profile(settings.mappings, section.get("profile", "pe")))
                error_rate = (datasource.raw.get("limits") or {}).get("max_error_rate", settings.error_rate)
                workers = int(section.get("workers", DEFAULT_WORKERS))
                summary = index(
                    store,
                    datasource,
                    backend,
                    profile,
                    full=full,
                    run_id=run_id,
                    on_progress=on_progress,
                    max_error_rate=error_rate,
                    rdf_format=_rdf_format(datasource),
                    workers=workers,
                )
        finally:
            backend.close()
    finally:
        store.close()
    summary.log()
    return summary
