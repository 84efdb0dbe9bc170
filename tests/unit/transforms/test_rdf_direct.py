"""N-Triples written straight from an XSLT's RDF/XML tree are pyoxigraph's bytes (issue 18).

``tree_to_ntriples`` must give exactly what serializing the tree and converting it with
pyoxigraph gives, or hand the tree back (None) — never different bytes, and never bytes where
pyoxigraph refuses the document. Checked on random documents mixing the plain subset with every
construct it leaves to pyoxigraph, and on the shipped mapping's output.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from lxml import etree

from transforms.payload import Payload, RecordContext
from transforms.rdf import convert, serialize_payload, tree_to_ntriples

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
MAPPINGS = Path(__file__).resolve().parents[3] / "mappings"

IRIS = [
    "http://a.example/s",
    "https://contentcloud.example/pe/x/Topic%20a",
    "http://a.example/q?x=1&y=2",
    "http://a.example/é/漢",
    "http://a.example/b/../c",
    "http://a.example:80/p#frag",
    "urn:isbn:123",
    "http://a.example/bad iri",
    "http://a.example/%zz",
    "relative/iri",
    "#frag",
    "",
    "http://a.example:port/",
]
PREDICATES = [
    ("http://p.example/", "title"),
    ("http://www.cidoc-crm.org/cidoc-crm/", "P1_is_identified_by"),
    ("http://p.example/ns#", "label"),
    (RDF, "type"),
    (RDF, "value"),
    (RDF, "li"),
    ("http://p.example/%C3%A9/", "x"),
]
TEXTS = [
    *("plain", "", " ", "a\tb\nc", 'quote " and \\ back'),
    *("é 漢字 \U0001f600", "x\ry", "<&>'", "\u0085\u2028"),
]
LANGS = ["en", "EN-gb", "de-Latn-DE", "zh-Hant", "en-a", "x-private", "123", "fr-419"]
DATATYPES = ["http://www.w3.org/2001/XMLSchema#string", "http://www.w3.org/2001/XMLSchema#date", "bad dt"]


def _document(rnd: random.Random) -> bytes:
    root = etree.Element(f"{{{RDF}}}RDF", nsmap={"rdf": RDF})
    if rnd.random() < 0.03:
        root.set("{http://www.w3.org/XML/1998/namespace}base", "http://base.example/")
    for _ in range(rnd.randint(1, 4)):
        if rnd.random() < 0.3:
            node = etree.SubElement(root, f"{{{RDF}}}Description")
        else:
            ns, local = rnd.choice(PREDICATES[:3])
            node = etree.SubElement(root, f"{{{ns}}}T{local}")
        kind = rnd.random()
        if kind < 0.9:
            node.set(f"{{{RDF}}}about", rnd.choice(IRIS[:6]) if rnd.random() < 0.9 else rnd.choice(IRIS))
        elif kind < 0.95:
            node.set(f"{{{RDF}}}nodeID", "b1")
        if rnd.random() < 0.03:
            node.set("{http://p.example/}attr", "v")
        node.text = "\n  " if rnd.random() < 0.5 else None
        for _ in range(rnd.randint(0, 5)):
            ns, local = rnd.choice(PREDICATES) if rnd.random() < 0.2 else rnd.choice(PREDICATES[:4])
            prop = etree.SubElement(node, f"{{{ns}}}{local}")
            prop.tail = "\n" if rnd.random() < 0.5 else None
            shape = rnd.random()
            if shape < 0.35:
                iri = rnd.choice(IRIS[:6]) if rnd.random() < 0.9 else rnd.choice(IRIS)
                prop.set(f"{{{RDF}}}resource", iri)
            elif shape < 0.6:
                prop.text = rnd.choice(TEXTS)
            elif shape < 0.75:
                prop.text = rnd.choice(TEXTS)
                prop.set("{http://www.w3.org/XML/1998/namespace}lang", rnd.choice(LANGS))
            elif shape < 0.9:
                prop.text = rnd.choice(TEXTS)
                prop.set(f"{{{RDF}}}datatype", rnd.choice(DATATYPES))
            elif shape < 0.94:
                inner = etree.SubElement(prop, f"{{{RDF}}}Description")
                inner.set(f"{{{RDF}}}about", IRIS[0])
            elif shape < 0.97:
                prop.set(f"{{{RDF}}}parseType", "Literal")
                prop.text = "x"
            else:
                prop.append(etree.Comment("c"))
    return etree.tostring(root, encoding="UTF-8", xml_declaration=True)


def _by_pyoxigraph(data: bytes) -> bytes | None:
    try:
        return convert(data, "rdfxml", "ntriples")
    except Exception:  # noqa: BLE001 - the reference refuses: the writer must not answer
        return None


def test_random_documents_give_pyoxigraphs_bytes_or_are_left_to_it():
    rnd = random.Random(18)
    written = left = 0
    for _ in range(3000):
        data = _document(rnd)
        expected = _by_pyoxigraph(data)
        got = tree_to_ntriples(etree.ElementTree(etree.fromstring(data)))
        if got is None:
            left += 1
            continue
        written += 1
        assert got == expected, data
    assert written > 500 and left > 500, (written, left)


def test_the_shipped_mapping_output_is_written_directly_and_identically():
    from bench.transform import oai_dc_record
    from transforms.registry import build_chain
    from transforms.xslt import run_params

    chain = build_chain(
        [{"type": "xslt", "mapping": "oai_dc2pe.xsl"}], base_dir=MAPPINGS, params=run_params("b")
    )
    for i in range(50):
        body = oai_dc_record(i).replace(b"Record ", "Récord \"q\" &amp; 'a' ".encode())
        payload = chain.apply_payload(Payload.from_body(body), RecordContext(f"r{i}", f"o{i}"))
        tree = payload.held_tree()
        direct = tree_to_ntriples(tree)
        assert direct is not None
        assert direct == convert(payload.xml_bytes(), "rdfxml", "ntriples")
        assert serialize_payload(payload, "ntriples") == direct


@pytest.mark.parametrize(
    "stylesheet_output", ['<xsl:output encoding="ISO-8859-1"/>', '<xsl:output doctype-system="x.dtd"/>']
)
def test_other_encodings_and_doctypes_are_left_to_pyoxigraph(stylesheet_output):
    xslt = etree.XSLT(
        etree.XML(
            '<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform" '
            f'xmlns:rdf="{RDF}">{stylesheet_output}<xsl:template match="/"><rdf:RDF>'
            '<rdf:Description rdf:about="http://a.example/s"><rdf:value>é</rdf:value></rdf:Description>'
            "</rdf:RDF></xsl:template></xsl:stylesheet>"
        )
    )
    assert tree_to_ntriples(xslt(etree.XML("<x/>"))) is None
