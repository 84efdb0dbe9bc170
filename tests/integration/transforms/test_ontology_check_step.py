"""The ``ontology-check`` chain step in the real transform step: a mapping that writes a property
the ontology does not have (``crm:P72_has_lang``) no longer stores the wrong triples silently."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from contentcloud.pipeline.transform import run_transform
from contentcloud.settings import load_settings
from mdstore import UnitKey, open_store
from tests.curator_support import VARIED_RECORDS, collect, read_records

PROJECT = Path(__file__).resolve().parents[3]
LANG_RECORDS = 3  # records of the fixture with a dc:language (each gets one P72_has_lang triple)
#: records the shipped stylesheet maps (one of the 8 has no oai_dc:dc: a record error in any run)
PRESENT = 7
BASE_ERRORS = 1

PROFILE = """id: onto
name: Ontology check
nsprefix: onto
api: {{protocol: oai, baseurl: "http://127.0.0.1:9/oai", metadata_prefix: oai_dc}}
transform:
  max_error_rate: 0.9
  steps:
    - {{type: xslt, mapping: wrong.xsl}}
{check}
"""


def run(tmp_path: Path, check: str):
    mappings = tmp_path / "mappings"
    shutil.copytree(PROJECT / "mappings", mappings)
    text = (mappings / "oai_dc2pe.xsl").read_text(encoding="utf-8")
    assert text.count("crm:P72_has_language rdf:resource") == 1
    (mappings / "wrong.xsl").write_text(
        text.replace("crm:P72_has_language rdf:resource", "crm:P72_has_lang rdf:resource")
    )
    registry = tmp_path / "registry"
    registry.mkdir()
    (registry / "onto.yaml").write_text(PROFILE.format(check=check))
    uri = f"sqlite:///{tmp_path / 'mdstore.sqlite'}"
    env = {
        "CONTENTCLOUD_MDSTORE": uri,
        "CONTENTCLOUD_REGISTRY": str(registry),
        "CONTENTCLOUD_MAPPINGS": str(mappings),
        "CONTENTCLOUD_VAR": str(tmp_path / "var"),
    }
    collect(uri, "onto", read_records(VARIED_RECORDS))
    summary = run_transform("onto", load_settings({}, env, base_dir=tmp_path))
    with open_store(uri) as store, store.reader(UnitKey("onto", "PE", "store", "transformed")) as view:
        stored = [r.body_bytes() for r in view.records(deleted=False)]
        errors = list(view.errors())
    return summary, stored, errors


def test_without_the_step_the_wrong_triples_are_stored_with_no_error(tmp_path):
    summary, stored, errors = run(tmp_path, "")
    assert (summary.errors, len(stored), len(errors)) == (BASE_ERRORS, PRESENT, BASE_ERRORS)
    assert sum(b"P72_has_lang>" in body for body in stored) == LANG_RECORDS


def test_on_error_fail_makes_each_such_record_a_record_error(tmp_path):
    summary, stored, errors = run(tmp_path, "    - {type: ontology-check, on_error: fail}")
    assert summary.errors == BASE_ERRORS + LANG_RECORDS
    assert len(stored) == PRESENT - LANG_RECORDS
    assert not any(b"P72_has_lang" in body for body in stored)
    checked = [e for e in errors if e.step == "ontology-check"]
    assert (len(errors), len(checked)) == (BASE_ERRORS + LANG_RECORDS, LANG_RECORDS)
    for error in checked:
        assert error.message == (
            f"error: unknown-property: https://contentcloud.example/pe/onto/dataset/"
            f"{error.message.split('/dataset/')[1].split(' ')[0]} crm:P72_has_lang: "
            "not a property of the ontology"
        )


def test_on_error_warn_stores_the_records_with_a_warning_each(tmp_path):
    summary, stored, errors = run(tmp_path, "    - {type: ontology-check, on_error: warn}")
    assert (summary.errors, len(stored), len(errors)) == (BASE_ERRORS, PRESENT, BASE_ERRORS)
    assert summary.extra["warnings"] == LANG_RECORDS
    warnings = summary.extra["first_warnings"]
    assert len(warnings) == LANG_RECORDS
    assert all(
        "ontology-check: error: unknown-property: " in w
        and w.endswith("crm:P72_has_lang: not a property of the ontology")
        for w in warnings
    ), warnings


def test_the_profile_schema_refuses_an_unknown_on_error(tmp_path):
    from mdstore.errors import ConfigError

    with pytest.raises(ConfigError, match="on_error"):
        run(tmp_path, "    - {type: ontology-check, on_error: ignore}")
