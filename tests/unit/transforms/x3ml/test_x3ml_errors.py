"""Errors name the file, line, mapping, link and XPath; load errors are fatal, entity errors are not."""

from __future__ import annotations

import pickle

import pytest

from mdstore.errors import ConfigError, MappingError, RecordParseError
from tests.unit.transforms.x3ml.x3ml_helpers import domain, entity, link, literal_label, x3ml
from transforms.x3ml import X3MLMapping

RECORD = "<r><item><name>a</name></item><item><name/></item></r>"


def test_malformed_mapping(write):
    path = write("bad.x3ml", "<x3ml><namespaces></x3ml>")
    with pytest.raises(ConfigError, match="not a well-formed XML X3ML mapping") as err:
        X3MLMapping.load(path)
    assert err.value.file == str(path)
    assert err.value.rule == "xml"


@pytest.mark.parametrize(
    ("document", "message", "line"),
    [
        (
            '<x3ml version="1.0" source_type="xpath">\n<namespaces/>\n<mappingsList/></x3ml>',
            "<x3ml> contains namespaces, mappingsList; expected (info)? namespaces mappings (comments)?",
            1,
        ),
        (
            '<x3ml version="1.0" source_type="xpath"><namespaces/><mappings><mapping>\n<domain><source_node/>'
            "<target_node><entity/></target_node></domain></mapping></mappings></x3ml>",
            "<entity> contains nothing; expected (type)+",
            2,
        ),
        (
            '<x3ml version="1.0" source_type="xpath" colour="red"><namespaces/><mappings/></x3ml>',
            "attribute 'colour' is not allowed on <x3ml>",
            1,
        ),
    ],
)
def test_schema_violations_name_the_line(write, document, message, line):
    path = write("invalid.x3ml", document)
    with pytest.raises(ConfigError) as err:
        X3MLMapping.load(path)
    assert message in str(err.value)
    assert err.value.field == f"line {line}"
    assert err.value.rule == "x3ml.xsd"


def test_wrong_version(write):
    path = write(
        "v.x3ml",
        x3ml("<mapping>" + domain("/*", entity("crm:E1")) + "</mapping>").replace(
            'version="1.0"', 'version="2.0"'
        ),
    )
    with pytest.raises(ConfigError, match="Incorrect X3ML Version 2.0, expected 1.0"):
        X3MLMapping.load(path)


def test_variable_without_any_generator(write):
    path = write(
        "v.x3ml",
        x3ml("<mapping>" + domain("/*", '<entity variable="v"><type>crm:E1</type></entity>') + "</mapping>"),
    )
    with pytest.raises(ConfigError, match='The variable "v" has been declared however the details'):
        X3MLMapping.load(path)


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ('<generator_policy><generator name="g"/></generator_policy>', "<generator> contains nothing"),
        (
            '<generator_policy><generator name="g"><pattern>{a}</pattern></generator>'
            '<generator name="g"><pattern>{b}</pattern></generator></generator_policy>',
            "duplicate generator name 'g'",
        ),
        (
            '<generator_policy><generator name="g" type="sometimes"><pattern>{a}</pattern></generator>'
            "</generator_policy>",
            'The declared type is "sometimes"',
        ),
    ],
)
def test_invalid_policies(write, policy, message):
    mapping = write("m.x3ml", x3ml("<mapping>" + domain("/*", entity("crm:E1")) + "</mapping>"))
    with pytest.raises(ConfigError, match=message):
        X3MLMapping.load(mapping, policy=write("p.xml", policy))


def test_an_empty_value_drops_one_entity_and_says_where(run):
    mapping = x3ml(
        "<mapping>"
        + domain("/r", entity("crm:E1"))
        + link(
            "item",
            "crm:P1",
            "item",
            entity(
                "crm:E41",
                '<instance_generator name="Literal"><arg name="text">name/text()</arg></instance_generator>',
                labels=literal_label("name/text()"),
            ),
        )
        + "</mapping>"
    )
    result = run(mapping, RECORD)
    assert '"a"' in result.to_ntriples()
    assert len(result.warnings) == 1
    warning = result.warnings[0]
    assert isinstance(warning, MappingError)
    assert warning.step == "x3ml"
    assert warning.location.endswith("mapping.x3ml:5, mapping 1, link 1, xpath 'name/text()'")
    assert "Empty result for arg text at node item" in warning.message
    assert pickle.loads(pickle.dumps(warning)).location == warning.location


def test_an_unknown_generator_is_an_entity_problem(run):
    mapping = x3ml(
        "<mapping>" + domain("/r", entity("crm:E1", '<instance_generator name="Nope"/>')) + "</mapping>"
    )
    result = run(mapping, RECORD)
    assert len(result) == 0
    assert "No generator for Nope" in str(result.warnings[0])


def test_unknown_custom_generator_class(run):
    policy = (
        '<generator_policy><generator name="G"><custom generatorClass="org.example.Missing">'
        '<set-arg name="text"/></custom></generator></generator_policy>'
    )
    mapping = x3ml(
        "<mapping>"
        + domain(
            "/r",
            entity("crm:E1", '<instance_generator name="G"><arg name="text">item</arg></instance_generator>'),
        )
        + "</mapping>"
    )
    result = run(mapping, RECORD, policy=policy)
    assert "Custom generator class not found: org.example.Missing" in str(result.warnings[0])


def test_broken_domain_xpath_is_fatal_and_named(run):
    mapping = x3ml("<mapping>" + domain("/r[", entity("crm:E1")) + "</mapping>")
    with pytest.raises(MappingError) as err:
        run(mapping, RECORD)
    assert "domain source_node '/r['" in err.value.location


def test_a_record_that_is_not_xml(write):
    mapping = X3MLMapping.load(
        write("m.x3ml", x3ml("<mapping>" + domain("/*", entity("crm:E1")) + "</mapping>"))
    )
    with pytest.raises(RecordParseError) as err:
        mapping.transform(b"<r><unclosed></r>", record_id="rec-1")
    assert err.value.record_id == "rec-1"
    assert err.value.location == "line 1"


def test_entities_are_not_resolved(write):
    mapping = X3MLMapping.load(
        write(
            "m.x3ml",
            x3ml(
                "<mapping>" + domain("/r", entity("crm:E1", labels=literal_label("string(.)"))) + "</mapping>"
            ),
        )
    )
    doc = b'<!DOCTYPE r [<!ENTITY secret SYSTEM "file:///etc/passwd">]><r>&secret;</r>'
    result = mapping.transform(doc, uuid_mode="test", uuid_test_size=1)
    assert "root:" not in result.to_ntriples()
