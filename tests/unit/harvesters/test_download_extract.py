"""URL extraction: XPath over XML records, SPARQL property paths over RDF records (no network)."""

from __future__ import annotations

from xml.sax.saxutils import escape

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from harvesters.download import DownloadConfig, RdfPathExtractor, XPathExtractor, build_extractor
from mdstore.errors import ConfigError, RecordParseError

DC = "http://purl.org/dc/elements/1.1/"
CRM = "http://www.cidoc-crm.org/cidoc-crm/"
EDM = "http://www.europeana.eu/schemas/edm/"


def test_xpath_takes_attributes_text_and_element_text_with_namespaces():
    body = f"""<rec xmlns:dc="{DC}" xmlns:m="urn:media">
        <dc:identifier> https://ex.org/a.pdf </dc:identifier>
        <dc:identifier>https://ex.org/a.pdf</dc:identifier>
        <m:file href="https://ex.org/b.jpg"/><m:file href=""/>
        <m:link><m:url>https://ex.org/<m:b>c</m:b>.tif</m:url></m:link>
    </rec>""".encode()
    extractor = XPathExtractor("//dc:identifier | //m:file/@href | //m:url", {"dc": DC, "m": "urn:media"})
    assert extractor.urls(body, record_id="r") == [
        "https://ex.org/a.pdf",
        "https://ex.org/b.jpg",
        "https://ex.org/c.tif",
    ]


def test_xpath_string_result_and_non_node_results():
    body = b"<rec><u>https://ex.org/x</u></rec>"
    assert XPathExtractor("string(//u)").urls(body, record_id="r") == ["https://ex.org/x"]
    assert XPathExtractor("count(//u)").urls(body, record_id="r") == []
    assert XPathExtractor("//missing").urls(body, record_id="r") == []


def test_xpath_broken_record_and_broken_expression():
    with pytest.raises(RecordParseError) as caught:
        XPathExtractor("//u").urls(b"<rec><u>", record_id="ds::1")
    assert caught.value.record_id == "ds::1"
    assert caught.value.step == "download"
    assert str(caught.value).startswith("ds::1: download: not well-formed XML: ")
    with pytest.raises(ConfigError) as bad:
        XPathExtractor("//u[")
    assert bad.value.field == "download.xpath"
    with pytest.raises(RecordParseError, match="Undefined namespace prefix"):
        XPathExtractor("//x:u").urls(b"<rec/>", record_id="r")


def test_xpath_resolves_no_external_entities():
    body = b"""<?xml version="1.0"?><!DOCTYPE r [<!ENTITY e SYSTEM "file:///etc/passwd">]><r><u>&e;</u></r>"""
    assert XPathExtractor("//u").urls(body, record_id="r") == ["&e;"]  # left unresolved, never read


@given(
    st.lists(
        st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30),
        max_size=8,
    )
)
@example(["https://a", " https://a ", "https://b"])
def test_xpath_returns_distinct_stripped_values_in_document_order(values):
    body = ("<rec>" + "".join(f"<u>{escape(v)}</u>" for v in values) + "</rec>").encode()
    expected = list(dict.fromkeys(v.strip() for v in values if v.strip()))
    assert XPathExtractor("//u").urls(body, record_id="r") == expected


NT = (
    f"<http://ex.org/o1> <{CRM}P138i_has_representation> <https://ex.org/img/1.jpg> .\n"
    f"<http://ex.org/o1> <{CRM}P138i_has_representation> _:b1 .\n"
    f'<http://ex.org/o1> <{EDM}isShownBy> "https://ex.org/full.pdf" .\n'
    f"<http://ex.org/o1> <{CRM}P1_is_identified_by> <http://ex.org/id/1> .\n"
    f'<http://ex.org/id/1> <{CRM}P190_has_symbolic_content> "https://ex.org/deep.tif" .\n'
)


def test_rdf_path_over_ntriples_keeps_iris_and_literals_not_blank_nodes():
    extractor = RdfPathExtractor(f"<{CRM}P138i_has_representation>|edm:isShownBy", {"edm": EDM})
    assert extractor.urls(NT.encode(), record_id="r") == [
        "https://ex.org/img/1.jpg",
        "https://ex.org/full.pdf",
    ]


def test_rdf_sequence_path_and_turtle_prefixes():
    turtle = f"""@prefix crm: <{CRM}> .
    <http://ex.org/o1> crm:P1_is_identified_by [ crm:P190_has_symbolic_content "https://ex.org/t.tif" ] ."""
    extractor = RdfPathExtractor("crm:P1_is_identified_by/crm:P190_has_symbolic_content", {"crm": CRM})
    assert extractor.urls(turtle.encode(), record_id="r") == ["https://ex.org/t.tif"]
    assert extractor.urls(NT.encode(), record_id="r") == ["https://ex.org/deep.tif"]


def test_rdf_xml_records_are_recognised():
    rdfxml = f"""<?xml version="1.0"?>
    <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:edm="{EDM}">
      <rdf:Description rdf:about="http://ex.org/o1"><edm:isShownBy rdf:resource="https://ex.org/x.pdf"/>
      </rdf:Description></rdf:RDF>"""
    extractor = RdfPathExtractor("edm:isShownBy", {"edm": EDM})
    assert extractor.urls(rdfxml.encode(), record_id="r") == ["https://ex.org/x.pdf"]
    without_declaration = rdfxml.split("?>", 1)[1]
    assert extractor.urls(without_declaration.encode(), record_id="r") == ["https://ex.org/x.pdf"]


def test_quads_and_json_ld_records():
    nquads = f"<http://ex.org/o1> <{EDM}isShownBy> <https://ex.org/q.pdf> <http://ex.org/graph> .\n"
    trig = f"<http://ex.org/g> {{ <http://ex.org/o1> <{EDM}isShownBy> <https://ex.org/t.pdf> . }}"
    jsonld = f'{{"@id": "http://ex.org/o1", "{EDM}isShownBy": {{"@id": "https://ex.org/j.pdf"}}}}'
    assert RdfPathExtractor(f"<{EDM}isShownBy>", syntax="nquads").urls(nquads.encode(), record_id="r") == [
        "https://ex.org/q.pdf"
    ]
    assert RdfPathExtractor(f"<{EDM}isShownBy>", syntax="trig").urls(trig.encode(), record_id="r") == [
        "https://ex.org/t.pdf"
    ]
    assert RdfPathExtractor(f"<{EDM}isShownBy>").urls(jsonld.encode(), record_id="r") == [
        "https://ex.org/j.pdf"
    ]


def test_rdf_xml_with_entity_declarations_is_refused():
    body = b"""<?xml version="1.0"?><!DOCTYPE rdf:RDF [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>
    <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/>"""
    with pytest.raises(RecordParseError, match="RDF/XML declaring entities is refused"):
        RdfPathExtractor("<urn:p>").urls(body, record_id="r")


def test_rdf_fixed_syntax_and_errors():
    extractor = RdfPathExtractor(f"<{EDM}isShownBy>", syntax="ntriples")
    with pytest.raises(RecordParseError, match="not valid ntriples RDF"):
        extractor.urls(b"@prefix x: <urn:x> .", record_id="r")
    with pytest.raises(ConfigError, match="is not a valid SPARQL property path"):
        RdfPathExtractor("edm:isShownBy")  # undeclared prefix
    with pytest.raises(ConfigError, match="braces"):
        RdfPathExtractor("<urn:p> ?o } UNION { ?s")
    with pytest.raises(ConfigError, match="unknown RDF syntax"):
        RdfPathExtractor("<urn:p>", syntax="json")


def test_the_profile_picks_the_extractor_by_layer():
    both = {"xpath": "//u", "property_path": "<urn:p>"}
    assert isinstance(build_extractor(DownloadConfig.from_profile(both)), XPathExtractor)
    assert isinstance(
        build_extractor(DownloadConfig.from_profile(both, layer="transformed")), RdfPathExtractor
    )
    assert isinstance(
        build_extractor(DownloadConfig.from_profile({"property_path": "<urn:p>"})), RdfPathExtractor
    )
    assert isinstance(
        build_extractor(DownloadConfig.from_profile({"xpath": "//u", "extractor": "xpath"})), XPathExtractor
    )
    with pytest.raises(ConfigError, match="needs xpath, property_path or extractor"):
        build_extractor(DownloadConfig.from_profile({}))
    with pytest.raises(Exception, match="unknown url extractor 'nope'; valid names: rdf-path, xpath"):
        build_extractor(DownloadConfig.from_profile({"extractor": "nope"}))
