"""The Solr backend against a real one-node SolrCloud (embedded ZooKeeper), as the production stack
runs it (docker/compose.yaml): feeds through an alias, full rebuilds that create a new collection and
move the alias with CREATEALIAS, aborted rebuilds, and the error for a plain collection.

Every test makes aliases and collections of its own (``c<hex>…``) and deletes them afterwards.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from contentcloud.pipeline.index import check_index, index
from contentcloud.pipeline.summary import Outcome
from mdstore import MDStore, RecordInput, open_store
from mdstore.errors import IndexBackendError
from provision.index.base import IndexBackend
from provision.index.profile import IndexProfile
from provision.index.solr import SolrIndex
from provision.registry import open_index
from tests.integration.index.conftest import ROOT, datasource
from tests.integration.index.test_contract import doc, state
from tests.pe_records import pe_records
from tests.servers import SolrCloudServer, in_ci

pytestmark = pytest.mark.integration


@pytest.fixture
def name(solrcloud_server: SolrCloudServer) -> Iterator[str]:
    """A fresh alias name; every alias and collection starting with it is deleted afterwards."""
    alias = f"c{uuid.uuid4().hex[:10]}"
    yield alias
    solrcloud_server.drop(alias)


@pytest.fixture
def aliased(solrcloud_server: SolrCloudServer, name: str) -> Iterator[SolrIndex]:
    """The index backend opened on alias ``name``, which points at an empty collection ``<name>_0``
    (as an operator sets it up), through the registry like the CLI and the DAGs do."""
    solrcloud_server.create_collection(f"{name}_0")
    solrcloud_server.create_alias(name, f"{name}_0")
    backend = open_index(f"{solrcloud_server.collection_url(name)}?batch=100&commitWithin=200&retryFor=60")
    assert isinstance(backend, SolrIndex)
    yield backend
    backend.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MDStore]:
    with open_store(f"sqlite:///{tmp_path / 'mdstore.sqlite'}") as store:
        yield store


def write_version(store: MDStore, records, ds_id: str = "ads") -> str:
    tx = store.begin(datasource(ds_id).transformed_unit, "full", stamp="transformed", nsprefix=ds_id)
    tx.upsert(RecordInput(oid, body) for oid, body in records)
    return tx.commit().id


def count_of(backend: IndexBackend, query: str = "*:*", **params) -> int:
    return backend.select({"q": query, "rows": 0, **params})["response"]["numFound"]


def facet(backend: IndexBackend, field: str) -> dict[str, int]:
    answer = backend.select({"q": "*:*", "rows": 0, "facet": "true", "facet.field": field, "facet.limit": -1})
    pairs = answer["facet_counts"]["facet_fields"][field]
    return dict(zip(pairs[::2], pairs[1::2], strict=True))


def target_of(server: SolrCloudServer, alias: str) -> str:
    return server.aliases()[alias]


# --------------------------------------------------------------------------------- feeds


def test_the_backend_detects_solrcloud_and_feeds_through_the_alias(
    solrcloud_server: SolrCloudServer, aliased: SolrIndex, store: MDStore, pe_profile: IndexProfile
) -> None:
    assert aliased.cloud
    assert aliased.live_exists()
    write_version(store, pe_records(300, prefix="ads"))
    write_version(store, pe_records(120, prefix="dans"), ds_id="dans")

    assert index(store, datasource("ads"), aliased, pe_profile).outcome == Outcome.FINISHED
    assert index(store, datasource("dans"), aliased, pe_profile).outcome == Outcome.FINISHED

    assert target_of(solrcloud_server, aliased.name) == f"{aliased.name}_0"  # fed in place
    assert (count_of(aliased), aliased.count("ads"), aliased.count("dans")) == (420, 300, 120)
    assert facet(aliased, "datasource") == {"ads": 300, "dans": 120}
    subjects = facet(aliased, "subject_facet")
    assert sum(subjects.values()) >= 420 and "Bronze Age" in subjects
    assert set(aliased.states()) == {"ads", "dans"}
    assert aliased.state("ads").count == 300
    dans_ids = list(aliased.ids("dans"))  # cursorMark paging through the alias
    assert len(dans_ids) == len({i for i, _ in dans_ids}) == 120
    assert all(i.startswith("dans::") and version for i, version in dans_ids)
    assert check_index(store, datasource("ads"), aliased).outcome == Outcome.FINISHED
    # a second run has nothing to do: the state documents are read back through the alias
    assert index(store, datasource("ads"), aliased, pe_profile).outcome == Outcome.NOTHING_TO_DO


def test_a_first_feed_creates_the_alias_and_its_collection(
    solrcloud_server: SolrCloudServer, name: str, store: MDStore, pe_profile: IndexProfile
) -> None:
    backend = open_index(f"{solrcloud_server.collection_url(name)}?commitWithin=200")
    try:
        assert check_index(store, datasource(), backend).extra.get("index_count", 0) == 0
        write_version(store, pe_records(50, prefix="ads"))
        assert index(store, datasource(), backend, pe_profile).outcome == Outcome.FINISHED
        (collection,) = [c for c in solrcloud_server.collection_names() if c.startswith(name)]
        assert solrcloud_server.aliases()[name] == collection
        assert backend.count("ads") == 50
    finally:
        backend.close()


def test_two_first_feeds_at_once_share_one_collection(solrcloud_server: SolrCloudServer, name: str) -> None:
    """Two datasources' DAGs may feed a fresh alias at the same moment: both must end up in it."""
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def first_feed(ds: str) -> None:
        with SolrIndex(solrcloud_server.url, name, commit_within_ms=200) as backend:
            start.wait()
            try:
                writer = backend.open_writer(ds)
                writer.add([doc(f"{ds}::{i}", ds) for i in range(5)])
                writer.commit(state(ds))
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

    feeds = [threading.Thread(target=first_feed, args=(ds,)) for ds in ("ads", "bds")]
    for thread in feeds:
        thread.start()
    for thread in feeds:
        thread.join()

    assert errors == []
    collections = [c for c in solrcloud_server.collection_names() if c.startswith(name)]
    assert collections == [solrcloud_server.aliases()[name]]  # one collection, the alias's
    with SolrIndex(solrcloud_server.url, name) as backend:
        assert (backend.count("ads"), backend.count("bds")) == (5, 5)
        assert backend.builds() == []


# --------------------------------------------------------------------------------- rebuilds


def test_a_full_rebuild_moves_the_alias_to_a_new_collection(
    solrcloud_server: SolrCloudServer, aliased: SolrIndex, store: MDStore, pe_profile: IndexProfile
) -> None:
    aliased.batch_size = 50
    write_version(store, pe_records(600, prefix="ads"))
    write_version(store, pe_records(80, prefix="dans"), ds_id="dans")
    index(store, datasource("ads"), aliased, pe_profile)
    index(store, datasource("dans"), aliased, pe_profile)
    old = target_of(solrcloud_server, aliased.name)
    dans_state = aliased.state("dans")
    new_version = write_version(store, pe_records(900, prefix="ads", variant=1))

    during: list[tuple[int, list[str]]] = []

    def on_progress(done: int, total: int | None, message: str) -> None:
        # mid-rebuild: the alias still serves the old documents, and the new collection exists
        if done >= 300 and not during:
            during.append((count_of(aliased), solrcloud_server.collection_names()))

    observed: list[int] = []
    failures: list[BaseException] = []
    stop = threading.Event()

    def query_loop() -> None:
        while not stop.is_set() or len(observed) < 3:
            try:
                observed.append(count_of(aliased, "datasource:ads"))
            except BaseException as exc:  # noqa: BLE001 - every failure is a downtime
                failures.append(exc)
            time.sleep(0.01)

    reader = threading.Thread(target=query_loop)
    reader.start()
    try:
        summary = index(store, datasource("ads"), aliased, pe_profile, full=True, on_progress=on_progress)
    finally:
        time.sleep(0.05)
        stop.set()
        reader.join()

    assert summary.outcome == Outcome.FINISHED, summary.text()
    assert summary.extra["mode"] == "full"
    new = target_of(solrcloud_server, aliased.name)
    assert new != old and new.startswith(f"{aliased.name}_")
    ((count_during, collections_during),) = during
    assert count_during == 680
    assert old in collections_during and new in collections_during
    assert old not in solrcloud_server.collection_names()  # the old collection was deleted
    assert failures == []
    assert set(observed) <= {600, 900} and observed.count(600) >= 3 and observed[-1] == 900
    assert (aliased.count("ads"), aliased.count("dans")) == (900, 80)
    assert count_of(aliased, f"mdstore_version:{new_version}") == 900
    assert aliased.state("dans") == dans_state  # the other datasource's state survived as it was
    assert aliased.builds() == []
    assert check_index(store, datasource("dans"), aliased).outcome == Outcome.FINISHED


def test_the_writer_api_rebuild_keeps_the_alias_on_the_old_collection_until_commit(
    solrcloud_server: SolrCloudServer, aliased: SolrIndex
) -> None:
    feed = aliased.open_writer("ads")
    feed.add([doc(f"ads::{i}") for i in range(10)])
    feed.commit(state("ads"))
    other = aliased.open_writer("bds")
    other.add([doc("bds::1", "bds")])
    other.commit(state("bds"))
    old = target_of(solrcloud_server, aliased.name)

    writer = aliased.open_writer("ads", rebuild=True)
    assert writer.target != old and writer.target in solrcloud_server.collection_names()
    writer.add([doc(f"ads::{i}", version="v2") for i in range(5)])
    writer.flush()
    assert (aliased.count("ads"), aliased.count("bds")) == (10, 1)
    assert target_of(solrcloud_server, aliased.name) == old
    writer.commit(state("ads", "v2"))

    assert target_of(solrcloud_server, aliased.name) == writer.target
    assert old not in solrcloud_server.collection_names()
    assert (aliased.count("ads"), aliased.count("bds")) == (5, 1)
    assert aliased.state("ads").version == "v2"
    assert aliased.state("bds").version == "v1"


def test_a_rebuild_keeps_an_old_collection_another_alias_still_uses(
    solrcloud_server: SolrCloudServer, aliased: SolrIndex, store: MDStore, pe_profile: IndexProfile
) -> None:
    """Solr refuses to DELETE a collection an alias points at. The rebuild is live once the alias has
    moved: it must finish, keep the old collection for the other alias, and not block later feeds."""
    write_version(store, pe_records(40, prefix="ads"))
    write_version(store, pe_records(10, prefix="dans"), ds_id="dans")
    index(store, datasource("ads"), aliased, pe_profile, full=True)
    first = target_of(solrcloud_server, aliased.name)  # a rebuild-named collection: <name>_<token>
    portal = f"{aliased.name}portal"
    solrcloud_server.create_alias(portal, first)  # e.g. an operator's alias for a portal

    write_version(store, pe_records(60, prefix="ads", variant=1))
    summary = index(store, datasource("ads"), aliased, pe_profile, full=True)

    assert summary.outcome == Outcome.FINISHED, summary.text()
    second = target_of(solrcloud_server, aliased.name)
    assert second != first
    assert solrcloud_server.aliases()[portal] == first
    assert set(solrcloud_server.collection_names()) >= {first, second}
    assert aliased.count("ads") == 60
    with SolrIndex(solrcloud_server.url, portal) as through_portal:
        assert count_of(through_portal) == 40
    assert aliased.builds() == []  # the kept collection is not a rebuild in progress,
    feed = index(store, datasource("dans"), aliased, pe_profile)  # so an in-place feed is not refused
    assert feed.outcome == Outcome.FINISHED, feed.text()
    assert aliased.count("dans") == 10


def test_an_aborted_rebuild_leaves_alias_and_data_untouched(
    solrcloud_server: SolrCloudServer, aliased: SolrIndex, store: MDStore, pe_profile: IndexProfile
) -> None:
    write_version(store, pe_records(200, prefix="ads"))
    index(store, datasource("ads"), aliased, pe_profile)
    old = target_of(solrcloud_server, aliased.name)
    collections = solrcloud_server.collection_names()

    writer = aliased.open_writer("ads", rebuild=True)
    writer.add([doc("ads::only-in-the-rebuild", version="v9")])
    writer.flush()
    assert writer.target in solrcloud_server.collection_names()
    writer.abort()

    assert target_of(solrcloud_server, aliased.name) == old
    assert solrcloud_server.collection_names() == collections  # the new collection is gone
    assert aliased.count("ads") == 200
    assert count_of(aliased, "mdstore_version:v9") == 0

    # a rebuild that fails in the pipeline (too many record errors) is dropped the same way
    write_version(store, [(f"oai:ads:{i}", "not N-Triples <") for i in range(20)])
    summary = index(store, datasource("ads"), aliased, pe_profile, full=True)
    assert summary.outcome == Outcome.FAILED
    assert "the rebuild was dropped" in summary.message
    assert target_of(solrcloud_server, aliased.name) == old
    assert solrcloud_server.collection_names() == collections
    assert aliased.count("ads") == 200


def test_a_rebuild_of_a_plain_collection_is_refused_with_a_clear_error(
    solrcloud_server: SolrCloudServer, name: str
) -> None:
    solrcloud_server.create_collection(name)
    backend = open_index(solrcloud_server.collection_url(name))
    try:
        writer = backend.open_writer("ads")  # feeding in place is fine
        writer.add([doc("ads::1")])
        writer.commit(state("ads"))
        refusal = f"'{name}' is a collection, not an alias: rebuilds switch an alias"
        with pytest.raises(IndexBackendError, match=refusal):
            backend.open_writer("ads", rebuild=True)
        assert solrcloud_server.collection_names() == [name]  # nothing was created
        assert solrcloud_server.aliases() == {} or name not in solrcloud_server.aliases()
        assert backend.count("ads") == 1
    finally:
        backend.close()


# --------------------------------------------------------------------------------- docker/compose.yaml


def test_the_compose_stacks_solr_init_leaves_a_rebuilt_alias_alone(solrcloud_server: SolrCloudServer) -> None:
    """solr-init runs at every ``docker compose up``: it creates ``contentcloud_1`` and the alias once,
    and must not move the alias back to a fresh, empty ``contentcloud_1`` after a rebuild."""
    if shutil.which("bash") is None or shutil.which("curl") is None:
        if in_ci():
            pytest.fail("bash and curl are needed to run docker/compose.yaml's solr-init command")
        pytest.skip("bash or curl is not installed")
    compose = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
    command = compose["services"]["solr-init"]["command"][0]
    upload, _, rest = command.partition("&&")
    assert upload.strip().startswith("solr zk upconfig")  # the launcher uploaded the configset already
    script = rest.replace("http://solr:8983/solr", solrcloud_server.url)
    taken = [*solrcloud_server.aliases(), *solrcloud_server.collection_names()]
    if "contentcloud" in taken or "contentcloud_1" in taken:
        pytest.fail("another test left the alias or collection contentcloud(_1) on the session's SolrCloud")

    def solr_init() -> None:
        done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr

    try:
        solr_init()
        assert solrcloud_server.aliases()["contentcloud"] == "contentcloud_1"
        with SolrIndex(solrcloud_server.url, "contentcloud", commit_within_ms=200) as backend:
            writer = backend.open_writer("ads", rebuild=True)
            writer.add([doc("ads::1")])
            writer.commit(state("ads"))
            rebuilt = solrcloud_server.aliases()["contentcloud"]
            assert rebuilt != "contentcloud_1"
            solr_init()  # the stack starts again
            assert solrcloud_server.aliases()["contentcloud"] == rebuilt
            assert solrcloud_server.collection_names().count("contentcloud_1") == 0
            assert backend.count("ads") == 1
            assert backend.builds() == []
    finally:
        solrcloud_server.drop("contentcloud")
