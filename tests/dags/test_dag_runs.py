"""``dag.test()`` runs of ``aggregate__<id>`` against a local OAI-PMH source: on the embedded
backends and on the real test servers (MongoDB-wire MDStore, Solr 9 index)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from tests.dags.conftest import DAGS
from tests.servers.oai_faults import FaultyRepository, fault_server

pytestmark = pytest.mark.integration


def write_profile(
    registry: Path,
    baseurl: str,
    *,
    min_records: int | None = None,
    records_per_part: int | None = None,
    index_records_per_part: int | None = None,
    schedule: dict | None = None,
) -> None:
    registry.mkdir(parents=True, exist_ok=True)
    profile = {
        "id": "src",
        "name": "Local source",
        "nsprefix": "src",
        "api": {
            "protocol": "oai",
            "baseurl": baseurl,
            "metadata_prefix": "oai_dc",
            "max_retries": 1,
            "backoff": 0,
            "max_backoff": 0,
            "timeout": 5,
        },
        "transform": {"steps": [{"type": "xslt", "mapping": "oai_dc2pe.xsl"}]},
    }
    if min_records is not None:
        profile["limits"] = {"min_records": min_records}
    if records_per_part is not None:
        profile["transform"]["records_per_part"] = records_per_part
    if index_records_per_part is not None:
        profile["index"] = {"records_per_part": index_records_per_part}
        profile["rdf"] = {"records_per_part": index_records_per_part}
    if schedule is not None:
        profile["schedule"] = schedule
    (registry / "src.yaml").write_text(yaml.safe_dump(profile))


def load_dag(dag_id: str):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(DAGS))
    assert bag.import_errors == {}
    return bag.dags[dag_id]


def report_of(dagrun) -> dict:
    """The report task's return value (the run report) from the metadata database."""
    import json

    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(dag_id=dagrun.dag_id, run_id=dagrun.run_id, task_id="report", key="return_value")
            .one()
        )
        value = row.value
    return json.loads(value) if isinstance(value, str) else value


def run(dag, **conf):
    """One ``dag.test()`` run; returns {task_id: state} (mapped tasks: their states joined)."""
    state, tasks, _ = run_keeping(dag, **conf)
    return state, tasks


def run_keeping(dag, **conf):
    """Like :func:`run`, and the DagRun too."""
    dagrun = dag.test(run_conf=conf or None)
    states: dict[str, str] = {}
    for ti in dagrun.get_task_instances():
        states.setdefault(ti.task_id, [])
        states[ti.task_id].append(str(ti.state))
    return str(dagrun.state), {k: ",".join(sorted(v)) for k, v in states.items()}, dagrun


@pytest.fixture
def environment(airflow_home, tmp_path, monkeypatch):
    """Settings for the tasks (they read the environment, as in production)."""
    registry = tmp_path / "registry"
    monkeypatch.setenv("CONTENTCLOUD_REGISTRY", str(registry))
    monkeypatch.setenv("CONTENTCLOUD_VAR", str(tmp_path / "var"))
    monkeypatch.setenv("CONTENTCLOUD_MDSTORE", f"sqlite:///{tmp_path / 'var' / 'mdstore.sqlite'}")
    monkeypatch.setenv("CONTENTCLOUD_INDEX", f"sqlite:///{tmp_path / 'var' / 'index.sqlite'}")
    return registry


def store_and_index():
    from contentcloud.settings import load_settings
    from mdstore import open_store
    from provision.registry import open_index

    settings = load_settings()
    return open_store(settings.mdstore), open_index(settings.index)


def check_full_run(expected_present: int, expected_deleted: int) -> dict:
    from mdstore import UnitKey

    store, index = store_and_index()
    with store:
        native = store.version(store.current_version(UnitKey("src", "oai_dc")))
        transformed = store.version(store.current_version(UnitKey("src", "PE", "store", "transformed")))
        assert (native.stats["present"], native.stats["deleted"]) == (expected_present, expected_deleted)
        assert transformed.stats["present"] == expected_present
        assert transformed.report["source_version"] == native.id
        report = transformed.report["run"]
        assert [s["step"] for s in report["steps"]] == ["collect", "transform", "index", "rdf", "publish"]
        assert native.report["run"] == report  # the run report is kept with every version it produced
    try:
        assert index.count("src") == expected_present
    finally:
        index.close()
    return report


def test_a_run_collects_transforms_indexes_and_publishes_then_skips_when_nothing_changed(environment):
    repo = FaultyRepository.with_records(30, deleted={4, 9}, page_size=7)
    with fault_server(repo) as server:
        write_profile(environment, server.url)
        dag = load_dag("aggregate__src")
        state, tasks = run(dag, mode="full")
        assert state == "success", tasks
        assert set(tasks.values()) == {"success"}
        check_full_run(28, 2)

        # nothing new at the source: downstream steps are skipped, the report still runs
        state, tasks = run(dag)
        assert state == "success", tasks
        assert tasks["collect"] == "success" and tasks["check_collected"] == "success"
        for skipped in (
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
        ):
            assert tasks[skipped] == "skipped", (skipped, tasks)
        assert tasks["report"] == "success"

        # one record changes and one is withdrawn: an incremental run carries both through
        repo.add("oai:test:00003", repo.now + timedelta(minutes=1), "A changed title")
        repo.add("oai:test:00005", repo.now + timedelta(minutes=1), "Withdrawn", deleted=True)
        repo.now = repo.now + timedelta(hours=1)
        state, tasks = run(dag)
        assert state == "success", tasks
        assert set(tasks.values()) == {"success"}
        report = check_full_run(27, 3)
        collect = report["steps"][0]
        assert (collect["updated"], collect["deleted"]) == (1, 1)

    # the three DAG runs in the run history of the datasource pages (kept beyond the MDStore's GC)
    from contentcloud.history import RunHistory
    from contentcloud.settings import load_settings

    runs = RunHistory.from_settings(load_settings()).runs("src")
    assert [(r["outcome"], r["records_in"], r["deleted"]) for r in runs] == [
        ("finished", 30, 2),
        ("finished", 30, 0),  # the test repository answers every harvest with all its records
        ("finished", 30, 1),
    ]
    assert runs[-1]["run_id"] == report["run_id"]
    assert [s["step"] for s in runs[0]["steps"]] == ["collect", "transform", "index", "rdf", "publish"]


def mapped(dagrun, task_id: str) -> list[int]:
    """The map indexes of a mapped task's instances, all of which succeeded."""
    instances = [ti for ti in dagrun.get_task_instances() if ti.task_id == task_id]
    assert {str(ti.state) for ti in instances} == {"success"}, task_id
    return sorted(ti.map_index for ti in instances)


def test_a_large_source_is_transformed_and_indexed_by_several_mapped_tasks(environment):
    from contentcloud.datasources import DatasourceRegistry
    from contentcloud.pipeline.index import check_index
    from contentcloud.settings import load_settings
    from mdstore import UnitKey

    repo = FaultyRepository.with_records(45, deleted={7}, page_size=20)
    with fault_server(repo) as server:
        write_profile(environment, server.url, records_per_part=10, index_records_per_part=10)
        dag = load_dag("aggregate__src")
        dagrun = dag.test(run_conf={"mode": "full"})
        assert str(dagrun.state) == "success"
        assert mapped(dagrun, "transform_part") == [0, 1, 2, 3, 4]  # 45 records, 10 a part
        assert mapped(dagrun, "index_part") == [0, 1, 2, 3, 4]  # a first feed (refeed): 44 present
        assert mapped(dagrun, "rdf_part") == [0]  # a first load is a full one: one part switches it in
        report = check_full_run(44, 1)
        transform, indexed = report["steps"][1], report["steps"][2]
        assert (transform["read"], transform["added"], transform["deleted"]) == (45, 44, 1)  # all parts
        assert (indexed["outcome"], indexed["read"], indexed["written"]) == ("finished", 44, 44)

        # twelve records change: an incremental feed, split again (it reads the whole overlap)
        for i in range(20, 32):
            repo.add(f"oai:test:{i:05d}", repo.now + timedelta(minutes=1), f"Changed title {i}")
        repo.now = repo.now + timedelta(hours=1)
        dagrun = dag.test()
        assert str(dagrun.state) == "success"
        assert mapped(dagrun, "index_part") == [0, 1, 2, 3, 4]
        assert mapped(dagrun, "rdf_part") == [0, 1, 2, 3, 4]  # incremental: in place, by id range
        report = check_full_run(44, 1)
        assert report["steps"][2]["outcome"] == "finished"
        rdf = report["steps"][3]
        assert (rdf["step"], rdf["outcome"], rdf["read"], rdf["written"]) == ("rdf", "finished", 45, 44)
    store, index = store_and_index()
    with store:
        info = store.version(store.current_version(UnitKey("src", "PE", "store", "transformed")))
        assert info.stats["present"] == 44
        state = index.state("src")
        assert (state.mode, state.version, state.count) == ("incremental", info.id, 44)
        assert len(state.live_versions) == 2
        check = check_index(store, DatasourceRegistry(load_settings().registry).get("src"), index)
        assert check.outcome == "finished", check.message
        assert check.extra["index_count"] == 44
        assert index.select({"q": "title:changed", "rows": 0})["response"]["numFound"] == 12
    index.close()
    from contentcloud.pipeline.rdf import check_rdf, open_rdf_store
    from mdstore import open_store

    graph = open_rdf_store(load_settings())
    try:
        rdf_state = graph.state("src")
        assert (rdf_state.mode, rdf_state.version, rdf_state.records, rdf_state.loading) == (
            "incremental", info.id, 44, None)
        with open_store(load_settings().mdstore) as again:
            rdf_check = check_rdf(again, DatasourceRegistry(load_settings().registry).get("src"), graph)
        assert (rdf_check.outcome, rdf_check.errors) == ("finished", 0), rdf_check.message
    finally:
        graph.close()


def test_a_failed_index_part_fails_the_run_and_the_report_names_it(environment, monkeypatch):
    """One mapped index_part fails (its index went away): the run ends failed, the report runs and
    lists the failed part's step with its error, and nothing downstream pretends to have run."""
    import contentcloud.pipeline.tasks as tasks_module
    from mdstore.errors import IndexBackendError

    run_part = tasks_module.run_part_task

    def flaky(step, datasource_id, settings, spec):
        if step == "index" and spec.get("part") == 1:
            raise IndexBackendError("connection refused", target="http://127.0.0.1:1/solr/pe")
        return run_part(step, datasource_id, settings, spec)

    monkeypatch.setattr(tasks_module, "run_part_task", flaky)
    repo = FaultyRepository.with_records(25, page_size=20)
    with fault_server(repo) as server:
        write_profile(environment, server.url, index_records_per_part=10)
        dag = load_dag("aggregate__src")
        for task in dag.tasks:  # fail at once: dag.test() would otherwise wait out the retry delays
            task.retries = 0
        state, tasks, dagrun = run_keeping(dag, mode="full")
    assert state == "failed", tasks
    assert tasks["index_part"] == "failed,success,success", tasks
    assert (tasks["finish_index"], tasks["publish"]) == ("upstream_failed", "upstream_failed"), tasks
    assert tasks["report"] == "success", tasks
    steps = report_of(dagrun)["steps"]
    # the RDF store is loaded beside the index, so the index's failure does not stop it
    assert [s["step"] for s in steps] == ["collect", "transform", "index_part", "rdf"]
    assert steps[2]["outcome"] == "failed"
    assert steps[3]["outcome"] == "finished", steps[3]
    assert steps[2]["message"] == "IndexBackendError: http://127.0.0.1:1/solr/pe: connection refused"


def test_the_profiles_schedule_chooses_the_harvest_mode_of_a_scheduled_run(environment):
    from mdstore import UnitKey

    repo = FaultyRepository.with_records(12, page_size=5)
    with fault_server(repo) as server:
        write_profile(environment, server.url, schedule={"cron": "@daily", "incremental": False})
        dag = load_dag("aggregate__src")
        assert run(dag)[0] == "success"
        assert run(dag)[0] == "success"  # the default mode: as the schedule says, full again
        assert run(dag, mode="incremental")[0] == "success"  # chosen by hand: incremental
    with store_and_index()[0] as store:
        versions = store.versions(UnitKey("src", "oai_dc"))
        assert [v.mode for v in versions[-3:]] == ["full", "full", "incremental"]
        reports = [store.version(v.id).report["harvest"] for v in versions[-3:]]
        assert reports[2]["last_full_at"] == reports[1]["last_full_at"]  # carried by incrementals


def test_a_failed_harvest_keeps_the_committed_data_and_a_rerun_resumes(environment, monkeypatch):
    from mdstore import UnitKey

    repo = FaultyRepository.with_records(20, page_size=5)
    with fault_server(repo) as server:
        write_profile(environment, server.url)
        dag = load_dag("aggregate__src")
        for task in dag.tasks:  # fail at once: dag.test() would otherwise wait out the retry delays
            task.retries = 0
        assert run(dag, mode="full")[0] == "success"
        store, _ = store_and_index()
        with store:
            before = store.current_version(UnitKey("src", "oai_dc"))
        for i in range(20, 40):
            repo.add(f"oai:test:{i:05d}", repo.now + timedelta(minutes=i), f"Title {i}")
        repo.now = repo.now + timedelta(hours=1)
        for _ in range(8):  # the third page keeps failing past every retry
            repo.schedule(3, "drop")
        state, tasks, dagrun = run_keeping(dag)
        assert state == "failed" and tasks["collect"] in ("failed", "up_for_retry"), tasks
        assert tasks["report"] == "success", tasks
        # the report names the failed step, with its outcome and why
        [collect] = report_of(dagrun)["steps"]
        assert collect["step"] == "collect"
        assert collect["outcome"] == "failed_resumable"
        # resumable by the outcome (the retry resumes); no CLI flag in what Airflow reports
        assert collect["message"].endswith("the harvest stopped after page 2"), collect
        assert "--resume" not in collect["message"], collect
        assert collect["read"] == 10  # two pages of five were collected before the third failed
        with store_and_index()[0] as store:
            assert store.current_version(UnitKey("src", "oai_dc")) == before  # committed data untouched
            open_tx = store.open_transaction(UnitKey("src", "oai_dc"))
            assert open_tx is not None and open_tx.checkpoint  # the harvest can resume
        repo.faults.clear()
        state, tasks = run(dag)
        assert state == "success", tasks
        check_full_run(40, 0)
        requests = [r for r in repo.list_requests() if "resumptionToken" in r]
        assert requests  # the rerun continued from the checkpointed token rather than starting over


def test_a_run_on_the_real_test_servers(environment, monkeypatch, mongo_server, solr_server):
    import uuid

    core = f"dagtest_{uuid.uuid4().hex[:6]}"
    solr_server.create_core(core)
    monkeypatch.setenv("CONTENTCLOUD_MDSTORE", f"{mongo_server.url}/dag{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv("CONTENTCLOUD_INDEX", solr_server.core_url(core))
    repo = FaultyRepository.with_records(25, deleted={3}, page_size=10)
    with fault_server(repo) as server:
        write_profile(environment, server.url)
        dag = load_dag("aggregate__src")
        state, tasks = run(dag, mode="full", full_index=True)
        assert state == "success", tasks
        check_full_run(24, 1)


def test_maintenance_dag_collects_garbage_checks_the_index_and_reports_stale_sources(environment):
    repo = FaultyRepository.with_records(12, page_size=6)
    with fault_server(repo) as server:
        write_profile(environment, server.url)
        assert run(load_dag("aggregate__src"), mode="full")[0] == "success"
        state, tasks = run(load_dag("contentcloud_maintenance"), stale_days=0)
        assert state == "success", tasks
        assert tasks == {"garbage_collect": "success", "check_index": "success", "stale_sources": "success"}

        # a document vanishes from the index behind the feeder's back: the check flags it
        from contentcloud.pipeline.maintenance import index_check_task
        from contentcloud.pipeline.outcomes import StepFailed
        from contentcloud.settings import load_settings
        from mdstore import UnitKey

        store, index = store_and_index()
        with store, store.reader(UnitKey("src", "PE", "store", "transformed")) as view:
            lost = next(rid for rid, _, _ in view.ids(deleted=False))
        writer = index.open_writer("src")
        writer.delete([lost])
        writer.flush()
        writer.abort()  # what it wrote stays; the state does not know
        index.close()
        with pytest.raises(StepFailed) as caught:
            index_check_task("src", load_settings())
        assert str(caught.value).endswith(f"1 missing; first: {lost}")
        assert caught.value.summary["extra"]["missing_total"] == 1
        state, tasks = run(load_dag("contentcloud_maintenance"), stale_days=0)
        assert state == "failed", tasks
        assert tasks == {"garbage_collect": "success", "check_index": "failed", "stale_sources": "success"}
    from contentcloud.pipeline.maintenance import stale_sources
    from contentcloud.settings import load_settings

    assert [s["datasource"] for s in stale_sources(load_settings(), days=0)] == ["src"]
    assert stale_sources(load_settings(), days=1, now=datetime.now(UTC)) == []
    assert os.environ["CONTENTCLOUD_REGISTRY"] == str(environment)
