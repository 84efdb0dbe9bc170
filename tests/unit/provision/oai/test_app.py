"""The OAI-PMH app called as a WSGI callable: every verb, every error, flow control, encodings.

Every OAI response is validated against the official XSDs (the ``client`` fixture does it).
"""

from __future__ import annotations

import gzip
import logging
import zlib
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from lxml import etree

from provision.oai import PublisherIndex
from tests.oai_support import NS, OAI, OAI_DC, REPO, error_code
from tests.unit.provision.oai.conftest import Client, make_app

OAI_ = f"{{{OAI}}}"


def texts(doc, path: str) -> list[str]:
    return [e.text for e in doc.getroot().iterfind(path, NS)]


def walk(client: Client, verb: str, **args) -> tuple[list[etree._Element], list[etree._Element]]:
    """Follow resumption tokens to the end; returns headers and the token elements seen."""
    doc = client.oai({"verb": verb, **args})
    if error_code(doc):
        return [], []
    headers, tokens = [], []
    while True:
        headers.extend(doc.getroot().iter(f"{OAI_}header"))
        token = doc.getroot().find(f".//{OAI_}resumptionToken")
        if token is None:
            return headers, tokens
        tokens.append(token)
        if not token.text:
            return headers, tokens
        doc = client.oai({"verb": verb, "resumptionToken": token.text})


# --- Identify -------------------------------------------------------------------------------------


def test_identify_describes_the_repository(client, published):
    doc = client.oai("verb=Identify")
    root = doc.getroot()
    assert root.find(f"{OAI_}request").text == "http://oai.example.org/oai"
    assert root.find(f"{OAI_}request").get("verb") == "Identify"
    identify = root.find(f"{OAI_}Identify")
    assert identify.find(f"{OAI_}baseURL").text == "http://oai.example.org/oai"
    assert identify.find(f"{OAI_}protocolVersion").text == "2.0"
    assert identify.find(f"{OAI_}deletedRecord").text == "persistent"
    assert identify.find(f"{OAI_}granularity").text == "YYYY-MM-DDThh:mm:ssZ"
    assert [c.text for c in identify.iter(f"{OAI_}compression")] == ["gzip", "deflate"]
    assert identify.find(f"{OAI_}earliestDatestamp").text == "2024-01-01T00:00:00Z"
    oai_id = identify.find(".//{http://www.openarchives.org/OAI/2.0/oai-identifier}sampleIdentifier")
    assert oai_id.text.startswith(f"oai:{REPO}:")
    response_date = root.find(f"{OAI_}responseDate").text
    assert response_date.endswith("Z")
    assert len(response_date) == 20


def test_configured_public_url_is_the_base_url(published, schema_dir):
    client = Client(make_app(published.index, base_url="https://aggregator.example.org/oai"), schema_dir)
    doc = client.oai("verb=Identify")
    assert doc.getroot().find(f"{OAI_}Identify/{OAI_}baseURL").text == "https://aggregator.example.org/oai"
    assert doc.getroot().find(f"{OAI_}request").text == "https://aggregator.example.org/oai"


# --- ListMetadataFormats ----------------------------------------------------------------------------


def test_list_metadata_formats_of_the_repository_and_of_items(client, published):
    fx = published.fixture
    doc = client.oai("verb=ListMetadataFormats")
    assert texts(doc, ".//o:metadataPrefix") == ["PE", "lido", "oai_dc"]
    assert dict(
        zip(texts(doc, ".//o:metadataPrefix"), texts(doc, ".//o:metadataNamespace"), strict=True)
    ) == {
        "PE": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
        "lido": "http://www.lido-schema.org",
        "oai_dc": OAI_DC,
    }
    cases = {
        fx.dc_ids[0]: ["oai_dc"],
        fx.lido_ids[0]: ["PE", "lido", "oai_dc"],
        fx.lido_ids[-1]: ["lido", "oai_dc"],
        fx.lido_broken: ["oai_dc"],
        fx.lido_deleted[0]: ["lido", "oai_dc"],
    }
    for record_id, expected in cases.items():
        doc = client.oai({"verb": "ListMetadataFormats", "identifier": fx.identifier(record_id)})
        assert texts(doc, ".//o:metadataPrefix") == expected, record_id
        assert doc.getroot().find(f"{OAI_}request").get("identifier") == fx.identifier(record_id)


@pytest.mark.parametrize(
    "identifier", [f"oai:{REPO}:dcs::0000", "oai:other.org:dcs::1", "not an identifier", f"oai:{REPO}:"]
)
def test_list_metadata_formats_of_unknown_items(client, identifier):
    doc = client.oai({"verb": "ListMetadataFormats", "identifier": identifier})
    assert error_code(doc) == "idDoesNotExist"


# --- ListSets ---------------------------------------------------------------------------------------


def test_list_sets_pages_through_every_set(client, published):
    specs, names, tokens = [], {}, 0
    doc = client.oai("verb=ListSets")
    while True:
        for s in doc.getroot().iter(f"{OAI_}set"):
            specs.append(s.find(f"{OAI_}setSpec").text)
            names[specs[-1]] = s.find(f"{OAI_}setName").text
        token = doc.getroot().find(f".//{OAI_}resumptionToken")
        if token is None or not token.text:
            break
        tokens += 1
        doc = client.oai({"verb": "ListSets", "resumptionToken": token.text})
    assert specs == [
        "dcsource",
        "lidosource",
        "lidosource:E22_Man-Made_Object",
        "lidosource:PE18_Dataset",
        "paintings",
        "topics",
        "topics:arthistory",
    ]
    assert tokens == 2  # 3 sets a page
    assert names["dcsource"] == "Dublin Core source"
    assert names["topics:arthistory"] == "Art history"
    assert names["lidosource:PE18_Dataset"] == "LIDO source: PE18_Dataset"


# --- lists --------------------------------------------------------------------------------------------

PREFIX_MEMBERS = {
    "oai_dc": lambda fx: set(fx.dc_ids + fx.dc_deleted + fx.lido_ids + fx.lido_deleted + [fx.lido_broken]),
    "lido": lambda fx: set(fx.lido_ids + fx.lido_deleted),
    "PE": lambda fx: set(fx.lido_transformed),
}


@pytest.mark.parametrize("verb", ["ListIdentifiers", "ListRecords"])
@pytest.mark.parametrize("prefix", ["oai_dc", "lido", "PE"])
def test_lists_by_format_and_set_hold_exactly_the_expected_items(client, published, verb, prefix):
    fx = published.fixture
    for set_spec in [None, *sorted(fx.sets)]:
        expected = PREFIX_MEMBERS[prefix](fx)
        if set_spec is not None:
            expected &= fx.sets[set_spec]
        args = {"metadataPrefix": prefix, **({"set": set_spec} if set_spec else {})}
        headers, tokens = walk(client, verb, **args)
        ids = [h.find(f"{OAI_}identifier").text.removeprefix(f"oai:{REPO}:") for h in headers]
        assert len(ids) == len(set(ids)), "an item was listed twice"
        assert set(ids) == expected, (prefix, set_spec)
        if set_spec:
            assert all(set_spec in [s.text for s in h.iter(f"{OAI_}setSpec")] for h in headers)
        deleted = {i for h, i in zip(headers, ids, strict=True) if h.get("status") == "deleted"}
        assert deleted == expected & set(fx.dc_deleted + fx.lido_deleted)
        datestamps = [(h.find(f"{OAI_}datestamp").text, i) for h, i in zip(headers, ids, strict=True)]
        assert datestamps == sorted(datestamps), "lists are in (datestamp, id) order"
        if tokens:  # flow control arithmetic
            size = 5 if verb == "ListRecords" else 7
            assert [int(t.get("cursor")) for t in tokens] == [size * n for n in range(len(tokens))]
            assert {int(t.get("completeListSize")) for t in tokens} == {len(expected)}
            assert tokens[-1].text is None
            assert tokens[-1].get("expirationDate") is None
            for token in tokens[:-1]:
                expires = datetime.strptime(token.get("expirationDate"), "%Y-%m-%dT%H:%M:%SZ").replace(
                    tzinfo=UTC
                )
                assert expires - datetime.now(UTC) >= timedelta(hours=24)
        else:
            assert len(expected) <= (5 if verb == "ListRecords" else 7) or not expected


def test_records_carry_payload_and_provenance(client, published):
    fx = published.fixture
    doc = client.oai(
        {"verb": "GetRecord", "metadataPrefix": "oai_dc", "identifier": fx.identifier(fx.dc_ids[1])}
    )
    record = doc.getroot().find(f".//{OAI_}record")
    dc = record.find(f"{OAI_}metadata/{{{OAI_DC}}}dc")
    assert dc.findtext("{http://purl.org/dc/elements/1.1/}title") == "Record 1 — é"  # unwrapped OAI record
    origin = record.find(
        f"{OAI_}about/{{http://www.openarchives.org/OAI/2.0/provenance}}provenance/"
        "{http://www.openarchives.org/OAI/2.0/provenance}originDescription"
    )
    prov = "{http://www.openarchives.org/OAI/2.0/provenance}"
    assert origin.get("altered") == "false"
    assert origin.findtext(f"{prov}baseURL") == "http://repo.example.org/oai"
    assert origin.findtext(f"{prov}identifier") == "oai:repo.example.org:1"
    assert origin.findtext(f"{prov}datestamp") == "2019-05-01"
    assert origin.findtext(f"{prov}metadataNamespace") == OAI_DC
    doc = client.oai(
        {"verb": "GetRecord", "metadataPrefix": "PE", "identifier": fx.identifier(fx.lido_ids[1])}
    )
    rdf = doc.getroot().find(f".//{OAI_}metadata/{{http://www.w3.org/1999/02/22-rdf-syntax-ns#}}RDF")
    assert rdf is not None
    origin = doc.getroot().find(f".//{prov}originDescription")
    assert origin.get("altered") == "true"
    assert origin.findtext(f"{prov}metadataNamespace") == "http://www.lido-schema.org"


def test_get_record_of_a_deleted_item_has_a_deleted_header_only(client, published):
    fx = published.fixture
    doc = client.oai(
        {"verb": "GetRecord", "metadataPrefix": "oai_dc", "identifier": fx.identifier(fx.dc_deleted[0])}
    )
    record = doc.getroot().find(f".//{OAI_}record")
    assert record.find(f"{OAI_}header").get("status") == "deleted"
    assert record.find(f"{OAI_}metadata") is None
    assert record.find(f"{OAI_}about") is None


def test_from_until_select_by_datestamp_at_both_granularities(client, published):
    fx = published.fixture
    # dcsource present records: 2024-01-01 (unchanged in the 2nd harvest); its deletions: that commit's time
    headers, _ = walk(client, "ListIdentifiers", metadataPrefix="oai_dc", until="2024-01-01")
    assert {h.findtext(f"{OAI_}identifier").removeprefix(f"oai:{REPO}:") for h in headers} == set(fx.dc_ids)
    with published.store.reader(fx.datasources[0].native_unit) as view:
        deleted_at = view.get(fx.dc_deleted[0]).datestamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    headers, _ = walk(
        client,
        "ListIdentifiers",
        metadataPrefix="oai_dc",
        set="dcsource",
        **{"from": deleted_at, "until": deleted_at},
    )
    assert {h.findtext(f"{OAI_}identifier").removeprefix(f"oai:{REPO}:") for h in headers} == set(
        fx.dc_deleted
    )
    headers, _ = walk(
        client,
        "ListIdentifiers",
        metadataPrefix="lido",
        **{"from": "2024-03-01T05:00:00Z", "until": "2024-03-01T06:59:59Z"},
    )
    assert len(headers) == 2
    doc = client.oai({"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2030-01-01"})
    assert error_code(doc) == "noRecordsMatch"


# --- errors and the request echo -----------------------------------------------------------------------

ERRORS = [
    ("", "badVerb"),
    ("verb=Nonsense", "badVerb"),
    ("verb=Identify&verb=Identify", "badVerb"),
    ("verb=", "badVerb"),
    ("verb=identify", "badVerb"),
    ("verb=Identify&metadataPrefix=oai_dc", "badArgument"),
    ("verb=ListRecords", "badArgument"),
    ("verb=ListRecords&metadataPrefix=oai_dc&metadataPrefix=oai_dc", "badArgument"),
    ("verb=ListRecords&metadataPrefix=oai_dc&from=2024-13-01", "badArgument"),
    ("verb=ListRecords&metadataPrefix=oai_dc&from=2024-01-01T00:00:00.5Z", "badArgument"),
    ("verb=ListRecords&metadataPrefix=oai_dc&from=2024-01-01T00:00:00", "badArgument"),
    ("verb=ListRecords&metadataPrefix=oai_dc&from=2024-01-01&until=2024-02-01T00:00:00Z", "badArgument"),
    ("verb=ListRecords&metadataPrefix=oai_dc&from=2024-02-01&until=2024-01-01", "badArgument"),
    ("verb=ListRecords&metadataPrefix=oai_dc&resumptionToken=x", "badArgument"),
    ("verb=ListRecords&metadataPrefix=oai_dc&set=a::b", "badArgument"),
    ("verb=ListRecords&metadataPrefix=oai%20dc", "badArgument"),
    ("verb=ListRecords&metadataPrefix=oai_dc&identifier=x", "badArgument"),
    ("verb=GetRecord&identifier=x", "badArgument"),
    ("verb=ListSets&set=x", "badArgument"),
    ("verb=ListIdentifiers&metadataPrefix=oai_dc&from=", "badArgument"),
    ("verb=ListRecords&metadataPrefix=%FF", "badArgument"),
    ("verb=ListRecords&metadataPrefix=oai_dc&set=%01", "badArgument"),
    ("verb=ListRecords&resumptionToken=garbage", "badResumptionToken"),
    ("verb=ListSets&resumptionToken=abc.def", "badResumptionToken"),
    ("verb=ListRecords&metadataPrefix=marc21", "cannotDisseminateFormat"),
    ("verb=ListIdentifiers&metadataPrefix=marc21&set=dcsource", "cannotDisseminateFormat"),
    (f"verb=GetRecord&metadataPrefix=oai_dc&identifier=oai:{REPO}:nope", "idDoesNotExist"),
    ("verb=ListRecords&metadataPrefix=oai_dc&set=nosuchset", "noRecordsMatch"),
    ("verb=ListRecords&metadataPrefix=PE&set=dcsource", "noRecordsMatch"),
]


@pytest.mark.parametrize(("query", "code"), ERRORS)
def test_error_conditions(client, query, code):
    doc = client.oai(query)
    assert error_code(doc) == code
    request = doc.getroot().find(f"{OAI_}request")
    if code in ("badVerb", "badArgument"):
        assert dict(request.attrib) == {}, "no echo after badVerb/badArgument"
    else:
        assert request.get("verb") is not None
    assert request.text == "http://oai.example.org/oai"


def test_cannot_disseminate_an_item_in_a_format_it_lacks(client, published):
    fx = published.fixture
    doc = client.oai(
        {"verb": "GetRecord", "metadataPrefix": "lido", "identifier": fx.identifier(fx.dc_ids[0])}
    )
    assert error_code(doc) == "cannotDisseminateFormat"
    assert doc.getroot().find(f"{OAI_}request").get("metadataPrefix") == "lido"


def test_no_set_hierarchy_and_no_records_before_the_first_refresh(tmp_path, schema_dir):
    client = Client(make_app(PublisherIndex(tmp_path / "empty.sqlite")), schema_dir)
    assert error_code(client.oai("verb=ListSets")) == "noSetHierarchy"
    assert error_code(client.oai("verb=ListRecords&metadataPrefix=oai_dc&set=x")) == "noRecordsMatch"
    assert error_code(client.oai("verb=ListRecords&metadataPrefix=oai_dc")) == "noRecordsMatch"
    assert error_code(client.oai("verb=ListRecords&metadataPrefix=lido")) == "cannotDisseminateFormat"
    assert texts(client.oai("verb=ListMetadataFormats"), ".//o:metadataPrefix") == ["oai_dc"]
    assert (
        client.oai("verb=Identify").getroot().findtext(f".//{OAI_}earliestDatestamp")
        == "1970-01-01T00:00:00Z"
    )


# --- resumption tokens -----------------------------------------------------------------------------------


def _first_token(client: Client, verb="ListRecords", prefix="oai_dc") -> str:
    doc = client.oai({"verb": verb, "metadataPrefix": prefix})
    return doc.getroot().find(f".//{OAI_}resumptionToken").text


def test_resending_a_token_returns_the_same_page(client):
    token = _first_token(client)
    one = client.oai({"verb": "ListRecords", "resumptionToken": token})
    two = client.oai({"verb": "ListRecords", "resumptionToken": token})
    assert texts(one, ".//o:header/o:identifier") == texts(two, ".//o:header/o:identifier")
    assert one.getroot().find(f".//{OAI_}resumptionToken").get("cursor") == "5"
    assert one.getroot().find(f"{OAI_}request").get("resumptionToken") == token


def test_tampered_expired_and_misused_tokens_are_refused(client, published, schema_dir):
    token = _first_token(client)
    for i in (0, len(token) // 2, len(token) - 1):
        altered = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1 :]
        assert (
            error_code(client.oai({"verb": "ListRecords", "resumptionToken": altered}))
            == "badResumptionToken"
        )
    assert (
        error_code(client.oai({"verb": "ListIdentifiers", "resumptionToken": token})) == "badResumptionToken"
    )
    later = make_app(published.index)
    later.clock = lambda: datetime.now(UTC) + timedelta(hours=25, minutes=1)
    assert (
        error_code(Client(later, schema_dir).oai({"verb": "ListRecords", "resumptionToken": token}))
        == "badResumptionToken"
    )
    soon = make_app(published.index)
    soon.clock = lambda: datetime.now(UTC) + timedelta(hours=24)
    assert error_code(Client(soon, schema_dir).oai({"verb": "ListRecords", "resumptionToken": token})) is None
    other_key = make_app(published.index)
    other_key.codec._secret = b"another secret"
    assert (
        error_code(Client(other_key, schema_dir).oai({"verb": "ListRecords", "resumptionToken": token}))
        == "badResumptionToken"
    )


# --- HTTP ------------------------------------------------------------------------------------------------


def test_post_is_answered_like_get(client):
    get = client.oai("verb=ListIdentifiers&metadataPrefix=lido&set=lidosource")
    post = client.oai("verb=ListIdentifiers&metadataPrefix=lido&set=lidosource", method="POST")
    assert texts(get, ".//o:identifier") == texts(post, ".//o:identifier") != []
    status, _, _ = client.call("verb=Identify", method="POST", headers={"Content-Type": "text/plain"})
    assert status.startswith("415")
    assert error_code(client.oai("verb=Identify&verb=ListSets", method="POST")) == "badVerb"


@pytest.mark.parametrize(
    ("accept", "coding"),
    [
        ("gzip", "gzip"),
        ("deflate", "deflate"),
        ("gzip;q=0, deflate;q=0.5", "deflate"),
        ("br", None),
        ("*", "gzip"),
        ("identity", None),
    ],
)
def test_compression_when_the_client_asks(client, accept, coding, schema_dir):
    status, headers, body = client.call(
        "verb=ListRecords&metadataPrefix=oai_dc", headers={"Accept-Encoding": accept}
    )
    assert status == "200 OK"
    assert headers.get("Content-Encoding") == coding
    assert headers["Vary"] == "Accept-Encoding"
    assert int(headers["Content-Length"]) == len(body)
    plain = {"gzip": gzip.decompress, "deflate": zlib.decompress}.get(coding, lambda b: b)(body)
    from tests.oai_support import validate

    validate(plain, schema_dir)


def test_head_other_methods_and_paths(client):
    status, headers, body = client.call("verb=Identify", method="HEAD")
    assert status == "200 OK"
    assert body == b""
    assert int(headers["Content-Length"]) > 0
    status, headers, _ = client.call("verb=Identify", method="PUT")
    assert status.startswith("405")
    assert headers["Allow"] == "GET, HEAD, POST"
    assert client.call("verb=Identify", path="/elsewhere")[0].startswith("404")


def test_overload_answers_503_with_retry_after(published):
    app = make_app(published.index, max_in_flight=1, max_waiting=0, retry_after=7)
    client = Client(app, None)
    assert app.limiter.acquire()  # a request in flight
    try:
        status, headers, body = client.call("verb=Identify")
    finally:
        app.limiter.release()
    assert status == "503 Service Unavailable"
    assert headers["Retry-After"] == "7"
    assert headers["Content-Type"].startswith("text/plain")
    assert b"Traceback" not in body
    assert client.call("verb=Identify")[0] == "200 OK"


def test_internal_errors_are_plain_500s_with_the_traceback_logged(published, caplog):
    class Broken(PublisherIndex):
        def current(self):
            raise RuntimeError("disk on fire")

    app = make_app(Broken(published.index.path))
    with caplog.at_level(logging.ERROR, logger="provision.oai.app"):
        status, headers, body = Client(app, None).call("verb=Identify")
    assert status == "500 Internal Server Error"
    assert headers["Content-Type"].startswith("text/plain")
    assert b"disk on fire" not in body
    assert b"Traceback" not in body
    assert b"ref " in body
    assert "disk on fire" in caplog.text
    assert "Traceback" in caplog.text
    assert app.limiter.in_flight == 0


def test_identifiers_with_characters_needing_escapes_are_echoed_safely(client):
    doc = client.oai({"verb": "GetRecord", "metadataPrefix": "oai_dc", "identifier": f"oai:{REPO}:a<b>&\"c'"})
    assert error_code(doc) == "idDoesNotExist"
    assert doc.getroot().find(f"{OAI_}request").get("identifier") == f"oai:{REPO}:a<b>&\"c'"
    assert quote  # imported for the property tests' helpers
