"""The datasource pages' JSON API as a WSGI app: probe, register, run, history, completeness, edit,
delete, and the login and CSRF rules, against a real OAI-PMH server on 127.0.0.1.

The source is contentcloud's own demo source (:func:`contentcloud.demo.start_source`: the 150
bundled sample records, 2 of them deleted, served by the publisher); the registry starts empty.
Requests authenticate with the test token (:mod:`tests.curator_support`) unless a test says
otherwise.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from contentcloud.auth import COOKIE_NAME, Authenticator
from contentcloud.sources.probe import NETWORKS_SETTING as NETWORKS
from contentcloud.sources.web import SourcesApp
from tests.curator_support import CURATOR_USER, curator_env, sources_call

pytestmark = pytest.mark.integration

STEPS = ["collect", "transform", "index", "rdf", "publish"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from contentcloud.demo import start_source
    from contentcloud.settings import load_settings

    tmp = tmp_path_factory.mktemp("sources-api")
    registry = tmp / "registry"
    registry.mkdir()
    env = curator_env(tmp, probe_local=True)
    settings = load_settings({}, env, base_dir=tmp)
    source_settings = load_settings({}, {**env, "CONTENTCLOUD_VAR": str(tmp / "source-var")}, base_dir=tmp)
    source = start_source(source_settings, None)
    try:
        yield {
            "settings": settings,
            "env": env,
            "registry": registry,
            "app": SourcesApp(settings),
            "oai": source.url + "/oai",
        }
    finally:
        source.stop()


def call(app, path, *, body=None, **request):
    return sources_call(app, path, json_body=body, **request)


def profile(setup, datasource_id="t1", **api):
    return {
        "id": datasource_id,
        "name": "Test source",
        "nsprefix": datasource_id,
        "api": {"protocol": "oai", "baseurl": setup["oai"], "metadata_prefix": "oai_dc", **api},
        "transform": {"steps": [{"type": "xslt", "mapping": "oai_dc2pe.xsl"}]},
    }


def wait_for_run(app, datasource_id, count, timeout=180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, _, text = call(app, f"/api/datasources/{datasource_id}/runs")
        assert status == "200 OK", text
        answer = json.loads(text)
        if len(answer["runs"]) >= count and answer["running"]["state"] == "finished":
            return answer
        time.sleep(0.3)
    raise AssertionError(f"no run {count} of {datasource_id} within {timeout} s")


def test_anonymous_requests_never_reach_the_api_or_the_pages(setup):
    app = setup["app"]
    status, headers, text = call(app, "/api/datasources", auth=False)
    assert status == "401 Unauthorized"
    assert json.loads(text) == {
        "error": "log in, or send Authorization: Bearer <token>",
        "status": "401 Unauthorized",
    }
    status, headers, text = call(app, "/api/probe", method="POST", body={"url": setup["oai"]}, auth=False)
    assert status == "401 Unauthorized"
    status, headers, _ = call(app, "/s/t1", auth=False, extra={"HTTP_ACCEPT": "text/html"})
    assert (status, headers["Location"]) == ("303 See Other", "/curator/login?next=/curator/sources/s/t1")
    status, _, text = call(app, "/api/datasources", extra={"HTTP_AUTHORIZATION": "Bearer cct_wrong"})
    assert (status, json.loads(text)["error"]) == ("401 Unauthorized", "the bearer token is not valid")


def test_a_browser_session_needs_the_csrf_token_to_change_anything(setup):
    app = setup["app"]
    auth = Authenticator.from_settings(setup["settings"])
    cookie, csrf = auth.new_session(CURATOR_USER)
    session = {"HTTP_COOKIE": f"{COOKIE_NAME}={cookie}"}
    status, _, text = call(
        app, "/api/datasources", method="POST", body=profile(setup, "csrf1"), auth=False, extra=session
    )
    assert status == "403 Forbidden"
    assert json.loads(text)["error"] == "the form has expired or did not come from this site; reload it"
    assert not (setup["registry"] / "csrf1.yaml").exists()
    status, _, _ = call(
        app, "/api/datasources", method="POST", body=profile(setup, "csrf1"), auth=False,
        extra={**session, "HTTP_X_CSRF_TOKEN": csrf},
    )  # fmt: skip
    assert status == "201 Created"
    status, _, _ = call(app, "/api/datasources/csrf1", method="DELETE", auth=False, extra=session)
    assert status == "403 Forbidden"
    assert (setup["registry"] / "csrf1.yaml").exists()
    status, _, _ = call(
        app,
        "/api/datasources/csrf1",
        method="DELETE",
        auth=False,
        extra={**session, "HTTP_X_CSRF_TOKEN": csrf},
    )
    assert status == "200 OK"
    assert not (setup["registry"] / "csrf1.yaml").exists()


def test_probe_an_oai_pmh_server(setup):
    status, _, text = call(setup["app"], "/api/probe", method="POST", body={"url": setup["oai"]})
    assert status == "200 OK", text
    probe = json.loads(text)
    assert probe["ok"] is True and probe["problems"] == []
    assert probe["identify"] == {
        "repository_name": "contentcloud demo source",
        "base_url": setup["oai"],
        "protocol_version": "2.0",
        "earliest_datestamp": probe["identify"]["earliest_datestamp"],
        "deleted_record": "persistent",
        "granularity": "YYYY-MM-DDThh:mm:ssZ",
        "admin_emails": probe["identify"]["admin_emails"],
    }
    assert [f["prefix"] for f in probe["formats"]] == ["oai_dc"]
    assert [r["request"] for r in probe["requests"]] == [
        "Identify",
        "ListMetadataFormats",
        "ListSets",
        "ListRecords",
    ]
    assert all(r["seconds"] is not None and r["seconds"] < 15 for r in probe["requests"])
    assert probe["sample_format"] == "oai_dc"
    assert probe["complete_list_size"] == 150
    assert len(probe["sample"]) == 5
    assert probe["page_records"] >= 5
    assert probe["sample"][0]["xml"].startswith("<")
    assert probe["speed"]["records_per_second"] > 0


def test_probe_refuses_what_a_profile_may_not_hold_and_reports_a_dead_server(setup):
    app = setup["app"]
    status, _, text = call(app, "/api/probe", method="POST", body={"url": "ftp://example.org/oai"})
    assert status == "400 Bad Request"
    assert json.loads(text)["errors"] == [
        {"field": "url", "rule": "pattern", "message": "'ftp://example.org/oai' is not an http(s) URL"}
    ]
    status, _, text = call(
        app, "/api/probe", method="POST", body={"url": "http://user:secret@127.0.0.1:9/oai"}
    )
    assert status == "400 Bad Request"
    assert "holds credentials" in json.loads(text)["error"]
    assert "secret" not in text
    status, _, text = call(app, "/api/probe", method="POST", body={"url": "http://127.0.0.1:9/oai"})
    assert status == "200 OK"
    probe = json.loads(text)
    assert probe["ok"] is False
    assert [p.split(":")[0] for p in probe["problems"]] == ["Identify", "ListMetadataFormats", "ListSets"]
    assert probe["formats"] == [] and probe["sample"] == []


def test_register_run_history_completeness_edit_and_delete(setup):
    app, registry = setup["app"], setup["registry"]
    status, headers, text = call(app, "/api/datasources", method="POST", body=profile(setup))
    assert (status, json.loads(text)) == ("201 Created", {"id": "t1", "file": "t1.yaml"})
    assert headers["Location"] == "/curator/sources/api/datasources/t1"
    assert (registry / "t1.yaml").read_text() == (
        "# written by contentcloud (datasource pages / contentcloud datasource add); edit freely\n"
        "id: t1\nname: Test source\nnsprefix: t1\napi:\n  protocol: oai\n"
        f"  baseurl: {setup['oai']}\n  metadata_prefix: oai_dc\n"
        "transform:\n  steps:\n  - type: xslt\n    mapping: oai_dc2pe.xsl\n"
    )
    # the same id again, and an invalid profile: nothing written, every problem named
    status, _, text = call(app, "/api/datasources", method="POST", body=profile(setup))
    assert status == "400 Bad Request"
    assert json.loads(text)["error"].endswith("a datasource 't1' is already registered (t1.yaml)")
    bad = {**profile(setup, "bad id"), "api": {"protocol": "oai", "baseurl": "gopher://x"}}
    status, _, text = call(app, "/api/datasources", method="POST", body=bad)
    assert status == "400 Bad Request"
    assert json.loads(text)["errors"] == [
        {
            "field": "api.metadata_prefix",
            "rule": "required",
            "message": "'metadata_prefix' is a required property",
        },
        {"field": "api.baseurl", "rule": "pattern", "message": "'gopher://x' is not an http(s) URL"},
        {
            "field": "id",
            "rule": "pattern",
            "message": "'bad id' is not a valid id (letters, digits, '_', '.', '-'; at most 64; starts "
            "with a letter or digit)",
        },
        {
            "field": "nsprefix",
            "rule": "pattern",
            "message": "'bad id' is not a valid nsprefix (1-32 letters, digits or '_')",
        },
    ]
    assert sorted(p.name for p in registry.iterdir()) == ["t1.yaml"]

    # the first run, in this process; its history
    status, _, text = call(app, "/api/datasources/t1/run", method="POST")
    assert status == "202 Accepted", text
    started = json.loads(text)
    assert (started["where"], started["state"], started["by"]) == ("in-process", "running", "tests")
    answer = wait_for_run(app, "t1", 1)
    (run,) = answer["runs"]
    assert answer["running"]["outcome"] == "finished"
    assert run["run_id"] == started["run_id"]
    assert (run["outcome"], run["records_in"], run["records_out"], run["deleted"], run["errors"]) == (
        "finished", 150, 150, 2, 0
    )  # fmt: skip
    assert [s["step"] for s in run["steps"]] == STEPS
    assert [(s["read"], s["written"]) for s in run["steps"][:2]] == [(150, 150), (150, 150)]

    # the list shows the last run
    status, _, text = call(app, "/api/datasources")
    listed = json.loads(text)
    assert [d["id"] for d in listed["datasources"]] == ["t1"]
    assert listed["datasources"][0]["last_run"]["run_id"] == run["run_id"]
    assert listed["invalid"] == []

    # per-field completeness, native and transformed, JSON and CSV
    status, _, text = call(app, "/api/datasources/t1/completeness", query="kind=native")
    native = json.loads(text)
    assert (native["records"], native["unit"], native["parse_errors"]) == (148, "t1/oai_dc/store/native", 0)
    rows = {p["path"]: p for p in native["paths"]}
    assert rows["/oai:record/oai:metadata/oai_dc:dc/dc:title"] == {
        "path": "/oai:record/oai:metadata/oai_dc:dc/dc:title", "kind": "element", "records": 148, "share": 1.0
    }  # fmt: skip
    assert len(native["paths"]) == 28
    status, headers, text = call(app, "/api/datasources/t1/completeness", query="kind=transformed&format=csv")
    assert headers["Content-Type"] == "text/csv; charset=utf-8"
    lines = text.splitlines()
    assert lines[0] == "path,kind,records,total,share"
    assert "rdf:type crmpe:PE22_Persistent_Dataset,class,148,148,1.0000" in lines
    assert "crmpe:PE22_Persistent_Dataset crm:P1_is_identified_by,property,148,148,1.0000" in lines
    assert len(lines) == 1 + 41
    status, _, text = call(app, "/api/datasources/t1/completeness", query="kind=other")
    assert (status, json.loads(text)["error"]) == (
        "400 Bad Request",
        "kind: 'other' is neither native nor transformed",
    )

    # edit: disable through PUT; the id cannot change
    edited = {**profile(setup), "enabled": False, "schedule": "@daily"}
    status, _, text = call(app, "/api/datasources/t1", method="PUT", body=edited)
    assert (status, json.loads(text)) == ("200 OK", {"id": "t1", "file": "t1.yaml"})
    status, _, text = call(app, "/api/datasources/t1")
    assert json.loads(text)["profile"] == edited
    status, _, text = call(app, "/api/datasources/t1", method="PUT", body={**edited, "id": "t2"})
    assert (status, json.loads(text)["error"]) == ("400 Bad Request", "id: the id of t1 cannot change")

    # delete: the profile goes, the history stays
    status, _, text = call(app, "/api/datasources/t1", method="DELETE")
    assert (status, json.loads(text)) == ("200 OK", {"id": "t1", "deleted": "t1.yaml"})
    assert list(registry.iterdir()) == []
    status, _, text = call(app, "/api/datasources/t1")
    assert status == "404 Not Found"
    assert json.loads(text)["error"] == f"{registry}: id: unknown datasource 't1'; known: none"
    status, _, text = call(app, "/api/datasources/t1/runs")
    assert [r["run_id"] for r in json.loads(text)["runs"]] == [run["run_id"]]


def test_the_run_history_outlives_the_mdstore_gc(setup):
    from contentcloud.history import RunHistory
    from contentcloud.pipeline.maintenance import gc_task
    from contentcloud.pipeline.runs import run_datasource
    from mdstore import UnitKey, open_store

    settings = setup["settings"]
    status, _, _ = call(setup["app"], "/api/datasources", method="POST", body=profile(setup, "gc1"))
    assert status == "201 Created"
    first = run_datasource("gc1", settings, mode="full")
    second = run_datasource("gc1", settings, mode="full")
    native = UnitKey("gc1", "oai_dc")
    with open_store(settings.mdstore) as store:
        old = first["steps"][0]["version_out"]
        assert second["steps"][0]["version_out"] != old
    gc_task(settings, keep=0)
    with open_store(settings.mdstore) as store:
        assert [v.id for v in store.versions(native) if v.state == "committed"] == [
            second["steps"][0]["version_out"]
        ]
    runs = RunHistory.from_settings(settings).runs("gc1")
    assert [r["run_id"] for r in runs] == [first["run_id"], second["run_id"]]
    assert [(r["records_in"], r["deleted"]) for r in runs] == [(150, 2), (150, 0)]
    assert Path(settings.var_dir, "run-history.sqlite").is_file()


def test_the_datasource_commands_add_run_history_and_remove(setup, tmp_path):
    from tests.cli_runner import run_cli

    env, registry = setup["env"], setup["registry"]
    file = tmp_path / "cli1.yaml"
    file.write_text(yaml.safe_dump(profile(setup, "cli1")))
    result = run_cli("datasource", "add", str(file), env=env)
    assert (result.exit_code, result.output) == (0, f"{registry / 'cli1.yaml'}: registered cli1\n")
    result = run_cli("datasource", "add", str(file), env=env)
    assert result.exit_code == 2
    assert result.output == (
        f"error: {registry / 'cli1.yaml'}: id: a datasource 'cli1' is already registered (cli1.yaml)\n"
    )
    result = run_cli("datasource", "run", "cli1", "--json", env=env)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert [(s["step"], s["outcome"], s["written"]) for s in report["steps"][:4]] == [
        ("collect", "finished", 150), ("transform", "finished", 150), ("index", "finished", 148),
        ("rdf", "finished", 148),
    ]  # fmt: skip
    assert (report["steps"][4]["step"], report["steps"][4]["outcome"]) == ("publish", "finished")
    result = run_cli("datasource", "history", "cli1", "--json", env=env)
    (run,) = json.loads(result.output)
    assert (run["run_id"], run["records_in"], run["records_out"]) == (report["run_id"], 150, 150)
    result = run_cli("datasource", "remove", "cli1", "--yes", env=env)
    assert (result.exit_code, result.output) == (0, f"{registry / 'cli1.yaml'}: deleted\n")
    result = run_cli("datasource", "run", "cli1", env=env)
    assert result.exit_code == 2
    assert result.output.startswith(f"error: {registry}: id: unknown datasource 'cli1'")


def test_the_run_report_the_dag_ends_in_adds_the_run_to_the_history(setup):
    """Airflow's report task calls run_report with the step summaries it pulled: that is where the
    history row is written, so DAG runs show on the source's page like in-process ones."""
    from contentcloud.history import RunHistory
    from contentcloud.pipeline.outcomes import failure_summary
    from contentcloud.pipeline.reports import run_report

    summaries = [
        {"step": "collect", "datasource": "dag1", "outcome": "finished", "read": 7, "written": 7,
         "deleted": 1,
         "errors": 0, "seconds": 2.0},
        failure_summary("dag1", "transform", RuntimeError("boom")),
    ]  # fmt: skip
    run_report("dag1", setup["settings"], summaries, run_id="manual__2026-01-01", store_it=True)
    (run,) = RunHistory.from_settings(setup["settings"]).runs("dag1")
    assert {k: run[k] for k in ("run_id", "outcome", "records_in", "records_out", "deleted", "errors")} == {
        "run_id": "manual__2026-01-01", "outcome": "failed", "records_in": 7, "records_out": 0, "deleted": 1,
        "errors": 0,
    }  # fmt: skip
    assert [(s["step"], s["outcome"]) for s in run["steps"]] == [
        ("collect", "finished"),
        ("transform", "failed"),
    ]


def test_one_in_process_run_per_source_at_a_time(setup):
    app = setup["app"]
    status, _, _ = call(app, "/api/datasources", method="POST", body=profile(setup, "twice"))
    assert status == "201 Created"
    status, _, text = call(app, "/api/datasources/twice/run", method="POST")
    assert status == "202 Accepted"
    run_id = json.loads(text)["run_id"]
    status, _, text = call(app, "/api/datasources/twice/run", method="POST")
    assert (status, json.loads(text)["error"]) == ("409 Conflict", f"twice is running already ({run_id})")
    answer = wait_for_run(app, "twice", 1)
    assert [r["run_id"] for r in answer["runs"]] == [run_id]


def test_without_an_allowed_network_the_pages_neither_probe_nor_register_a_private_address(setup, tmp_path):
    from contentcloud.settings import load_settings

    env = {**setup["env"], "CONTENTCLOUD_PROBE_ALLOW_NETWORKS": "", "CONTENTCLOUD_REGISTRY": str(tmp_path)}
    app = SourcesApp(load_settings({}, env, base_dir=tmp_path))
    status, _, text = call(app, "/api/probe", method="POST", body={"url": setup["oai"]})
    assert status == "200 OK"
    probe = json.loads(text)
    refused = "refused: 127.0.0.1 resolves to 127.0.0.1, a loopback address not in " + NETWORKS
    assert [p.split(": ", 1)[0] for p in probe["problems"]] == ["Identify", "ListMetadataFormats", "ListSets"]
    assert all(refused in p for p in probe["problems"]), probe["problems"]
    assert probe["identify"] == {} and probe["sample"] == []
    for url in (setup["oai"], "http://localhost:1/oai", "http://169.254.169.254/oai"):
        status, _, text = call(
            app, "/api/datasources", method="POST", body=profile(setup, "private", baseurl=url)
        )
        assert status == "400 Bad Request"
        (error,) = json.loads(text)["errors"]
        assert (error["field"], error["rule"]) == ("api.baseurl", "address")
        assert error["message"].endswith("address not in CONTENTCLOUD_PROBE_ALLOW_NETWORKS")
    assert list(tmp_path.glob("*.yaml")) == []


def test_a_harvest_and_a_transform_run_alone_are_runs_of_one_step_in_the_history(setup):
    from tests.cli_runner import run_cli

    env = setup["env"]
    status, _, _ = call(setup["app"], "/api/datasources", method="POST", body=profile(setup, "steps"))
    assert status == "201 Created"
    assert run_cli("harvest", "steps", env=env).exit_code == 0
    assert run_cli("transform", "steps", env=env).exit_code == 0
    runs = json.loads(run_cli("datasource", "history", "steps", "--json", env=env).output)
    assert [([s["step"] for s in r["steps"]], r["records_in"], r["records_out"]) for r in runs] == [
        (["collect"], 150, None),
        (["transform"], None, 150),
    ]
    assert [r["run_id"].split("-")[0] for r in runs] == ["collect", "transform"]
    status, _, page = call(setup["app"], "/s/steps", extra={"HTTP_ACCEPT": "text/html"})
    assert '<td class="records-in">150</td><td class="records-out">-</td>' in page
    assert '<td class="records-in">-</td><td class="records-out">150</td>' in page
