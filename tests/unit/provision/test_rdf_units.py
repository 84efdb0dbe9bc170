"""The RDF store's small parts: content negotiation, canonical record lines (skolemized blank
nodes, record errors) and the ledger's reference counts."""

from __future__ import annotations

from pathlib import Path

import pytest

from mdstore.errors import RecordParseError
from provision.rdf.formats import GRAPH_TYPES, SOLUTION_TYPES, negotiate, parse_accept
from provision.rdf.ledger import Ledger
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


def test_the_ledger_removes_a_shared_triple_only_with_its_last_record(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    shared, a_only, b_only = b"<s> <p> <shared> .", b"<a> <p> <o> .", b"<b> <p> <o> ."
    added, removed = ledger.apply("g", {"a": [a_only, shared], "b": [b_only, shared]})
    assert (sorted(added), removed) == (sorted([a_only, b_only, shared]), [])
    assert ledger.counts("g") == (2, 3)
    assert ledger.records_about("g", "a") == ["a"]
    added, removed = ledger.apply("g", {}, ["a"])
    assert (added, removed) == ([], [a_only])
    added, removed = ledger.apply("g", {"b": [b"<b> <p> <new> ."]})
    assert (added, sorted(removed)) == ([b"<b> <p> <new> ."], sorted([b_only, shared]))
    assert list(ledger.records("g")) == [("b", [b"<b> <p> <new> ."])]
    # a rebuild fills a staging key and switches it in whole
    assert ledger.add_fresh("g#rebuild", {"c": [shared]}) == [shared]
    assert ledger.add_fresh("g#rebuild", {"d": [shared, a_only]}) == [shared, a_only]
    ledger.finish_fresh("g#rebuild")
    ledger.switch("g#rebuild", "g")
    assert list(ledger.records("g")) == [("c", [shared]), ("d", [shared, a_only])]
    assert ledger.counts("g") == (2, 2)
    assert ledger.records_about("g", "b") == []
    added, removed = ledger.apply("g", {}, ["c"])  # the rebuilt counts are right: shared stays
    assert (added, removed) == ([], [])
    added, removed = ledger.apply("g", {}, ["d"])
    assert (added, sorted(removed)) == ([], sorted([shared, a_only]))
    ledger.close()


def test_a_rebuilds_counts_survive_a_read_between_its_batches(tmp_path: Path) -> None:
    """The rebuild's rows are written by a thread; a read in between waits for them and the
    reference counts summed before it still reach ``refs``."""
    ledger = Ledger(tmp_path / "ledger.sqlite")
    shared, a_only = b"<s> <p> <shared> .", b"<a> <p> <o> ."
    ledger.add_fresh("g#rebuild", {"a": [shared, a_only]})
    assert ledger.counts("g#rebuild") == (1, 0)  # records written; counts come with finish_fresh
    ledger.add_fresh("g#rebuild", {"b": [shared]})
    ledger.finish_fresh("g#rebuild", wait=False)
    ledger.switch("g#rebuild", "g")
    assert ledger.counts("g") == (2, 2)
    assert ledger.records_about("g", "s") == ["a", "b"]
    assert ledger.apply("g", {}, ["a"]) == ([], [a_only])
    assert ledger.apply("g", {}, ["b"]) == ([], [shared])
    ledger.close()


def test_a_failed_rebuild_write_is_raised_and_its_rows_dropped(tmp_path: Path) -> None:
    from provision.rdf.base import RdfStoreError

    ledger = Ledger(tmp_path / "ledger.sqlite")
    ledger.apply("g", {"a": [b"<a> <p> <o> ."]})
    # a record id SQLite cannot bind fails in the writer thread, not in the caller's
    ledger.add_fresh("g#rebuild", {("not", "text"): [b"<x> <p> <o> ."]})  # type: ignore[dict-item]
    with pytest.raises(RdfStoreError, match=r"writing the ledger failed: .*type 'tuple' is not supported"):
        ledger.finish_fresh("g#rebuild")
    ledger.drop("g#rebuild")
    assert ledger.counts("g#rebuild") == (0, 0)
    assert ledger.counts("g") == (1, 1)  # the live graph's rows were never touched
    ledger.close()
