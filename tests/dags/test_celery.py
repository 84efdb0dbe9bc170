"""``aggregate__<id>`` scaled out on CeleryExecutor: two ``airflow celery worker`` processes on a
real Redis broker (``redis-server`` from the system packages, started by the test), beside the
API server, scheduler and DAG processor, each component started as its own process the way a
multi-host deployment runs them (``airflow standalone`` forces LocalExecutor).

Each worker runs one task at a time and reserves no more (concurrency 1, prefetch 1), so the
mapped ``transform_part`` and ``index_part`` instances queued together are shared between the two
(six of each, as one worker may be held up by a slow task while the other takes a few); each task
instance's ``hostname`` (read through the REST API) says which worker ran it. Celery's
results go to a SQLite database beside the metadata DB (``db+sqlite://``): Airflow 3.3 accepts
SQLite with CeleryExecutor, as the workers reach the metadata only through the execution API.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.dags.conftest import DAGS, PROJECT, airflow_env
from tests.dags.test_scheduler import RECORDS, STARTUP_TIMEOUT, STEPS, Airflow, free_port, profile
from tests.servers import in_ci, start_or_skip
from tests.servers.oai_faults import FaultyRepository, fault_server
from tests.servers.redis_server import redis_server

pytestmark = pytest.mark.integration

WORKERS = ("worker-a", "worker-b")
PER_PART = 4
PARTS = RECORDS // PER_PART


def _celery_available() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(name) for name in ("celery", "redis", "airflow.providers.celery"))


class CeleryAirflow(Airflow):
    """api-server, scheduler, dag-processor and one ``airflow celery worker`` per name, each in a
    process group of its own with its own log; the REST client of :class:`Airflow`."""

    def __init__(self, home: Path, env: dict[str, str], port: int, workers: tuple[str, ...]) -> None:
        self.home, self.env, self.port = home, env, port
        self.url = f"http://127.0.0.1:{port}"
        self.token = None
        self.processes: dict[str, subprocess.Popen] = {}
        airflow = str(Path(sys.executable).with_name("airflow"))
        self._start("api-server", [airflow, "api-server"], env)
        self._start("scheduler", [airflow, "scheduler"], env)
        self._start("dag-processor", [airflow, "dag-processor"], env)
        for name in workers:
            worker_env = {
                **env,
                "CONTENTCLOUD_TEST_WORKER": name,
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": "tests.dags.worker_hostname.from_environment",
            }
            # --skip-serve-logs: two log servers on one machine would fight over port 8793
            command = [airflow, "celery", "worker", "--celery-hostname", f"{name}@%h", "--concurrency", "1"]
            command += ["--skip-serve-logs", "--without-mingle", "--without-gossip"]
            self._start(name, command, worker_env)
        self.process = self.processes["api-server"]  # what Airflow.wait_until_ready watches

    def _start(self, name: str, command: list[str], env: dict[str, str]) -> None:
        log = (self.home / f"{name}.log").open("wb")
        self.processes[name] = subprocess.Popen(
            command,
            env=env,
            cwd=self.home,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    def stop(self) -> None:
        for process in self.processes.values():
            self._signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for process in self.processes.values():
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for process in self.processes.values():
            self._signal_group(process, signal.SIGKILL)  # a worker's task runners may outlive it
            process.wait(10)

    @staticmethod
    def _signal_group(process: subprocess.Popen, signum: int) -> None:
        try:
            os.killpg(process.pid, signum)
        except ProcessLookupError:
            pass

    def tail(self, lines: int = 40) -> str:
        parts = []
        for name in self.processes:
            text = (self.home / f"{name}.log").read_text(encoding="utf-8", errors="replace")
            parts.append(f"--- {name} ---\n" + "\n".join(text.splitlines()[-lines:]))
        return "\n".join(parts)

    def wait_for_workers(self) -> None:
        """Each worker has said ``celery@… ready`` (before that, one worker would take every part)."""
        deadline = time.monotonic() + STARTUP_TIMEOUT
        waiting = [name for name in self.processes if name in WORKERS]
        while waiting:
            for name in list(waiting):
                if self.processes[name].poll() is not None:
                    raise AssertionError(f"celery worker {name} exited:\n{self.tail()}")
                log = (self.home / f"{name}.log").read_text(errors="replace")
                if re.search(rf"\b{name}@\S+ ready\.", log):
                    waiting.remove(name)
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"celery workers {waiting} not ready in {STARTUP_TIMEOUT:g} s:\n{self.tail()}"
                )
            time.sleep(1)

    def hostnames(self, dag_id: str, run_id: str) -> dict[str, list[tuple[int, str]]]:
        """task id → (map index, hostname) of its instances."""
        listed = self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=100")
        hosts: dict[str, list[tuple[int, str]]] = {}
        for ti in listed["task_instances"]:
            hosts.setdefault(ti["task_id"], []).append((ti["map_index"], ti["hostname"]))
        return {task: sorted(entries) for task, entries in hosts.items()}


@pytest.fixture(scope="module")
def source() -> Iterator[str]:
    repo = FaultyRepository.with_records(RECORDS, page_size=10)
    with fault_server(repo) as server:
        yield server.url


@pytest.fixture(scope="module")
def broker(tmp_path_factory) -> Iterator[str]:
    if not _celery_available():
        message = "the Celery provider is not installed (pip install -e '.[airflow]')"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    context = redis_server(tmp_path_factory.mktemp("redis"))
    server = start_or_skip("redis-server", context.__enter__)
    try:
        yield server.url
    finally:
        context.__exit__(None, None, None)


@pytest.fixture(scope="module")
def celery_airflow(
    airflow_home: Path, source: str, broker: str, tmp_path_factory
) -> Iterator[tuple[CeleryAirflow, Path]]:
    work = tmp_path_factory.mktemp("celery")
    registry, var = work / "registry", work / "var"
    registry.mkdir()
    # parts of 4 records: 6 transform and 6 index parts, so that a worker held up by a slow task
    # (a task process starts in 1-6 s here) cannot leave all of them to the other
    transform = {"steps": [{"type": "xslt", "mapping": "oai_dc2pe.xsl"}], "records_per_part": PER_PART}
    scaled = profile("scaled", source, transform=transform, index={"records_per_part": PER_PART})
    (registry / "scaled.yaml").write_text(yaml.safe_dump(scaled))
    port = free_port()
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        **airflow_env(airflow_home),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(PROJECT),
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CELERY__BROKER_URL": broker,
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+sqlite:///{airflow_home / 'celery-results.db'}",
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",
        "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER": "1",
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
    server = CeleryAirflow(airflow_home, env, port, WORKERS)
    try:
        server.wait_until_ready()
        server.wait_for_workers()
        seconds = time.monotonic() - started
        print(f"api-server, scheduler, dag-processor and 2 celery workers ready in {seconds:.1f} s")
        created = []
        for name, pool in json.loads((DAGS / "pools.json").read_text()).items():
            body = {"name": name, "slots": pool["slots"], "description": pool.get("description", "")}
            try:
                server.request("POST", "/api/v2/pools", body)
                created.append(name)
            except urllib.error.HTTPError as exc:  # the session's DB has it when test_scheduler ran
                if exc.code != 409:
                    raise
        yield server, var
        for name in created:  # the session's metadata DB as it was: test_scheduler creates them too
            server.request("DELETE", f"/api/v2/pools/{name}")
    finally:
        server.stop()


def test_mapped_parts_run_on_both_celery_workers(celery_airflow) -> None:
    server, var = celery_airflow
    server.wait_for_dag("aggregate__scaled")
    started = time.monotonic()
    run_id = server.trigger("aggregate__scaled", {"mode": "full"})
    state = server.wait_for_run("aggregate__scaled", run_id)
    states = server.task_states("aggregate__scaled", run_id)
    assert state == "success", (states, server.tail())
    assert sorted(states) == sorted(STEPS)
    assert all(set(s) == {"success"} for s in states.values()), states
    print(f"full run on CeleryExecutor: {time.monotonic() - started:.1f} s")

    hosts = server.hostnames("aggregate__scaled", run_id)
    print(f"task instances per worker: {hosts}")
    assert [index for index, _ in hosts["transform_part"]] == list(range(PARTS))
    assert [index for index, _ in hosts["index_part"]] == list(range(PARTS))
    # every task ran on one of the two workers, and each worker ran mapped parts
    assert {host for entries in hosts.values() for _, host in entries} <= set(WORKERS), hosts
    parts = [host for task in ("transform_part", "index_part") for _, host in hosts[task]]
    shares = {worker: parts.count(worker) for worker in WORKERS}
    print(f"mapped parts per worker: {shares}")
    assert min(shares.values()) > 0, hosts

    report: dict[str, Any] = server.report("aggregate__scaled", run_id)
    outcomes = {s["step"]: s["outcome"] for s in report["steps"]}
    assert outcomes == dict.fromkeys(["collect", "transform", "index", "rdf", "publish"], "finished")
    from mdstore import UnitKey, open_store
    from provision.registry import open_index

    with open_store(f"sqlite:///{var / 'mdstore.sqlite'}") as store:
        transformed = store.version(store.current_version(UnitKey("scaled", "PE", "store", "transformed")))
        assert transformed.stats["present"] == RECORDS
    index = open_index(f"sqlite:///{var / 'index.sqlite'}")
    try:
        assert index.count("scaled") == RECORDS
    finally:
        index.close()
