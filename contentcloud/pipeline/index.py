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
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from contentcloud.pipeline.summary import Outcome, ProgressFn, RunSummary, new_run_id
from mdstore.envelope import utcnow
from mdstore.errors import RecordError, VersionNotFound
from provision.index.analysis import normalize_instant
from provision.index.base import MAX_KEPT_ERRORS, IndexBackend, IndexState, IndexWriter

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
) -> RunSummary:
    """Feed ``datasource``'s current transformed version into ``backend`` (see the module docstring)."""
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
            _send(
                view,
                writer,
                profile,
                feed,
                mode=mode,
                state=state,
                datasource=datasource,
                version=current,
                provider=provider,
                rdf_format=rdf_format,
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


def _send(
    view: ReadSession,
    writer: IndexWriter,
    profile: IndexProfile,
    feed: _Feed,
    *,
    mode: str,
    state: IndexState | None,
    datasource: Datasource,
    version: str,
    provider: str | None,
    rdf_format: str | None,
    on_progress: ProgressFn | None,
) -> None:
    """Build and send every document of the feed, page by page; deletions for tombstones."""
    indexed_at = normalize_instant(utcnow())
    records, total = _records(view, mode, state)
    docs: list[dict[str, Any]] = []
    deletes: list[str] = []
    incremental = mode == "incremental"  # other modes read present records only
    for record in records:
        feed.read += 1
        feed.touched.add(record.id)
        if incremental and record.deleted:
            deletes.append(record.id)
        else:
            try:
                doc, warnings = profile.build(
                    record,
                    datasource=datasource.id,
                    version=version,
                    indexed_at=indexed_at,
                    provider=provider,
                    rdf_format=rdf_format,
                )
            except RecordError as exc:
                feed.error(record.id, f"{type(exc).__name__}: {exc.message}")
                if incremental:
                    feed.stale_on_error.append(record.id)  # its document no longer reflects the record
            else:
                docs.append(doc)
                if warnings:
                    feed.warnings += len(warnings)
                    if len(feed.first_warnings) < 5:
                        feed.first_warnings.extend(f"{record.id}: {w}" for w in warnings[:5])
        if len(docs) + len(deletes) >= PAGE_SIZE:
            _flush_page(writer, docs, deletes, feed)
            docs, deletes = [], []
            if on_progress:
                on_progress(feed.read, total, f"{feed.sent} sent")
    _flush_page(writer, docs, deletes, feed)
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
    state = backend.state(datasource.id)
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
    if current is None:
        stored_ids: Iterator[str] = iter(())
        view = None
    else:
        view = store.reader(unit, current)
        view.acquire()
        stored_ids = (rid for rid, _, _ in view.ids(deleted=False))
    try:
        indexed = iter(backend.ids(datasource.id))
        stored_id = next(stored_ids, None)
        indexed_item = next(indexed, None)
        while stored_id is not None or indexed_item is not None:
            if indexed_item is None or (stored_id is not None and stored_id < indexed_item[0]):
                mdstore_count += 1
                reason = errors.get(stored_id)  # type: ignore[arg-type]
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
                )
        finally:
            backend.close()
    finally:
        store.close()
    summary.log()
    return summary
