"""How a step's end reads to an orchestrator: :class:`StepFailed` (a task that must fail and be
retried), the summary of a failed task for the run report, and the order of steps in that report.

Shared by the tasks (:mod:`contentcloud.pipeline.tasks`), the reports and the in-process run, so a
failure means the same wherever a step ran.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from contentcloud.pipeline.summary import Outcome, RunSummary
from mdstore.errors import ContentcloudError

if TYPE_CHECKING:
    pass

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
