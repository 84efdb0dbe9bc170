"""The validate step: well-formedness, XSD (offline, with a catalog) and RDF parse checks."""

from __future__ import annotations

import shutil

import pytest

from mdstore.errors import ConfigError, RecordError, RecordParseError
from tests.unit.transforms.conftest import write
from transforms.registry import build_chain

DC = (
    '<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/">{}</oai_dc:dc>'
)
RECORD = (
    '<record xmlns="http://www.openarchives.org/OAI/2.0/"><header><identifier>x</identifier></header>'
    "<metadata>{}</metadata></record>"
)


@pytest.fixture
def schemas(shared_dir, mappings_dir):
    """The official oai_dc schemas copied beside the mappings (tests must not write into ../shared)."""
    target = mappings_dir / "schemas"
    shutil.copytree(shared_dir / "oai-pmh" / "schemas", target)
    return target


def test_valid_oai_dc_inside_a_record_wrapper(schemas, mappings_dir):
    chain = build_chain(
        [
            {
                "type": "validate",
                "schema": "schemas/oai_dc.xsd",
                "catalog": "schemas/catalog.xml",
                "element": "//oai_dc:dc",
            }
        ],
        base_dir=mappings_dir,
        output="xml",
    )
    body = RECORD.format(DC.format("<dc:title>t</dc:title><dc:date>2015</dc:date>")).encode()
    assert chain.apply(body) == body


def test_real_sample_validates(schemas, mappings_dir, shared_dir):
    chain = build_chain(
        [
            {
                "type": "validate",
                "schema": "schemas/oai_dc.xsd",
                "catalog": "schemas/catalog.xml",
                "element": "//oai_dc:dc",
            }
        ],
        base_dir=mappings_dir,
        output="xml",
    )
    body = (shared_dir / "oai-pmh" / "samples" / "oai_dc-puma-record.xml").read_bytes()
    assert chain.apply(body, record_id="r") == body


def test_invalid_record_names_the_first_problem_and_line(schemas, mappings_dir):
    chain = build_chain(
        [
            {
                "type": "validate",
                "schema": "schemas/oai_dc.xsd",
                "catalog": "schemas/catalog.xml",
                "element": "//oai_dc:dc",
            }
        ],
        base_dir=mappings_dir,
        output="xml",
    )
    body = RECORD.format(DC.format("\n<dc:titel>t</dc:titel><dc:nope/>")).encode()
    with pytest.raises(RecordError) as info:
        chain.apply(body, record_id="ds::2")
    assert info.value.record_id == "ds::2"
    assert info.value.step == "validate oai_dc.xsd"
    assert info.value.location == "line 2"
    assert info.value.message.startswith(
        "Element '{http://purl.org/dc/elements/1.1/}titel': This element is not expected."
    )
    with pytest.raises(RecordError, match="no element matches '//oai_dc:dc'"):
        chain.apply(b"<other/>", record_id="ds::3")


def test_schema_imports_never_use_the_network(schemas, mappings_dir):
    with pytest.raises(ConfigError) as info:
        build_chain([{"type": "validate", "schema": "schemas/oai_dc.xsd"}], base_dir=mappings_dir)
    assert info.value.message.startswith(
        "schema import refused: 'http://dublincore.org/schemas/xmls/"
        "simpledc20021212.xsd' is refused: mappings read no http: resources"
    )
    assert info.value.field == "transform.steps[0].schema"


def test_the_offline_driver_schema_needs_no_catalog(schemas, mappings_dir):
    chain = build_chain(
        [{"type": "validate", "schema": "schemas/oai-pmh-offline.xsd", "element": "//oai_dc:dc"}],
        base_dir=mappings_dir,
        output="xml",
    )
    assert chain.apply(DC.format("<dc:title>t</dc:title>").encode())


def test_schema_found_in_the_project_schemas_directory(tmp_path, mappings_dir):
    schemas_dir = tmp_path / "schemas"
    write(
        schemas_dir / "tiny.xsd",
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">'
        '<xs:element name="a" type="xs:integer"/></xs:schema>',
    )
    chain = build_chain(
        [{"type": "validate", "schema": "tiny.xsd"}],
        base_dir=mappings_dir,
        output="xml",
        schemas_dir=schemas_dir,
    )
    assert chain.apply(b"<a>1</a>") == b"<a>1</a>"
    with pytest.raises(RecordError, match="'x' is not a valid value of the atomic type 'xs:integer'"):
        chain.apply(b"<a>x</a>")
    with pytest.raises(ConfigError, match="'missing.xsd' does not exist"):
        build_chain(
            [{"type": "validate", "schema": "missing.xsd"}], base_dir=mappings_dir, schemas_dir=schemas_dir
        )


def test_well_formedness(mappings_dir):
    chain = build_chain([{"type": "validate"}], base_dir=mappings_dir, output="xml")
    with pytest.raises(RecordParseError) as info:
        chain.apply(b"<a><b></a>", record_id="ds::1")
    assert (info.value.step, info.value.location) == ("validate", "line 1, column 11")


@pytest.mark.parametrize(
    ("rdf", "body", "ok"),
    [
        (
            True,
            b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
            b'rdf:about="http://x/a"><rdf:type rdf:resource="http://x/T"/></rdf:Description></rdf:RDF>',
            True,
        ),
        (
            True,
            b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
            b'rdf:about="http://x/a"><rdf:type rdf:resource="not an iri"/></rdf:Description></rdf:RDF>',
            False,
        ),
        ("rdfxml", b"<not-rdf/>", False),
    ],
)
def test_rdf_check(mappings_dir, rdf, body, ok):
    chain = build_chain([{"type": "validate", "rdf": rdf}], base_dir=mappings_dir, output="xml")
    if ok:
        assert chain.apply(body) == body
    else:
        with pytest.raises(RecordError, match="not valid rdfxml"):
            chain.apply(body, record_id="r")


def test_rdf_format_must_be_known(mappings_dir):
    with pytest.raises(ConfigError, match="rdf 'csv' is not one of"):
        build_chain([{"type": "validate", "rdf": "csv"}], base_dir=mappings_dir)
