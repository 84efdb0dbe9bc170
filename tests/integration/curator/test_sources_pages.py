"""The datasource pages as HTML over WSGI: the FTP and HTTP forms made from the schema, an edit that
keeps the profile's other sections, errors listed on the form, and a hostile OAI-PMH server
(markup in its answers, an endless page, a server that never answers) probed within its limits.

The hostile server is a plain ``http.server`` on 127.0.0.1 started by the test.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from contentcloud.sources import probe as probe_module
from contentcloud.sources.web import SourcesApp
from tests.curator_support import credentials_env, curator_env, sources_call

pytestmark = pytest.mark.integration

OAI_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?><OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">'
    "<responseDate>2026-01-01T00:00:00Z</responseDate>"
)
IDENTIFY = (
    OAI_HEAD
    + "<request>x</request><Identify><repositoryName>&lt;script&gt;alert(1)&lt;/script&gt;</repositoryName>"
    "<baseURL>http://x/oai</baseURL><protocolVersion>2.0</protocolVersion>"
    "<earliestDatestamp>2020-01-01</earliestDatestamp><deletedRecord>no</deletedRecord>"
    "<granularity>YYYY-MM-DD</granularity></Identify></OAI-PMH>"
)
FORMATS = (
    OAI_HEAD + '<request>x</request><ListMetadataFormats><metadataFormat><metadataPrefix>"&gt;&lt;b&gt;x'
    "</metadataPrefix><schema>s</schema><metadataNamespace>n</metadataNamespace></metadataFormat>"
    "</ListMetadataFormats></OAI-PMH>"
)
NO_SETS = OAI_HEAD + '<request>x</request><error code="noSetHierarchy">no sets</error></OAI-PMH>'


class Hostile(BaseHTTPRequestHandler):
    """Identify and ListMetadataFormats with markup in them; ListRecords never ends (5 MiB and more);
    ``/slow`` sends nothing for a minute."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path == "/slow":
            time.sleep(60)
            return
        verb = parse_qs(url.query).get("verb", [""])[0]
        if verb == "ListRecords":
            self.send_response(200)
            self.send_header("Content-Type", "text/xml")
            self.end_headers()
            try:
                self.wfile.write((OAI_HEAD + "<ListRecords>").encode())
                for _ in range(6 * 1024):
                    self.wfile.write(b"<!--" + b"x" * 1017 + b"-->")
            except OSError:
                pass  # the client stopped reading: what it should do
            return
        body = {"Identify": IDENTIFY, "ListMetadataFormats": FORMATS, "ListSets": NO_SETS}.get(verb, NO_SETS)
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def hostile():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def app(tmp_path):
    from contentcloud.settings import load_settings

    registry = tmp_path / "registry"
    registry.mkdir()
    env = curator_env(tmp_path, probe_local=True)
    found = SourcesApp(load_settings({}, env, base_dir=tmp_path))
    found.registry = registry
    return found


def call(app, path, *, method="GET", query="", form=None):
    return sources_call(app, path, method=method, query=query, form=form, extra={"HTTP_ACCEPT": "text/html"})


def test_an_ftp_source_through_the_form_made_from_the_schema(app):
    status, headers, page = call(app, "/new", query="protocol=ftp")
    assert status == "200 OK"
    assert "script-src" not in headers["Content-Security-Policy"]  # the pages run no script at all
    for field in ("api.host", "api.port", "api.path", "api.tls", "api.include", "api.namespaces"):
        assert f'name="{field}"' in page
    assert 'name="api.host" id="api.host" value="" required' in page
    form = {
        "api_fields": ["host", "port", "tls", "include", "namespaces", "split_element"],
        "id": "ftp1", "name": "An FTP source", "api.host": "127.0.0.1", "api.port": "2121",
        "api.tls": ["0", "1"], "api.include": "*.xml, *.zip", "api.namespaces": '{"m": "urn:m"}',
        "api.split_element": "m:record", "schedule": "@weekly", "mapping": "", "enabled": "1",
        "action": "save",
    }  # fmt: skip
    status, headers, _ = call(app, "/new", method="POST", query="protocol=ftp", form=form)
    assert (status, headers["Location"]) == ("303 See Other", "/curator/sources/s/ftp1?registered=1")
    assert yaml.safe_load((app.registry / "ftp1.yaml").read_text()) == {
        "id": "ftp1",
        "name": "An FTP source",
        "nsprefix": "ftp1",
        "enabled": True,
        "api": {
            "protocol": "ftp", "host": "127.0.0.1", "port": 2121, "tls": True, "include": ["*.xml", "*.zip"],
            "split_element": "m:record", "namespaces": {"m": "urn:m"},
        },
        "schedule": "@weekly",
    }  # fmt: skip
    status, _, page = call(app, "/s/ftp1")
    assert status == "200 OK"
    assert '<p id="no-runs">No run yet.</p>' in page


def test_an_edit_keeps_the_other_sections_and_errors_are_listed_on_the_form(app):
    (app.registry / "e1.yaml").write_text(
        "id: e1\nname: Old\nnsprefix: e1\napi: {protocol: oai, baseurl: 'http://127.0.0.1:9/oai', "
        "metadata_prefix: oai_dc, timeout: 5}\ntransform:\n  output: turtle\n  steps:\n"
        "    - {type: xslt, mapping: oai_dc2pe.xsl, time_limit: 3}\n    - {type: ontology-check}\n"
        "index: {workers: 2}\n"
    )
    status, _, page = call(app, "/new", query="protocol=oai")
    assert 'id="enabled" value="1" checked> enabled' in page  # a new source starts enabled
    status, _, page = call(app, "/s/e1/edit")
    assert status == "200 OK"
    assert 'id="enabled" value="1" checked> enabled' in page
    assert 'value="http://127.0.0.1:9/oai"' in page
    assert '<option value="oai_dc2pe.xsl" selected>' in page
    form = {
        "api_fields": ["metadata_prefix", "sets", "baseurl"], "api.baseurl": "http://127.0.0.1:9/oai2",
        "api.metadata_prefix": "oai_dc", "name": "New name", "mapping": "oai_dc2pe.x3ml",
        "policy": "policies/contentcloud-policy.xml", "action": "save",
    }  # fmt: skip
    status, headers, _ = call(app, "/s/e1/edit", method="POST", form=form)
    assert (status, headers["Location"]) == ("303 See Other", "/curator/sources/s/e1?changed=1")
    assert yaml.safe_load((app.registry / "e1.yaml").read_text()) == {
        "id": "e1",
        "name": "New name",
        "nsprefix": "e1",
        "api": {
            "protocol": "oai", "baseurl": "http://127.0.0.1:9/oai2", "metadata_prefix": "oai_dc", "timeout": 5
        },  # fmt: skip
        "transform": {
            "output": "turtle",
            "steps": [
                {"type": "x3ml", "mapping": "oai_dc2pe.x3ml", "policy": "policies/contentcloud-policy.xml"},
                {"type": "ontology-check"},
            ],
        },
        "index": {"workers": 2},
        "enabled": False,
    }  # fmt: skip
    form.update({"api.baseurl": "gopher://x", "api.metadata_prefix": "bad prefix"})
    status, _, page = call(app, "/s/e1/edit", method="POST", form=form)
    assert status == "400 Bad Request"
    assert (
        '<div class="error" id="form-errors"><b>The profile is not valid:</b><ul>'
        "<li>api.baseurl: &#39;gopher://x&#39; is not an http(s) URL</li>"
        "<li>api.metadata_prefix: &#39;bad prefix&#39; does not match "
        "&#34;^[A-Za-z0-9_.!~*&#39;()-]+$&#34;</li>"
        "</ul></div>"
    ) in page
    assert "oai2" in (app.registry / "e1.yaml").read_text()  # nothing written


def test_a_hostile_server_is_probed_within_the_limits_and_shown_escaped(app, hostile, monkeypatch):
    monkeypatch.setattr(probe_module, "MAX_PAGE_BYTES", 1 << 20)
    started = time.monotonic()
    status, _, page = call(
        app,
        "/new",
        method="POST",
        query="protocol=oai",
        form={"api.baseurl": hostile + "/oai", "action": "probe"},
    )
    assert status == "200 OK"
    assert time.monotonic() - started < 20
    assert "<script>" not in page and "<b>x" not in page
    assert "<td>&lt;script&gt;alert(1)&lt;/script&gt;</td>" in page
    assert '<td class="prefix">&#34;&gt;&lt;b&gt;x</td>' in page
    assert '<p id="set-count">0 set(s)</p>' in page  # noSetHierarchy is no problem
    assert 'id="enabled" value="1"> enabled' in page  # the box the curator unticked stays unticked
    assert "<li>ListRecords: the page is larger than api.max_page_bytes (1048576 bytes)" in page


def test_a_server_that_never_answers_costs_the_probe_its_budget_not_more(hostile, monkeypatch):
    monkeypatch.setattr(probe_module, "READ_TIMEOUT", 1.0)
    monkeypatch.setattr(probe_module, "REQUEST_TIME", 2.0)
    started = time.monotonic()
    result = probe_module.probe_oai(hostile + "/slow", budget=1.5, networks="127.0.0.1/32")
    took = time.monotonic() - started
    assert took < 9, took
    assert [r["request"] for r in result.requests][:2] == ["Identify", "ListMetadataFormats"]
    assert result.problems[0].startswith("Identify: ")
    assert result.problems[-1] == "ListSets: not asked, the probe's 1.5 s were used up"


class FakeAirflow(BaseHTTPRequestHandler):
    """Airflow's DAG-run endpoint as far as the trigger uses it: one known DAG, the requests kept."""

    seen: list = []

    def log_message(self, *args):
        pass

    def do_POST(self):
        import json

        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeAirflow.seen.append((self.path, self.headers["Authorization"], body))
        if self.path != "/api/v2/dags/aggregate__a1/dagRuns":
            self.send_response(404)
            self.end_headers()
            return
        data = json.dumps({"dag_run_id": "manual__2026-01-01", "state": "queued"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def test_with_airflow_configured_a_run_is_a_dag_run_triggered_through_its_api(tmp_path):
    import json

    from contentcloud.settings import load_settings

    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeAirflow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        registry = tmp_path / "registry"
        registry.mkdir()
        (registry / "a1.yaml").write_text(
            "id: a1\nname: A\nnsprefix: a1\n"
            "api: {protocol: oai, baseurl: 'http://127.0.0.1:9/oai', metadata_prefix: x}\n"
        )
        env = {
            "CONTENTCLOUD_REGISTRY": str(registry),
            "CONTENTCLOUD_VAR": str(tmp_path / "var"),
            "CONTENTCLOUD_AIRFLOW_API": f"http://127.0.0.1:{server.server_address[1]}",
            "CONTENTCLOUD_AIRFLOW_TOKEN": "jwt-for-tests",
            "CONTENTCLOUD_PROBE_ALLOW_NETWORKS": "127.0.0.1/32",
            **credentials_env(),
        }
        app = SourcesApp(load_settings({}, env, base_dir=tmp_path))
        app.registry = registry
        status, headers, _ = call(app, "/s/a1/run", method="POST", form={})
        assert (status, headers["Location"]) == ("303 See Other", "/curator/sources/s/a1")
        assert FakeAirflow.seen == [
            (
                "/api/v2/dags/aggregate__a1/dagRuns",
                "Bearer jwt-for-tests",
                {"logical_date": None, "conf": {"mode": "scheduled"}},
            )
        ]
        status, _, page = call(app, "/s/a1")
        assert '<p class="checks" id="run-state">Airflow run manual__2026-01-01 queued</p>' in page
        (registry / "b1.yaml").write_text((registry / "a1.yaml").read_text().replace("a1", "b1"))
        status, _, page = call(app, "/s/b1/run", method="POST", form={})
        assert status == "502 Bad Gateway"
        assert (
            "no DAG aggregate__b1 yet (the DAG processor has not read the new profile); try again in a minute"
            in page
        )
        assert json.dumps(FakeAirflow.seen[-1][2]) == '{"logical_date": null, "conf": {"mode": "scheduled"}}'
        status, _, page = call(app, "/s/b1")
        assert '<p class="error" id="run-state">No run started: Airflow API http://127.0.0.1:' in page
        # registered with "run it now" before Airflow has parsed the profile: saved, and the page says why
        form = {
            "id": "c1", "api.baseurl": "http://127.0.0.1:9/oai", "api.metadata_prefix": "oai_dc",
            "api_fields": ["baseurl", "metadata_prefix"], "enabled": "1", "run_now": "1", "action": "save",
        }  # fmt: skip
        status, headers, _ = call(app, "/new", method="POST", query="protocol=oai", form=form)
        assert (status, headers["Location"]) == ("303 See Other", "/curator/sources/s/c1?registered=1")
        assert FakeAirflow.seen[-1][0] == "/api/v2/dags/aggregate__c1/dagRuns"
        status, _, page = call(app, "/s/c1", query="registered=1")
        assert "Registered: written to c1.yaml." in page
        assert "No run started: " in page and "no DAG aggregate__c1 yet" in page
    finally:
        server.shutdown()
        server.server_close()


def test_an_http_source_is_probed_by_its_first_bytes(hostile):
    result = probe_module.probe_http(hostile + "/records.xml", networks=["127.0.0.1/32"])
    assert result.problems == []
    assert result.content_type == "text/xml"
    assert [r["request"] for r in result.requests] == ["GET"]
    assert result.sample[0]["xml"].startswith('<?xml version="1.0" encoding="UTF-8"?><OAI-PMH')


def test_completeness_counts_the_records_having_each_field_native_and_transformed(tmp_path):
    """The varied records of the curator tests: 8 native records with different fields, 7 of them
    transformed (one has no oai_dc:dc)."""
    import json

    from tests.curator_support import make_setup

    setup = make_setup(tmp_path)
    app = SourcesApp(setup["settings"])
    status, headers, text = call(app, "/s/cur/completeness.json", query="kind=native")
    assert status == "200 OK"
    assert headers["Content-Disposition"] == 'attachment; filename="cur-native-completeness.json"'
    native = json.loads(text)
    assert (native["records"], native["version"]) == (8, "v00000001")
    partial = {p["path"]: (p["records"], p["share"]) for p in native["paths"] if p["share"] < 1}
    assert {path: partial[path] for path in ("/metadata", "/oai_dc:dc", "/oai_dc:dc/dc:creator")} == {
        "/metadata": (1, 0.125),  # the record without oai_dc:dc
        "/oai_dc:dc": (7, 0.875),
        "/oai_dc:dc/dc:creator": (6, 0.75),
    }
    assert {path: partial[path] for path in partial if path.startswith("/oai_dc:dc/dc:s")} == {
        "/oai_dc:dc/dc:subject": (5, 0.625)
    }
    assert len(partial) == 16
    status, headers, text = call(app, "/s/cur/completeness.csv", query="kind=transformed")
    assert headers["Content-Type"] == "text/csv; charset=utf-8"
    lines = text.splitlines()
    assert "crmpe:PE22_Persistent_Dataset crm:P72_has_language,property,3,7,0.4286" in lines
    assert "rdf:type crm:E56_Language,class,3,7,0.4286" in lines
    assert "rdf:type crmpe:PE22_Persistent_Dataset,class,7,7,1.0000" in lines
    status, _, page = call(app, "/s/cur/completeness", query="kind=native")
    assert '<p id="completeness-summary">8 records of cur/oai_dc/store/native @ v00000001; ' in page
    assert '<td class="path-name">/oai_dc:dc/dc:subject</td><td>element</td><td class="count">5</td>' in page
    assert "62.5 %" in page
