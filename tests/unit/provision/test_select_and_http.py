"""Solr's /select parameters as the embedded index reads them, and the WSGI app serving /select."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from mdstore.errors import UnknownPlugin
from provision.index.base import BadRequest, IndexState
from provision.index.http import SelectApp, index_factory
from provision.index.select import FacetQuery, FieldList, parse_request
from provision.index.sqlite import SqliteIndex
from provision.registry import INDEXES, backend_name, open_index


def test_parameters() -> None:
    request = parse_request(
        [
            ("q", "x"),
            ("fq", "a:b"),
            ("fq", " "),
            ("rows", "5"),
            ("start", "2"),
            ("sort", "title_sort asc,id desc"),
            ("fl", "id title,t*"),
            ("q.op", "AND"),
            ("facet", "on"),
            ("facet.field", "{!ex=t key=k}language"),
            ("facet.limit", "3"),
            ("f.language.facet.mincount", "2"),
            ("facet.query", "bronze"),
        ]
    )
    assert (request.q, request.filters, request.rows, request.start, request.default_and) == (
        "x",
        ["a:b"],
        5,
        2,
        True,
    )
    assert [(s.field, s.ascending) for s in request.sort] == [("title_sort", True), ("id", False)]
    assert request.fl.patterns == ("id", "title", "t*")
    (facet,) = request.facet_fields
    assert (facet.field, facet.key, facet.exclude_tags, facet.limit, facet.mincount) == (
        "language",
        "k",
        ("t",),
        3,
        2,
    )
    assert request.facet_queries == [FacetQuery("bronze", "bronze")]
    keyed = parse_request([("facet", "true"), ("facet.query", "{!ex=a,b key=k}x:1")]).facet_queries
    assert keyed == [FacetQuery("{!ex=a,b key=k}x:1", "k", ("a", "b"))]
    assert parse_request([("fl", "t:title,id,s:score,x:bogus")]).fl == FieldList(
        ("id",), score=True, renames=(("t", "title"), ("s", "score")), plain_score=False
    )
    assert parse_request([("fl", "score")]).fl == FieldList((), score=True)  # Solr 9: the score alone
    assert parse_request([("fl", "id,score")]).fl == FieldList(("id",), score=True)
    assert not parse_request([("fl", "id")]).fl.score
    assert parse_request([]).fl.patterns == ("*",)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            [("sort", "title_sort")],
            "Can't determine a Sort Order (asc or desc) in sort spec 'title_sort', pos=10",
        ),
        ([("sort", "id up")], "Can't determine a Sort Order (asc or desc) in sort spec 'id up', pos=2"),
        ([("rows", "abc")], 'For input string: "abc"'),
        ([("start", "-1")], "'start' parameter cannot be negative"),
        ([("wt", "xml")], "wt=xml is not supported by the embedded index (json only)"),
        (
            [("facet", "true"), ("facet.range", "indexed_at")],
            "Missing required parameter: f.indexed_at.facet.range.start (or default: facet.range.start)",
        ),
        (
            [("facet", "true"), ("facet.interval", "pages_i")],
            "facet.interval (facet.interval) is not supported by the embedded index",
        ),
        (
            [("stats", "true"), ("stats.facet", "x")],
            "stats.facet (stats.facet) is not supported by the embedded index",
        ),
        ([("group", "true")], "grouping (group) is not supported by the embedded index"),
        (
            [("fl", "id,[docid]")],
            "fl=[docid]: functions, transformers and aliases of globs are not supported by the "
            "embedded index (field names, globs and alias:field only)",
        ),
        (
            [("fl", "t:ti*")],
            "fl=t:ti*: functions, transformers and aliases of globs are not supported by the "
            "embedded index (field names, globs and alias:field only)",
        ),
        (
            [("fl", "t:title,t:id")],
            "fl=t:id: an alias that is a field name or used twice is not supported by the embedded index",
        ),
        (
            [("fl", "id:title")],
            "fl=id:title: an alias that is a field name or used twice is not supported by the embedded index",
        ),
        (
            [("facet", "true"), ("facet.pivot", "datasource,language"), ("f.language.facet.missing", "on")],
            "facet.missing with facet.pivot is not supported by the embedded index",
        ),
        ([("rows", "2147483648")], 'For input string: "2147483648"'),  # Solr: a Java int
        ([("start", "2147483648")], 'For input string: "2147483648"'),
        ([("rows", " 5")], 'For input string: " 5"'),
        ([("rows", "1_000")], 'For input string: "1_000"'),
        (
            [("facet", "true"), ("facet.field", "x"), ("facet.limit", "9999999999")],
            'For input string: "9999999999"',
        ),
        ([("timeAllowed", "soon")], 'For input string: "soon"'),
        (
            [("defType", "func")],
            "defType=func: the func query parser is not supported by the embedded index "
            "(lucene, dismax, edismax)",
        ),
        ([("defType", "edismax"), ("bq", "x")], "edismax's bq (bq) is not supported by the embedded index"),
        ([("defType", "bogus")], "defType=bogus: invalid query parser 'bogus'"),
        ([("debugQuery", "true")], "debugging (debugQuery) is not supported by the embedded index"),
        ([("debug", "query")], "debugging (debug) is not supported by the embedded index"),
        ([("json", '{"query": "x", "bogus": 1}')], "Unknown top-level key in JSON request : bogus"),
        (
            [("json", '{"params": {}}')],
            "the JSON request API's 'params' (json) is not supported by the embedded index",
        ),
        (
            [("json", '{"facet": {"x": "sum(pages_i)"}}')],
            'json.facet x: "sum(pages_i)" is not supported by the embedded index (terms and range facets '
            "given as objects; no aggregations, query facets or short forms)",
        ),
        ([("json", "[1]")], "Expected JSON Object but got list=[1]"),
        ([("json", '{"limit": 2.5}')], 'For input string: "2.5"'),
        (
            [("json", '{"query": {"lucene": {"query": "x"}}}')],
            """the JSON request API's 'query': {"lucene": {"query": "x"}} is not supported by the embedded """
            "index (strings only; no JSON query DSL)",
        ),
        (
            [("json", "{}"), ("json", "{}")],
            "the JSON request API (json) is supported by the embedded index once per request",
        ),
        (
            [("json.query", "x")],
            "JSON request parameters (json.<key>) (json.query) is not supported by the embedded index",
        ),
        (
            [("json.facet", '{"d": {"type": "terms", "field": "datasource", "missing": true}}')],
            "json.facet d: missing is not supported by the embedded index",
        ),
        ([("rq", "{!rerank reRankQuery=x}")], "re-ranking (rq) is not supported by the embedded index"),
        ([("NOW", "0")], "a fixed NOW (NOW) is not supported by the embedded index"),
        ([("echoParams", "all")], "echoParams=all is not supported by the embedded index (explicit or none)"),
        (
            [("facet", "on"), ("facet.field", "x"), ("facet.matches", "([")],
            "facet.matches=([: not a regular expression (unterminated character set at position 2)",
        ),
    ],
)
def test_parameter_refusals(params: list[tuple[str, str]], message: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_request(params)
    assert str(caught.value) == message


def test_parameters_solr_ignores_are_ignored() -> None:
    assert parse_request([("indent", "true"), ("debugQuery", "false"), ("facet.range", "x")]).facet is False
    # facet.* count only with facet=true; switches only when on; tuning hints and unknown names never
    parse_request([("facet.contains", "x"), ("hl", "false"), ("hl.fl", "title"), ("facet.method", "enum")])
    parse_request(
        [("qf", "title"), ("mm", "2"), ("defType", "lucene"), ("cache", "false"), ("whatever", "1")]
    )


def test_one_declared_list_of_parameters() -> None:
    """Every parameter is either implemented, without effect on the answer, or refused by name."""
    from provision.index.select import NO_EFFECT, SUPPORTED, UNSUPPORTED

    assert not SUPPORTED & NO_EFFECT
    assert set(UNSUPPORTED) & SUPPORTED == {"debug", "debugQuery"}  # false only
    for name in set(UNSUPPORTED) - {"debugQuery"}:
        facet = [("facet", "true")] if name.startswith("facet.") else []
        with pytest.raises(
            BadRequest, match=rf"\({re.escape(name)}\) is not supported by the embedded index"
        ):
            parse_request([*facet, (name, "true")])


def test_facet_term_filters() -> None:
    request = parse_request(
        [
            ("facet", "true"),
            ("facet.field", "subject_facet"),
            ("facet.contains", "AGE"),
            ("facet.contains.ignoreCase", "true"),
            ("facet.excludeTerms", "Iron Age,a\\,b"),
            ("f.subject_facet.facet.matches", ".*e"),
        ]
    )
    facet = request.facet_fields[0]
    assert facet.exclude_terms == frozenset({"Iron Age", "a,b"})
    assert [
        v for v in ["Bronze Age", "Iron Age", "Stone age", "Age of Iron", "Ages"] if facet.accepts(v)
    ] == [
        "Bronze Age",
        "Stone age",
    ]


# --------------------------------------------------------------------------------------- WSGI


@pytest.fixture
def app(tmp_path: Path):
    with SqliteIndex(tmp_path / "index.sqlite", "catalogue") as index:
        writer = index.open_writer("ads")
        writer.add(
            [
                {"id": "ads::1", "datasource": "ads", "title": "Zeus temple"},
                {"id": "ads::2", "datasource": "ads", "title": "Bronze hoard"},
            ]
        )
        writer.commit(IndexState("ads", "v1", "u", "refeed"))
    app = SelectApp(index_factory(f"sqlite:///{tmp_path / 'index.sqlite'}"))
    yield app
    app.close()


def call(
    app: SelectApp,
    path: str,
    query: str = "",
    method: str = "GET",
    body: bytes = b"",
    content_type: str = "application/x-www-form-urlencoded",
) -> tuple[str, dict[str, str], Any]:
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        seen["status"], seen["headers"] = status, dict(headers)

    environ = {
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "REQUEST_METHOD": method,
        "CONTENT_TYPE": content_type,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    data = b"".join(app(environ, start_response))
    return seen["status"], seen["headers"], json.loads(data)


def test_select_over_http(app: SelectApp) -> None:
    status, headers, body = call(app, "/solr/catalogue/select", "q=title:zeus&fl=id")
    assert status == "200 OK"
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert body["response"]["docs"] == [{"id": "ads::1"}]
    status, _, body = call(app, "/catalogue/select", method="POST", body=b"q=*:*&rows=0")
    assert (status, body["response"]["numFound"]) == ("200 OK", 2)
    request = b'{"query": "*:*", "filter": ["title:zeus"], "fields": ["id"], "limit": 5, "sort": "id desc"}'
    status, _, body = call(
        app, "/solr/catalogue/select", method="POST", body=request, content_type="application/json"
    )
    assert (status, body["response"]["docs"]) == ("200 OK", [{"id": "ads::1"}])
    assert body["responseHeader"]["params"] == {"json": request.decode()}  # as Solr echoes a JSON body


def test_the_json_request_api_folds_in_as_solr_does() -> None:
    """query/limit/offset/sort replace q/rows/start/sort; filter and fields add fq and fl values
    (what Solr 9.10 answered on the test server); the echo keeps the parameters as sent."""
    request = parse_request(
        [
            ("q", "temple"),
            ("rows", "3"),
            ("fq", "a:b"),
            ("fl", "title"),
            (
                "json",
                '{"query": "bronze", "filter": ["c:d", "e:f"], "limit": "2", "offset": 1, "fields": "id"}',
            ),
        ]
    )
    assert (request.q, request.filters, request.rows, request.start) == (
        "bronze",
        ["a:b", "c:d", "e:f"],
        2,
        1,
    )
    assert request.fl == FieldList(("title", "id"))
    assert [k for k, _ in request.params] == ["q", "rows", "fq", "fl", "json"]


def test_errors_over_http_have_solrs_shape(app: SelectApp) -> None:
    status, _, body = call(app, "/solr/catalogue/select", "q=bogus:x")
    assert status == "400 Bad Request"
    assert body["error"] == {
        "metadata": [
            "error-class",
            "org.apache.solr.common.SolrException",
            "root-error-class",
            "org.apache.solr.common.SolrException",
        ],
        "msg": "undefined field bogus",
        "code": 400,
    }
    assert body["responseHeader"]["status"] == 400
    assert body["responseHeader"]["params"] == {"q": "bogus:x"}
    status, _, body = call(app, "/solr/nope/select", "q=*:*")
    assert (status, body["error"]["code"]) == ("404 Not Found", 404)
    assert "no embedded index 'nope'" in body["error"]["msg"]
    assert call(app, "/solr/catalogue/update")[0] == "404 Not Found"
    assert call(app, "/solr/catalogue/select", method="DELETE")[0] == "405 Method Not Allowed"
    status, _, body = call(
        app, "/solr/catalogue/select", method="POST", body=b'{"bogus": 1}', content_type="application/json"
    )
    assert (status, body["error"]["msg"]) == (
        "400 Bad Request",
        "Unknown top-level key in JSON request : bogus",
    )
    status, _, body = call(
        app, "/solr/catalogue/select", method="POST", body=b"<q/>", content_type="text/xml"
    )
    assert status == "400 Bad Request"
    assert body["error"]["msg"] == (
        "POST bodies must be application/x-www-form-urlencoded or application/json, not text/xml"
    )
    status, _, body = call(app, "/solr/catalogue/select", "q=*:*&rows=2147483648")
    assert (status, body["error"]["msg"]) == ("400 Bad Request", 'For input string: "2147483648"')


def test_a_read_never_creates_an_index(app: SelectApp, tmp_path: Path) -> None:
    call(app, "/solr/other/select", "q=*:*")
    with pytest.raises(Exception, match="no embedded index 'other'"):
        SqliteIndex(tmp_path / "index.sqlite", "other", create=False)


# --------------------------------------------------------------------------------------- registry


def test_backends_by_scheme(tmp_path: Path) -> None:
    assert INDEXES.names() == ["solr", "sqlite"]
    assert backend_name("https://solr.example.org/solr/catalogue") == "solr"
    assert backend_name("sqlite:///var/index.sqlite") == "sqlite"
    index = open_index(f"sqlite:///{tmp_path / 'x.sqlite'}", name="named")
    assert (type(index).__name__, index.name) == ("SqliteIndex", "named")
    index.close()
    solr = open_index(
        "http://user:secret@127.0.0.1:8983/solr/catalogue?batch=200&commitWithin=5000&senders=2"
    )
    assert (solr.base, solr.name, solr.batch_size, solr.commit_within_ms, solr.senders) == (
        "http://127.0.0.1:8983/solr",
        "catalogue",
        200,
        5000,
        2,
    )
    assert solr.http.session.auth == ("user", "secret")
    with pytest.raises(UnknownPlugin, match="valid names: solr, sqlite"):
        open_index("elastic://localhost/x")


def test_mounted_under_the_web_apps_dispatcher(app: SelectApp) -> None:
    """``contentcloud serve`` mounts the app at /solr: it then sees PATH_INFO ``/<index>/select``."""
    from contentcloud.web import PrefixDispatcher

    dispatcher = PrefixDispatcher({"/solr": app})
    status, _, body = call(dispatcher, "/solr/catalogue/select", "q=bronze&fl=id")  # type: ignore[arg-type]
    assert (status, body["response"]["docs"]) == ("200 OK", [{"id": "ads::2"}])
