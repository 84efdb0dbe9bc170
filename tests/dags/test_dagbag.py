"""The DAG files import without errors, build one DAG per example profile with the expected task
graph, and stay cheap to parse (no heavy libraries imported at parse time)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from tests.dags.conftest import DAGS, PROJECT

pytestmark = pytest.mark.integration

AGGREGATE_EDGES = {
    ("begin", "collect"),
    ("begin", "report"),
    ("collect", "check_collected"),
    ("collect", "report"),
    ("check_collected", "plan_transform"),
    ("plan_transform", "transform_part"),
    ("transform_part", "finish_transform"),
    ("plan_transform", "finish_transform"),  # the finish reads the plan from the planning task
    ("finish_transform", "check_transformed"),
    ("finish_transform", "report"),
    ("check_transformed", "plan_index"),
    ("plan_index", "index_part"),
    ("index_part", "finish_index"),
    ("plan_index", "finish_index"),
    ("finish_index", "publish"),
    ("finish_index", "report"),
    ("check_transformed", "plan_rdf"),
    ("plan_rdf", "rdf_part"),
    ("rdf_part", "finish_rdf"),
    ("plan_rdf", "finish_rdf"),
    ("finish_rdf", "report"),
    ("publish", "report"),
}


def write_profiles(directory: Path, ids: list[str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for n, ds in enumerate(ids):
        profile = {
            "id": ds,
            "name": ds.title(),
            "nsprefix": ds.replace("-", "_"),
            "api": {
                "protocol": "oai",
                "baseurl": f"http://127.0.0.1:{9000 + n}/oai",
                "metadata_prefix": "oai_dc",
            },
            "schedule": "@daily" if n == 0 else "0 3 * * 1",
            "transform": {"steps": [{"type": "xslt", "mapping": "oai_dc2pe.xsl"}]},
        }
        if n == 0:
            profile["limits"] = {"task_timeout": 900}
        (directory / f"{ds}.yaml").write_text(yaml.safe_dump(profile))
    (directory / "disabled.yaml").write_text(
        yaml.safe_dump(
            {
                "id": "off",
                "name": "Off",
                "nsprefix": "off",
                "enabled": False,
                "api": {"protocol": "oai", "baseurl": "http://127.0.0.1:1/oai", "metadata_prefix": "oai_dc"},
            }
        )
    )


@pytest.fixture
def dagbag(airflow_home, tmp_path, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    registry = tmp_path / "registry"
    write_profiles(registry, ["alpha", "beta-2"])
    monkeypatch.setenv("CONTENTCLOUD_REGISTRY", str(registry))
    return (
        DagBag(str(DAGS), include_examples=False)
        if "include_examples" in DagBag.__init__.__code__.co_varnames
        else DagBag(str(DAGS))
    )


def test_one_dag_per_enabled_profile_and_the_maintenance_dag(dagbag):
    assert dagbag.import_errors == {}
    assert sorted(dagbag.dag_ids) == [
        "aggregate__alpha",
        "aggregate__beta-2",
        "contentcloud_config_watch",
        "contentcloud_maintenance",
        "reprocess__alpha",
        "reprocess__beta-2",
    ]


def test_reprocess_dags_are_scheduled_on_the_config_and_native_assets(dagbag):
    dag = dagbag.dags["reprocess__alpha"]
    uris = sorted(asset.uri for asset in dag.timetable.asset_condition.objects)
    assert uris == ["contentcloud://alpha/config", "contentcloud://alpha/oai_dc/store/native"]
    assert "collect" not in dag.task_dict
    assert sorted(dag.task_dict["check_source"].downstream_task_ids) == ["plan_transform"]
    report = dagbag.dags["aggregate__alpha"].task_dict["report"]
    assert [outlet.name for outlet in report.outlets] == ["contentcloud_units"]
    watch = dagbag.dags["contentcloud_config_watch"].task_dict["detect_config_changes"]
    assert [outlet.name for outlet in watch.outlets] == ["contentcloud_config"]


def test_aggregate_dag_graph_schedule_and_limits(dagbag):
    dag = dagbag.dags.get("aggregate__alpha")
    edges = {
        (up, down)
        for down_id, task in dag.task_dict.items()
        for up in task.upstream_task_ids
        for down in [down_id]
    }
    assert edges == AGGREGATE_EDGES
    assert dag.max_active_runs == 1
    assert dag.timetable.expression in ("@daily", "0 0 * * *")
    assert dagbag.dags.get("aggregate__beta-2").timetable.expression == "0 3 * * 1"
    assert dag.task_dict["collect"].pool == "contentcloud_mdstore"
    for step in ("plan_index", "index_part", "finish_index"):
        assert dag.task_dict[step].pool == "contentcloud_solr"
    assert dag.task_dict["transform_part"].pool == "contentcloud_mdstore"
    assert dag.task_dict["collect"].retries == 3 and dag.task_dict["collect"].retry_exponential_backoff
    assert dag.task_dict["report"].is_teardown  # runs whatever happened, without hiding a failure
    assert dag.task_dict["begin"].is_setup  # and its setup cannot fail, so the report always runs
    assert set(dag.params.keys()) == {"mode", "from", "until", "force", "full_index", "full_rdf"}
    # no step can run forever: the profile's limits.task_timeout, else six hours
    assert {task.execution_timeout for task in dag.tasks} == {timedelta(seconds=900)}
    other = dagbag.dags.get("aggregate__beta-2")
    assert {task.execution_timeout for task in other.tasks} == {timedelta(hours=6)}


def test_maintenance_dag_graph(dagbag):
    dag = dagbag.dags.get("contentcloud_maintenance")
    assert set(dag.task_dict) == {"garbage_collect", "check_index", "stale_sources"}
    assert dag.task_dict["check_index"].upstream_task_ids == {"garbage_collect"}
    assert dag.task_dict["stale_sources"].upstream_task_ids == {"garbage_collect"}
    assert {task.execution_timeout for task in dag.tasks} == {timedelta(hours=6)}


def load_dag_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("contentcloud_dags_test", DAGS / "contentcloud_dags.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tasks_use_the_settings_the_dags_were_built_from_whatever_the_working_directory(
    airflow_home, tmp_path, monkeypatch
):
    for name in ("REGISTRY", "VAR", "MDSTORE", "INDEX"):
        monkeypatch.delenv(f"CONTENTCLOUD_{name}", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_CONTENTCLOUD_MDSTORE", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_CONTENTCLOUD_INDEX", raising=False)
    monkeypatch.chdir(tmp_path)  # a worker's working directory is not the project
    module = load_dag_module()
    settings = module._settings()
    assert module._registry_dir() == PROJECT / "registry"
    assert Path(settings.registry) == PROJECT / "registry"
    assert settings.mdstore == f"sqlite:///{PROJECT / 'var' / 'mdstore.sqlite'}"
    assert settings.index == f"sqlite:///{PROJECT / 'var' / 'index.sqlite'}"
    # a connection overrides the environment
    monkeypatch.setenv("AIRFLOW_CONN_CONTENTCLOUD_INDEX", "http://127.0.0.1:8983/solr/pe")
    assert module._settings().index == "http://127.0.0.1:8983/solr/pe"


def test_a_connection_airflow_cannot_read_fails_the_task_instead_of_falling_back(
    airflow_home, tmp_path, monkeypatch
):
    from mdstore.errors import ConfigError

    module = load_dag_module()
    monkeypatch.setenv("AIRFLOW_CONN_CONTENTCLOUD_MDSTORE", '{"conn_type": ')
    with pytest.raises(ConfigError) as caught:
        module._settings()
    assert str(caught.value) == (
        "AIRFLOW_CONN_CONTENTCLOUD_MDSTORE: mdstore: the connection is set but Airflow cannot read it "
        "(not a URI or JSON connection); fix or unset it"
    )
    monkeypatch.setenv("AIRFLOW_CONN_CONTENTCLOUD_MDSTORE", "mongo://127.0.0.1:27017/db")
    with pytest.raises(ConfigError) as caught:
        module._settings()
    assert "has no supported scheme" in str(caught.value)


def test_parsing_imports_no_heavy_library(airflow_home, tmp_path):
    """A fresh interpreter imports the DAG file: lxml, saxonche, pymongo, pysolr stay unloaded."""
    registry = tmp_path / "registry"
    write_profiles(registry, ["alpha"])
    dag_file = str(DAGS / "contentcloud_dags.py")
    code = (
        "import importlib.util, json, sys\n"
        f"spec = importlib.util.spec_from_file_location('contentcloud_dags', {dag_file!r})\n"
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        "heavy = ['lxml', 'saxonche', 'pymongo', 'pysolr', 'pyoxigraph', 'rdflib', 'elementpath']\n"
        "print(json.dumps({'loaded': [m for m in heavy if m in sys.modules],\n"
        "                  'dags': sorted(k for k in vars(module) if k.startswith('aggregate__'))}))\n"
    )
    env = {**os.environ, "CONTENTCLOUD_REGISTRY": str(registry), "PYTHONPATH": str(PROJECT)}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"loaded": [], "dags": ["aggregate__alpha"]}
