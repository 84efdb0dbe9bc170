"""Conditions: exists, equals (with ``a || b``), and/or/not, broader and exact_match over SKOS terms."""

from __future__ import annotations

import pytest

from tests.unit.transforms.x3ml.x3ml_helpers import domain, entity, literal_label, nt_lines, x3ml

RECORD = """<items>
  <item><kind>coin</kind><name>a</name></item>
  <item><kind>medal</kind><name>b</name></item>
  <item><kind>dog</kind><name>c</name></item>
  <item><name>d</name></item>
</items>"""

TYPE = "<http://www.w3.org/1999/02/22-rdf-syntax-ns#type>"


def labels_kept(run, condition: str, **options) -> set[str]:
    mapping = x3ml(
        "<mapping>"
        + domain(
            "item",
            entity("crm:E22_Man-Made_Object", labels=literal_label("name/text()")),
            conditions=condition,
        )
        + "</mapping>"
    )
    result = run(mapping, RECORD, **options)
    return {line.split('"')[1] for line in nt_lines(result) if "label" in line}


@pytest.mark.parametrize(
    ("condition", "kept"),
    [
        ("<if><exists>kind</exists></if>", {"a", "b", "c"}),
        ('<if><equals value="coin">kind/text()</equals></if>', {"a"}),
        ('<if><equals value="coin || medal">kind/text()</equals></if>', {"a", "b"}),
        ('<if><not><if><equals value="coin">kind</equals></if></not></if>', {"b", "c", "d"}),
        (
            "<if><and><if><exists>kind</exists></if>"
            '<if><not><if><equals value="dog">kind</equals></if></not></if></and></if>',
            {"a", "b"},
        ),
        (
            '<if><or><if><equals value="dog">kind</equals></if>'
            '<if><equals value="d">name</equals></if></or></if>',
            {"c", "d"},
        ),
        ("<if><exists>kind[. = 'medal']</exists></if>", {"b"}),
        ("<if><exists>kind = 'medal'</exists></if>", {"b"}),  # not a node list: its boolean value
    ],
)
def test_conditions_on_the_domain(run, condition, kept):
    assert labels_kept(run, condition) == kept


TERMS = """<http://ex.org/animal> <http://www.w3.org/2004/02/skos/core#prefLabel> "animal"@en .
<http://ex.org/dog> <http://www.w3.org/2004/02/skos/core#prefLabel> "dog"@en .
<http://ex.org/dog> <http://www.w3.org/2004/02/skos/core#broader> <http://ex.org/mammal> .
<http://ex.org/mammal> <http://www.w3.org/2004/02/skos/core#altLabel> "mammal" .
<http://ex.org/mammal> <http://www.w3.org/2004/02/skos/core#broader> <http://ex.org/animal> .
<http://ex.org/coin> <http://www.w3.org/2004/02/skos/core#prefLabel> "coin" .
<http://ex.org/munt> <http://www.w3.org/2004/02/skos/core#exactMatch> <http://ex.org/coin> .
<http://ex.org/munt> <http://www.w3.org/2004/02/skos/core#prefLabel> "medal" .
"""


def test_broader_accepts_the_term_and_everything_below_it(run, write):
    terms = write("terms.nt", TERMS)
    assert labels_kept(run, '<if><broader value="animal">kind</broader></if>', terms=terms) == {"c"}
    assert labels_kept(run, '<if><broader value="dog">kind</broader></if>', terms=terms) == {"c"}
    assert labels_kept(run, '<if><broader value="coin">kind</broader></if>', terms=terms) == {"a"}


def test_exact_match_is_symmetric(run, write):
    terms = write("terms.nt", TERMS)
    assert labels_kept(run, '<if><exact_match value="coin">kind</exact_match></if>', terms=terms) == {
        "a",
        "b",
    }
    assert labels_kept(run, '<if><exact_match value="medal">kind</exact_match></if>', terms=terms) == {
        "a",
        "b",
    }


def test_broader_without_terms_drops_the_entity_with_a_warning(run):
    mapping = x3ml(
        "<mapping>"
        + domain(
            "item", entity("crm:E22_Man-Made_Object"), conditions='<if><broader value="x">kind</broader></if>'
        )
        + "</mapping>"
    )
    result = run(mapping, RECORD)
    assert len(result) == 0
    assert len(result.warnings) == 4
    assert "terminology is missing" in str(result.warnings[0])


def test_conditions_on_path_and_range(run):
    mapping = x3ml(
        "<mapping>"
        + domain("/items", entity("crm:E78_Collection"))
        + (
            "<link><path><source_relation><relation>item</relation></source_relation><target_relation>"
            "<if><exists>kind</exists></if><relationship>crm:P46_is_composed_of</relationship></target_relation></path>"
            "<range><source_node>item</source_node><target_node>"
            '<if><not><if><equals value="dog">kind</equals></if></not></if>'
            + entity("crm:E22_Man-Made_Object", labels=literal_label("name/text()"))
            + "</target_node></range></link>"
        )
        + "</mapping>"
    )
    result = run(mapping, RECORD, uuid_size=2)
    names = {line.split('"')[1] for line in nt_lines(result) if "label" in line}
    assert names == {"a", "b"}
    composed = [line for line in nt_lines(result) if "P46" in line]
    assert len(composed) == 2
