"""The publisher reads no more of a request body than an OAI-PMH request may carry, and answers an
oversized one with a badArgument document (the WSGI app called directly; over HTTP in
tests/integration/oai/test_oversized_requests.py)."""

from __future__ import annotations

import io

from lxml import etree

from provision.oai import OAIApp, PublisherIndex
from provision.oai.app import MAX_ARGUMENT_BYTES
from tests.oai_support import OAI


class Endless(io.RawIOBase):
    """A body that never ends, counting what is read of it."""

    def __init__(self) -> None:
        self.read_bytes = 0

    def read(self, size: int = -1) -> bytes:
        assert size >= 0, "an unbounded read of the request body"
        self.read_bytes += size
        return b"a" * size


def call(app: OAIApp, body: Endless, **environ: str) -> tuple[str, etree._Element]:
    seen = {}
    env = {
        "REQUEST_METHOD": "POST",
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "wsgi.input": body,
        "wsgi.url_scheme": "http",
        "SERVER_NAME": "oai.example.org",
        "SERVER_PORT": "80",
        "PATH_INFO": "",
        **environ,
    }
    chunks = app(env, lambda status, headers: seen.setdefault("status", status))
    return seen["status"], etree.fromstring(b"".join(chunks))


def error_of(root: etree._Element) -> tuple[str | None, str | None]:
    error = root.find(f"{{{OAI}}}error")
    return error.get("code"), error.text


def test_an_oversized_body_is_refused_reading_at_most_one_byte_past_the_bound(tmp_path):
    app = OAIApp(PublisherIndex(tmp_path / "oai.sqlite"), b"k" * 32)
    declared = Endless()
    status, root = call(app, declared, CONTENT_LENGTH=str(10 * 2**30))
    assert status == "200 OK"
    assert error_of(root) == (
        "badArgument",
        f"the request's arguments are {10 * 2**30} bytes long, more than the {MAX_ARGUMENT_BYTES} bytes "
        "an OAI-PMH request may carry",
    )
    assert declared.read_bytes == 0  # a declared length over the bound: nothing read
    chunked = Endless()
    status, root = call(app, chunked, **{"wsgi.input_terminated": True})
    assert status == "200 OK"
    assert error_of(root) == (
        "badArgument",
        f"the request's arguments are longer than the {MAX_ARGUMENT_BYTES} bytes an OAI-PMH request "
        "may carry",
    )
    assert chunked.read_bytes == MAX_ARGUMENT_BYTES + 1
