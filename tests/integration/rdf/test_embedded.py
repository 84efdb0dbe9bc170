"""What only the embedded store has to get right: several processes (one loader at a time, readers
on snapshots), and a loader that dies without committing."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from contentcloud.pipeline.rdf import load_rdf
from contentcloud.pipeline.summary import Outcome
from mdstore import MDStore, make_record_id
from provision.rdf.embedded import EmbeddedRdf
from provision.rdf.triples import record_lines
from tests.integration.rdf.conftest import BASE, datasource, write_version
from tests.pe_records import pe_records


def lines_of(records, ds: str) -> set[bytes]:
    found: set[bytes] = set()
    for oid, body in records:
        found.update(record_lines(body, record_id=oid, datasource=ds, base=BASE))
    return found


def test_a_dead_loader_is_never_published_by_another_datasources_load(store: MDStore, tmp_path: Path) -> None:
    backend = EmbeddedRdf(tmp_path / "rdf", base=BASE)
    ads, dans = list(pe_records(30, prefix="ads")), list(pe_records(10, prefix="dans"))
    write_version(store, ads)
    write_version(store, dans, ds_id="dans")
    load_rdf(store, datasource(), backend)
    # a rebuild of ads dies half-way: records partly loaded over its live graph in the primary
    loader = backend.open_loader("ads", rebuild=True, run_id="rdf-dead")
    loader.put({"only-one": sorted(lines_of(ads[:1], "ads"))})
    loader._flush_bulk()
    loader._close()  # the process is gone: no commit, no abort
    assert backend.state("ads").loading == "rdf-dead"
    assert set(backend.graph_lines("ads")) == lines_of(ads, "ads")  # queries still see the snapshot
    assert load_rdf(store, datasource("dans"), backend).outcome == Outcome.FINISHED
    # dans's commit published the primary: ads's graph had been restored from the ledger first
    assert set(backend.graph_lines("ads")) == lines_of(ads, "ads")
    assert set(backend.graph_lines("dans")) == lines_of(dans, "dans")
    assert backend.state("ads").loading is None
    again = load_rdf(store, datasource(), backend)
    assert again.outcome == Outcome.NOTHING_TO_DO
    backend.close()


def test_queries_from_another_process_see_each_commit_whole(store: MDStore, tmp_path: Path) -> None:
    backend = EmbeddedRdf(tmp_path / "rdf", base=BASE)
    write_version(store, pe_records(50, prefix="ads"))
    load_rdf(store, datasource(), backend)
    script = (
        "import sys, json; from provision.rdf.embedded import EmbeddedRdf; "
        f"b = EmbeddedRdf({str(tmp_path / 'rdf')!r}, base={BASE!r}); "
        "a = b.query('SELECT (COUNT(*) AS ?n) WHERE { ?s a ?c }', accept='text/csv'); "
        "print(a.body.decode().split()[1]); b.close()"
    )
    count = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    expected = (
        backend.query("SELECT (COUNT(*) AS ?n) WHERE { ?s a ?c }", accept="text/csv").body.decode().split()[1]
    )
    assert count.stdout.strip() == expected
    backend.close()


def test_a_rebuild_loads_its_chunks_side_by_side_and_an_incremental_load_then_counts_right(
    store: MDStore, tmp_path: Path, monkeypatch
) -> None:
    """Many small chunks (two loader threads), records sharing triples across chunks; then the
    shared triples' counts must hold for an in-place deletion (the ledger asks the store about the
    others)."""
    monkeypatch.setattr("provision.rdf.embedded.LOAD_CHUNK_LINES", 7)
    monkeypatch.setattr("contentcloud.pipeline.rdf.PAGE_SIZE", 3)
    monkeypatch.setattr("contentcloud.pipeline.rdf.INCREMENTAL_OVERLAP", timedelta(milliseconds=-1))
    backend = EmbeddedRdf(tmp_path / "rdf", base=BASE)
    records = list(pe_records(40, prefix="ads"))
    write_version(store, records)
    assert load_rdf(store, datasource(), backend, full=True).outcome == Outcome.FINISHED
    assert set(backend.graph_lines("ads")) == lines_of(records, "ads")
    write_version(store, records[:20] + records[21:])  # one record gone: its own triples only
    summary = load_rdf(store, datasource(), backend)
    assert (summary.extra["mode"], summary.deleted) == ("incremental", 1)
    assert set(backend.graph_lines("ads")) == lines_of(records[:20] + records[21:], "ads")
    backend.close()


def test_a_failed_chunk_load_is_raised_by_the_next_write_or_the_close(tmp_path: Path) -> None:
    import pyoxigraph as ox
    import pytest

    from provision.rdf.base import RdfStoreError
    from provision.rdf.embedded import ChunkedBulkLoad

    store = ox.Store(str(tmp_path / "store"))
    bulk = ChunkedBulkLoad(store, ox.NamedNode("urn:g"), target="urn:g")
    bulk.write([b"<urn:s> <urn:p> <urn:o> .", b"this is not N-Triples"])
    with pytest.raises(RdfStoreError, match=r"^urn:g: the bulk load failed: "):
        bulk.close()
    bulk.close(check=False)  # closing again after the failure: nothing left to wait for


def _changed(records):
    """The first record's body with its first line left out: one triple gone, the rest unchanged."""
    (oid, body), *rest = records
    return [(oid, body.split("\n", 1)[1]), *rest]


def test_a_rebuild_over_a_loaded_graph_removes_what_it_did_not_load_again(
    store: MDStore, tmp_path: Path, caplog
) -> None:
    """The graph is not emptied first (pyoxigraph's clear costs more than linearly): the rebuild
    loads on top and removes, at its commit, the triples of the graph before it that no record
    asserts any more, found through the ledger; shared triples of remaining records stay."""
    import logging

    backend = EmbeddedRdf(tmp_path / "rdf", base=BASE)
    records = list(pe_records(40, prefix="ads"))
    write_version(store, records)
    assert load_rdf(store, datasource(), backend, full=True).outcome == Outcome.FINISHED
    kept = _changed(records[:30])  # ten records gone, one triple of the first one gone
    write_version(store, kept)
    expected = lines_of(kept, "ads")
    gone = lines_of(records, "ads") - expected
    assert gone and lines_of(records[30:], "ads") & expected  # the gone records shared triples with others
    with caplog.at_level(logging.INFO, "provision.rdf.embedded"):
        summary = load_rdf(store, datasource(), backend, full=True)
    assert (summary.outcome, summary.extra["mode"]) == (Outcome.FINISHED, "full")
    assert set(backend.graph_lines("ads")) == expected
    assert f"the rebuild removed {len(gone)} triples of the graph before it" in caplog.text
    assert not (tmp_path / "rdf" / "rebuild-old-graph.nt").exists()  # the ledger said what the graph held
    assert summary.extra["triples"] == len(expected)
    backend.close()


def test_a_rebuild_reads_the_graph_back_when_the_ledger_does_not_hold_it(
    store: MDStore, tmp_path: Path
) -> None:
    """A ledger that does not match the store (here: emptied, as a new ledger schema does) cannot
    say what the graph held; the rebuild dumps the graph instead, and the result is the same."""
    from provision.rdf.ledger import Ledger

    backend = EmbeddedRdf(tmp_path / "rdf", base=BASE)
    records = list(pe_records(20, prefix="ads"))
    write_version(store, records)
    load_rdf(store, datasource(), backend, full=True)
    ledger = Ledger(tmp_path / "rdf" / "ledger.sqlite")
    ledger.drop(backend.graph_iri("ads"))
    ledger.close()
    kept = _changed(records[:12])
    write_version(store, kept)
    summary = load_rdf(store, datasource(), backend)
    assert (summary.extra["mode"], summary.outcome) == ("full", Outcome.FINISHED)
    assert summary.extra["reason"].startswith("the ledger knows 0 records")
    assert set(backend.graph_lines("ads")) == lines_of(kept, "ads")
    assert not (tmp_path / "rdf" / "rebuild-old-graph.nt").exists()  # removed at the close
    backend.close()


def test_an_aborted_rebuild_over_a_loaded_graph_leaves_it_as_it_was(
    store: MDStore, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr("provision.rdf.embedded.LOAD_CHUNK_LINES", 7)  # its lines are loaded at once
    backend = EmbeddedRdf(tmp_path / "rdf", base=BASE)
    records, others = list(pe_records(20, prefix="ads")), list(pe_records(25, prefix="ads"))[20:]
    write_version(store, records)
    load_rdf(store, datasource(), backend, full=True)
    before = lines_of(records, "ads")
    loader = backend.open_loader("ads", rebuild=True, run_id="rdf-aborted")
    loader.put({oid: sorted(lines_of([(oid, body)], "ads")) for oid, body in others})
    loader.abort()
    assert backend.state("ads").loading is None
    # the primary too (published by the next commit): nothing the aborted rebuild loaded is left
    write_version(store, records[:19])
    assert load_rdf(store, datasource(), backend).extra["mode"] == "incremental"
    assert set(backend.graph_lines("ads")) == lines_of(records[:19], "ads")
    assert lines_of(others, "ads") - before  # the rebuild had loaded triples the graph did not hold
    backend.close()


def test_a_dead_loaders_graph_is_put_back_as_its_ledger_has_it_before_another_load_publishes(
    store: MDStore, tmp_path: Path, monkeypatch
) -> None:
    """The restore removes what the dead loader added and loads what it had removed, by difference
    with the ledger (no ``clear_graph`` and reload)."""
    import pyoxigraph as ox

    monkeypatch.setattr("provision.rdf.embedded.LOAD_CHUNK_LINES", 7)
    backend = EmbeddedRdf(tmp_path / "rdf", base=BASE)
    ads, more = list(pe_records(20, prefix="ads")), list(pe_records(25, prefix="ads"))[20:]
    write_version(store, ads)
    write_version(store, pe_records(5, prefix="dans"), ds_id="dans")
    load_rdf(store, datasource(), backend)
    loader = backend.open_loader("ads", rebuild=True, run_id="rdf-dead")
    loader.put({oid: sorted(lines_of([(oid, body)], "ads")) for oid, body in more})
    loader._flush_bulk()
    lost = sorted(lines_of(ads[:1], "ads"))[0]
    (triple,) = ox.parse(lost + b"\n", format=ox.RdfFormat.N_TRIPLES)
    loader.store.remove(ox.Quad(triple.subject, triple.predicate, triple.object, loader._node))
    loader._close()  # the process is gone: no commit, no abort
    assert load_rdf(store, datasource("dans"), backend).outcome == Outcome.FINISHED
    assert set(backend.graph_lines("ads")) == lines_of(ads, "ads")
    assert lines_of(more, "ads") - lines_of(ads, "ads")  # the dead loader had added triples
    assert not list((tmp_path / "rdf").glob("rebuild-*.nt"))
    backend.close()


def test_a_version_in_pyoxigraphs_form_is_split_not_parsed_and_check_tells_a_false_promise(
    store: MDStore, tmp_path: Path
) -> None:
    """The transform step's mark (every record converted by this pyoxigraph): the lines are taken
    as written. With true bodies that loads what parsing loads; a false one shows in ``--check``."""
    from contentcloud.pipeline.rdf import check_rdf, plan_rdf
    from contentcloud.pipeline.transform import NTRIPLES_FORM
    from transforms.rdf import convert, ntriples_form

    records = [
        (oid, convert(body.encode(), "ntriples", "ntriples")) for oid, body in pe_records(20, prefix="ads")
    ]
    blank = b'_:n <http://x/p> "kept" .\n<https://contentcloud.example/pe/r> <http://x/q> _:n .\n'
    records.append(("blank", blank))
    plain, marked = EmbeddedRdf(tmp_path / "plain", base=BASE), EmbeddedRdf(tmp_path / "marked", base=BASE)
    version = write_version(store, records)
    assert not plan_rdf(store, datasource(), plain).canonical
    load_rdf(store, datasource(), plain)
    store.add_to_report(version, **{NTRIPLES_FORM: ntriples_form()})
    assert plan_rdf(store, datasource(), marked).canonical
    load_rdf(store, datasource(), marked)
    assert list(marked.record_lines("ads")) == list(plain.record_lines("ads"))
    loaded = set(marked.graph_lines("ads"))
    assert loaded == set(plain.graph_lines("ads"))
    skolemized = {line for line in loaded if b"/.well-known/genid/ads/" in line}  # blank nodes still go
    assert len(skolemized) == 2 and loaded - skolemized == lines_of(records[:-1], "ads")
    # a mark that lies: another spelling of a triple is taken as written, and --check shows it
    typed = (
        b'<https://contentcloud.example/pe/r> <http://x/p> "x"^^<http://www.w3.org/2001/XMLSchema#string> .\n'
    )
    version = write_version(store, [*records[:-1], ("typed", typed)])
    store.add_to_report(version, **{NTRIPLES_FORM: ntriples_form()})
    load_rdf(store, datasource(), marked)
    typed_id = make_record_id("ads", "typed")
    assert dict(marked.record_lines("ads"))[typed_id] == [typed.rstrip(b"\n")]
    check = check_rdf(store, datasource(), marked)
    assert check.extra["different"] == [f"{typed_id}: its triples changed since the load"]
    store.add_to_report(version, **{NTRIPLES_FORM: "pyoxigraph 0.0.1"})  # another version's form
    load_rdf(store, datasource(), marked, full=True)
    assert dict(marked.record_lines("ads"))[typed_id] == [
        b'<https://contentcloud.example/pe/r> <http://x/p> "x" .'
    ]
    assert check_rdf(store, datasource(), marked).extra["different"] == []
    plain.close()
    marked.close()
