"""Payload conversions and output serializations."""

from __future__ import annotations

import pytest
import rdflib
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from mdstore.errors import RecordError, RecordParseError
from transforms.payload import Payload, parse_xml, text_to_xml_bytes
from transforms.rdf import OUTPUT_FORMATS, canonical_format, serialize_payload

NT = (
    '<http://x/a> <http://x/p> "v\\u00e9"@fr .\n'
    "<http://x/a> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <http://x/T> .\n"
)


def test_str_bodies_lose_their_declaration():
    text = "<?xml version='1.0' encoding='ISO-8859-1'?>\n<r>é</r>"
    assert text_to_xml_bytes(text) == "\n<r>é</r>".encode()
    assert Payload.from_body(text).tree().getroot().text == "é"


def test_bytes_are_parsed_once_and_trees_serialized_once():
    payload = Payload.from_body(b"<r>x</r>")
    assert payload.tree() is payload.tree()
    tree = etree.ElementTree(etree.fromstring(b"<s/>"))
    from_tree = Payload.from_tree(tree)
    assert from_tree.xml_bytes() is from_tree.xml_bytes()
    assert from_tree.xml_bytes() == b"<?xml version='1.0' encoding='UTF-8'?>\n<s/>"


def test_text_payload_is_not_xml():
    payload = Payload.from_text(NT, "ntriples")
    with pytest.raises(RecordParseError, match="needs XML, but the previous step produced ntriples text"):
        payload.tree(step="xslt x.xsl", record_id="r")


def test_parse_errors_are_located():
    with pytest.raises(RecordParseError) as info:
        parse_xml(b"<a>\n\n</b>", record_id="r1", step="parse")
    assert (info.value.record_id, info.value.step, info.value.location) == ("r1", "parse", "line 3, column 5")
    with pytest.raises(RecordParseError, match="not well-formed XML"):
        parse_xml(b"", record_id="r1")


@pytest.mark.parametrize("fmt", [f for f in OUTPUT_FORMATS if f != "xml"])
def test_every_rdf_format_holds_the_same_graph(fmt):
    import pyoxigraph as ox

    out = serialize_payload(Payload.from_text(NT, "ntriples"), fmt)
    reader = {
        "ntriples": ox.RdfFormat.N_TRIPLES,
        "turtle": ox.RdfFormat.TURTLE,
        "rdfxml": ox.RdfFormat.RDF_XML,
        "trig": ox.RdfFormat.TRIG,
        "jsonld": ox.RdfFormat.JSON_LD,
        "nquads": ox.RdfFormat.N_QUADS,
    }[fmt]
    triples = {(str(q.subject), str(q.predicate), str(q.object)) for q in ox.parse(out, format=reader)}
    expected = {
        (str(q.subject), str(q.predicate), str(q.object)) for q in ox.parse(NT, format=ox.RdfFormat.N_TRIPLES)
    }
    assert triples == expected
    assert len(expected) == 2


def test_same_format_passes_through_byte_for_byte():
    odd_but_valid = '<http://x/a>   <http://x/p>   "v" .\n'
    assert serialize_payload(Payload.from_text(odd_but_valid, "nt"), "ntriples") == odd_but_valid.encode()
    rdfxml = b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/>'
    assert serialize_payload(Payload.from_body(rdfxml), "rdfxml") == rdfxml


def test_invalid_rdf_is_a_record_error():
    with pytest.raises(RecordError) as info:
        serialize_payload(
            Payload.from_text("<http://x/a> <http://x/p> .\n", "ntriples"), "turtle", record_id="r"
        )
    assert info.value.record_id == "r"
    assert info.value.message.startswith("not valid ntriples")


def test_format_aliases():
    assert [canonical_format(n) for n in ("nt", "TTL", "json-ld", "rdf/xml", "trig")] == [
        "ntriples",
        "turtle",
        "jsonld",
        "rdfxml",
        "trig",
    ]


@given(st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=30))
def test_literals_survive_conversion(value):
    literal = rdflib.Literal(value)
    nt = f"<http://x/a> <http://x/p> {literal.n3()} .\n"
    for fmt in ("turtle", "rdfxml", "jsonld"):
        out = serialize_payload(Payload.from_text(nt, "ntriples"), fmt)
        back = serialize_payload(
            Payload.from_body(out) if fmt == "rdfxml" else Payload.from_text(out.decode(), fmt), "ntriples"
        )
        graph = rdflib.Graph().parse(data=back, format="nt")
        assert list(graph.objects()) == [literal], fmt


def test_named_graphs_into_a_graph_format_keep_their_triples():
    nquads = '<http://x/a> <http://x/p> <http://x/o> <http://x/g> .\n<http://x/b> <http://x/p> "v" .\n'
    out = serialize_payload(Payload.from_text(nquads, "nquads"), "ntriples")
    assert sorted(out.decode().splitlines()) == [
        "<http://x/a> <http://x/p> <http://x/o> .",
        '<http://x/b> <http://x/p> "v" .',
    ]
