"""A whole run of one datasource in this process, as the DAG runs it (collect → transform → index →
rdf → publish, then the report): for the embedded setup without Airflow."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from contentcloud.pipeline.checks import check_collected, check_transformed
from contentcloud.pipeline.outcomes import StepFailed, failure_summary
from contentcloud.pipeline.reports import run_report
from contentcloud.pipeline.summary import Outcome, RunSummary
from contentcloud.pipeline.tasks import collect_task, load_datasource
from mdstore.errors import ContentcloudError

if TYPE_CHECKING:
    from contentcloud.settings import Settings

logger = logging.getLogger(__name__)


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

    load_datasource(settings, datasource_id)  # an unknown or invalid profile is an error, not a failed run
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
