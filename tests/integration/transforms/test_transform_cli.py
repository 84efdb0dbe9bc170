"""``contentcloud transform DATASOURCE``: profile → chain → MDStore, through the console entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mdstore import RecordInput, UnitKey, open_store
from tests.cli_runner import run_cli
from tests.integration.transforms.test_pipeline_transform import STYLESHEET, record

NATIVE = UnitKey("src1", "oai_dc")
TRANSFORMED = UnitKey("src1", "PE", "store", "transformed")

PROFILE = """id: src1
name: Source one
nsprefix: src1
api: {{protocol: oai, baseurl: "http://127.0.0.1:9/oai", metadata_prefix: oai_dc}}
transform:
  output: {output}
  steps:
    - {{type: xslt, mapping: t.xsl}}
limits: {{max_error_rate: 0.4}}
"""


@pytest.fixture
def setup(tmp_path):
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    (mappings / "t.xsl").write_text(STYLESHEET)
    registry = tmp_path / "registry"
    registry.mkdir()
    (registry / "src1.yaml").write_text(PROFILE.format(output="ntriples"))
    (registry / "bare.yaml").write_text(
        "id: bare\nname: Bare\nnsprefix: bare\n"
        'api: {protocol: oai, baseurl: "http://127.0.0.1:9/oai", metadata_prefix: x}\n'
    )
    uri = f"sqlite:///{tmp_path / 'mdstore.sqlite'}"
    env = {
        "CONTENTCLOUD_MAPPINGS": str(mappings),
        "CONTENTCLOUD_MDSTORE": uri,
        "CONTENTCLOUD_REGISTRY": str(registry),
    }
    return {"uri": uri, "env": env, "registry": registry}


def collect(uri: str, records: dict[str, str]) -> None:
    with open_store(uri) as store:
        tx = store.begin(NATIVE, "full", nsprefix="src1")
        tx.upsert(RecordInput(oid, body) for oid, body in records.items())
        tx.commit()


def test_transform_prints_the_summary_and_writes_the_version(setup):
    collect(setup["uri"], {"a": record("A"), "b": record("B")})
    result = run_cli("transform", "src1", env=setup["env"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("transform src1: finished in ")
    assert lines[2].startswith(f"  out: {TRANSFORMED.name} @ v")
    assert "written 2 (added 2, updated 0, unchanged 0, deleted 0)" in lines[2]
    with open_store(setup["uri"]) as store, store.reader(TRANSFORMED) as view:
        bodies = [r.body_text() for r in view.records()]
    assert sorted(b.split('"')[1] for b in bodies) == ["A", "B"]


def test_json_summary_and_incremental_with_nothing_to_do(setup):
    collect(setup["uri"], {"a": record("A")})
    first = json.loads(run_cli("transform", "src1", "--json", "--run-id", "t-1", env=setup["env"]).stdout)
    assert (first["outcome"], first["run_id"], first["added"], first["extra"]["mode"]) == (
        "finished",
        "t-1",
        1,
        "full",
    )
    second = run_cli("transform", "src1", "--incremental", "--json", env=setup["env"])
    assert second.exit_code == 0
    assert json.loads(second.stdout)["outcome"] == "nothing_to_do"


def test_record_errors_exit_3_and_too_many_exit_1(setup):
    collect(setup["uri"], {"a": record("A"), "b": record("B"), "c": record("C", fail=True)})
    result = run_cli("transform", "src1", env=setup["env"])
    assert result.exit_code == 3
    assert "errors 1, discarded 0" in result.stdout
    assert (
        ": xslt t.xsl: t.xsl:6, xsl:template match=\"/\" / xsl:if test=\"/r/@fail = 'yes'\": "
        "record marked as failing" in result.stdout
    )
    collect(setup["uri"], {"a": record("A", fail=True), "b": record("B"), "c": record("C", fail=True)})
    result = run_cli("transform", "src1", env=setup["env"])
    assert result.exit_code == 1
    assert "transform src1: failed" in result.stdout
    assert "more than the 40.0% allowed: aborted, the current version is unchanged" in result.stdout


def test_output_serialization_follows_the_profile(setup):
    (setup["registry"] / "src1.yaml").write_text(PROFILE.format(output="rdfxml"))
    collect(setup["uri"], {"a": record("A")})
    assert run_cli("transform", "src1", env=setup["env"]).exit_code == 0
    with open_store(setup["uri"]) as store, store.reader(TRANSFORMED) as view:
        body = next(view.records()).body_bytes()
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<rdf:RDF')


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["transform", "nope"], "error: registry: id: unknown datasource 'nope'; known: bare, src1\n"),
        (
            ["transform", "bare"],
            "error: {registry}/bare.yaml: transform: datasource 'bare' has no transform section\n",
        ),
    ],
)
def test_configuration_errors_exit_2(setup, args, message):
    result = run_cli(*args, env=setup["env"])
    assert result.exit_code == 2
    assert result.stderr == message.format(registry=setup["registry"]).replace(
        "registry: id", f"{setup['registry']}: id"
    )


def test_nothing_collected_yet_exits_1(setup):
    result = run_cli("transform", "src1", env=setup["env"])
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: {NATIVE.name}: no collected version to transform; collect the datasource first\n"
    )


def test_profile_schema_accepts_the_transform_section(setup):
    result = run_cli("datasource", "validate", str(setup["registry"] / "src1.yaml"))
    assert result.exit_code == 0, result.output
    bad = Path(setup["registry"]) / "bad.yaml"
    bad.write_text(PROFILE.format(output="pdf").replace("id: src1", "id: bad"))
    result = run_cli("datasource", "validate", str(bad))
    assert result.exit_code == 2
    assert "transform.output" in result.stderr
