"""The Python API the pipeline step uses: load once, transform many records in several shapes."""

from __future__ import annotations

import pyoxigraph
import pytest
from lxml import etree

from mdstore.errors import ConfigError
from tests.unit.transforms.x3ml.x3ml_helpers import domain, entity, literal_label, x3ml
from transforms.x3ml import FORMATS, X3MLMapping

MAPPING = x3ml(
    "<mapping>" + domain("item", entity("crm:E22", labels=literal_label("name/text()"))) + "</mapping>"
)
RECORD = "<r><item><name>a</name></item><item><name>b</name></item></r>"


@pytest.fixture
def mapping():
    return X3MLMapping.load(("inline.x3ml", MAPPING.encode()))


def test_one_mapping_many_records(mapping):
    for n in range(3):
        result = mapping.transform(RECORD.replace(">a<", f">a{n}<"), record_id=f"r{n}")
        assert len(result) == 4
        assert f'"a{n}"' in result.to_ntriples()
        assert result.record_id == f"r{n}"
        assert result.warnings == []


def test_source_shapes_give_the_same_graph(mapping):
    tree = etree.ElementTree(etree.fromstring(RECORD))
    wrapped = etree.fromstring(f"<envelope><metadata>{RECORD}</metadata></envelope>")[0][0]
    outputs = {
        mapping.transform(shape, record_id="same").to_ntriples()
        for shape in (RECORD, RECORD.encode(), tree, tree.getroot(), wrapped)
    }
    assert len(outputs) == 1


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_parses_to_the_same_statements(mapping, fmt):
    media = {
        "ntriples": "application/n-triples",
        "turtle": "text/turtle",
        "rdfxml": "application/rdf+xml",
        "trig": "application/trig",
        "jsonld": "application/ld+json",
        "nquads": "application/n-quads",
    }[fmt]
    data = mapping.transform(RECORD, record_id="x").serialize(fmt)
    statements = list(pyoxigraph.parse(data, format=pyoxigraph.RdfFormat.from_media_type(media)))
    assert len(statements) == 4


def test_several_files_in_a_list(write):
    first = write("a.x3ml", MAPPING)
    second = write("b.x3ml", x3ml("<mapping>" + domain("/r", entity("crm:E78")) + "</mapping>"))
    result = X3MLMapping.load([first, second]).transform(RECORD, uuid_mode="test", uuid_test_size=1)
    assert len(result) == 5


def test_compat_levels(write):
    path = write("m.x3ml", MAPPING)
    assert X3MLMapping.load(path, legacy_shorten=True).compat.name == "1.9.1"
    assert X3MLMapping.load(path, compat="1.8.2").compat.legacy_uri_or_uuid
    with pytest.raises(ConfigError, match="unknown compatibility level"):
        X3MLMapping.load(path, compat="0.1")  # type: ignore[arg-type]


def test_custom_generator_override(write):
    class Upper:
        merge_multiple_values = False

        def __init__(self, env):
            self.text = ""

        def set_arg(self, name, value):
            self.text = value

        def uses_namespace_prefix(self):
            pass

        def get_value(self):
            return "http://ex.org/" + self.text.upper()

        def get_value_type(self):
            return "URI"

    policy = write(
        "p.xml",
        '<generator_policy><generator name="Up"><custom generatorClass="my.Upper">'
        '<set-arg name="text"/></custom></generator></generator_policy>',
    )
    mapping_path = write(
        "m.x3ml",
        x3ml(
            "<mapping>"
            + domain(
                "item",
                entity(
                    "crm:E22",
                    '<instance_generator name="Up"><arg name="text">name/text()</arg></instance_generator>',
                ),
            )
            + "</mapping>"
        ),
    )
    loaded = X3MLMapping.load(mapping_path, policy=policy, custom_generators={"my.Upper": Upper})
    assert "<http://ex.org/A>" in loaded.transform(RECORD).to_ntriples()
