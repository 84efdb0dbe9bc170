"""Session fixtures for the integration tests: one Solr and one MongoDB-wire server per run.

Each fixture starts its server once, waits until it answers (Solr: every core answers
/admin/ping, since cores load after Jetty accepts connections; Mongo: the launcher prints READY
only after binding), yields the ``ServerProcess`` and stops it at the end of the session.

A server that will not start (no JDK, no Maven, a launcher error) fails the run when ``CI`` is
set to a true value, and skips the tests that need it otherwise, naming what is missing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest

from tests.servers import ServerError, ServerProcess, SolrServer, in_ci, start_mongo, start_solr

S = TypeVar("S", bound=ServerProcess)


def _start_or_skip(what: str, start: Callable[[], S]) -> S:
    try:
        return start()
    except ServerError as exc:
        if in_ci():
            pytest.fail(f"{what} did not start (CI is set, so this fails the run): {exc}", pytrace=False)
        pytest.skip(f"{what} not available: {exc}")


@pytest.fixture(scope="session")
def solr_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SolrServer]:
    """A standalone Solr 9 with core ``contentcloud`` from ``schemas/solr/``; ``.core_url()`` for pysolr."""
    home = tmp_path_factory.mktemp("solr-home")
    server = _start_or_skip("Solr", lambda: start_solr(home))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mongo_server() -> Iterator[ServerProcess]:
    """An in-memory MongoDB-wire server; ``.url`` is the ``mongodb://`` URI (empty at each start)."""
    server = _start_or_skip("MongoDB-wire server", start_mongo)
    yield server
    server.stop()
