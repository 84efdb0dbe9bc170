"""Graph comparison, the preview's sampling and error splitting, and source paths with stable prefixes."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st
from lxml import etree

from transforms.curation.paths import Prefixes, record_paths
from transforms.curation.preview import _warning, split_xpath, spread
from transforms.curation.rdfdiff import compare, graph_statements, predicate_of

P = "<http://e/p>"


def nt(text: str) -> bytes:
    return text.strip().replace("\n            ", "\n").encode() + b"\n"


def test_ground_graphs_compare_as_sets_whatever_the_serialization():
    old = graph_statements(
        nt(f'<http://e/a> {P} "x" .\n<http://e/a> <http://e/q> <http://e/b> .'), "ntriples"
    )
    new = graph_statements(
        b'<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        b'xmlns:e="http://e/"><rdf:Description rdf:about="http://e/a"><e:p>x</e:p><e:r>y</e:r>'
        b"</rdf:Description></rdf:RDF>",
        "rdfxml",
    )
    diff = compare(old, new)
    assert diff.added == ('<http://e/a> <http://e/r> "y"',)
    assert diff.removed == ("<http://e/a> <http://e/q> <http://e/b>",)
    assert predicate_of(diff.added[0]) == "http://e/r"


def test_blank_nodes_and_generated_uuid_iris_compare_by_isomorphism():
    old = graph_statements(
        nt(f"""<http://e/d> {P} _:creation1 .
            _:creation1 <http://e/by> <urn:uuid:0b9d6c0e-aaaa-4bbb-8ccc-000000000001> .
            <urn:uuid:0b9d6c0e-aaaa-4bbb-8ccc-000000000001> <http://e/name> "Rossi" ."""),
        "ntriples",
    )
    same = graph_statements(
        nt(f"""<http://e/d> {P} _:zz .
            _:zz <http://e/by> <uuid:AB> .
            <uuid:AB> <http://e/name> "Rossi" ."""),
        "ntriples",
    )
    other = graph_statements(
        nt(f"""<http://e/d> {P} _:zz .
            _:zz <http://e/by> <uuid:AB> .
            <uuid:AB> <http://e/name> "Rossi, G." ."""),
        "ntriples",
    )
    assert not compare(old, same).changed
    diff = compare(old, other)
    assert [predicate_of(s) for s in diff.added] == ["http://e/name"]
    assert diff.added[0].endswith('"Rossi, G."')
    assert diff.removed[0].endswith('"Rossi"')


@given(st.integers(0, 5000), st.integers(0, 60))
@example(1, 1)
@example(10, 2)
def test_spread_is_sorted_unique_in_range_and_keeps_the_ends(count, wanted):
    picked = spread(count, wanted)
    assert picked == sorted(set(picked))
    assert all(0 <= i < count for i in picked)
    assert len(picked) == min(count, wanted)
    if count and wanted >= 2:
        assert picked[0] == 0
        assert picked[-1] == count - 1


def test_engine_locations_split_into_place_and_xpath():
    assert split_xpath("m.x3ml:40, mapping 1, link 2, xpath 'dc:title/text()'") == (
        "m.x3ml:40, mapping 1, link 2",
        "dc:title/text()",
    )
    assert split_xpath("oai_dc2pe.xsl:12") == ("oai_dc2pe.xsl:12", None)
    warning = _warning(
        "x3ml m.x3ml: ds::1: x3ml: /m/m.x3ml:28, mapping 1, link 3, xpath \"a[@b='c: d']\": "
        "Empty result for arg label",
        "ds::1",
    )
    assert (warning.step, warning.location, warning.xpath, warning.message) == (
        "x3ml m.x3ml",
        "/m/m.x3ml:28, mapping 1, link 3",
        "a[@b='c: d']",
        "Empty result for arg label",
    )


def test_paths_resolve_namespaces_to_one_prefix_per_uri():
    prefixes = Prefixes()
    first = etree.fromstring(
        b'<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" '
        b'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title xml:lang="en">T</dc:title><dc:x/></oai_dc:dc>'
    )
    second = etree.fromstring(
        b'<o:dc xmlns:o="http://www.openarchives.org/OAI/2.0/oai_dc/" '
        b'xmlns:d="http://purl.org/dc/elements/1.1/" '
        b'xmlns="urn:other"><d:title>  T  two </d:title><local/></o:dc>'
    )
    prefixes.learn(second.nsmap)
    texts = {
        prefixes.text(p): values for p, values in {**record_paths(first), **record_paths(second)}.items()
    }
    assert texts == {
        "/oai_dc:dc": [None],
        "/oai_dc:dc/dc:title": ["T two"],  # the second record's value (the dict merge keeps it)
        "/oai_dc:dc/dc:title/@xml:lang": ["en"],
        "/oai_dc:dc/dc:x": [None],
        "/oai_dc:dc/ns:local": [None],
    }
    assert prefixes.as_dict()["ns"] == "urn:other"
