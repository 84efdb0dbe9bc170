"""A real OAI-PMH server on 127.0.0.1: the web app under waitress, over the published fixture store."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from waitress import create_server, wasyncore

from contentcloud.pipeline.publish import refresh_publisher
from contentcloud.web import PrefixDispatcher
from mdstore import MDStore, open_store
from provision.oai import OAIApp, OAIConfig, PublisherIndex
from tests.oai_support import REPO, SECRET, Fixture, build_fixture


@dataclass
class Running:
    url: str
    store: MDStore
    fixture: Fixture
    app: OAIApp


def start_server(app, *, threads: int = 8):
    """Start waitress on a free port in a thread; returns (server, base URL, stop function)."""
    server = create_server(app, host="127.0.0.1", port=0, threads=threads, ident="test")
    thread = threading.Thread(target=server.run, daemon=True, name="waitress-test")
    thread.start()

    def stop() -> None:
        server.close()
        server.task_dispatcher.shutdown()
        wasyncore.close_all(server._map)
        thread.join(10)

    return server, f"http://127.0.0.1:{server.effective_port}", stop


@pytest.fixture(scope="module")
def schema_dir(shared_dir: Path) -> Path:
    return shared_dir / "oai-pmh" / "schemas"


@pytest.fixture(scope="module")
def running(tmp_path_factory) -> Iterator[Running]:
    directory = tmp_path_factory.mktemp("oai-server")
    store = open_store(f"sqlite:///{directory}/mdstore.sqlite")
    fixture = build_fixture(store)
    index = PublisherIndex(directory / "oai.sqlite")
    refresh_publisher(store, fixture.datasources, index=index)
    app = OAIApp(
        index,
        SECRET,
        OAIConfig(
            repository_identifier=REPO,
            records_per_page=5,
            identifiers_per_page=7,
            sets_per_page=3,
            max_in_flight=2,
            max_waiting=2,
            wait_timeout=0.5,
            retry_after=1,
        ),
    )
    server, base, stop = start_server(PrefixDispatcher({"/oai": app}), threads=12)
    try:
        yield Running(f"{base}/oai", store, fixture, app)
    finally:
        stop()
