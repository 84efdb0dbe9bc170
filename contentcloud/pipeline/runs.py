"""What an orchestrator needs around the steps: resuming, count checks, skipping, reports.

Airflow's tasks (``dags/``), the demo and any cron job call these plain functions, so the rules
live in one place and are tested without Airflow:

* :func:`collect_task` resumes a harvest that a failed attempt left open (a retried or cleared
  task continues where the last one stopped), and raises :class:`StepFailed` when a step did not
  finish, so the orchestrator retries it;
* :func:`check_collected` / :func:`check_transformed` compare counts between units and say whether
  anything downstream needs doing;
* :func:`plan_parts_task` / :func:`run_part_task` / :func:`finish_parts_task` split a run of any
  parted step (:mod:`contentcloud.pipeline.parts`: transform, index, rdf) by id range over several
  workers (an index rebuild stays one part);
* :func:`run_report` turns the step summaries of one run into the human-readable summary and the
  JSON report stored with the MDStore versions the run produced.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from contentcloud.pipeline.parts import (
    MAX_PARTS,
    RECORDS_PER_PART,
    PartResult,
    PartTask,
    finish_parts,
    part_count,
    parted_step,
)
from contentcloud.pipeline.summary import Outcome, RunSummary
from mdstore.errors import ContentcloudError

if TYPE_CHECKING:
    from contentcloud.datasources import Datasource
    from contentcloud.settings import Settings
    from mdstore import MDStore, UnitKey

logger = logging.getLogger(__name__)


class StepFailed(ContentcloudError):
    """A pipeline step ended without committing (failed, or failed but resumable).

    Carries the step's summary so the orchestrator can log it; raising it makes the task fail and
    be retried (a resumable harvest continues from its checkpoint on the retry).
    """

    where_fields = ("datasource", "step")

    def __init__(self, message: str = "", *, summary: dict[str, Any] | None = None, **where: Any) -> None:
        super().__init__(message, **where)
        self.summary = summary or {}

    def __reduce__(self):
        return (_rebuild_step_failed, (self.message, self.summary, self.datasource, self.step))


def _rebuild_step_failed(message, summary, datasource, step):
    return StepFailed(message, summary=summary, datasource=datasource, step=step)


def require_success(summary: RunSummary) -> dict[str, Any]:
    """The summary as a dict, or :class:`StepFailed` when the step did not finish."""
    data = summary.as_dict()
    if not summary.ok:
        raise StepFailed(
            f"{summary.outcome}: {summary.message or 'see the summary'}",
            summary=data,
            datasource=summary.datasource,
            step=summary.step,
        )
    return data


#: the order of the steps in a run report: the DAG's step task ids (the report looks for their
#: failures under these ids) and the steps their summaries name
STEP_ORDER = (
    "collect",
    "check_collected",
    "plan_transform",
    "transform_part",
    "transform",
    "finish_transform",
    "check_transformed",
    "plan_index",
    "index_part",
    "index",
    "finish_index",
    "plan_rdf",
    "rdf_part",
    "rdf",
    "finish_rdf",
    "publish",
)


def failure_summary(datasource_id: str, step: str, exc: BaseException | None) -> dict[str, Any]:
    """What a failed task leaves for the run report: the step's own summary when it has one
    (:class:`StepFailed`), else the exception, so the report names every step that failed."""
    if isinstance(exc, StepFailed) and exc.summary:
        return {**exc.summary, "step": exc.summary.get("step") or step}
    message = f"{type(exc).__name__}: {exc}" if exc is not None else "failed (no exception recorded)"
    return {
        "step": step,
        "datasource": datasource_id,
        "outcome": str(Outcome.FAILED),
        "message": message,
        "errors": 0,
        "first_errors": [],
    }


def order_steps(summaries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Summaries in pipeline order (successes from return values, failures from failure_summary)."""

    def rank(summary: dict[str, Any]) -> int:
        step = summary.get("step")
        return STEP_ORDER.index(step) if step in STEP_ORDER else len(STEP_ORDER)

    return sorted((s for s in summaries if isinstance(s, dict) and s), key=rank)


def _open_store(settings: Settings) -> MDStore:
    from mdstore import open_store

    return open_store(settings.mdstore, **settings.store_options())


def _datasource(settings: Settings, datasource_id: str) -> Datasource:
    from contentcloud.datasources import DatasourceRegistry

    return DatasourceRegistry(settings.registry).get(datasource_id)


# --- collect --------------------------------------------------------------------------------------


#: cron expressions of the schedule presets (``full_every`` accepts both)
CRON_PRESETS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *",
}


def scheduled_mode(
    profile_schedule: Any, last_full: datetime | None, *, now: datetime | None = None
) -> tuple[str, str]:
    """(mode, reason) of a run whose mode was not chosen by hand, from the profile's ``schedule``:
    ``incremental: false`` harvests in full every time; ``full_every`` (cron or preset) harvests
    in full when no full harvest happened since that schedule last fired; otherwise incremental."""
    if not isinstance(profile_schedule, dict):
        return "incremental", "the default"
    if profile_schedule.get("incremental") is False:
        return "full", "the profile's schedule harvests in full (incremental: false)"
    every = profile_schedule.get("full_every")
    if not every:
        return "incremental", "the profile's schedule"
    from croniter import croniter

    now = now or datetime.now(UTC)
    due = croniter(CRON_PRESETS.get(every, every), now).get_prev(datetime)
    if last_full is None:
        return "full", f"full_every {every}: no full harvest is known"
    last = f"the last full harvest ({last_full:%Y-%m-%d %H:%M})"
    if last_full < due:
        return "full", f"full_every {every}: {last} is before {due:%Y-%m-%d %H:%M}"
    return "incremental", f"full_every {every}: {last} is recent"


def collect_task(
    datasource_id: str,
    settings: Settings,
    *,
    mode: str = "incremental",
    from_: str | None = None,
    until: str | None = None,
    run_id: str | None = None,
) -> dict[str, Any]:
    """Harvest, resuming the transaction a failed attempt left open; raises :class:`StepFailed`.

    ``mode="scheduled"`` lets the profile's ``schedule`` choose (:func:`scheduled_mode`).
    """
    from contentcloud.pipeline.collect import last_full_harvest, run_collect

    datasource = _datasource(settings, datasource_id)
    with _open_store(settings) as store:
        resume = store.open_transaction(datasource.native_unit) is not None
        if mode == "scheduled":
            mode, reason = scheduled_mode(
                datasource.raw.get("schedule"), last_full_harvest(store, datasource.native_unit)
            )
            logger.info("%s: %s harvest (%s)", datasource_id, mode, reason)
    if resume:
        logger.info("%s: resuming the harvest a previous attempt left open", datasource_id)
    # force: a retried attempt takes over from an earlier attempt on another worker whose heartbeat
    # stopped (Airflow already judged it gone); an attempt still alive is never taken over
    summary = run_collect(
        datasource_id,
        settings,
        mode=mode,
        from_=from_,
        until=until,
        resume=resume,
        force=resume,
        run_id=run_id,
    )
    return require_success(summary)


# --- count checks ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CountCheck:
    """The outcome of comparing counts after a step, and whether downstream steps have work."""

    step: str
    datasource: str
    ok: bool
    downstream_needed: bool
    counts: dict[str, Any] = field(default_factory=dict)
    problems: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["problems"] = list(self.problems)
        return data


def check_collected(
    datasource_id: str, settings: Settings, summary: dict[str, Any], *, force: bool = False
) -> CountCheck:
    """After a harvest: the committed native version holds what the summary says, and does the
    transformed unit lag behind it (then downstream steps run even if this harvest changed nothing)?"""
    datasource = _datasource(settings, datasource_id)
    problems: list[str] = []
    with _open_store(settings) as store:
        current = store.current_version(datasource.native_unit)
        if current is None:
            return CountCheck("collect", datasource_id, False, False, {}, ("no committed native version",))
        stats = store.version(current).stats
        if summary.get("version_out") and summary["version_out"] != current:
            problems.append(f"the harvest committed {summary['version_out']} but {current} is current")
        minimum = datasource.limits.min_records
        if minimum is not None and stats.get("present", 0) < minimum:
            problems.append(f"{stats.get('present', 0)} present records, fewer than the {minimum} required")
        stale = _changed_since(
            store, datasource.native_unit, current, _transformed_source(store, datasource)
        )
    counts = {
        "native_version": current,
        "present": stats.get("present", 0),
        "deleted": stats.get("deleted", 0),
        "changed": bool(summary.get("changed")),
        "transformed_stale": stale,
    }
    needed = force or bool(summary.get("changed")) or stale
    return CountCheck(
        "collect", datasource_id, not problems, needed and not problems, counts, tuple(problems)
    )


def _transformed_source(store: MDStore, datasource: Datasource) -> str | None:
    """The native version the current transformed version was built from (None: none yet)."""
    current = store.current_version(datasource.transformed_unit)
    if current is None:
        return None
    return (store.version(current).report or {}).get("source_version")


def _changed_since(store: MDStore, unit: UnitKey, version: str, ancestor: str | None) -> bool:
    """Does ``version`` hold anything ``ancestor`` did not? Walks the lineage: a harvest that
    changed nothing still commits a version, and that must not count as a change."""
    for info in store.lineage(unit, version):
        if info.id == ancestor:
            return False
        if any(info.stats.get(key, 0) for key in ("added", "updated", "newly_deleted")):
            return True
    return True  # the ancestor is not in the lineage (first run, rollback): stale


def check_transformed(datasource_id: str, settings: Settings, summary: dict[str, Any]) -> CountCheck:
    """After a transformation: every present native record has a present transformed record, but
    for the ones that failed (stored errors), and no transformed record lacks a native one."""
    datasource = _datasource(settings, datasource_id)
    problems: list[str] = []
    with _open_store(settings) as store:
        native_version = store.current_version(datasource.native_unit)
        transformed_version = store.current_version(datasource.transformed_unit)
        if transformed_version is None or native_version is None:
            return CountCheck("transform", datasource_id, False, False, {}, ("no transformed version",))
        native = store.version(native_version).stats
        transformed = store.version(transformed_version).stats
        built_from = (store.version(transformed_version).report or {}).get("source_version")
    native_present, out_present = native.get("present", 0), transformed.get("present", 0)
    errors = transformed.get("errors", 0)
    if built_from != native_version:
        problems.append(
            f"the transformed version was built from {built_from}, not the current {native_version}"
        )
    if out_present > native_present:
        problems.append(f"{out_present} transformed records for {native_present} native ones")
    if native_present - out_present > errors:
        problems.append(
            f"{native_present - out_present} native records have no output but only {errors} "
            "errors were stored"
        )
    counts = {
        "native_present": native_present,
        "transformed_present": out_present,
        "errors": errors,
        "transformed_version": transformed_version,
        "changed": bool(summary.get("changed")),
    }
    return CountCheck("transform", datasource_id, not problems, not problems, counts, tuple(problems))


# --- parted steps (transform, index, rdf) in orchestrated parts ------------------------------------


def plan_parts_task(
    step: str, datasource_id: str, settings: Settings, *, parts: int | None = None, **options: Any
) -> list[dict[str, Any]]:
    """Plan a run of the parted step ``step`` (``transform``, ``index``, ``rdf``): one JSON-safe
    :class:`~contentcloud.pipeline.parts.PartTask` per part, for an orchestrator to map workers
    over (a plan with nothing to do has one part, which passes)."""
    plan = parted_step(step, datasource_id, settings).plan(parts=parts, **options)
    return [PartTask(plan, part).to_dict() for part in plan.indexes()]


def run_part_task(step: str, datasource_id: str, settings: Settings, spec: dict[str, Any]) -> dict[str, Any]:
    """Run one part of a planned run (idempotent; a retried worker redoes its part)."""
    task = PartTask.from_dict(spec)
    return parted_step(step, datasource_id, settings).run_part(task.plan, task.part).to_dict()


def finish_parts_task(
    step: str,
    datasource_id: str,
    settings: Settings,
    specs: list[dict[str, Any]],
    results: list[dict[str, Any]],
) -> dict[str, Any]:
    """Finish the planned run (``specs``: the planning task's output) from its parts' results: the
    step's summary, or :class:`StepFailed` when it failed or a part has no result."""
    plan = PartTask.from_dict(list(specs)[0]).plan
    summary = finish_parts(
        parted_step(step, datasource_id, settings), plan, [PartResult.from_dict(r) for r in results]
    )
    if not plan.nothing_to_do:
        summary.log()
    return require_success(summary)


# --- reports --------------------------------------------------------------------------------------


def run_report(
    datasource_id: str,
    settings: Settings,
    summaries: list[dict[str, Any]],
    *,
    run_id: str | None = None,
    store_it: bool = True,
) -> dict[str, Any]:
    """The run's report: per step records in/out, errors with the first examples, durations.

    Returns ``{"text": …, "report": …}``; with ``store_it`` the JSON report is added (section
    ``run``) to every MDStore version the run committed, so it stays with the data, and to the
    run history under var/ (:mod:`contentcloud.history`), which outlives the versions' GC. This
    is the one place every run passes through (Airflow's report task, :func:`run_datasource`).
    """
    steps = order_steps(summaries)
    report = {
        "datasource": datasource_id,
        "run_id": run_id,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "steps": [
            {
                key: s.get(key)
                for key in (
                    "step",
                    "outcome",
                    "unit_in",
                    "version_in",
                    "unit_out",
                    "version_out",
                    "read",
                    "written",
                    "added",
                    "updated",
                    "deleted",
                    "errors",
                    "discarded",
                    "pages",
                    "seconds",
                    "rate",
                    "message",
                    "first_errors",
                )
            }
            for s in steps
        ],
        "seconds": round(sum(s.get("seconds") or 0 for s in steps), 3),
        "errors": sum(s.get("errors") or 0 for s in steps),
    }
    lines = [
        f"run {run_id or '-'} of {datasource_id}: {len(steps)} step(s), {report['seconds']:.1f}s, "
        f"{report['errors']} record error(s)"
    ]
    for s in report["steps"]:
        lines.append(
            f"  {s['step']:<10} {s['outcome']:<28} in {s['read'] or 0:>8}  out {s['written'] or 0:>8}  "
            f"+{s['added'] or 0} ~{s['updated'] or 0} -{s['deleted'] or 0}  errors {s['errors'] or 0:>5}  "
            f"{s['seconds'] or 0:>7.1f}s  {s['version_out'] or ''}"
        )
        lines.extend(f"      ! {e}" for e in (s.get("first_errors") or [])[:3])
    text = "\n".join(lines)
    if store_it:
        with _open_store(settings) as store:
            for version in {
                s["version_out"]
                for s in steps
                if s.get("version_out", "") and str(s.get("version_out", "")).startswith("v")
            }:
                try:
                    store.add_to_report(version, run=report)
                except ContentcloudError as exc:  # a version collected meanwhile: the log still has it
                    logger.warning("could not store the run report with %s: %s", version, exc)
        _record_history(settings, report)
    logger.info("%s", text, extra={"run_report": report})
    return {"text": text, "report": report}


def _record_history(settings: Settings, report: dict[str, Any]) -> None:
    """Add the run to the history; a history that cannot be written costs a warning, not the run."""
    import sqlite3

    from contentcloud.history import RunHistory

    try:
        RunHistory.from_settings(settings).record(report)
    except (OSError, sqlite3.Error) as exc:
        logger.warning("could not add run %s to the run history: %s", report.get("run_id"), exc)


def record_step(settings: Settings, summary: RunSummary) -> None:
    """A step run on its own (``contentcloud harvest``, ``contentcloud transform``): its run report
    of one step, so the run history has the CLI's runs too. Never fails the step."""
    try:
        run_report(summary.datasource, settings, [summary.as_dict()], run_id=summary.run_id)
    except ContentcloudError as exc:
        logger.warning("could not report run %s: %s", summary.run_id, exc)


def run_datasource(
    datasource_id: str,
    settings: Settings,
    *,
    mode: str = "scheduled",
    run_id: str | None = None,
    on_step: Any = None,
) -> dict[str, Any]:
    """One whole run in this process, as the DAG runs it: collect → transform → index → rdf →
    publish, each only when the one before finished and changed something (or left its
    successor stale), then :func:`run_report`. For the embedded setup without Airflow (the
    datasource page's "run now", ``contentcloud datasource run``). Returns the report."""
    from contentcloud.pipeline.index import run_index
    from contentcloud.pipeline.publish import run_publish
    from contentcloud.pipeline.rdf import run_rdf
    from contentcloud.pipeline.summary import new_run_id
    from contentcloud.pipeline.transform import run_transform

    _datasource(settings, datasource_id)  # an unknown or invalid profile is an error, not a failed run
    run_id = run_id or new_run_id("run")
    summaries: list[dict[str, Any]] = []

    def step(name: str, call: Any) -> dict[str, Any] | None:
        try:
            summary = call()
        except StepFailed as exc:
            summaries.append(failure_summary(datasource_id, name, exc))
            return None
        except ContentcloudError as exc:
            summaries.append(failure_summary(datasource_id, name, exc))
            return None
        data = summary.as_dict() if isinstance(summary, RunSummary) else summary
        summaries.append(data)
        if on_step is not None:
            on_step(data)
        return (
            data
            if data.get("outcome")
            in (o.value for o in (Outcome.FINISHED, Outcome.RECORD_ERRORS, Outcome.NOTHING_TO_DO))
            else None
        )

    collected = step("collect", lambda: collect_task(datasource_id, settings, mode=mode, run_id=run_id))
    if collected is not None:
        check = check_collected(datasource_id, settings, collected)
        if check.downstream_needed:
            transformed = step(
                "transform", lambda: run_transform(datasource_id, settings, mode="incremental", run_id=run_id)
            )
            if transformed is not None and check_transformed(datasource_id, settings, transformed).ok:
                indexed = step("index", lambda: run_index(datasource_id, settings, run_id=run_id))
                step("rdf", lambda: run_rdf(datasource_id, settings, run_id=run_id))
                if indexed is not None:
                    step("publish", lambda: run_publish(datasource_id, settings, run_id=run_id))
        elif not check.ok:
            summaries.append(
                {
                    "step": "check_collected",
                    "datasource": datasource_id,
                    "outcome": str(Outcome.FAILED),
                    "message": "; ".join(check.problems),
                    "errors": 0,
                }
            )
    return run_report(datasource_id, settings, summaries, run_id=run_id)["report"]


# --- maintenance ----------------------------------------------------------------------------------


def gc_task(settings: Settings, *, keep: int | None = None) -> dict[str, Any]:
    """Garbage-collect the MDStore (the maintenance DAG's first task)."""
    with _open_store(settings) as store:
        report = store.gc(keep)
    return {"removed": report.removed, "kept": len(report.kept), "leases_expired": report.leases_expired}


def index_check_task(datasource_id: str, settings: Settings) -> dict[str, Any]:
    """The maintenance DAG's index check of one datasource: a compact result for XCom, a warning
    for any difference, and :class:`StepFailed` when the index holds what it should not or lacks
    records for no recorded reason (a portal shows deleted, outdated or missing records: an
    operator rebuilds it with ``contentcloud index --full``). Records missing because their feed
    recorded an error, and an index one version behind, are reported without failing."""
    from contentcloud.pipeline.index import run_index

    summary = run_index(datasource_id, settings, check=True)
    extra = summary.extra
    result = {
        "datasource": datasource_id,
        "outcome": str(summary.outcome),
        "message": summary.message,
        "first_differences": list(summary.first_errors),
        **{key: extra.get(key) for key in ("index_count", "mdstore_count", "behind", "unexplained_total")},
        **{f"{kind}_total": extra.get(f"{kind}_total", 0) for kind in ("missing", "unexpected", "stale")},
    }
    if summary.outcome is not Outcome.FINISHED:
        logger.warning("index check of %s: %s", datasource_id, summary.message)
    if extra.get("unexplained_total"):
        raise StepFailed(
            f"the index differs from the MDStore: {summary.message}; first: "
            + ", ".join(summary.first_errors),
            summary={**summary.as_dict(), "extra": result},
            datasource=datasource_id,
            step="index-check",
        )
    return result


def stale_sources(settings: Settings, *, days: float, now: datetime | None = None) -> list[dict[str, Any]]:
    """Enabled datasources not successfully harvested for ``days`` days (or never), oldest first."""
    from contentcloud.datasources import DatasourceRegistry

    now = now or datetime.now(UTC)
    limit = now - timedelta(days=days)
    stale = []
    with _open_store(settings) as store:
        for datasource in DatasourceRegistry(settings.registry).all():
            if not datasource.enabled:
                continue
            current = store.current_version(datasource.native_unit)
            last = None
            if current is not None:
                info = store.version(current)
                last = info.committed_at or info.created_at
            if last is None or last < limit:
                stale.append(
                    {
                        "datasource": datasource.id,
                        "last_harvest": last.isoformat() if last else None,
                        "days": round((now - last).total_seconds() / 86400, 1) if last else None,
                    }
                )
    return sorted(stale, key=lambda s: s["last_harvest"] or "")


__all__ = [
    "MAX_PARTS",
    "RECORDS_PER_PART",
    "CountCheck",
    "Outcome",
    "StepFailed",
    "check_collected",
    "check_transformed",
    "collect_task",
    "finish_parts_task",
    "gc_task",
    "part_count",
    "plan_parts_task",
    "require_success",
    "record_step",
    "run_datasource",
    "run_report",
    "run_part_task",
    "stale_sources",
]
