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

A version's report names the form of its N-Triples (``ntriples_form``, :func:`transforms.rdf.
ntriples_form`) when every present record of it was written by the chain's pyoxigraph conversion:
the records this run wrote, and those it kept from the parent (an incremental run's unchanged ones,
a full run's carried-over ones) only if the parent named the same form. The rdf step then splits
each record's lines instead of parsing and writing them again (bench/RESULTS.md, issue 20).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from dataclasses import replace as dataclass_replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from contentcloud.pipeline.parts import (
    PartHow,
    Plan,
    Serialisable,
    Step,
    StepPlan,
    id_ranges,
    part_count,
    run_step,
    up_to,
)
from contentcloud.pipeline.summary import Outcome, ProgressFn, RunSummary, new_run_id, summary_base
from mdstore.api import StoredError
from mdstore.envelope import RecordInput, UnitKey, utcnow
from mdstore.errors import (
    ConfigError,
    RecordError,
    RecordParseError,
    TransactionError,
    VersionNotFound,
    WriterLockError,
)

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
#: non-fatal warnings kept with the version (e.g. X3ML entities dropped), the count is kept whole
FIRST_WARNINGS = 20
PROGRESS_EVERY = 1000
#: the report key naming the form of a version's N-Triples (:func:`transforms.rdf.ntriples_form`)
NTRIPLES_FORM = "ntriples_form"


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
        #: records the chain wrote as N-Triples through its pyoxigraph conversion
        self.converted_ntriples = 0
        self.first_errors: list[str] = []
        self.first_warnings: list[str] = []
        self._pending: list[StoredError] = []

    def records(
        self, view: ReadSession, since: datetime | None, part: tuple[str | None, str | None] = (None, None)
    ) -> Iterator[tuple[RecordInput, bool]]:
        """The records of one id range ``(after, upto]`` (``None``: open end), transformed."""
        from transforms.payload import RecordContext

        after, upto = part
        # tombstones and present records are read apart: the deletion flag then needs no decoding
        # of each record's envelope
        for record in up_to(view.records(since=since, deleted=True, after_id=after), upto):
            self._count_read()
            yield RecordInput(record.original_id, None, id=record.id), True
        for record in up_to(view.records(since=since, deleted=False, after_id=after), upto):
            self._count_read()
            self.attempted += 1
            context = RecordContext(record.id, record.original_id)
            try:
                output = self.chain.apply_record(record.body or b"", context=context)
            except RecordError as exc:
                carried = self._fail(exc, record)
                if carried is not None:
                    yield carried, False
                continue
            if context.warnings:
                self.warnings += len(context.warnings)
                room = FIRST_WARNINGS - len(self.first_warnings)
                self.first_warnings.extend(f"{record.id}: {w}" for w in context.warnings[:room])
            # no per-record provenance: the version's report names the source version, and encoding
            # the same dict for every record costs more than the rest of the write
            self.converted_ntriples += output.converted_ntriples
            yield RecordInput(record.original_id, output.body, id=record.id), False

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


@dataclass(frozen=True, kw_only=True)
class TransformPlan(StepPlan):
    """What one transform run will do, persisted in its open transaction's checkpoint.

    Why persisted: a large source is transformed in parts (id ranges) by several workers, each
    resuming the same open transaction; the plan tells every part, and a retried part, exactly
    which source version, datestamp bound and id range it covers.
    """

    STEP = STEP

    source: str
    target: str
    source_version: str
    fingerprint: str

    def units(self) -> tuple[str, str]:
        return self.source, self.target

    def base(self) -> dict[str, Any]:
        return {**super().base(), "version_in": self.source_version}


@dataclass
class TransformPartResult(Serialisable):
    """Counts of one part of a run (JSON-friendly: it travels between workers)."""

    read: int = 0
    attempted: int = 0
    errors: int = 0
    discarded: int = 0
    carried: int = 0
    warnings: int = 0
    converted_ntriples: int = 0
    first_errors: list[str] = field(default_factory=list)
    first_warnings: list[str] = field(default_factory=list)
    too_many_errors: bool = False

    def merge(self, other: TransformPartResult) -> None:
        for name in ("read", "attempted", "errors", "discarded", "carried", "warnings", "converted_ntriples"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.first_errors = (self.first_errors + other.first_errors)[:FIRST_ERRORS]
        self.first_warnings = (self.first_warnings + other.first_warnings)[:FIRST_WARNINGS]
        self.too_many_errors = self.too_many_errors or other.too_many_errors


def transform(
    store: MDStore,
    source: UnitKey,
    target: UnitKey,
    chain: TransformChain,
    *,
    on_progress: ProgressFn | None = None,
    **options: Any,
) -> RunSummary:
    """Transform the current version of ``source`` into a new version of ``target`` (``options``:
    :func:`plan_transform`'s but ``parts``).

    Transformed records keep the ids of their source records. Returns the run's summary; the
    outcome is ``failed`` (and nothing is committed) when the error rate exceeds
    ``max_error_rate``. The same three stages as a run split over workers: plan, one part, finish.
    """
    started = time.perf_counter()
    plan = plan_transform(store, source, target, chain, parts=1, **options)  # one part: this call runs it
    if isinstance(plan, RunSummary):
        return plan
    try:
        result = transform_part(store, chain, plan, 0, on_progress=on_progress, stop_early=True)
    except BaseException:
        store.abort_open(target)
        raise
    return finish_transform(store, plan, [result], seconds=time.perf_counter() - started)


def plan_transform(
    store: MDStore,
    source: UnitKey,
    target: UnitKey,
    chain: TransformChain,
    *,
    mode: Mode = "full",
    run_id: str | None = None,
    max_error_rate: float = 0.05,
    parts: int = 1,
    datasource: str | None = None,
    nsprefix: str | None = None,
) -> TransformPlan | RunSummary:
    """Open the target's write transaction and split the source into ``parts`` id ranges.

    Returns the plan, or a summary when there is nothing to do. If the target already has an open
    transaction whose plan reads the same source version (a run retried after a failure), that
    plan is returned again: planning is idempotent.
    """
    started = time.perf_counter()
    datasource = datasource or source.datasource
    source_version = store.current_version(source)
    if source_version is None:
        raise VersionNotFound(
            "no collected version to transform; collect the datasource first", unit=source.name
        )
    open_tx = store.open_transaction(target)
    if open_tx is not None:
        live = [w for w in store.writers(target) if w.state == "alive"]
        if live:  # only a run that stopped is planned again; a running one is not joined
            raise WriterLockError(
                f"a transform is running ({live[0].describe()}); wait for it to finish or stop it first",
                unit=target.name,
                version=open_tx.id,
            )
        saved = open_tx.checkpoint.get("plan")
        if (
            saved
            and saved.get("source_version") == source_version
            and saved.get("fingerprint") == chain.fingerprint
        ):
            return TransformPlan.from_dict(saved)
        raise TransactionError(
            "an unfinished transform of another source version or chain is open; abort it first "
            "(contentcloud mdstore abort DATASOURCE --layer transformed)",
            unit=target.name,
            version=open_tx.id,
        )
    run_id = run_id or new_run_id(STEP)
    effective, since, reason = _plan(store, target, chain, mode, source, source_version)
    if effective == "nothing":
        base = summary_base(STEP, datasource, run_id, source.name, target.name, version_in=source_version)
        extra = {
            "mode": effective,
            "requested_mode": mode,
            "since": None,
            "reason": reason,
            "fingerprint": chain.fingerprint,
        }
        return _summary(base, Outcome.NOTHING_TO_DO, started, extra=extra, message=reason)
    logger.info("transform %s -> %s (%s%s)", source, target, effective, f": {reason}" if reason else "")
    with store.reader(source, source_version) as view:
        total = view.count(since=since)
        bounds = id_ranges(view, since, parts, total)
    tx = store.begin(target, effective, run_id=run_id, stamp="transformed", nsprefix=nsprefix or datasource)
    plan = TransformPlan(
        run_id=run_id,
        datasource=datasource,
        source=source.name,
        target=target.name,
        source_version=source_version,
        mode=effective,
        since=since.isoformat() if since else None,
        parts=bounds,
        max_error_rate=max_error_rate,
        fingerprint=chain.fingerprint,
        reason=reason,
        total=total,
    )
    tx.checkpoint({"plan": plan.to_dict()})
    tx.release()  # the parts join the open transaction, then the finish commits it
    return plan


def transform_part(
    store: MDStore,
    chain: TransformChain,
    plan: TransformPlan,
    part: int,
    *,
    on_progress: ProgressFn | None = None,
    stop_early: bool = False,
) -> TransformPartResult:
    """Transform one id range of the plan into its open transaction (idempotent: may be retried).

    ``stop_early`` stops as soon as the whole run's error rate can no longer be met (a single-part
    run); parts of a split run always finish and leave the verdict to :func:`finish_transform`.
    """
    source, target = UnitKey.parse(plan.source), UnitKey.parse(plan.target)
    # one worker among the parts of this run (disjoint id ranges); handed back when the part ends
    with store.resume(target, join=True, run_id=plan.run_id) as tx:
        return _transform_range(store, chain, plan, part, tx, source, target, on_progress, stop_early)


def _transform_range(
    store: MDStore,
    chain: TransformChain,
    plan: TransformPlan,
    part: int,
    tx: WriteTransaction,
    source: UnitKey,
    target: UnitKey,
    on_progress: ProgressFn | None,
    stop_early: bool,
) -> TransformPartResult:
    since = datetime.fromisoformat(plan.since) if plan.since else None
    previous_version = tx.parent if plan.mode == "full" else None
    previous = store.reader(target, previous_version) if previous_version else None
    with store.reader(source, plan.source_version) as view, _maybe(previous):
        run = _Run(
            tx,
            chain,
            total=plan.total,
            max_error_rate=plan.max_error_rate if stop_early else float("inf"),
            previous=previous,
            on_progress=on_progress,
        )
        too_many = False
        try:
            tx.write(run.records(view, since, plan.parts[part]))
        except _TooManyErrors:
            too_many = True
        run.flush_errors()
    if on_progress:
        on_progress(run.read, plan.total, STEP)
    return TransformPartResult(
        read=run.read,
        attempted=run.attempted,
        errors=run.errors,
        discarded=run.discarded,
        carried=run.carried,
        warnings=run.warnings,
        converted_ntriples=run.converted_ntriples,
        first_errors=list(run.first_errors),
        first_warnings=list(run.first_warnings),
        too_many_errors=too_many,
    )


def finish_transform(
    store: MDStore, plan: TransformPlan, results: list[TransformPartResult], *, seconds: float = 0.0
) -> RunSummary:
    """Commit the plan's transaction, or abort it when too many records failed across all parts."""
    started = time.perf_counter() - seconds
    target = UnitKey.parse(plan.target)
    if len(results) != len(plan.parts):
        # a commit now would tombstone every record of the parts that did not report
        raise TransactionError(
            f"{len(results)} of the plan's {len(plan.parts)} parts reported; nothing was committed "
            "(run the missing parts, or abort the transaction)",
            unit=target.name,
        )
    run = TransformPartResult()
    for result in results:
        run.merge(result)
    base = plan.base()
    error_rate = run.errors / run.attempted if run.attempted else 0.0
    extra: dict[str, Any] = {
        "mode": plan.mode,
        "since": plan.since,
        "reason": plan.reason,
        "fingerprint": plan.fingerprint,
        "parts": len(plan.parts),
        "error_rate": round(error_rate, 4),
        "carried_over": run.carried,
        "warnings": run.warnings,
        "first_warnings": run.first_warnings,
        "max_error_rate": plan.max_error_rate,
    }
    counts = {
        "read": run.read,
        "errors": run.errors,
        "discarded": run.discarded,
        "first_errors": tuple(run.first_errors),
    }
    tx = store.resume(target)
    if (
        run.too_many_errors
        or error_rate > plan.max_error_rate
        or run.errors > plan.max_error_rate * plan.total
    ):
        tx.abort()
        message = (
            f"{run.errors} of {run.attempted} records failed ({error_rate:.1%}), more than the "
            f"{plan.max_error_rate:.1%} allowed: aborted, the current version is unchanged"
        )
        logger.error("transform %s: %s", plan.datasource, message)
        return _summary(base, Outcome.FAILED, started, extra=extra, message=message, **counts)
    outcome = Outcome.RECORD_ERRORS if run.errors else Outcome.FINISHED
    provisional = _summary({**base, "version_out": tx.version_id}, outcome, started, extra=extra, **counts)
    source_info = store.version(plan.source_version)
    report = {
        **provisional.as_dict(),
        "source_version": plan.source_version,
        "source_committed_at": (source_info.committed_at or source_info.created_at).isoformat(),
        "fingerprint": plan.fingerprint,
    }
    form = _ntriples_form(store, plan, run, tx.parent)
    if form:
        report[NTRIPLES_FORM] = form
    committed = tx.commit(report=report)
    written = _written(committed.stats)
    return _summary({**base, "version_out": committed.id}, outcome, started, extra=extra, **written, **counts)


def _ntriples_form(
    store: MDStore, plan: TransformPlan, run: TransformPartResult, parent: str | None
) -> str | None:
    """The form every present record of the new version is written in, if one: all the records
    this run wrote went through the chain's conversion to N-Triples, and the records it did not
    write (an incremental run's unchanged ones, a full run's carried-over ones) come from a parent
    in the same form. ``None`` otherwise: the rdf step then parses each record again."""
    from transforms.rdf import ntriples_form

    if run.converted_ntriples != run.attempted - run.errors:
        return None
    if plan.mode == "full" and not run.carried:
        return ntriples_form()
    return ntriples_form() if parent and has_ntriples_form(store, parent) else None


def has_ntriples_form(store: MDStore, version: str) -> bool:
    """Does the version's report say every record of it is N-Triples in the form this process's
    pyoxigraph writes (what the rdf step may split instead of parsing)?"""
    from transforms.rdf import ntriples_form

    return (store.version(version).report or {}).get(NTRIPLES_FORM) == ntriples_form()


def _written(stats: dict[str, Any]) -> dict[str, int]:
    """A committed version's write counts as the summary names them."""
    return {
        "written": sum(stats.get(k, 0) for k in ("added", "updated", "unchanged", "newly_deleted")),
        "added": stats.get("added", 0),
        "updated": stats.get("updated", 0),
        "unchanged": stats.get("unchanged", 0),
        "deleted": stats.get("newly_deleted", 0),
    }


def _plan(
    store: MDStore, target: UnitKey, chain: TransformChain, mode: Mode, source: UnitKey, source_version: str
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
        or not store.is_ancestor(source, built_from, source_version)
    ):
        return "full", None, "the source version the last run read is not an ancestor of the current one"
    return "incremental", datetime.fromisoformat(report["source_committed_at"]), ""


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

    section = datasource.transform
    if not section.steps:
        raise ConfigError(
            f"datasource {datasource.id!r} has no transform section",
            file=str(datasource.path),
            field="transform",
            rule="required",
        )
    return build_chain(
        [dict(step) for step in section.steps],
        base_dir=settings.mappings,
        output=section.output,
        params=run_params(datasource.id, nsprefix=datasource.nsprefix, name=datasource.name),
        schemas_dir=schemas_dir_for(settings.mappings),
    )


def schemas_dir_for(mappings: str | Path) -> Path:
    """Where steps find schemas and the ontology digest: ``schemas/`` beside the mappings directory
    (a checkout, a deployment that keeps both), else the copy shipped with the code, so that a
    mappings directory of its own (``CONTENTCLOUD_MAPPINGS=/srv/mappings``) still has them."""
    from contentcloud.shipped import SCHEMAS_DIR

    beside = Path(mappings).resolve().parent / "schemas"
    return beside if beside.is_dir() else SCHEMAS_DIR


def run_transform(
    datasource_id: str, settings: Settings, *, mode: Mode = "full", **options: Any
) -> RunSummary:
    """Resolve the datasource, its units and chain from the registry, transform (``run_id``; in
    ``workers`` processes: :func:`contentcloud.pipeline.parts.run_step`), log the summary."""
    return run_step(STEP, datasource_id, settings, mode=mode, **options)


class TransformStep(Step):
    """The transform step on the parted-step protocol (:class:`contentcloud.pipeline.parts.PartedStep`):
    the plan opens the target's write transaction, each part joins it as one more worker of the run
    and writes its id range, the finish commits it once (or aborts it past the error rate). Its
    options are the datasource's compiled chain."""

    name = STEP
    plan_type = TransformPlan
    result_type = TransformPartResult
    options: TransformChain

    def load_options(self) -> TransformChain:
        return build_datasource_chain(self.datasource, self.settings)

    @property
    def chain(self) -> TransformChain:
        return self.options

    def _store(self) -> MDStore:
        from mdstore import open_store

        return open_store(self.settings.mdstore, **self.settings.store_options())

    def plan(
        self,
        *,
        parts: int | None = None,
        min_parts: int = 1,
        mode: Mode = "incremental",
        run_id: str | None = None,
    ) -> Plan:
        """``parts`` id ranges (``None``: one per ``transform.records_per_part`` records, at most
        :data:`~contentcloud.pipeline.parts.MAX_PARTS`, at least ``min_parts``)."""
        from contentcloud.sections import error_rate

        datasource = self.datasource
        with self._store() as store:
            if parts is None:
                current = store.current_version(datasource.native_unit)
                present = store.version(current).stats.get("total", 0) if current else 0
                per_part = datasource.transform.records_per_part
                parts = max(min_parts, part_count(present, per_part=per_part))
            plan = plan_transform(
                store,
                datasource.native_unit,
                datasource.transformed_unit,
                self.chain,
                mode=mode,
                run_id=run_id,
                parts=parts,
                max_error_rate=error_rate(
                    datasource.limits, self.settings.error_rate, transform=datasource.transform
                ),
                datasource=datasource.id,
                nsprefix=datasource.nsprefix,
            )
        if isinstance(plan, RunSummary):
            return self.nothing_to_do(plan)
        return self.planned(plan)

    def part(self, plan: TransformPlan, part: int, how: PartHow) -> TransformPartResult:
        """One id range into the run's open transaction; ``alone`` (a run of one part) stops as soon
        as the error rate can no longer be met."""
        with self._store() as store:
            return transform_part(
                store, self.chain, plan, part, on_progress=how.on_progress, stop_early=how.alone
            )

    def conclude(
        self, plan: TransformPlan, results: list[TransformPartResult], seconds: float | None
    ) -> RunSummary:
        """Commit or abort the run over all parts; a retry after a commit reports the committed run."""
        target = UnitKey.parse(plan.target)
        with self._store() as store:
            if store.open_transaction(target) is None:
                current = store.current_version(target)
                info = store.version(current) if current else None
                report = (info.report or {}) if info else {}
                if info is not None and report.get("run_id") == plan.run_id and report.get("outcome"):
                    return dataclass_replace(
                        RunSummary.from_dict({**report, "version_out": current}),
                        message="the transformed version was already committed by this run",
                        **_written(info.stats),
                    )
            return finish_transform(store, plan, results, seconds=seconds or 0.0)

    def abandon(self, plan: Plan) -> None:
        """Abort the run's open transaction (a part raised): the current version stays as it was."""
        if plan.nothing_to_do:
            return
        with self._store() as store:
            store.abort_open(UnitKey.parse(TransformPlan.from_dict(plan.detail).target))
