"""The transform-step registry, entry points, chain building and the chain fingerprint."""

from __future__ import annotations

import sys
import textwrap

import pytest

from mdstore.errors import ConfigError, PluginError, UnknownPlugin
from mdstore.plugins import Registry
from tests.unit.transforms.conftest import stylesheet, write
from transforms.payload import Payload, RecordContext
from transforms.registry import (
    TRANSFORMS,
    TransformChain,
    TransformStep,
    build_chain,
    mapping_kind,
    steps_from_files,
)


def test_built_in_steps():
    assert {"ontology-check", "validate", "vocabulary", "x3ml", "xslt"} <= set(TRANSFORMS.names())
    assert TRANSFORMS.group == "contentcloud.transforms"
    assert TRANSFORMS.get("xslt").__name__ == "XsltStep"


def test_unknown_step_lists_the_valid_names(mappings_dir):
    with pytest.raises(UnknownPlugin) as info:
        build_chain([{"type": "xquery"}], base_dir=mappings_dir)
    assert str(info.value) == (
        "transform step: xquery: unknown transform step 'xquery'; valid names: ontology-check, "
        "validate, vocabulary, x3ml, xslt"
    )


@pytest.mark.parametrize(
    ("steps", "field", "message"),
    [
        ([], "transform.steps", "a transform chain needs at least one step"),
        ([{"mapping": "x"}], "transform.steps[0]", "a step is a mapping with a 'type'"),
        (["xslt"], "transform.steps[0]", "a step is a mapping with a 'type'"),
    ],
)
def test_chain_shape_errors(mappings_dir, steps, field, message):
    with pytest.raises(ConfigError) as info:
        build_chain(steps, base_dir=mappings_dir)
    assert (info.value.field, info.value.message) == (field, message)


def test_output_must_be_known(mappings_dir):
    write(mappings_dir / "t.xsl", stylesheet('<xsl:template match="/"><o/></xsl:template>'))
    with pytest.raises(
        ConfigError, match="output 'pdf' is not one of ntriples, turtle, rdfxml, trig, jsonld"
    ):
        build_chain([{"type": "xslt", "mapping": "t.xsl"}], base_dir=mappings_dir, output="pdf")
    assert (
        build_chain([{"type": "xslt", "mapping": "t.xsl"}], base_dir=mappings_dir, output="ttl").output
        == "turtle"
    )


def test_a_step_from_an_entry_point(tmp_path, monkeypatch, mappings_dir):
    """An outside package declares ``[project.entry-points."contentcloud.transforms"]``; installing it
    (here: a dist-info directory on sys.path) makes its step usable in a chain by name."""
    site = tmp_path / "site"
    package = site / "cc_upper"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        textwrap.dedent("""
        from transforms.payload import Payload

        class UpperStep:
            kind = "upper"

            def __init__(self, label):
                self.label = label

            @classmethod
            def from_config(cls, config, context):
                return cls(f"upper {config.get('what', 'all')}")

            def apply(self, payload, context):
                tree = payload.tree()
                for element in tree.iter():
                    element.text = (element.text or "").upper() or None
                return Payload.from_tree(tree)
    """)
    )
    dist = site / "cc_upper-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: cc-upper\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[contentcloud.transforms]\nupper = cc_upper:UpperStep\n")
    monkeypatch.syspath_prepend(str(site))
    registry = Registry(
        "transform step", group="contentcloud.transforms", check=lambda o: hasattr(o, "from_config")
    )
    for name, target, _origin in TRANSFORMS.describe():
        registry.register(name, target)
    monkeypatch.setattr("transforms.registry.TRANSFORMS", registry)
    assert ("upper", "cc_upper:UpperStep", "entry point cc-upper") in registry.describe()
    chain = build_chain([{"type": "upper"}], base_dir=mappings_dir, output="xml")
    assert chain.steps[0].label == "upper all"
    assert chain.apply(b"<r><a>x</a></r>").endswith(b"<r><a>X</a></r>")
    sys.modules.pop("cc_upper", None)


def test_a_name_registered_twice_is_refused():
    registry = Registry("transform step", group=None)
    registry.register("xslt", "transforms.xslt:XsltStep")
    with pytest.raises(PluginError, match="registered twice"):
        registry.register("xslt", "other:Step", origin="entry point x")


def test_a_factory_must_return_a_step(mappings_dir, monkeypatch):
    class NotAStep:
        @classmethod
        def from_config(cls, config, context):
            return object()

    registry = Registry("transform step", group=None)
    registry._targets["odd"] = "x:y"
    registry._loaded["odd"] = NotAStep
    monkeypatch.setattr("transforms.registry.TRANSFORMS", registry)
    with pytest.raises(ConfigError, match="object is not a transform step"):
        build_chain([{"type": "odd"}], base_dir=mappings_dir)


def test_protocol_is_checkable():
    class Step:
        kind = "k"
        label = "l"

        def apply(self, payload: Payload, context: RecordContext) -> Payload:
            return payload

    assert isinstance(Step(), TransformStep)
    assert not isinstance(object(), TransformStep)
    assert TransformChain([Step()], output="xml").apply(b"<a/>").endswith(b"<a/>")


def test_fingerprint_follows_config_params_and_files_but_not_dates(mappings_dir):
    xsl = write(mappings_dir / "f.xsl", stylesheet('<xsl:import href="lib/part.xsl"/>'))
    part = write(mappings_dir / "lib" / "part.xsl", stylesheet('<xsl:template match="/"><o/></xsl:template>'))
    steps = [{"type": "xslt", "mapping": "f.xsl"}]

    def fingerprint(**kwargs):
        return build_chain(steps, base_dir=mappings_dir, **kwargs).fingerprint

    base = fingerprint(params={"datasource": "a", "transformDate": "2020-01-01"})
    assert (
        fingerprint(params={"datasource": "a", "transformDate": "2030-12-31", "transformDateTime": "x"})
        == base
    )
    assert fingerprint(params={"datasource": "b", "transformDate": "2020-01-01"}) != base
    assert fingerprint(params={"datasource": "a"}, output="turtle") != base
    part.write_text(stylesheet('<xsl:template match="/"><changed/></xsl:template>'))
    assert fingerprint(params={"datasource": "a"}) != base
    after_import_change = fingerprint(params={"datasource": "a"})
    (mappings_dir / "vocabularies" / "colours.csv").write_text("term,synonym\nred,rood\n")
    assert fingerprint(params={"datasource": "a"}) != after_import_change
    assert xsl.exists()


def test_mapping_kind_by_extension_or_root(tmp_path):
    assert mapping_kind(write(tmp_path / "a.xsl", "x")) == "xslt"
    assert mapping_kind(write(tmp_path / "a.x3ml", "x")) == "x3ml"
    assert mapping_kind(write(tmp_path / "a.xml", stylesheet(""))) == "xslt"
    assert mapping_kind(write(tmp_path / "b.xml", "<x3ml><mappings/></x3ml>")) == "x3ml"
    with pytest.raises(ConfigError, match="neither an XSLT stylesheet nor an X3ML mapping"):
        mapping_kind(write(tmp_path / "c.xml", "<other/>"))
    with pytest.raises(ConfigError, match="cannot read mapping"):
        mapping_kind(write(tmp_path / "d.xml", "not xml"))


def test_steps_from_files_merges_consecutive_x3ml(tmp_path):
    files = [write(tmp_path / n, "x") for n in ("a.x3ml", "b.x3ml", "c.xsl", "d.x3ml")]
    steps = steps_from_files(files, policy="p.xml", xslt_version="3.0", x3ml_options={"uuid_mode": "test"})
    assert steps == [
        {"type": "x3ml", "mapping": [str(files[0]), str(files[1])], "uuid_mode": "test", "policy": "p.xml"},
        {"type": "xslt", "mapping": str(files[2]), "version": "3.0"},
        {"type": "x3ml", "mapping": [str(files[3])], "uuid_mode": "test", "policy": "p.xml"},
    ]
    with pytest.raises(ConfigError, match="--policy/--terms apply to X3ML mappings"):
        steps_from_files([files[2]], terms="t.nt")
