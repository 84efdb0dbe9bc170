"""The ontology check: unknown terms, domains and ranges with RDFS reasoning, literals vs resources."""

from __future__ import annotations

from pathlib import Path

import pytest

from mdstore.errors import RecordError
from transforms.curation.ontology import Ontology, check_file, check_rdf, rdf_format_of

PROJECT = Path(__file__).resolve().parents[4]
ONTOLOGY = PROJECT / "schemas" / "ontology" / "pe-crm.json"
PREFIXES = """@prefix crm: <http://www.cidoc-crm.org/cidoc-crm/> .
@prefix crmpe: <http://parthenos.d4science.org/CRMext/CRMpe.rdfs/> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
@prefix foaf: <http://xmlns.com/foaf/0.1/> .
@prefix ex: <http://example.org/> .
"""


@pytest.fixture(scope="module")
def ontology() -> Ontology:
    return Ontology.load(ONTOLOGY)


def issues(ontology: Ontology, turtle: str) -> list[tuple[str, str, str, str]]:
    found = check_rdf((PREFIXES + turtle).encode(), "turtle", ontology, file="t.ttl")
    return [(i.kind, i.severity, i.subject, i.predicate) for i in found]


def test_the_digest_holds_crm_pe_and_dig(ontology):
    assert ontology.is_class("http://www.cidoc-crm.org/cidoc-crm/E22_Man-Made_Object")
    assert ontology.is_class("http://parthenos.d4science.org/CRMext/CRMpe.rdfs/PE22_Persistent_Dataset")
    assert ontology.is_class("http://www.ics.forth.gr/isl/CRMext/CRMdig.rdfs/D1_Digital_Object")
    # PE22 ⊑ PE18 ⊑ … ⊑ D1 ⊑ E73 ⊑ E1: the closure crosses the three namespaces
    assert ontology.is_subclass(
        "http://parthenos.d4science.org/CRMext/CRMpe.rdfs/PE22_Persistent_Dataset",
        "http://www.cidoc-crm.org/cidoc-crm/E73_Information_Object",
    )
    assert len(ontology.properties) > 400


def test_a_conforming_graph_has_no_issue(ontology):
    assert (
        issues(
            ontology,
            """
        ex:d a crmpe:PE22_Persistent_Dataset ; rdfs:label "d" ;
            crm:P1_is_identified_by ex:t ; crmpe:PP50_accessible_at ex:ap ; crm:P3_has_note "n"@en .
        ex:t a crm:E42_Identifier ; rdfs:label "x" .
        ex:ap a crmpe:PE29_Access_Point .
        ex:untyped crm:P2_has_type ex:alsountyped .
    """,
        )
        == []
    )


def test_unknown_class_and_properties(ontology):
    assert issues(
        ontology,
        """
        ex:a a crm:E999_Nothing ; crm:P999_nothing ex:b ; foaf:name "x" ; foaf:name "y" .
        ex:a a foaf:Person .
    """,
    ) == [
        ("unknown-class", "error", "http://example.org/a", "rdf:type"),
        ("unknown-property", "error", "http://example.org/a", "crm:P999_nothing"),
        ("unknown-property", "warning", "http://example.org/a", "http://xmlns.com/foaf/0.1/name"),
    ]


def test_domain_and_range_with_subclass_reasoning(ontology):
    found = issues(
        ontology,
        """
        ex:actor a crm:E39_Actor ; crm:P72_has_language ex:lang .
        ex:lang a crm:E56_Language .
        ex:text a crm:E33_Linguistic_Object ; crm:P72_has_language ex:actor .
        ex:inscription a crm:E34_Inscription ; crm:P72_has_language ex:lang .
        ex:doc a crm:E31_Document ; crm:P72_has_language ex:lang .
    """,
    )
    # E34 Inscription ⊑ E33 Linguistic Object meets the domain; E31 Document does not
    assert found == [
        ("domain", "error", "http://example.org/actor", "crm:P72_has_language"),
        ("range", "error", "http://example.org/text", "crm:P72_has_language"),
        ("domain", "error", "http://example.org/doc", "crm:P72_has_language"),
    ]


def test_superproperty_ranges_apply_too(ontology):
    # P48 has preferred identifier (range E42) ⊑ P1 is identified by (range E41): both ranges apply
    found = check_rdf(
        (
            PREFIXES
            + "ex:x a crm:E39_Actor ; crm:P48_has_preferred_identifier ex:id . ex:id a crm:E39_Actor ."
        ).encode(),
        "turtle",
        ontology,
    )
    assert [(i.kind, i.message) for i in found] == [
        ("range", "object is crm:E39_Actor, the range is crm:E41_Appellation"),
        ("range", "object is crm:E39_Actor, the range is crm:E42_Identifier"),
    ]


def test_literals_and_resources_in_the_wrong_place(ontology):
    found = issues(
        ontology,
        """
        ex:d a crmpe:PE22_Persistent_Dataset ; crm:P1_is_identified_by "a title" ; crm:P3_has_note ex:note .
    """,
    )
    assert found == [
        ("literal-for-resource", "error", "http://example.org/d", "crm:P1_is_identified_by"),
        ("resource-for-literal", "error", "http://example.org/d", "crm:P3_has_note"),
    ]


def test_files_by_extension_and_the_shipped_output(ontology, tmp_path):
    path = tmp_path / "out.nt"
    path.write_text(
        "<http://e/d> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> "
        "<http://parthenos.d4science.org/CRMext/CRMpe.rdfs/PE22_Persistent_Dataset> .\n"
        '<http://e/d> <http://www.cidoc-crm.org/cidoc-crm/P1_is_identified_by> "oops" .\n'
    )
    [issue] = check_file(path, ontology)
    assert str(issue) == (
        f"{path}: error: literal-for-resource: http://e/d crm:P1_is_identified_by: "
        "a literal where a crm:E41_Appellation is expected"
    )
    assert rdf_format_of("x.ttl") == "turtle"
    assert rdf_format_of("x.unknown", b"<?xml version='1.0'?><rdf:RDF/>") == "rdfxml"


def test_a_file_that_does_not_parse_raises_a_located_error(ontology, tmp_path):
    path = tmp_path / "bad.nt"
    path.write_text("<http://e/a> <http://e/p> .\n")
    with pytest.raises(RecordError) as caught:
        check_file(path, ontology)
    assert caught.value.step == "check"
    assert str(path) in str(caught.value)
