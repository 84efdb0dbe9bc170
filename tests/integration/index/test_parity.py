"""Parity: the same queries against real Solr and the embedded index over the same documents.

Documents are the PE profile's output for synthetic PE records (tests/pe_records.py), the hand-written
fixtures, and a few documents with dynamic fields and missing values. Every query must give the same
numFound, the same ids (in the same order where the query sorts; as a set where Solr would rank by
score) and the same facet counts; documents asked with ``fl`` must be equal field for field. Bad
queries must be refused by both.
"""

from __future__ import annotations

import json
import random
import re
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from mdstore.envelope import Record
from provision.index import sqlite as sqlite_module
from provision.index.base import BadRequest, IndexBackend, IndexState, as_params
from provision.index.profile import load_profile
from provision.index.solr import SolrIndex
from provision.index.sqlite import SqliteIndex
from tests.integration.index.conftest import ROOT, unload_cores
from tests.pe_records import pe_records
from tests.servers import SolrServer

pytestmark = pytest.mark.integration

FIXTURES = ROOT / "tests" / "fixtures" / "index"
EXTRA_DOCS = [
    {
        "id": "x::1",
        "datasource": "extra",
        "title": "Émile's field notes",
        "pages_i": 120,
        "period_txt": ["fin de siècle"],
        "digitised_b": True,
        "catalogued_dt": "2020-02-29T12:00:00Z",
        "series_s": "Notebooks",
        "tags_ss": ["a", "b"],
        "time_span": ["1890"],
        "indexed_at": "2024-05-01T10:00:00Z",
    },
    {
        "id": "x::2",
        "datasource": "extra",
        "title": "emile zola letters",
        "pages_i": 7,
        "digitised_b": False,
        "series_s": "Letters",
        "tags_ss": ["b"],
        "time_span": ["[1870 TO 1902]"],
        "indexed_at": "2024-05-02T10:00:00.5Z",
    },
    {"id": "x::3", "datasource": "extra", "series_s": "Letters", "tags_ss": ["c"]},  # no title, no dates
    {
        "id": "x::4",
        "datasource": "extra",
        "title": "Zeus temple at Olympia",
        "pages_i": 33,
        "time_span": ["[-0800 TO -0500]"],
        "language": ["el", "en"],
    },
    # for ranking: "obsidian" four times in x::5's title, once in the others' (no other document has it)
    {"id": "x::6", "datasource": "extra", "title": "obsidian blade"},
    {"id": "x::5", "datasource": "extra", "title": "obsidian obsidian obsidian obsidian mirror"},
    {"id": "x::7", "datasource": "extra", "title": "obsidian core from a quarry by the river"},
    {"id": "x::8", "datasource": "extra", "title": "a flint blade", "description": "obsidian flakes"},
]


def documents() -> list[dict[str, Any]]:
    profile = load_profile(ROOT / "mappings" / "index" / "pe.yaml")
    docs = []
    records = [(f"ads::{i:04d}", oid, body) for i, (oid, body) in enumerate(pe_records(300, prefix="ads"))]
    records += [
        (f"fix::{p.stem}", p.stem, p.read_text())
        for p in sorted(FIXTURES.iterdir())
        if p.stem not in ("not_rdf", "no_main_entity")
    ]
    for i, (record_id, original_id, body) in enumerate(records):
        record = Record(record_id, original_id, "ads", "PE", body, "x", None)
        datasource = "ads" if i % 3 else "dans"
        doc, _ = profile.build(
            record,
            datasource=datasource,
            version=f"v{i % 2}",
            indexed_at=f"2024-05-{1 + i % 28:02d}T10:00:00Z",
            provider={"ads": "Archaeology Data Service", "dans": "DANS"}[datasource],
        )
        docs.append(doc)
    return docs + EXTRA_DOCS


@pytest.fixture(scope="module")
def pair(
    solr_server: SolrServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[IndexBackend, IndexBackend]]:
    name = f"parity{uuid.uuid4().hex[:8]}"
    solr = SolrIndex(solr_server.url, name, batch_size=200)
    embedded = SqliteIndex(tmp_path_factory.mktemp("parity") / "index.sqlite", name)
    docs = documents()
    for backend in (solr, embedded):
        writer = backend.open_writer("ads", rebuild=True)
        writer.add(docs)
        assert writer.flush() == []
        with pytest.MonkeyPatch.context() as patch:
            # leaders lists for every term in 2 documents or more, 5 deep (at 148 documents no term
            # reaches the real threshold): the ranked one-term requests of the sweep are answered
            # from them, pages past a list's end by scoring every match
            patch.setattr(sqlite_module, "LEADERS_MIN_MATCHES", 2)
            patch.setattr(sqlite_module, "LEADERS_DEPTH", 5)
            writer.commit(IndexState("ads", "v1", "ads/PE/store/transformed", "full"))
    assert solr.count() == embedded.count() == len(docs)
    yield solr, embedded
    solr.close()
    embedded.close()
    unload_cores(solr_server, name)


FACETS = {"facet": "true", "facet.field": ["datasource", "subject_facet", "language", "entity_type_label"]}

# (query parameters, ordered?): ordered queries sort with a unique tie-breaker
QUERIES: list[tuple[dict[str, Any], bool]] = [
    ({"q": "*:*"}, False),
    ({"q": "bronze"}, False),
    ({"q": "title:Zeus"}, False),
    ({"q": "title:(zeus temple)"}, False),
    ({"q": '"roman villa"'}, False),
    ({"q": 'subject:"bronze age"'}, False),
    ({"q": "title:excavation AND subject:temple"}, False),
    ({"q": "bronze OR temple AND hoard"}, False),
    ({"q": "+coins -pottery"}, False),
    ({"q": "coins AND NOT datasource:dans"}, False),
    ({"q": "NOT datasource:ads"}, False),
    ({"q": "(-datasource:ads)"}, False),
    ({"q": "title:zeus (-datasource:ads)"}, False),
    ({"q": "title:arch*"}, False),
    ({"q": "subject_facet:Bronze*"}, False),
    ({"q": 'subject_facet:"Roman villa"'}, False),
    ({"q": "emile"}, False),
    ({"q": "emile's"}, False),
    ({"q": "siecle"}, False),
    ({"q": "period_txt:siecle"}, False),
    ({"q": 'period_txt:"de siecle"'}, False),
    ({"q": "period_txt:sie*"}, False),
    ({"q": 'subject:"age hoard"'}, False),  # two values of one field: no phrase across them
    ({"q": 'subject:"bronze age"'}, False),
    ({"q": "deutsches archaologisches"}, False),
    ({"q": "lodz"}, False),
    ({"q": "bronze age", "q.op": "AND"}, False),
    ({"q": "olympia", "df": "place"}, False),
    ({"q": "language:*"}, False),
    ({"q": "title:*"}, False),
    ({"q": "pages_i:[10 TO 100]"}, False),
    ({"q": "digitised_b:true"}, False),
    ({"q": "indexed_at:[2024-05-10T00:00:00Z TO 2024-05-12T23:59:59Z]"}, False),
    ({"q": "catalogued_dt:[2020-01-01T00:00:00Z TO *]"}, False),
    ({"q": "time_span:[1300 TO 1400]"}, False),
    ({"q": "time_span:1890"}, False),
    # issue 17: an exclusive bound leaves out the whole period it names, as DateRangeField does
    ({"q": "time_span:{1880 TO 1890}"}, False),
    ({"q": "time_span:[1880 TO 1890}"}, False),
    ({"q": "time_span:{1890 TO 1895]"}, False),
    ({"q": "time_span:{1350 TO 1890]"}, False),
    ({"q": "time_span:{1351-01 TO 1400-06-30}"}, False),
    ({"q": "time_span:{* TO 1870}"}, False),
    ({"q": "*:*", "fq": "{!field f=time_span op=Within}[-1000 TO 0]"}, False),
    ({"q": "*:*", "fq": "{!field f=time_span op=Contains}[1300 TO 1310]"}, False),
    ({"q": "*:*", "fq": ["datasource:ads", "language:de"]}, False),
    ({"q": "id:fix\\:\\:dataset_full"}, False),
    ({"q": "*:*", "sort": "title_sort asc, id asc", "rows": 40}, True),
    ({"q": "*:*", "sort": "title_sort desc, id asc", "rows": 15, "start": 290}, True),
    ({"q": "bronze", "sort": "indexed_at desc, id asc", "rows": 25, "start": 10}, True),
    ({"q": "*:*", "sort": "pages_i asc, id desc", "rows": 10}, True),
    ({"q": "*:*", "sort": "id desc", "rows": 7, "start": 3}, True),
    ({"q": "*:*", "sort": "language asc, id desc", "rows": 40}, True),  # multivalued: least value
    ({"q": "*:*", "sort": "language desc, id asc", "rows": 40, "start": 150}, True),  # greatest value
    ({"q": "*:*", "sort": "tags_ss desc, pages_i asc, id asc", "rows": 12}, True),
    ({"q": 'title:zeus OR _query_:"{!lucene q.op=AND}bronze age"'}, False),
    ({"q": "*:*", "fq": "{!tag=ds cache=false}datasource:dans"}, False),
    (
        {
            "q": "bronze",
            "rows": 0,
            "facet": "true",
            "facet.range": ["indexed_at", "pages_i"],
            "f.indexed_at.facet.range.start": "2024-05-01T00:00:00Z",
            "f.indexed_at.facet.range.end": "2024-06-01T00:00:00Z",
            "f.indexed_at.facet.range.gap": "+7DAYS",
            "f.pages_i.facet.range.start": 0,
            "f.pages_i.facet.range.end": 200,
            "f.pages_i.facet.range.gap": 50,
            "facet.range.other": "all",
            "facet.pivot": "datasource,language",
            "stats": "true",
            "stats.field": ["pages_i", "{!min=true max=true count=true missing=true}indexed_at", "language"],
        },
        False,
    ),
    ({"q": "temple", "sort": "score desc, id asc"}, False),  # scores differ (BM25 variants): sets only
    ({"q": "*:*", "rows": 0, **FACETS}, False),
    ({"q": "bronze", "rows": 0, **FACETS, "facet.limit": 3}, False),
    ({"q": "*:*", "rows": 0, "fq": "datasource:dans", **FACETS, "facet.mincount": 0}, False),
    ({"q": "*:*", "rows": 0, **FACETS, "facet.sort": "index", "facet.mincount": 1}, False),
    (
        {
            "q": "*:*",
            "rows": 0,
            "facet": "true",
            "facet.field": "subject_facet",
            "facet.prefix": "B",
            "f.subject_facet.facet.limit": 1,
        },
        False,
    ),
    (
        {
            "q": "*:*",
            "rows": 0,
            "facet": "true",
            "facet.field": ["actor_facet", "place_facet", "rights"],
            "facet.offset": 1,
            "facet.limit": 2,
        },
        False,
    ),
    (
        {
            "q": "*:*",
            "rows": 0,
            "fq": "{!tag=ds}datasource:dans",
            "facet": "true",
            "facet.field": ["{!ex=ds key=all_sources}datasource", "datasource", "series_s", "tags_ss"],
        },
        False,
    ),
    (
        {
            "q": "*:*",
            "rows": 0,
            "facet": "true",
            "facet.field": ["pages_i", "digitised_b", "indexed_at"],
            "facet.limit": 5,
        },
        False,
    ),
    (
        {
            "q": "*:*",
            "rows": 0,
            "facet": "true",
            "facet.query": ["bronze", "datasource:dans", "time_span:[0 TO 500]"],
        },
        False,
    ),
    (
        {
            "q": "*:*",
            "rows": 0,
            "fq": "{!tag=ds}datasource:dans",
            "facet": "true",
            "facet.query": ["{!key=b}bronze", "{!ex=ds}bronze", "{!ex=ds key=all}*:*"],
            "facet.field": "language",
            "facet.sort": "index desc",
        },
        False,
    ),
]


def _ids(answer: dict[str, Any]) -> list[str]:
    return [doc["id"] for doc in answer["response"]["docs"]]


@pytest.mark.parametrize(("params", "ordered"), QUERIES, ids=[str(p) for p, _ in QUERIES])
def test_same_answers(pair: tuple[IndexBackend, IndexBackend], params: dict[str, Any], ordered: bool) -> None:
    solr, embedded = pair
    params = {"rows": 1000, "fl": "id", **params}
    expected = solr.select(params)
    found = embedded.select(params)
    assert found["response"]["numFound"] == expected["response"]["numFound"]
    if ordered:
        assert _ids(found) == _ids(expected)
    else:
        assert sorted(_ids(found)) == sorted(_ids(expected))
    if "facet_counts" in expected:
        assert found["facet_counts"]["facet_fields"] == expected["facet_counts"]["facet_fields"]
        assert found["facet_counts"]["facet_queries"] == expected["facet_counts"]["facet_queries"]
        assert found["facet_counts"]["facet_ranges"] == expected["facet_counts"]["facet_ranges"]
        assert found["facet_counts"].get("facet_pivot") == expected["facet_counts"].get("facet_pivot")
    assert found.get("stats") == expected.get("stats")
    echoed = {
        k: v for k, v in expected["responseHeader"]["params"].items() if k != "wt"
    }  # the client adds wt
    assert found["responseHeader"]["params"] == echoed


def _walk(backend: IndexBackend, params: dict[str, Any]) -> list[list[str]]:
    """Every page of a ``cursorMark`` walk, until the mark stops moving (at most 100 pages)."""
    mark, pages = "*", []
    for _ in range(100):
        answer = backend.select({**params, "cursorMark": mark})
        pages.append(_ids(answer))
        if answer["nextCursorMark"] == mark:
            return pages
        mark = answer["nextCursorMark"]
    raise AssertionError("the cursor did not stop")


@pytest.mark.parametrize(
    "params",
    [
        {"q": "*:*", "sort": "id asc", "rows": 50},
        {"q": "bronze", "sort": "title_sort asc, id desc", "rows": 7},
        {"q": "*:*", "sort": "language desc, pages_i asc, id asc", "rows": 33},  # multivalued, missing
        {"q": "*:*", "sort": "indexed_at desc, id asc", "fq": "-datasource:dans", "rows": 100},
    ],
)
def test_cursor_mark_walks_the_same_pages(pair: tuple[IndexBackend, IndexBackend], params: dict) -> None:
    """Deep paging: the same pages in the same order, to the same end (the marks themselves are each
    engine's own encoding of the last sort values, so they are not compared)."""
    solr, embedded = pair
    params = {"fl": "id", **params}
    expected = _walk(solr, params)
    assert _walk(embedded, params) == expected
    assert sum(map(len, expected)) == solr.select({**params, "rows": 0})["response"]["numFound"]
    assert expected[-1] == []


# text queries without sort whose top hit is clear-cut: both backends rank it first (full orders may differ)
RANKED = [
    {"q": "obsidian"},
    {"q": "title:obsidian"},
    {"q": "obsidian", "fq": "datasource:extra"},
    {"q": "mirror OR obsidian"},
    {"q": "obsidian", "sort": "score desc"},
    {"q": "blade flint"},
    {"q": "obsidian", "fl": "*,score", "rows": 2},
    {"q": "obsidian", "fl": "id score", "start": 1},
    {"q": "Zeus OR bronze"},
    {"q": "obsidian OR blade^10"},  # boosts move the top hit: x::6 here, x::5 below
    {"q": "obsidian^10 OR blade"},
]


@pytest.mark.parametrize("params", RANKED, ids=[str(p) for p in RANKED])
def test_same_top_hit(pair: tuple[IndexBackend, IndexBackend], params: dict[str, Any]) -> None:
    solr, embedded = pair
    params = {"rows": 1000, "fl": "id,score", **params}
    expected, found = solr.select(params)["response"], embedded.select(params)["response"]
    assert found["numFound"] == expected["numFound"] > 1
    assert _ids({"response": found})[0] == _ids({"response": expected})[0]
    if "start" not in params and "rows" not in params:
        assert sorted(_ids({"response": found})) == sorted(_ids({"response": expected}))
    scores = [doc["score"] for doc in found["docs"]]
    assert all(isinstance(score, float) for score in scores)
    assert scores == sorted(scores, reverse=True)
    assert [set(doc) for doc in found["docs"]] == [set(doc) for doc in expected["docs"]]


def test_fl_score_alone_returns_the_score_alone(pair: tuple[IndexBackend, IndexBackend]) -> None:
    solr, embedded = pair
    for backend in (solr, embedded):
        docs = backend.select({"q": "obsidian", "fl": "score", "rows": 2})["response"]["docs"]
        assert [list(doc) for doc in docs] == [["score"], ["score"]]


def test_matching_queries_are_many_and_not_trivial(pair: tuple[IndexBackend, IndexBackend]) -> None:
    solr, _ = pair
    counts = [
        solr.select({"q": "*:*", "rows": 0, **p} if "q" not in p else {**p, "rows": 0})["response"][
            "numFound"
        ]
        for p, _ in QUERIES
    ]
    assert len(QUERIES) >= 25
    assert sum(1 for c in counts if 0 < c < solr.count()) >= 25  # most queries select something, not all


@pytest.mark.parametrize(
    "fl", ["*", "id,title,subject,time_span,indexed_at,pages_i,digitised_b", "id,t*,*_s"]
)
def test_documents_are_returned_field_for_field(pair: tuple[IndexBackend, IndexBackend], fl: str) -> None:
    solr, embedded = pair
    params = {"q": "*:*", "sort": "id asc", "rows": 1000, "fl": fl}
    assert embedded.select(params)["response"]["docs"] == solr.select(params)["response"]["docs"]


@pytest.mark.parametrize(
    "params",
    [
        {"q": "bogus:x"},
        {"q": "title:"},
        {"q": "(bronze"},
        {"q": "*:*", "sort": "subject asc"},
        {"q": "*:*", "sort": "title_sort"},
        {"q": "*:*", "rows": "-1"},
        {"q": "pages_i:many"},
    ],
)
def test_both_refuse_the_same_bad_requests(
    pair: tuple[IndexBackend, IndexBackend], params: dict[str, Any]
) -> None:
    solr, embedded = pair
    with pytest.raises(BadRequest):
        solr.select(params)
    with pytest.raises(BadRequest):
        embedded.select(params)


# ----------------------------------------------------------------------------------- the sweep
#
# Issue 17's rule: for every request, the embedded index gives Solr's answer or a 400, never a
# different 200. The sweep generates requests over the parameter space (each parameter with
# representative values, supported or not, on a few base queries, plus seeded combinations of
# several) and checks the rule on each, counting the kinds.

SWEEP_BASES: list[dict[str, Any]] = [
    {"q": "*:*", "rows": 1000},  # every hit on the page: compared as a set even where ranking orders
    {"q": "bronze", "fq": "datasource:dans", "rows": 1000, "fl": "id"},
    {"q": "temple OR hoard", "fq": "{!tag=ds}datasource:ads"},
    {"q": "*:*", "fq": "time_span:[1300 TO 1400}"},
]
_TIME_SPAN_QUERIES = [
    f"time_span:{lo}{a} TO {b}{hi}"
    for a, b in [("1880", "1890"), ("1350", "1890"), ("1351", "1890"), ("1890", "1891"), ("1890-12", "1902")]
    for lo in "[{"
    for hi in "]}"
] + [
    "time_span:{* TO 1870}",
    "time_span:{1902-12-31T23:59:59.999Z TO *]",
    "time_span:[1903 TO *}",
    "time_span:{1890 TO 1890}",
    "time_span:{-0800 TO -0500}",
    "time_span:[-0800 TO -0500}",
]
SWEEP_AXES: dict[str, list[Any]] = {
    "q": [
        "bronze",
        "title:zeus OR subject:temple",
        "bronze AND (temple OR -hoard)",
        "+coins -pottery",
        "-datasource:ads",
        "subject_facet:Bronze*",
        "pages_i:[10 TO 100}",
        "pages_i:{7 TO 120]",
        "indexed_at:{2024-05-10T10:00:00Z TO 2024-05-12T10:00:00Z]",
        "digitised_b:false",
        "title:*",
        "pages_i:*",
        "indexed_at:[NOW-5YEARS TO NOW]",
        "catalogued_dt:[* TO NOW]",
        "id:x\\:\\:1 OR series_s:Letters",
        "tags_ss:b AND -tags_ss:a",
        "title:emile^2 OR zola",
        '"roman villa"',
        "emile",
        "b?onze",
        "bronze~1",
        "{!edismax qf=title}bronze",
        "{!dismax qf=title mm=2}bronze temple",
        '{!edismax qf="title subject" q.op=AND tag=m}bronze temple',
        "{!dismax}bronze",  # the request's qf, if any
        "{!edismax qf=title v=zeus}",
        "{!dismax qf=title bq=x}zeus",
        "{!lucene q.op=AND}bronze age",
        "_query_:bronze",
        '_query_:"{!lucene q.op=AND}bronze age" OR title:zeus',
        'title:zeus OR _query_:"-datasource:ads"',  # nested and purely negative: matches nothing
        '_query_:"-datasource:ads"',  # the whole query: everything but ads
        "_query_:bro*",
        '_query_:"{!df=title}zeus"^2',
        "bogus:x",
        "(bronze",
        " ".join(f"w{i}" for i in range(1025)),
        "(" * 300 + "bronze" + ")" * 300,
        *_TIME_SPAN_QUERIES,
    ],
    "fq": [
        "datasource:dans",
        "{!tag=ds}datasource:ads",
        "{!field f=time_span op=Within}[-1000 TO 0]",
        "{!field f=time_span}{1880 TO 1890}",
        "{!cache=false}datasource:dans",
        "{!tag=ds cache=false cost=200}datasource:ads",
        "{!cost=5}-language:de",
        "-language:de",
        "tags_ss:(a OR c)",
        "",
    ],
    "rows": [0, 3, 1000, 2147483647, 2147483648, -1, " 5", "+4", "abc"],
    "start": [0, 2, 400, 2147483648, -1],
    "sort": [
        "id asc",
        "id desc",
        "title_sort asc, id asc",
        "indexed_at desc, id asc",
        "pages_i asc, id desc",
        "subject asc",
        "language asc, id asc",  # multivalued: by each document's least value ascending
        "tags_ss desc, id asc",  # … and its greatest descending
        "subject_facet desc, pages_i asc, id desc",
        "time_span asc",
        # sort functions: a document without a value takes the function's "none" (0, false, lowest)
        "field(pages_i) asc, id asc",
        "field( tags_ss , max ) asc, id asc",
        "field(language,min) desc, id desc",
        "field(digitised_b) asc, field(indexed_at) desc, id asc",
        "field(tags_ss) desc, id asc",  # multivalued without min or max: Solr's 400
        "field(datasource) asc, id asc",  # single-valued string: Solr's 500
        "sum(pages_i,1) asc, id asc",
        "title_sort",
        "bogus asc",
    ],
    "fl": [
        "id",
        "*",
        "id,title,time_span",
        "id t*",
        "t:title",
        "id,[docid]",
        "score",
        "id,t:title",
        "*,t:title",
        "id,title,t:title",
        "l:language,u:id",
        "id,s:score",
        "t:ti*",
        "i:id,id",
        "id,x:bogus",
        "id,subject_facet,s:place_facet,text",  # not stored, docValues: returned when named
        "id,_version_",
    ],
    "df": ["title", "place", "bogus"],
    "q.op": ["AND", "OR", "XOR"],
    "defType": ["lucene", "edismax", "dismax", "bogus", "func"],
    # with defType=edismax or dismax (both, alternately)
    "qf": ["title^2 subject", "subject", "title description place", "subject_facet", "bogus"],
    "mm": ["2", "100%", "-1", "50%", "2<75%"],
    "q.alt": ["*:*", "datasource:dans"],
    "pf": ["title"],
    "tie": ["0.1"],
    "bq": ["title:zeus"],
    "dismax q": [
        "trier",
        "bronze temple hoard",
        '+bronze -temple "roman villa"',
        "zeus OR apollo",
        "title:zeus",
        "temple bronze",
        " ",
    ],
    "debugQuery": ["true", "false"],
    "debug": ["query", "all"],
    "json": [
        '{"query": "bronze"}',
        '{"limit": 2}',
        json.dumps(
            {
                "query": "temple",
                "filter": ["datasource:ads", "language:de"],
                "limit": 1000,
                "fields": ["id", "title"],
            }
        ),
        '{"query": "*:*", "sort": "pages_i asc, id desc", "offset": 2, "limit": "3", "fields": "id,pages_i"}',
        '{"query": "time_span:{1880 TO 1890}", "filter": "-datasource:dans", "limit": 0}',
        '{"query": {"lucene": {"query": "bronze"}}}',
        '{"query": "bronze", "facet": {"ds": {"type": "terms", "field": "datasource"}}}',
        '{"query": "bronze", "bogus": 1}',
        '{"limit": 2147483648}',
        "[1]",
    ],
    "json.query": ['"bronze"'],
    "json.facet": [
        '{"ds": {"type": "terms", "field": "datasource"}}',
        '{"ds": {"type": "terms", "field": "datasource", "domain": {"excludeTags": "ds"}}}',
        json.dumps(
            {
                "s": {
                    "type": "terms",
                    "field": "subject_facet",
                    "limit": 3,
                    "offset": 1,
                    "sort": "index desc",
                },
                "l": {"type": "terms", "field": "language", "mincount": 0, "sort": {"count": "asc"}},
                "p": {"type": "terms", "field": "pages_i"},
                "b": {"type": "terms", "field": "subject_facet", "prefix": "B", "limit": -1},
            }
        ),
        json.dumps(
            {
                "ds": {
                    "type": "terms",
                    "field": "datasource",
                    "facet": {"l": {"type": "terms", "field": "language"}},
                }
            }
        ),
        json.dumps(
            {
                "when": {
                    "type": "range",
                    "field": "indexed_at",
                    "start": "2024-05-01T00:00:00Z",
                    "end": "2024-06-01T00:00:00Z",
                    "gap": "+7DAYS",
                    "other": "all",
                },
                "pages": {
                    "type": "range",
                    "field": "pages_i",
                    "start": 0,
                    "end": 130,
                    "gap": 25,
                    "mincount": 1,
                },
            }
        ),
        '{"x": "sum(pages_i)"}',
        '{"ds": "terms:datasource"}',
        '{"q": {"type": "query", "q": "bronze"}}',
        '{"ds": {"type": "terms", "field": "title"}}',
    ],
    "timeAllowed": [-1, 0, 100000, "soon"],
    "echoParams": ["none", "explicit", "all"],
    "omitHeader": ["true"],
    "json.nl": ["map", "arrarr"],
    "wt": ["json", "xml"],
    "stats": [
        "true",  # no stats.field: an empty stats_fields
        {"stats.field": ["pages_i", "datasource", "language"]},
        {"stats.field": ["{!min=true max=true count=true missing=true key=when}indexed_at", "tags_ss"]},
        {"stats.field": ["{!ex=ds}pages_i", "{!sum=true mean=true stddev=true}pages_i"]},
        {"stats.field": "catalogued_dt"},
        {"stats.field": "indexed_at"},  # sumOfSquares past 2^53 over many values: refused
        {"stats.field": "{!countDistinct=true}datasource"},
        {"stats.field": "title"},
        {"stats.field": "time_span"},
        {"stats.field": "digitised_b"},
        {"stats.field": "bogus"},
        {"stats.field": "pages_i", "stats.facet": "datasource"},
    ],
    "hl": [
        "true",  # hl.fl defaults to df (text, not stored): an empty entry per document
        "false",
        {"hl": "true", "hl.fl": "title"},
        {
            "hl": "true",
            "hl.fl": "title",
            "q": '"bronze temple" OR bronze OR bron*',
            "hl.tag.pre": "[",
            "hl.tag.post": "]",
        },
        {"hl": "true", "hl.fl": "title", "q": "survey AND -datasource:ads AND pages_i:[* TO 10]"},
        {"hl": "true", "hl.fl": "title", "q": "datasource:dans AND survey"},  # nothing highlighted, as Solr
        {"hl": "true", "hl.fl": "title", "q": "zola AND -tags_ss:zola", "hl.simple.pre": "<b>"},
        {
            "hl": "true",
            "hl.fl": "title,period_t",
            "hl.snippets": 3,
            "hl.fragsize": 10,
            "df": "title",
            "q": "emile",
        },
        {"hl": "true", "hl.fl": "title,description"},  # multivalued: refused
        {"hl": "true", "hl.fl": "title", "hl.method": "original"},
        {"hl": "true", "hl.fl": "title", "hl.requireFieldMatch": "true"},
        {"hl": "true", "hl.fl": "title", "hl.q": "zeus"},
    ],
    "group": ["true"],
    "cursorMark": [
        "*",  # without a sort on id: Solr's 400
        {"cursorMark": "*", "sort": "id asc", "rows": 5},
        {"cursorMark": "*", "sort": "language desc, pages_i asc, id desc", "rows": 2},
        {"cursorMark": "*", "sort": "id asc", "rows": 0},
        {"cursorMark": "*", "sort": "id asc", "start": 2},
        {"cursorMark": "bogus", "sort": "id asc"},
    ],
    "rq": ["{!rerank reRankQuery=bronze}"],
    "NOW": ["1000000000000"],
    "sow": ["true", "false"],
    "facet.method": ["enum"],
    "facet": [
        {"facet.field": "subject_facet"},
        {"facet.field": ["datasource", "language"], "facet.limit": 2},
        {"facet.field": "subject_facet", "facet.mincount": 0, "facet.sort": "index"},
        {"facet.field": "subject_facet", "facet.offset": 3, "facet.limit": 4},
        {"facet.field": ["subject_facet", "place_facet"], "facet.limit": -1, "facet.mincount": 2},
        {"facet.field": "tags_ss", "facet.mincount": 0, "facet.sort": "count", "facet.offset": 1},
        {"facet.field": "subject_facet", "facet.prefix": "B"},
        {"facet.field": "subject_facet", "facet.contains": "o"},
        {"facet.field": "subject_facet", "facet.contains": "AGE", "facet.contains.ignoreCase": "true"},
        {"facet.field": "subject_facet", "facet.matches": "[A-H].*"},
        {"facet.field": "subject_facet", "facet.matches": "(["},
        {"facet.field": "subject_facet", "facet.excludeTerms": "Bronze Age,Temple"},
        {"facet.field": ["subject_facet", "language"], "f.language.facet.excludeTerms": "de"},
        {
            "facet.field": ["subject_facet", "language"],
            "f.subject_facet.facet.contains": "a",
            "facet.mincount": 0,
        },
        {"facet.field": "digitised_b", "facet.prefix": "t"},
        {"facet.field": "digitised_b", "facet.excludeTerms": "T"},
        {"facet.field": "pages_i", "facet.contains": "1"},
        {"facet.field": "indexed_at", "facet.prefix": "2024"},
        {"facet.field": "{!ex=ds key=all}datasource"},
        {"facet.field": "{!ex=ds}datasource"},
        {"facet.field": "subject_facet", "facet.sort": "index desc"},
        {"facet.field": "subject_facet", "facet.missing": "true"},
        {
            "facet.field": ["language", "{!key=t}tags_ss"],
            "facet.missing": "true",
            "facet.limit": 2,
            "facet.prefix": "e",
        },
        {
            "facet.field": "language",
            "f.language.facet.missing": "true",
            "json.nl": "map",
            "facet.mincount": 20,
        },
        {"facet.field": "title", "facet.missing": "true"},
        {"facet.pivot": "datasource,language", "facet.missing": "true"},
        {"facet.field": "subject_facet", "facet.limit": "2147483648"},
        {"facet.query": ["bronze", "time_span:{1880 TO 1890}"]},
        {"facet.query": "{!key=b}bronze"},
        {"facet.query": ["{!ex=ds key=all}bronze", "{!ex=ds}temple", "{!key='a b'}datasource:dans"]},
        # ex may name the main query's tag too: its facets count as if q were *:*
        {
            "q": "{!tag=m}bronze",
            "facet.field": ["{!ex=m}datasource", "{!ex=m,ds key=all}datasource"],
            "facet.query": "{!ex=m}*:*",
            "facet.pivot": "{!ex=m}datasource,language",
        },
        {"q": "", "defType": "edismax", "q.alt": "{!tag=m}bronze", "facet.field": "{!ex=m}datasource"},
        {"facet.field": "language", "facet.sort": "count desc"},  # Solr 9: any sort but count is index
        {"facet.field": "language", "facet.sort": "index asc", "facet.limit": 2},
        {"facet.range": "indexed_at"},  # no start: Solr's 400
        {
            "facet.range": "indexed_at",
            "facet.range.start": "2024-05-01T00:00:00Z",
            "facet.range.end": "2024-06-01T00:00:00Z",
            "facet.range.gap": "+7DAYS",
        },
        {
            "facet.range": "indexed_at",
            "facet.range.start": "2024-05-01T00:00:00Z",
            "facet.range.end": "2024-06-01T00:00:00Z",
            "facet.range.gap": "+1MONTH/DAY",
            "facet.range.other": "all",
        },
        {
            "facet.range": "{!ex=ds key=when}indexed_at",
            "facet.range.start": "2024-05-01T00:00:00Z",
            "facet.range.end": "2024-06-01T00:00:00Z",
            "facet.range.gap": "+10DAYS",
            "facet.range.hardend": "true",
            "facet.range.other": ["before", "between"],
            "facet.range.include": ["edge", "upper"],
        },
        {
            "facet.range": "indexed_at",
            "facet.range.start": "2024-05-01T00:00:00Z",
            "facet.range.end": "2024-06-01T00:00:00Z",
            "facet.range.gap": "7DAYS",
        },
        {
            "facet.range": "indexed_at",
            "facet.range.start": "2024-05-01",
            "facet.range.end": "NOW",
            "facet.range.gap": "+1DAY",
        },
        {"facet.range": "pages_i", "facet.range.start": 0, "facet.range.end": 130, "facet.range.gap": 25},
        {
            "facet.range": "pages_i",
            "f.pages_i.facet.range.start": 7,
            "f.pages_i.facet.range.end": 120,
            "f.pages_i.facet.range.gap": "+13",
            "facet.range.other": "all",
            "facet.range.include": "outer",
            "facet.mincount": 1,
        },
        {
            "facet.range": "pages_i",
            "facet.range.start": 7,
            "facet.range.end": 120,
            "facet.range.gap": 13,
            "facet.range.include": "all",
            "facet.range.other": "all",
        },
        {"facet.range": "pages_i", "facet.range.start": 0, "facet.range.end": 100, "facet.range.gap": -5},
        {"facet.range": "pages_i", "facet.range.start": 0, "facet.range.end": 100, "facet.range.gap": "1.5"},
        {"facet.range": "pages_i", "facet.range.start": 100, "facet.range.end": 0, "facet.range.gap": 5},
        {
            "facet.range": "pages_i",
            "facet.range.start": 0,
            "facet.range.end": 100,
            "facet.range.gap": 5,
            "facet.range.other": "bogus",
        },
        {"facet.range": "language", "facet.range.start": 0, "facet.range.end": 100, "facet.range.gap": 5},
        {
            "facet.range": "time_span",
            "facet.range.start": "1000-01-01T00:00:00Z",
            "facet.range.end": "2000-01-01T00:00:00Z",
            "facet.range.gap": "+100YEARS",
            "facet.range.other": "all",
        },
        {
            "facet.range": "time_span",
            "facet.range.start": "1300-01-01T00:00:00Z",
            "facet.range.end": "1400-01-01T00:00:00Z",
            "facet.range.gap": "+10YEARS",
            "facet.range.include": "upper",
        },
        {"facet.pivot": "datasource,language"},
        {
            "facet.pivot": "{!ex=ds key=p}datasource,subject_facet",
            "facet.pivot.mincount": 30,
            "f.subject_facet.facet.limit": 3,
        },
        {"facet.pivot": ["datasource", "language,datasource,tags_ss"], "facet.limit": 2},
        {"facet.pivot": "pages_i,digitised_b"},
        {"facet.pivot": "indexed_at,datasource", "facet.limit": 1},
        {"facet.pivot": "datasource,language", "facet.sort": "index", "facet.offset": 1, "facet.mincount": 0},
        {"facet.pivot": "datasource,language", "facet.pivot.mincount": 0, "facet.limit": 2},
        {"facet.pivot": "datasource,title"},
        {"facet.field": "language", "facet.exists": "true"},
    ],
}


def sweep_requests() -> list[dict[str, Any]]:
    """Every value of every axis on each base request, then 60 seeded combinations of three axes."""
    requests: list[dict[str, Any]] = []

    def add(base: dict[str, Any], axis: str, value: Any) -> dict[str, Any]:
        request = dict(base)
        if axis in ("facet", "stats") and isinstance(value, dict):
            request.update({axis: "true", **value})
        elif isinstance(value, dict):
            request.update(value)
        elif axis == "facet":
            request.update({"facet": "true", **value})
        elif axis in ("qf", "mm", "q.alt", "pf", "tie", "bq", "dismax q"):
            variant = "edismax" if len(requests) % 2 else "dismax"
            request.update({"defType": variant, "qf": "title subject"})
            request["q" if axis == "dismax q" else axis] = value
        else:
            request[axis] = value
        return request

    for axis, values in SWEEP_AXES.items():
        for i, value in enumerate(values):
            bases = SWEEP_BASES if axis not in ("q",) else SWEEP_BASES[:2]
            for j, base in enumerate(bases):
                if axis == "q" and (i + j) % 2:
                    continue  # every q once or twice, not on every base
                requests.append(add(base, axis, value))
    rng = random.Random(17)
    axes = sorted(SWEEP_AXES)
    for _ in range(60):
        request = dict(rng.choice(SWEEP_BASES))
        for axis in rng.sample(axes, 3):
            request = add(request, axis, rng.choice(SWEEP_AXES[axis]))
        requests.append(request)
    return requests


def _solr_raw(solr: SolrIndex, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Solr's status and JSON for the same parameters, as a portal would send them (POSTed form)."""
    body = urllib.parse.urlencode(as_params(params)).encode()
    request = urllib.request.Request(
        f"{solr.url()}/select", data=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as exc:
        text = exc.read().decode("utf-8", "replace")
        try:
            return exc.code, json.loads(text)
        except ValueError:
            return exc.code, {"error": {"msg": text[:200]}}
    except ValueError:  # wt=xml
        return 200, {"not JSON": True}


def _total_order(params: dict[str, Any]) -> bool:
    """Whether the request fixes the order of every hit (a sort ending on the unique id, no score)."""
    sort = str(params.get("sort", ""))
    return "score" not in sort and sort.replace(" ", "").endswith(("idasc", "iddesc"))


def comparable(answer: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """An answer without what may legitimately differ: QTime, the wording of partial-result details,
    scores (BM25 variants differ) and the order of hits where the request leaves it to the engine
    (relevance ranking, the ranking item of issue 17): then only a page holding every hit is compared,
    as a set; a partial page compares by its size."""
    answer = json.loads(json.dumps(answer))
    if "nextCursorMark" in answer:  # marks are each engine's own bytes: compare the pages they give
        answer["nextCursorMark"] = answer["nextCursorMark"] == params.get("cursorMark")
    header = answer.get("responseHeader")
    if header is not None:
        header.pop("QTime", None)
        header.pop("partialResultsDetails", None)
    result = answer.get("response")
    if result is not None:
        docs = result["docs"]
        score_keys = {"score", *re.findall(r"([\w.-]+):score\b", str(params.get("fl", "")))}
        for doc in docs:
            for key in score_keys:
                doc.pop(key, None)
        if "maxScore" in result:
            result["maxScore"] = "a score"
        if not _total_order(params):
            whole = result["start"] == 0 and len(docs) == result["numFound"]
            result["docs"] = sorted(docs, key=lambda d: json.dumps(d, sort_keys=True)) if whole else len(docs)
            if not whole and "highlighting" in answer:  # other documents on the page: other snippets
                answer["highlighting"] = len(answer["highlighting"])
    return answer


def test_sweep_never_a_different_200(
    pair: tuple[IndexBackend, IndexBackend], capsys: pytest.CaptureFixture[str]
) -> None:
    solr, embedded = pair
    assert isinstance(solr, SolrIndex)
    requests = sweep_requests()
    assert 300 <= len(requests) <= 1200
    kinds: Counter[str] = Counter()
    different = []
    for params in requests:
        solr_status, expected = _solr_raw(solr, params)
        try:
            found = embedded.select(params)
        except BadRequest as exc:
            if not exc.message:
                different.append((params, solr_status, "the embedded index's 400 says nothing"))
            kinds["refused by both" if solr_status >= 400 else "refused by the embedded index only"] += 1
            continue
        if solr_status == 200 and comparable(found, params) == comparable(expected, params):
            kinds["identical"] += 1
        else:
            kinds["different 200"] += 1
            different.append((params, solr_status, expected.get("error", {}).get("msg", "")))
    with capsys.disabled():
        print(
            f"\nparity sweep over {len(requests)} requests: "
            + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
        )
    assert not different, "\n".join(f"{p!r}: Solr {s} {m[:200]}" for p, s, m in different[:20])
    assert kinds["identical"] >= len(requests) // 2  # the sweep mostly exercises what works
