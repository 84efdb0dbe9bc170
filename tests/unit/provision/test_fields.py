"""The embedded index's schema (provision/index/fields.py) is the Solr schema, field for field."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from provision.index import fields

SCHEMA = Path(__file__).resolve().parents[3] / "schemas" / "solr" / "conf" / "schema.xml"


def _schema() -> etree._Element:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    return etree.parse(str(SCHEMA), parser).getroot()


def _flag(element: etree._Element, name: str, default: bool) -> bool:
    value = element.get(name)
    return default if value is None else value == "true"


def test_named_fields_match_schema_xml() -> None:
    root = _schema()
    in_xml = {}
    for element in root.iter("field"):
        in_xml[element.get("name")] = (
            element.get("type"),
            _flag(element, "multiValued", False),
            _flag(element, "stored", True),
            _flag(element, "indexed", True),
            _flag(element, "required", False),
        )
    in_python = {name: (f.type, f.multi, f.stored, f.indexed, f.required) for name, f in fields.NAMED.items()}
    assert in_python == in_xml


def test_dynamic_fields_match_schema_xml() -> None:
    root = _schema()
    in_xml = {
        e.get("name"): (e.get("type"), _flag(e, "multiValued", False)) for e in root.iter("dynamicField")
    }
    in_python = {d.name: (d.type, d.multi) for _, d in fields.DYNAMIC}
    assert in_python == in_xml


def test_copy_fields_match_schema_xml() -> None:
    root = _schema()
    in_xml = [(e.get("source"), e.get("dest")) for e in root.iter("copyField")]
    assert list(fields.COPY_FIELDS) == in_xml


def test_unique_key_and_field_types() -> None:
    root = _schema()
    assert root.findtext("uniqueKey") == fields.UNIQUE_KEY
    assert {e.get("name") for e in root.iter("fieldType")} == set(fields.TYPE_KINDS)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("title", ("text_general", False)),
        ("period_txt", ("text_general", True)),
        ("count_i", ("pint", False)),
        ("x_ss", ("string", True)),
        ("x_s", ("string", False)),
        ("span_dr", ("date_range", True)),
    ],
)
def test_lookup_resolves_named_and_dynamic_fields(name: str, expected: tuple[str, bool]) -> None:
    definition = fields.lookup(name)
    assert definition is not None
    assert (definition.type, definition.multi) == expected
    assert definition.name == name


def test_lookup_refuses_unknown_fields() -> None:
    assert fields.lookup("bogus") is None
    assert fields.lookup("_s") is None  # a suffix alone is not a field name


def test_copy_targets() -> None:
    assert fields.copy_targets("title") == ("title_sort", "text")
    assert fields.copy_targets("subject") == ("subject_facet", "text")
    assert fields.copy_targets("period_txt") == ("text",)
    assert fields.copy_targets("datasource") == ()
