"""Index profiles: the PE profile on hand-written PE records, path syntax, and profile mistakes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mdstore.envelope import Record
from mdstore.errors import ConfigError, MappingError, RecordParseError
from provision.index.profile import IndexProfile, compile_path, load_profile, parse_record, sniff_format

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "tests" / "fixtures" / "index"
PE_YAML = ROOT / "mappings" / "index" / "pe.yaml"


@pytest.fixture(scope="module")
def profile() -> IndexProfile:
    return load_profile(PE_YAML)


def build(profile: IndexProfile, name: str, **kw) -> tuple[dict, list[str]]:
    body = (FIXTURES / name).read_bytes()
    record = Record(f"ds::{Path(name).stem}", Path(name).stem, "ds", "PE", body, "x", None)
    doc, warnings = profile.build(
        record, datasource="ds", version="v1", indexed_at="2024-05-01T00:00:00Z", provider="DAI", **kw
    )
    assert doc.pop("rdf") == body.decode()
    return doc, warnings


def test_a_full_dataset_record(profile: IndexProfile) -> None:
    doc, warnings = build(profile, "dataset_full.nt")
    assert warnings == []
    assert doc == {
        "id": "ds::dataset_full",
        "datasource": "ds",
        "provider": "DAI",
        "uri": "http://example.org/ds/1",
        "entity_type": ["PE22_Persistent_Dataset"],
        "entity_type_label": ["Persistent Dataset"],
        "title": "Excavation of the Zeus temple",  # English preferred over the German appellation
        "label": ["Excavation of the Zeus temple", "Ausgrabung am Zeustempel"],
        "description": ["Field records of the 1998 campaign at Olympia."],
        "subject": ["Temple", "Excavation"],  # skos:prefLabel@en of one, rdfs:label of the other
        "actor": ["Deutsches Archäologisches Institut"],
        "place": ["Olympia"],
        "time_span": ["[-0800 TO -0500]"],
        "language": ["en"],
        "rights": ["https://creativecommons.org/licenses/by/4.0/"],  # no label: the IRI
        "landing_url": ["https://example.org/landing/1", "https://example.org/api/1"],
        "landing_page_ss": ["https://example.org/landing/1"],  # the access point typed LandingPage only
        "original_id": "dataset_full",
        "record_id": "ds::dataset_full",
        "mdstore_version": "v1",
        "indexed_at": "2024-05-01T00:00:00Z",
    }


def test_a_service_uses_its_type_rules(profile: IndexProfile) -> None:
    doc, _ = build(profile, "service_with_provider.nt")
    assert doc["entity_type"] == ["PE7_Data_Hosting_Service"]
    assert doc["entity_type_label"] == ["Data Hosting Service"]
    assert doc["actor"] == ["Archaeology Data Service"]  # crmpe:PP2i_is_provided_by, labelled via P1/P190
    assert doc["landing_url"] == ["https://archaeologydataservice.ac.uk/"]
    assert doc["subject"] == ["Hosting"]


@pytest.mark.parametrize(
    ("name", "title", "time_span"),
    [
        ("dataset_turtle.ttl", "Bronze Age hoards of Wessex", ["2014-11-04"]),
        ("dataset_rdfxml.rdf", "Roman coins from Augusta Treverorum", None),
    ],
)
def test_turtle_and_rdfxml_records_are_sniffed(
    profile: IndexProfile, name: str, title: str, time_span: list[str] | None
) -> None:
    doc, _ = build(profile, name)
    assert doc["title"] == title
    assert doc.get("time_span") == time_span


def test_a_bad_time_span_is_dropped_with_a_warning(profile: IndexProfile) -> None:
    doc, warnings = build(profile, "dataset_bad_time_span.nt")
    assert "time_span" not in doc
    assert warnings == ["time_span: [1950 TO 1900]: Wrong order: 1950 TO 1900"]


def test_records_that_cannot_become_documents(profile: IndexProfile) -> None:
    with pytest.raises(RecordParseError) as not_rdf:
        build(profile, "not_rdf.nt")
    assert str(not_rdf.value).startswith("ds::not_rdf: index: not valid ntriples: Parser error")
    with pytest.raises(MappingError) as lonely:
        build(profile, "no_main_entity.nt")
    assert str(lonely.value).startswith(
        "ds::no_main_entity: index: no main entity: no entity of the record is a "
        "crmpe:PE18_Dataset, crmpe:PE21_Persistent_Software"
    )


def test_the_main_entity_is_the_root_among_equals(profile: IndexProfile) -> None:
    body = (
        "<urn:part> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> "
        "<http://parthenos.d4science.org/CRMext/CRMpe.rdfs/PE18_Dataset> .\n"
        "<urn:whole> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> "
        "<http://parthenos.d4science.org/CRMext/CRMpe.rdfs/PE24_Volatile_Dataset> .\n"
        "<urn:whole> <http://parthenos.d4science.org/CRMext/CRMpe.rdfs/PP23_has_dataset_part> <urn:part> .\n"
        "<urn:service> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> "
        "<http://parthenos.d4science.org/CRMext/CRMpe.rdfs/PE1_Service> .\n"
    )
    entity, types = profile.main_entity(parse_record(body, "ntriples"))
    assert entity.value == "urn:whole"  # datasets before services; the part is pointed to
    assert types == ["http://parthenos.d4science.org/CRMext/CRMpe.rdfs/PE24_Volatile_Dataset"]


def test_paths() -> None:
    prefixes = {"ex": "http://example.org/"}
    graph = parse_record(
        "<http://example.org/a> <http://example.org/p> <http://example.org/b> .\n"
        '<http://example.org/b> <http://example.org/q> "x" .\n'
        "<http://example.org/c> <http://example.org/p> <http://example.org/b> .\n"
        "<http://example.org/a> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <http://example.org/T> .\n",
        "ntriples",
    )
    start = next(iter(graph.out))

    def values(path: str, node=start) -> list[str]:
        return [n.value for n in compile_path(path, prefixes)([node], graph)]

    assert values("ex:p/ex:q") == ["x"]
    assert values("ex:p/^ex:p") == ["http://example.org/a", "http://example.org/c"]
    assert values("ex:missing | ex:p/(ex:q | ex:p)") == ["x"]
    assert values("a") == ["http://example.org/T"]
    assert values("ex:p/^ex:p[a ex:T]") == ["http://example.org/a"]  # only nodes of class ex:T
    assert values("(ex:p/^ex:p)[a ex:U | ex:T]") == ["http://example.org/a"]
    assert values("ex:p[a ex:T]") == []
    assert values("<http://example.org/p>") == ["http://example.org/b"]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("nope:p", "unknown prefix 'nope' (declared: ex)"),
        ("ex:p/", "ends too early"),
        ("(ex:p", "missing ')'"),
        ("ex:p ex:q", "unexpected 'ex:q'"),
        ("ex:p $", "cannot read the path from ' $'"),
        ("^(ex:p)", "'^' before a group is not supported; put it on each property"),
        ("ex:p[ex:T]", "a filter is '[a class | class …]'"),
        ("ex:p[a ex:T", "missing ']'"),
    ],
)
def test_path_mistakes_are_config_errors(path: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        compile_path(path, {"ex": "http://example.org/"}, where="p.yaml")
    assert str(caught.value) == f"p.yaml: path {path!r}: {message}"


def _profile_with(tmp_path: Path, change) -> Path:
    data = yaml.safe_load(PE_YAML.read_text())
    change(data)
    path = tmp_path / "custom.yaml"
    path.write_text(yaml.safe_dump(data))
    (tmp_path / "pe-classes.json").write_text((PE_YAML.parent / "pe-classes.json").read_text())
    return path


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (
            lambda d: d["fields"].update(bogus="rdfs:label"),
            "fields.bogus",
            "the index schema has no field 'bogus'",
        ),
        (lambda d: d["fields"].update(id="rdfs:label"), "fields.id", "'id' is filled by the indexer itself"),
        (
            lambda d: d["fields"].update(title={"path": "rdfs:label", "single": False}),
            "fields.title",
            "'title' holds one value in the schema; single: false is not possible",
        ),
        (
            lambda d: d["fields"].update(subject={"path": "rdfs:label", "as": "colour"}),
            "fields.subject",
            "as: 'colour' is not one of value, iri, label, label_or_iri, date_range, date",
        ),
        (
            lambda d: d["fields"].update(subject={"path": "rdfs:label", "sort": "yes"}),
            "fields.subject",
            "unknown option(s) sort",
        ),
        (lambda d: d["main"].update(types=[]), "main.types", "main.types lists no class"),
        (
            lambda d: d.update(format="json"),
            "format",
            "format 'json': expected auto, ntriples, turtle or rdfxml",
        ),
    ],
)
def test_profile_mistakes_name_the_field(tmp_path: Path, change, field: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_profile(_profile_with(tmp_path, change))
    assert caught.value.field == field
    assert message in caught.value.message


def test_a_new_field_is_a_profile_change(tmp_path: Path) -> None:
    path = _profile_with(
        tmp_path,
        lambda d: d["fields"].update(
            note_txt={"path": "crm:P3_has_note", "lang": ["de"]},
            created_dt={"path": "<urn:created>", "as": "date"},
        ),
    )
    profile = load_profile(path)
    body = (
        FIXTURES / "dataset_full.nt"
    ).read_text() + '<http://example.org/ds/1> <urn:created> "2014-11-04" .\n'
    doc, _ = profile.build(
        Record("ds::1", "1", "ds", "PE", body, "x", None),
        datasource="ds",
        version="v",
        indexed_at="2024-05-01T00:00:00Z",
    )
    assert doc["note_txt"] == ["Field records of the 1998 campaign at Olympia."]
    assert doc["created_dt"] == "2014-11-04T00:00:00Z"


def test_unreadable_profiles(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the index profile"):
        load_profile(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("fields: [unclosed\n")
    with pytest.raises(ConfigError) as caught:
        load_profile(broken)
    assert caught.value.file.startswith(f"{broken}:")


def test_sniffing() -> None:
    assert sniff_format(b"<?xml version='1.0'?><rdf:RDF/>") == "rdfxml"
    assert sniff_format(b"@prefix ex: <http://example.org/> .") == "turtle"
    assert sniff_format(b"<http://a> <http://b> <http://c> .") == "ntriples"
