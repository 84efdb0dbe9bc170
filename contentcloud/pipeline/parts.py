"""Splitting a step's records into parts by id range, so several workers share a large source, and
the protocol every such step follows (:class:`PartedStep`: plan, parts, finish) with its runner.

The transform and index steps both plan a run as contiguous id ranges ``(after, upto]`` of one
MDStore version (``None``: an open end), and each part reads only its range. The ranges are cut in
one pass over the version's ids (keyset order), so planning costs one read of the ids, not of the
records.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, Self, TypeVar, runtime_checkable

from contentcloud.pipeline.summary import Outcome, ProgressFn, RunSummary, new_run_id, summary_base
from mdstore.errors import ConfigError

if TYPE_CHECKING:
    from contentcloud.datasources import Datasource
    from contentcloud.settings import Settings
    from mdstore import MDStore, ReadSession, UnitKey

#: records per part when a step is split over workers (profile: ``<step>.records_per_part``), and
#: the most parts
RECORDS_PER_PART = 50_000
MAX_PARTS = 16
#: records read (and sent or loaded) per page by the steps that feed a target from the transformed unit
PAGE_SIZE = 1000
#: an incremental run also re-reads records changed this long before the version it last took in was
#: committed (clock skew between writers); reading again is harmless, the targets replace by id
INCREMENTAL_OVERLAP = timedelta(minutes=5)

IdRange = tuple[str | None, str | None]
T = TypeVar("T")


def part_count(records: int, *, per_part: int = RECORDS_PER_PART, most: int = MAX_PARTS) -> int:
    """How many parts a run over ``records`` records is split into."""
    return max(1, min(most, math.ceil(records / per_part)))


def id_ranges(view: ReadSession, since: datetime | None, parts: int, total: int) -> tuple[IdRange, ...]:
    """``parts`` contiguous id ranges ``(after, upto]`` of about equal size (one pass over the ids)."""
    if parts <= 1 or total <= parts:
        return ((None, None),)
    step = total / parts
    cuts: list[str] = []
    for index, record_id in enumerate(view.keys(since=since)):
        if len(cuts) < parts - 1 and index + 1 >= step * (len(cuts) + 1):
            cuts.append(record_id)
    edges: list[str | None] = [None, *cuts, None]
    return tuple((edges[i], edges[i + 1]) for i in range(len(edges) - 1))


@dataclass(frozen=True)
class FeedRequest:
    """What the caller of a feed's plan asks for (the keywords of ``plan_index``, ``plan_rdf``,
    ``index``, ``load_rdf``): a full rebuild, the run id, the error rate, the records' syntax, and
    how the run is split (``parts``; ``None``: one per ``records_per_part`` records read, at least
    ``min_parts``)."""

    full: bool = False
    run_id: str | None = None
    max_error_rate: float = 0.05
    #: syntax of the transformed records, None: recognised per record
    rdf_format: str | None = None
    parts: int | None = None
    records_per_part: int = RECORDS_PER_PART
    min_parts: int = 1

    def plan_fields(self, step: str, datasource: Datasource, **more: Any) -> dict[str, Any]:
        """The fields a plan of this request starts from (``more``: the step's own, e.g. the target)."""
        return {
            "run_id": self.run_id or new_run_id(step),
            "datasource": datasource.id,
            "unit": datasource.transformed_unit.name,
            "max_error_rate": self.max_error_rate,
            "rdf_format": self.rdf_format,
            **more,
        }

    def ranges(
        self, view: ReadSession, since: datetime | None, total: int, *, whole: bool, count: int | None = None
    ) -> tuple[IdRange, ...]:
        """The id ranges of the planned run: one open range when it cannot be shared (``whole``: a
        rebuild switched in by the one writer that built it), else the parts asked for, cut over
        ``count`` ids (default ``total``, the records the run reads)."""
        if whole:
            return ((None, None),)
        wanted = self.parts
        if wanted is None:
            wanted = max(self.min_parts, part_count(total, per_part=self.records_per_part))
        return id_ranges(view, since, wanted, total if count is None else count)


def up_to(records: Iterator[Any], upto: str | None) -> Iterator[Any]:
    """Records up to and including id ``upto`` (records come in id order)."""
    if upto is None:
        yield from records
        return
    for record in records:
        if record.id > upto:
            return
        yield record


# --- the parted-step protocol ---------------------------------------------------------------------


class Serialisable:
    """The one JSON-safe form of a step's dataclasses (plans, part results), for XCom, checkpoints
    and a worker's arguments: ``to_dict`` gives plain dicts and lists (a tuple becomes a list, as in
    JSON), ``from_dict`` reads it back, refusing unknown keys, with lists turned back into tuples in
    the fields declared as tuples (``parts: tuple[IdRange, ...]``)."""

    def to_dict(self) -> dict[str, Any]:
        return _json_safe(asdict(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        declared = {f.name: str(f.type) for f in fields(cls)}
        unknown = set(data) - set(declared)
        if unknown:
            raise ValueError(f"not a {cls.__name__}: unknown keys {sorted(unknown)}")
        return cls(
            **{
                name: _tuples(value) if declared[name].startswith("tuple") else value
                for name, value in data.items()
            }
        )


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return value


def _tuples(value: Any) -> Any:
    return tuple(_tuples(item) for item in value) if isinstance(value, list | tuple) else value


@dataclass(frozen=True, kw_only=True)
class StepPlan(Serialisable):
    """The fields and the summary base every step's own plan shares (the ``detail`` of a
    :class:`Plan`): the run, the mode and why, the id ranges of the parts, the datestamp bound of an
    incremental run, the error rate the finish judges by, and the records all parts read."""

    #: the step's name (the ``step`` of its summaries)
    STEP: ClassVar[str] = ""

    run_id: str
    datasource: str
    mode: str
    reason: str = ""
    parts: tuple[IdRange, ...] = ()
    since: str | None = None
    max_error_rate: float = 0.05
    #: records the run reads (all parts)
    total: int = 0

    def units(self) -> tuple[str, str]:
        """(unit read, unit written) as the summaries name them."""
        raise NotImplementedError

    def base(self) -> dict[str, Any]:
        """The fields every summary of this run starts from."""
        return summary_base(self.STEP, self.datasource, self.run_id, *self.units())


@dataclass(frozen=True, kw_only=True)
class FeedPlan(StepPlan):
    """The plan of a step that feeds a datasource's current transformed version into a target that
    keeps a state of what it took in (the index, the RDF store): ``none`` plans no part; ``full`` is
    one part that rebuilds the target and switches it in; ``incremental`` (and the index's
    ``refeed``) write in place by id range, and the finish commits the state once."""

    unit: str
    version: str | None
    #: the version of the target's state when planned: the finish refuses a state another run moved
    state_version: str | None = None
    #: syntax of the transformed records, None: recognised per record
    rdf_format: str | None = None

    @classmethod
    def uncommitted(cls, **fields: Any) -> Self:
        """The plan of a feed whose transformed unit has no committed version: nothing to do."""
        return cls(
            **fields, version=None, mode="none", reason=f"{fields['unit']} has no committed version yet"
        )

    @staticmethod
    def since_committed(committed_at: str | None, overlap: timedelta = INCREMENTAL_OVERLAP) -> datetime:
        """Where an incremental run starts reading: the version it last took in was committed then
        (less ``overlap``, the step's :data:`INCREMENTAL_OVERLAP`)."""
        assert committed_at
        return datetime.fromisoformat(committed_at) - overlap

    def committed_by_this_run(self, state_run_id: str | None, state_version: str | None) -> bool:
        """Does the target's state say this run already committed (a retried finish whose first
        attempt committed and then lost its result)?"""
        return (state_run_id, state_version) == (self.run_id, self.version)


@dataclass
class FeedPartResult(Serialisable):
    """What one part of a feed did (JSON-friendly: it travels between workers): the records it read
    and the targets' entries it deleted, its record errors (``errors``: the first ones, as many as
    the target's state keeps; ``error_count``: all), its time, and for a rebuild's one part the
    whole run's ``summary`` (the part switched the target in itself)."""

    part: int
    read: int = 0
    deleted: int = 0
    error_count: int = 0
    errors: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    summary: dict[str, Any] | None = None


@contextmanager
def store_and_target(settings: Settings, open_target: Callable[[], T]) -> Iterator[tuple[MDStore, T]]:
    """The MDStore of ``settings`` (read by a feed) and the target ``open_target()`` opens (the
    index, the RDF store), both closed afterwards, the target first."""
    from mdstore import open_store

    with ExitStack() as opened:
        store = open_store(settings.mdstore, **settings.store_options())
        opened.callback(store.close)
        target = open_target()
        opened.callback(target.close)  # type: ignore[attr-defined]
        yield store, target


def count_read(view: ReadSession, mode: str, since: datetime | None) -> int:
    """How many records a feed of ``mode`` reads (an incremental one: tombstones too)."""
    return view.count(since=since) if mode == "incremental" else view.count(deleted=False)


def feed_records(view: ReadSession, plan: FeedPlan, part: int) -> Iterator[Any]:
    """The records of one part of a feed, in id order: an incremental part's changed records and
    tombstones since the plan's bound, any other part's present records."""
    after, upto = plan.parts[part]
    if plan.mode == "incremental":
        assert plan.since
        return up_to(view.records(since=datetime.fromisoformat(plan.since), after_id=after), upto)
    return up_to(view.records(deleted=False, after_id=after), upto)


def check_base(
    step: str, datasource: Datasource, target: str, current: str | None, held: str | None, run_id: str | None
) -> dict[str, Any]:
    """The summary base of ``<step>-check``: the comparison of ``target`` (the index, the RDF store),
    which holds version ``held``, with the ``current`` version of the datasource's transformed unit."""
    name = f"{step}-check"
    unit = datasource.transformed_unit.name
    new = run_id or new_run_id(name)
    return summary_base(name, datasource.id, new, unit, target, version_in=current, version_out=held)


def check_summary(
    base: dict[str, Any],
    started: float,
    counts: tuple[int, int, int],
    notes: list[str],
    listed: list[str],
    extra: dict[str, Any],
    clean: bool,
) -> RunSummary:
    """The summary of a check. ``base`` (:func:`check_base`) carries the versions compared
    (``version_in``: the MDStore's current one, ``version_out``: the one the target's state names);
    ``counts``: the present records read, the records the target holds, the differences no recorded
    error explains; what was found (``notes``, the first ``listed`` ids, ``extra``). The outcome is
    ``finished_with_record_errors`` unless the target is ``clean`` and up to date."""
    current, held = base["version_in"], base["version_out"]
    behind = held != current
    read, written, differences = counts
    return RunSummary(
        outcome=Outcome.FINISHED if clean and not behind else Outcome.RECORD_ERRORS,
        read=read,
        written=written,
        errors=differences,
        seconds=time.monotonic() - started,
        message="; ".join(notes),
        first_errors=tuple(listed[:5]),
        extra={**extra, "state_version": held, "current_version": current, "behind": behind},
        **base,
    )


@dataclass(frozen=True, kw_only=True)
class FeedOptions:
    """What a feed of the transformed records (index, RDF store) takes from the profile and the
    settings, and passes to its plan."""

    max_error_rate: float
    #: syntax of the transformed records, None: recognised per record
    rdf_format: str | None
    records_per_part: int

    def plan_options(self) -> dict[str, Any]:
        """The plan's keyword arguments these options give (:class:`FeedRequest`'s)."""
        return {
            "max_error_rate": self.max_error_rate,
            "rdf_format": self.rdf_format,
            "records_per_part": self.records_per_part,
        }


def written_rdf_format(datasource: Datasource) -> str | None:
    """The syntax a feed reads the transformed records in: the one the profile writes out
    (``transform.output``), None: recognised per record. Only a written ``output`` counts: the feed
    digests of indexes fed so far hold None for the others."""
    if "output" not in datasource.section("transform"):
        return None
    return {"ntriples": "ntriples", "turtle": "turtle", "rdfxml": "rdfxml"}.get(datasource.transform.output)


#: the mode of a run asked to rebuild everything, and why
ASKED_FULL = ("full", "asked for a full rebuild")


def incremental_or(
    store: MDStore,
    unit: UnitKey,
    last: str,
    committed_at: str | None,
    current: str,
    *,
    done: str,
    otherwise: str,
) -> tuple[str, str]:
    """(mode, reason) of a run over a target that last took in version ``last`` of ``unit``:
    ``incremental`` when that version is an ancestor of ``current`` (and its commit time is known,
    to read from), else ``otherwise`` (a rollback, a lineage the store no longer holds). ``done``
    says what the target did with it (``indexed``, ``loaded``)."""
    if not committed_at:
        return otherwise, f"the commit time of the {done} version {last} is unknown"
    if not store.is_ancestor(unit, last, current):
        return otherwise, f"the {done} version {last} is not an ancestor of {current} (a rollback?)"
    return "incremental", f"changes since version {last}"


@dataclass(frozen=True)
class Plan(Serialisable):
    """What one run of a parted step will do, as every part and the finish see it.

    Why an envelope around the step's own plan: the orchestrators (the CLI's runner, Airflow's
    mapped tasks) only need the step, the number of parts and whether there is anything to do; the
    step's own plan (``detail``: :class:`~contentcloud.pipeline.transform.TransformPlan`,
    :class:`~contentcloud.pipeline.index.IndexPlan`, …) stays the step's business. A plan with
    nothing to do carries the step's ``summary`` and one empty part, so the graph of tasks is the
    same on every run (the part passes, the finish returns that summary).
    """

    step: str
    datasource: str
    run_id: str
    parts: int
    detail: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] | None = None
    #: records the run reads over all parts (progress)
    total: int = 0

    @property
    def nothing_to_do(self) -> bool:
        return self.summary is not None

    def indexes(self) -> list[int]:
        """The parts to run: ``[0]`` for a plan with nothing to do (its part passes)."""
        return list(range(max(1, self.parts)))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        if "step" not in data:
            raise ValueError(f"not a parted-step plan: keys {sorted(data)}")
        return super().from_dict(data)


@dataclass(frozen=True)
class PartResult(Serialisable):
    """What one part did: its index, the records it read, and the step's own counts (``detail``)."""

    step: str
    part: int
    read: int = 0
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PartTask:
    """One part of a plan, as an orchestrator hands it to a worker (one mapped task's argument)."""

    plan: Plan
    part: int

    def to_dict(self) -> dict[str, Any]:
        return {"plan": self.plan.to_dict(), "part": self.part}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PartTask:
        return cls(Plan.from_dict(data["plan"]), int(data["part"]))


@runtime_checkable
class PartedStep(Protocol):
    """A step whose run is planned once, carried out in independent parts, and finished once.

    * :meth:`plan` opens what the run writes to (a write transaction, nothing at all) and cuts the
      work into parts (id ranges); planning again while that run is open returns the same plan;
    * :meth:`run_part` does one part; idempotent (a retried part redoes it) and safe side by side
      with the other parts of the plan, in other processes or on other hosts;
    * :meth:`finish` judges the error rate over *all* parts and commits the run's state once (or
      aborts); a retried finish whose first attempt committed reports that success again.

    ``abandon`` is called by the CLI's runner when a part raised, to release what the plan opened
    (orchestrators that retry parts do not call it).
    """

    name: str

    def plan(self, *, parts: int | None = None, min_parts: int = 1, **options: Any) -> Plan: ...

    def run_part(
        self, plan: Plan, part: int, *, alone: bool = False, side_by_side: int = 1, on_progress: Any = None
    ) -> PartResult: ...

    def finish(
        self, plan: Plan, results: list[PartResult], *, seconds: float | None = None
    ) -> RunSummary: ...

    def abandon(self, plan: Plan) -> None: ...

    def check(self, *, run_id: str | None = None) -> RunSummary: ...


@dataclass(frozen=True)
class PartHow:
    """How an orchestrator runs one part: ``alone`` (the run's only part, which may stop as soon as
    the error rate can no longer be met), ``side_by_side`` (how many parts run at the same time,
    sharing the step's helper processes), ``on_progress``."""

    alone: bool = False
    side_by_side: int = 1
    on_progress: ProgressFn | None = None


class Step:
    """What every parted step's class shares: the datasource's validated profile resolved once from
    the settings' registry, the step's options (:meth:`load_options`: a chain, a feed's typed
    settings, …) built on first use only, since a part in a worker that has nothing to do never
    needs them, and the protocol's envelopes around the step's own plan (``plan_type``) and part
    results (``result_type``): a step implements :meth:`part` and :meth:`conclude` on its own types.
    """

    name: ClassVar[str] = ""
    plan_type: ClassVar[type[StepPlan]]
    result_type: ClassVar[type[Serialisable]]

    def __init__(self, datasource_id: str, settings: Settings) -> None:
        from contentcloud.datasources import DatasourceRegistry

        self.settings = settings
        self.datasource: Datasource = DatasourceRegistry(settings.registry).get(datasource_id)

    def load_options(self) -> Any:
        """The step's options for this datasource (built once, by :attr:`options`)."""
        return None

    @cached_property
    def options(self) -> Any:
        return self.load_options()

    def planned(self, detail: StepPlan) -> Plan:
        """The envelope of the step's own plan ``detail``: one part per id range."""
        return Plan(
            self.name,
            self.datasource.id,
            detail.run_id,
            len(detail.parts),
            detail=detail.to_dict(),
            total=detail.total,
        )

    def nothing_to_do(self, summary: RunSummary) -> Plan:
        """The envelope of a run with nothing to do: no part of its own, its ``summary``."""
        return Plan(self.name, self.datasource.id, summary.run_id, 0, summary=summary.as_dict())

    def disabled(self, message: str, *, run_id: str | None = None) -> Plan:
        """A run the profile disables: nothing to do, and ``message`` says why."""
        return self.nothing_to_do(
            RunSummary(
                step=self.name,
                datasource=self.datasource.id,
                run_id=run_id or new_run_id(self.name),
                outcome=Outcome.NOTHING_TO_DO,
                message=message,
            )
        )

    def run_part(
        self,
        plan: Plan,
        part: int,
        *,
        alone: bool = False,
        side_by_side: int = 1,
        on_progress: ProgressFn | None = None,
    ) -> PartResult:
        """One part of ``plan`` (:meth:`part`); the one part of a plan with nothing to do passes."""
        if plan.nothing_to_do:
            return PartResult(self.name, part)
        how = PartHow(alone, side_by_side, on_progress)
        result = self.part(self.plan_type.from_dict(plan.detail), part, how)
        return PartResult(self.name, part, read=result.read, detail=result.to_dict())

    def part(self, plan: Any, part: int, how: PartHow) -> Any:
        """Do part ``part`` of the step's own ``plan``: its ``result_type`` (with ``read``)."""
        raise NotImplementedError

    def finish(self, plan: Plan, results: list[PartResult], *, seconds: float | None = None) -> RunSummary:
        """Conclude the run from its parts' results (:meth:`conclude`)."""
        detail = [self.result_type.from_dict(result.detail) for result in results]
        return self.conclude(self.plan_type.from_dict(plan.detail), detail, seconds)

    def conclude(self, plan: Any, results: list[Any], seconds: float | None) -> RunSummary:
        """Judge the step's own ``plan`` over every part's result, commit once; ``seconds`` so far."""
        raise NotImplementedError

    @staticmethod
    def started(seconds: float | None) -> float | None:
        """The ``time.monotonic()`` a run began, from the seconds it has taken so far (None: unknown)."""
        return None if seconds is None else time.monotonic() - seconds

    def abandon(self, plan: Plan) -> None:
        """Nothing to release by default: a step whose plan opens something (a write transaction)
        releases it here."""

    def check(self, *, run_id: str | None = None) -> RunSummary:
        """Compare the step's target with the MDStore, record by record (``--check``)."""
        raise ConfigError(f"the {self.name} step has no check")


#: the parted steps by name: ``module:factory``, imported when first used (a worker process resolves
#: its step by name, so only names and JSON-safe plans cross process boundaries)
PARTED_STEPS = {
    "transform": "contentcloud.pipeline.transform:TransformStep",
    "index": "contentcloud.pipeline.index:IndexStep",
    "rdf": "contentcloud.pipeline.rdf:RdfStep",
}


def parted_step(name: str, datasource_id: str, settings: Settings) -> PartedStep:
    """The parted step ``name`` for one datasource."""
    from importlib import import_module

    if name not in PARTED_STEPS:
        raise ConfigError(f"no parted step {name!r} (known: {', '.join(sorted(PARTED_STEPS))})")
    module, _, attribute = PARTED_STEPS[name].partition(":")
    factory = getattr(import_module(module), attribute)
    return factory(datasource_id, settings)


def finish_parts(
    step: PartedStep, plan: Plan, results: list[PartResult], *, seconds: float | None = None
) -> RunSummary:
    """The one finish every orchestrator calls: a plan with nothing to do returns its summary;
    otherwise every part must have a result (exactly one each) before the step's own finish runs."""
    if plan.nothing_to_do:
        assert plan.summary is not None
        return RunSummary.from_dict(plan.summary)
    done = sorted(result.part for result in results)
    if done != list(range(plan.parts)):
        missing = sorted(set(range(plan.parts)) - set(done))
        from contentcloud.pipeline.outcomes import StepFailed

        raise StepFailed(
            f"parts {missing} have no result" if missing else f"parts {done} reported more than once",
            datasource=plan.datasource,
            step=plan.step,
        )
    return step.finish(plan, sorted(results, key=lambda r: r.part), seconds=seconds)


# --- the runner the CLI uses ------------------------------------------------------------------------


def run_parted(
    name: str,
    datasource_id: str,
    settings: Settings,
    *,
    workers: int = 1,
    on_progress: ProgressFn | None = None,
    **options: Any,
) -> RunSummary:
    """Plan, run every part, finish: in this process (``workers`` 1: one part, as a single run has
    always been), or with the plan's parts shared by ``workers`` worker processes.

    With several workers the run is cut into the parts the DAG would map over (the step's
    ``records_per_part``), and into at least ``workers`` parts, so that every worker has one. A
    part that raises stops the others and abandons the run (the error goes on); record errors are
    not exceptions: the finish judges them over all parts.
    """
    started = time.perf_counter()
    step = parted_step(name, datasource_id, settings)
    workers = max(1, workers)
    plan = step.plan(parts=1 if workers == 1 else None, min_parts=workers, **options)
    if plan.nothing_to_do:
        summary = finish_parts(step, plan, [])
        summary.log()
        return summary
    try:
        if workers == 1 or plan.parts == 1:
            results = [
                step.run_part(plan, part, alone=plan.parts == 1, on_progress=on_progress)
                for part in plan.indexes()
            ]
        else:
            results = _run_in_workers(plan, datasource_id, settings, min(workers, plan.parts), on_progress)
    except BaseException:
        step.abandon(plan)
        raise
    summary = finish_parts(step, plan, results, seconds=time.perf_counter() - started)
    summary.log()
    return summary


def run_step(
    name: str,
    datasource_id: str,
    settings: Settings,
    *,
    check: bool = False,
    run_id: str | None = None,
    **options: Any,
) -> RunSummary:
    """The parted step ``name`` for one datasource, resolved from the settings (the CLI's commands
    and the one-process pipeline call this through the steps' ``run_<step>``): a run
    (:func:`run_parted`: ``workers``, ``on_progress`` and the step's plan options), or with
    ``check`` the step's comparison of its target with the MDStore (:meth:`Step.check`)."""
    if not check:
        return run_parted(name, datasource_id, settings, run_id=run_id, **options)
    summary = parted_step(name, datasource_id, settings).check(run_id=run_id)
    summary.log()
    return summary


def _run_in_workers(
    plan: Plan, datasource_id: str, settings: Settings, workers: int, on_progress: ProgressFn | None
) -> list[PartResult]:
    """Every part of ``plan`` in ``workers`` spawned processes; the results in part order."""
    from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait

    from contentcloud.pipeline.processes import BareMainContext

    context = BareMainContext()
    pool = ProcessPoolExecutor(workers, mp_context=context)
    results: list[PartResult] = []
    try:
        futures = [
            pool.submit(_part_in_worker, plan.to_dict(), datasource_id, settings, part, workers)
            for part in plan.indexes()
        ]
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_EXCEPTION)
            for future in done:
                results.append(PartResult.from_dict(future.result()))  # a part's error goes on here
            if on_progress:
                on_progress(sum(r.read for r in results), plan.total, f"{len(results)}/{plan.parts} parts")
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        context.kill_all()
        raise
    pool.shutdown(wait=True)
    return sorted(results, key=lambda r: r.part)


def _part_in_worker(
    plan: dict[str, Any], datasource_id: str, settings: Settings, part: int, side_by_side: int
) -> dict[str, Any]:
    """One part in a worker process: the step is resolved again by name (nothing but names, settings
    and JSON-safe plans crosses the process boundary)."""
    loaded = Plan.from_dict(plan)
    step = parted_step(loaded.step, datasource_id, settings)
    from contentcloud.pipeline.processes import freeze_startup

    freeze_startup()  # the step's modules are imported now
    return step.run_part(loaded, part, side_by_side=side_by_side).to_dict()
