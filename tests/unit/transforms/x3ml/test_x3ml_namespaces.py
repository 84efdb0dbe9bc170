"""Namespaces: info-block precedence, the defaults, invalid declarations, merging several files."""

from __future__ import annotations

import logging

import pytest

from mdstore.errors import ConfigError
from tests.unit.transforms.x3ml.x3ml_helpers import domain, entity, nt_lines, x3ml
from transforms.x3ml import X3MLMapping

RECORD = '<r xmlns="urn:one"><thing/></r>'
TYPE = "<http://www.w3.org/1999/02/22-rdf-syntax-ns#type>"


def info(source_ns: str, target_ns: str = "") -> str:
    def block(kind: str, ns: str) -> str:
        return f"<{kind}_info><{kind}_schema type='' version=''/><namespaces>{ns}</namespaces></{kind}_info>"

    return (
        "<info><title/><general_description/>"
        f"<source>{block('source', source_ns)}</source><target>{block('target', target_ns)}</target>"
        "<mapping_info><mapping_created_by_org/><mapping_created_by_person/><in_collaboration_with/>"
        "</mapping_info><example_data_info><example_data_from/><example_data_contact_person/>"
        "<example_data_source_record/><example_data_target_record/><thesaurus_info/></example_data_info></info>"
    )


def ns(prefix: str, uri: str) -> str:
    return f'<namespace prefix="{prefix}" uri="{uri}"/>'


def test_the_source_info_declaration_wins_over_namespaces(run):
    # as in PARTHENOS Mapping518: <namespaces> binds src to a wrong URI, source_info to the record's
    mapping = x3ml(
        "<mapping>" + domain("/src:r/src:thing", entity("crm:E1")) + "</mapping>",
        namespaces="<namespaces>" + ns("crm", "http://crm/") + ns("src", "urn:wrong") + "</namespaces>",
        info=info(ns("src", "urn:one")),
    )
    assert nt_lines(run(mapping, RECORD)) == {
        "<uuid:A> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <http://crm/E1> ."
    }


def test_target_info_wins_over_source_info(run):
    mapping = x3ml(
        "<mapping>" + domain("/*/*", entity("t:E1")) + "</mapping>",
        namespaces="<namespaces/>",
        info=info(ns("t", "urn:source/"), ns("t", "urn:target/")),
    )
    assert "<urn:target/E1>" in run(mapping, RECORD).to_ntriples()


def test_default_namespaces_override_the_mapping(run):
    mapping = x3ml(
        "<mapping>" + domain("/*/*", entity("rdfs:Resource")) + "</mapping>",
        namespaces="<namespaces>" + ns("rdfs", "urn:not-rdfs#") + "</namespaces>",
    )
    assert "<http://www.w3.org/2000/01/rdf-schema#Resource>" in run(mapping, RECORD).to_ntriples()


@pytest.mark.parametrize(
    ("declaration", "message"),
    [
        (ns("", "urn:x"), "the prefix of a namespace cannot be empty"),
        (ns("x", ""), "the URI of a namespace cannot be empty"),
    ],
)
def test_half_empty_declarations_are_refused(write, declaration, message):
    path = write(
        "m.x3ml",
        x3ml(
            "<mapping>" + domain("/*", entity("crm:E1")) + "</mapping>",
            namespaces=f"<namespaces>{ns('crm', 'urn:crm/')}{declaration}</namespaces>",
        ),
    )
    with pytest.raises(ConfigError, match=message) as err:
        X3MLMapping.load(path)
    assert err.value.file == str(path)
    assert err.value.field == "line 1"


def test_an_empty_declaration_is_only_a_warning(write, caplog):
    path = write(
        "m.x3ml",
        x3ml(
            "<mapping>" + domain("/*", entity("crm:E1")) + "</mapping>",
            namespaces=f"<namespaces>{ns('crm', 'urn:crm/')}{ns('', '')}</namespaces>",
        ),
    )
    with caplog.at_level(logging.WARNING):
        X3MLMapping.load(path)
    assert "prefix and the URI of a namespace are empty" in caplog.text


def test_an_undeclared_prefix_drops_the_entity_and_warns(run):
    """As the reference engine: the entity is dropped with a warning naming the prefix, the run
    goes on (the conformance kit's Namespaces.testMissingNamespace expects an empty graph)."""
    mapping = "<mapping>" + domain("/*/*", entity("nope:E1")) + "</mapping>"
    mapping += "<mapping>" + domain("/*", entity("crm:E2")) + "</mapping>"
    result = run(x3ml(mapping), RECORD)
    # uuid:A was minted for the dropped entity before its type was read, as in the reference
    assert nt_lines(result) == {f"<uuid:B> {TYPE} <http://www.cidoc-crm.org/cidoc-crm/E2> ."}
    assert {str(w).split(": ", 2)[-1] for w in result.warnings} == {
        'The namespace with prefix "nope" has not been declared (in \'nope:E1\'); '
        "the entity is dropped: declare the prefix in <namespaces>"
    }


def test_merging_files_unites_namespaces(write):
    first = write("a.x3ml", x3ml("<mapping>" + domain("/*", entity("crm:E1")) + "</mapping>"))
    second = write(
        "b.x3ml",
        x3ml(
            "<mapping>" + domain("/*/*", entity("other:E2")) + "</mapping>",
            namespaces=f"<namespaces>{ns('other', 'urn:other/')}</namespaces>",
        ),
    )
    result = X3MLMapping.load([first, second]).transform(RECORD.encode(), uuid_mode="test", uuid_test_size=1)
    assert nt_lines(result) == {
        f"<uuid:A> {TYPE} <http://www.cidoc-crm.org/cidoc-crm/E1> .",
        f"<uuid:B> {TYPE} <urn:other/E2> .",
    }


def test_merging_refuses_a_prefix_bound_twice(write):
    first = write("a.x3ml", x3ml("<mapping>" + domain("/*", entity("crm:E1")) + "</mapping>"))
    second = write(
        "b.x3ml",
        x3ml(
            "<mapping>" + domain("/*", entity("crm:E1")) + "</mapping>",
            namespaces=f"<namespaces>{ns('crm', 'urn:elsewhere/')}</namespaces>",
        ),
    )
    with pytest.raises(ConfigError, match='prefix "crm" is not the same in all mapping files') as err:
        X3MLMapping.load([first, second])
    assert err.value.file == str(second)
