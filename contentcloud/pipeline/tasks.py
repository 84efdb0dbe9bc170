"""The orchestrated tasks around the steps: resuming a harvest, and running a parted step by parts.

Airflow's tasks (``dags/``), the demo and any cron job call these plain functions, so the rules
live in one place and are tested without Airflow:

* :func:`collect_task` resumes a harvest that a failed attempt left open (a retried or cleared
  task continues where the last one stopped), and raises :class:`StepFailed` when a step did not
  finish, so the orchestrator retries it;
* :func:`plan_parts_task` / :func:`run_part_task` / :func:`finish_parts_task` split a run of any
  parted step (:mod:`contentcloud.pipeline.parts`: transform, index, rdf) by id range over several
  workers (an index rebuild stays one part).

The count checks between steps are in :mod:`contentcloud.pipeline.checks`, the run report in
:mod:`contentcloud.pipeline.reports`, a whole run in one process in :mod:`contentcloud.pipeline.runs`,
the maintenance tasks in :mod:`contentcloud.pipeline.maintenance`.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from contentcloud.pipeline.outcomes import require_success
from contentcloud.pipeline.parts import (
    PartResult,
    PartTask,
    finish_parts,
    parted_step,
)

if TYPE_CHECKING:
    from contentcloud.datasources import Datasource
    from contentcloud.settings import Settings
    from mdstore import MDStore

logger = logging.getLogger(__name__)


def open_mdstore(settings: Settings) -> MDStore:
    """The MDStore of these settings (the caller closes it)."""
    from mdstore import open_store

    return open_store(settings.mdstore, **settings.store_options())


def load_datasource(settings: Settings, datasource_id: str) -> Datasource:
    """The validated profile ``datasource_id`` of the settings' registry."""
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

    datasource = load_datasource(settings, datasource_id)
    with open_mdstore(settings) as store:
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
