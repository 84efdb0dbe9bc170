"""Failure notifications: a failed ``aggregate__<id>`` run sends one message to each configured
target (an SMTP server, a webhook), naming the datasource, the failed step and why; a successful
run, or a source whose profile silences it, sends nothing. Run with ``dag.test()``, which runs the
DAG's ``on_failure_callback`` as the dag-processor does under the scheduler."""

from __future__ import annotations

import json
import socket

import pytest
import yaml
from markupsafe import escape

from tests.dags.sinks import http_sink, smtp_sink
from tests.dags.test_dag_runs import load_dag
from tests.servers.oai_faults import FaultyRepository, fault_server

pytestmark = pytest.mark.integration


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write(registry, datasource: str, baseurl: str, **extra) -> None:
    registry.mkdir(parents=True, exist_ok=True)
    profile = {
        "id": datasource,
        "name": f"Source {datasource}",
        "nsprefix": datasource,
        "api": {
            "protocol": "oai",
            "baseurl": baseurl,
            "metadata_prefix": "oai_dc",
            "max_retries": 0,
            "backoff": 0,
            "max_backoff": 0,
            "timeout": 3,
        },
        "transform": {"steps": [{"type": "xslt", "mapping": "oai_dc2pe.xsl"}]},
        "limits": {"task_retries": 0},
        **extra,
    }
    (registry / f"{datasource}.yaml").write_text(yaml.safe_dump(profile))


@pytest.fixture
def sinks(airflow_home, tmp_path, monkeypatch):
    """The SMTP and HTTP sinks, the smtp_default connection pointing at the first, and settings."""
    registry = tmp_path / "registry"
    monkeypatch.setenv("CONTENTCLOUD_REGISTRY", str(registry))
    monkeypatch.setenv("CONTENTCLOUD_VAR", str(tmp_path / "var"))
    monkeypatch.setenv("CONTENTCLOUD_MDSTORE", f"sqlite:///{tmp_path / 'var' / 'mdstore.sqlite'}")
    monkeypatch.setenv("CONTENTCLOUD_INDEX", f"sqlite:///{tmp_path / 'var' / 'index.sqlite'}")
    monkeypatch.setenv("HOOK_TOKEN", "s3cret-token")
    with smtp_sink() as smtp, http_sink() as hook:
        connection = {
            "conn_type": "smtp",
            "host": "127.0.0.1",
            "port": smtp.server_address[1],
            "extra": {
                "disable_tls": True,
                "disable_ssl": True,
                "from_email": "airflow@contentcloud.test",
                "retry_limit": 0,
                "timeout": 5,
            },
        }
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps(connection))
        hook_url = f"http://127.0.0.1:{hook.server_address[1]}/hooks/contentcloud"
        yield registry, smtp, hook, hook_url


def test_a_failed_run_sends_one_mail_and_one_webhook_naming_the_step_and_why(sinks):
    registry, smtp, hook, hook_url = sinks
    port = closed_port()
    notify = {
        "on_failure": [
            {"type": "smtp", "to": ["ops@contentcloud.test", "curator@contentcloud.test"]},
            {"type": "webhook", "url": hook_url, "token_env": "HOOK_TOKEN"},
        ]
    }
    write(registry, "down", f"http://127.0.0.1:{port}/oai", notify=notify)
    dagrun = load_dag("aggregate__down").test()
    assert str(dagrun.state) == "failed"

    assert len(smtp.messages) == 1, smtp.messages
    mail = smtp.messages[0]
    assert mail["to"] == ["ops@contentcloud.test", "curator@contentcloud.test"]
    message = mail["message"]
    assert message["Subject"] == "contentcloud: run of down failed at collect"
    assert message["From"] == "airflow@contentcloud.test"
    body = message.get_body(("html",)).get_content()
    assert "datasource: down" in body
    assert f"run: {dagrun.run_id}" in body
    assert "failed step: collect: " in body
    assert f"127.0.0.1:{port}" in body  # the reason names the unreachable source

    assert len(hook.posts) == 1, hook.posts
    post = hook.posts[0]
    assert post["path"] == "/hooks/contentcloud"
    assert post["headers"]["Authorization"] == "Bearer s3cret-token"
    payload = post["json"]
    assert (payload["event"], payload["datasource"], payload["dag_id"], payload["run_id"]) == (
        "run_failed",
        "down",
        "aggregate__down",
        dagrun.run_id,
    )
    assert [s["step"] for s in payload["failed_steps"]] == ["collect"]
    reason = payload["failed_steps"][0]["message"]
    assert reason.startswith(
        f"down: http://127.0.0.1:{port}/oai: Identify: cannot connect to 127.0.0.1:{port} ("
    )
    assert body.endswith(f"failed step: collect: {escape(reason)}</pre>")
    assert [s["step"] for s in payload["report"]["steps"]] == ["collect"]
    assert payload["report"]["steps"][0]["outcome"] == "failed_resumable"  # a harvest continues later


def test_global_targets_apply_a_profile_silences_them_and_a_good_run_sends_nothing(sinks, monkeypatch):
    registry, smtp, hook, hook_url = sinks
    monkeypatch.setenv("CONTENTCLOUD_NOTIFY", json.dumps([{"type": "webhook", "url": hook_url}]))
    port = closed_port()
    write(registry, "down", f"http://127.0.0.1:{port}/oai")
    write(registry, "quiet", f"http://127.0.0.1:{port}/oai", notify={"on_failure": []})
    repo = FaultyRepository.with_records(5, page_size=5)
    with fault_server(repo) as server:
        write(registry, "fine", server.url)
        assert str(load_dag("aggregate__fine").test(run_conf={"mode": "full"}).state) == "success"
    assert str(load_dag("aggregate__quiet").test().state) == "failed"
    assert hook.posts == []
    assert str(load_dag("aggregate__down").test().state) == "failed"
    assert [p["json"]["datasource"] for p in hook.posts] == ["down"]
    assert "Authorization" not in hook.posts[0]["headers"]
    assert smtp.messages == []
