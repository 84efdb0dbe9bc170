"""Relevance ranking in the embedded index: text queries sorted by score are ordered by FTS5's bm25
per text clause, summed like Lucene's BooleanQuery; without ``sort=score`` everything keeps index
order (scoring a common term's every match would cost the facet browsing its latency)."""

from __future__ import annotations

import logging

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


# --- leaders lists: a frequent term's best documents, made at each commit -----------------------

#: equal titles score equally: ties across the cut of a leaders list must keep index order
LEADER_DOCS = [
    doc("l::0", "amber bead"),
    doc("l::1", "bronze axe"),
    doc("l::2", "bronze bronze hoard"),
    doc("l::3", "bronze axe"),
    doc("l::4", "bronze axe blade"),
    doc("l::5", "bronze axe"),
    doc("l::6", "bronze"),
    doc("l::7", "bronze axe"),
    doc("l::8", "amber bronze bead"),
]

LEADER_REQUESTS = [
    {"q": "bronze", "sort": "score desc", "rows": 3},
    {"q": "bronze", "sort": "score desc", "rows": 2, "start": 2, "fl": "id,score"},
    {"q": "bronze", "fl": "id,score", "rows": 4},
    {"q": "bronze", "sort": "score desc", "rows": 4, "start": 4, "fl": "id,score"},  # past the list
    {"q": "bronze", "sort": "score desc", "rows": 0, "fl": "id,score"},
    {"q": "bronze", "sort": "score asc", "rows": 3},
    {"q": "bronze^2", "sort": "score desc", "rows": 3, "fl": "id,score"},
    {"q": "title:bronze", "sort": "score desc", "rows": 3, "fl": "id,score"},
    {"q": "bronze", "sort": "score desc", "rows": 3, "fq": "id:l\\:*"},
    {"q": "bronze", "sort": "score desc", "rows": 3, "facet": "true", "facet.field": "datasource"},
    {"q": "axe", "sort": "score desc", "rows": 3, "fl": "id,score"},
    {"q": "amber", "sort": "score desc", "rows": 3, "fl": "id,score"},  # in 2 documents: no list
    {"q": "bronze axe", "sort": "score desc", "rows": 3, "fl": "id,score"},
]


def answers(index: SqliteIndex) -> list[dict]:
    found = []
    for request in LEADER_REQUESTS:
        answer = index.select(request)
        del answer["responseHeader"]["QTime"]
        found.append(answer)
    return found


def leading(monkeypatch) -> list[bool]:
    """Per request from now on, whether a leaders list answered it (else it was scored in full)."""
    from provision.index import sqlite

    led: list[bool] = []
    original = sqlite._Select._led

    def spying(self, main, sort):
        found = original(self, main, sort)
        led.append(found is not None)
        return found

    monkeypatch.setattr(sqlite._Select, "_led", spying)
    return led


@pytest.mark.parametrize(
    ("join_max", "split_min"),
    [(1 << 19, 1 << 24), (0, 1 << 24), (1 << 19, 0)],
    ids=["joined", "rows", "split"],
)
def test_leaders_lists_answer_exactly_as_scoring_every_match(
    tmp_path, monkeypatch, join_max: int, split_min: int
) -> None:
    """A ranked one-term query whose page ends within the term's leaders list is answered from it:
    the same numFound, maxScore, documents, order (ties in index order across the list's end) and
    scores, to the bit, as scoring every match; every other request scores in full as before. The
    lists are the same whether a term's instances are joined by SQLite or read as rows (0: every
    term's are read as rows), and whether they are made in one process or half in a second one
    (split_min 0: always, one term each)."""
    from provision.index import sqlite

    monkeypatch.setattr(sqlite, "LEADERS_JOIN_MAX", join_max)
    split = splits(monkeypatch, split_min)
    monkeypatch.setattr(sqlite, "LEADERS_MIN_MATCHES", 3)
    monkeypatch.setattr(sqlite, "LEADERS_DEPTH", 4)
    state = IndexState("f", "v1", "f/PE/store/transformed", "full", ("v1",))
    with SqliteIndex(tmp_path / "led.sqlite") as led, SqliteIndex(tmp_path / "full.sqlite") as full:
        writer = led.open_writer("f", rebuild=True)
        writer.add(LEADER_DOCS)
        writer.commit(state)
        conn = led._conn()
        p = led._live_tables(conn)
        listed = dict(conn.execute(p.sql("SELECT term, matches FROM {leaders}")))
        assert listed == {"bronze": 8, "axe": 5}
        assert split == ([(["bronze"], ["axe"])] if split_min == 0 else [])
        monkeypatch.setattr(sqlite, "LEADERS_MIN_MATCHES", 1_000)
        writer = full.open_writer("f", rebuild=True)
        writer.add(LEADER_DOCS)
        writer.commit(state)
        assert full._conn().execute(
            full._live_tables(full._conn()).sql("SELECT count(*) FROM {leaders}")
        ).fetchone() == (0,)

        expected = answers(full)
        by_list = leading(monkeypatch)
        assert answers(led) == expected
        # answered by the lists: the first three requests and "axe" (5 matches, 3 rows); the one
        # with an fq never asks
        assert by_list == [True, True, True, False, False, False, False, False, False, True, False, False]
        assert [d["id"] for d in expected[0]["response"]["docs"]] == ["l::6", "l::2", "l::1"]
        assert [d["id"] for d in expected[3]["response"]["docs"]] == ["l::5", "l::7", "l::4", "l::8"]

        # the list's scores are bm25()'s
        rids, values = sqlite._unpack_leaders(
            conn.execute(p.sql("SELECT top FROM {leaders} WHERE term = 'bronze'")).fetchone()[0]
        )
        by_bm25 = dict(
            conn.execute(p.sql("SELECT rowid, -bm25({fts}) FROM {fts} WHERE {fts} MATCH 'bronze'"))
        )
        assert values == tuple(by_bm25[rid] for rid in rids)
        # l::1 and l::3 tie inside the list, in rid order; l::5 and l::7 tie with them outside it
        assert len(rids) == 4 and values[1] > values[2] == values[3] and rids[2] < rids[3]


def splits(monkeypatch, split_min: int) -> list[tuple[list[str], list[str]]]:
    """From now on, the terms of each leaders making split between two processes (this one's and
    the other's), with ``LEADERS_SPLIT_MIN`` set to ``split_min``."""
    from provision.index import sqlite

    monkeypatch.setattr(sqlite, "LEADERS_SPLIT_MIN", split_min)
    made: list[tuple[list[str], list[str]]] = []
    original = sqlite._halves

    def spying(terms):
        here, there = original(terms)
        made.append(([t[0] for t in here], [t[0] for t in there]))
        return here, there

    monkeypatch.setattr(sqlite, "_halves", spying)
    return made


def test_leaders_lists_are_made_here_when_the_second_process_fails(tmp_path, monkeypatch, caplog) -> None:
    from provision.index import sqlite

    split = splits(monkeypatch, 0)
    monkeypatch.setattr(sqlite, "LEADERS_MIN_MATCHES", 3)
    monkeypatch.setattr(sqlite, "_leaders_rows_of_file", lambda *args: None)  # cannot be sent to it
    state = IndexState("f", "v1", "f/PE/store/transformed", "full", ("v1",))
    # whatever level an earlier test's CLI run left the root logger at
    with SqliteIndex(tmp_path / "led.sqlite") as index, caplog.at_level(logging.WARNING, sqlite.__name__):
        writer = index.open_writer("f", rebuild=True)
        writer.add(LEADER_DOCS)
        writer.commit(state)
        conn = index._conn()
        listed = dict(conn.execute(index._live_tables(conn).sql("SELECT term, matches FROM {leaders}")))
    assert listed == {"bronze": 8, "axe": 5} and split == [(["bronze"], ["axe"])]
    assert "leaders lists made in one process (the second one failed: " in caplog.text


@pytest.mark.parametrize("split_min", [1 << 24, 0], ids=["one process", "split"])
def test_writes_in_place_clear_the_leaders_and_a_commit_makes_them_again(
    tmp_path, monkeypatch, split_min: int
) -> None:
    """Every score depends on the whole generation (its row count and average length): a write in
    place clears the lists in its own transaction (requests score in full meanwhile), the commit
    makes them again from what the generation holds; a generation made before the lists gains
    its table at its next commit. Made half in a second process, they are the same: it reads the
    generation as committed before them."""
    from provision.index import sqlite

    split = splits(monkeypatch, split_min)
    monkeypatch.setattr(sqlite, "LEADERS_MIN_MATCHES", 3)
    monkeypatch.setattr(sqlite, "LEADERS_DEPTH", 4)
    state = IndexState("f", "v1", "f/PE/store/transformed", "refeed", ("v1",))
    request = {"q": "bronze", "sort": "score desc", "rows": 3, "fl": "id,score"}
    with SqliteIndex(tmp_path / "index.sqlite") as index:
        conn = index._conn()
        p = index._live_tables(conn)
        conn.execute(p.sql("DROP TABLE {leaders}"))  # as a generation made before them
        writer = index.open_writer("f")
        writer.add(LEADER_DOCS[:6])
        led = lambda: dict(conn.execute(p.sql("SELECT term, matches FROM {leaders}")))  # noqa: E731
        writer.commit(state)
        assert led() == {"axe": 4, "bronze": 5}
        by_list = leading(monkeypatch)
        before = index.select(request)
        assert by_list == [True]

        writer = index.open_writer("f")
        writer.add(LEADER_DOCS[6:])
        assert led() == {}  # cleared by the write itself
        during = index.select(request)
        assert by_list == [True, False]
        writer.commit(state)
        assert led() == {"axe": 5, "bronze": 8}
        assert len(split) == (2 if split_min == 0 else 0)
        after = index.select(request)
        assert by_list == [True, False, True]
        assert after["response"] == during["response"]
        assert after["response"]["numFound"] == 8 and before["response"]["numFound"] == 5
        assert after["response"]["docs"][0]["score"] != before["response"]["docs"][0]["score"]

        writer = index.open_writer("f")
        writer.delete(["l::6"])
        writer.close()  # no commit: no lists until the next one, requests score in full
        assert led() == {}
        assert [d["id"] for d in index.select(request)["response"]["docs"]] == ["l::2", "l::1", "l::3"]


@pytest.mark.parametrize(
    ("source", "size"),
    [("joined", 1), ("joined", 2), ("joined", 3), ("joined", 7), ("joined", 64), ("joined", 1 << 21)]
    + [("rows", 1), ("rows", 2), ("rows", 5), ("rows", 1 << 15)],
)
def test_leaders_made_a_batch_at_a_time_equal_the_whole_scoring(source: str, size: int) -> None:
    """Random instance lists (runs of one rid, as FTS5 gives them) scored in batches: slices of
    ``size`` characters of the joined list, or ``size`` rows at a time (a term with too many
    instances to join): the same matches, rids and score bits as scoring the whole list, ties
    included."""
    import random
    import sqlite3
    import struct

    from provision.index.sqlite import _batches_of, _bm25_scores, _leaders_of, _slices_of, _top_by_score

    rnd = random.Random(size * 10 + (source == "rows"))
    conn = sqlite3.connect(":memory:")
    for _ in range(40):
        rows = rnd.randint(5, 400)
        lengths = [rnd.choice([3, 5, 8, 8, 13]) for _ in range(rows)]  # repeated lengths: ties
        norms = (lengths, rows, sum(lengths) / rows)
        rids = sorted(rnd.sample(range(rows), rnd.randint(1, rows)))
        listed = [rid for rid in rids for _ in range(rnd.choice([1, 1, 2, 5, 40]))]
        found = ",".join(map(str, listed))
        scores = _bm25_scores(found, norms)
        depth = rnd.choice([1, 3, 10, 100])
        top = _top_by_score(list(scores), scores, depth, ascending=False)
        conn.execute("DROP TABLE IF EXISTS instances")
        conn.execute("CREATE TABLE instances(doc INTEGER)")
        conn.executemany("INSERT INTO instances VALUES (?)", [(rid,) for rid in listed])
        if source == "joined":
            instances = lambda found=found: _slices_of(found, size)  # noqa: E731
        else:
            instances = lambda: _batches_of(conn.execute("SELECT doc FROM instances ORDER BY rowid"), size)  # noqa: E731
        matches, got, got_scores = _leaders_of(instances, len(rids), norms, depth=depth)
        assert (matches, got) == (len(rids), top)
        bits = lambda values: [struct.pack("<d", v) for v in values]  # noqa: E731
        assert bits(got_scores) == bits([scores[rid] for rid in top])
        # a documents count that disagrees with the instances is corrected, not trusted
        wrong = len(rids) - 1 or 2
        assert _leaders_of(instances, wrong, norms, depth=depth) == (matches, got, got_scores)
