"""The pipeline bench's Airflow mode: the same records through a running Airflow (``airflow
standalone``: API server, scheduler, DAG processor, LocalExecutor), triggered through the REST API
the way the README does, timed from the trigger to the run's end.

Airflow is started before the clock runs (its start-up is not the pipeline's cost) and stopped
after; the CPU seconds are those of every Airflow process (scheduler, task runners, index builders),
read from ``RUSAGE_CHILDREN`` once they have exited, so they include Airflow's own overhead.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import yaml

PROJECT = Path(__file__).resolve().parent.parent
#: a full run of every step (see the README's Airflow walk)
FULL_RUN = {"mode": "full", "force": True, "full_index": True}


def run_under_airflow(tmp: Path, profile: dict, *, timeout: float = 3600.0) -> dict:
    """Run ``aggregate__<id>`` for ``profile`` under a fresh ``airflow standalone``; returns the
    wall time of the run, the Airflow processes' CPU seconds and each task's duration."""
    from tests.dags.test_scheduler import Airflow, free_port

    home, registry, var = tmp / "airflow", tmp / "airflow-registry", tmp / "airflow-var"
    for folder in (home, registry, var):
        folder.mkdir()
    (registry / f"{profile['id']}.yaml").write_text(yaml.safe_dump(profile))
    port = free_port()
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT / "dags"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(PROJECT),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        "CONTENTCLOUD_REGISTRY": str(registry),
        "CONTENTCLOUD_VAR": str(var),
        "CONTENTCLOUD_MDSTORE": f"sqlite:///{var / 'mdstore.sqlite'}",
        "CONTENTCLOUD_INDEX": f"sqlite:///{var / 'index.sqlite'}",
    }
    migrate = subprocess.run(
        [str(Path(sys.executable).with_name("airflow")), "db", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if migrate.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed: {migrate.stderr[-2000:]}")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    server = Airflow(home, env, port)
    try:
        server.wait_until_ready()
        for name, pool in json.loads((PROJECT / "dags" / "pools.json").read_text()).items():
            body = {"name": name, "slots": pool["slots"], "description": pool.get("description", "")}
            server.request("POST", "/api/v2/pools", body)
        dag_id = f"aggregate__{profile['id']}"
        server.wait_for_dag(dag_id)
        started = time.perf_counter()
        run_id = server.trigger(dag_id, FULL_RUN)
        state = None
        while time.perf_counter() - started < timeout:
            try:
                state = server.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"]
            except OSError as exc:  # a busy API server may not answer one poll in 30 s: ask again
                print(f"  (poll of the run's state failed: {exc}; asking again)", flush=True)
                time.sleep(5)
                continue
            if state in ("success", "failed"):
                break
            time.sleep(1)
        wall = time.perf_counter() - started
        listed = server.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=100")
        tasks: dict[str, float] = {}
        for ti in listed["task_instances"]:
            tasks[ti["task_id"]] = tasks.get(ti["task_id"], 0.0) + float(ti.get("duration") or 0.0)
    finally:
        server.stop()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {"state": state, "wall": wall, "cpu": cpu, "tasks": tasks}
