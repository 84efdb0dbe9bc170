"""The index step against real Solr (and the embedded index where the behaviour is shared):
zero-downtime rebuilds under a query load, deletions and sweeps, a document the index refuses, and a
Solr restart in the middle of a feed."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from contentcloud.pipeline.index import check_index, index
from contentcloud.pipeline.summary import Outcome
from mdstore import MDStore, RecordInput, open_store
from provision.index.base import IndexBackend
from provision.index.profile import IndexProfile, load_profile
from provision.index.solr import SolrIndex
from tests.integration.index.conftest import ROOT, datasource, unload_cores
from tests.pe_records import pe_records
from tests.servers import SolrServer, start_solr


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MDStore]:
    with open_store(f"sqlite:///{tmp_path / 'mdstore.sqlite'}") as store:
        yield store


def write_version(store: MDStore, records, ds_id: str = "ads") -> str:
    tx = store.begin(datasource(ds_id).transformed_unit, "full", stamp="transformed", nsprefix=ds_id)
    tx.upsert(RecordInput(oid, body) for oid, body in records)
    return tx.commit().id


def count_of(backend: IndexBackend, query: str = "*:*") -> int:
    return backend.select({"q": query, "rows": 0})["response"]["numFound"]


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("solr", marks=pytest.mark.integration)], indirect=True
)
def test_a_full_rebuild_never_shows_less_than_the_previous_version(
    store: MDStore, backend: IndexBackend, pe_profile: IndexProfile
) -> None:
    if isinstance(backend, SolrIndex):
        backend.batch_size = 50  # 40 update requests: the rebuild takes a while
    write_version(store, pe_records(1500, prefix="ads"))
    assert index(store, datasource(), backend, pe_profile).outcome == Outcome.FINISHED
    new_version = write_version(store, pe_records(2000, prefix="ads", variant=1))
    observed: list[int] = []
    failures: list[BaseException] = []
    done = threading.Event()

    def query_loop() -> None:
        while not done.is_set() or len(observed) < 3:
            try:
                observed.append(count_of(backend))
            except BaseException as exc:  # noqa: BLE001 - every failure is a downtime
                failures.append(exc)
            time.sleep(0.005)

    reader = threading.Thread(target=query_loop)
    reader.start()
    try:
        summary = index(store, datasource(), backend, pe_profile, full=True)
    finally:
        time.sleep(0.05)
        done.set()
        reader.join()
    after = count_of(backend)
    assert summary.outcome == Outcome.FINISHED
    assert failures == []
    assert min(observed) >= 1500
    assert set(observed) <= {1500, 2000}
    assert observed.count(1500) >= 3  # the loop ran during the rebuild
    assert observed[-1] == after == 2000
    assert count_of(backend, f"mdstore_version:{new_version}") == 2000
    assert count_of(backend, "title:rev") == 2000


@pytest.mark.integration
def test_deletions_sweeps_and_checks_on_solr(
    store: MDStore, solr_index: SolrIndex, pe_profile: IndexProfile
) -> None:
    first = write_version(store, pe_records(100, prefix="ads"))
    before = check_index(store, datasource(), solr_index)  # the core does not exist yet
    assert (before.outcome, before.extra["missing_total"], before.extra["index_count"]) == (
        Outcome.RECORD_ERRORS, 100, 0)
    index(store, datasource(), solr_index, pe_profile)
    second = write_version(store, [*pe_records(80, prefix="ads"), *pe_records(5, prefix="ads", start=500)])
    incremental = index(store, datasource(), solr_index, pe_profile)
    assert (incremental.extra["mode"], incremental.outcome) == ("incremental", Outcome.FINISHED)
    assert solr_index.count("ads") == 85
    gone = solr_index.select({"q": "original_id:oai\\:ads\\:90", "rows": 0})["response"]["numFound"]
    assert gone == 0
    assert check_index(store, datasource(), solr_index).outcome == Outcome.FINISHED
    store.rollback(datasource().transformed_unit, first)
    refeed = index(store, datasource(), solr_index, pe_profile)
    assert refeed.extra["mode"] == "refeed"
    assert refeed.extra["swept"] == 5  # the five records only the rolled-back version had
    assert solr_index.count("ads") == 100
    assert count_of(solr_index, f"mdstore_version:{second}") == 0
    assert solr_index.state("ads").live_versions == (first,)


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("solr", marks=pytest.mark.integration)], indirect=True
)
def test_a_document_the_index_refuses_is_a_record_error(
    store: MDStore, backend: IndexBackend, tmp_path: Path
) -> None:
    data = yaml.safe_load((ROOT / "mappings" / "index" / "pe.yaml").read_text())
    data["fields"]["pages_i"] = {"path": "<http://example.org/pages>"}
    (tmp_path / "pe.yaml").write_text(yaml.safe_dump(data))
    (tmp_path / "pe-classes.json").write_text((ROOT / "mappings" / "index" / "pe-classes.json").read_text())
    profile = load_profile(tmp_path / "pe.yaml")
    records = []
    for i, (oid, body) in enumerate(pe_records(60, prefix="ads")):
        pages = "twelve" if i == 17 else str(i)
        records.append((oid, body + f'<http://example.org/ads/{i}> <http://example.org/pages> "{pages}" .\n'))
    write_version(store, records)
    summary = index(store, datasource(), backend, profile)
    assert (summary.outcome, summary.written, summary.errors) == (Outcome.RECORD_ERRORS, 60, 1)
    assert backend.count("ads") == 59
    assert count_of(backend, "pages_i:[0 TO 100]") == 59
    ((record_id, message),) = backend.state("ads").errors.items()
    assert message.startswith("refused by the index: ")
    assert "Error adding field 'pages_i'='twelve' msg=For input string: \"twelve\"" in message
    report = check_index(store, datasource(), backend)
    assert report.extra["missing"] == [f"{record_id}: {message}"]


# ------------------------------------------------------------------ a Solr of its own, restarted


@pytest.fixture(scope="module")
def own_solr(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SolrServer]:
    """A Solr only this module uses: restarting it disturbs no other test."""
    from tests.servers import start_or_skip

    server = start_or_skip("Solr", lambda: start_solr(tmp_path_factory.mktemp("solr-restart"), cores=()))
    yield server
    server.stop()


@pytest.mark.integration
def test_a_feed_survives_a_solr_restart(
    store: MDStore, own_solr: SolrServer, pe_profile: IndexProfile
) -> None:
    backend = SolrIndex(own_solr.url, "restarted", batch_size=50, retry_for=120)
    write_version(store, pe_records(3000, prefix="ads"))
    restarts: list[threading.Thread] = []

    def on_progress(done: int, total: int | None, message: str) -> None:
        if done >= 1000 and not restarts:
            restarts.append(threading.Thread(target=own_solr.restart))
            restarts[0].start()

    try:
        summary = index(store, datasource(), backend, pe_profile, full=True, on_progress=on_progress)
        restarts[0].join()
        assert summary.outcome == Outcome.FINISHED, summary.text()
        assert backend.http.retries > 0  # Solr was really away for a while
        assert backend.count("ads") == 3000
        assert count_of(backend, "mdstore_version:*") == 3000
        assert backend.builds() == []
        assert check_index(store, datasource(), backend).outcome == Outcome.FINISHED
    finally:
        backend.close()
        unload_cores(own_solr, "restarted")
