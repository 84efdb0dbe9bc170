"""The rdf step: a datasource's current transformed version → its named graph in the RDF store.

Like the index step (:mod:`contentcloud.pipeline.index`), a load is chosen per run:

* **full**: every present record into a new graph that replaces the live one atomically at the end
  (the embedded store publishes a new snapshot; a SPARQL server takes it as one streamed Graph
  Store Protocol PUT), so a query never sees a half-loaded source. Chosen by ``--full``, when the store
  holds no state for the datasource, when the last load was interrupted (the state says
  ``loading``), when the loaded version is not an ancestor of the current one (a rollback), or when
  the ledger does not match the store's state (the ledger or the store was replaced).
* **incremental**: only records whose datestamp moved since the loaded version was committed (less
  :data:`INCREMENTAL_OVERLAP`): their triples are replaced, tombstones' triples removed — exactly,
  through the ledger, so a triple another record still asserts stays.

A record whose body is not RDF is a record error: counted, kept in the state, its old triples
removed; past the error rate a full load is dropped (the live graph stays as it was). Each record's
triples are its canonical N-Triples lines (:func:`provision.rdf.triples.record_lines`): parsed and
written again by pyoxigraph, or split as stored when the version's report says the transform step's
conversion wrote them all in this pyoxigraph's form (:data:`~contentcloud.pipeline.transform.
NTRIPLES_FORM`; ``--check`` parses every record whatever the report says).

Three stages, as the other steps: :func:`plan_rdf`, :func:`rdf_part` (one id range; an incremental
run may be split over workers, which take the store's write lock in turn), :func:`finish_rdf` (the
state, which makes an incremental run visible). :class:`RdfStep` puts them on the parted-step
protocol (:mod:`contentcloud.pipeline.parts`), which the CLI and the DAG drive; :func:`load_rdf`
runs them here with one part, on a store and backend already open.
"""

from __future__ import annotations

import logging
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import contentcloud.pipeline.parts as parted
from contentcloud.pipeline.parts import INCREMENTAL_OVERLAP, PAGE_SIZE
from contentcloud.pipeline.parts import feed_records as _records
from contentcloud.pipeline.summary import Outcome, ProgressFn, RunSummary
from contentcloud.pipeline.transform import has_ntriples_form
from mdstore.envelope import UnitKey, utcnow
from mdstore.errors import RecordError
from provision.rdf.base import MAX_KEPT_ERRORS, RdfBackend, RdfLoader, RdfState
from provision.rdf.triples import record_lines

if TYPE_CHECKING:
    from contentcloud.datasources import Datasource
    from contentcloud.settings import Settings
    from mdstore import MDStore, ReadSession

logger = logging.getLogger(__name__)

STEP = "rdf"
CHECK_LIST_LIMIT = 1000


@dataclass(frozen=True, kw_only=True)
class RdfPlan(parted.FeedPlan):
    """What one load will do, shared by its parts and its finish (JSON-friendly, for Airflow)."""

    STEP = STEP

    store: str
    #: the version's report says its N-Triples are in the form this pyoxigraph writes (the
    #: transform step converted every record): each record's lines are split, not parsed again
    canonical: bool = False

    def units(self) -> tuple[str, str]:
        return self.unit, self.store


@dataclass
class RdfPartResult(parted.FeedPartResult):
    """What one part did (JSON-friendly). A full load's one part carries the whole ``summary``;
    an incremental part lists the records it ``touched`` (their old errors leave the state)."""

    loaded: int = 0
    touched: list[str] = field(default_factory=list)


def choose_mode(
    store: MDStore,
    backend: RdfBackend,
    state: RdfState | None,
    unit: UnitKey,
    current: str,
    *,
    full: bool,
) -> tuple[str, str]:
    """(mode, reason): ``full``, ``incremental`` or ``none``."""
    if full:
        return parted.ASKED_FULL
    if state is None:
        return "full", "the store holds no graph for this datasource"
    if state.loading:
        return "full", f"the load {state.loading} was interrupted; rebuilding"
    ledger = backend.ledger_count(state.datasource)
    if ledger != state.records:
        return "full", f"the ledger knows {ledger} records, the store's state {state.records}; rebuilding"
    if state.version == current:
        return "none", f"version {current} is already loaded"
    return parted.incremental_or(
        store, unit, state.version, state.version_committed_at, current, done="loaded", otherwise="full"
    )


def plan_rdf(store: MDStore, datasource: Datasource, backend: RdfBackend, **options: Any) -> RdfPlan:
    """Choose the mode and split an incremental load into id ranges (``options``: a
    :class:`~contentcloud.pipeline.parts.FeedRequest`; ``parts`` ``None``: one per
    ``records_per_part`` records, at least ``min_parts``); writes nothing."""
    request = parted.FeedRequest(**options)
    unit = datasource.transformed_unit
    common = request.plan_fields(STEP, datasource, store=backend.name)
    current = store.current_version(unit)
    if current is None:
        return RdfPlan.uncommitted(**common)
    state = backend.state(datasource.id)
    mode, reason = choose_mode(store, backend, state, unit, current, full=request.full)
    logger.info("rdf %s: %s (%s)", datasource.id, mode, reason)
    common.update(
        version=current,
        mode=mode,
        reason=reason,
        state_version=state.version if state else None,
        canonical=has_ntriples_form(store, current),
    )
    if mode == "none":
        return RdfPlan(**common)
    since = None
    if mode == "incremental":
        assert state is not None
        since = RdfPlan.since_committed(state.version_committed_at, INCREMENTAL_OVERLAP)
    with store.reader(unit, current) as view:
        total = view.count(since=since) if since else view.count(deleted=False)
        ranges = request.ranges(view, since, total, whole=mode == "full")
    return RdfPlan(**common, parts=ranges, since=since.isoformat() if since else None, total=total)


def _feed(
    view: ReadSession,
    loader: RdfLoader,
    plan: RdfPlan,
    part: int,
    base: str,
    result: RdfPartResult,
    on_progress: ProgressFn | None,
) -> None:
    incremental = plan.mode == "incremental"
    page: dict[str, list[bytes]] = {}
    deletes: list[str] = []

    def flush() -> None:
        if page:
            loader.put(page)
            result.loaded += len(page)
            page.clear()
        if deletes:
            loader.delete(deletes)
            result.deleted += len(deletes)
            deletes.clear()
        if on_progress:
            on_progress(result.read, plan.total, f"{result.loaded} loaded")

    for record in _records(view, plan, part):
        result.read += 1
        if incremental:
            result.touched.append(record.id)
        # a full load reads present records only: asking would decode each record's envelope
        if incremental and record.deleted:
            deletes.append(record.id)
        else:
            try:
                page[record.id] = record_lines(
                    record.body,
                    record_id=record.id,
                    datasource=plan.datasource,
                    base=base,
                    rdf_format=plan.rdf_format,
                    canonical=plan.canonical,
                )
            except RecordError as exc:
                result.error_count += 1
                if len(result.errors) < MAX_KEPT_ERRORS:
                    result.errors[record.id] = f"{type(exc).__name__}: {exc.message}"
                if incremental:
                    deletes.append(record.id)  # its old triples no longer reflect the record
        if len(page) + len(deletes) >= PAGE_SIZE:
            flush()
    flush()


def rdf_part(
    store: MDStore, backend: RdfBackend, plan: RdfPlan, part: int, *, on_progress: ProgressFn | None = None
) -> RdfPartResult:
    """Load one id range in place (incremental), or the whole full load with its switch and state."""
    started = time.monotonic()
    result = RdfPartResult(part)
    full = plan.mode == "full"
    with store.reader(UnitKey.parse(plan.unit), plan.version) as view:
        loader = backend.open_loader(plan.datasource, rebuild=full, run_id=plan.run_id)
        try:
            _feed(view, loader, plan, part, backend.base, result, on_progress)
            if full:
                rate = result.error_count / result.read if result.read else 0.0
                if result.error_count and rate > plan.max_error_rate:
                    loader.abort()
                    message = (
                        f"{result.error_count} of {result.read} records failed ({rate:.1%} > "
                        f"{plan.max_error_rate:.1%}); the live graph was left as it was "
                        "(the rebuild was dropped)"
                    )
                    result.seconds = time.monotonic() - started
                    result.summary = _summary(
                        plan, result, Outcome.FAILED, backend, result.seconds, message
                    ).as_dict()
                    return result
                loader.commit(_new_state(view, plan, None, result))
            else:
                loader.close()
        except BaseException:
            loader.abort()
            raise
    result.seconds = time.monotonic() - started
    if full:
        outcome = Outcome.RECORD_ERRORS if result.error_count else Outcome.FINISHED
        result.summary = _summary(plan, result, outcome, backend, result.seconds, plan.reason).as_dict()
    return result


def _new_state(view: ReadSession, plan: RdfPlan, old: RdfState | None, result: RdfPartResult) -> RdfState:
    assert plan.version is not None
    info = view.info()
    errors = {rid: msg for rid, msg in (old.errors.items() if old else ()) if rid not in set(result.touched)}
    for rid, msg in result.errors.items():
        if len(errors) < MAX_KEPT_ERRORS:
            errors[rid] = msg
    return RdfState(
        datasource=plan.datasource,
        graph="",
        version=plan.version,
        unit=plan.unit,
        mode=plan.mode,
        version_committed_at=info.committed_at.isoformat() if info.committed_at else None,
        updated_at=utcnow().isoformat(),
        run_id=plan.run_id,
        errors=errors,
        errors_total=len(errors) + result.error_count - len(result.errors),
    )


def finish_rdf(
    store: MDStore,
    backend: RdfBackend,
    plan: RdfPlan,
    results: list[RdfPartResult],
    *,
    started: float | None = None,
) -> RunSummary:
    """Conclude a planned load: nothing to do, a full load's own summary, or (incremental) the new
    state, which publishes the parts' changes."""
    if started is None:
        started = time.monotonic() - sum(r.seconds for r in results)
    if plan.mode == "none":
        return RunSummary(
            outcome=Outcome.NOTHING_TO_DO,
            version_in=plan.version,
            version_out=plan.version,
            message=plan.reason,
            **plan.base(),
        )
    if plan.mode == "full":
        (result,) = results
        assert result.summary is not None
        return RunSummary.from_dict(result.summary)
    total = RdfPartResult(-1)
    for result in results:
        total.read += result.read
        total.loaded += result.loaded
        total.deleted += result.deleted
        total.error_count += result.error_count
        total.touched += result.touched
        for rid, msg in result.errors.items():
            if len(total.errors) < MAX_KEPT_ERRORS:
                total.errors[rid] = msg
    state = backend.state(plan.datasource)
    if state is not None and plan.committed_by_this_run(state.run_id, state.version):
        outcome = Outcome.RECORD_ERRORS if total.error_count else Outcome.FINISHED
        message = f"{plan.reason}; the state was already committed by this run"
        return _summary(plan, total, outcome, backend, time.monotonic() - started, message)
    if (state.version if state else None) != plan.state_version:
        message = (
            f"the store's state moved from version {plan.state_version} to "
            f"{state.version if state else None} "
            "since this load was planned (another load?); the state was not advanced, load again"
        )
        return _summary(plan, total, Outcome.FAILED, backend, time.monotonic() - started, message)
    with store.reader(UnitKey.parse(plan.unit), plan.version) as view:
        loader = backend.open_loader(plan.datasource, run_id=plan.run_id)
        try:
            loader.commit(_new_state(view, plan, state, total))
        except BaseException:
            loader.abort()
            raise
    outcome = Outcome.RECORD_ERRORS if total.error_count else Outcome.FINISHED
    return _summary(plan, total, outcome, backend, time.monotonic() - started, plan.reason)


def _summary(
    plan: RdfPlan, result: RdfPartResult, outcome: Outcome, backend: RdfBackend, seconds: float, message: str
) -> RunSummary:
    state = backend.state(plan.datasource) if outcome != Outcome.FAILED else None
    first = [f"{rid}: {msg}" for rid, msg in list(result.errors.items())[:5]]
    return RunSummary(
        outcome=outcome,
        version_in=plan.version,
        version_out=plan.version if outcome != Outcome.FAILED else None,
        read=result.read,
        written=result.loaded,
        deleted=result.deleted,
        errors=result.error_count,
        seconds=seconds,
        message=message,
        first_errors=tuple(first),
        extra={
            "mode": plan.mode,
            "reason": plan.reason,
            "graph": backend.graph_iri(plan.datasource),
            "triples": state.triples if state else None,
            "records": state.records if state else None,
        },
        **plan.base(),
    )


def load_rdf(
    store: MDStore,
    datasource: Datasource,
    backend: RdfBackend,
    *,
    on_progress: ProgressFn | None = None,
    **options: Any,
) -> RunSummary:
    """Plan, load (one part) and finish, in this process (``options``: the plan's, but ``parts``)."""
    started = time.monotonic()
    plan = plan_rdf(store, datasource, backend, parts=1, **options)
    results = [
        rdf_part(store, backend, plan, part, on_progress=on_progress) for part in range(len(plan.parts))
    ]
    return finish_rdf(store, backend, plan, results, started=started)


# ----------------------------------------------------------------------------------- check


def check_rdf(
    store: MDStore,
    datasource: Datasource,
    backend: RdfBackend,
    *,
    run_id: str | None = None,
    rdf_format: str | None = None,
) -> RunSummary:
    """Compare the store with the datasource's current transformed version, record by record.

    ``missing``: a present record the store has no triples of (with the recorded reason when the load
    kept one); ``unexpected``: a record the store holds triples of that is not present any more;
    ``different``: a record whose triples in the store are not its triples in the MDStore (changed
    since the load, or absent from the graph although the ledger has them). ``extra_triples`` counts
    triples of the graph no record asserts.
    """
    from provision.rdf.ledger import line_hash

    started = time.monotonic()
    unit = datasource.transformed_unit
    current = store.current_version(unit)
    state = backend.state(datasource.id)
    held = state.version if state else None
    base = parted.check_base(STEP, datasource, backend.name, current, held, run_id)
    errors = dict(state.errors) if state else {}
    in_graph = {line_hash(line) for line in backend.graph_lines(datasource.id)} if state else set()
    asserted: set[int] = set()
    found: dict[str, list[str]] = {"missing": [], "unexpected": [], "different": []}
    totals = dict.fromkeys(found, 0)
    explained = 0

    def note(kind: str, text: str) -> None:
        totals[kind] += 1
        if len(found[kind]) < CHECK_LIST_LIMIT:
            found[kind].append(text)

    mdstore_count = 0
    ledger_count = 0
    ledger = backend.record_lines(datasource.id) if state else iter(())
    view = store.reader(unit, current) if current else None
    if view is not None:
        view.acquire()
    try:
        records = view.records(deleted=False) if view is not None else iter(())
        record = next(records, None)
        held = next(ledger, None)
        while record is not None or held is not None:
            if held is None or (record is not None and record.id < held[0]):
                mdstore_count += 1
                reason = errors.get(record.id)
                explained += bool(reason)
                note("missing", f"{record.id}: {reason}" if reason else record.id)
                record = next(records, None)
            elif record is None or held[0] < record.id:
                ledger_count += 1
                note("unexpected", held[0])
                asserted.update(line_hash(line) for line in held[1])
                held = next(ledger, None)
            else:
                mdstore_count += 1
                ledger_count += 1
                hashes = [line_hash(line) for line in held[1]]
                asserted.update(hashes)
                try:
                    lines = record_lines(
                        record.body,
                        record_id=record.id,
                        datasource=datasource.id,
                        base=backend.base,
                        rdf_format=rdf_format,
                    )
                except RecordError as exc:
                    note(
                        "different",
                        f"{record.id}: the store holds triples of a record that now fails: {exc.message}",
                    )
                else:
                    absent = sum(1 for h in hashes if h not in in_graph)
                    if lines != held[1]:
                        note("different", f"{record.id}: its triples changed since the load")
                    elif absent:
                        note(
                            "different",
                            f"{record.id}: {absent} of its {len(hashes)} triples are not in the graph",
                        )
                record = next(records, None)
                held = next(ledger, None)
    finally:
        if view is not None:
            view.release()
    extra_triples = len(in_graph - asserted)
    differences = sum(totals.values()) - explained
    behind = (state.version if state else None) != current
    parts = [
        f"store {ledger_count} records ({len(in_graph)} triples), MDStore {mdstore_count} present records"
    ]
    parts.append(", ".join(f"{n} {kind}" for kind, n in totals.items() if n) or "no differences")
    if extra_triples:
        parts.append(f"{extra_triples} triples in the graph that no record asserts")
    if behind:
        parts.append(
            f"the store is at version {state.version if state else 'none'}, "
            f"the MDStore at {current or 'none'}"
        )
    extra = {
        **found,
        **{f"{k}_total": v for k, v in totals.items()},
        "extra_triples": extra_triples,
        "graph_triples": len(in_graph),
    }
    listed = found["missing"] + found["unexpected"] + found["different"]
    counts = (mdstore_count, ledger_count, differences)
    clean = not (differences or extra_triples)
    return parted.check_summary(base, started, counts, parts, listed, extra, clean)


# ----------------------------------------------------------------------------------- wrapper


def rdf_options(datasource: Datasource, settings: Settings) -> parted.FeedOptions:
    """The error rate, the RDF format and records per part of ``datasource``'s load."""
    from contentcloud.sections import error_rate

    return parted.FeedOptions(
        max_error_rate=error_rate(datasource.limits, settings.error_rate),
        rdf_format=parted.written_rdf_format(datasource),
        records_per_part=datasource.rdf.records_per_part,
    )


def open_rdf_store(settings: Settings) -> RdfBackend:
    """The RDF store the settings name (``rdf``), entity IRIs under ``rdf_base``."""
    from pathlib import Path

    from provision.rdf.registry import open_rdf

    ledger = Path(settings.var_dir) / "rdf-ledger.sqlite"
    options: dict[str, Any] = {}
    if not settings.rdf.startswith("oxigraph:"):
        options["ledger_path"] = ledger
    return open_rdf(settings.rdf, base=settings.rdf_base, **options)


def open_load(settings: Settings) -> AbstractContextManager[tuple[MDStore, RdfBackend]]:
    """The MDStore and the RDF store, closed afterwards."""
    return parted.store_and_target(settings, lambda: open_rdf_store(settings))


def run_rdf(datasource_id: str, settings: Settings, **options: Any) -> RunSummary:
    """The rdf step for one datasource (:func:`contentcloud.pipeline.parts.run_step`): a load
    through :class:`RdfStep` (``full``, ``run_id``; its parts in ``workers`` processes), or with
    ``check`` the comparison with the MDStore."""
    return parted.run_step(STEP, datasource_id, settings, **options)


class RdfStep(parted.Step):
    """The rdf load on the parted-step protocol (:class:`contentcloud.pipeline.parts.PartedStep`).

    The plan writes nothing. A full load is one part that builds the new graph, switches it in and
    stores the state (like an index rebuild, it cannot be shared); an incremental load is cut into
    id ranges whose parts replace their records' triples in place (the embedded store's parts take
    its write lock in turn), and the finish judges the error rate over all parts and stores the
    state once, which is what makes the parts' changes visible. Airflow, the CLI and
    :func:`load_rdf` drive the same stages. Nothing to release when a part raised: a full load's
    part aborts its own rebuild; an incremental part that wrote leaves the store marking the load
    unfinished, so the next load rebuilds.
    """

    name = STEP
    plan_type = RdfPlan
    result_type = RdfPartResult

    options: parted.FeedOptions

    def load_options(self) -> parted.FeedOptions:
        return rdf_options(self.datasource, self.settings)

    def plan(
        self, *, parts: int | None = None, min_parts: int = 1, full: bool = False, run_id: str | None = None
    ) -> parted.Plan:
        """The load's mode and, incremental, its id ranges (``None``: one per ``rdf.records_per_part``
        records, at least ``min_parts``); a disabled load or one with nothing to do: its summary."""
        ds = self.datasource
        if not ds.rdf.enabled:
            return self.disabled("the RDF store is disabled in the profile", run_id=run_id)
        options = self.options
        with open_load(self.settings) as (store, backend):
            planned = plan_rdf(
                store,
                ds,
                backend,
                full=full,
                run_id=run_id,
                parts=parts,
                min_parts=min_parts,
                **options.plan_options(),
            )
            if not planned.parts:
                return self.nothing_to_do(finish_rdf(store, backend, planned, []))
        return self.planned(planned)

    def part(self, plan: RdfPlan, part: int, how: parted.PartHow) -> RdfPartResult:
        """Load one part (idempotent: replaying a part's records through the ledger changes nothing).
        Of ``how`` only ``on_progress`` matters here: a part starts no helper processes to share
        (``side_by_side``) and never stops early (``alone``): a full load's one part judges the
        error rate at its end, an incremental load's finish over all parts."""
        with open_load(self.settings) as (store, backend):
            return rdf_part(store, backend, plan, part, on_progress=how.on_progress)

    def conclude(self, plan: RdfPlan, results: list[RdfPartResult], seconds: float | None) -> RunSummary:
        with open_load(self.settings) as (store, backend):
            return finish_rdf(store, backend, plan, results, started=self.started(seconds))

    def check(self, *, run_id: str | None = None) -> RunSummary:
        with open_load(self.settings) as (store, backend):
            return check_rdf(
                store, self.datasource, backend, run_id=run_id, rdf_format=self.options.rdf_format
            )
