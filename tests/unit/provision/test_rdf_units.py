"""The RDF store's small parts: content negotiation, canonical record lines (skolemized blank
nodes, record errors) and the ledger's counts of shared triples."""

from __future__ import annotations

from pathlib import Path

import pytest

from mdstore.errors import RecordParseError
from provision.rdf.formats import GRAPH_TYPES, SOLUTION_TYPES, negotiate, parse_accept
from provision.rdf.ledger import PAGE_SIZE, Ledger
from provision.rdf.triples import record_lines

SOLUTIONS = list(SOLUTION_TYPES)
GRAPHS = list(GRAPH_TYPES)


@pytest.mark.parametrize(
    ("accept", "offered", "chosen"),
    [
        (None, SOLUTIONS, "application/sparql-results+json"),
        ("*/*", GRAPHS, "text/turtle"),
        ("text/csv", SOLUTIONS, "text/csv"),
        ("application/json", SOLUTIONS, "application/sparql-results+json"),
        ("text/xml;q=0.5, text/tab-separated-values", SOLUTIONS, "text/tab-separated-values"),
        ("application/*", GRAPHS, "application/n-triples"),
        ("text/html, application/ld+json;q=0.9", GRAPHS, "application/ld+json"),
        ("image/png", SOLUTIONS, None),
        ("text/csv;q=0", SOLUTIONS, None),
        ("text/turtle", SOLUTIONS, None),
    ],
)
def test_negotiation_takes_the_best_rated_format_the_server_offers(accept, offered, chosen) -> None:
    assert negotiate(accept, offered) == chosen


def test_accept_ranges_are_ordered_by_quality_then_position() -> None:
    assert parse_accept("a/b;q=0.5, c/d, e/f;q=bogus, g/h;q=0.5") == [
        ("c/d", 1.0), ("a/b", 0.5), ("g/h", 0.5), ("e/f", 0.0)]  # fmt: skip


def test_record_lines_are_canonical_and_blank_nodes_become_stable_skolem_iris() -> None:
    body = '_:x <http://p> "v" .\n<http://a> <http://p> _:x .\n<http://a> <http://p> _:x .\n'
    lines = record_lines(body, record_id="r1", datasource="ds", base="https://b/")
    skolem = "https://b/.well-known/genid/ds/5573e39b6600496d/b0"
    assert lines == [f"<http://a> <http://p> <{skolem}> .".encode(), f'<{skolem}> <http://p> "v" .'.encode()]
    assert record_lines(body, record_id="r1", datasource="ds", base="https://b/") == lines
    other = record_lines(body, record_id="r2", datasource="ds", base="https://b/")
    assert other != lines  # another record's blank node is another node


def test_a_body_that_is_not_rdf_is_a_located_record_error() -> None:
    with pytest.raises(RecordParseError) as caught:
        record_lines("<http://a> <http://p> oops", record_id="r9", datasource="ds", base="https://b/")
    assert str(caught.value).startswith("r9: rdf: not valid ntriples: ")


class Graph:
    """The graph a ledger's lines go to, as a store holds it: what ``present`` asks."""

    def __init__(self) -> None:
        self.lines: set[bytes] = set()

    def present(self, lines) -> set[bytes]:
        return {line for line in lines if line in self.lines}

    def apply(self, ledger: Ledger, graph: str, puts, deletes=()) -> tuple[list[bytes], list[bytes]]:
        added, removed = ledger.apply(graph, puts, deletes, present=self.present)
        assert not self.lines.intersection(added) and self.lines.issuperset(removed)
        self.lines.update(added)
        self.lines.difference_update(removed)
        return added, removed


def shared_rows(ledger: Ledger) -> list[tuple[int, int]]:
    return ledger._db.execute("SELECT gid, n FROM shared ORDER BY gid, n").fetchall()


def test_the_ledger_removes_a_shared_triple_only_with_its_last_record(tmp_path: Path) -> None:
    ledger, graph = Ledger(tmp_path / "ledger.sqlite"), Graph()
    shared, a_only, b_only = b"<s> <p> <shared> .", b"<a> <p> <o> .", b"<b> <p> <o> ."
    added, removed = graph.apply(ledger, "g", {"a": [a_only, shared], "b": [b_only, shared]})
    assert (sorted(added), removed) == (sorted([a_only, b_only, shared]), [])
    assert ledger.counts("g") == (2, 3)
    assert shared_rows(ledger) == [(1, 2)]  # a count only for the line two records assert
    assert ledger.records_about("g", "a") == ["a"]
    assert ledger.records_about("g", "s") == ["a", "b"]
    added, removed = graph.apply(ledger, "g", {}, ["a"])
    assert (added, removed) == ([], [a_only])
    assert shared_rows(ledger) == []
    assert ledger.records_about("g", "s") == ["b"]
    added, removed = graph.apply(ledger, "g", {"b": [b"<b> <p> <new> ."]})
    assert (added, sorted(removed)) == ([b"<b> <p> <new> ."], sorted([b_only, shared]))
    assert list(ledger.records("g")) == [("b", [b"<b> <p> <new> ."])]
    assert ledger.counts("g") == (1, 1)
    assert ledger.records_about("g", "s") == []
    # a rebuild fills a staging key and switches it in whole
    assert ledger.add_fresh("g#rebuild", {"c": [shared]}) == [shared]
    assert sorted(ledger.add_fresh("g#rebuild", {"d": [shared, a_only]})) == sorted([shared, a_only])
    ledger.finish_fresh("g#rebuild")
    ledger.switch("g#rebuild", "g")
    graph.lines = {shared, a_only}
    assert list(ledger.records("g")) == [("c", [shared]), ("d", [shared, a_only])]
    assert ledger.counts("g") == (2, 2)
    assert shared_rows(ledger) == [(2, 2)]  # the live graph's rows went with the switch
    assert ledger.records_about("g", "b") == []
    added, removed = graph.apply(ledger, "g", {}, ["c"])  # the rebuilt counts are right: shared stays
    assert (added, removed) == ([], [])
    added, removed = graph.apply(ledger, "g", {}, ["d"])
    assert (added, sorted(removed)) == ([], sorted([shared, a_only]))
    assert (ledger.counts("g"), shared_rows(ledger), graph.lines) == ((0, 0), [], set())
    ledger.close()


def test_the_ledger_counts_lines_asserted_twice_in_one_batch_and_across_batches(tmp_path: Path) -> None:
    ledger, graph = Ledger(tmp_path / "ledger.sqlite"), Graph()
    shared, other = b"<s> <p> <shared> .", b"<s> <p> <other> ."
    graph.apply(ledger, "g", {"a": [shared], "b": [shared], "c": [shared, other]})
    assert shared_rows(ledger) == [(1, 3)]
    graph.apply(ledger, "g", {"d": [other]})  # in the graph, no row: one record asserted it
    assert sorted(shared_rows(ledger)) == [(1, 2), (1, 3)]
    assert graph.apply(ledger, "g", {}, ["a", "b", "c"]) == ([], [shared])
    assert shared_rows(ledger) == []
    assert graph.apply(ledger, "g", {}, ["d"]) == ([], [other])
    # a rebuild counts what its batches share: three batches, one line in all of them, and a batch
    # whose records share another line three times
    for rid in ("x", "y", "z"):
        ledger.add_fresh("g#rebuild", {rid: [shared, f"<{rid}> <p> <o> .".encode()]})
    ledger.add_fresh("g#rebuild", {"u": [other], "v": [other, shared], "w": [other]})
    ledger.finish_fresh("g#rebuild")
    ledger.switch("g#rebuild", "g")
    assert (ledger.counts("g"), shared_rows(ledger)) == ((6, 5), [(2, 3), (2, 4)])
    ledger.close()


def test_a_ledger_of_an_older_version_is_emptied_so_that_the_next_load_rebuilds(tmp_path: Path) -> None:
    import sqlite3

    old = sqlite3.connect(tmp_path / "ledger.sqlite")
    old.execute("CREATE TABLE graphs (gid INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL)")
    old.execute("CREATE TABLE refs (gid INTEGER, h INTEGER, n INTEGER)")
    old.execute("INSERT INTO graphs(name) VALUES ('g')")
    old.commit()
    old.close()
    ledger = Ledger(tmp_path / "ledger.sqlite")
    assert ledger.counts("g") == (0, 0)
    assert ledger._db.execute("SELECT name FROM sqlite_master WHERE name = 'refs'").fetchall() == []
    assert ledger._db.execute("PRAGMA page_size").fetchone() == (4096,)  # a file keeps its pages
    ledger.close()
    new = Ledger(tmp_path / "new.sqlite")
    assert new._db.execute("PRAGMA page_size").fetchone() == (PAGE_SIZE,) == (16384,)
    new.close()


def test_a_rebuilds_counts_survive_a_read_between_its_batches(tmp_path: Path) -> None:
    """The rebuild's rows are written by a thread; a read in between waits for them and the
    counts summed before it still reach ``shared``."""
    ledger, graph = Ledger(tmp_path / "ledger.sqlite"), Graph()
    shared, a_only = b"<s> <p> <shared> .", b"<a> <p> <o> ."
    ledger.add_fresh("g#rebuild", {"a": [shared, a_only]})
    assert ledger.counts("g#rebuild") == (1, 0)  # records written; the triples come with finish_fresh
    ledger.add_fresh("g#rebuild", {"b": [shared]})
    ledger.finish_fresh("g#rebuild", wait=False)
    ledger.switch("g#rebuild", "g")
    graph.lines = {shared, a_only}
    assert ledger.counts("g") == (2, 2)
    assert ledger.records_about("g", "s") == ["a", "b"]
    assert graph.apply(ledger, "g", {}, ["a"]) == ([], [a_only])
    assert graph.apply(ledger, "g", {}, ["b"]) == ([], [shared])
    ledger.close()


def test_a_failed_rebuild_write_is_raised_and_its_rows_dropped(tmp_path: Path) -> None:
    from provision.rdf.base import RdfStoreError

    ledger = Ledger(tmp_path / "ledger.sqlite")
    Graph().apply(ledger, "g", {"a": [b"<a> <p> <o> ."]})
    # a record id SQLite cannot bind fails in the writer thread, not in the caller's
    ledger.add_fresh("g#rebuild", {("not", "text"): [b"<x> <p> <o> ."]})  # type: ignore[dict-item]
    with pytest.raises(RdfStoreError, match=r"writing the ledger failed: .*type 'tuple' is not supported"):
        ledger.finish_fresh("g#rebuild")
    ledger.drop("g#rebuild")
    assert ledger.counts("g#rebuild") == (0, 0)
    assert ledger.counts("g") == (1, 1)  # the live graph's rows were never touched
    ledger.close()


def test_a_rebuild_whose_last_commit_fails_raises_instead_of_hanging(tmp_path: Path, monkeypatch) -> None:
    """The writer thread's last COMMIT (after close's sentinel) fails, as on a lost disk write:
    close raises the error; before, the thread waited for a second sentinel and close never
    returned."""
    import sqlite3
    import threading

    import provision.rdf.ledger as ledger_module
    from provision.rdf.base import RdfStoreError

    Ledger(tmp_path / "ledger.sqlite").close()  # the tables
    connect = sqlite3.connect

    class FailingCommit:
        def __init__(self, db: sqlite3.Connection) -> None:
            self.db = db

        def execute(self, sql: str, *args):  # noqa: ANN202
            if sql == "COMMIT":
                raise sqlite3.OperationalError("disk I/O error")
            return self.db.execute(sql, *args)

        def __getattr__(self, name: str):  # noqa: ANN204
            return getattr(self.db, name)

    monkeypatch.setattr(ledger_module.sqlite3, "connect", lambda *a, **k: FailingCommit(connect(*a, **k)))
    writer = ledger_module._FreshWriter(str(tmp_path / "ledger.sqlite"))
    writer.submit(("records", 1, {"a": [b"<a> <p> <o> ."]}))  # one batch: committed only at close
    raised: list[BaseException] = []

    def close() -> None:
        try:
            writer.close()
        except BaseException as exc:  # noqa: BLE001 - what the test looks at
            raised.append(exc)

    closing = threading.Thread(target=close, daemon=True)
    closing.start()
    closing.join(10)
    assert not closing.is_alive(), "close() hung"
    assert len(raised) == 1 and isinstance(raised[0], RdfStoreError)
    assert "writing the ledger failed: disk I/O error" in str(raised[0])
