"""The RDF store over HTTP, under waitress on 127.0.0.1: /sparql (SPARQL 1.1 Protocol: GET and both
POST forms, every standard result format, content negotiation, the errors and their statuses),
/.well-known/void and the dereferenceable entity URIs (303 to /page or /data)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass

import pyoxigraph as ox
import pytest
import requests
import yaml

from contentcloud.pipeline.rdf import run_rdf
from contentcloud.settings import Settings, load_settings
from contentcloud.web import PrefixDispatcher, rdf_routes
from mdstore import open_store
from tests.integration.oai.conftest import start_server
from tests.integration.rdf.conftest import write_version
from tests.pe_records import PE, pe_records

VOID = "http://rdfs.org/ns/void#"
ENTITIES = f"SELECT (COUNT(?s) AS ?n) WHERE {{ ?s a <{PE}PE22_Persistent_Dataset> }}"


@dataclass
class Running:
    url: str
    settings: Settings
    record_ids: dict[str, str]


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    directory = tmp_path_factory.mktemp("rdf-http")
    registry = directory / "registry"
    registry.mkdir()
    (registry / "ads.yaml").write_text(yaml.safe_dump({
        "id": "ads", "name": "Archaeology Data Service", "nsprefix": "ads",
        "api": {"protocol": "oai", "baseurl": "http://127.0.0.1:1/oai", "metadata_prefix": "oai_dc"},
    }))  # fmt: skip
    settings = load_settings(
        environ={
            "CONTENTCLOUD_VAR": str(directory / "var"),
            "CONTENTCLOUD_MDSTORE": f"sqlite:///{directory / 'mdstore.sqlite'}",
            "CONTENTCLOUD_REGISTRY": str(registry),
            "CONTENTCLOUD_RDF_BASE": "http://example.org/",
            "CONTENTCLOUD_SPARQL_TIMEOUT": "2",
            "CONTENTCLOUD_SPARQL_MAX_BYTES": "100000",
            "CONTENTCLOUD_OAI_REPOSITORY_IDENTIFIER": "cc.test",
        },
        base_dir=directory,
    )
    with open_store(settings.mdstore) as store:
        version = write_version(store, pe_records(40, prefix="ads"))
        with store.reader(_unit(), version) as view:
            record_ids = {oid: rid for rid, oid, _ in view.ids()}
    assert run_rdf("ads", settings).extra["records"] == 40
    app = PrefixDispatcher(rdf_routes(settings))
    server, url, stop = start_server(app)
    try:
        yield Running(url, settings, record_ids)
    finally:
        stop()
        app._routes["/sparql"].backend.get().close()


def _unit():
    from tests.integration.rdf.conftest import datasource

    return datasource().transformed_unit


def sparql(running: Running, query: str, accept: str = "application/sparql-results+json", **kwargs):
    params = {"query": query, **kwargs}
    return requests.get(f"{running.url}/sparql", params=params, headers={"Accept": accept}, timeout=30)


def test_select_over_get_and_both_post_forms(running: Running) -> None:
    got = sparql(running, ENTITIES)
    assert got.status_code == 200
    assert got.headers["Content-Type"] == "application/sparql-results+json; charset=utf-8"
    assert json.loads(got.content)["results"]["bindings"][0]["n"]["value"] == "10"
    form = requests.post(f"{running.url}/sparql", data={"query": ENTITIES},
                         headers={"Accept": "text/csv"}, timeout=30)  # fmt: skip
    assert (form.status_code, form.text) == (200, "n\r\n10\r\n")
    direct = requests.post(f"{running.url}/sparql", data=ENTITIES.encode(),
                           headers={"Content-Type": "application/sparql-query",
                                    "Accept": "text/tab-separated-values"}, timeout=30)  # fmt: skip
    assert (direct.status_code, direct.headers["Content-Type"]) == (
        200,
        "text/tab-separated-values; charset=utf-8",
    )
    assert direct.text.splitlines() == ["?n", "10"]  # TSV writes numbers as Turtle shorthand


def test_every_result_format_by_content_negotiation(running: Running) -> None:
    xml = sparql(running, ENTITIES, "application/sparql-results+xml")
    assert xml.headers["Content-Type"] == "application/sparql-results+xml; charset=utf-8"
    assert b'<literal datatype="http://www.w3.org/2001/XMLSchema#integer">10</literal>' in xml.content
    ask = sparql(running, f"ASK {{ ?s a <{PE}PE22_Persistent_Dataset> }}", "application/json")
    assert json.loads(ask.content)["boolean"] is True
    rows = list(csv.reader(io.StringIO(sparql(running, "SELECT ?s WHERE { ?s a ?c } ORDER BY ?s LIMIT 3",
                                              "text/csv;q=0.9, application/xml;q=0.1").text)))  # fmt: skip
    assert rows[0] == ["s"]
    assert len(rows) == 4
    construct = f"CONSTRUCT {{ ?s a ?c }} WHERE {{ ?s a ?c FILTER(?c = <{PE}PE22_Persistent_Dataset>) }}"
    for media, fmt in (
        ("text/turtle", ox.RdfFormat.TURTLE),
        ("application/n-triples", ox.RdfFormat.N_TRIPLES),
        ("application/rdf+xml", ox.RdfFormat.RDF_XML),
        ("application/ld+json", ox.RdfFormat.JSON_LD),
    ):
        answer = sparql(running, construct, media)
        assert (answer.status_code, answer.headers["Content-Type"]) == (200, f"{media}; charset=utf-8")
        assert len(list(ox.parse(answer.content, format=fmt))) == 10
    browser = sparql(running, construct, "text/html,application/xhtml+xml,*/*;q=0.8")
    assert browser.headers["Content-Type"] == "text/turtle; charset=utf-8"  # */* takes the default
    forced = sparql(running, ENTITIES, "text/html", format="csv")
    assert forced.text == "n\r\n10\r\n"


def test_errors_answer_with_the_protocol_status_and_one_clear_line(running: Running) -> None:
    bad = sparql(running, "SELECT ?s WHERE { ?s ?p ")
    assert bad.status_code == 400
    assert bad.text.startswith("not SPARQL 1.1: ")
    missing = requests.get(f"{running.url}/sparql", timeout=30)
    assert (missing.status_code, missing.text) == (400, "no query: pass query=… (SPARQL 1.1 Protocol)\n")
    form = requests.get(f"{running.url}/sparql", headers={"Accept": "text/html"}, timeout=30)
    assert form.status_code == 200
    assert "<form" in form.text
    refused = sparql(running, ENTITIES, "image/png")
    assert refused.status_code == 406
    assert refused.text.startswith("this query's answer (solutions) comes as application/sparql-results+json")
    update = requests.post(f"{running.url}/sparql", data={"update": "DROP ALL"}, timeout=30)
    assert (update.status_code, update.text) == (400, "this endpoint answers queries only (no update=)\n")
    large = sparql(running, "SELECT * WHERE { ?s ?p ?o }")
    assert (large.status_code, large.text) == (
        500,
        "the result is larger than the limit of 100000 bytes; narrow the query or add LIMIT\n",
    )
    slow = sparql(running, "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }")
    assert (slow.status_code, slow.text) == (
        503,
        "the query ran longer than the limit of 2 s and was stopped; narrow it or add LIMIT\n",
    )
    after = sparql(running, ENTITIES)  # the killed worker was replaced
    assert json.loads(after.content)["results"]["bindings"][0]["n"]["value"] == "10"


def test_void_describes_each_datasource_graph(running: Running) -> None:
    answer = requests.get(f"{running.url}/.well-known/void", headers={"Accept": "text/turtle"}, timeout=30)
    assert (answer.status_code, answer.headers["Content-Type"]) == (200, "text/turtle; charset=utf-8")
    store = ox.Store()
    store.load(answer.content, format=ox.RdfFormat.TURTLE)
    subset = ox.NamedNode(f"{running.url}/.well-known/void#ads")
    triples = int(next(store.quads_for_pattern(subset, ox.NamedNode(VOID + "triples"), None)).object.value)
    with open_store(running.settings.mdstore):
        pass
    expected = sparql(
        running, "SELECT (COUNT(*) AS ?n) WHERE { GRAPH <http://example.org/graph/ads> { ?s ?p ?o } }"
    )
    assert triples == int(json.loads(expected.content)["results"]["bindings"][0]["n"]["value"])
    rows = json.loads(store.query(
        f"SELECT ?n WHERE {{ <{subset.value}> <{VOID}classPartition> ?c . ?c <{VOID}class> "
        f"<{PE}PE22_Persistent_Dataset> ; <{VOID}entities> ?n }}"
    ).serialize(format=ox.QueryResultsFormat.JSON))["results"]["bindings"]  # fmt: skip
    assert [r["n"]["value"] for r in rows] == ["10"]
    title = next(store.quads_for_pattern(subset, ox.NamedNode("http://purl.org/dc/terms/title"), None)).object
    assert title.value == "Archaeology Data Service"
    endpoint = next(store.quads_for_pattern(None, ox.NamedNode(VOID + "sparqlEndpoint"), None)).object
    assert endpoint.value == f"{running.url}/sparql"


def test_entity_uris_answer_303_to_a_page_or_a_document(running: Running) -> None:
    to_data = requests.get(f"{running.url}/resource/ads/4", headers={"Accept": "text/turtle"},
                           allow_redirects=False, timeout=30)  # fmt: skip
    assert (to_data.status_code, to_data.headers["Location"]) == (303, "/data/ads/4.ttl")
    to_page = requests.get(f"{running.url}/resource/ads/4", headers={"Accept": "text/html"},
                           allow_redirects=False, timeout=30)  # fmt: skip
    assert (to_page.status_code, to_page.headers["Location"]) == (303, "/page/ads/4")
    data = requests.get(f"{running.url}/data/ads/4.nt", timeout=30)
    assert data.headers["Content-Type"] == "application/n-triples; charset=utf-8"
    triples = [q.triple for q in ox.parse(data.content, format=ox.RdfFormat.N_TRIPLES)]
    assert (
        ox.Triple(
            ox.NamedNode("http://example.org/ads/4"),
            ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type"),
            ox.NamedNode(f"{PE}PE22_Persistent_Dataset"),
        )
        in triples
    )
    for ext, fmt in (
        ("ttl", ox.RdfFormat.TURTLE),
        ("rdf", ox.RdfFormat.RDF_XML),
        ("jsonld", ox.RdfFormat.JSON_LD),
    ):
        other = requests.get(f"{running.url}/data/ads/4.{ext}", timeout=30)
        assert {q.triple for q in ox.parse(other.content, format=fmt)} == set(triples)
    page = requests.get(f"{running.url}/page/ads/4", timeout=30)
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    crm = "http://www.cidoc-crm.org/cidoc-crm/"
    path = f"<{crm}P1_is_identified_by>/<{crm}P190_has_symbolic_content>"
    titles = sparql(running, f"SELECT ?l WHERE {{ <http://example.org/ads/4> {path} ?l }}")
    label = json.loads(titles.content)["results"]["bindings"][0]["l"]["value"]
    assert label.endswith(" 00004")
    assert f"<h1>{label}</h1>" in page.text
    assert '<a href="/resource/ads/4/title">' in page.text  # a related entity, dereferenceable
    record_id = running.record_ids["oai:ads:4"]
    assert f"<code>{record_id}</code>" in page.text
    assert f"/oai?verb=GetRecord&amp;identifier=oai%3Acc.test%3A{record_id.replace(':', '%3A')}" in page.text
    unknown = requests.get(f"{running.url}/resource/ads/nothing-here", timeout=30)
    assert (unknown.status_code, unknown.text) == (
        404,
        "no entity http://example.org/ads/nothing-here in the graph\n",
    )
