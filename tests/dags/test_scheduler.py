"""``aggregate__<id>`` under a running Airflow, started the way the README starts it
(``airflow standalone``: API server, scheduler, DAG processor, LocalExecutor), triggered through
the REST API (v2, a JWT from the simple auth manager with the generated admin password).

``dag.test()`` runs every task in the test's own process; here each task runs as operators run it,
in a task-runner process forked by an executor worker (that is where the index builders' ``spawn``
pool died and the run hung in ``index_part``). One Airflow serves the module: a full run of a good
source (every step, the data in the MDStore, the index and the publisher), then a source whose
every record fails the index profile (the run ends ``failed``, its report names the step and why),
then the event-triggered workflows: a changed profile re-runs transform → index → publish of the
good source without a harvest (``contentcloud_config_watch`` emits its config asset, which
``reprocess__good`` is scheduled on), and a harvest by the CLI announces its commit through the
REST API, which triggers ``reprocess__good`` too.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.dags.conftest import DAGS, PROJECT, airflow_env
from tests.dags.sinks import http_sink
from tests.servers.oai_faults import FaultyRepository, fault_server

pytestmark = pytest.mark.integration

RECORDS = 24
#: the DAG's steps, in the order a full run passes them
STEPS = [
    "begin",
    "collect",
    "check_collected",
    "plan_transform",
    "transform_part",
    "finish_transform",
    "check_transformed",
    "plan_index",
    "index_part",
    "finish_index",
    "plan_rdf",
    "rdf_part",
    "finish_rdf",
    "publish",
    "report",
]
STARTUP_TIMEOUT = 180.0
RUN_TIMEOUT = 240.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def profile(datasource: str, baseurl: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": datasource,
        "name": f"Local source {datasource}",
        "nsprefix": datasource,
        "api": {
            "protocol": "oai",
            "baseurl": baseurl,
            "metadata_prefix": "oai_dc",
            "max_retries": 1,
            "backoff": 0,
            "max_backoff": 0,
            "timeout": 5,
        },
        # several parts, so the mapped tasks are exercised; the default builder process (workers: 1)
        "transform": {"steps": [{"type": "xslt", "mapping": "oai_dc2pe.xsl"}], "records_per_part": 10},
        "limits": {"task_retries": 0, "task_timeout": 300},
        **extra,
    }


def unmatched_index_profile(directory: Path) -> Path:
    """The shipped index profile with a main entity type no record has: every record fails."""
    source = PROJECT / "mappings" / "index"
    data = yaml.safe_load((source / "pe.yaml").read_text(encoding="utf-8"))
    data["main"]["types"] = ["crmpe:PE35_Project"]
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(source / "pe-classes.json", directory / "pe-classes.json")
    path = directory / "project-only.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


class Airflow:
    """A running ``airflow standalone`` and a REST client for it."""

    def __init__(self, home: Path, env: dict[str, str], port: int) -> None:
        self.home, self.env, self.port = home, env, port
        self.url = f"http://127.0.0.1:{port}"
        self.log = (home / "standalone.log").open("wb")
        self.process = subprocess.Popen(
            [str(Path(sys.executable).with_name("airflow")), "standalone"],
            env=env,
            cwd=home,  # not the project: tasks must find their settings without it
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # one process group: stopped as a whole
        )
        self.token: str | None = None

    def stop(self) -> None:
        """SIGTERM to the process group (standalone stops its components), SIGKILL to what is left."""
        self._signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            pass
        self._signal(signal.SIGKILL)  # the leader may be gone while a component is not
        self.process.wait(10)
        self.log.close()

    def _signal(self, signum: int) -> None:
        try:
            os.killpg(self.process.pid, signum)
        except ProcessLookupError:
            pass

    def tail(self, lines: int = 60) -> str:
        self.log.flush()
        text = (self.home / "standalone.log").read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def request(self, method: str, path: str, body: Any = None, *, auth: bool = True) -> Any:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.token}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")

    def wait_until_ready(self) -> None:
        """The API answers and the generated admin password gives a token (as the README logs in)."""
        deadline = time.monotonic() + STARTUP_TIMEOUT
        passwords = self.home / "simple_auth_manager_passwords.json.generated"
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"airflow standalone exited:\n{self.tail()}")
            try:
                health = self.request("GET", "/api/v2/monitor/health", auth=False)
                if health["scheduler"]["status"] == "healthy" and passwords.exists():
                    password = json.loads(passwords.read_text())["admin"]
                    login = {"username": "admin", "password": password}
                    self.token = self.request("POST", "/auth/token", login, auth=False)["access_token"]
                    return
            except (OSError, urllib.error.URLError, KeyError, json.JSONDecodeError):
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"airflow standalone not ready in {STARTUP_TIMEOUT:g} s:\n{self.tail()}")
            time.sleep(1)

    def wait_for_dag(self, dag_id: str) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            try:
                self.request("GET", f"/api/v2/dags/{dag_id}")
                return
            except urllib.error.HTTPError as exc:
                if exc.code != 404:
                    raise
            if time.monotonic() > deadline:
                errors = self.request("GET", "/api/v2/importErrors")
                raise AssertionError(f"{dag_id} not parsed in {STARTUP_TIMEOUT:g} s; import errors: {errors}")
            time.sleep(1)

    def trigger(self, dag_id: str, conf: dict[str, Any]) -> str:
        """Unpause (new DAGs are paused) and trigger, as the README says; returns the run id."""
        self.request("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
        run = self.request("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf})
        return run["dag_run_id"]

    def wait_for_run(self, dag_id: str, run_id: str) -> str:
        deadline = time.monotonic() + RUN_TIMEOUT
        while True:
            state = self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"]
            if state in ("success", "failed"):
                return state
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{dag_id} run still {state} after {RUN_TIMEOUT:g} s: {self.task_states(dag_id, run_id)}"
                )
            time.sleep(1)

    def task_states(self, dag_id: str, run_id: str) -> dict[str, list[str]]:
        """task id → states of its instances (several for a mapped task)."""
        listed = self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=100")
        states: dict[str, list[str]] = {}
        for ti in listed["task_instances"]:
            states.setdefault(ti["task_id"], []).append(ti["state"])
        return states

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        return self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns?limit=100&order_by=run_after")["dag_runs"]

    def wait_for_runs(self, dag_id: str, count: int) -> list[dict[str, Any]]:
        """Waits until ``dag_id`` has ``count`` runs, all finished; returns them, oldest first."""
        deadline = time.monotonic() + RUN_TIMEOUT
        while True:
            runs = self.runs(dag_id)
            if len(runs) >= count and all(r["state"] in ("success", "failed") for r in runs):
                return runs
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{dag_id}: {[(r['dag_run_id'], r['state']) for r in runs]}, not {count}"
                )
            time.sleep(1)

    def asset_events(self, uri: str) -> list[dict[str, Any]]:
        """The asset's events, oldest first.

        Airflow answers this listing with a 500 while a run that one of the events created is still
        queued (its ``start_date`` is NULL and the response model refuses it: apache/airflow#71360).
        An event's runs are queued for a moment only, so a 500 is retried for a while."""
        assets = self.request("GET", f"/api/v2/assets?uri_pattern={urllib.parse.quote(uri)}")["assets"]
        ids = [a["id"] for a in assets if a["uri"] == uri]
        if not ids:
            return []
        deadline = time.monotonic() + 60
        while True:
            try:
                listed = self.request(
                    "GET", f"/api/v2/assets/events?asset_id={ids[0]}&limit=100&order_by=timestamp"
                )
                return listed["asset_events"]
            except urllib.error.HTTPError as exc:
                if exc.code != 500 or time.monotonic() > deadline:
                    raise
            time.sleep(1)

    def wait_for_asset_event(self, uri: str, version: str, timeout: float = 30.0) -> list[dict[str, Any]]:
        """The asset's events once the last one names ``version``. The report task's events are
        written when it finishes, but the API server's SQLite reads have been seen to lag behind
        the run's state for a moment (once in CI: an empty list right after the run succeeded)."""
        deadline = time.monotonic() + timeout
        while True:
            events = self.asset_events(uri)
            if events and events[-1]["extra"].get("version") == version:
                return events
            if time.monotonic() > deadline:
                raise AssertionError(f"no event on {uri} for version {version} after {timeout:g} s: {events}")
            time.sleep(1)

    def report(self, dag_id: str, run_id: str) -> dict[str, Any]:
        entry = self.request(
            "GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/report/xcomEntries/return_value"
        )
        value = entry["value"]
        return json.loads(value) if isinstance(value, str) else value


@pytest.fixture(scope="module")
def repository() -> FaultyRepository:
    return FaultyRepository.with_records(RECORDS, page_size=10)


@pytest.fixture(scope="module")
def source(repository) -> Iterator[str]:
    with fault_server(repository) as server:
        yield server.url


@pytest.fixture(scope="module")
def hook() -> Iterator[Any]:
    """A webhook the bad source's failure notifications go to."""
    with http_sink() as server:
        yield server


@pytest.fixture(scope="module")
def airflow(airflow_home: Path, source: str, hook, tmp_path_factory) -> Iterator[tuple[Airflow, Path]]:
    """``airflow standalone`` on the session's migrated metadata DB, on a free 127.0.0.1 port."""
    work = tmp_path_factory.mktemp("scheduler")
    registry, var = work / "registry", work / "var"
    registry.mkdir()
    (registry / "good.yaml").write_text(yaml.safe_dump(profile("good", source)))
    bad_index = {"profile": str(unmatched_index_profile(work / "index-profiles"))}
    notify = {"on_failure": [{"type": "webhook", "url": f"http://127.0.0.1:{hook.server_address[1]}/failed"}]}
    (registry / "bad.yaml").write_text(yaml.safe_dump(profile("bad", source, index=bad_index, notify=notify)))
    port = free_port()
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        **airflow_env(airflow_home),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(PROJECT),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "30",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "120",
        "CONTENTCLOUD_REGISTRY": str(registry),
        "CONTENTCLOUD_VAR": str(var),
        "CONTENTCLOUD_MDSTORE": f"sqlite:///{var / 'mdstore.sqlite'}",
        "CONTENTCLOUD_INDEX": f"sqlite:///{var / 'index.sqlite'}",
    }
    env.pop("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", None)
    started = time.monotonic()
    server = Airflow(airflow_home, env, port)
    try:
        server.wait_until_ready()
        print(f"airflow standalone ready in {time.monotonic() - started:.1f} s")
        # the README imports dags/pools.json with the CLI; the REST API does the same here
        for name, pool in json.loads((DAGS / "pools.json").read_text()).items():
            body = {"name": name, "slots": pool["slots"], "description": pool.get("description", "")}
            server.request("POST", "/api/v2/pools", body)
        yield server, var
    finally:
        server.stop()


def test_a_triggered_run_passes_every_step_and_the_data_lands(airflow) -> None:
    server, var = airflow
    server.wait_for_dag("aggregate__good")
    started = time.monotonic()
    run_id = server.trigger("aggregate__good", {"mode": "full"})
    state = server.wait_for_run("aggregate__good", run_id)
    states = server.task_states("aggregate__good", run_id)
    assert state == "success", (states, server.tail())
    assert sorted(states) == sorted(STEPS)
    assert all(set(s) == {"success"} for s in states.values()), states
    assert len(states["transform_part"]) == 3  # 24 records, 10 per part
    print(f"full run through the scheduler: {time.monotonic() - started:.1f} s")

    report = server.report("aggregate__good", run_id)
    assert [s["step"] for s in report["steps"]] == ["collect", "transform", "index", "rdf", "publish"]
    outcomes = {s["step"]: (s["outcome"], s["first_errors"]) for s in report["steps"]}
    # the publisher covers every registered source; the other one has not been harvested yet
    assert outcomes == {
        "collect": ("finished", []),
        "transform": ("finished", []),
        "index": ("finished", []),
        "rdf": ("finished", []),
        "publish": (
            "finished_with_record_errors",
            ["bad: nothing harvested yet (bad/oai_dc/store/native); not published"],
        ),
    }

    from mdstore import UnitKey, open_store
    from provision.oai import PublisherIndex
    from provision.registry import open_index

    with open_store(f"sqlite:///{var / 'mdstore.sqlite'}") as store:
        native = store.version(store.current_version(UnitKey("good", "oai_dc")))
        transformed = store.version(store.current_version(UnitKey("good", "PE", "store", "transformed")))
        assert native.stats["present"] == RECORDS
        assert transformed.stats["present"] == RECORDS
        assert transformed.report["source_version"] == native.id
        assert transformed.report["run"]["run_id"] == run_id  # the run report is kept with the data
    index = open_index(f"sqlite:///{var / 'index.sqlite'}")
    try:
        assert index.count("good") == RECORDS
    finally:
        index.close()
    publisher = PublisherIndex(var / "oai.sqlite")
    try:
        snapshot = publisher.current()
        assert snapshot is not None
        assert publisher.count(snapshot, "oai_dc", None, None, None) == RECORDS
    finally:
        publisher.close()


def test_a_failed_step_fails_the_run_and_the_report_says_which_and_why(airflow, hook) -> None:
    server, var = airflow
    server.wait_for_dag("aggregate__bad")
    started = time.monotonic()
    run_id = server.trigger("aggregate__bad", {"mode": "full"})
    state = server.wait_for_run("aggregate__bad", run_id)
    print(f"failing run through the scheduler: {time.monotonic() - started:.1f} s")
    states = server.task_states("aggregate__bad", run_id)
    assert state == "failed", states
    assert states["finish_index"] == ["failed"], states
    assert states["publish"] == ["upstream_failed"], states
    assert states["report"] == ["success"], states
    for step in STEPS[:9]:
        assert set(states[step]) == {"success"}, (step, states)

    report = server.report("aggregate__bad", run_id)
    steps = {s["step"]: s for s in report["steps"]}
    assert list(steps) == ["collect", "transform", "index", "rdf"]  # the RDF load runs beside the index
    assert steps["rdf"]["outcome"] == "finished", steps["rdf"]
    assert steps["index"]["outcome"] == "failed"
    assert steps["index"]["errors"] == RECORDS
    assert "no main entity" in " ".join(steps["index"]["first_errors"]), steps["index"]
    assert steps["index"]["message"] == (
        f"{RECORDS} of {RECORDS} records failed (100.0% > 5.0%); the index was left as it was "
        "(no sweep; the state was not advanced)"
    )
    # the DAG's failure callback (run by the dag-processor) posts the run to the webhook, once
    deadline = time.monotonic() + 60
    while not hook.posts and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(3)  # a second message would come about now
    assert len(hook.posts) == 1, hook.posts
    posted = hook.posts[0]["json"]
    assert (posted["datasource"], posted["dag_id"], posted["run_id"]) == ("bad", "aggregate__bad", run_id)
    assert posted["failed_steps"] == [
        {
            "step": "index",
            "message": steps["index"]["message"],
            "first_errors": steps["index"]["first_errors"],
        }
    ]
    assert posted["report"]["steps"] == report["steps"]

    from provision.registry import open_index

    index = open_index(f"sqlite:///{var / 'index.sqlite'}")
    try:
        assert index.count("bad") == 0  # nothing of the failed feed is visible
        assert index.count("good") == RECORDS  # and the other source is untouched
    finally:
        index.close()


def current_versions(var: Path) -> tuple[str, str]:
    """(native, transformed) current versions of the good source."""
    from mdstore import UnitKey, open_store

    with open_store(f"sqlite:///{var / 'mdstore.sqlite'}") as store:
        return (
            store.current_version(UnitKey("good", "oai_dc")),
            store.current_version(UnitKey("good", "PE", "store", "transformed")),
        )


def transformed_state(var: Path) -> tuple[dict[str, Any], dict[str, Any], str]:
    """The current transformed version's stats and report, and its first record's body."""
    from mdstore import UnitKey, open_store

    unit = UnitKey("good", "PE", "store", "transformed")
    with open_store(f"sqlite:///{var / 'mdstore.sqlite'}") as store:
        info = store.version(store.current_version(unit))
        with store.reader(unit) as reader:
            body = next(iter(reader.records(limit=1))).body
    return info.stats, info.report, body.decode() if isinstance(body, bytes) else body


def test_a_changed_profile_reprocesses_the_source_without_harvesting(airflow) -> None:
    server, var = airflow
    server.wait_for_dag("reprocess__good")
    server.wait_for_dag("contentcloud_config_watch")
    native, transformed = current_versions(var)  # left by the full run above
    assert "https://changed.example/pe/" not in transformed_state(var)[2]
    server.request("PATCH", "/api/v2/dags/reprocess__good", {"is_paused": False})
    before = len(server.wait_for_runs("reprocess__good", 0))
    # the first watch records the digests; a source seen for the first time is not announced
    first = server.trigger("contentcloud_config_watch", {})
    assert server.wait_for_run("contentcloud_config_watch", first) == "success"

    registry = Path(server.env["CONTENTCLOUD_REGISTRY"])
    data = yaml.safe_load((registry / "good.yaml").read_text())
    data["transform"]["steps"][0]["params"] = {"base": "https://changed.example/pe/"}
    (registry / "good.yaml").write_text(yaml.safe_dump(data))
    started = time.monotonic()
    second = server.trigger("contentcloud_config_watch", {})
    assert server.wait_for_run("contentcloud_config_watch", second) == "success"
    runs = server.wait_for_runs("reprocess__good", before + 1)
    print(f"config change to reprocessed: {time.monotonic() - started:.1f} s")
    assert len(runs) == before + 1, runs
    run = runs[-1]
    states = server.task_states("reprocess__good", run["dag_run_id"])
    assert run["state"] == "success", (states, server.tail())
    assert run["run_type"] == "asset_triggered"
    assert "collect" not in states
    assert all(set(s) == {"success"} for s in states.values()), states

    events = server.asset_events("contentcloud://good/config")
    assert len(events) == 1, events
    assert events[0]["source_dag_id"] == "contentcloud_config_watch"
    assert events[0]["extra"]["profile"] == "good.yaml"
    assert events[0]["extra"]["previous"] != events[0]["extra"]["digest"]

    new_native, new_transformed = current_versions(var)
    assert new_native == native  # no harvest
    assert new_transformed != transformed
    stats, report, body = transformed_state(var)
    assert report["source_version"] == native
    assert stats["present"] == RECORDS and stats["updated"] == RECORDS  # every record, with the new params
    assert "https://changed.example/pe/" in body
    assert [s["step"] for s in report["run"]["steps"]] == ["transform", "index", "rdf", "publish"]
    assert report["run"]["run_id"] == run["dag_run_id"]
    from provision.registry import open_index

    index = open_index(f"sqlite:///{var / 'index.sqlite'}")
    try:
        assert index.count("good") == RECORDS
    finally:
        index.close()
    # the reprocess announced the transformed version it committed
    unit_events = server.wait_for_asset_event("contentcloud://good/PE/store/transformed", new_transformed)
    assert unit_events[-1]["extra"]["version"] == new_transformed
    assert unit_events[-1]["source_dag_id"] == "reprocess__good"


def test_a_cli_harvest_announces_its_commit_and_the_source_is_reprocessed(airflow, repository) -> None:
    server, var = airflow
    server.request("PATCH", "/api/v2/dags/reprocess__good", {"is_paused": False})
    before = len(server.wait_for_runs("reprocess__good", 0))
    native, transformed = current_versions(var)
    repository.add("oai:test:99999", repository.now + timedelta(minutes=1), "A record added later")
    repository.now = repository.now + timedelta(hours=1)

    password = json.loads((server.home / "simple_auth_manager_passwords.json.generated").read_text())["admin"]
    env = {
        **server.env,
        "CONTENTCLOUD_AIRFLOW_API": server.url,
        "CONTENTCLOUD_AIRFLOW_USER": "admin",
        "CONTENTCLOUD_AIRFLOW_PASSWORD": password,
    }
    started = time.monotonic()
    result = subprocess.run(
        [str(Path(sys.executable).with_name("contentcloud")), "harvest", "good", "--incremental"],
        env=env,
        cwd=server.home,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "warning" not in result.stderr, result.stderr
    new_native = current_versions(var)[0]
    assert new_native != native

    runs = server.wait_for_runs("reprocess__good", before + 1)
    events = [
        e for e in server.asset_events("contentcloud://good/oai_dc/store/native") if e["extra"].get("source")
    ]
    assert [(e["extra"]["source"], e["extra"]["version"], e["extra"]["added"]) for e in events] == [
        ("cli", new_native, 1)
    ]
    print(f"CLI commit to reprocessed: {time.monotonic() - started:.1f} s")
    run = runs[-1]
    states = server.task_states("reprocess__good", run["dag_run_id"])
    assert run["state"] == "success", (states, server.tail())
    assert all(set(s) == {"success"} for s in states.values()), states
    stats, report, _ = transformed_state(var)
    assert report["source_version"] == new_native
    assert stats["present"] == RECORDS + 1
    assert current_versions(var)[1] != transformed


def test_a_cli_commit_with_airflow_unreachable_warns_and_keeps_the_commit(
    airflow, repository, tmp_path
) -> None:
    """Airflow unreachable: the harvest's commit stands, one warning line says the event was not sent."""
    server, var = airflow
    native = current_versions(var)[0]
    repository.add("oai:test:99998", repository.now + timedelta(minutes=1), "Another record")
    repository.now = repository.now + timedelta(hours=1)
    closed = free_port()
    env = {
        **server.env,
        "CONTENTCLOUD_AIRFLOW_API": f"http://127.0.0.1:{closed}",
        "CONTENTCLOUD_AIRFLOW_TOKEN": "t",
    }
    result = subprocess.run(
        [str(Path(sys.executable).with_name("contentcloud")), "harvest", "good", "--incremental"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert current_versions(var)[0] != native
    unit = "contentcloud://good/oai_dc/store/native"
    assert result.stderr.strip().splitlines()[-1] == (
        f"warning: Airflow API http://127.0.0.1:{closed}: the event on {unit} was not sent (ConnectionError)"
    )
