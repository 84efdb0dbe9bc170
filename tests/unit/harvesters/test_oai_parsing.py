"""OAI-PMH responses to values: records, tombstones, tokens, errors, salvage of broken pages."""

from __future__ import annotations

import pickle

import pytest

from harvesters.oai.dates import check_date_argument, format_datestamp, normalise_granularity, parse_datestamp
from harvesters.oai.errors import (
    ERRORS_BY_CODE,
    BadResumptionToken,
    NoRecordsMatch,
    NotOAIResponse,
    UnknownOAIError,
    UnparsablePage,
    error_for,
)
from harvesters.oai.response import parse_list_page
from mdstore.errors import HarvestError, OAIProtocolError

HEAD = '<?xml version="1.0"?><OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><responseDate>2020-01-01T00:00:00Z</responseDate><request>x</request>'  # noqa: E501


def record(identifier: str, title: str = "t", deleted: bool = False) -> str:
    status = ' status="deleted"' if deleted else ""
    header = f"<header{status}><identifier>{identifier}</identifier><datestamp>2020-01-0{len(identifier) % 9 + 1}</datestamp><setSpec>s1</setSpec></header>"  # noqa: E501
    return (
        f"<record>{header}</record>"
        if deleted
        else f"<record>{header}<metadata><dc xmlns='urn:dc'><title>{title}</title></dc></metadata></record>"
    )


def page(*records: str, token: str = "") -> bytes:
    return f"{HEAD}<ListRecords>{''.join(records)}<resumptionToken cursor='0' completeListSize='9'>{token}</resumptionToken></ListRecords></OAI-PMH>".encode()  # noqa: E501


def test_records_tombstones_and_token():
    parsed = parse_list_page(
        page(record("a"), record("b", deleted=True), token="next!1"), "ListRecords", location="p1"
    )
    assert [(r.header.identifier, r.header.deleted, r.header.set_specs) for r in parsed.records] == [
        ("a", False, ("s1",)),
        ("b", True, ("s1",)),
    ]
    assert parsed.records[1].raw is None
    assert parsed.records[0].raw.startswith(b'<record xmlns="http://www.openarchives.org/OAI/2.0/">')
    assert (parsed.next_token, parsed.complete_list_size, parsed.response_date) == (
        "next!1",
        9,
        "2020-01-01T00:00:00Z",
    )


@pytest.mark.parametrize("token_xml", ["<resumptionToken/>", "<resumptionToken>  </resumptionToken>", ""])
def test_end_of_list_forms(token_xml):
    body = f"{HEAD}<ListRecords>{record('a')}{token_xml}</ListRecords></OAI-PMH>".encode()
    assert parse_list_page(body, "ListRecords", location="p").next_token is None


def test_record_without_metadata_is_a_problem_with_its_raw_bytes():
    broken = "<record><header><identifier>x</identifier><datestamp>2020-01-01</datestamp></header></record>"
    parsed = parse_list_page(page(record("a"), broken), "ListRecords", location="p2")
    assert [r.header.identifier for r in parsed.records] == ["a"]
    (problem,) = parsed.problems
    assert (problem.message, problem.location, problem.record_id) == (
        "record has no <metadata> and is not marked deleted",
        "p2, record 2",
        "x",
    )
    assert b"<identifier>x</identifier>" in problem.raw


def test_broken_page_is_salvaged_record_by_record_even_with_nested_record_elements():
    marc = "<record><header><identifier>m</identifier><datestamp>2020-01-01</datestamp></header><metadata><record xmlns='http://www.loc.gov/MARC21/slim'><leader>x</leader></record></metadata></record>"  # noqa: E501
    bad = record("bad", title="a < b & c")
    parsed = parse_list_page(page(record("a"), bad, marc, token="t2"), "ListRecords", location="p3")
    assert parsed.salvaged
    assert [r.header.identifier for r in parsed.records] == ["a", "m"]
    assert parsed.next_token == "t2"
    assert parsed.problems[0].message.startswith("page is not well-formed XML")
    assert parsed.problems[1].location == "p3, record 2"
    assert parsed.problems[1].raw.startswith(b"<record>")


def test_page_with_nothing_salvageable_is_unparsable():
    with pytest.raises(UnparsablePage) as caught:
        parse_list_page(f"{HEAD}<ListRecords><oops".encode(), "ListRecords", location="p", page="p")
    assert caught.value.raw.endswith(b"<oops")


def test_error_documents_raise_their_class():
    body = f'{HEAD}<error code="badResumptionToken">expired</error></OAI-PMH>'.encode()
    with pytest.raises(BadResumptionToken) as caught:
        parse_list_page(body, "ListRecords", location="p", url="http://x", page="p4")
    assert str(caught.value) == "http://x: p4: expired"
    assert caught.value.code == "badResumptionToken"


def test_not_oai_xml_is_reported():
    with pytest.raises(NotOAIResponse):
        parse_list_page(b"<rss><channel/></rss>", "ListRecords", location="p")


def test_error_classes_cover_every_code_and_pickle():
    assert sorted(ERRORS_BY_CODE) == [
        "badArgument",
        "badResumptionToken",
        "badVerb",
        "cannotDisseminateFormat",
        "idDoesNotExist",
        "noMetadataFormats",
        "noRecordsMatch",
        "noSetHierarchy",
    ]
    for code, cls in ERRORS_BY_CODE.items():
        assert issubclass(cls, OAIProtocolError)
        assert issubclass(cls, HarvestError)
        error = error_for(code, "msg", datasource="d", url="u", page="p")
        assert type(error) is cls
        assert error.code == code
        copy = pickle.loads(pickle.dumps(error))
        assert (type(copy), str(copy), copy.page) == (cls, "d: u: p: msg", "p")
    assert isinstance(error_for("weird", "x"), UnknownOAIError)
    assert str(error_for("noRecordsMatch", "")).startswith("The combination")
    assert isinstance(error_for("noRecordsMatch", ""), NoRecordsMatch)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2015-01-12T13:39:50", "2015-01-12T13:39:50Z"),
        ("2015-11-30T00:00:00+00:00", "2015-11-30T00:00:00Z"),
        ("2020-05-24T04:11:52.185Z", "2020-05-24T04:11:52Z"),
        ("2014-12-24", "2014-12-24T00:00:00Z"),
        ("2016-05-06T19:53:25+02:00", "2016-05-06T17:53:25Z"),
    ],
)
def test_lenient_datestamps(text, expected):
    assert format_datestamp(parse_datestamp(text)) == expected


def test_granularity_and_date_arguments():
    assert normalise_granularity("YYYY-MM-DDThh:mm:ssZ") == "YYYY-MM-DDThh:mm:ssZ"
    assert normalise_granularity("YYYY-MM-DD") == normalise_granularity(None) == "YYYY-MM-DD"
    assert format_datestamp(parse_datestamp("2021-06-01T23:59:00Z"), "YYYY-MM-DD") == "2021-06-01"
    assert check_date_argument("2020-01-01") == "2020-01-01"
    with pytest.raises(ValueError, match="is not an OAI-PMH date"):
        check_date_argument("2020-13-01")


def test_an_unexpanded_entity_makes_its_record_a_record_error():
    """The hardened parser leaves ``&xxe;`` (declared in the page's DTD) unexpanded: that record is
    refused with its raw bytes, the others of the page are kept."""
    doctype = '<!DOCTYPE OAI-PMH [<!ENTITY xxe SYSTEM "file:///etc/passwd"><!ENTITY nb "x">]>'
    body = page(record("a"), record("b", "t &xxe; &nb; &xxe;"), record("c"), record("d", deleted=True))
    parsed = parse_list_page(body.replace(b"?>", b"?>" + doctype.encode(), 1), "ListRecords", location="p1")
    assert [r.header.identifier for r in parsed.records] == ["a", "c", "d"]
    [problem] = parsed.problems
    assert problem.message == (
        "record holds unexpanded entity reference(s) &xxe;, &nb; (entities are never resolved)"
    )
    assert (problem.record_id, problem.location) == ("b", "p1, record 2")
    assert b"<title>t &xxe; &nb; &xxe;</title>" in problem.raw
    # without a DOCTYPE the reference is not well-formed: the page is salvaged, the record refused
    salvaged = parse_list_page(page(record("a"), record("b", "t &xxe;")), "ListRecords", location="p2")
    assert [r.header.identifier for r in salvaged.records] == ["a"]
    assert "Entity 'xxe' not defined" in salvaged.problems[1].message
