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

A feed runs in three stages, like the transform step: :func:`plan_index` (the mode, and for an
in-place feed the id ranges of its parts), :func:`index_part` (one range, sent in place, the writer
closed without a state) and :func:`finish_index` (the error rate over all parts, then deletions,
sweep and the new state). :func:`index` runs them in this process with one part; Airflow maps
workers over the parts (:mod:`contentcloud.pipeline.tasks`). A full rebuild is always one part: its
new core/collection/generation is switched in by the one writer that built it.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from contentcloud.pipeline.parts import (
    ASKED_FULL,
    INCREMENTAL_OVERLAP,
    PAGE_SIZE,
    FeedOptions,
    FeedPartResult,
    FeedPlan,
    FeedRequest,
    PartHow,
    Plan,
    Step,
    check_base,
    check_summary,
    count_read,
    incremental_or,
    run_step,
    store_and_target,
    written_rdf_format,
)
from contentcloud.pipeline.parts import feed_records as _records
from contentcloud.pipeline.processes import BareMainContext as _BuilderContext
from contentcloud.pipeline.processes import freeze_startup
from contentcloud.pipeline.summary import Outcome, ProgressFn, RunSummary
from mdstore.envelope import Record, UnitKey, utcnow
from mdstore.errors import ProvisionError, RecordError
from provision.index.analysis import normalize_instant
from provision.index.base import (
    MAX_KEPT_ERRORS,
    IndexBackend,
    IndexNotFound,
    IndexState,
    IndexWriter,
    batched,
    preparer_of,
)

if TYPE_CHECKING:
    from contentcloud.datasources import Datasource
    from contentcloud.settings import Settings
    from mdstore import MDStore, ReadSession
    from provision.index.profile import IndexProfile

logger = logging.getLogger(__name__)

STEP = "index"
#: more live versions than this and the next feed is a refeed (keeps the sweep query short)
MAX_LIVE_VERSIONS = 20
#: longest wait for one page of documents from a builder process (a page is 1,000 records, built
#: in about a second): past it the builders are killed and the feed fails instead of hanging
PAGE_TIMEOUT = 600.0
#: longest wait for the builders to exit once every page is built
SHUTDOWN_TIMEOUT = 30.0
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


def choose_mode(
    store: MDStore, unit: UnitKey, state: IndexState | None, current: str, digest: str, *, full: bool
) -> tuple[str, str]:
    """(mode, reason): ``full``, ``incremental``, ``refeed`` or ``none``."""
    if full:
        return ASKED_FULL
    if state is None:
        return "refeed", "the index holds no state for this datasource"
    if state.profile_digest != digest:
        return "refeed", "the index profile (or provider, or RDF format) changed"
    if state.version == current:
        return "none", f"version {current} is already indexed"
    if len(state.live_versions) >= MAX_LIVE_VERSIONS:
        return "refeed", f"{len(state.live_versions)} live versions; folding them into one"
    return incremental_or(
        store, unit, state.version, state.version_committed_at, current, done="indexed", otherwise="refeed"
    )


@dataclass(frozen=True, kw_only=True)
class IndexPlan(FeedPlan):
    """What one feed will do, shared by its parts and its finish (JSON-friendly: it travels between
    workers, like :class:`contentcloud.pipeline.transform.TransformPlan`).

    * ``none`` plans no part: the finish says there is nothing to do.
    * ``full`` plans exactly one part, and that part is the whole rebuild, switch and state included:
      a rebuild's new core/collection/generation is switched in atomically by the one writer that
      built it, so it cannot be shared between workers.
    * ``refeed`` and ``incremental`` write in place (the live index stays queryable), so their
      records are split by id range of the transformed version; each part adds its documents and
      closes its writer without a state; the finish applies the error rate over all parts, deletes
      the documents of records that now fail, sweeps versions that are not live and commits the
      new state. A part is idempotent (documents are replaced by id), so a retried part redoes it.
    """

    STEP = STEP

    index: str
    digest: str = ""
    provider: str | None = None
    indexed_at: str = ""

    def units(self) -> tuple[str, str]:
        return self.unit, self.index


@dataclass
class IndexPartResult(FeedPartResult):
    """What one part of a feed did (JSON-friendly: it travels between workers).

    ``errors`` keeps the first record errors (at most :data:`MAX_KEPT_ERRORS`, as the state does),
    ``error_count`` all of them; ``stale_on_error`` lists every record of an incremental part that
    now fails, whose document the finish deletes once the feed is accepted (at most the part's
    records); ``touched_errors`` the record errors of the old state this part fed again (they
    leave the state). A full rebuild's part carries the whole feed's ``summary``.
    """

    sent: int = 0
    pages: int = 0
    warnings: int = 0
    first_warnings: list[str] = field(default_factory=list)
    stale_on_error: list[str] = field(default_factory=list)
    touched_errors: list[str] = field(default_factory=list)


def index(
    store: MDStore,
    datasource: Datasource,
    backend: IndexBackend,
    profile: IndexProfile,
    *,
    on_progress: ProgressFn | None = None,
    workers: int = 0,
    **options: Any,
) -> RunSummary:
    """Feed ``datasource``'s current transformed version into ``backend`` (see the module docstring);
    ``options``: the plan's (:class:`~contentcloud.pipeline.parts.FeedRequest`) but ``parts``.

    ``workers`` builder processes turn records into documents while this process reads and sends
    (0: build here). Document building is the feed's main cost; one builder lets it overlap with the
    index's own work even when this process is busy sending. The same three stages as a feed split
    over workers (plan, parts, finish), with one part.
    """
    started = time.monotonic()
    plan = plan_index(store, datasource, backend, profile, parts=1, **options)
    results = [
        index_part(store, backend, profile, plan, part, workers=workers, on_progress=on_progress)
        for part in range(len(plan.parts))
    ]
    return finish_index(store, backend, plan, results, started=started)


def plan_index(
    store: MDStore,
    datasource: Datasource,
    backend: IndexBackend,
    profile: IndexProfile,
    **options: Any,
) -> IndexPlan:
    """Choose the mode (:func:`choose_mode`) and split an in-place feed into ``parts`` id ranges
    (``options``: a :class:`~contentcloud.pipeline.parts.FeedRequest`; ``parts`` ``None``: one part
    per ``records_per_part`` records to feed, at most :data:`MAX_PARTS`, at least ``min_parts``).

    Writes nothing: a plan that is never carried out leaves the index as it was.
    """
    request = FeedRequest(**options)
    unit = datasource.transformed_unit
    provider = datasource.raw.get("provider")
    common = request.plan_fields(STEP, datasource, index=backend.name, provider=provider)
    current = store.current_version(unit)
    if current is None:
        return IndexPlan.uncommitted(**common)
    digest = feed_digest(profile, provider, request.rdf_format)
    state = backend.state(datasource.id)
    mode, reason = choose_mode(store, unit, state, current, digest, full=request.full)
    logger.info("index %s: %s (%s)", datasource.id, mode, reason)
    common.update(
        version=current,
        mode=mode,
        reason=reason,
        digest=digest,
        state_version=state.version if state else None,
    )
    if mode == "none":
        return IndexPlan(**common)
    since = _since(state) if mode == "incremental" else None
    with store.reader(unit, current) as view:
        total = count_read(view, mode, since)
        whole = mode == "full"
        ranges = request.ranges(
            view, since, total, whole=whole, count=None if whole else view.count(since=since)
        )
    return IndexPlan(
        **common,
        parts=ranges,
        since=since.isoformat() if since else None,
        indexed_at=normalize_instant(utcnow()),
        total=total,
    )


def index_part(
    store: MDStore,
    backend: IndexBackend,
    profile: IndexProfile,
    plan: IndexPlan,
    part: int,
    *,
    workers: int = 0,
    on_progress: ProgressFn | None = None,
) -> IndexPartResult:
    """Feed one id range of the plan in place and close the writer without a state (refeed: the
    range's present records; incremental: its records changed since the indexed version, tombstones
    deleted). A full plan's one part is the whole rebuild (see :class:`IndexPlan`)."""
    started = time.monotonic()
    if plan.mode == "full":
        summary = _rebuild(store, backend, profile, plan, workers=workers, on_progress=on_progress)
        return IndexPartResult(part, summary=summary.as_dict(), seconds=time.monotonic() - started)
    # the record errors of the state this feed replaces: those fed again leave it at the finish
    state = backend.state(plan.datasource) if plan.mode == "incremental" else None
    old_errors = set(state.errors) if state else set()
    feed = _Feed()
    with store.reader(UnitKey.parse(plan.unit), plan.version) as view:
        writer = backend.open_writer(plan.datasource)
        try:
            _send(view, writer, profile, feed, plan=plan, part=part, workers=workers, on_progress=on_progress)
            writer.close()
        except BaseException:
            writer.abort()
            raise
    return IndexPartResult(
        part,
        read=feed.read,
        sent=feed.sent,
        deleted=feed.deleted,
        pages=feed.pages,
        warnings=feed.warnings,
        error_count=feed.error_count,
        errors=dict(feed.errors),
        first_warnings=list(feed.first_warnings),
        stale_on_error=list(feed.stale_on_error),
        touched_errors=sorted(feed.touched & old_errors),
        seconds=time.monotonic() - started,
    )


def finish_index(
    store: MDStore,
    backend: IndexBackend,
    plan: IndexPlan,
    results: list[IndexPartResult],
    *,
    started: float | None = None,
) -> RunSummary:
    """Conclude a planned feed from its parts' results: nothing to do; a full rebuild's own summary;
    or, in place, the error-rate verdict over all parts (past it: no sweep, the state is not
    advanced, FAILED), else the deletions of records that now fail, the sweep and the new state.

    ``started`` (``time.monotonic()``) times the feed; by default the parts' seconds are summed.
    """
    if started is None:
        started = time.monotonic() - sum(result.seconds for result in results)
    base = plan.base()
    if plan.mode == "none":
        if plan.version is None:
            return RunSummary(outcome=Outcome.NOTHING_TO_DO, message=plan.reason, **base)
        return RunSummary(
            outcome=Outcome.NOTHING_TO_DO,
            version_in=plan.version,
            version_out=plan.version,
            message=plan.reason,
            extra={"mode": plan.mode, "index_count": backend.count(plan.datasource)},
            **base,
        )
    if plan.mode == "full":
        (result,) = results
        assert result.summary is not None
        return RunSummary.from_dict(result.summary)
    feed = _Feed()
    for result in sorted(results, key=lambda r: r.part):
        feed.read += result.read
        feed.sent += result.sent
        feed.deleted += result.deleted
        feed.pages += result.pages
        feed.warnings += result.warnings
        feed.error_count += result.error_count - len(result.errors)
        for record_id, message in result.errors.items():
            feed.error(record_id, message)
        feed.first_warnings += result.first_warnings[: max(0, 5 - len(feed.first_warnings))]
        feed.stale_on_error += result.stale_on_error
        feed.touched.update(result.touched_errors)
    failed = _too_many_errors(plan, feed)
    if failed:
        return _summary(base, feed, Outcome.FAILED, plan, started, backend, message=failed)
    state = backend.state(plan.datasource)
    if state is not None and plan.committed_by_this_run(state.run_id, state.version):
        outcome = Outcome.RECORD_ERRORS if feed.error_count else Outcome.FINISHED
        message = f"{plan.reason}; the state was already committed by this run"
        return _summary(base, feed, outcome, plan, started, backend, message=message)
    if (state.version if state else None) != plan.state_version:
        message = (
            f"the index state moved from version {plan.state_version} to "
            f"{state.version if state else None} since this feed was planned (another feed?); "
            "the state was not advanced, feed again"
        )
        return _summary(base, feed, Outcome.FAILED, plan, started, backend, message=message)
    with store.reader(UnitKey.parse(plan.unit), plan.version) as view:
        writer = backend.open_writer(plan.datasource)
        try:
            return _commit_feed(view, writer, plan, feed, state, started, backend)
        except BaseException:
            writer.abort()
            raise


def _rebuild(
    store: MDStore,
    backend: IndexBackend,
    profile: IndexProfile,
    plan: IndexPlan,
    *,
    workers: int,
    on_progress: ProgressFn | None,
) -> RunSummary:
    """A full plan's one part: build a new core/collection/generation and switch it in, or drop it."""
    started = time.monotonic()
    feed = _Feed()
    with store.reader(UnitKey.parse(plan.unit), plan.version) as view:
        writer = backend.open_writer(plan.datasource, rebuild=True)
        try:
            _send(view, writer, profile, feed, plan=plan, part=0, workers=workers, on_progress=on_progress)
            failed = _too_many_errors(plan, feed)
            if failed:
                writer.abort()
                return _summary(plan.base(), feed, Outcome.FAILED, plan, started, backend, message=failed)
            return _commit_feed(view, writer, plan, feed, None, started, backend)
        except BaseException:
            writer.abort()
            raise


def _too_many_errors(plan: IndexPlan, feed: _Feed) -> str | None:
    """Why the feed is abandoned (more record errors than the plan's rate allows), or None."""
    rate = feed.error_count / feed.read if feed.read else 0.0
    if not feed.error_count or rate <= plan.max_error_rate:
        return None
    return (
        f"{feed.error_count} of {feed.read} records failed ({rate:.1%} > {plan.max_error_rate:.1%}); "
        "the index was left as it was"
        + (" (the rebuild was dropped)" if plan.mode == "full" else " (no sweep; the state was not advanced)")
    )


def _commit_feed(
    view: ReadSession,
    writer: IndexWriter,
    plan: IndexPlan,
    feed: _Feed,
    state: IndexState | None,
    started: float,
    backend: IndexBackend,
) -> RunSummary:
    """An accepted feed's end: delete documents of records that now fail, sweep versions that are not
    live (in place), store the new state with the data (a rebuild: switch it in)."""
    assert plan.version is not None
    info = view.info()
    present = view.count(deleted=False)
    live, errors = _next_state(plan.mode, state, plan.version, feed)
    if feed.stale_on_error:
        writer.delete(feed.stale_on_error)
        feed.deleted += len(feed.stale_on_error)
    if plan.mode != "full":
        feed.swept = writer.sweep(live)
    new_state = IndexState(
        datasource=plan.datasource,
        version=plan.version,
        unit=plan.unit,
        mode=plan.mode,
        live_versions=tuple(live),
        version_committed_at=info.committed_at.isoformat() if info.committed_at else None,
        count=max(present - len(errors), 0),
        profile_digest=plan.digest,
        updated_at=utcnow().isoformat(),
        run_id=plan.run_id,
        errors=errors,
        errors_total=len(errors) + feed.error_count - len(feed.errors),
    )
    writer.commit(new_state)
    outcome = Outcome.RECORD_ERRORS if feed.error_count else Outcome.FINISHED
    message = plan.reason
    if new_state.errors_total:
        message += f"; the index lacks {new_state.errors_total} record(s) because of record errors"
    return _summary(plan.base(), feed, outcome, plan, started, backend, message=message)


def _since(state: IndexState | None) -> datetime:
    """Where an incremental feed starts reading: the indexed version's commit, less the overlap."""
    assert state is not None
    return IndexPlan.since_committed(state.version_committed_at, INCREMENTAL_OVERLAP)


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
    """One page of records turned into documents: the documents, record errors and warnings by record id.

    With the writer's preparer (:func:`provision.index.base.preparer_of`) ``docs`` is empty and
    ``prepared`` holds what it made of them (``sent`` documents), for the writer's ``add_prepared``.
    """

    docs: list[dict[str, Any]]
    errors: list[tuple[str, str]]
    warnings: list[tuple[str, str]]
    records: int
    prepared: Any = None
    sent: int = 0


def build_page(
    profile: IndexProfile,
    records: list[Record],
    args: _BuildArgs,
    prepare: Callable[[list[dict[str, Any]]], Any] | None = None,
) -> _Built:
    """Build the documents of one page of records (their id, original id and body); record errors
    are data. ``prepare``: the writer's preparer, run on the page's documents here (in the builder
    process). Records go to a builder as the store read them: a body still compressed travels
    compressed, and is decompressed here (``Record.lazy``), not in the feeding process."""
    built = _Built([], [], [], len(records))
    for source in records:
        record_id, body = source.id, source.body
        record = Record(record_id, source.original_id, args.datasource, "", body, "", None)  # type: ignore[arg-type]
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
    built.sent = len(built.docs)
    if prepare is not None and built.docs:
        built.prepared, built.docs = prepare(built.docs), []
    return built


_WORKER_PROFILE: IndexProfile | None = None


def _builder_start(profile: IndexProfile) -> tuple[Any, ...]:
    """What a builder process starts from: the profile's file and digest (it loads the profile
    again), or the profile itself when it has no file.

    A ``spawn`` child reads its start data from a pipe that the parent fills in one write while it
    still holds the child's end open: a payload larger than the pipe buffer (64 KB on Linux; the
    pickled ``pe`` profile is 76 KB) blocks the parent forever when the child dies before reading
    it all. That is where a feed under Airflow's task runner hung when its builders died at start.
    A path and a digest keep the payload a few hundred bytes, so a dead child is a broken pool."""
    if profile.path is not None:
        return (str(Path(profile.path).resolve()), profile.digest)
    return (profile,)


def _init_builder(*start: Any) -> None:
    global _WORKER_PROFILE
    if len(start) == 2:
        from provision.index.profile import load_profile

        path, digest = start
        profile = load_profile(path)
        if profile.digest != digest:
            raise ProvisionError(
                f"the index profile {path} changed since the feed began", target="index builders"
            )
        _WORKER_PROFILE = profile
    else:
        _WORKER_PROFILE = start[0]
    freeze_startup()


def _build_in_builder(
    records: list[Record], args: _BuildArgs, prepare: Callable[..., Any] | None = None
) -> _Built:
    assert _WORKER_PROFILE is not None
    return build_page(_WORKER_PROFILE, records, args, prepare)


def _wait_built(future: Future[_Built], timeout: float) -> _Built:
    """A page's documents, or a :class:`ProvisionError` when its builder died or took too long."""
    try:
        return future.result(timeout=timeout)
    except BrokenProcessPool as exc:
        raise ProvisionError(
            f"a document builder process died ({exc}); see the task log for its error, "
            "or set index.workers: 0 to build in the feeding process",
            target="index builders",
        ) from exc
    except FutureTimeout as exc:
        raise ProvisionError(
            f"no documents from a builder process in {timeout:g} s; it was stopped",
            target="index builders",
        ) from exc


def _built_here(
    profile: IndexProfile,
    records: list[Record],
    args: _BuildArgs,
    prepare: Callable[..., Any] | None,
) -> Future[_Built]:
    """A page built in this process, as a finished future (its record errors are data, as in a builder)."""
    future: Future[_Built] = Future()
    future.set_result(build_page(profile, records, args, prepare))
    return future


@contextmanager
def _builder(
    profile: IndexProfile, workers: int, prepare: Callable[..., Any] | None = None
) -> Iterator[Callable[..., Future[_Built]]]:
    """``build(records, args) -> Future``: in builder processes (documents are built while the feeder
    sends the previous pages and the index digests them), or in this process when ``workers`` is 0.
    ``prepare`` (the writer's preparer) runs where the documents are built: in the builders, the
    index's analysis leaves the feeding process, which then only reads records and writes rows.

    On any error (a dead or stuck builder, a failed send) the builders are killed before the error
    goes on, so nothing waits for them."""
    if workers <= 0:
        yield partial(_built_here, profile, prepare=prepare)
        return
    context = _BuilderContext()
    pool = ProcessPoolExecutor(
        workers, mp_context=context, initializer=_init_builder, initargs=_builder_start(profile)
    )
    try:
        yield lambda records, args: pool.submit(_build_in_builder, records, args, prepare)
    except BaseException:
        context.kill_all()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    # every page is in; the builders exit on the pool's sentinel (bounded: nothing waits forever on
    # a builder that got stuck or died meanwhile)
    pool.shutdown(wait=False)
    context.stop_all(SHUTDOWN_TIMEOUT)


def _send(
    view: ReadSession,
    writer: IndexWriter,
    profile: IndexProfile,
    feed: _Feed,
    *,
    plan: IndexPlan,
    part: int,
    workers: int,
    on_progress: ProgressFn | None,
) -> None:
    """Build and send every document of one part of the feed, page by page; deletions for tombstones.

    Pages are built ahead (up to ``workers + 1`` in flight) and sent in order. While every builder
    has a page and another waits, the feeder builds the next page itself instead of waiting: with
    the analysis in the builders, reading and inserting cost the feeder about a third of what
    building costs a builder, so one builder alone would leave the feeder's core mostly idle.
    """
    assert plan.version is not None
    records, total = _records(view, plan, part), plan.total
    incremental = plan.mode == "incremental"  # other modes read present records only
    args = _BuildArgs(plan.datasource, plan.version, plan.indexed_at, plan.provider, plan.rdf_format)
    prepare = preparer_of(writer)
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
        if built.prepared is not None:
            writer.add_prepared(built.prepared)  # type: ignore[attr-defined]
            feed.sent += built.sent
            feed.pages += 1
        else:
            _flush_page(writer, built.docs, [], feed)
        if on_progress:
            on_progress(done, total, f"{feed.sent} sent")

    with _builder(profile, workers, prepare) as build:
        for page in batched(records, PAGE_SIZE):
            feed.read += len(page)
            if incremental:
                feed.touched.update(record.id for record in page)
                deletes = [record.id for record in page if record.deleted]
                if deletes:
                    done += len(deletes)
                    _flush_page(writer, [], deletes, feed)
                page = [record for record in page if not record.deleted]
            if workers and sum(not future.done() for future in pending) > workers:
                pending.append(_built_here(profile, page, args, prepare))  # the builders are all busy
            else:
                pending.append(build(page, args))
            while len(pending) > workers + 1 or (pending and pending[0].done()):
                take(_wait_built(pending.popleft(), PAGE_TIMEOUT))
        while pending:
            take(_wait_built(pending.popleft(), PAGE_TIMEOUT))
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
    plan: IndexPlan,
    started: float,
    backend: IndexBackend,
    *,
    message: str = "",
) -> RunSummary:
    mode, reason, current = plan.mode, plan.reason, plan.version
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
    started = time.monotonic()
    unit = datasource.transformed_unit
    current = store.current_version(unit)
    try:
        state = backend.state(datasource.id)
    except IndexNotFound:
        state = None
    base = check_base(STEP, datasource, backend.name, current, state.version if state else None, run_id)
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
    }
    counts = (mdstore_count, index_count, differences)
    return check_summary(base, started, counts, parts, missing + unexpected + stale, extra, not differences)


def _ids_or_none(backend: IndexBackend, datasource_id: str) -> Iterator[tuple[str, str | None]]:
    """The index's ids of a datasource; none when the index does not exist yet."""
    try:
        yield from backend.ids(datasource_id)
    except IndexNotFound:
        return


# ----------------------------------------------------------------------------------- wrapper


def open_feed(
    datasource: Datasource, settings: Settings
) -> AbstractContextManager[tuple[MDStore, IndexBackend]]:
    """The MDStore and the datasource's index (profile ``index.name``), closed afterwards."""
    from provision.registry import open_index

    return store_and_target(settings, lambda: open_index(settings.index, name=datasource.index.name))


@dataclass(frozen=True, kw_only=True)
class FeedSettings(FeedOptions):
    """What an index feed takes from the profile and the settings."""

    profile: IndexProfile
    #: processes building documents beside the feeder
    workers: int


def feed_settings(datasource: Datasource, settings: Settings) -> FeedSettings:
    """The index profile, the error rate, the RDF format, builder processes and records per part
    of ``datasource``'s feed."""
    from contentcloud.sections import error_rate
    from provision.index.profile import find_profile, load_profile

    section = datasource.index
    return FeedSettings(
        profile=load_profile(find_profile(settings.mappings, section.profile)),
        max_error_rate=error_rate(datasource.limits, settings.error_rate),
        rdf_format=written_rdf_format(datasource),
        workers=section.workers,
        records_per_part=section.records_per_part,
    )


def run_index(datasource_id: str, settings: Settings, **options: Any) -> RunSummary:
    """The index step for one datasource (:func:`contentcloud.pipeline.parts.run_step`): a feed
    (``full``, ``run_id``; its parts in ``workers`` processes), or with ``check`` the comparison
    with the MDStore. Airflow calls the feed's stages through the same :class:`IndexStep`."""
    return run_step(STEP, datasource_id, settings, **options)


class IndexStep(Step):
    """The index feed on the parted-step protocol (:class:`contentcloud.pipeline.parts.PartedStep`):
    the plan writes nothing, each part feeds its id range in place (a full rebuild: the one part
    builds and switches), the finish judges the error rate over all parts, sweeps and commits the
    state once (a retried finish that finds this run's state committed reports success). Nothing to
    release when a part raised: an in-place part's documents are replaced by id on the next feed and
    the state did not move; a rebuild's part drops its generation itself."""

    name = STEP
    plan_type = IndexPlan
    result_type = IndexPartResult
    options: FeedSettings

    def load_options(self) -> FeedSettings:
        return feed_settings(self.datasource, self.settings)

    def plan(
        self, *, parts: int | None = None, min_parts: int = 1, full: bool = False, run_id: str | None = None
    ) -> Plan:
        """The feed's mode and, in place, its id ranges (``None``: one per ``index.records_per_part``
        records, at least ``min_parts``); a disabled feed or one with nothing to do: its summary."""
        if not self.datasource.index.enabled:
            return self.disabled("indexing is disabled in the profile", run_id=run_id)
        options = self.options
        with open_feed(self.datasource, self.settings) as (store, backend):
            plan = plan_index(
                store,
                self.datasource,
                backend,
                options.profile,
                full=full,
                run_id=run_id,
                parts=parts,
                min_parts=min_parts,
                **options.plan_options(),
            )
            if not plan.parts:
                return self.nothing_to_do(finish_index(store, backend, plan, []))
        return self.planned(plan)

    def part(self, plan: IndexPlan, part: int, how: PartHow) -> IndexPartResult:
        """Feed one part. The profile's builder processes (``index.workers``) are shared among the
        parts that run ``side_by_side``, so N part workers never start N × builders processes (each
        part builds its documents itself when there are fewer builders than parts)."""
        options = self.options
        builders = options.workers // max(1, how.side_by_side)
        with open_feed(self.datasource, self.settings) as (store, backend):
            return index_part(
                store, backend, options.profile, plan, part, workers=builders, on_progress=how.on_progress
            )

    def conclude(self, plan: IndexPlan, results: list[IndexPartResult], seconds: float | None) -> RunSummary:
        with open_feed(self.datasource, self.settings) as (store, backend):
            return finish_index(store, backend, plan, results, started=self.started(seconds))

    def check(self, *, run_id: str | None = None) -> RunSummary:
        with open_feed(self.datasource, self.settings) as (store, backend):
            return check_index(store, self.datasource, backend, run_id=run_id)
