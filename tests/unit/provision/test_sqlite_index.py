"""What only the embedded index has to get right: generations, readers during a rebuild, in-memory
columns that follow writes, exact removal of a document's rows, and its Solr-shaped answers."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import zlib
from pathlib import Path

import pytest
import zstandard

from mdstore.errors import ConfigError, IndexBackendError
from provision.index import sqlite as sqlite_module
from provision.index.base import BadRequest, IndexNotFound, IndexState
from provision.index.sqlite import ANALYZER_VERSION, InvalidDocument, SqliteIndex, from_uri, prepare, restore

DOCS = [
    {
        "id": "ads::1",
        "datasource": "ads",
        "title": "Zeus temple excavation",
        "subject": ["Bronze Age", "Temple"],
        "time_span": ["[1200 TO 1350]"],
        "indexed_at": "2024-05-01T10:00:00Z",
    },
    {
        "id": "ads::2",
        "datasource": "ads",
        "title": "Émile Cartailhac, field notes",
        "language": ["fr"],
        "time_span": ["1890"],
        "period_txt": ["fin de siècle"],
    },
    {
        "id": "ads::3",
        "datasource": "ads",
        "title": "apollo sanctuary",
        "subject": ["Temple"],
        "time_span": ["[-0800 TO -0500]"],
        "indexed_at": "2024-05-03T10:00:00Z",
    },
    {"id": "dans::1", "datasource": "dans", "title": "Bronze hoard", "subject": ["Bronze Age"]},
]


def state(ds: str = "ads", version: str = "v1") -> IndexState:
    return IndexState(ds, version, f"{ds}/PE/store/transformed", "refeed", (version,))


@pytest.fixture
def index(tmp_path: Path):
    with SqliteIndex(tmp_path / "index.sqlite") as index:
        writer = index.open_writer("ads")
        writer.add(DOCS)
        writer.commit(state())
        yield index


def ids(index: SqliteIndex, **params) -> list[str]:
    return [d["id"] for d in index.select({"rows": 100, "fl": "id", **params})["response"]["docs"]]


def test_solr_shaped_answer(index: SqliteIndex) -> None:
    answer = index.select(
        [
            ("q", "temple"),
            ("facet", "true"),
            ("facet.field", "subject_facet"),
            ("facet.field", "datasource"),
            ("rows", "1"),
            ("fl", "id,title"),
        ]
    )
    assert answer["responseHeader"]["status"] == 0
    assert answer["responseHeader"]["params"] == {
        "q": "temple",
        "facet": "true",
        "rows": "1",
        "fl": "id,title",
        "facet.field": ["subject_facet", "datasource"],
    }
    assert answer["response"] == {
        "numFound": 2,
        "start": 0,
        "numFoundExact": True,
        "docs": [{"id": "ads::1", "title": "Zeus temple excavation"}],
    }
    assert answer["facet_counts"] == {
        "facet_queries": {},
        "facet_fields": {
            "subject_facet": ["Temple", 2, "Bronze Age", 1],
            "datasource": ["ads", 2, "dans", 0],
        },  # mincount 0: Solr's default
        "facet_ranges": {},
        "facet_intervals": {},
        "facet_heatmaps": {},
    }
    assert "responseHeader" not in index.select({"q": "*:*", "omitHeader": "true"})
    mapped = index.select({"q": "*:*", "facet": "on", "facet.field": "datasource", "json.nl": "map"})
    assert mapped["facet_counts"]["facet_fields"]["datasource"] == {"ads": 3, "dans": 1}


def test_sorting_paging_and_missing_values(index: SqliteIndex) -> None:
    assert ids(index, q="*:*", sort="title_sort asc") == ["ads::3", "dans::1", "ads::2", "ads::1"]
    assert ids(index, q="*:*", sort="indexed_at desc, id asc") == ["ads::3", "ads::1", "ads::2", "dans::1"]
    assert ids(index, q="*:*", sort="indexed_at asc, id desc") == ["ads::1", "ads::3", "dans::1", "ads::2"]
    assert ids(index, q="*:*", sort="id desc", start=1, rows=2) == ["ads::3", "ads::2"]
    assert ids(index, q="*:*", start=10) == []


def test_exclusive_date_range_bounds_exclude_the_period_they_name(index: SqliteIndex) -> None:
    """Issue 17: ``{2010 TO 2015}`` counted 2015 in; as Solr, an exclusive year leaves the whole year out."""
    assert ids(index, q="time_span:[1350 TO 1890]") == ["ads::1", "ads::2"]
    assert ids(index, q="time_span:[1350 TO 1890}") == ["ads::1"]
    assert ids(index, q="time_span:{1350 TO 1890]") == ["ads::1", "ads::2"]  # only 1350's first ms is out
    assert ids(index, q="time_span:{1351 TO 1890]") == ["ads::2"]
    assert ids(index, q="time_span:{1349 TO 1890}") == ["ads::1"]
    assert ids(index, q="time_span:{1890 TO *]") == ["ads::2"]  # all of 1890 but its first millisecond
    assert ids(index, q="time_span:{1891 TO *]") == []


def test_time_allowed_gives_partial_results_flagged_as_solr_does(
    index: SqliteIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 17: a request's work is bounded. Solr 9 answers ``timeAllowed=0`` with nothing found and
    ``partialResults: true``; facets cut short are left out while the hits already counted stay."""
    answer = index.select({"q": "*:*", "timeAllowed": 0, "facet": "true", "facet.field": "language"})
    assert answer["responseHeader"]["partialResults"] is True
    assert list(answer["responseHeader"])[:3] == ["partialResults", "partialResultsDetails", "status"]
    assert answer["response"] == {"numFound": 0, "start": 0, "numFoundExact": True, "docs": []}
    assert "facet_counts" not in answer
    assert index.select({"q": "*:*", "timeAllowed": 0, "start": 2})["response"]["start"] == 0  # as Solr
    for budget in (-1, 60_000):  # negative: no limit, as in Solr
        answer = index.select({"q": "*:*", "timeAllowed": budget, "rows": 0})
        assert "partialResults" not in answer["responseHeader"]
        assert answer["response"]["numFound"] == 4

    from provision.index import sqlite as module

    slow_facet = module._Select._facet

    def slow(self, *args):
        time.sleep(0.3)
        return slow_facet(self, *args)

    monkeypatch.setattr(module._Select, "_facet", slow)
    params = {
        "q": "*:*",
        "rows": 1,
        "fl": "id",
        "facet": "true",
        "facet.field": ["language", "subject_facet"],
    }
    answer = index.select({**params, "timeAllowed": 200})
    assert answer["responseHeader"]["partialResults"] is True
    assert answer["response"]["numFound"] == 4
    assert answer["response"]["docs"] == [{"id": "ads::1"}]
    assert "facet_counts" not in answer
    index.time_allowed_ms = 200  # the index's own budget caps requests that ask for more or nothing
    assert index.select({**params, "timeAllowed": 60_000})["responseHeader"]["partialResults"] is True
    assert index.select(params)["responseHeader"]["partialResults"] is True
    index.time_allowed_ms = None
    assert "facet_counts" in index.select(params)


def test_sqlite_statements_stop_at_the_deadline(index: SqliteIndex) -> None:
    from provision.index.select import parse_request
    from provision.index.sqlite import _Select

    conn = index._conn()
    p, columns = index._columns_for(conn)
    try:
        _Select(conn, p, parse_request([]), columns, deadline=time.monotonic() - 1)
        with pytest.raises(sqlite3.OperationalError, match="interrupted"):
            conn.execute(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT max(i) FROM n"
            )
    finally:
        conn.set_progress_handler(None, 0)


def test_time_budget_in_the_uri(tmp_path: Path) -> None:
    assert from_uri(f"sqlite:///{tmp_path}/a.sqlite").time_allowed_ms == 10_000
    assert from_uri(f"sqlite:///{tmp_path}/a.sqlite?timeAllowed=250").time_allowed_ms == 250
    assert from_uri(f"sqlite:///{tmp_path}/a.sqlite?timeAllowed=0").time_allowed_ms is None
    with pytest.raises(ConfigError, match="timeAllowed=soon is not a number of milliseconds"):
        from_uri(f"sqlite:///{tmp_path}/a.sqlite?timeAllowed=soon")


def test_facet_options(index: SqliteIndex) -> None:
    def facet(**params) -> list:
        answer = index.select({"q": "*:*", "rows": 0, "facet": "true", **params})
        return answer["facet_counts"]["facet_fields"]

    assert facet(**{"facet.field": "subject_facet", "fq": "datasource:dans", "facet.mincount": 0}) == {
        "subject_facet": ["Bronze Age", 1, "Temple", 0]
    }
    assert facet(**{"facet.field": "subject_facet", "facet.sort": "index", "facet.limit": 1}) == {
        "subject_facet": ["Bronze Age", 2]
    }
    assert facet(**{"facet.field": "subject_facet", "facet.offset": 1}) == {"subject_facet": ["Temple", 2]}
    assert facet(**{"facet.field": "title"}) == {"title": []}  # an analysed field: nothing, as Solr
    # facet.missing: the hits without a value, last and after the limit, whatever the mincount
    assert facet(
        **{"facet.field": "subject_facet", "facet.missing": "true", "facet.limit": 1, "facet.mincount": 5}
    ) == {"subject_facet": [None, 1]}
    assert facet(**{"facet.field": "indexed_at"}) == {
        "indexed_at": ["2024-05-01T10:00:00Z", 1, "2024-05-03T10:00:00Z", 1]
    }


def test_columns_follow_writes(index: SqliteIndex) -> None:
    def subjects() -> list:
        answer = index.select({"q": "*:*", "facet": "true", "facet.field": "subject_facet"})
        return answer["facet_counts"]["facet_fields"]["subject_facet"]

    assert subjects() == ["Bronze Age", 2, "Temple", 2]
    writer = index.open_writer("ads")
    writer.add([{**DOCS[0], "subject": ["Hoard"]}])
    writer.delete(["ads::3"])
    writer.commit(state())
    assert subjects() == ["Bronze Age", 1, "Hoard", 1]
    assert ids(index, q="*:*", sort="title_sort asc") == ["dans::1", "ads::2", "ads::1"]


def test_an_fq_on_a_facet_value_reads_the_value_bitmaps_with_the_same_answers(index: SqliteIndex) -> None:
    """Once a facet field's value bitmaps are built (a large hit set was counted on it), an fq on
    one of its values takes its rids and bitmap from them instead of SQL: every answer as before."""
    requests = [
        {
            "q": "*:*",
            "fq": 'subject_facet:"Bronze Age"',
            "facet": "true",
            "facet.field": ["subject_facet", "language"],
        },
        {"q": "*:*", "fq": "subject_facet:Temple", "fl": "id", "sort": "id desc"},
        {"q": "*:*", "fq": "subject_facet:Nothing", "facet": "true", "facet.field": "subject_facet"},
        {"q": "bronze", "fq": 'subject_facet:"Bronze Age"', "fl": "id,score", "sort": "score desc"},
        {"q": "*:*", "fq": ["subject_facet:Temple", "datasource:ads"], "rows": 1},
        {
            "q": "*:*",
            "fq": "{!tag=s}subject_facet:Temple",
            "facet": "true",
            "facet.field": "{!ex=s}subject_facet",
        },
        {"q": "*:*", "fq": "-subject_facet:Temple"},
    ]

    def answers() -> list[dict]:
        found = []
        for params in requests:
            answer = index.select(params)
            del answer["responseHeader"]["QTime"]
            found.append(answer)
        return found

    before = answers()
    index._columns = None  # forget the cached results: what follows is computed again
    conn = index._conn()
    _, columns = index._columns_for(conn)
    columns.value_bitmaps(conn, "subject_facet")
    assert columns.holders("subject_facet", "Temple") == ([1, 3], 0b1010)
    assert columns.holders("subject_facet", "Nothing") == ([], 0)
    assert columns.holders("language", "fr") is None  # not built: SQL answers
    assert answers() == before
    assert [a["response"]["numFound"] for a in before] == [2, 2, 0, 2, 2, 2, 2]


def test_a_removed_document_leaves_no_row_behind(index: SqliteIndex, tmp_path: Path) -> None:
    writer = index.open_writer("ads")
    writer.delete([d["id"] for d in DOCS if d["datasource"] == "ads"])
    writer.commit(state())
    conn = sqlite3.connect(tmp_path / "index.sqlite")
    (generation,) = conn.execute("SELECT generation FROM cc_indexes").fetchone()
    p = f"g{generation}"
    assert conn.execute(f"SELECT count(*) FROM {p}_docs").fetchone() == (1,)
    assert (
        conn.execute(f"SELECT DISTINCT rid FROM {p}_terms").fetchall()
        == conn.execute(f"SELECT rid FROM {p}_docs").fetchall()
    )
    assert conn.execute(f"SELECT count(*) FROM {p}_ranges").fetchone() == (0,)
    for term in ("zeus", "emile", "siecle", "apollo", "temple"):
        assert conn.execute(
            f"SELECT count(*) FROM {p}_fts WHERE {p}_fts MATCH ?", (f'"{term}"',)
        ).fetchone() == (0,)
    assert conn.execute(f"SELECT count(*) FROM {p}_fts WHERE {p}_fts MATCH '\"bronze\"'").fetchone() == (
        1,
    )  # one row per document


def test_readers_see_the_old_generation_until_the_switch(index: SqliteIndex, tmp_path: Path) -> None:
    reader = SqliteIndex(tmp_path / "index.sqlite", create=False)
    writer = index.open_writer("ads", rebuild=True)
    writer.add([{"id": "ads::9", "datasource": "ads", "title": "New"}])
    assert reader.count() == 4
    assert reader.builds()[0][1] == "ads"
    writer.commit(state("ads", "v2"))
    assert reader.count() == 2
    assert ids(reader, q="*:*", sort="id asc") == ["ads::9", "dans::1"]
    tables = {
        name
        for (name,) in sqlite3.connect(tmp_path / "index.sqlite").execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'g%_docs'"
        )
    }
    assert len(tables) == 1  # the old generation was dropped
    reader.close()


def test_concurrent_readers_during_rebuilds_never_fail(index: SqliteIndex, tmp_path: Path) -> None:
    counts: list[int] = []
    failures: list[BaseException] = []
    stop = threading.Event()

    def read() -> None:
        reader = SqliteIndex(tmp_path / "index.sqlite", create=False)
        while not stop.is_set():
            try:
                counts.append(
                    reader.select({"q": "*:*", "rows": 0, "facet": "true", "facet.field": "datasource"})[
                        "response"
                    ]["numFound"]
                )
            except BaseException as exc:  # noqa: BLE001
                failures.append(exc)
        reader.close()

    threads = [threading.Thread(target=read) for _ in range(2)]
    for thread in threads:
        thread.start()
    for round_ in range(5):
        writer = index.open_writer("ads", rebuild=True)
        writer.add([{"id": f"ads::r{round_}-{n}", "datasource": "ads", "title": "x"} for n in range(50)])
        writer.commit(state("ads", f"v{round_}"))
    stop.set()
    for thread in threads:
        thread.join()
    assert failures == []
    assert set(counts) <= {4, 51}
    assert index.count() == 51


def test_an_index_built_by_another_analyzer_must_be_rebuilt(index: SqliteIndex, tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "index.sqlite")
    conn.execute("UPDATE cc_indexes SET analyzer = ?", (ANALYZER_VERSION + 1,))
    conn.commit()
    with pytest.raises(IndexBackendError, match="rebuild it"):
        index.open_writer("ads")
    writer = index.open_writer("ads", rebuild=True)  # a rebuild re-analyses everything
    writer.commit(state())
    index.open_writer("ads").abort()


def test_names_and_files(tmp_path: Path) -> None:
    with pytest.raises(IndexNotFound, match="does not exist"):
        SqliteIndex(tmp_path / "none.sqlite", create=False)
    SqliteIndex(tmp_path / "one.sqlite", "first").close()
    with pytest.raises(IndexNotFound, match="no embedded index 'second'"):
        SqliteIndex(tmp_path / "one.sqlite", "second", create=False)
    with pytest.raises(ConfigError, match="index name 'a b' is not valid"):
        SqliteIndex(tmp_path / "one.sqlite", "a b")
    assert from_uri(f"sqlite:///{tmp_path}/u.sqlite?name=catalogue").name == "catalogue"
    assert from_uri(f"sqlite:///{tmp_path}/u.sqlite").path == tmp_path / "u.sqlite"
    with pytest.raises(ConfigError, match="names no file"):
        from_uri("sqlite://")


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"datasource": "ads"}, "Document is missing mandatory uniqueKey field: id"),
        ({"id": "x"}, "[doc=x] missing required field: datasource"),
        ({"id": "x", "datasource": "a", "bogus": 1}, "ERROR: [doc=x] unknown field 'bogus'"),
        (
            {"id": "x", "datasource": ["a", "b"]},
            "ERROR: [doc=x] multiple values encountered for non multiValued field datasource: [a, b]",
        ),
        (
            {"id": "x", "datasource": "a", "count_i": "abc"},
            "ERROR: [doc=x] Error adding field 'count_i'='abc' msg=For input string: \"abc\"",
        ),
        (
            {"id": "x", "datasource": "a", "indexed_at": "2024-05-01"},
            "ERROR: [doc=x] Error adding field "
            "'indexed_at'='2024-05-01' msg=Invalid Date "
            "String:'2024-05-01'",
        ),
        (
            {"id": "x", "datasource": "a", "subject": {"add": "x"}},
            "Error:[doc=x]  Unknown operation for the an atomic update: add",
        ),
    ],
)
def test_documents_are_refused_with_solrs_words(doc: dict, message: str) -> None:
    with pytest.raises(InvalidDocument) as caught:
        prepare(doc)
    assert str(caught.value) == message


def test_values_are_normalised_as_solr_returns_them() -> None:
    prepared = prepare(
        {
            "id": 7,
            "datasource": "a",
            "flag_b": "yes",
            "count_i": "12",
            "indexed_at": "2024-05-01T10:00:00.5Z",
            "title": None,
            "subject": [],
            "tags_ss": ["x", None],
        }
    )
    assert prepared.stored == {
        "id": "7",
        "datasource": "a",
        "flag_b": False,
        "count_i": 12,
        "indexed_at": "2024-05-01T10:00:00.500Z",
        "tags_ss": ["x"],
    }


def test_max_score_whenever_scores_are_asked_for(index: SqliteIndex) -> None:
    """Solr gives ``maxScore`` (after ``start``) whenever ``fl`` has ``score``, even for ``rows=0``."""
    ranked = index.select({"q": "temple", "fl": "id,score", "rows": 0})["response"]
    assert list(ranked) == ["numFound", "start", "maxScore", "numFoundExact", "docs"]
    best = index.select({"q": "temple", "fl": "id,score", "rows": 1})["response"]["docs"][0]["score"]
    assert ranked["maxScore"] == best > 0
    assert index.select({"q": "*:*", "fl": "score", "rows": 0})["response"]["maxScore"] == 1.0
    assert index.select({"q": "nothingatall", "fl": "id score"})["response"]["maxScore"] == 0.0
    assert "maxScore" not in index.select({"q": "temple", "fl": "id"})["response"]


def test_dismax_and_edismax_chosen_by_local_params(index: SqliteIndex) -> None:
    assert ids(index, q="{!edismax qf=title}bronze") == ["dans::1"]
    assert ids(index, q="{!dismax}temple", qf="subject") == ["ads::1", "ads::3"]  # the request's qf
    assert ids(index, q="{!dismax qf=title v=apollo}", qf="subject") == ["ads::3"]
    with pytest.raises(BadRequest) as caught:
        ids(index, q="{!edismax qf=title}bronze", bq="title:x")
    assert str(caught.value) == "edismax's bq (bq) is not supported by the embedded index"


def test_dismax_and_edismax(index: SqliteIndex) -> None:
    """Issue 17: ``defType=edismax`` with ``qf`` was ignored (``q=trier&qf=subject``: 13 hits, Solr 0)."""
    for variant in ("dismax", "edismax"):
        assert ids(index, q="temple bronze", defType=variant, qf="title") == ["ads::1", "dans::1"]
        assert ids(index, q="temple bronze", defType=variant, qf="title subject", mm="100%") == ["ads::1"]
        assert ids(index, q="temple bronze", defType=variant, qf="title subject", mm="-1") == [
            "ads::1",
            "ads::3",
            "dans::1",
        ]
        assert ids(index, q="+temple -zeus", defType=variant, qf="title subject") == ["ads::3"]
        assert ids(index, q="sanctuary", defType=variant, qf="subject") == []
        assert ids(index, q=" ", defType=variant, **{"q.alt": "datasource:dans"}) == ["dans::1"]
        assert ids(index, defType=variant) == []
        ranked = index.select(
            {"q": "temple", "defType": variant, "qf": "title^5 subject", "fl": "id,score", "pf": "title"}
        )
        assert [d["id"] for d in ranked["response"]["docs"]][0] == "ads::1"  # the title match, boosted


def test_a_backtracking_facet_matches_pattern_stops_at_the_deadline(index: SqliteIndex) -> None:
    """facet.matches runs a portal's pattern over every value: ``(a|aa)+`` on forty a's backtracks for
    minutes in ``re``; on the ``regex`` engine the request's time budget stops it (partial results)."""
    writer = index.open_writer("ads")
    writer.add([{"id": "ads::9", "datasource": "ads", "title": "x", "subject": ["a" * 40 + "!"]}])
    writer.commit(state())
    params = {"q": "*:*", "rows": 0, "facet": "true", "facet.field": "subject_facet"}
    assert index.select({**params, "facet.matches": "(a|aa)+!"})["facet_counts"]["facet_fields"] == {
        "subject_facet": ["a" * 40 + "!", 1]
    }
    started = time.monotonic()
    answer = index.select({**params, "facet.matches": "(a|aa)+", "timeAllowed": 300})
    assert time.monotonic() - started < 10
    assert answer["responseHeader"]["partialResults"] is True
    assert answer["response"]["numFound"] == 5
    assert "facet_counts" not in answer


def test_fl_aliases_facet_query_keys_and_multivalued_sort(index: SqliteIndex) -> None:
    docs = index.select({"q": "id:ads*", "sort": "id asc", "fl": "id,t:title,l:language"})["response"]["docs"]
    assert docs == [
        {"id": "ads::1", "t": "Zeus temple excavation"},
        {"id": "ads::2", "t": "Émile Cartailhac, field notes", "l": ["fr"]},
        {"id": "ads::3", "t": "apollo sanctuary"},
    ]
    # the field stays only when fl names it plainly; a glob or * does not keep it (Solr's rule)
    assert index.select({"q": "id:ads\\:\\:1", "fl": "title,t:title"})["response"]["docs"] == [
        {"title": "Zeus temple excavation", "t": "Zeus temple excavation"}
    ]
    assert "title" not in index.select({"q": "id:ads\\:\\:1", "fl": "*,t:title"})["response"]["docs"][0]
    # a field that is not stored but has docValues is returned when fl names it (sorted, as docValues)
    assert index.select({"q": "id:ads\\:\\:1", "fl": "id,subject_facet,s:subject_facet,text"})["response"][
        "docs"
    ] == [{"id": "ads::1", "subject_facet": ["Bronze Age", "Temple"], "s": ["Bronze Age", "Temple"]}]
    answer = index.select(
        {
            "q": "*:*",
            "rows": 0,
            "fq": "{!tag=ds cache=false}datasource:ads",
            "facet": "true",
            "facet.query": ["{!key=temples}subject_facet:Temple", "{!ex=ds}subject_facet:Temple"],
        }
    )
    assert answer["facet_counts"]["facet_queries"] == {"temples": 2, "{!ex=ds}subject_facet:Temple": 2}
    # {!ex} may name the main query's tag: those facets count as if q matched everything
    answer = index.select(
        {
            "q": "{!tag=m}zeus",
            "rows": 0,
            "facet": "true",
            "facet.field": ["{!ex=m key=all}datasource", "datasource"],
        }
    )
    assert answer["facet_counts"]["facet_fields"] == {
        "all": ["ads", 3, "dans", 1],
        "datasource": ["ads", 1, "dans", 0],
    }
    # multivalued: least value ascending, greatest descending, documents without one last
    assert ids(index, q="*:*", sort="subject_facet asc, id desc") == ["dans::1", "ads::1", "ads::3", "ads::2"]
    assert ids(index, q="*:*", sort="subject_facet desc, id desc") == [
        "ads::3",
        "ads::1",
        "dans::1",
        "ads::2",
    ]
    # field(name,min|max): a document without a value sorts as the lowest string (not last)
    assert ids(index, q="*:*", sort="field(subject_facet,max) asc, id asc") == [
        "ads::2",
        "dans::1",
        "ads::1",
        "ads::3",
    ]
    assert ids(index, q="*:*", sort="field(indexed_at) desc, id asc") == [
        "ads::3",
        "ads::1",
        "ads::2",
        "dans::1",
    ]
    assert ids(index, q='_query_:"{!q.op=AND}bronze hoard"') == ["dans::1"]
    assert ids(index, q='title:zeus OR _query_:"-datasource:ads"') == ["ads::1"]  # nested negative: nothing


def test_range_facets_pivots_and_stats(index: SqliteIndex) -> None:
    answer = index.select(
        {
            "q": "*:*",
            "rows": 0,
            "facet": "true",
            "facet.range": ["indexed_at", "time_span"],
            "f.indexed_at.facet.range.start": "2024-05-01T00:00:00Z",
            "f.indexed_at.facet.range.end": "2024-05-04T00:00:00Z",
            "f.indexed_at.facet.range.gap": "+2DAYS",
            "f.time_span.facet.range.start": "1000-01-01T00:00:00Z",
            "f.time_span.facet.range.end": "2000-01-01T00:00:00Z",
            "f.time_span.facet.range.gap": "+500YEARS",
            "facet.range.other": "all",
            "facet.pivot": "datasource,subject_facet",
            "stats": "true",
            "stats.field": ["indexed_at", "{!min=true max=true count=true missing=true key=s}subject_facet"],
        }
    )
    assert answer["facet_counts"]["facet_ranges"] == {
        "indexed_at": {  # not hardend: the last range runs past end, which moves
            "counts": ["2024-05-01T00:00:00Z", 1, "2024-05-03T00:00:00Z", 1],
            "gap": "+2DAYS",
            "before": 0,
            "after": 0,
            "between": 2,
            "start": "2024-05-01T00:00:00Z",
            "end": "2024-05-05T00:00:00Z",
        },
        "time_span": {
            "counts": ["1000-01-01T00:00:00Z", 1, "1500-01-01T00:00:00Z", 1],
            "gap": "+500YEARS",
            "before": 1,
            "after": 0,
            "between": 2,
            "start": "1000-01-01T00:00:00Z",
            "end": "2000-01-01T00:00:00Z",
        },
    }
    assert answer["facet_counts"]["facet_pivot"] == {
        "datasource,subject_facet": [
            {
                "field": "datasource",
                "value": "ads",
                "count": 3,
                "pivot": [
                    {"field": "subject_facet", "value": "Temple", "count": 2},
                    {"field": "subject_facet", "value": "Bronze Age", "count": 1},
                ],
            },
            {
                "field": "datasource",
                "value": "dans",
                "count": 1,
                "pivot": [{"field": "subject_facet", "value": "Bronze Age", "count": 1}],
            },
        ]
    }
    assert answer["stats"] == {
        "stats_fields": {
            "indexed_at": {  # two values: their sums add alike in any order
                "min": "2024-05-01T10:00:00Z",
                "max": "2024-05-03T10:00:00Z",
                "count": 2,
                "missing": 2,
                "sum": 3429288000000.0,
                "mean": "2024-05-02T10:00:00Z",
                "sumOfSquares": 5.88000810840192e24,
                "stddev": 122188053.84005152,
            },
            "s": {"min": "Bronze Age", "max": "Temple", "count": 4, "missing": 1},
        }
    }


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"facet.range": "indexed_at"},
            "Missing required parameter: f.indexed_at.facet.range.start (or default: facet.range.start)",
        ),
        ({"facet.range": "language"}, "Unable to range facet on field:language"),
        (
            {
                "facet.range": "indexed_at",
                "facet.range.start": "2024-05-01",
                "facet.range.end": "NOW",
                "facet.range.gap": "+1DAY",
            },
            "Can't parse value 2024-05-01 for field: indexed_at",
        ),
        (
            {
                "facet.range": "indexed_at",
                "facet.range.start": "NOW-1YEAR",
                "facet.range.end": "NOW",
                "facet.range.gap": "+1MILLI",
            },
            "facet.range on indexed_at: more than 10000 ranges are not supported by the embedded index",
        ),
        (
            {"facet.range": "x_i", "facet.range.start": "0", "facet.range.end": "9", "facet.range.gap": "-1"},
            "range facet infinite loop (is gap negative? did the math overflow?)",
        ),
        (
            {"facet.range": "x_i", "facet.range.start": "9", "facet.range.end": "0", "facet.range.gap": "1"},
            "range facet 'end' comes before 'start': 0 < 9",
        ),
        (
            {
                "facet.range": "x_i",
                "facet.range.start": "0",
                "facet.range.end": "9",
                "facet.range.gap": "1",
                "facet.range.other": "before,after",
            },
            "before,after is not a valid type of 'other' range facet information",
        ),
        (
            {"facet.pivot": "datasource,title"},
            "facet.pivot on field title (text_general) is not supported by the embedded index "
            "(fields of exact values only)",
        ),
        ({"stats": "true", "stats.field": "title"}, "Field type text_general is not currently supported"),
        (
            {"stats": "true", "stats.field": "{!percentiles=50}x_i"},
            "stats.field: percentiles is not supported by the embedded index",
        ),
    ],
)
def test_range_pivot_and_stats_refusals(index: SqliteIndex, params: dict, message: str) -> None:
    with pytest.raises(BadRequest) as caught:
        index.select({"q": "*:*", "facet": "true", **params})
    assert str(caught.value) == message


def test_cursor_mark_pages_by_sort_values(index: SqliteIndex) -> None:
    params = {"q": "*:*", "fl": "id", "sort": "subject_facet desc, id asc", "rows": 3}
    first = index.select({**params, "cursorMark": "*"})
    assert [d["id"] for d in first["response"]["docs"]] == ["ads::1", "ads::3", "dans::1"]
    assert first["response"]["numFound"] == 4
    # the next page is found by values, so a document added before it sorts where it belongs
    writer = index.open_writer("ads")
    writer.add([{"id": "ads::0", "datasource": "ads", "subject": ["Aardvark"]}])
    writer.commit(state())
    second = index.select({**params, "cursorMark": first["nextCursorMark"]})
    assert [d["id"] for d in second["response"]["docs"]] == ["ads::0", "ads::2"]
    last = index.select({**params, "cursorMark": second["nextCursorMark"]})
    assert last["response"]["docs"] == [] and last["nextCursorMark"] == second["nextCursorMark"]
    for bad, message in [
        (
            {"sort": "subject_facet desc"},
            "Cursor functionality requires a sort containing a uniqueKey field tie breaker",
        ),
        ({"start": 1}, "Cursor functionality requires start=0"),
        (
            {"cursorMark": "bogus"},
            "Unable to parse 'cursorMark' after totem: value must either be '*' or the 'nextCursorMark' "
            "returned by a previous search: bogus",
        ),
    ]:
        with pytest.raises(BadRequest) as caught:
            index.select({**params, "cursorMark": "*", **bad})
        assert str(caught.value) == message


def test_highlighting_as_the_unified_highlighter(index: SqliteIndex) -> None:
    def hl(q: str, **params) -> dict:
        answer = index.select(
            {"q": q, "fl": "id", "sort": "id asc", "hl": "true", "hl.fl": "title", **params}
        )
        return answer["highlighting"]

    assert hl("zeus OR sanctuary") == {
        "ads::1": {"title": ["<em>Zeus</em> temple excavation"]},
        "ads::3": {"title": ["apollo <em>sanctuary</em>"]},
    }
    assert hl('"temple excavation" OR emile', **{"hl.tag.pre": "[", "hl.tag.post": "]"}) == {
        "ads::1": {"title": ["Zeus [temple excavation]"]},
        "ads::2": {"title": ["[Émile] Cartailhac, field notes"]},
    }
    # every term is looked for in the field: a required term the title lacks leaves nothing marked
    assert hl("zeus AND datasource:ads") == {"ads::1": {}}
    assert hl("zeus AND indexed_at:[* TO NOW]") == {"ads::1": {"title": ["<em>Zeus</em> temple excavation"]}}
    assert hl("bronze", **{"hl.fl": "text"}) == {"ads::1": {}, "dans::1": {}}  # not stored: nothing
    for params, message in [
        (
            {"hl.fl": "subject"},
            "hl.fl=subject: highlighting a multivalued field is not supported by the embedded index "
            "(Solr's unified highlighter cuts passages across its values)",
        ),
        ({"hl.q": "x"}, "highlighting parameter hl.q is not supported by the embedded index"),
        (
            {"q": "time_span:1890"},
            "highlighting (hl) a query on a DateRangeField is not supported by the embedded index",
        ),
    ]:
        with pytest.raises(BadRequest) as caught:
            hl(params.pop("q", "zeus"), **params)
        assert str(caught.value) == message


def test_json_facets_terms_and_ranges(index: SqliteIndex) -> None:
    facet = {
        "ds": {
            "type": "terms",
            "field": "datasource",
            "facet": {"s": {"type": "terms", "field": "subject_facet"}},
        },
        "all": {"type": "terms", "field": "datasource", "domain": {"excludeTags": "d"}, "sort": "index desc"},
        "when": {
            "type": "range",
            "field": "indexed_at",
            "start": "2024-05-01T00:00:00Z",
            "end": "2024-05-05T00:00:00Z",
            "gap": "+2DAYS",
            "other": "before",
        },
    }
    answer = index.select(
        {"q": "*:*", "rows": 0, "fq": "{!tag=d}datasource:ads", "json": json.dumps({"facet": facet})}
    )
    assert answer["facets"] == {
        "count": 3,
        "ds": {
            "buckets": [
                {
                    "val": "ads",
                    "count": 3,
                    "s": {"buckets": [{"val": "Temple", "count": 2}, {"val": "Bronze Age", "count": 1}]},
                }
            ]
        },
        "all": {"buckets": [{"val": "dans", "count": 1}, {"val": "ads", "count": 3}]},
        "when": {
            "buckets": [
                {"val": "2024-05-01T00:00:00Z", "count": 1},
                {"val": "2024-05-03T00:00:00Z", "count": 1},
            ],
            "before": {"count": 0},
        },
    }


def test_stored_fields_are_compressed_and_those_of_older_generations_still_read(
    index: SqliteIndex, tmp_path: Path
) -> None:
    conn = sqlite3.connect(tmp_path / "index.sqlite")
    (generation,) = conn.execute("SELECT generation FROM cc_indexes").fetchone()
    p = f"g{generation}"
    (stored,) = conn.execute(f"SELECT stored FROM {p}_docs WHERE id = 'ads::1'").fetchone()
    assert isinstance(stored, bytes)
    assert stored[:4] == b"\x28\xb5\x2f\xfd"  # a Zstandard frame
    assert json.loads(zstandard.ZstdDecompressor().decompress(stored))["title"] == "Zeus temple excavation"
    with conn:  # rows as generations before Zstandard (zlib) and before compression (plain) wrote them
        conn.execute(
            f"UPDATE {p}_docs SET stored = ? WHERE id = 'ads::3'",
            (json.dumps({"id": "ads::3", "datasource": "ads", "title": "apollo sanctuary"}),),
        )
        conn.execute(
            f"UPDATE {p}_docs SET stored = ? WHERE id = 'ads::1'",
            (zlib.compress(json.dumps({"id": "ads::1", "datasource": "ads", "title": "zeus"}).encode()),),
        )
    conn.close()
    fresh = SqliteIndex(tmp_path / "index.sqlite", create=False)
    assert fresh.select({"q": "id:ads\\:\\:3", "fl": "title"})["response"]["docs"] == [
        {"title": "apollo sanctuary"}
    ]
    assert fresh.select({"q": "id:ads\\:\\:1", "fl": "title"})["response"]["docs"] == [{"title": "zeus"}]
    assert ids(fresh, q="period_txt:*") == ["ads::2"]  # field:* reads the compressed JSON in SQL
    assert ids(fresh, q="title:* AND id:ads\\:\\:3") == ["ads::3"]
    fresh.close()


def test_the_longest_stored_string_is_kept_after_the_json(tmp_path: Path) -> None:
    """A long value (a record's N-Triples) is not escaped into the JSON: it follows it, and every
    reader (the document, ``fl``, ``field:*``, a refeed's restore) still sees it where it was."""
    rdf = '<http://x/a> <http://x/p> "say \\"hi\\"\\n" .\n' * 40 + "ünïcode \x00 nul\n"
    doc = {"id": "ads::9", "datasource": "ads", "rdf": rdf, "title": "t" * 1500, "subject": ["s" * 3000]}
    packed = sqlite_module.pack(doc)
    raw = zstandard.ZstdDecompressor().decompress(packed)
    head, _, rest = raw.partition(b"\0")
    assert json.loads(head) == {**doc, "rdf": ""}  # longest top-level string; order kept
    assert rest == b'"rdf"\0' + rdf.encode()
    assert list(sqlite_module.unpack(packed)) == list(doc)
    assert sqlite_module.unpack(packed) == doc
    short = {"id": "ads::8", "datasource": "ads", "rdf": "x" * 1023}
    assert b"\0" not in zstandard.ZstdDecompressor().decompress(sqlite_module.pack(short))
    assert sqlite_module.unpack(sqlite_module.pack(short)) == short
    with SqliteIndex(tmp_path / "index.sqlite") as index:
        writer = index.open_writer("ads")
        writer.add([doc, {"id": "ads::7", "datasource": "ads", "title": "no rdf"}])
        writer.commit(state())
        assert index.select({"q": "id:ads\\:\\:9", "fl": "rdf,title"})["response"]["docs"] == [
            {"rdf": rdf, "title": doc["title"]}
        ]
        assert ids(index, q="rdf:*") == ["ads::9"]  # json_type sees the place the value keeps
        conn = sqlite3.connect(tmp_path / "index.sqlite")
        (generation,) = conn.execute("SELECT generation FROM cc_indexes").fetchone()
        (stored,) = conn.execute(f"SELECT stored FROM g{generation}_docs WHERE id = 'ads::9'").fetchone()
        conn.close()
        assert restore(stored) == doc


def test_cached_results_follow_writes(index: SqliteIndex) -> None:
    assert ids(index, q="bronze", sort="score desc") == ["dans::1", "ads::1"]
    assert ids(index, q="*:*", fq="subject_facet:Temple") == ["ads::1", "ads::3"]
    writer = index.open_writer("ads")
    writer.delete(["ads::1"])
    writer.commit(state())
    assert ids(index, q="bronze", sort="score desc") == ["dans::1"]
    assert ids(index, q="*:*", fq="subject_facet:Temple") == ["ads::3"]
    rebuild = index.open_writer("dans", rebuild=True)
    rebuild.add([{"id": "dans::2", "datasource": "dans", "title": "Bronze bronze", "subject": ["Temple"]}])
    rebuild.commit(state("dans"))
    assert ids(index, q="bronze", sort="score desc") == ["dans::2"]
    assert ids(index, q="*:*", fq="subject_facet:Temple") == ["ads::3", "dans::2"]


def test_the_replaced_generation_is_dropped_outside_a_transaction(
    index: SqliteIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inside a transaction SQLite journals every page a DROP frees, in memory: a rebuild's memory
    grew with the size of the generation it replaced."""
    from provision.index import sqlite as module

    seen: list[bool] = []
    original = module.GENERATIONS.drop
    monkeypatch.setattr(
        module.GENERATIONS, "drop", lambda conn, key: seen.append(conn.in_transaction) or original(conn, key)
    )
    writer = index.open_writer("ads", rebuild=True)
    writer.add(DOCS[:1])
    writer.commit(state("ads", "v2"))
    aborted = index.open_writer("ads", rebuild=True)
    aborted.abort()
    assert seen == [False, False]
    assert index.builds() == []


def _rows(path: Path) -> dict[str, list[tuple]]:
    """Every row of the live generation's tables (FTS5: the terms it holds), rids as they are."""
    conn = sqlite3.connect(path)
    (generation,) = conn.execute("SELECT generation FROM cc_indexes").fetchone()
    p = f"g{generation}"
    conn.execute(f"CREATE VIRTUAL TABLE temp.vocab USING fts5vocab(main, {p}_fts, 'instance')")
    rows = {
        kind: conn.execute(f"SELECT * FROM {p}_{kind} ORDER BY 1, 2, 3").fetchall()
        for kind in ("terms", "singles", "ranges")
    }
    rows["docs"] = [
        (rid, doc_id, ds, version, restore(stored))
        for rid, doc_id, ds, version, stored in conn.execute(f"SELECT * FROM {p}_docs ORDER BY rid")
    ]
    rows["fts"] = conn.execute("SELECT * FROM temp.vocab ORDER BY 1, 2, 3, 4").fetchall()
    conn.close()
    return rows


def test_prepared_batches_index_exactly_as_documents_do(tmp_path: Path) -> None:
    """What the feed's builder processes hand over (prepare_batch) is what add() would have written."""
    docs = [*DOCS, {"id": "ads::bad", "datasource": "ads", "nope": 1}, {**DOCS[0], "title": "Last wins"}]
    rejected = {}
    for name, send in (("docs", "add"), ("prepared", "add_prepared")):
        with SqliteIndex(tmp_path / f"{name}.sqlite") as index:
            writer = index.open_writer("ads", rebuild=True)
            for page in (docs[:3], docs[3:]):
                if send == "add":
                    writer.add(page)
                else:
                    writer.add_prepared(writer.preparer(page))
            rejected[name] = writer.flush()
            writer.commit(state())
    assert rejected["docs"] == rejected["prepared"]
    assert [(r.id, r.message) for r in rejected["docs"]] == [
        ("ads::bad", "ERROR: [doc=ads::bad] unknown field 'nope'")
    ]
    by_docs, by_batches = _rows(tmp_path / "docs.sqlite"), _rows(tmp_path / "prepared.sqlite")
    assert by_docs == by_batches
    assert [(rid, doc_id, stored.get("title")) for rid, doc_id, _, _, stored in by_docs["docs"]] == [
        (2, "ads::2", "Émile Cartailhac, field notes"),
        (3, "ads::3", "apollo sanctuary"),
        (4, "dans::1", "Bronze hoard"),
        (5, "ads::1", "Last wins"),
    ]


def test_a_rebuild_commits_every_few_pages_and_an_abort_drops_them_all(
    index: SqliteIndex, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_module, "REBUILD_TRANSACTION_DOCS", 2)
    path = tmp_path / "index.sqlite"
    writer = index.open_writer("ads", rebuild=True)
    for n in range(5):  # commits after the 2nd and 4th page; the 5th is in the open transaction
        writer.add([{"id": f"ads::n{n}", "datasource": "ads", "title": f"New {n}"}])
    assert writer._conn.in_transaction
    writer.abort()
    tables = sqlite3.connect(path).execute("SELECT count(*) FROM sqlite_master WHERE name LIKE 'g%_docs'")
    assert tables.fetchone() == (1,)
    assert index.count() == 4
    writer = index.open_writer("ads", rebuild=True)
    for n in range(5):
        writer.add([{"id": f"ads::n{n}", "datasource": "ads", "title": f"New {n}"}])
    writer.commit(state("ads", "v2"))
    assert ids(index, q="*:*", sort="id asc") == [*(f"ads::n{n}" for n in range(5)), "dans::1"]


def test_a_failed_page_of_a_rebuild_leaves_only_abort(
    index: SqliteIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure rolls back the pages of the open transaction: the writer must not go on as if they
    were in, so everything but abort is refused, and the live index is as it was."""
    writer = index.open_writer("ads", rebuild=True)
    writer.add([{"id": "ads::n0", "datasource": "ads", "title": "New"}])
    monkeypatch.setattr(
        writer,
        "_insert_rows",
        lambda conn, batch: (_ for _ in ()).throw(sqlite3.OperationalError("disk I/O error")),
    )
    with pytest.raises(sqlite3.OperationalError, match="disk I/O error"):
        writer.add([{"id": "ads::n1", "datasource": "ads", "title": "New"}])
    for attempt in (lambda: writer.add(DOCS[:1]), lambda: writer.commit(state("ads", "v2"))):
        with pytest.raises(
            IndexBackendError, match="a write of this rebuild failed and was rolled back; abort"
        ):
            attempt()
    writer.abort()
    assert ids(index, q="*:*", sort="id asc") == ["ads::1", "ads::2", "ads::3", "dans::1"]


def test_only_short_values_are_cached_by_the_analysis() -> None:
    """A long value (a description) is analysed each time: 65,536 cached 50 KB texts would hold
    gigabytes in the writer and in every builder process."""
    from provision.index import sqlite

    long_text = "Bronze axe from the hoard " * 40
    sqlite._analysed_short.cache_clear()  # not full from earlier tests: a new value must add an entry
    before = sqlite._analysed_short.cache_info().currsize, sqlite._sort_key_short.cache_info().currsize
    assert sqlite._analysed(long_text).startswith("bronze axe from the hoard")
    assert sqlite._cached_sort_key(long_text) == sqlite.analysis.sort_key(long_text)
    after = sqlite._analysed_short.cache_info().currsize, sqlite._sort_key_short.cache_info().currsize
    assert after == before
    sqlite._analysed("Bronze axe unique short value 7e1")
    assert sqlite._analysed_short.cache_info().currsize == before[0] + 1
