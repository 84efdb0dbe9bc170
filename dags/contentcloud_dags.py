"""contentcloud's Airflow DAGs: one ``aggregate__<id>`` DAG per datasource profile, and a
``contentcloud_maintenance`` DAG.

This file only builds DAGs. It reads the registry's YAML profiles (local files, no network, no
database), and its tasks import ``contentcloud.pipeline`` inside their bodies, return small JSON
summaries (ids, version ids, counts; never records) and hold no logic of their own: the rules
(resuming, count checks, skipping, parts, reports) live in :mod:`contentcloud.pipeline.tasks`,
:mod:`~contentcloud.pipeline.checks` and :mod:`~contentcloud.pipeline.reports`.

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

Events (Airflow assets, see :mod:`contentcloud.events`): the ``report`` task emits one event per
unit version the run committed, ``contentcloud://<datasource>/<format>/<layout>/<interpretation>``
with the version in the extra; ``reprocess__<id>`` (transform → index → publish, no harvest) is
scheduled on ``contentcloud://<id>/config`` (emitted by ``contentcloud_config_watch`` when the
profile or a file it names changes) and on the native unit (a commit by the CLI reaches Airflow
through its REST API). A failed run sends one message to the profile's ``notify.on_failure``
targets (else ``CONTENTCLOUD_NOTIFY``) from the DAG's ``on_failure_callback``.

Every task has an ``execution_timeout``: the profile's ``limits.task_timeout`` (seconds; the
schema's default, 6 hours, through :class:`contentcloud.sections.Limits`), so a stuck step fails
(and is retried) instead of holding its pool slot; the profile's ``limits.task_retries`` says how
often a failed task is retried (default 3).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import DAG, Asset, AssetAlias, BaseNotifier, Param, TaskGroup, setup, task

logger = logging.getLogger("contentcloud.dags")
START = pendulum.datetime(2026, 1, 1, tz="UTC")
MDSTORE_POOL = "contentcloud_mdstore"
SOLR_POOL = "contentcloud_solr"
#: the RDF load takes no slot of its own: the embedded store admits one writer at a time by itself
RDF_POOL = "default_pool"
DEFAULT_ARGS = {
    "owner": "contentcloud",
    "retries": 3,
    "retry_delay": timedelta(minutes=2),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(hours=1),
}
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
    return Path(_anchored_settings().registry)


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


def _limits(profile: dict[str, Any]):
    """The profile's ``limits`` with the schema's defaults (``task_timeout``, ``task_retries``)."""
    from contentcloud.sections import Limits

    return Limits.from_mapping(profile.get("limits") or {})


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
    from contentcloud.pipeline.outcomes import failure_summary

    ti = context["ti"]
    datasource = ti.dag_id.partition("__")[2]
    ti.xcom_push(key=FAILURE_KEY, value=failure_summary(datasource, ti.task_id, context.get("exception")))


def _index_options(params: dict[str, Any], triggering_asset_events: Any = None) -> dict[str, Any]:
    return {"full": bool(params.get("full_index"))}


def _rdf_options(params: dict[str, Any], triggering_asset_events: Any = None) -> dict[str, Any]:
    return {"full": bool(params.get("full_rdf"))}


def parted_step_tasks(
    step: str,
    datasource: str,
    pool: str,
    options: Callable[[dict[str, Any], Any], dict[str, Any]],
) -> tuple[Any, Any]:
    """The task group of a parted step (:mod:`contentcloud.pipeline.parts`): ``plan_<step>`` →
    ``<step>_part`` mapped over the plan's parts → ``finish_<step>``. Returns (plan, finish), to
    wire the group between its neighbours. ``options(params, triggering_asset_events)`` turns the
    run's params (and the asset events that triggered it) into the step's plan options; the run id
    is ``<step>-<Airflow run id>``."""
    with TaskGroup(group_id=f"{step}_parts", prefix_group_id=False):

        @task(task_id=f"plan_{step}", pool=pool)
        def plan(
            params: dict[str, Any], run_id: str, triggering_asset_events: Any = None
        ) -> list[dict[str, Any]]:
            from contentcloud.pipeline.tasks import plan_parts_task

            return plan_parts_task(
                step,
                datasource,
                _settings(),
                run_id=f"{step}-{run_id}",
                **options(params, triggering_asset_events),
            )

        @task(task_id=f"{step}_part", pool=pool)
        def run_part(spec: dict[str, Any]) -> dict[str, Any]:
            from contentcloud.pipeline.tasks import run_part_task

            return run_part_task(step, datasource, _settings(), spec)

        @task(task_id=f"finish_{step}", pool=pool)
        def finish(specs: list[dict[str, Any]], results: list[dict[str, Any]]) -> dict[str, Any]:
            from contentcloud.pipeline.tasks import finish_parts_task

            return finish_parts_task(step, datasource, _settings(), specs, results)

        planned = plan()
        finished = finish(planned, run_part.expand(spec=planned))
    return planned, finished


def _failure_targets(profile: dict[str, Any]) -> list[dict[str, Any]]:
    """Who is told of a failed run: the profile's ``notify.on_failure`` (an empty list silences the
    source), else the global ``CONTENTCLOUD_NOTIFY`` (a JSON list of the same entries)."""
    import json

    from mdstore.errors import ConfigError

    notify = profile.get("notify")
    if isinstance(notify, dict) and "on_failure" in notify:
        return list(notify.get("on_failure") or [])
    raw = _anchored_settings().notify.strip()
    if not raw:
        return []
    try:
        targets = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"not JSON ({exc})", file="env:CONTENTCLOUD_NOTIFY", field="notify", rule="json"
        ) from None
    if not isinstance(targets, list) or not all(isinstance(t, dict) and t.get("type") for t in targets):
        raise ConfigError(
            'a JSON list of {"type": "smtp"|"webhook", ...} entries',
            file="env:CONTENTCLOUD_NOTIFY",
            field="notify",
        )
    return targets


class WebhookNotifier(BaseNotifier):
    """POSTs the failed run as JSON (``contentcloud_failure`` of the context: the datasource, the
    failed steps and why, the run report) to ``url``. Nothing of the payload is a template: record
    errors in it come from harvested data."""

    template_fields = ("url",)

    def __init__(self, url: str, *, token: str = "", timeout: float = 10.0) -> None:
        super().__init__()
        self.url, self.token, self.timeout = url, token, timeout

    def notify(self, context: Any) -> None:
        import json
        import urllib.parse
        import urllib.request

        headers = {"Content-Type": "application/json", "User-Agent": "contentcloud-notifier"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        body = json.dumps(context["contentcloud_failure"], default=str).encode()
        if urllib.parse.urlsplit(self.url).scheme not in ("http", "https"):  # url is a template field
            raise ValueError(f"webhook url {self.url!r}: not an http(s) URL")
        request = urllib.request.Request(self.url, data=body, method="POST", headers=headers)  # noqa: S310 (checked above)
        with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 (checked above)
            response.read()


def _report_from_metadata_db(dag_id: str, run_id: str | None) -> Any:
    """The report's XCom read from the metadata database, where the callback runs beside it
    (``dag.test()`` runs DAG callbacks in its own process, with no task-runner channel for
    ``xcom_pull``; the dag-processor has the channel and never gets here)."""
    try:
        from airflow.models.xcom import XComModel
        from airflow.utils.session import create_session

        with create_session() as session:
            row = (
                session.query(XComModel)
                .filter_by(dag_id=dag_id, run_id=run_id, task_id="report", key="return_value")
                .one_or_none()
            )
            return row.value if row is not None else None
    except Exception:
        return None


def _failure_message(datasource: str, context: Any) -> dict[str, Any]:
    """The failed run as data: its report (the ``report`` task's return value) when the run got
    that far, else the step Airflow names as the failed one and its reason."""
    ti = context.get("ti")
    run_id = context.get("run_id") or getattr(ti, "run_id", None)
    report = None
    if ti is not None:
        try:
            report = ti.xcom_pull(task_ids="report", key="return_value")
        except Exception as exc:  # the report is a bonus: the message goes out without it
            report = _report_from_metadata_db(ti.dag_id, run_id)
            if report is None:
                logger.warning("run report of %s not available for the notification: %s", run_id, exc)
    if isinstance(report, str):
        import json

        report = json.loads(report)
    failed = [
        {"step": s.get("step"), "message": s.get("message"), "first_errors": s.get("first_errors") or []}
        for s in (report or {}).get("steps", [])
        if str(s.get("outcome") or "").startswith("failed")
    ]
    if not failed:
        failed = [
            {"step": getattr(ti, "task_id", None), "message": context.get("reason"), "first_errors": []}
        ]
    return {
        "event": "run_failed",
        "datasource": datasource,
        "dag_id": getattr(ti, "dag_id", None) or f"aggregate__{datasource}",
        "run_id": run_id,
        "reason": context.get("reason"),
        "failed_steps": failed,
        "report": report,
    }


def _failure_text(message: dict[str, Any]) -> tuple[str, str]:
    """Subject and plain-text body of a failure message."""
    steps = ", ".join(str(s["step"]) for s in message["failed_steps"])
    subject = f"contentcloud: run of {message['datasource']} failed at {steps}"
    lines = [f"datasource: {message['datasource']}", f"run: {message['run_id']}"]
    for step in message["failed_steps"]:
        lines.append(f"failed step: {step['step']}: {step['message']}")
        lines.extend(f"  ! {error}" for error in step["first_errors"][:5])
    return subject, "\n".join(lines)


def _notify_failure(profile: dict[str, Any]):
    """The DAG's ``on_failure_callback``: one message a failed run, to each configured target.

    Notifiers are built at call time: a notifier renders its templates into its own attributes,
    so one built at parse time would send every later run the first run's text. Their templates
    only name context entries filled here, so no harvested text is ever rendered as Jinja."""
    datasource = profile["id"]

    def callback(context: Any) -> None:
        from markupsafe import Markup

        targets = _failure_targets(profile)
        if not targets:
            return
        message = _failure_message(datasource, context)
        subject, text = _failure_text(message)
        context = {
            **context,
            # dag.test() gives the serialized DAG, which templates cannot render with
            "dag": context["dag"] if hasattr(context.get("dag"), "get_template_env") else None,
            "contentcloud_failure": message,
            "contentcloud_subject": subject,
            "contentcloud_html": Markup("<pre>{}</pre>").format(text),  # escaped by construction
        }
        for target in targets:
            try:
                if target["type"] == "smtp":
                    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

                    notifier: BaseNotifier = SmtpNotifier(
                        to=list(target["to"]),
                        from_email=target.get("from"),
                        smtp_conn_id=target.get("conn_id") or "smtp_default",
                        subject="{{ contentcloud_subject }}",
                        html_content="{{ contentcloud_html }}",
                    )
                elif target["type"] == "webhook":
                    token = os.environ.get(target["token_env"], "") if target.get("token_env") else ""
                    notifier = WebhookNotifier(
                        target["url"], token=token, timeout=float(target.get("timeout", 10))
                    )
                else:
                    raise ValueError(f"unknown notifier type {target['type']!r}")
                notifier(context)
                logger.info("failure of %s notified (%s)", message["run_id"], target["type"])
            except Exception as exc:  # one target down must not keep the message from the others
                logger.error(
                    "failure notification (%s) of %s not sent: %s", target.get("type"), datasource, exc
                )

    return callback


#: the asset aliases under which runs add their events: one per committed unit version, one per
#: changed datasource configuration (aliases, because which units a run commits is known only then)
UNITS_ALIAS = "contentcloud_units"
CONFIG_ALIAS = "contentcloud_config"


def _native_unit(profile: dict[str, Any]) -> str:
    """The native unit as ``contentcloud.datasources.Datasource.native_unit`` names it, from the
    raw profile (the parse reads YAML only)."""
    api = profile.get("api") or {}
    fmt = api.get("metadata_prefix") if api.get("protocol") == "oai" else api.get("format", "xml")
    return f"{profile['id']}/{fmt}/store/native"


def _triggering_uris(events: Any) -> set[str]:
    """The asset URIs of a run's triggering asset events (none for a manual or scheduled run)."""
    uris: set[str] = set()
    for key, found in (events or {}).items():
        uris.add(str(getattr(key, "uri", "") or ""))
        for event in found or []:
            uris.add(str(getattr(getattr(event, "asset", None), "uri", "") or ""))
    return uris - {""}


def _processing(datasource: str) -> tuple[Any, Any, Any, Any, Any, Any]:
    """transform → check → index (and the RDF store) → publish, in the DAG being built; returns
    (first task, transformed, checked, indexed, loaded_rdf, published). ``plan_transform``
    transforms every record for a run with ``mode: full`` or one triggered by a change of the
    datasource's configuration (the new mapping applies to all records); the index step notices a
    changed index profile by itself."""
    from contentcloud.events import config_asset_uri

    config_uri = config_asset_uri(datasource)

    def transform_options(params: dict[str, Any], triggering_asset_events: Any = None) -> dict[str, Any]:
        full = params.get("mode") == "full" or config_uri in _triggering_uris(triggering_asset_events)
        return {"mode": "full" if full else "incremental"}

    @task
    def check_transformed(summary: dict[str, Any]) -> dict[str, Any]:
        from contentcloud.pipeline.checks import transformed_gate

        return transformed_gate(datasource, _settings(), summary)

    @task
    def publish(run_id: str) -> dict[str, Any]:
        from contentcloud.pipeline.outcomes import require_success
        from contentcloud.pipeline.publish import run_publish

        return require_success(run_publish(datasource, _settings(), run_id=f"publish-{run_id}"))

    planned, transformed = parted_step_tasks("transform", datasource, MDSTORE_POOL, transform_options)
    checked = check_transformed(transformed)
    planned_index, indexed = parted_step_tasks("index", datasource, SOLR_POOL, _index_options)
    planned_rdf, loaded_rdf = parted_step_tasks("rdf", datasource, RDF_POOL, _rdf_options)
    published = publish()
    checked >> planned_index
    checked >> planned_rdf
    indexed >> published
    return planned, transformed, checked, indexed, loaded_rdf, published


def _report_task(datasource: str):
    """The run report (the teardown of ``begin``: it runs whatever the steps did), which also
    emits the run's asset events: one per unit version the run committed that changed something,
    the version in the event's extra (:func:`contentcloud.events.commit_event`)."""

    @task(trigger_rule="all_done", outlets=[AssetAlias(UNITS_ALIAS)])
    def report(
        collected: Any,
        transformed: Any,
        indexed: Any,
        published: Any,
        run_id: str,
        ti: Any = None,
        outlet_events: Any = None,
        loaded_rdf: Any = None,
    ) -> dict[str, Any]:
        from contentcloud.events import commit_event
        from contentcloud.pipeline.outcomes import STEP_ORDER
        from contentcloud.pipeline.reports import run_report

        failures = ti.xcom_pull(task_ids=list(STEP_ORDER), key=FAILURE_KEY) if ti is not None else []
        summaries = [collected, transformed, indexed, loaded_rdf, published, *(failures or [])]
        result = run_report(datasource, _settings(), summaries, run_id=run_id)["report"]
        for step in result["steps"]:
            event = commit_event({**step, "run_id": run_id})
            if event is not None and outlet_events is not None:
                outlet_events[AssetAlias(UNITS_ALIAS)].add(Asset(event["uri"]), extra=event["extra"])
                logger.info("asset event on %s: %s", event["uri"], event["extra"])
        return result

    return report


@setup
def begin() -> None:
    """Opens the run. The report is its teardown: it runs whatever the steps did (a teardown of
    the first step itself would be skipped when that step fails)."""


def _dag_args(profile: dict[str, Any]) -> dict[str, Any]:
    """What the datasource's DAGs share: timeouts, retries, the failure callbacks."""
    return {
        "start_date": START,
        "catchup": False,
        "max_active_runs": 1,
        "on_failure_callback": _notify_failure(profile),
        "default_args": {
            **DEFAULT_ARGS,
            "on_failure_callback": _record_failure,
            "execution_timeout": timedelta(seconds=int(_limits(profile).task_timeout)),
            "retries": int(_limits(profile).task_retries),
        },
    }


def _maintenance_args(timeout: timedelta) -> dict[str, Any]:
    """What the DAGs that are no datasource's share: one run at a time, no catch-up, one retry."""
    return {
        "start_date": START,
        "catchup": False,
        "max_active_runs": 1,
        "default_args": {**DEFAULT_ARGS, "retries": 1, "execution_timeout": timeout},
    }


def build_aggregate_dag(profile: dict[str, Any]) -> DAG:
    """The collect → transform → index → publish DAG of one datasource."""
    datasource = profile["id"]
    with DAG(
        dag_id=f"aggregate__{datasource}",
        description=f"Aggregate {profile.get('name', datasource)}: collect, transform, index, publish",
        schedule=_schedule(profile),
        **_dag_args(profile),
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
            "full_rdf": Param(False, type="boolean", description="Rebuild the RDF graph from scratch"),
        },
        doc_md=__doc__,
    ) as dag:

        @task(pool=MDSTORE_POOL)
        def collect(params: dict[str, Any], run_id: str) -> dict[str, Any]:
            from contentcloud.pipeline.tasks import collect_task

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
            from contentcloud.pipeline.checks import collected_gate

            return collected_gate(datasource, _settings(), summary, force=bool(params.get("force")))

        begun = begin()
        collected = collect()
        begun >> collected
        gate = check_collected(collected)
        planned, transformed, _checked, indexed, loaded_rdf, published = _processing(datasource)
        gate >> planned
        # a teardown: it runs whatever happened, and (unlike an all_done leaf) a failed step still
        # fails the run
        report = _report_task(datasource)
        report(collected, transformed, indexed, published, loaded_rdf=loaded_rdf).as_teardown(setups=begun)
    return dag


def build_reprocess_dag(profile: dict[str, Any]) -> DAG:
    """transform → index → publish of one datasource without harvesting, scheduled on assets: its
    configuration (``contentcloud://<id>/config``, emitted by ``contentcloud_config_watch`` when the
    profile or a file it names changes: every record is transformed again) or its native unit (a
    version committed outside this DAG, e.g. by ``contentcloud harvest`` through the REST API: the
    changed records are). A native version this source's DAGs already carried through is skipped."""
    from contentcloud.events import config_asset_uri, unit_asset_uri

    datasource = profile["id"]
    config_uri = config_asset_uri(datasource)
    with DAG(
        dag_id=f"reprocess__{datasource}",
        description=f"Transform, index and publish {profile.get('name', datasource)} again (no harvest)",
        schedule=Asset(config_uri) | Asset(unit_asset_uri(_native_unit(profile))),
        **_dag_args(profile),
        tags=["contentcloud", "reprocess"],
        params={
            "mode": Param(
                "incremental",
                enum=["incremental", "full"],
                description="full: transform every record (as after a configuration change)",
            ),
            "force": Param(False, type="boolean", description="Run even if the data is up to date"),
            "full_index": Param(False, type="boolean", description="Rebuild the index from scratch"),
        },
        doc_md=build_reprocess_dag.__doc__,
    ) as dag:

        @task.short_circuit(ignore_downstream_trigger_rules=False)
        def check_source(params: dict[str, Any], triggering_asset_events: Any = None) -> bool:
            from contentcloud.pipeline.checks import reprocess_gate

            uris = _triggering_uris(triggering_asset_events)
            mode, force = params.get("mode"), bool(params.get("force"))
            return reprocess_gate(datasource, _settings(), triggered_by=uris, mode=mode, force=force)

        begun = begin()
        gate = check_source()
        begun >> gate
        planned, transformed, _checked, indexed, loaded_rdf, published = _processing(datasource)
        gate >> planned
        report = _report_task(datasource)
        report(None, transformed, indexed, published, loaded_rdf=loaded_rdf).as_teardown(setups=begun)
    return dag


def build_config_watch_dag() -> DAG:
    """Emits ``contentcloud://<id>/config`` for every datasource whose configuration digest (the
    profile file and the mapping and index-profile files it names) differs from the one the last
    watch recorded (``<var>/config-digests.json``); a source seen for the first time is recorded,
    not announced. Every 5 minutes, or triggered (say, by whoever promotes a mapping)."""
    with DAG(
        dag_id="contentcloud_config_watch",
        description="Announce changed datasource configurations (profile, mappings) as asset events",
        schedule="*/5 * * * *",
        **_maintenance_args(timedelta(minutes=10)),
        tags=["contentcloud", "maintenance"],
        doc_md=build_config_watch_dag.__doc__,
    ) as dag:

        @task(outlets=[AssetAlias(CONFIG_ALIAS)])
        def detect_config_changes(outlet_events: Any = None) -> dict[str, Any]:
            import json

            import yaml

            from contentcloud.events import config_asset_uri, config_digest

            settings = _settings()
            state = Path(settings.var_dir) / "config-digests.json"
            known = json.loads(state.read_text(encoding="utf-8")) if state.is_file() else {}
            digests, changed = {}, []
            registry = Path(settings.registry)
            for path in sorted(registry.glob("*.y*ml")) if registry.is_dir() else []:
                data = yaml.safe_load(path.read_text(encoding="utf-8"))
                if not isinstance(data, dict) or not data.get("id"):
                    continue
                source = str(data["id"])
                digests[source] = config_digest(path, data, Path(settings.mappings))
                if source in known and known[source] != digests[source]:
                    changed.append(source)
                    extra = {"digest": digests[source], "previous": known[source], "profile": path.name}
                    outlet_events[AssetAlias(CONFIG_ALIAS)].add(Asset(config_asset_uri(source)), extra=extra)
                    logger.info("configuration of %s changed: %s", source, extra)
            state.parent.mkdir(parents=True, exist_ok=True)
            temporary = state.with_suffix(".tmp")
            temporary.write_text(json.dumps(digests, indent=1, sort_keys=True), encoding="utf-8")
            temporary.replace(state)
            return {"changed": changed, "new": sorted(set(digests) - set(known)), "sources": len(digests)}

        detect_config_changes()
    return dag


def build_maintenance_dag(profiles: list[dict[str, Any]]) -> DAG:
    """The D-NET monitoring workflows: MDStore GC, index vs MDStore checks, stale sources."""
    with DAG(
        dag_id="contentcloud_maintenance",
        description="MDStore garbage collection, index consistency checks, stale-source report",
        schedule="@daily",
        **_maintenance_args(timedelta(seconds=_limits({}).task_timeout)),
        tags=["contentcloud", "maintenance"],
        params={"stale_days": Param(7, type="number", minimum=0, description="Days without a harvest")},
    ) as dag:

        @task(pool=MDSTORE_POOL)
        def garbage_collect() -> dict[str, Any]:
            from contentcloud.pipeline.maintenance import gc_task

            return gc_task(_settings())

        @task(pool=SOLR_POOL, retries=0)
        def check_index(datasource: str) -> dict[str, Any]:
            from contentcloud.pipeline.maintenance import index_check_task

            return index_check_task(datasource, _settings())

        @task
        def stale_sources(params: dict[str, Any]) -> list[dict[str, Any]]:
            from contentcloud.pipeline.maintenance import stale_sources as find

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
    globals()[f"reprocess__{_profile['id']}"] = build_reprocess_dag(_profile)
contentcloud_maintenance = build_maintenance_dag(_PROFILES)
contentcloud_config_watch = build_config_watch_dag()
