"""The event model: which asset a unit or a configuration is, which step summaries are events, the
configuration digest, and what a CLI commit does when no Airflow API is configured."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from contentcloud.events import (
    commit_event,
    config_asset_uri,
    config_digest,
    emit_commit,
    send_asset_event,
    unit_asset_uri,
)
from contentcloud.settings import load_settings
from mdstore.errors import OrchestratorError


def test_asset_uris() -> None:
    assert unit_asset_uri("demo/oai_dc/store/native") == "contentcloud://demo/oai_dc/store/native"
    assert config_asset_uri("demo") == "contentcloud://demo/config"


def summary(**overrides):
    base = {
        "step": "collect",
        "outcome": "finished",
        "unit_out": "demo/oai_dc/store/native",
        "version_out": "v00000007",
        "run_id": "r1",
        "added": 2,
        "updated": 1,
        "deleted": 0,
    }
    return {**base, **overrides}


def test_a_commit_that_changed_something_is_an_event_with_its_version() -> None:
    assert commit_event(summary()) == {
        "uri": "contentcloud://demo/oai_dc/store/native",
        "extra": {
            "version": "v00000007",
            "unit": "demo/oai_dc/store/native",
            "step": "collect",
            "run_id": "r1",
            "added": 2,
            "updated": 1,
            "deleted": 0,
        },
    }
    assert commit_event(summary(outcome="finished_with_record_errors", added=0, updated=0, deleted=3))


@pytest.mark.parametrize(
    "overrides",
    [
        {"outcome": "failed"},
        {"outcome": "failed_resumable"},
        {"outcome": "nothing_to_do"},
        {"version_out": None},
        {"unit_out": None},
        {"added": 0, "updated": 0, "deleted": 0},
        {"step": "publish", "unit_out": "/srv/contentcloud/var/oai.sqlite", "version_out": "2"},
        {"step": "rdf", "unit_out": "/srv/contentcloud/var/rdf"},
        {"step": "index", "unit_out": "contentcloud"},
        # a relative path of four parts looks like a unit: the step decides, not the shape
        {"step": "publish", "unit_out": "data/cc/var/oai.sqlite", "version_out": "2"},
        {"step": "download", "unit_out": "file:///srv/files", "version_out": "3"},
    ],
)
def test_no_event_without_a_changing_commit(overrides) -> None:
    assert commit_event(summary(**overrides)) is None


def test_the_config_digest_follows_the_profile_and_the_files_it_names(tmp_path: Path) -> None:
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    (mappings / "a.xsl").write_text("<one/>")
    profile = {"id": "s", "transform": {"steps": [{"type": "xslt", "mapping": "a.xsl"}]}}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(profile))
    first = config_digest(path, profile, mappings)
    assert config_digest(path, profile, mappings) == first
    (mappings / "a.xsl").write_text("<two/>")
    second = config_digest(path, profile, mappings)
    assert second != first
    (mappings / "a.xsl").unlink()  # a missing file is a change too
    assert config_digest(path, profile, mappings) not in (first, second)
    path.write_text(yaml.safe_dump({**profile, "name": "renamed"}))
    assert config_digest(path, profile, mappings) not in (first, second)


def test_without_an_airflow_api_nothing_is_sent(tmp_path: Path) -> None:
    settings = load_settings(environ={}, base_dir=tmp_path)
    assert send_asset_event(settings, "contentcloud://s/config", {}) is None
    assert emit_commit(settings, summary()) is None


def test_an_api_without_credentials_is_a_warning_that_says_what_to_set(tmp_path: Path) -> None:
    settings = load_settings(environ={"CONTENTCLOUD_AIRFLOW_API": "http://127.0.0.1:9"}, base_dir=tmp_path)
    with pytest.raises(OrchestratorError, match="set CONTENTCLOUD_AIRFLOW_TOKEN"):
        send_asset_event(settings, "contentcloud://s/config", {})
    assert emit_commit(settings, summary()) == (
        "warning: Airflow API http://127.0.0.1:9: set CONTENTCLOUD_AIRFLOW_TOKEN, or "
        "CONTENTCLOUD_AIRFLOW_USER and CONTENTCLOUD_AIRFLOW_PASSWORD"
    )
