"""How the publisher reads a transformed record (provision/oai/formats.py)."""

from __future__ import annotations

import pickle

import pytest

from mdstore.errors import RecordParseError
from provision.oai.formats import Payload, parse_rdf, rdf_xml_payload


def test_transformed_records_are_read_leniently_as_the_index_and_rdf_steps_read_them():
    """The transform step validated the IRIs when it wrote the body; the publisher does not again.
    A relative IRI, which a strict N-Triples parser refuses, is published as it was written."""
    triples = parse_rdf("<urn:a> <urn:p> <relative> .\n", "ntriples", record_id="r")
    assert [(t.subject.value, t.predicate.value, t.object.value) for t in triples] == [
        ("urn:a", "urn:p", "relative")
    ]
    assert b'rdf:about="urn:a"' in rdf_xml_payload(triples).xml
    assert b'rdf:resource="relative"' in rdf_xml_payload(triples).xml


@pytest.mark.parametrize(
    ("body", "message"),
    [
        # the lenient parser only sees a broken triple further on; the strict one names the cause
        ("<urn:a> <bad iri> .\n", "Invalid IRI code point ' '"),
        ("<urn:a> <urn:p> .\n", "The object of a triple must be an IRI, a blank node or a literal"),
    ],
)
def test_a_record_that_does_not_parse_gets_the_strict_parsers_message(body, message):
    with pytest.raises(RecordParseError) as caught:
        parse_rdf(body, "ntriples", record_id="r")
    assert str(caught.value).startswith("r: publish: not valid ntriples RDF: Parser error")
    assert message in str(caught.value)


@pytest.mark.parametrize("origin", [None, b"<originDescription/>"])
def test_a_payload_pickles_as_its_fields_and_sheds_its_bytes(origin):
    payload = Payload(b"<dc/>", "http://purl.org/dc", "http://x/dc.xsd", "5d41402abc4b2a76", origin)
    assert pickle.loads(pickle.dumps(payload)) == payload
    light = payload.without_xml()
    assert light == Payload(b"", payload.namespace, payload.schema, payload.checksum, origin)
