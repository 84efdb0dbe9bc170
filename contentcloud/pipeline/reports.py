"""The run report: the step summaries of one run turned into the human-readable summary and the
JSON report stored with the MDStore versions the run produced, and the run history
(:mod:`contentcloud.history`) kept beyond the MDStore's garbage collection."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from contentcloud.pipeline.outcomes import order_steps
from contentcloud.pipeline.summary import RunSummary
from contentcloud.pipeline.tasks import open_mdstore
from mdstore.errors import ContentcloudError

if TYPE_CHECKING:
    from contentcloud.settings import Settings

logger = logging.getLogger(__name__)


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
        with open_mdstore(settings) as store:
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
