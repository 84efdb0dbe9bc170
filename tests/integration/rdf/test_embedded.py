"""What only the embedded store has to get right: several processes (one loader at a time, readers
on snapshots), and a loader that dies without committing."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from contentcloud.pipeline.rdf import load_rdf
from contentcloud.pipeline.summary import Outcome
from mdstore import MDStore
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
    # a rebuild of ads dies half-way: its live graph in the primary is cleared and partly loaded
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
