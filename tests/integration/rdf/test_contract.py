"""One contract for both RDF stores (the embedded pyoxigraph store, and Fuseki as the SPARQL 1.1
Update + Graph Store Protocol server): load, incremental change and deletion with shared triples,
a full rebuild under a query loop that never sees an empty or partial graph, record errors, and
``--check``."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import pytest

from contentcloud.pipeline.rdf import check_rdf, load_rdf
from contentcloud.pipeline.summary import Outcome
from mdstore import MDStore
from provision.rdf.base import RdfBackend
from provision.rdf.embedded import EmbeddedRdf
from provision.rdf.triples import record_lines
from tests.integration.rdf.conftest import BASE, datasource, write_version
from tests.pe_records import PE
from tests.pe_records import pe_records as _pe_records

GRAPH = f"{BASE}graph/ads"
ACTOR_LABEL = (
    b'<http://example.org/actor/0> <http://www.w3.org/2000/01/rdf-schema#label> "Archaeology Data Service" .'
)


@pytest.fixture(autouse=True)
def no_overlap(monkeypatch: pytest.MonkeyPatch) -> None:
    """Incremental loads re-read 5 minutes before the loaded version (clock skew); these tests write
    versions within a second, so without this every incremental load would re-read everything (the
    records a version keeps carry its commit time, hence the millisecond past it)."""
    monkeypatch.setattr("contentcloud.pipeline.rdf.INCREMENTAL_OVERLAP", timedelta(milliseconds=-1))


def pe_records(*args, **kwargs) -> list[tuple[str, str]]:
    return list(_pe_records(*args, **kwargs))


def expected_lines(records) -> set[bytes]:
    """The graph a set of records must give: the union of their canonical lines."""
    lines: set[bytes] = set()
    for oid, body in records:
        lines.update(record_lines(body, record_id=oid, datasource="ads", base=BASE))
    return lines


def select_count(backend: RdfBackend, where: str) -> int:
    answer = backend.query(
        f"SELECT (COUNT(*) AS ?n) WHERE {{ {where} }}", accept="application/sparql-results+json"
    )
    return int(json.loads(answer.body)["results"]["bindings"][0]["n"]["value"])


def test_a_first_load_fills_the_datasource_graph_and_records_the_version(
    store: MDStore, backend: RdfBackend
) -> None:
    records = pe_records(60, prefix="ads")
    version = write_version(store, records)
    summary = load_rdf(store, datasource(), backend)
    assert (summary.outcome, summary.extra["mode"], summary.read, summary.written) == (
        Outcome.FINISHED,
        "full",
        60,
        60,
    )
    assert summary.extra["reason"] == "the store holds no graph for this datasource"
    expected = expected_lines(records)
    assert set(backend.graph_lines("ads")) == expected
    state = backend.state("ads")
    assert state is not None
    assert (state.version, state.graph, state.records, state.triples, state.loading) == (
        version,
        GRAPH,
        60,
        len(expected),
        None,
    )
    # the union of the live graphs is the default graph; GRAPH <ds> names the datasource's
    assert select_count(backend, f"?s a <{PE}PE22_Persistent_Dataset>") == 15
    assert select_count(backend, f"GRAPH <{GRAPH}> {{ ?s ?p ?o }}") == len(expected)
    assert select_count(backend, "GRAPH <urn:contentcloud:rdf:state> { ?s ?p ?o }") == 0  # out of sight
    again = load_rdf(store, datasource(), backend)
    assert (again.outcome, again.message) == (Outcome.NOTHING_TO_DO, f"version {version} is already loaded")


def test_an_incremental_load_replaces_changed_records_and_removes_deleted_ones_exactly(
    store: MDStore, backend: RdfBackend
) -> None:
    first = pe_records(40, prefix="ads")
    write_version(store, first)
    load_rdf(store, datasource(), backend)
    # records 0-4 change their title, 35-39 are deleted, 100-101 are new
    second = [*pe_records(5, prefix="ads", variant=1), *first[5:35], *pe_records(2, prefix="ads", start=100)]
    version = write_version(store, second)
    summary = load_rdf(store, datasource(), backend)
    assert (summary.outcome, summary.extra["mode"]) == (Outcome.FINISHED, "incremental")
    assert (summary.read, summary.written, summary.deleted) == (12, 7, 5)
    assert set(backend.graph_lines("ads")) == expected_lines(second)
    assert backend.state("ads").version == version
    assert (
        select_count(
            backend,
            "?t <http://www.cidoc-crm.org/cidoc-crm/P190_has_symbolic_content> ?x "
            'FILTER(CONTAINS(STR(?x), "rev 1"))',
        )
        == 5
    )


def test_a_triple_two_records_assert_stays_until_both_are_gone(store: MDStore, backend: RdfBackend) -> None:
    records = pe_records(40, prefix="ads")
    holders = [r for r in records if ACTOR_LABEL in r[1].encode()]
    assert len(holders) >= 2
    write_version(store, records)
    load_rdf(store, datasource(), backend)
    write_version(store, [r for r in records if r is not holders[0]])
    load_rdf(store, datasource(), backend)
    assert ACTOR_LABEL in set(backend.graph_lines("ads"))
    rest = [r for r in records if r not in holders]
    write_version(store, rest)
    assert load_rdf(store, datasource(), backend).extra["mode"] == "incremental"
    lines = set(backend.graph_lines("ads"))
    assert ACTOR_LABEL not in lines
    assert lines == expected_lines(rest)


def test_an_incremental_load_of_thousands_of_lines_asks_the_store_about_them_in_batches(
    store: MDStore, backend: RdfBackend
) -> None:
    """Deleting 150 of 200 records: ~4,000 lines the ledger keeps no count of (asserted by one
    record each), whose presence the loader asks the store about (on a server: queries of
    2,000 lines, ~300 KB each)."""
    records = pe_records(200, prefix="ads")
    write_version(store, records)
    load_rdf(store, datasource(), backend)
    write_version(store, records[:50])
    summary = load_rdf(store, datasource(), backend)
    assert (summary.outcome, summary.extra["mode"], summary.deleted) == (Outcome.FINISHED, "incremental", 150)
    expected = expected_lines(records[:50])
    assert set(backend.graph_lines("ads")) == expected
    state = backend.state("ads")
    assert (state.records, state.triples) == (50, len(expected))


def test_a_full_rebuild_never_shows_an_empty_or_partial_graph(store: MDStore, backend: RdfBackend) -> None:
    write_version(store, pe_records(300, prefix="ads"))
    load_rdf(store, datasource(), backend)
    write_version(store, pe_records(500, prefix="ads", variant=2))
    observed: list[int] = []
    failures: list[BaseException] = []
    done = threading.Event()
    where = "?s <http://www.cidoc-crm.org/cidoc-crm/P1_is_identified_by> ?t"

    def query_loop() -> None:
        while not done.is_set() or len(observed) < 3:
            try:
                observed.append(select_count(backend, where))
            except BaseException as exc:  # noqa: BLE001 - every failure is a downtime
                failures.append(exc)
            time.sleep(0.005)

    reader = threading.Thread(target=query_loop)
    reader.start()
    try:
        summary = load_rdf(store, datasource(), backend, full=True)
    finally:
        time.sleep(0.05)
        done.set()
        reader.join()
    assert summary.outcome == Outcome.FINISHED
    assert (summary.extra["mode"], summary.written) == ("full", 500)
    assert failures == []
    assert set(observed) <= {300, 500}
    assert observed.count(300) >= 3  # the loop ran during the rebuild
    assert observed[-1] == 500
    assert set(backend.graph_lines("ads")) == expected_lines(pe_records(500, prefix="ads", variant=2))


def test_a_record_that_is_not_rdf_is_a_record_error_and_loses_its_old_triples(
    store: MDStore, backend: RdfBackend
) -> None:
    records = pe_records(30, prefix="ads")
    write_version(store, records)
    load_rdf(store, datasource(), backend)
    broken = [("oai:ads:3", "<http://example.org/ads/3> <http://p> broken"), *records[:3], *records[4:]]
    write_version(store, broken)
    summary = load_rdf(store, datasource(), backend)
    assert (summary.outcome, summary.errors, summary.extra["mode"]) == (
        Outcome.RECORD_ERRORS,
        1,
        "incremental",
    )
    state = backend.state("ads")
    ((record_id, message),) = state.errors.items()
    assert message.startswith("RecordParseError: not valid ntriples:")
    assert set(backend.graph_lines("ads")) == expected_lines(records[:3] + records[4:])
    check = check_rdf(store, datasource(), backend)
    assert check.extra["missing"] == [f"{record_id}: {message}"]


def test_check_lists_the_records_whose_triples_disagree_with_the_mdstore(
    store: MDStore, backend: RdfBackend
) -> None:
    records = pe_records(20, prefix="ads")
    write_version(store, records)
    load_rdf(store, datasource(), backend)
    clean = check_rdf(store, datasource(), backend)
    assert (clean.outcome, clean.errors, clean.extra["extra_triples"]) == (Outcome.FINISHED, 0, 0)
    assert clean.message.startswith("store 20 records")
    assert "no differences" in clean.message
    # the MDStore moves on without a load: record 0 changed, record 19 deleted, record 50 new
    version = write_version(
        store,
        [*pe_records(1, prefix="ads", variant=3), *records[1:19], *pe_records(1, prefix="ads", start=50)],
    )
    with store.reader(datasource().transformed_unit, version) as view:
        by_original = {oid: rid for rid, oid, _ in view.ids()}
    report = check_rdf(store, datasource(), backend)
    assert report.outcome == Outcome.RECORD_ERRORS
    assert report.extra["missing"] == [by_original["oai:ads:50"]]
    assert report.extra["unexpected"] == [by_original["oai:ads:19"]]
    assert report.extra["different"] == [f"{by_original['oai:ads:0']}: its triples changed since the load"]
    assert report.extra["behind"] is True
    load_rdf(store, datasource(), backend)
    assert check_rdf(store, datasource(), backend).outcome == Outcome.FINISHED
    # a triple lost from the graph behind the ledger's back
    lost = b"<http://example.org/ads/5> <http://www.cidoc-crm.org/cidoc-crm/P3_has_note> " + next(
        line.split(b"P3_has_note> ", 1)[1]
        for line in backend.graph_lines("ads")
        if line.startswith(b"<http://example.org/ads/5> <http://www.cidoc-crm.org/cidoc-crm/P3_has_note>")
    )
    remove_behind_the_ledger(backend, lost)
    damaged = check_rdf(store, datasource(), backend)
    held = len(expected_lines(records[5:6]))
    assert damaged.extra["different"] == [
        f"{by_original['oai:ads:5']}: 1 of its {held} triples are not in the graph"
    ]
    assert damaged.outcome == Outcome.RECORD_ERRORS


def remove_behind_the_ledger(backend: RdfBackend, line: bytes) -> None:
    update = f"DELETE DATA {{ GRAPH <{GRAPH}> {{ {line.decode()} }} }}"
    if isinstance(backend, EmbeddedRdf):
        loader = backend.open_loader("ads")
        loader.store.update(update)
        loader.commit(backend.state("ads"))
    else:
        backend.update(update)


def test_a_rebuild_past_the_error_rate_is_dropped_and_the_live_graph_stays(
    store: MDStore, backend: RdfBackend
) -> None:
    records = pe_records(20, prefix="ads")
    version = write_version(store, records)
    load_rdf(store, datasource(), backend)
    before = set(backend.graph_lines("ads"))
    broken = [(oid, "not rdf at all <" if n % 4 == 0 else body) for n, (oid, body) in enumerate(records)]
    write_version(store, broken)
    summary = load_rdf(store, datasource(), backend, full=True, max_error_rate=0.1)
    assert summary.outcome == Outcome.FAILED
    assert summary.message == (
        "5 of 20 records failed (25.0% > 10.0%); the live graph was left as it was (the rebuild was dropped)"
    )
    assert set(backend.graph_lines("ads")) == before
    state = backend.state("ads")
    assert (state.version, state.loading) == (version, None)
    different = check_rdf(store, datasource(), backend).extra["different"]
    assert len(different) == 5  # the store still holds the records the MDStore now has broken
    assert all(
        ": the store holds triples of a record that now fails: not valid ntriples: " in d for d in different
    )
