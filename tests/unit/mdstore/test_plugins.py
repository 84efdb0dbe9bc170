"""The plugin registry: lazy imports, clear errors, and outside packages through entry points."""

from __future__ import annotations

import pickle
import sys
import textwrap

import pytest

from mdstore.errors import PluginError, PluginUnavailable, UnknownPlugin
from mdstore.plugins import Registry


def test_lazy_import_on_first_get_and_names():
    registry = Registry("thing", check=callable)
    registry.register("dumps", "json:dumps")
    assert registry.names() == ["dumps"]
    assert registry.get("dumps")({"a": 1}) == '{"a": 1}'
    assert registry.describe() == [("dumps", "json:dumps", "built-in")]


def test_unknown_name_lists_the_valid_ones():
    registry = Registry("harvester")
    registry.register("oai", "json:dumps")
    registry.register("ftp", "json:loads")
    with pytest.raises(UnknownPlugin) as err:
        registry.get("sparql")
    assert str(err.value) == "harvester: sparql: unknown harvester 'sparql'; valid names: ftp, oai"
    assert pickle.loads(pickle.dumps(err.value)).name == "sparql"


def test_a_missing_package_is_named_and_a_bad_target_refused():
    registry = Registry("mdstore backend", check=callable)
    registry.register("nosuch", "no_such_package_xyz.backend:open")
    registry.register("notcallable", "json:__name__")
    registry.register("missingattr", "json:nothing_here")
    with pytest.raises(PluginUnavailable, match="needs the package 'no_such_package_xyz'"):
        registry.get("nosuch")
    with pytest.raises(PluginError, match="is not a valid mdstore backend"):
        registry.get("notcallable")
    with pytest.raises(PluginError, match="json:nothing_here does not exist"):
        registry.get("missingattr")
    with pytest.raises(PluginError, match="registered twice: built-in"):
        registry.register("nosuch", "json:dumps")
    with pytest.raises(PluginError, match="not of the form 'module:attr'"):
        registry.register("plain", "json.dumps")


def test_outside_packages_register_through_entry_points(tmp_path, monkeypatch):
    """A tiny installed distribution (a dist-info with entry_points.txt on sys.path) adds a plugin."""
    (tmp_path / "cc_example_plugin.py").write_text("def harvest():\n    return 'from outside'\n")
    dist = tmp_path / "cc_example_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: cc-example-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        textwrap.dedent("""
        [contentcloud.test_harvesters]
        sparql = cc_example_plugin:harvest
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = Registry("harvester", group="contentcloud.test_harvesters")
    registry.register("oai", "json:dumps")
    assert registry.names() == ["oai", "sparql"]
    assert registry.get("sparql")() == "from outside"
    assert ("sparql", "cc_example_plugin:harvest", "entry point cc-example-plugin") in registry.describe()
    sys.modules.pop("cc_example_plugin", None)


def test_the_project_registries_list_their_built_ins():
    from contentcloud.plugins import registries

    found = {kind: registry.names() for kind, registry in registries().items()}
    assert found["mdstore backend"] == ["mongodb", "mongodb+srv", "sqlite"]
    assert {"oai", "ftp", "http"} <= set(found["harvester"])
    assert {"xslt", "x3ml", "vocabulary", "validate"} <= set(found["transform step"])
