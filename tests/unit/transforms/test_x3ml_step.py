"""The x3ml step adapter, against a tiny fake engine with the API of ``transforms.x3ml``.

The fake records how it is called and maps ``<r><t>title</t></r>`` to one triple per ``t``. The
real engine's behaviour is the other engineer's suite; these tests pin what the adapter owes it:
mappings loaded once with policy/terms/legacy_shorten, each record's tree and id handed over with
the UUID mode, N-Triples out, warnings collected, errors re-labelled with record and step.
"""

from __future__ import annotations

import pytest

from mdstore.errors import ConfigError, MappingError
from tests.unit.transforms.conftest import write
from transforms.payload import RecordContext
from transforms.registry import build_chain


class FakeResult:
    def __init__(self, lines: list[str], warnings: list[str]) -> None:
        self.lines = lines
        self.warnings = warnings

    def to_ntriples(self) -> str:
        return "".join(line + "\n" for line in self.lines)


class FakeMapping:
    loads: list[dict] = []

    def __init__(self) -> None:
        self.calls: list[dict] = []

    @classmethod
    def load(cls, paths, policy=None, terms=None, legacy_shorten=False):
        cls.loads.append({"paths": paths, "policy": policy, "terms": terms, "legacy_shorten": legacy_shorten})
        if any(p.endswith("broken.x3ml") for p in paths):
            raise MappingError(
                "unknown generator 'Nope'", step="x3ml", location="broken.x3ml: mapping 1 / domain"
            )
        return cls()

    def transform(self, source, *, record_id=None, uuid_mode="reproducible", uuid_test_size=None):
        self.calls.append(
            {
                "tag": source.tag,
                "record_id": record_id,
                "uuid_mode": uuid_mode,
                "uuid_test_size": uuid_test_size,
            }
        )
        titles = [t.text for t in source.iter("t")]
        if "boom" in titles:
            raise MappingError(
                "empty value for generator", record_id=None, step="x3ml", location="link 2 /t/text()"
            )
        warnings = ["entity dropped: empty label"] if "" in titles or None in titles else []
        return FakeResult([f'<http://x/{record_id}> <http://x/title> "{t}" .' for t in titles if t], warnings)


@pytest.fixture
def engine(monkeypatch):
    FakeMapping.loads = []
    monkeypatch.setattr("transforms.x3ml_step.load_engine", lambda: FakeMapping)
    return FakeMapping


@pytest.fixture
def files(mappings_dir):
    for name in ("a.x3ml", "b.x3ml", "broken.x3ml", "policies/p.xml", "terms.nt"):
        write(mappings_dir / name, "<x3ml/>")
    return mappings_dir


def test_mappings_load_once_and_records_flow(engine, files):
    chain = build_chain(
        [
            {
                "type": "x3ml",
                "mapping": ["a.x3ml", "b.x3ml"],
                "policy": "policies/p.xml",
                "terms": "terms.nt",
                "legacy_shorten": True,
            }
        ],
        base_dir=files,
        output="ntriples",
    )
    assert engine.loads == [
        {
            "paths": [str(files / "a.x3ml"), str(files / "b.x3ml")],
            "policy": str(files / "policies" / "p.xml"),
            "terms": str(files / "terms.nt"),
            "legacy_shorten": True,
        }
    ]
    assert chain.apply(b"<r><t>one</t><t>two</t></r>", record_id="ds::1") == (
        b'<http://x/ds::1> <http://x/title> "one" .\n<http://x/ds::1> <http://x/title> "two" .\n'
    )
    chain.apply(b"<r/>", record_id="ds::2")
    step = chain.steps[0]
    assert step.label == "x3ml a.x3ml,b.x3ml"
    assert step._mapping.calls == [
        {"tag": "r", "record_id": "ds::1", "uuid_mode": "reproducible", "uuid_test_size": None},
        {"tag": "r", "record_id": "ds::2", "uuid_mode": "reproducible", "uuid_test_size": None},
    ]
    assert len(engine.loads) == 1
    assert set(step.sources) == {str(files / n) for n in ("a.x3ml", "b.x3ml", "policies/p.xml", "terms.nt")}


def test_output_converted_when_asked(engine, files):
    chain = build_chain([{"type": "x3ml", "mapping": "a.x3ml"}], base_dir=files, output="rdfxml")
    out = chain.apply(b"<r><t>one</t></r>", record_id="id1")
    assert b'<rdf:Description rdf:about="http://x/id1">' in out
    assert b'<title xmlns="http://x/">one</title>' in out


def test_test_uuids_and_warnings(engine, files):
    chain = build_chain(
        [{"type": "x3ml", "mapping": "a.x3ml", "uuid_mode": "test", "uuid_test_size": 2}],
        base_dir=files,
        output="ntriples",
    )
    context = RecordContext("ds::1")
    chain.apply(b"<r><t/><t>x</t></r>", context=context)
    assert chain.steps[0]._mapping.calls[0]["uuid_test_size"] == 2
    assert context.warnings == ["x3ml a.x3ml: entity dropped: empty label"]


def test_record_errors_name_record_step_and_mapping_place(engine, files):
    chain = build_chain([{"type": "x3ml", "mapping": "a.x3ml"}], base_dir=files)
    with pytest.raises(MappingError) as info:
        chain.apply(b"<r><t>boom</t></r>", record_id="ds::7")
    assert str(info.value) == "ds::7: x3ml a.x3ml: link 2 /t/text(): empty value for generator"


def test_invalid_mapping_fails_at_build(engine, files):
    with pytest.raises(MappingError) as info:
        build_chain([{"type": "x3ml", "mapping": ["a.x3ml", "broken.x3ml"]}], base_dir=files)
    assert str(info.value) == "x3ml: broken.x3ml: mapping 1 / domain: unknown generator 'Nope'"


@pytest.mark.parametrize(
    ("config", "field", "message"),
    [
        ({}, "transform.steps[0].mapping", "an x3ml step needs 'mapping'"),
        ({"mapping": ["a.x3ml", 3]}, "transform.steps[0].mapping", "an x3ml step needs 'mapping'"),
        ({"mapping": "zz.x3ml"}, "transform.steps[0].mapping", "'zz.x3ml' does not exist"),
        (
            {"mapping": "a.x3ml", "policy": "nope.xml"},
            "transform.steps[0].policy",
            "'nope.xml' does not exist",
        ),
        (
            {"mapping": "a.x3ml", "uuid_mode": "sequential"},
            "transform.steps[0].uuid_mode",
            "uuid_mode 'sequential'",
        ),
    ],
)
def test_configuration_errors(engine, files, config, field, message):
    with pytest.raises(ConfigError) as info:
        build_chain([{"type": "x3ml", **config}], base_dir=files)
    assert info.value.field == field
    assert info.value.message.startswith(message)


def test_missing_engine_is_a_clear_configuration_error(files, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_engine(name, *args, **kwargs):
        if name == "transforms.x3ml":
            raise ImportError("No module named 'transforms.x3ml'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_engine)
    with pytest.raises(ConfigError, match=r"the X3ML engine \(transforms.x3ml\) is not available"):
        build_chain([{"type": "x3ml", "mapping": "a.x3ml"}], base_dir=files)
