"""Maintenance tasks (the maintenance DAG): MDStore garbage collection, the index check, and the
sources whose last harvest is too old."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from contentcloud.pipeline.outcomes import StepFailed
from contentcloud.pipeline.summary import Outcome
from contentcloud.pipeline.tasks import open_mdstore

if TYPE_CHECKING:
    from contentcloud.settings import Settings

logger = logging.getLogger(__name__)


# --- maintenance ----------------------------------------------------------------------------------


def gc_task(settings: Settings, *, keep: int | None = None) -> dict[str, Any]:
    """Garbage-collect the MDStore (the maintenance DAG's first task)."""
    with open_mdstore(settings) as store:
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
    with open_mdstore(settings) as store:
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
