"""Fixtures of the index tests: one backend per contract run (embedded SQLite, or a fresh Solr core on
the session's Solr), the PE profile, and datasource profiles for the index step.

Each Solr-backed test gets index names of its own (``t<hex>``) and unloads every core it made, so
tests never see each other's documents.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from contentcloud.datasources import Datasource, profile_from_dict
from provision.index.profile import IndexProfile, load_profile
from provision.index.solr import SolrIndex
from provision.index.sqlite import SqliteIndex
from tests.servers import SolrServer

ROOT = Path(__file__).resolve().parents[3]


def unload_cores(server: SolrServer, prefix: str) -> None:
    for core in server.core_names():
        if core.startswith(prefix):
            server.core_admin("UNLOAD", core=core, deleteInstanceDir=True)


@pytest.fixture
def solr_index(solr_server: SolrServer) -> Iterator[SolrIndex]:
    """A Solr index on the session server that does not exist yet (the first writer creates it)."""
    name = f"t{uuid.uuid4().hex[:10]}"
    backend = SolrIndex(solr_server.url, name, batch_size=50, commit_within_ms=200, retry_for=60)
    yield backend
    backend.close()
    unload_cores(solr_server, name)


@pytest.fixture(params=["sqlite", pytest.param("solr", marks=pytest.mark.integration)])
def backend(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "sqlite":
        index = SqliteIndex(tmp_path / "index.sqlite")
        yield index
        index.close()
    else:
        yield request.getfixturevalue("solr_index")


@pytest.fixture(scope="session")
def pe_profile() -> IndexProfile:
    return load_profile(ROOT / "mappings" / "index" / "pe.yaml")


def datasource(ds_id: str = "ads", **extra) -> Datasource:
    data = {
        "id": ds_id,
        "name": ds_id.upper(),
        "nsprefix": ds_id,
        "provider": f"Provider of {ds_id}",
        "api": {"protocol": "oai", "baseurl": "http://127.0.0.1:1/oai", "metadata_prefix": "oai_dc"},
    }
    data.update(extra)
    return profile_from_dict(data)
