"""Relevance ranking in the embedded index: text queries sorted by score are ordered by FTS5's bm25
per text clause, summed like Lucene's BooleanQuery; without ``sort=score`` everything keeps index
order (scoring a common term's every match would cost the facet browsing its latency)."""

from __future__ import annotations

import pytest

from provision.index.base import IndexState
from provision.index.sqlite import SqliteIndex


def doc(doc_id: str, title: str, datasource: str = "f") -> dict:
    return {"id": doc_id, "datasource": datasource, "title": title}


# index order is this order (t::b before t::a on purpose: ties must follow index order, not ids)
DOCS = [
    doc("f::1", "bronze axe"),
    doc("f::2", "bronze bronze bronze hoard"),
    doc("f::3", "bronze gold sword", "g"),
    doc("f::4", "iron axe", "g"),
    doc("t::b", "amber necklace"),
    doc("t::a", "amber necklace"),
    doc("t::c", "amber amber bead"),
    *(
        doc(f"z::{i}", title)
        for i, title in enumerate(
            ["pottery shard", "roman coin", "flint scraper", "glass bead", "stone wall", "timber post"]
        )
    ),
]
ALL_IDS = [d["id"] for d in DOCS]


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory):
    with SqliteIndex(tmp_path_factory.mktemp("ranking") / "index.sqlite") as index:
        writer = index.open_writer("f")
        writer.add(DOCS)
        writer.commit(IndexState("f", "v1", "f/PE/store/transformed", "refeed", ("v1",)))
        yield index


def docs(index: SqliteIndex, **params) -> list[dict]:
    """Ranked unless the test passes its own ``sort`` (``sort=None``: no sort parameter)."""
    params = {"sort": "score desc", **params}
    if params["sort"] is None:
        del params["sort"]
    return index.select({"rows": 100, "fl": "id", **params})["response"]["docs"]


def ids(index: SqliteIndex, **params) -> list[str]:
    return [d["id"] for d in docs(index, **params)]


def test_a_term_more_times_ranks_first(index: SqliteIndex) -> None:
    assert ids(index, q="bronze") == ["f::2", "f::1", "f::3"]  # tf 3; then the shorter title
    assert ids(index, q="bronze", sort="score desc") == ["f::2", "f::1", "f::3"]
    assert ids(index, q="title:amber") == ["t::c", "t::b", "t::a"]


def test_a_rarer_term_ranks_first(index: SqliteIndex) -> None:
    # gold is in one document, axe in two: the gold document first, then the axes in index order
    assert ids(index, q="axe OR gold") == ["f::3", "f::1", "f::4"]
    assert ids(index, q="gold axe") == ["f::3", "f::1", "f::4"]


def test_more_query_terms_rank_first(index: SqliteIndex) -> None:
    assert ids(index, q="iron axe") == ["f::4", "f::1"]
    assert ids(index, q="bronze axe") == ["f::1", "f::4", "f::2", "f::3"]  # both terms first


def test_score_asc_reverses(index: SqliteIndex) -> None:
    assert ids(index, q="bronze", sort="score asc") == ["f::3", "f::1", "f::2"]


def test_ties_are_broken_by_the_next_sort_field_else_index_order(index: SqliteIndex) -> None:
    assert ids(index, q="amber", sort="score desc,id asc") == ["t::c", "t::a", "t::b"]
    assert ids(index, q="amber", sort="score desc, id desc") == ["t::c", "t::b", "t::a"]
    assert ids(index, q="amber") == ["t::c", "t::b", "t::a"]  # index order between equal scores
    assert ids(index, q="amber", sort="id asc, score desc") == ["t::a", "t::b", "t::c"]
    assert ids(index, q="amber", sort="datasource asc, score asc") == ["t::b", "t::a", "t::c"]


def test_match_all_and_filters_keep_index_order(index: SqliteIndex) -> None:
    assert ids(index, q="*:*") == ALL_IDS
    assert ids(index, q="*:*", sort="score desc") == ALL_IDS
    assert ids(index, q="*:*", fq="bronze") == ["f::1", "f::2", "f::3"]  # fq never scores
    assert ids(index, q="datasource:g") == ["f::3", "f::4"]
    assert [d["score"] for d in docs(index, q="*:*", fl="id,score")] == [1.0] * len(ALL_IDS)


def test_filters_do_not_change_the_order_of_the_results(index: SqliteIndex) -> None:
    assert ids(index, q="bronze OR axe") == ["f::1", "f::4", "f::2", "f::3"]
    # were the fq scored, f::3 (gold and sword: two rare terms) would come first; it only filters
    assert ids(index, q="bronze OR axe", fq="title:(gold sword iron hoard)") == ["f::4", "f::2", "f::3"]
    assert ids(index, q="bronze OR axe", fq=["datasource:g", "*:*"]) == ["f::4", "f::3"]


def test_no_score_is_computed_when_it_would_not_be_used(index: SqliteIndex, monkeypatch) -> None:
    from provision.index import sqlite

    calls: list[object] = []
    index._columns = None  # forget what earlier tests cached
    original = sqlite._Select.scored
    monkeypatch.setattr(
        sqlite._Select, "scored", lambda self, node: calls.append(node) or original(self, node)
    )
    index.select({"q": "bronze", "rows": 0, "facet": "true", "facet.field": "datasource"})
    index.select({"q": "bronze", "sort": "id asc"})
    index.select({"q": "*:*", "fq": "bronze"})
    index.select({"q": "datasource:g OR bro*"})
    index.select({"q": "bronze"})  # no sort: index order, as the facet browsing needs it fast
    assert calls == []
    index.select({"q": "bronze", "sort": "id asc", "fl": "id,score"})
    index.select({"q": "axe", "sort": "score desc"})
    assert len(calls) == 2
    index.select({"q": "axe", "sort": "score desc", "rows": 2})  # scored once per generation: cached
    assert len(calls) == 2


def test_fl_score_returns_floats_in_descending_order(index: SqliteIndex) -> None:
    found = docs(index, q="bronze OR amber", fl="id,score")
    scores = [d["score"] for d in found]
    assert all(isinstance(s, float) and s > 0 for s in scores)
    assert scores == sorted(scores, reverse=True)
    assert list(found[0]) == ["id", "score"]
    assert [d["id"] for d in found] == ids(index, q="bronze OR amber")
    assert docs(index, q="bronze", fl="score", rows=1) == [{"score": found[0]["score"]}]  # as Solr 9
    assert set(docs(index, q="bronze", fl="*,score", rows=1)[0]) == {"id", "datasource", "title", "score"}
    assert "score" not in docs(index, q="bronze", fl="*")[0]


def test_paging_a_ranked_result_gives_the_same_sequence(index: SqliteIndex) -> None:
    q = "bronze OR axe OR amber OR bead"
    whole = ids(index, q=q)
    assert len(whole) == 8
    for rows in (1, 2, 3):
        paged = [i for start in range(0, len(whole), rows) for i in ids(index, q=q, start=start, rows=rows)]
        assert paged == whole
        sorted_paged = [
            i
            for start in range(0, len(whole), rows)
            for i in ids(index, q=q, start=start, rows=rows, sort="score desc,id asc")
        ]
        assert sorted_paged == ids(index, q=q, sort="score desc,id asc")


def test_not_clauses_add_no_score(index: SqliteIndex) -> None:
    plain = {d["id"]: d["score"] for d in docs(index, q="bronze", fl="id,score")}
    negated = docs(index, q="bronze -sword", fl="id,score")
    assert [d["id"] for d in negated] == ["f::2", "f::1"]
    assert {d["id"]: d["score"] for d in negated} == {k: plain[k] for k in ("f::2", "f::1")}
    assert docs(index, q="bronze NOT hoard", fl="id,score") == [
        {"id": i, "score": plain[i]} for i in ("f::1", "f::3")
    ]


def test_boosts_multiply(index: SqliteIndex) -> None:
    plain = {d["id"]: d["score"] for d in docs(index, q="bronze OR axe", fl="id,score")}
    assert ids(index, q="bronze OR axe") == ["f::1", "f::4", "f::2", "f::3"]
    assert ids(index, q="bronze^3 OR axe") == ["f::1", "f::2", "f::3", "f::4"]  # bronze now outweighs axe
    boosted = {d["id"]: d["score"] for d in docs(index, q="(bronze OR axe)^2", fl="id,score")}
    assert boosted == pytest.approx({k: 2 * v for k, v in plain.items()})
    assert ids(index, q="(bronze OR axe)^2") == ids(index, q="bronze OR axe")
    assert ids(index, q='bronze^0.1 OR "iron axe"^5')[0] == "f::4"


def test_clauses_add_up(index: SqliteIndex) -> None:
    def score(q: str, doc_id: str) -> float:
        return next(d["score"] for d in docs(index, q=q, fl="id,score") if d["id"] == doc_id)

    assert score("bronze gold", "f::3") == pytest.approx(score("bronze", "f::3") + score("gold", "f::3"))
    assert score("+bronze +gold", "f::3") == pytest.approx(score("bronze gold", "f::3"))
    assert score("bronze datasource:g", "f::3") == pytest.approx(score("bronze", "f::3") + 1.0)


def test_without_sort_a_text_query_keeps_index_order(index: SqliteIndex) -> None:
    assert ids(index, q="bronze", sort=None) == ["f::1", "f::2", "f::3"]
    assert ids(index, q="axe OR gold", sort=None) == ["f::1", "f::3", "f::4"]
    # asking for the score asks for the ranking
    assert ids(index, q="bronze", sort=None, fl="id,score") == ["f::2", "f::1", "f::3"]


def test_one_term_scores_equal_fts5_bm25_to_the_bit(tmp_path) -> None:
    """A one-term clause is scored in Python from the term's instances and the rows' lengths
    (no bm25() call per match): every score must be the one FTS5's bm25() gives, exactly, on
    every path (all columns, a column filter, a dynamic field, a row with a column of more than
    127 tokens, whose length takes a two-byte varint)."""
    from provision.index import sqlite
    from provision.index.query import compile_query

    long_text = " ".join(["bronze"] * 3 + [f"word{i}" for i in range(200)])
    with SqliteIndex(tmp_path / "index.sqlite") as index:
        writer = index.open_writer("f")
        writer.add(
            [
                *DOCS,
                {"id": "f::long", "datasource": "f", "title": "bronze", "description": [long_text]},
                {"id": "f::dyn", "datasource": "f", "title": "stone", "period_txt": ["bronze age bronze"]},
                {"id": "f::multi", "datasource": "f", "title": "amber", "subject": ["amber", "bronze"]},
            ]
        )
        writer.commit(IndexState("f", "v1", "f/PE/store/transformed", "refeed", ("v1",)))
        conn = index._conn()
        conn.execute("BEGIN")
        p, columns = index._columns_for(conn)
        select = sqlite._Select(conn, p, sqlite.parse_request([("q", "*:*")]), columns)
        checked = []
        for q in ("bronze", "amber", "title:bronze", "subject:bronze", "period_txt:bronze", "word7"):
            node = compile_query(q, default_field="text", default_and=False, where="q")[1]
            statement, args = select._text_sql(node, scored=True)
            expected = dict(conn.execute(statement, args))
            found = select._term_scores(node)
            assert found is not None, q
            assert found == expected, q  # float equality: the same bits
            checked.append((q, len(found)))
        conn.execute("COMMIT")
        assert checked == [
            ("bronze", 6),
            ("amber", 4),
            ("title:bronze", 4),
            ("subject:bronze", 1),
            ("period_txt:bronze", 1),
            ("word7", 1),
        ]
        phrase = compile_query('"bronze axe"', default_field="text", default_and=False, where="q")[1]
        assert select._term_scores(phrase) is None  # phrases: bm25()


def test_a_rebuild_leaves_one_vocab_table_per_connection(tmp_path) -> None:
    """The fts5vocab table a one-term clause reads belongs to the generation; after a rebuild the
    next ranked query drops the replaced generation's and makes the new one's, and answers."""
    with SqliteIndex(tmp_path / "index.sqlite") as index:
        for version, title in (("v1", "bronze axe"), ("v2", "bronze bronze hoard")):
            writer = index.open_writer("f", rebuild=True)
            writer.add([doc("f::1", title), doc("f::2", "iron axe")])
            writer.commit(IndexState("f", version, "f/PE/store/transformed", "full", (version,)))
            answer = index.select({"q": "bronze", "sort": "score desc", "fl": "id,title"})
            assert answer["response"]["docs"] == [{"id": "f::1", "title": title}]
            tables = (
                index._conn().execute("SELECT name FROM temp.sqlite_master WHERE type = 'table'").fetchall()
            )
            assert len(tables) == 1 and tables[0][0].endswith("_fts_instances")
            generation = index._conn().execute("SELECT generation FROM cc_indexes").fetchone()[0]
            assert tables[0][0] == f"g{generation}_fts_instances"
