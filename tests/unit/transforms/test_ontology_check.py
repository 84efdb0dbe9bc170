"""The ``ontology-check`` step on its own: fail, warn, strict, and its configuration errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from mdstore.errors import ConfigError, RecordError
from transforms.ontology_check import OntologyCheckStep
from transforms.payload import Payload, RecordContext
from transforms.registry import BuildContext, build_chain

SCHEMAS = Path(__file__).resolve().parents[3] / "schemas"
CRM = "http://www.cidoc-crm.org/cidoc-crm/"
TYPE = "<http://www.w3.org/1999/02/22-rdf-syntax-ns#type>"
GOOD = (
    f"<http://e/d> {TYPE} <{CRM}E33_Linguistic_Object> .\n"
    f"<http://e/d> <{CRM}P72_has_language> <http://e/l> .\n"
)
WRONG = (
    f"<http://e/d> <{CRM}P72_has_lang> <http://e/l> .\n"
    f"<http://e/a> {TYPE} <{CRM}E39_Actor> .\n<http://e/a> <{CRM}P72_has_language> <http://e/l> .\n"
)
OUTSIDE = '<http://e/d> <http://example.org/own#prop> "x" .\n'


def step(**config) -> OntologyCheckStep:
    return OntologyCheckStep.from_config(
        {"type": "ontology-check", **config},
        BuildContext(base_dir=SCHEMAS.parent / "mappings", schemas_dir=SCHEMAS),
    )


def apply(check: OntologyCheckStep, text: str) -> tuple[Payload, RecordContext]:
    context = RecordContext("ds::1", "1")
    return check.apply(Payload.from_text(text, "ntriples"), context), context


def test_clean_rdf_passes_unchanged_with_no_warning():
    payload, context = apply(step(), GOOD)
    assert payload.xml_bytes().decode() == GOOD
    assert context.warnings == []


def test_fail_raises_the_first_error_and_counts_the_rest():
    with pytest.raises(RecordError) as caught:
        apply(step(on_error="fail"), WRONG)
    assert str(caught.value) == (
        "ds::1: ontology-check: error: unknown-property: http://e/d crm:P72_has_lang: "
        "not a property of the ontology (and 1 more)"
    )


def test_warn_keeps_the_record_and_adds_one_warning_per_issue():
    payload, context = apply(step(on_error="warn"), WRONG)
    assert payload.xml_bytes().decode() == WRONG
    assert context.warnings == [
        "ontology-check: error: unknown-property: http://e/d crm:P72_has_lang: "
        "not a property of the ontology",
        "ontology-check: error: domain: http://e/a crm:P72_has_language: subject is crm:E39_Actor, "
        "the domain is crm:E33_Linguistic_Object",
    ]


def test_terms_outside_the_ontology_are_warnings_unless_strict():
    _payload, context = apply(step(), OUTSIDE)
    assert context.warnings == [
        "ontology-check: warning: unknown-property: http://e/d http://example.org/own#prop: "
        "not in the ontology (namespace not covered)"
    ]
    with pytest.raises(RecordError, match="not in the ontology"):
        apply(step(strict=True), OUTSIDE)


def test_configuration_errors_name_the_field(tmp_path):
    with pytest.raises(
        ConfigError, match=r"transform.steps\[0\].on_error: on_error 'ignore' is not one of fail, warn"
    ):
        build_chain(
            [{"type": "ontology-check", "on_error": "ignore"}], base_dir=tmp_path, schemas_dir=SCHEMAS
        )
    with pytest.raises(ConfigError, match=r"transform.steps\[0\].ontology: 'none.json' does not exist"):
        build_chain(
            [{"type": "ontology-check", "ontology": "none.json"}], base_dir=tmp_path, schemas_dir=SCHEMAS
        )
