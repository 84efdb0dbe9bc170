"""The web app's prefix dispatcher, the OAI secret, and the publish/serve commands' wiring."""

from __future__ import annotations

import io
import json
import stat

import pytest
import yaml
from click.testing import CliRunner

from contentcloud.cli import cli
from contentcloud.settings import load_settings
from contentcloud.web import PrefixDispatcher, create_app, oai_secret
from mdstore import open_store
from tests.oai_support import DC_PROFILE, LIDO_PROFILE, build_fixture


def _call(app, path: str, query: str = "") -> tuple[str, bytes, dict]:
    seen = {}
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SCRIPT_NAME": "",
        "wsgi.url_scheme": "http",
        "HTTP_HOST": "h.example.org",
        "SERVER_NAME": "h.example.org",
        "SERVER_PORT": "80",
        "wsgi.input": io.BytesIO(),
    }
    body = b"".join(app(environ, lambda s, h: seen.update(status=s)))
    return seen["status"], body, environ


def test_dispatcher_mounts_by_longest_prefix_with_pep3333_paths():
    calls = []

    def recorder(name):
        def app(environ, start_response):
            calls.append((name, environ["SCRIPT_NAME"], environ["PATH_INFO"]))
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [name.encode()]

        return app

    app = PrefixDispatcher({"/solr": recorder("solr")})
    app.mount("/solr/special", recorder("special"))
    app.mount("curator/", recorder("curator"))
    assert _call(app, "/solr/idx/select")[1] == b"solr"
    assert _call(app, "/solr/special/x")[1] == b"special"
    assert _call(app, "/curator")[1] == b"curator"
    assert calls == [
        ("solr", "/solr", "/idx/select"),
        ("special", "/solr/special", "/x"),
        ("curator", "/curator", ""),
    ]
    assert _call(app, "/solrx")[0] == "404 Not Found"
    assert _call(app, "/")[1] == b"contentcloud\n  /curator\n  /solr\n  /solr/special\n"
    with pytest.raises(ValueError, match="already mounted"):
        app.mount("/solr", recorder("again"))
    with pytest.raises(ValueError, match="named prefix"):
        app.mount("/", recorder("root"))


def test_secret_is_generated_once_privately_or_taken_from_settings(tmp_path):
    settings = load_settings(environ={"CONTENTCLOUD_VAR": str(tmp_path / "var")}, base_dir=tmp_path)
    first = oai_secret(settings)
    assert len(first) == 64
    assert oai_secret(settings) == first
    assert stat.S_IMODE((tmp_path / "var" / "oai_secret").stat().st_mode) == 0o600
    configured = load_settings(environ={"CONTENTCLOUD_OAI_SECRET": "s3cret"}, base_dir=tmp_path)
    assert oai_secret(configured) == b"s3cret"


def test_publish_command_then_the_app_serves_the_snapshot(tmp_path):
    registry = tmp_path / "registry"
    registry.mkdir()
    for profile in (DC_PROFILE, LIDO_PROFILE):
        (registry / f"{profile['id']}.yaml").write_text(yaml.safe_dump(profile))
    env = {
        "CONTENTCLOUD_MDSTORE": f"sqlite:///{tmp_path}/md.sqlite",
        "CONTENTCLOUD_REGISTRY": str(registry),
        "CONTENTCLOUD_VAR": str(tmp_path / "var"),
        "CONTENTCLOUD_PUBLIC_URL": "https://agg.example.org/",
        "CONTENTCLOUD_OAI_REPOSITORY_IDENTIFIER": "agg.example.org",
        # no mappings: the fixture's toy RDF is not PE, so the shipped pe2oai_dc.xsl stays out of it
        "CONTENTCLOUD_MAPPINGS": str(tmp_path / "mappings"),
    }
    with open_store(env["CONTENTCLOUD_MDSTORE"]) as store:
        build_fixture(store)
    runner = CliRunner()
    result = runner.invoke(cli, ["publish", "lidosource", "--json"], env=env)
    assert result.exit_code == 3, result.output  # finished, with one record that has no namespace
    summary = json.loads(result.stdout)
    assert summary["step"] == "publish"
    assert summary["datasource"] == "lidosource"
    assert summary["outcome"] == "finished_with_record_errors"
    assert summary["errors"] == 1
    assert summary["extra"]["items"] == 25 + 19
    result = runner.invoke(cli, ["publish", "nosuch"], env=env)
    assert result.exit_code != 0
    settings = load_settings(environ=env, base_dir=tmp_path)
    app = create_app(settings)
    status, body, _ = _call(app, "/oai", "verb=Identify")
    assert status == "200 OK"
    assert b"<baseURL>https://agg.example.org/oai</baseURL>" in body
    assert b"<sampleIdentifier>oai:agg.example.org:" in body
    assert _call(app, "/oai/", "verb=ListSets")[0] == "200 OK"
    assert _call(app, "/nowhere")[0] == "404 Not Found"
    assert "serve" in runner.invoke(cli, ["--help"]).output
