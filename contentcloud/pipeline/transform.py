"""The transform step: the native unit's current version → a new version of the transformed unit.

One record at a time: the source version is streamed under a read lease, each present record goes
through the compiled chain, tombstones stay tombstones, and the results are written in one write
transaction. Memory holds one record and one write batch, whatever the size of the source.

Failures, by scope:

* one record fails (``RecordError``): the error is stored with the new version (record id, step,
  message, mapping location; the raw input too when it does not parse) and the run goes on. In
  a full run the record's previous transformed body, if any, is carried over unchanged, so a
  mapping that breaks on an updated record never deletes its older, good output downstream;
* more records fail than ``max_error_rate`` allows: the transaction is aborted as soon as the
  rate can no longer be met; the current version stays as it was;
* anything else (a bug, a store error) propagates; the transaction is aborted.

Incremental runs transform only the records whose datestamp changed since the source version the
last transformed version was built from (kept in that version's report, with the chain's
fingerprint). They fall back to a full run when there is no previous version, when the chain
(configuration, parameters, mapping files) changed, or when the source was rolled back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from contentcloud.pipeline.summary import Outcome, ProgressFn, RunSummary, new_run_id
from mdstore.api import StoredError
from mdstore.envelope import RecordInput, UnitKey, utcnow
from mdstore.errors import ConfigError, RecordError, RecordParseError, VersionNotFound

if TYPE_CHECKING:
    from contentcloud.settings import Settings
    from mdstore import MDStore, ReadSession, WriteTransaction
    from transforms.registry import TransformChain

logger = logging.getLogger(__name__)

Mode = Literal["full", "incremental"]
STEP = "transform"
#: how many stored errors are buffered before they are written
ERROR_BATCH = 200
FIRST_ERRORS = 5
PROGRESS_EVERY = 1000


class _TooManyErrors(Exception):
    """Raised inside the record stream once the error rate can no longer be met."""


class _Run:
    """The counters and side effects of one run (kept apart so :func:`transform` reads as steps)."""

    def __init__(
        self,
        tx: WriteTransaction,
        chain: TransformChain,
        *,
        total: int,
        max_error_rate: float,
        previous: ReadSession | None,
        on_progress: ProgressFn | None,
    ) -> None:
        self.tx = tx
        self.chain = chain
        self.total = total
        self.max_error_rate = max_error_rate
        self.previous = previous
        self.on_progress = on_progress
        self.read = self.attempted = self.errors = self.discarded = self.carried = self.warnings = 0
        self.first_errors: list[str] = []
        self._pending: list[StoredError] = []

    def records(self, view: ReadSession, since: datetime | None) -> Iterator[tuple[RecordInput, bool]]:
        from transforms.payload import RecordContext

        # tombstones and present records are read apart: the deletion flag then needs no decoding
        # of each record's envelope
        for record in view.records(since=since, deleted=True):
            self._count_read()
            yield RecordInput(record.original_id, None, id=record.id), True
        for record in view.records(since=since, deleted=False):
            self._count_read()
            self.attempted += 1
            context = RecordContext(record.id, record.original_id)
            try:
                body = self.chain.apply(record.body or b"", context=context)
            except RecordError as exc:
                carried = self._fail(exc, record)
                if carried is not None:
                    yield carried, False
                continue
            self.warnings += len(context.warnings)
            # no per-record provenance: the version's report names the source version, and encoding
            # the same dict for every record costs more than the rest of the write
            yield RecordInput(record.original_id, body, id=record.id), False

    def _count_read(self) -> None:
        self.read += 1
        if self.on_progress and self.read % PROGRESS_EVERY == 0:
            self.on_progress(self.read, self.total, STEP)

    def _fail(self, exc: RecordError, record: Any) -> RecordInput | None:
        self.errors += 1
        if exc.record_id is None:
            exc.record_id = record.id
        if len(self.first_errors) < FIRST_ERRORS:
            self.first_errors.append(str(exc))
        self._pending.append(StoredError(record.id, exc.step or STEP, exc.message, exc.location, utcnow()))
        if len(self._pending) >= ERROR_BATCH:
            self.flush_errors()
        if isinstance(exc, RecordParseError):
            self.tx.add_discarded(record.body_bytes(), str(exc), source=record.id)
            self.discarded += 1
        if self.errors > self.max_error_rate * self.total:
            raise _TooManyErrors
        return self._carry_over(record)

    def _carry_over(self, record: Any) -> RecordInput | None:
        """The previous transformed body of a failed record (full runs only), to keep it unchanged."""
        if self.previous is None:
            return None
        old = self.previous.get(record.id)
        if old is None or old.deleted:
            return None
        self.carried += 1
        return RecordInput(old.original_id, old.body, provenance=dict(old.provenance), id=old.id)

    def flush_errors(self) -> None:
        if self._pending:
            self.tx.add_errors(self._pending)
            self._pending = []

    @property
    def error_rate(self) -> float:
        return self.errors / self.attempted if self.attempted else 0.0


def transform(
    store: MDStore,
    source: UnitKey,
    target: UnitKey,
    chain: TransformChain,
    *,
    mode: Mode = "full",
    run_id: str | None = None,
    max_error_rate: float = 0.05,
    on_progress: ProgressFn | None = None,
    datasource: str | None = None,
    nsprefix: str | None = None,
) -> RunSummary:
    """Transform the current version of ``source`` into a new version of ``target``.

    Transformed records keep the ids of their source records. Returns the run's summary; the
    outcome is ``failed`` (and nothing is committed) when the error rate exceeds
    ``max_error_rate``.
    """
    started = time.perf_counter()
    run_id = run_id or new_run_id(STEP)
    datasource = datasource or source.datasource
    source_version = store.current_version(source)
    if source_version is None:
        raise VersionNotFound(
            "no collected version to transform; collect the datasource first", unit=source.name
        )
    source_info = store.version(source_version)
    effective, since, reason = _plan(store, target, chain, mode, source_version)
    base = {
        "step": STEP,
        "datasource": datasource,
        "run_id": run_id,
        "unit_in": source.name,
        "version_in": source_version,
        "unit_out": target.name,
    }
    extra: dict[str, Any] = {
        "mode": effective,
        "requested_mode": mode,
        "since": since.isoformat() if since else None,
        "reason": reason,
        "fingerprint": chain.fingerprint,
    }
    if effective == "nothing":
        return _summary(base, Outcome.NOTHING_TO_DO, started, extra=extra, message=reason)
    logger.info("transform %s -> %s (%s%s)", source, target, effective, f": {reason}" if reason else "")

    tx = store.begin(target, effective, run_id=run_id, stamp="transformed", nsprefix=nsprefix or datasource)
    previous_version = tx.parent if effective == "full" else None
    try:
        previous = store.reader(target, previous_version) if previous_version else None
        with store.reader(source, source_version) as view, _maybe(previous):
            run = _Run(
                tx,
                chain,
                total=view.count(since=since),
                max_error_rate=max_error_rate,
                previous=previous,
                on_progress=on_progress,
            )
            try:
                tx.write(run.records(view, since))
            except _TooManyErrors:
                pass
            run.flush_errors()
    except BaseException:
        tx.abort()
        raise
    extra.update(
        error_rate=round(run.error_rate, 4),
        carried_over=run.carried,
        warnings=run.warnings,
        max_error_rate=max_error_rate,
    )
    counts = {
        "read": run.read,
        "errors": run.errors,
        "discarded": run.discarded,
        "first_errors": tuple(run.first_errors),
    }
    if run.error_rate > max_error_rate or run.errors > max_error_rate * run.total:
        tx.abort()
        message = (
            f"{run.errors} of {run.attempted} records failed ({run.error_rate:.1%}), more than the "
            f"{max_error_rate:.1%} allowed: aborted, the current version is unchanged"
        )
        logger.error("transform %s: %s", datasource, message)
        return _summary(base, Outcome.FAILED, started, extra=extra, message=message, **counts)
    if on_progress:
        on_progress(run.read, run.total, STEP)
    outcome = Outcome.RECORD_ERRORS if run.errors else Outcome.FINISHED
    provisional = _summary({**base, "version_out": tx.version_id}, outcome, started, extra=extra, **counts)
    report = {
        **provisional.as_dict(),
        "source_version": source_version,
        "source_committed_at": (source_info.committed_at or source_info.created_at).isoformat(),
        "fingerprint": chain.fingerprint,
    }
    committed = tx.commit(report=report)
    stats = committed.stats
    return _summary(
        {**base, "version_out": committed.id},
        outcome,
        started,
        extra=extra,
        written=sum(stats.get(k, 0) for k in ("added", "updated", "unchanged", "newly_deleted")),
        added=stats.get("added", 0),
        updated=stats.get("updated", 0),
        unchanged=stats.get("unchanged", 0),
        deleted=stats.get("newly_deleted", 0),
        **counts,
    )


def _plan(
    store: MDStore, target: UnitKey, chain: TransformChain, mode: Mode, source_version: str
) -> tuple[str, datetime | None, str]:
    """(effective mode or ``nothing``, datestamp lower bound, why) for the requested ``mode``."""
    if mode not in ("full", "incremental"):
        raise ConfigError(f"mode {mode!r} is not full or incremental", field="mode", rule="enum")
    if mode == "full":
        return "full", None, ""
    last = store.current_version(target)
    if last is None:
        return "full", None, "no transformed version yet"
    report = store.version(last).report or {}
    if report.get("fingerprint") != chain.fingerprint:
        return "full", None, "the transform chain changed since the last run"
    built_from = report.get("source_version")
    if built_from == source_version:
        return "nothing", None, "the source has not changed since the last run"
    if (
        not built_from
        or not report.get("source_committed_at")
        or not _descends(store, source_version, built_from)
    ):
        return "full", None, "the source version the last run read is not an ancestor of the current one"
    return "incremental", datetime.fromisoformat(report["source_committed_at"]), ""


def _descends(store: MDStore, version: str, ancestor: str) -> bool:
    seen: set[str] = set()
    current: str | None = version
    while current and current not in seen:
        if current == ancestor:
            return True
        seen.add(current)
        try:
            current = store.version(current).parent
        except VersionNotFound:
            return False
    return False


class _maybe:
    """``with`` over an optional read session."""

    def __init__(self, session: ReadSession | None) -> None:
        self.session = session

    def __enter__(self) -> ReadSession | None:
        if self.session is not None:
            self.session.__enter__()
        return self.session

    def __exit__(self, *exc: object) -> None:
        if self.session is not None:
            self.session.__exit__(*exc)


def _summary(
    base: dict[str, Any],
    outcome: Outcome,
    started: float,
    *,
    extra: dict[str, Any],
    message: str = "",
    **counts: Any,
) -> RunSummary:
    return RunSummary(
        **base,
        outcome=outcome,
        seconds=round(time.perf_counter() - started, 3),
        message=message,
        extra=dict(extra),
        **counts,
    )


# --- the wrapper the CLI and the Airflow task call -----------------------------------------------


def build_datasource_chain(datasource: Any, settings: Settings) -> TransformChain:
    """The compiled chain of a datasource profile's ``transform`` section."""
    from transforms.registry import build_chain
    from transforms.xslt import run_params

    section = datasource.section("transform")
    if not section.get("steps"):
        raise ConfigError(
            f"datasource {datasource.id!r} has no transform section",
            file=str(datasource.path),
            field="transform",
            rule="required",
        )
    return build_chain(
        section["steps"],
        base_dir=settings.mappings,
        output=section.get("output", "ntriples"),
        params=run_params(datasource.id, nsprefix=datasource.nsprefix, name=datasource.name),
    )


def run_transform(
    datasource_id: str,
    settings: Settings,
    *,
    mode: Mode = "full",
    run_id: str | None = None,
    on_progress: ProgressFn | None = None,
) -> RunSummary:
    """Resolve the datasource, its units and chain from the registry, transform, log the summary."""
    from contentcloud.datasources import DatasourceRegistry
    from mdstore import open_store

    datasource = DatasourceRegistry(settings.registry).get(datasource_id)
    section = datasource.section("transform")
    chain = build_datasource_chain(datasource, settings)
    max_error_rate = float(section.get("max_error_rate", settings.error_rate))
    with open_store(settings.mdstore, keep=settings.keep_versions, lease_ttl=settings.lease_ttl) as store:
        summary = transform(
            store,
            datasource.native_unit,
            datasource.transformed_unit,
            chain,
            mode=mode,
            run_id=run_id,
            max_error_rate=max_error_rate,
            on_progress=on_progress,
            datasource=datasource.id,
            nsprefix=datasource.nsprefix,
        )
    summary.log()
    return summary
