"""The mapping editor's JSON API as a WSGI app over a real SQLite store (the demo records,
transformed by ``demo.x3ml``, a copy of the shipped ``oai_dc2pe.x3ml``, from a copy of the
mappings directory): live preview, source tree, ontology terms, drafts, promote with history and
config events (sent to a small Airflow stand-in on 127.0.0.1), roll-back, CSRF."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from contentcloud.curator.web import CuratorApp
from tests.curator_support import CURATOR_USER, PROJECT, wsgi_call
from tests.integration.curator.test_curator_editor_browser import editor_setup

pytestmark = pytest.mark.integration

SHIPPED = (PROJECT / "mappings" / "oai_dc2pe.x3ml").read_text(encoding="utf-8")
TYPO = SHIPPED.replace("<relation>dc:title</relation>", "<relation>dc:titel</relation>")
#: the line of the title link in the shipped mapping (the typo's line)
TITLE_LINK = SHIPPED[: SHIPPED.index("<link>")].count("\n") + 1


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("curator-editor-api")
    found = editor_setup(tmp)
    found["app"] = CuratorApp(found["settings"])
    return found


def call(app, path, *, method="GET", query="", body=None, auth=True, extra=None):
    data = json.dumps(body).encode() if body is not None else b""
    status, headers, text = wsgi_call(
        app,
        "/curator",
        path,
        method=method,
        query=query,
        body=data,
        content_type="application/json",
        auth=auth,
        extra=extra,
    )
    answer = json.loads(text) if headers["Content-Type"] == "application/json" else text
    return status, headers, answer


def preview(app, text, **fields):
    return call(
        app,
        "/api/preview",
        method="POST",
        body={"datasource": "demo", "name": "demo.x3ml", "text": text, "sample": 4, **fields},
    )


def test_live_preview_of_the_current_mapping_draft(setup):
    status, headers, answer = preview(setup["app"], SHIPPED)
    assert status == "200 OK"
    assert headers["Cache-Control"] == "no-store"
    assert answer["ok"] is True
    assert answer["summary"] == {"records": 4, "in_version": 148, "failed": 0, "triples": 170, "missing": []}
    assert answer["policy"] == ""  # the profile's policy, inherited by the draft step
    assert answer["diagnostics"] == [] and answer["findings"] == []
    assert [r["record_id"] for r in answer["records"]] == [
        "demo::005181c731b787a6150d12a262bf7a9a",
        "demo::544ca5b1ddcf3d1d1a85930d932a8965",
        "demo::9a66a2ac1bfddbf36fc659f2b9607fc7",
        "demo::fe3bf742b915ad15df3466fd13f1f288",
    ]
    assert [r["triples"] for r in answer["records"]] == [41, 41, 47, 41]
    first = answer["records"][0]
    assert (first["status"], first["format"]) == ("ok", "turtle")
    dataset = first["graph"][0]  # the entity nothing points at comes first, named by its label
    assert dataset["name"] == "https://contentcloud.example/pe/dataset/714FC59D-7AEF-3399-934D-3F02C0338D29"
    assert dataset["types"] == ["crm:E33_Linguistic_Object", "crmpe:PE22_Persistent_Dataset"]
    assert dataset["label"] == "Text annotation toolkit at Florence (AD 2015 - AD 2024)"
    assert {
        "property": "crm:P1_is_identified_by",
        "value": "Text annotation toolkit at Florence (AD 2015 - AD 2024)",
        "ref": "https://contentcloud.example/pe/appellation/97BE9D22-8361-394F-9237-08E89DB629E6",
    } in dataset["statements"]
    assert {
        "property": "crm:P129_is_about",
        "value": "TEI",
        "ref": ("https://contentcloud.example/pe/concept/E29D95E2-94F2-3D51-B9BE-8767854DE39A"),
    } in dataset["statements"]
    # the draft is the transformed version's mapping: the same records, nothing changed
    diff = answer["diff"]
    assert diff["available"] is True
    assert diff["records"] == 4
    assert (
        diff["counts"]["unchanged"] == 4 and diff["groups"] == [] and (diff["page"], diff["pages"]) == (1, 1)
    )
    assert answer["coverage"]["records"] == 4
    assert (answer["coverage"]["read"], answer["coverage"]["missed"]) == (10, 2)
    missed = [p["path"] for p in answer["coverage"]["paths"] if p["read"] is False]
    assert missed == ["/oai_dc:dc/dc:coverage", "/oai_dc:dc/dc:publisher"]
    assert answer["ontology"] == {"errors": 0, "warnings": 0, "issues": []}


def test_a_typo_is_a_diagnostic_at_its_line_and_the_diff_groups_by_predicate(setup):
    status, _, answer = preview(setup["app"], TYPO)
    assert status == "200 OK"
    where = f"demo.x3ml:{TITLE_LINK}, mapping 1, link 1"
    assert answer["diagnostics"] == [
        {
            "line": TITLE_LINK,
            "severity": "warning",
            "message": "the link wrote no triple in any of the 4 sampled records",
            "location": where,
            "records": 1,
        },
        {
            "line": TITLE_LINK,
            "severity": "warning",
            "message": "the source_relation 'dc:titel' matches nothing in any of the 4 sampled records",
            "location": where,
            "records": 1,
        },
    ]
    diff = answer["diff"]
    assert diff["counts"]["changed"] == 4
    assert (diff["added"], diff["removed"], diff["predicates"], diff["pages"]) == (0, 12, 3, 1)
    groups = [
        (g["predicate"], g["added"], g["removed"], g["records"], len(g["statements"])) for g in diff["groups"]
    ]
    assert groups == [
        ("http://www.cidoc-crm.org/cidoc-crm/P1_is_identified_by", 0, 4, 4, 4),
        ("http://www.w3.org/1999/02/22-rdf-syntax-ns#type", 0, 4, 4, 4),
        ("http://www.w3.org/2000/01/rdf-schema#label", 0, 4, 4, 4),
    ]
    assert all(s["sign"] == "-" for g in diff["groups"] for s in g["statements"])


def test_an_ontology_issue_is_marked_where_the_draft_names_the_term(setup):
    draft = SHIPPED.replace("crm:P72_has_language", "crm:P72_has_lang")
    _, _, answer = preview(setup["app"], draft)
    records = [r["record_id"] for r in answer["records"]]
    assert answer["ontology"] == {
        "errors": 4,
        "warnings": 0,
        "issues": [
            {
                "severity": "error",
                "kind": "unknown-property",
                "property": "crm:P72_has_lang",
                "message": "not a property of the ontology",
                "triples": 4,
                "records": records,
            }
        ],
    }
    line = draft[: draft.index(">crm:P72_has_lang<")].count("\n") + 1
    assert answer["diagnostics"] == [
        {
            "line": line,
            "severity": "error",
            "message": "ontology check: crm:P72_has_lang: not a property of the ontology (4 triples)",
            "records": 4,
            "location": f"demo.x3ml:{line}",
        }
    ]


def test_the_diff_is_paged_by_predicate(setup):
    """The shipped XSLT as a draft against the X3ML's transformed version: IRIs differ, so every
    predicate changes; 8 predicate groups a page, a page past the end is the last one."""
    xsl = (PROJECT / "mappings" / "oai_dc2pe.xsl").read_text(encoding="utf-8")
    pages = []
    for page in (1, 2, 9):
        _, _, answer = preview(setup["app"], xsl, name="oai_dc2pe.xsl", diff_page=page)
        diff = answer["diff"]
        assert (diff["pages"], diff["predicates"], diff["counts"]["changed"]) == (2, 14, 4)
        pages.append((diff["page"], [g["predicate"].rsplit("/", 1)[-1] for g in diff["groups"]]))
    crm = ["PP50_accessible_at", "P104_is_subject_to", "P129_is_about", "P14_carried_out_by"]
    assert pages[0] == (1, [*crm, "P1_is_identified_by", "P2_has_type", "P3_has_note", "P4_has_time-span"])
    last = (2, ["P72_has_language", "P82a_begin_of_the_begin", "P82b_end_of_the_end", "P94i_was_created_by",
                "22-rdf-syntax-ns#type", "rdf-schema#label"])  # fmt: skip
    assert pages[1:] == [last, last]


def test_a_draft_that_does_not_parse_is_an_error_at_its_line(setup):
    status, _, answer = preview(setup["app"], SHIPPED.replace("</domain>", "</domian>", 1))
    assert status == "200 OK"
    assert answer["ok"] is False
    line = SHIPPED[: SHIPPED.index("</domain>")].count("\n") + 1
    assert answer["compile_error"] == (
        f"demo.x3ml: transform.steps[0].line {line}: not a well-formed XML X3ML mapping: Opening and ending "
        f"tag mismatch: domain line 25 and domian, line {line}, column 22"
    )
    assert answer["diagnostics"] == [{"line": line, "severity": "error", "message": answer["compile_error"]}]
    assert "contentcloud-live-" not in json.dumps(answer)  # the request's folder is never shown


def test_own_records_are_previewed_without_a_diff(setup):
    record = (
        '<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Mine</dc:title>'
        "<dc:identifier>urn:mine:1</dc:identifier></oai_dc:dc>"
    )
    _, _, answer = preview(setup["app"], SHIPPED, records=[{"name": "mine.xml", "text": record}])
    assert answer["summary"]["records"] == 1 and answer["summary"]["in_version"] == 1
    assert answer["records"][0]["original_id"] == "mine.xml"
    assert answer["diff"] == {"available": False, "note": "your own records"}
    assert [(p["path"], p["records"], p["read"]) for p in answer["coverage"]["paths"]] == [
        ("/oai_dc:dc", 1, True),
        ("/oai_dc:dc/dc:identifier", 1, True),
        ("/oai_dc:dc/dc:title", 1, True),
    ]


def test_source_tree_and_ontology_terms(setup):
    status, _, tree = call(setup["app"], "/api/source-tree", query="datasource=demo")
    assert status == "200 OK"
    assert (tree["records"], tree["version"]) == (148, "v00000001")
    assert [p["path"] for p in tree["paths"]][:3] == [
        "/oai_dc:dc",
        "/oai_dc:dc/dc:coverage",
        "/oai_dc:dc/dc:creator",
    ]
    title = next(p for p in tree["paths"] if p["path"] == "/oai_dc:dc/dc:title")
    assert title["records"] == 148 and len(title["examples"]) == 3
    assert tree["prefixes"]["dc"] == "http://purl.org/dc/elements/1.1/"
    _, _, terms = call(setup["app"], "/api/ontology")
    p1 = next(p for p in terms["properties"] if p["name"] == "crm:P1_is_identified_by")
    assert p1 == {
        "name": "crm:P1_is_identified_by",
        "label": "is identified by",
        "domain": ["crm:E1_CRM_Entity"],
        "range": ["crm:E41_Appellation"],
    }
    pe22 = next(c for c in terms["classes"] if c["name"] == "crmpe:PE22_Persistent_Dataset")
    assert pe22["label"] == "Persistent Dataset" and "crm:E1_CRM_Entity" in pe22["ancestors"]


def test_drafts_are_kept_per_curator(setup):
    app = setup["app"]
    status, _, saved = call(
        app,
        "/api/drafts",
        method="POST",
        body={"name": "titles", "datasource": "demo", "mapping": "demo.x3ml", "text": TYPO},
    )
    assert status == "200 OK" and saved["name"] == "titles"
    _, _, listed = call(app, "/api/drafts")
    assert [(d["name"], d["datasource"], d["mapping"]) for d in listed["drafts"]] == [
        ("titles", "demo", "demo.x3ml")
    ]
    _, _, loaded = call(app, "/api/drafts", query="name=titles")
    assert loaded["text"] == TYPO
    # the token's curator is "tests" (the token's name): its drafts are its own
    assert (setup["var"] / "curator-drafts").is_dir()
    status, _, answer = call(app, "/api/drafts", method="POST", body={"name": "../x", "text": "t"})
    assert (status, answer) == (
        "400 Bad Request",
        {"error": "name: draft name '../x': letters, digits, . _ - only"},
    )


class _Airflow(BaseHTTPRequestHandler):
    """Enough of Airflow's REST API v2 for send_asset_event: one asset per config URI."""

    events: list = []

    def do_GET(self):  # noqa: N802
        from urllib.parse import parse_qs, urlsplit

        uri = parse_qs(urlsplit(self.path).query)["uri_pattern"][0]
        self._send({"assets": [{"id": 7, "uri": uri}]})

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).events.append({"path": self.path, "auth": self.headers["Authorization"], **body})
        self._send({"id": 99})

    def _send(self, data):
        raw = json.dumps(data).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args):
        pass


@pytest.fixture
def airflow():
    _Airflow.events = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Airflow)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_promote_history_events_and_roll_back(setup, airflow):
    from dataclasses import replace

    settings = replace(setup["settings"], airflow_api=airflow, airflow_token="test-jwt")
    app = CuratorApp(settings)
    target = setup["mappings"] / "demo.x3ml"
    new = SHIPPED.replace("<relation>dc:subject</relation>", "<relation>dc:type</relation>")
    assert new != SHIPPED

    # refused: no message, no change, a draft that does not compile, a name outside the directory
    status, _, answer = call(app, "/api/promote", method="POST", body={"name": "demo.x3ml", "text": new})
    assert (status, answer["error"]) == (
        "400 Bad Request",
        "message: say what the change is: the message is empty",
    )
    body = {"name": "demo.x3ml", "text": SHIPPED, "message": "same"}
    status, _, answer = call(app, "/api/promote", method="POST", body=body)
    assert status == "400 Bad Request"
    assert answer["error"].endswith(
        "mapping demo.x3ml: the draft is the mapping as it is; nothing to promote"
    )
    body = {"name": "demo.x3ml", "text": "<x3ml>", "message": "broken", "datasource": "demo"}
    status, _, answer = call(app, "/api/promote", method="POST", body=body)
    assert status == "400 Bad Request" and answer["error"].startswith("not promoted: demo.x3ml: ")
    body = {"name": "../registry/demo.x3ml", "text": new, "message": "escape"}
    assert call(app, "/api/promote", method="POST", body=body)[0] == "400 Bad Request"
    assert target.read_text(encoding="utf-8") == SHIPPED
    assert not (setup["var"] / "mapping-history").exists()

    body = {"name": "demo.x3ml", "text": new, "message": "subjects from dc:type", "datasource": "demo"}
    status, _, done = call(app, "/api/promote", method="POST", body=body)
    assert status == "200 OK", done
    assert (done["version"], done["user"], done["message"]) == (2, "tests", "subjects from dc:type")
    assert done["affected"] == ["demo"]
    assert done["events"] == [{"datasource": "demo", "uri": "contentcloud://demo/config", "sent": True}]
    assert done["note"] == ""
    assert _Airflow.events == [
        {
            "path": "/api/v2/assets/events",
            "auth": "Bearer test-jwt",
            "asset_id": 7,
            "extra": {"mapping": "demo.x3ml", "version": 2, "user": "tests", "source": "curator"},
        }
    ]
    assert target.read_text(encoding="utf-8") == new
    history = setup["var"] / "mapping-history" / "demo.x3ml"
    assert sorted(p.name for p in history.iterdir()) == ["1.json", "2.json"]
    assert json.loads((history / "1.json").read_text())["content"] == SHIPPED

    _, _, listed = call(app, "/api/history", query="name=demo.x3ml")
    assert [(v["version"], v["user"], v["message"]) for v in listed["versions"]] == [
        (1, "-", "the file as found before the first promote"),
        (2, "tests", "subjects from dc:type"),
    ]
    assert "content" not in listed["versions"][0]
    _, _, diff = call(app, "/api/history", query="name=demo.x3ml&diff=1..2")
    changed = [line for line in diff["diff"] if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert changed == [
        "-                    <source_relation><relation>dc:subject</relation></source_relation>",
        "+                    <source_relation><relation>dc:type</relation></source_relation>",
    ]
    status, _, back = call(app, "/api/rollback", method="POST", body={"name": "demo.x3ml", "version": 1})
    assert status == "200 OK"
    assert (back["version"], back["message"], back["affected"]) == (3, "roll back to version 1", ["demo"])
    assert target.read_text(encoding="utf-8") == SHIPPED
    _, _, third = call(app, "/api/history", query="name=demo.x3ml&version=3")
    assert (
        third["content"] == SHIPPED
        and third["sha256"] == json.loads((history / "1.json").read_text())["sha256"]
    )
    assert len(_Airflow.events) == 2


def test_a_browser_session_posts_with_its_csrf_token_only(setup):
    app = setup["app"]
    cookie, csrf = app.auth.new_session(CURATOR_USER)
    session = {"HTTP_COOKIE": f"contentcloud_session={cookie}"}
    body = {"name": "mine", "text": "x"}
    status, _, answer = call(app, "/api/drafts", method="POST", body=body, auth=False, extra=session)
    assert (status, answer) == (
        "403 Forbidden",
        {"error": "the page has expired or did not come from this site; reload it"},
    )
    extra = {**session, "HTTP_X_CSRF_TOKEN": csrf}
    status, _, answer = call(app, "/api/drafts", method="POST", body=body, auth=False, extra=extra)
    assert status == "200 OK" and answer["name"] == "mine"
    # a session sees its own drafts, not the token's
    _, _, listed = call(app, "/api/drafts", auth=False, extra=session)
    assert [d["name"] for d in listed["drafts"]] == ["mine"]
    # anonymous: refused before anything is read
    status, _, _ = call(app, "/api/preview", method="POST", body={"datasource": "demo"}, auth=False)
    assert status == "401 Unauthorized"


def test_the_editor_page_and_its_bundle(setup):
    status, headers, page = call(setup["app"], "/editor", query="datasource=demo")
    assert status == "200 OK"
    assert headers["Content-Security-Policy"].startswith(
        "default-src 'none'; style-src 'self' 'unsafe-inline'; script-src 'self';"
    )
    assert '<script src="/curator/static/editor.js"></script>' in page
    assert '<input type="text" id="ed-name" value="demo.x3ml" size="22">' in page
    assert "&lt;x3ml version=&#34;1.0&#34;" in page  # the profile's mapping, escaped, in the editor
    status, headers, bundle = call(setup["app"], "/static/editor.js")
    assert (status, headers["Content-Type"]) == ("200 OK", "text/javascript; charset=utf-8")
    assert (
        bundle.encode()
        == (Path(__file__).resolve().parents[3] / "contentcloud/curator/static/editor.js").read_bytes()
    )
    _, _, workbench = call(setup["app"], "/")
    assert '<a href="/curator/editor" id="open-editor">' in workbench
    status, _, answer = call(setup["app"], "/api/nothing")
    assert (status, answer) == ("404 Not Found", {"error": "no API /api/nothing"})
