"""contentcloud's Airflow DAGs: one ``aggregate__<id>`` DAG per datasource profile, and a
``contentcloud_maintenance`` DAG.

This file only builds DAGs. It reads the registry's YAML profiles (local files, no network, no
database), and its tasks import ``contentcloud.pipeline`` inside their bodies, return small JSON
summaries (ids, version ids, counts; never records) and hold no logic of their own: the rules
(resuming, count checks, skipping, parts, reports) live in :mod:`contentcloud.pipeline.runs`.

aggregate__<id>::

    begin ─► collect ─► check_collected ─► plan_transform ─► transform_part × N ─► finish_transform
        ─► check_transformed ─► plan_index ─► index_part × M ─► finish_index ─► publish ─► report

* ``check_collected`` short-circuits the rest when the harvest changed nothing and the transformed
  data is up to date (``force`` overrides); ``report`` (the teardown of ``begin``) runs whatever
  happened, and lists the steps that failed with their reasons.
* ``transform_part`` and ``index_part`` are mapped tasks: a large source is split by id range
  (profile ``records_per_part`` of ``transform`` and ``index``) and Celery/Kubernetes workers
  share the parts. An index feed in place (incremental, or a refeed) is split; a full rebuild
  (``full_index``) is one part, because its new core is switched in by the writer that built it.
* A failed task leaves the committed data as it was: clear it and it continues (a harvest resumes
  from its checkpoint, a planned transformation reuses its open transaction, an index part is fed
  again; the index state only moves at ``finish_index``).
* Pools ``contentcloud_mdstore`` and ``contentcloud_solr`` limit concurrent load on the stores
  (create them with ``airflow pools import dags/pools.json``).

Settings come from the environment (``CONTENTCLOUD_*``) as everywhere else, with one anchor for
the defaults: the project this file belongs to (``<project>/registry``, ``<project>/var``), for the
DAG parse and for every task alike, whatever the worker's working directory, so a task uses the
registry and stores its DAG was built from. An Airflow connection named ``contentcloud_mdstore``
or ``contentcloud_index``, when defined, overrides the matching URI; one that is defined but cannot
be read fails the task (it never falls back to the embedded stores).

Every task has an ``execution_timeout``: the profile's ``limits.task_timeout`` (seconds), else
:data:`TASK_TIMEOUT`, so a stuck step fails (and is retried) instead of holding its pool slot; the
profile's ``limits.task_retries`` says how often a failed task is retried (default 3).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import DAG, Param, TaskGroup, setup, task

logger = logging.getLogger("contentcloud.dags")
START = pendulum.datetime(2026, 1, 1, tz="UTC")
MDSTORE_POOL = "contentcloud_mdstore"
SOLR_POOL = "contentcloud_solr"
DEFAULT_ARGS = {
    "owner": "contentcloud",
    "retries": 3,
    "retry_delay": timedelta(minutes=2),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(hours=1),
}
#: a task's execution_timeout when the profile's ``limits.task_timeout`` does not say (seconds)
TASK_TIMEOUT = 6 * 3600
#: where the default registry and var/ are, for the DAG parse and the tasks alike
ANCHOR = Path(__file__).resolve().parent.parent


def _anchored_settings(flags: dict[str, Any] | None = None):
    """The settings of the DAG parse and of every task: flags, environment, then defaults anchored
    at :data:`ANCHOR` (not the working directory, which differs between the dag-processor, the
    scheduler's workers and a Celery worker)."""
    from contentcloud.settings import load_settings

    return load_settings(flags, base_dir=ANCHOR)


def _registry_dir() -> Path:
    """The registry the DAGs are built from: ``CONTENTCLOUD_REGISTRY``, else ``<project>/registry``."""
    return _anchored_settings().registry_path


def _profiles() -> list[dict[str, Any]]:
    """The registry's profiles as plain dicts (YAML only: cheap enough for every DAG parse)."""
    import yaml

    profiles = []
    directory = _registry_dir()
    for path in sorted(directory.glob("*.y*ml")) if directory.is_dir() else []:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and data.get("id") and data.get("enabled", True):
            profiles.append(data)
    return profiles


def _schedule(profile: dict[str, Any]) -> str | None:
    schedule = profile.get("schedule")
    if isinstance(schedule, dict):
        schedule = schedule.get("cron")
    return schedule or None


def _task_timeout(profile: dict[str, Any]) -> timedelta:
    seconds = (profile.get("limits") or {}).get("task_timeout") or TASK_TIMEOUT
    return timedelta(seconds=int(seconds))


def _connection_uri(connection: Any) -> str:
    """The connection as a URI for the settings. Airflow's ``get_uri`` quotes the path as one
    schema name (``http://host/solr/pe`` comes back as ``http://host/solr%2Fpe``), which no Solr
    answers; the path is given back as it was, the credentials stay quoted."""
    from urllib.parse import unquote, urlsplit, urlunsplit

    parts = urlsplit(connection.get_uri())
    return urlunsplit(parts._replace(path=unquote(parts.path)))


def _settings():
    """Settings for a task: those of the DAG parse (:func:`_anchored_settings`), with URIs from
    Airflow connections when those are defined. Only a connection that does not exist is skipped:
    one that cannot be read (a broken URI, an unreachable secrets backend) fails the task, since
    falling back to the embedded stores would write the run somewhere nobody looks."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    from contentcloud.settings import mask_uri
    from mdstore.errors import ConfigError

    flags = {}
    for name in ("mdstore", "index"):
        conn_id = f"contentcloud_{name}"
        try:
            flags[name] = _connection_uri(BaseHook.get_connection(conn_id))
        except AirflowNotFoundException:
            if os.environ.get(f"AIRFLOW_CONN_{conn_id.upper()}"):
                # Airflow skips a backend whose value it cannot parse and says "not defined"
                raise ConfigError(
                    "the connection is set but Airflow cannot read it (not a URI or JSON connection); "
                    "fix or unset it",
                    file=f"AIRFLOW_CONN_{conn_id.upper()}",
                    field=name,
                    rule="connection",
                ) from None
            continue  # not defined: the environment decides
        except Exception as exc:
            raise ConfigError(
                f"the connection cannot be read ({type(exc).__name__}: {exc}); fix or delete it",
                file=f"Airflow connection {conn_id}",
                field=name,
                rule="connection",
            ) from exc
    settings = _anchored_settings(flags)
    logger.info(
        "settings: registry %s, mdstore %s (%s), index %s (%s)",
        settings.registry,
        mask_uri(settings.mdstore),
        settings.origins["mdstore"],
        mask_uri(settings.index),
        settings.origins["index"],
    )
    return settings


#: the XCom key under which a failed task leaves its summary for the report
FAILURE_KEY = "failure"


def _record_failure(context: dict[str, Any]) -> None:
    """on_failure_callback: the failed step's summary goes to XCom, where the report finds it (a
    failed task returns nothing, so the report would otherwise not know what went wrong)."""
    from contentcloud.pipeline.runs import failure_summary

    ti = context["ti"]
    datasource = ti.dag_id.removeprefix("aggregate__")
    ti.xcom_push(key=FAILURE_KEY, value=failure_summary(datasource, ti.task_id, context.get("exception")))


def _transform_options(params: dict[str, Any]) -> dict[str, Any]:
    return {"mode": "full" if params.get("mode") == "full" else "incremental"}


def _index_options(params: dict[str, Any]) -> dict[str, Any]:
    return {"full": bool(params.get("full_index"))}


def parted_step_tasks(
    step: str,
    datasource: str,
    pool: str,
    options: Callable[[dict[str, Any]], dict[str, Any]],
) -> tuple[Any, Any]:
    """The task group of a parted step (:mod:`contentcloud.pipeline.parts`): ``plan_<step>`` →
    ``<step>_part`` mapped over the plan's parts → ``finish_<step>``. Returns (plan, finish), to
    wire the group between its neighbours. ``options(params)`` turns the run's params into the
    step's plan options; the run id is ``<step>-<Airflow run id>``."""
    with TaskGroup(group_id=f"{step}_parts", prefix_group_id=False):

        @task(task_id=f"plan_{step}", pool=pool)
        def plan(params: dict[str, Any], run_id: str) -> list[dict[str, Any]]:
            from contentcloud.pipeline.runs import plan_parts_task

            return plan_parts_task(
                step, datasource, _settings(), run_id=f"{step}-{run_id}", **options(params)
            )

        @task(task_id=f"{step}_part", pool=pool)
        def run_part(spec: dict[str, Any]) -> dict[str, Any]:
            from contentcloud.pipeline.runs import run_part_task

            return run_part_task(step, datasource, _settings(), spec)

        @task(task_id=f"finish_{step}", pool=pool)
        def finish(specs: list[dict[str, Any]], results: list[dict[str, Any]]) -> dict[str, Any]:
            from contentcloud.pipeline.runs import finish_parts_task

            return finish_parts_task(step, datasource, _settings(), specs, results)

        planned = plan()
        finished = finish(planned, run_part.expand(spec=planned))
    return planned, finished


def build_aggregate_dag(profile: dict[str, Any]) -> DAG:
    """The collect → transform → index → publish DAG of one datasource."""
    datasource = profile["id"]
    with DAG(
        dag_id=f"aggregate__{datasource}",
        description=f"Aggregate {profile.get('name', datasource)}: collect, transform, index, publish",
        schedule=_schedule(profile),
        start_date=START,
        catchup=False,
        max_active_runs=1,
        default_args={
            **DEFAULT_ARGS,
            "on_failure_callback": _record_failure,
            "execution_timeout": _task_timeout(profile),
            "retries": int((profile.get("limits") or {}).get("task_retries", DEFAULT_ARGS["retries"])),
        },
        tags=["contentcloud", f"protocol:{profile.get('api', {}).get('protocol', '?')}"],
        params={
            "mode": Param(
                "scheduled",
                enum=["scheduled", "incremental", "full"],
                description="Harvest mode; scheduled: as the profile's schedule says (else incremental)",
            ),
            "from": Param(None, type=["null", "string"], description="Harvest from (OAI datestamp)"),
            "until": Param(None, type=["null", "string"], description="Harvest until (OAI datestamp)"),
            "force": Param(False, type="boolean", description="Run downstream steps even if nothing changed"),
            "full_index": Param(False, type="boolean", description="Rebuild the index from scratch"),
        },
        doc_md=__doc__,
    ) as dag:

        @task(pool=MDSTORE_POOL)
        def collect(params: dict[str, Any], run_id: str) -> dict[str, Any]:
            from contentcloud.pipeline.runs import collect_task

            return collect_task(
                datasource,
                _settings(),
                mode=params["mode"],
                from_=params.get("from"),
                until=params.get("until"),
                run_id=f"collect-{run_id}",
            )

        @task.short_circuit(ignore_downstream_trigger_rules=False)
        def check_collected(summary: dict[str, Any], params: dict[str, Any]) -> bool:
            from contentcloud.pipeline.runs import StepFailed
            from contentcloud.pipeline.runs import check_collected as check

            result = check(datasource, _settings(), summary, force=bool(params.get("force")))
            logger.info("count check after collect: %s", result.as_dict())
            if not result.ok:
                raise StepFailed("; ".join(result.problems), datasource=datasource, step="check_collected")
            return result.downstream_needed

        @task
        def check_transformed(summary: dict[str, Any]) -> dict[str, Any]:
            from contentcloud.pipeline.runs import StepFailed
            from contentcloud.pipeline.runs import check_transformed as check

            result = check(datasource, _settings(), summary)
            if not result.ok:
                raise StepFailed("; ".join(result.problems), datasource=datasource, step="check_transformed")
            return result.as_dict()

        @task
        def publish(run_id: str) -> dict[str, Any]:
            from contentcloud.pipeline.publish import run_publish
            from contentcloud.pipeline.runs import require_success

            return require_success(run_publish(datasource, _settings(), run_id=f"publish-{run_id}"))

        @task(trigger_rule="all_done")
        def report(
            collected: Any, transformed: Any, indexed: Any, published: Any, run_id: str, ti: Any = None
        ) -> dict[str, Any]:
            from contentcloud.pipeline.runs import STEP_ORDER, run_report

            failures = ti.xcom_pull(task_ids=list(STEP_ORDER), key=FAILURE_KEY) if ti is not None else []
            summaries = [collected, transformed, indexed, published, *(failures or [])]
            return run_report(datasource, _settings(), summaries, run_id=run_id)["report"]

        @setup
        def begin() -> None:
            """Opens the run. The report is its teardown: it runs whatever the steps did (a
            teardown of ``collect`` itself would be skipped when the harvest fails)."""

        begun = begin()
        collected = collect()
        begun >> collected
        gate = check_collected(collected)
        planned, transformed = parted_step_tasks("transform", datasource, MDSTORE_POOL, _transform_options)
        checked = check_transformed(transformed)
        planned_index, indexed = parted_step_tasks("index", datasource, SOLR_POOL, _index_options)
        published = publish()
        gate >> planned
        checked >> planned_index
        indexed >> published
        # a teardown: it runs whatever happened, and (unlike an all_done leaf) a failed step still
        # fails the run
        report(collected, transformed, indexed, published).as_teardown(setups=begun)
    return dag


def build_maintenance_dag(profiles: list[dict[str, Any]]) -> DAG:
    """The D-NET monitoring workflows: MDStore GC, index vs MDStore checks, stale sources."""
    with DAG(
        dag_id="contentcloud_maintenance",
        description="MDStore garbage collection, index consistency checks, stale-source report",
        schedule="@daily",
        start_date=START,
        catchup=False,
        max_active_runs=1,
        default_args={**DEFAULT_ARGS, "retries": 1, "execution_timeout": timedelta(seconds=TASK_TIMEOUT)},
        tags=["contentcloud", "maintenance"],
        params={"stale_days": Param(7, type="number", minimum=0, description="Days without a harvest")},
    ) as dag:

        @task(pool=MDSTORE_POOL)
        def garbage_collect() -> dict[str, Any]:
            from contentcloud.pipeline.runs import gc_task

            return gc_task(_settings())

        @task(pool=SOLR_POOL, retries=0)
        def check_index(datasource: str) -> dict[str, Any]:
            from contentcloud.pipeline.runs import index_check_task

            return index_check_task(datasource, _settings())

        @task
        def stale_sources(params: dict[str, Any]) -> list[dict[str, Any]]:
            from contentcloud.pipeline.runs import stale_sources as find

            stale = find(_settings(), days=float(params["stale_days"]))
            for source in stale:
                logger.warning(
                    "stale source %s: last harvest %s",
                    source["datasource"],
                    source["last_harvest"] or "never",
                )
            return stale

        indexed = [p["id"] for p in profiles if (p.get("index") or {}).get("enabled", True)]
        # side by side: the stale-source report runs even when an index check fails, and that
        # failure still fails the run
        collected = garbage_collect()
        collected >> check_index.expand(datasource=indexed)
        collected >> stale_sources()
    return dag


_PROFILES = _profiles()
for _profile in _PROFILES:
    globals()[f"aggregate__{_profile['id']}"] = build_aggregate_dag(_profile)
contentcloud_maintenance = build_maintenance_dag(_PROFILES)
