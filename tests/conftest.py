"""Session-wide test configuration: hypothesis profiles and the project paths."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.servers import (
    ServerProcess,
    SolrCloudServer,
    SolrServer,
    in_ci,
    start_fuseki,
    start_mongo,
    start_or_skip,
    start_solr,
    start_solrcloud,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARED = PROJECT_ROOT.parent / "shared"

settings.register_profile(
    "ci",
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile(
    "dev",
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` beside the project root; skipped (with the reason) only outside CI."""
    if not SHARED.is_dir():
        if in_ci():
            pytest.fail(f"{SHARED} is missing; CI must provide ../shared beside the project root")
        pytest.skip(f"{SHARED} is absent (a user's clone): shared test material not available")
    return SHARED


# --- the real test servers, one of each per session (used by integration and DAG tests) ----------


@pytest.fixture(scope="session")
def solr_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SolrServer]:
    """A standalone Solr 9 with core ``contentcloud`` from ``schemas/solr/``; ``.core_url()`` for pysolr."""
    home = tmp_path_factory.mktemp("solr-home")
    server = start_or_skip("Solr", lambda: start_solr(home))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def solrcloud_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SolrCloudServer]:
    """A one-node SolrCloud (embedded ZooKeeper) with configset ``contentcloud`` from ``schemas/solr/``
    in ZooKeeper and no collection; ``.create_collection()``, ``.create_alias()``, ``.collection_url()``."""
    base = tmp_path_factory.mktemp("solrcloud")
    server = start_or_skip("SolrCloud", lambda: start_solrcloud(base))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mongo_server() -> Iterator[ServerProcess]:
    """An in-memory MongoDB-wire server; ``.url`` is the ``mongodb://`` URI (empty at each start)."""
    server = start_or_skip("MongoDB-wire server", start_mongo)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def fuseki_server() -> Iterator[ServerProcess]:
    """Apache Jena Fuseki with one in-memory dataset; ``.url`` is the dataset's URL (…/ds)."""
    server = start_or_skip("Fuseki", start_fuseki)
    yield server
    server.stop()
