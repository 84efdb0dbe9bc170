"""The MDStore contract suite runs unchanged on every backend: ``store_uri`` is parametrized."""

from __future__ import annotations

import uuid

import pytest

from mdstore import open_store


@pytest.fixture(params=["sqlite", pytest.param("mongodb", marks=pytest.mark.integration)])
def store_uri(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'mdstore.sqlite'}"
    server = request.getfixturevalue("mongo_server")
    return f"{server.url.rstrip('/')}/t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def store(store_uri):
    with open_store(store_uri, keep=2, lease_ttl=600) as store:
        yield store
