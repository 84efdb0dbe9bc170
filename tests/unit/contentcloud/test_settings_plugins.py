"""A backend installed through the documented entry points (or registered in code) can be chosen
by its URI scheme: the settings take the accepted schemes from the registries."""

from __future__ import annotations

import textwrap

import pytest

import mdstore.registry
import provision.registry
from contentcloud.settings import load_settings, setting_fields
from mdstore import RecordInput, UnitKey, open_store
from mdstore.errors import ConfigError
from mdstore.plugins import Registry

PLUGIN = '''
"""A tiny MDStore backend plugin: the SQLite backend under its own scheme."""
from mdstore import sqlite


def from_uri(uri):
    return sqlite.from_uri("sqlite://" + uri.split("://", 1)[1])
'''


@pytest.fixture
def installed_plugin(tmp_path, monkeypatch):
    """A distribution on sys.path with a ``contentcloud.mdstores`` entry point ``memtest``, and a
    fresh backend registry that has not read the entry points yet (the module's may have)."""
    site = tmp_path / "site"
    (site / "cc_memtest_plugin-0.1.dist-info").mkdir(parents=True)
    (site / "cc_memtest_plugin.py").write_text(PLUGIN)
    (site / "cc_memtest_plugin-0.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: cc-memtest-plugin\nVersion: 0.1\n"
    )
    (site / "cc_memtest_plugin-0.1.dist-info" / "entry_points.txt").write_text(
        textwrap.dedent(
            """\
            [contentcloud.mdstores]
            memtest = cc_memtest_plugin:from_uri
            """
        )
    )
    monkeypatch.syspath_prepend(str(site))
    fresh = Registry("mdstore backend", group="contentcloud.mdstores")
    for name in ("sqlite", "mongodb", "mongodb+srv"):
        fresh.register(name, mdstore.registry.BACKENDS._targets[name])
    monkeypatch.setattr(mdstore.registry, "BACKENDS", fresh)
    return fresh


def test_an_mdstore_backend_installed_through_an_entry_point_can_be_selected(installed_plugin, tmp_path):
    uri = f"memtest:///{tmp_path / 'plugin.sqlite'}"
    settings = load_settings({"mdstore": uri}, environ={}, base_dir=tmp_path)
    assert settings.mdstore == uri
    assert ("memtest", "cc_memtest_plugin:from_uri", "entry point cc-memtest-plugin") in (
        installed_plugin.describe()
    )
    unit = UnitKey("ds", "oai_dc")
    with open_store(settings.mdstore) as store:
        tx = store.begin(unit)
        tx.upsert([RecordInput("a", "<a/>")])
        committed = tx.commit()
        assert [v.id for v in store.lineage(unit)] == [committed.id]
    with pytest.raises(ConfigError) as err:
        load_settings({"mdstore": "postgres://db/x"}, environ={}, base_dir=tmp_path)
    assert str(err.value) == (
        "flag: mdstore: 'postgres://db/x' has no supported scheme (expected one of: sqlite://, "
        "mongodb://, mongodb+srv://, memtest://)"
    )


def test_an_index_backend_registered_in_code_can_be_selected(tmp_path, monkeypatch):
    fresh = Registry("index backend", group=None)
    for name in ("sqlite", "solr"):
        fresh.register(name, provision.registry.INDEXES._targets[name])
    fresh.register("elastic", "provision.index.sqlite:from_uri", origin="a test")
    monkeypatch.setattr(provision.registry, "INDEXES", fresh)
    settings = load_settings({"index": "elastic://es:9200/cc"}, environ={}, base_dir=tmp_path)
    assert (settings.index, settings.origins["index"]) == ("elastic://es:9200/cc", "flag")
    assert provision.registry.schemes() == ["sqlite", "http", "https", "elastic"]
    with pytest.raises(ConfigError) as err:
        load_settings({"index": "solr://x/y"}, environ={}, base_dir=tmp_path)
    assert str(err.value) == (
        "flag: index: 'solr://x/y' has no supported scheme (expected one of: sqlite://, http://, "
        "https://, elastic://)"
    )


def test_file_store_schemes_come_from_their_registry(tmp_path):
    assert load_settings({"files": "s3://bucket/prefix"}, environ={}, base_dir=tmp_path).files == (
        "s3://bucket/prefix"
    )
    assert load_settings({"files": str(tmp_path / "files")}, environ={}, base_dir=tmp_path).files == str(
        tmp_path / "files"
    )  # a bare path is a local directory
    with pytest.raises(ConfigError) as err:
        load_settings(environ={"CONTENTCLOUD_FILES": "ftp://x/y"}, base_dir=tmp_path)
    assert str(err.value) == (
        "env:CONTENTCLOUD_FILES: files: 'ftp://x/y' has no supported scheme (expected one of: file://, s3://)"
    )


def test_each_setting_is_declared_once_with_its_variable_default_and_parser(tmp_path):
    by_name = {f.name: f for f in setting_fields()}
    assert len(by_name) == 31  # 21, then rdf, rdf_base, sparql_timeout/max_bytes, notify, airflow_*, probe_*
    assert by_name["var_dir"].env == "CONTENTCLOUD_VAR"
    assert by_name["keep_versions"].env == "CONTENTCLOUD_KEEP_VERSIONS"
    assert (by_name["keep_versions"].parse, by_name["keep_versions"].default) == (int, 3)
    assert by_name["writer_timeout"].parse is float
    assert {f.name for f in setting_fields() if f.secret} == {
        "oai_secret",
        "session_secret",
        "curator_users",
        "curator_tokens",
        "airflow_token",
        "airflow_password",
    }
    env = {"CONTENTCLOUD_LEASE_TTL": "60", "CONTENTCLOUD_SESSION_SECRET": "k", "CONTENTCLOUD_VAR": "/srv"}
    settings = load_settings(environ=env, base_dir=tmp_path)
    assert (settings.lease_ttl, settings.origins["lease_ttl"]) == (60, "env:CONTENTCLOUD_LEASE_TTL")
    assert settings.files == "file:///srv/files"  # the default follows the moved var_dir
    shown = {name: (value, origin) for name, value, origin in settings.describe()}
    assert list(shown) == list(by_name)
    assert shown["session_secret"] == ("***", "env:CONTENTCLOUD_SESSION_SECRET")
    assert shown["oai_secret"] == ("", "default")
    assert shown["registry"] == (str(tmp_path / "registry"), "default")
