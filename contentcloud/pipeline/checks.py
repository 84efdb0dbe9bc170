"""Count checks between steps: whether a harvest or a transformation left the counts a run can go
on with, and whether anything downstream needs doing (the DAG skips what does not)."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from contentcloud.pipeline.tasks import load_datasource, open_mdstore

if TYPE_CHECKING:
    from contentcloud.datasources import Datasource
    from contentcloud.settings import Settings
    from mdstore import MDStore, UnitKey

logger = logging.getLogger(__name__)


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
    datasource = load_datasource(settings, datasource_id)
    problems: list[str] = []
    with open_mdstore(settings) as store:
        current = store.current_version(datasource.native_unit)
        if current is None:
            return CountCheck("collect", datasource_id, False, False, {}, ("no committed native version",))
        stats = store.version(current).stats
        if summary.get("version_out") and summary["version_out"] != current:
            problems.append(f"the harvest committed {summary['version_out']} but {current} is current")
        minimum = datasource.limits.min_records
        if minimum is not None and stats.get("present", 0) < minimum:
            problems.append(f"{stats.get('present', 0)} present records, fewer than the {minimum} required")
        stale = _changed_since(store, datasource.native_unit, current, _transformed_source(store, datasource))
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
    datasource = load_datasource(settings, datasource_id)
    problems: list[str] = []
    with open_mdstore(settings) as store:
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


# --- the checks as an orchestrator's gates ---------------------------------------------------------


def require_ok(result: CountCheck, task: str) -> CountCheck:
    """The check, or :class:`StepFailed` (named after the checking ``task``) when it found problems,
    so that the orchestrator fails the run there."""
    from contentcloud.pipeline.outcomes import StepFailed

    if not result.ok:
        raise StepFailed("; ".join(result.problems), datasource=result.datasource, step=task)
    return result


def collected_gate(
    datasource_id: str,
    settings: Settings,
    summary: dict[str, Any],
    *,
    force: bool = False,
    note: str = "count check after collect",
) -> bool:
    """:func:`check_collected` as the DAG's short-circuit: logged (``note``), :class:`StepFailed`
    on wrong counts, else whether the downstream steps have work."""
    result = check_collected(datasource_id, settings, summary, force=force)
    logger.info("%s: %s", note, result.as_dict())
    return require_ok(result, "check_collected").downstream_needed


def reprocess_gate(
    datasource_id: str, settings: Settings, *, triggered_by: set[str], mode: str | None, force: bool
) -> bool:
    """The gate of a run without a harvest, triggered by the asset URIs ``triggered_by`` (none: by
    hand): a changed configuration or ``mode: full`` counts as a change (every record is transformed
    again), so the downstream steps run; otherwise only when the transformed data lags behind."""
    from contentcloud.events import config_asset_uri

    changed = config_asset_uri(datasource_id) in triggered_by or mode == "full"
    note = f"triggered by {sorted(triggered_by) or 'hand'}; source check"
    return collected_gate(datasource_id, settings, {"changed": changed}, force=changed or force, note=note)


def transformed_gate(datasource_id: str, settings: Settings, summary: dict[str, Any]) -> dict[str, Any]:
    """:func:`check_transformed` for the DAG: its counts, or :class:`StepFailed`."""
    return require_ok(check_transformed(datasource_id, settings, summary), "check_transformed").as_dict()
