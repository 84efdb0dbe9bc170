"""Static read analysis of X3ML mappings: XPaths become path patterns relative to their context."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transforms.curation.x3ml_reads import MappingReads, _Interpreter, mapping_reads, matches
from transforms.x3ml import X3MLMapping

PROJECT = Path(__file__).resolve().parents[4]
DC = "{http://purl.org/dc/elements/1.1/}"
OAI_DC = "{http://www.openarchives.org/OAI/2.0/oai_dc/}"
XML_LANG = "@{http://www.w3.org/XML/1998/namespace}lang"
NS = {"dc": DC[1:-1], "oai_dc": OAI_DC[1:-1], "oai": "http://www.openarchives.org/OAI/2.0/"}


def reads_of(expression: str, context=((("c", "*"),),)) -> MappingReads:
    reads = MappingReads()
    _Interpreter(NS, reads).evaluate(expression, set(context))
    return reads


@pytest.mark.parametrize(
    ("expression", "read", "unread"),
    [
        ("dc:title", [(OAI_DC + "dc", DC + "title")], [(OAI_DC + "dc", DC + "creator")]),
        ("dc:title/text()", [(OAI_DC + "dc", DC + "title")], [(OAI_DC + "dc",)]),
        ("dc:title/@xml:lang", [(OAI_DC + "dc", DC + "title", XML_LANG)], [(OAI_DC + "dc", DC + "title")]),
        # a predicate reads what it tests, and the path still selects its base
        (
            "dc:identifier[starts-with(normalize-space(.), 'http')]/text()",
            [(OAI_DC + "dc", DC + "identifier")],
            [],
        ),
        (
            "dc:title[@xml:lang='en']",
            [(OAI_DC + "dc", DC + "title", XML_LANG), (OAI_DC + "dc", DC + "title")],
            [],
        ),
        ("//dc:subject", [(OAI_DC + "dc", DC + "subject"), ("x", "y", DC + "subject")], [(DC + "title",)]),
        (
            "concat(dc:creator, ' ', dc:date)",
            [(OAI_DC + "dc", DC + "creator"), (OAI_DC + "dc", DC + "date")],
            [],
        ),
        ("dc:*", [(OAI_DC + "dc", DC + "rights")], [(OAI_DC + "dc", OAI_DC + "x")]),
        ("../dc:title", [(DC + "title",)], [(OAI_DC + "dc", DC + "title")]),
        ("(dc:a | dc:b)[1]", [(OAI_DC + "dc", DC + "a"), (OAI_DC + "dc", DC + "b")], []),
    ],
)
def test_expressions_read_what_they_select_and_test(expression, read, unread):
    reads = reads_of(expression)
    for path in read:
        assert reads.reads(path), (expression, path, reads.patterns)
    for path in unread:
        assert not reads.reads(path), (expression, path, reads.patterns)


def test_variables_and_bad_syntax_are_reported_not_guessed():
    reads = reads_of("$x/dc:title")
    assert reads.unresolved == ["variable $x"]
    assert not reads.reads((OAI_DC + "dc", DC + "title"))
    broken = reads_of("dc:title[")
    assert len(broken.unresolved) == 1
    assert broken.unresolved[0].startswith("'dc:title[': ")


def test_the_shipped_oai_dc_mapping():
    mapping = X3MLMapping.load(
        [str(PROJECT / "mappings" / "oai_dc2pe.x3ml")],
        policy=str(PROJECT / "mappings" / "policies" / "contentcloud-policy.xml"),
    )
    reads = mapping_reads(mapping.document)
    mapped = [
        "title",
        "creator",
        "subject",
        "description",
        "date",
        "type",
        "identifier",
        "language",
        "rights",
    ]
    for name in mapped:
        assert reads.reads((OAI_DC + "dc", DC + name)), name
        # the engine takes a literal's language from xml:lang of the value node
        assert reads.reads((OAI_DC + "dc", DC + name, XML_LANG)), name
    for name in ["publisher", "coverage", "relation", "contributor", "format", "source"]:
        assert not reads.reads((OAI_DC + "dc", DC + name)), name
    # the dataset IRI may come from the OAI header: ../../oai:header/oai:identifier from //oai_dc:dc
    assert reads.reads(
        (
            "{http://www.openarchives.org/OAI/2.0/}record",
            "{http://www.openarchives.org/OAI/2.0/}header",
            "{http://www.openarchives.org/OAI/2.0/}identifier",
        )
    )
    assert reads.unresolved == []
    assert reads.expressions == 30


steps = st.lists(st.sampled_from([DC + "a", DC + "b", OAI_DC + "dc", "plain"]), min_size=1, max_size=5)


@given(steps, st.booleans())
def test_a_pattern_of_a_path_matches_it_and_a_descendant_gap_matches_anything_below(path, attribute):
    concrete = tuple(path) + (("@" + DC + "x",) if attribute else ())
    pattern = tuple(("c", step) for step in path) + ((("a", DC + "x"),) if attribute else ())
    assert matches(pattern, concrete)
    assert matches((("d",), *pattern[-1:]), concrete)
    assert not matches(pattern[:-1], concrete)
