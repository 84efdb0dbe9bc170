"""Fixtures of the RDF store tests: one backend per contract run (the embedded pyoxigraph store, or
a SPARQL 1.1 server: Fuseki, emptied before each test), an MDStore, and datasource profiles."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from contentcloud.datasources import Datasource, profile_from_dict
from mdstore import MDStore, RecordInput, open_store
from provision.rdf.base import RdfBackend
from provision.rdf.embedded import EmbeddedRdf
from provision.rdf.gsp import SparqlRdf
from tests.servers import ServerProcess

BASE = "https://contentcloud.example/pe/"


@pytest.fixture
def fuseki_store(fuseki_server: ServerProcess, tmp_path: Path) -> Iterator[SparqlRdf]:
    backend = SparqlRdf(fuseki_server.url, base=BASE, ledger_path=tmp_path / "ledger.sqlite")
    backend.update("DROP ALL")
    yield backend
    backend.close()


@pytest.fixture(params=["embedded", pytest.param("fuseki", marks=pytest.mark.integration)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RdfBackend]:
    if request.param == "embedded":
        store = EmbeddedRdf(tmp_path / "rdf", base=BASE)
        yield store
        store.close()
    else:
        yield request.getfixturevalue("fuseki_store")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MDStore]:
    with open_store(f"sqlite:///{tmp_path / 'mdstore.sqlite'}") as store:
        yield store


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


def write_version(store: MDStore, records, ds_id: str = "ads") -> str:
    """A new full transformed version holding exactly ``records`` (others become tombstones)."""
    tx = store.begin(datasource(ds_id).transformed_unit, "full", stamp="transformed", nsprefix=ds_id)
    tx.upsert(RecordInput(oid, body) for oid, body in records)
    return tx.commit().id
