"""A published fixture store and a WSGI client that validates every response it gets."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import pytest

from contentcloud.pipeline.publish import refresh_publisher
from contentcloud.pipeline.summary import RunSummary
from mdstore import MDStore, open_store
from provision.oai import OAIApp, OAIConfig, PublisherIndex
from tests.oai_support import REPO, SECRET, Fixture, build_fixture, validate


@dataclass
class Published:
    store: MDStore
    index: PublisherIndex
    fixture: Fixture
    summary: RunSummary
    directory: Path


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Published:
    directory = tmp_path_factory.mktemp("oai")
    store = open_store(f"sqlite:///{directory}/mdstore.sqlite")
    fixture = build_fixture(store)
    index = PublisherIndex(directory / "oai.sqlite")
    summary = refresh_publisher(store, fixture.datasources, index=index, mappings_dir=directory)
    return Published(store, index, fixture, summary, directory)


class Client:
    """Calls the WSGI app like a server would; validates each OAI response against the XSDs."""

    def __init__(self, app: OAIApp, schema_dir: Path) -> None:
        self.app = app
        self.schema_dir = schema_dir

    def call(
        self,
        query: str | dict | list = "",
        *,
        method: str = "GET",
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        path: str = "",
    ) -> tuple[str, dict[str, str], bytes]:
        if not isinstance(query, str):
            query = urlencode(query)
        environ = {
            "REQUEST_METHOD": method,
            "QUERY_STRING": query if method != "POST" else "",
            "wsgi.url_scheme": "http",
            "HTTP_HOST": "oai.example.org",
            "SERVER_NAME": "oai.example.org",
            "SERVER_PORT": "80",
            "SCRIPT_NAME": "/oai",
            "PATH_INFO": path,
            "wsgi.input": io.BytesIO(body or b""),
        }
        if method == "POST":
            data = body if body is not None else query.encode("ascii")
            environ["wsgi.input"] = io.BytesIO(data)
            environ["CONTENT_LENGTH"] = str(len(data))
            environ["CONTENT_TYPE"] = (headers or {}).pop("Content-Type", "application/x-www-form-urlencoded")
        for name, value in (headers or {}).items():
            environ["HTTP_" + name.upper().replace("-", "_")] = value
        seen: dict = {}
        chunks = self.app(environ, lambda status, hdrs: seen.update(status=status, headers=dict(hdrs)))
        return seen["status"], seen["headers"], b"".join(chunks)

    def oai(self, query: str | dict | list = "", **kwargs):
        status, headers, body = self.call(query, **kwargs)
        assert status == "200 OK", (status, body[:500])
        assert headers["Content-Type"] == "text/xml; charset=utf-8"
        return validate(body, self.schema_dir)


def make_app(index: PublisherIndex, **config) -> OAIApp:
    defaults = {
        "repository_identifier": REPO,
        "records_per_page": 5,
        "identifiers_per_page": 7,
        "sets_per_page": 3,
    }
    defaults.update(config)
    return OAIApp(index, SECRET, OAIConfig(**defaults))


@pytest.fixture(scope="module")
def schema_dir(shared_dir: Path) -> Path:
    return shared_dir / "oai-pmh" / "schemas"


@pytest.fixture(scope="module")
def client(published, schema_dir) -> Client:
    return Client(make_app(published.index), schema_dir)
