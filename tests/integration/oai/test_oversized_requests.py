"""Oversized OAI-PMH requests over real HTTP (waitress, as ``contentcloud serve`` runs it): a badArgument
document with HTTP 200 like every other OAI error, not an HTTP 413 in plain text, and the
publisher keeps answering on the same connection."""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit

import pytest
from lxml import etree

from provision.oai.app import MAX_ARGUMENT_BYTES
from tests.oai_support import OAI

pytestmark = pytest.mark.integration

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def too_long(size: int | None) -> str:
    limit = f"the {MAX_ARGUMENT_BYTES} bytes an OAI-PMH request may carry"
    if size is None:
        return f"the request's arguments are longer than {limit}"
    return f"the request's arguments are {size} bytes long, more than {limit}"


@pytest.fixture
def connection(running):
    parts = urlsplit(running.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    yield conn, parts.path
    conn.close()


def answer(conn: http.client.HTTPConnection) -> tuple[int, str, etree._Element]:
    response = conn.getresponse()
    body = response.read()
    return response.status, response.getheader("Content-Type"), etree.fromstring(body)


def error_of(root: etree._Element) -> tuple[str, str, dict]:
    error = root.find(f"{{{OAI}}}error")
    return error.get("code"), error.text, dict(root.find(f"{{{OAI}}}request").attrib)


def test_a_100_kb_post_value_is_a_bad_argument_document(connection):
    conn, path = connection
    body = b"verb=GetRecord&metadataPrefix=oai_dc&identifier=" + b"x" * 100_000
    conn.request("POST", path, body=body, headers=FORM)
    status, content_type, root = answer(conn)
    assert (status, content_type) == (200, "text/xml; charset=utf-8")
    assert error_of(root) == ("badArgument", too_long(len(body)), {})
    # the connection goes on: the next request on it is answered normally
    conn.request("POST", path, body=b"verb=Identify", headers=FORM)
    status, _, root = answer(conn)
    assert status == 200
    assert root.find(f"{{{OAI}}}Identify") is not None


def test_a_chunked_post_without_a_length_is_bounded_too(connection):
    conn, path = connection
    chunks = [b"verb=ListRecords&metadataPrefix=oai_dc&set=", *[b"s" * 10_000] * 10]
    conn.request("POST", path, body=iter(chunks), headers=FORM, encode_chunked=True)
    status, _, root = answer(conn)
    assert status == 200
    code, message, echo = error_of(root)
    assert (code, echo) == ("badArgument", {})
    # waitress hands the de-chunked body over with its length; a server that does not is read
    # no further than one byte past the bound
    assert message in (too_long(sum(map(len, chunks))), too_long(None))


def test_a_long_query_string_is_a_bad_argument_document(connection):
    conn, path = connection
    query = "verb=ListRecords&metadataPrefix=oai_dc&resumptionToken=" + "t" * 100_000
    conn.request("GET", f"{path}?{query}")
    status, content_type, root = answer(conn)
    assert (status, content_type) == (200, "text/xml; charset=utf-8")
    assert error_of(root) == ("badArgument", too_long(len(query)), {})


def test_arguments_up_to_the_bound_are_read_and_checked_as_usual(connection):
    conn, path = connection
    head = b"verb=GetRecord&metadataPrefix=oai_dc&identifier="
    body = head + b"x" * (MAX_ARGUMENT_BYTES - len(head))
    assert len(body) == MAX_ARGUMENT_BYTES
    conn.request("POST", path, body=body, headers=FORM)
    status, _, root = answer(conn)
    assert status == 200
    # read and checked argument by argument: refused for the identifier, not for the request's size
    assert error_of(root) == ("badArgument", "argument identifier has an illegal value", {})
    conn.request(
        "POST", path, body=b"verb=GetRecord&metadataPrefix=oai_dc&identifier=oai:nowhere:1", headers=FORM
    )
    status, _, root = answer(conn)
    assert status == 200
    assert error_of(root)[0] == "idDoesNotExist"
