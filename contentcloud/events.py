"""The event model shared by the CLI and the Airflow DAGs: which asset names a unit or a
datasource's configuration, and sending an asset event to Airflow's REST API.

Every MDStore unit is an asset ``contentcloud://<datasource>/<format>/<layout>/<interpretation>``
and a committed version that changed something is an event on it (extra: the version, the run,
the counts). A datasource's configuration (its profile and the mapping and index-profile files it
names) is the asset ``contentcloud://<datasource>/config``, with an event when its digest changes.

The DAGs emit these events as task outlets; a commit made by the CLI sends the same event through
``POST /api/v2/assets/events`` when ``CONTENTCLOUD_AIRFLOW_API`` is set. Plain HTTP: nothing
outside ``dags/`` imports Airflow.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

from contentcloud.settings import Settings, mask_uri
from mdstore.envelope import UnitKey
from mdstore.errors import OrchestratorError

logger = logging.getLogger(__name__)

SCHEME = "contentcloud"
#: seconds for each request to Airflow's API: a commit never waits long on the orchestrator
API_TIMEOUT = 15.0


def unit_asset_uri(unit: str) -> str:
    """``<datasource>/<format>/<layout>/<interpretation>`` → the unit's asset URI."""
    return f"{SCHEME}://{unit}"


def config_asset_uri(datasource_id: str) -> str:
    return f"{SCHEME}://{datasource_id}/config"


#: the steps whose ``unit_out`` is an MDStore unit, whose commits DAGs are scheduled on
UNIT_STEPS = frozenset({"collect", "transform"})


def commit_event(summary: Any) -> dict[str, Any] | None:
    """The asset event a step's summary stands for (``{"uri", "extra"}``), or None when it
    committed nothing new (failed, nothing to do, or a version identical to its parent) or is not
    a step that writes MDStore units (the index, the RDF store, the publisher and the download
    service name a core, a folder or a file as their ``unit_out``: no DAG is scheduled on them, and
    a path is no asset URI)."""
    get = summary.get if isinstance(summary, dict) else (lambda key: getattr(summary, key, None))
    outcome, unit, version = str(get("outcome") or ""), get("unit_out"), get("version_out")
    if outcome not in ("finished", "finished_with_record_errors") or not unit or not version:
        return None
    if get("step") not in UNIT_STEPS:
        return None
    UnitKey.parse(str(unit))  # a unit those steps name is always one: a bad one is a bug to see
    counts = {key: int(get(key) or 0) for key in ("added", "updated", "deleted")}
    if not any(counts.values()):
        return None
    extra = {"version": version, "unit": unit, "step": get("step"), "run_id": get("run_id"), **counts}
    return {"uri": unit_asset_uri(unit), "extra": extra}


def config_digest(profile_path: Path, profile: dict[str, Any], mappings_dir: Path) -> str:
    """sha256 over the profile file and every file it names for its transformation and index
    (mappings by name in the mappings folder, or by path); a file that does not exist counts as
    its name, so it appearing later is a change too."""
    digest = hashlib.sha256(profile_path.read_bytes())
    names = [
        str(value)
        for step in (profile.get("transform") or {}).get("steps") or []
        if isinstance(step, dict)
        for key, value in sorted(step.items())
        if key in ("mapping", "mappings", "policy", "generator") and isinstance(value, str)
    ]
    index_profile = (profile.get("index") or {}).get("profile")
    if isinstance(index_profile, str):
        names.append(index_profile)
    for name in names:
        path = Path(name)
        candidates = [path] if path.is_absolute() else [profile_path.parent / path, mappings_dir / path]
        found = next((p for p in candidates if p.is_file()), None)
        digest.update(b"\0" + name.encode("utf-8") + b"\0")
        if found is not None:
            digest.update(found.read_bytes())
    return digest.hexdigest()


def send_asset_event(settings: Settings, uri: str, extra: dict[str, Any]) -> dict[str, Any] | None:
    """Send one asset event through Airflow's REST API (v2). None when no API is configured;
    raises :class:`OrchestratorError` when Airflow refuses, is unreachable, or knows no such asset
    (no DAG uses it)."""
    import requests

    base = settings.airflow_api.rstrip("/")
    if not base:
        return None
    where = f"Airflow API {mask_uri(base)}"
    try:
        headers = {"Authorization": f"Bearer {_token(settings, base)}"}
        found = requests.get(
            f"{base}/api/v2/assets", params={"uri_pattern": uri}, headers=headers, timeout=API_TIMEOUT
        )
        found.raise_for_status()
        ids = [a["id"] for a in found.json().get("assets", []) if a.get("uri") == uri]
        if not ids:
            raise OrchestratorError(f"{where}: no asset {uri} (no DAG is scheduled on it); no event sent")
        sent = requests.post(
            f"{base}/api/v2/assets/events",
            json={"asset_id": ids[0], "extra": extra},
            headers=headers,
            timeout=API_TIMEOUT,
        )
        sent.raise_for_status()
    except requests.RequestException as exc:
        raise OrchestratorError(f"{where}: the event on {uri} was not sent ({_reason(exc)})") from None
    event = sent.json()
    logger.info("asset event %s on %s sent to %s", event.get("id"), uri, where)
    return event


def _reason(exc: Exception) -> str:
    """Why a call to Airflow failed, for the one-line error: ``HTTP <status>`` when it answered with
    an error, else the kind of failure (``ConnectionError``, ``ReadTimeout``…)."""
    status = getattr(getattr(exc, "response", None), "status_code", None)
    return f"HTTP {status}" if status else type(exc).__name__


def _token(settings: Settings, base: str) -> str:
    """The configured bearer token, else one from ``/auth/token`` with the user and password."""
    import requests

    if settings.airflow_token:
        return settings.airflow_token
    if not settings.airflow_user:
        raise OrchestratorError(
            f"Airflow API {mask_uri(base)}: set CONTENTCLOUD_AIRFLOW_TOKEN, or CONTENTCLOUD_AIRFLOW_USER "
            "and CONTENTCLOUD_AIRFLOW_PASSWORD"
        )
    answer = requests.post(
        f"{base}/auth/token",
        json={"username": settings.airflow_user, "password": settings.airflow_password},
        timeout=API_TIMEOUT,
    )
    answer.raise_for_status()
    return answer.json()["access_token"]


def emit_commit(settings: Settings, summary: Any) -> str | None:
    """After a CLI step: send its commit's event when Airflow's API is configured. Returns a
    warning line for the user when it could not be sent (the commit stands either way)."""
    event = commit_event(summary)
    if event is None or not settings.airflow_api:
        return None
    try:
        send_asset_event(settings, event["uri"], {**event["extra"], "source": "cli"})
    except OrchestratorError as exc:
        return f"warning: {exc}"
    return None


def dag_id_for(datasource_id: str) -> str:
    """The DAG that runs a datasource (``dags/contentcloud_dags.py`` builds one per profile)."""
    return f"aggregate__{datasource_id}"


def trigger_dag_run(
    settings: Settings, datasource_id: str, conf: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Start a run of the datasource's DAG through Airflow's REST API (v2). Raises
    :class:`OrchestratorError` when no API is configured, Airflow refuses, or it does not know the
    DAG yet (a profile just written is parsed by the DAG processor within its refresh interval)."""
    import requests

    base = settings.airflow_api.rstrip("/")
    if not base:
        raise OrchestratorError("no Airflow API is configured (CONTENTCLOUD_AIRFLOW_API)")
    where = f"Airflow API {mask_uri(base)}"
    dag_id = dag_id_for(datasource_id)
    try:
        headers = {"Authorization": f"Bearer {_token(settings, base)}"}
        answer = requests.post(
            f"{base}/api/v2/dags/{dag_id}/dagRuns",
            json={"logical_date": None, "conf": conf or {}},
            headers=headers,
            timeout=API_TIMEOUT,
        )
        if answer.status_code == 404:
            raise OrchestratorError(
                f"{where}: no DAG {dag_id} yet (the DAG processor has not read the new profile); try again "
                "in a minute"
            )
        answer.raise_for_status()
    except requests.RequestException as exc:
        raise OrchestratorError(f"{where}: the run of {dag_id} was not triggered ({_reason(exc)})") from None
    run = answer.json()
    logger.info("triggered %s run %s through %s", dag_id, run.get("dag_run_id"), where)
    return {"dag_id": dag_id, "dag_run_id": run.get("dag_run_id"), "state": run.get("state")}
