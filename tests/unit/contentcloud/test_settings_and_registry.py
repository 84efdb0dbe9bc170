"""Settings precedence (flags > environment > defaults) with origins and masking; datasource
profiles validated with errors naming file, field and rule; the foundation CLI commands."""

from __future__ import annotations

import json
import pickle

import pytest
import yaml
from click.testing import CliRunner

from contentcloud.cli import cli
from contentcloud.datasources import (
    DatasourceRegistry,
    check_profile_file,
    profile_from_dict,
    validate_profile,
)
from contentcloud.settings import load_settings, mask_uri
from mdstore import RecordInput, UnitKey, open_store
from mdstore.errors import ConfigError

MINIMAL = {
    "id": "demo",
    "name": "Demo",
    "nsprefix": "demo",
    "api": {"protocol": "oai", "baseurl": "http://127.0.0.1:8080/oai", "metadata_prefix": "oai_dc"},
}


def test_flags_beat_environment_beat_defaults(tmp_path):
    env = {"CONTENTCLOUD_MDSTORE": "mongodb://u:secret@db:27017/cc", "CONTENTCLOUD_KEEP_VERSIONS": "5"}
    s = load_settings({"index": "http://solr:8983/solr/cc"}, environ=env, base_dir=tmp_path)
    assert (
        s.mdstore == "mongodb://u:secret@db:27017/cc" and s.origins["mdstore"] == "env:CONTENTCLOUD_MDSTORE"
    )
    assert s.index == "http://solr:8983/solr/cc" and s.origins["index"] == "flag"
    assert s.registry == str(tmp_path / "registry") and s.origins["registry"] == "default"
    assert s.keep_versions == 5
    shown = {name: (value, origin) for name, value, origin in s.describe()}
    assert shown["mdstore"] == ("mongodb://u:***@db:27017/cc", "env:CONTENTCLOUD_MDSTORE")
    assert (
        load_settings(environ={}, base_dir=tmp_path).mdstore
        == f"sqlite:///{tmp_path / 'var' / 'mdstore.sqlite'}"
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"CONTENTCLOUD_MDSTORE": "postgres://x/y"},
            "env:CONTENTCLOUD_MDSTORE: mdstore: 'postgres://x/y' has no "
            "supported scheme (expected one of: sqlite://, mongodb://, "
            "mongodb+srv://)",
        ),
        (
            {"CONTENTCLOUD_KEEP_VERSIONS": "many"},
            "env:CONTENTCLOUD_KEEP_VERSIONS: keep_versions: 'many' is not a valid int",
        ),
    ],
)
def test_bad_settings_name_origin_and_field(env, message):
    with pytest.raises(ConfigError) as err:
        load_settings(environ=env)
    assert str(err.value) == message


def test_mask_uri_hides_only_the_password():
    assert mask_uri("mongodb://user:p%40ss@h:1/db?x=1") == "mongodb://user:***@h:1/db?x=1"
    assert mask_uri("sqlite:///var/x.sqlite") == "sqlite:///var/x.sqlite"


def test_the_minimal_profile_validates_and_builds_its_units():
    ds = profile_from_dict(MINIMAL)
    assert (ds.native_unit, ds.transformed_unit) == (
        UnitKey("demo", "oai_dc"),
        UnitKey("demo", "PE", "store", "transformed"),
    )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"api": {"protocol": "oai", "baseurl": "ftp://x", "metadata_prefix": "oai_dc"}},
            ("api.baseurl", "pattern", "'ftp://x' is not an http(s) URL"),
        ),
        ({"nsprefix": "bad prefix!"}, ("nsprefix", "pattern", "'bad prefix!' is not a valid nsprefix")),
        ({"extra": 1}, ("extra", "additionalProperties", "unknown field")),
        ({"api": {"protocol": "gopher"}}, ("api.protocol", "enum", "'gopher' is not one of")),
    ],
)
def test_profile_errors_name_field_and_rule(change, expected):
    errors = validate_profile({**MINIMAL, **change}, file="registry/demo.yaml")
    field, rule, message = expected
    assert any(
        e.field == field and e.rule == rule and message in e.message and e.file == "registry/demo.yaml"
        for e in errors
    ), [str(e) for e in errors]
    assert pickle.loads(pickle.dumps(errors[0])).rule == errors[0].rule


def test_missing_required_field_and_broken_yaml(tmp_path):
    errors = validate_profile({k: v for k, v in MINIMAL.items() if k != "nsprefix"}, file="p.yaml")
    assert [(e.field, e.rule) for e in errors] == [("nsprefix", "required")]
    broken = tmp_path / "broken.yaml"
    broken.write_text("id: [\n")
    (error,) = check_profile_file(broken)
    assert str(error) == f"{broken}:2:1: not valid YAML: expected the node content, but found '<stream end>'"


def test_registry_refuses_duplicate_ids_and_unknown_names(tmp_path):
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(MINIMAL))
    registry = DatasourceRegistry(tmp_path)
    assert [d.id for d in registry.all()] == ["demo"]
    with pytest.raises(ConfigError, match="unknown datasource 'nope'; known: demo"):
        registry.get("nope")
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(MINIMAL))
    # the second file with the same id is invalid; the first still works
    assert [d.path.name for d in registry.all()] == ["a.yaml"]
    (bad,) = registry.invalid()
    assert (bad.path.name, bad.reason) == (
        "b.yaml",
        f"id: duplicate datasource id 'demo' (also in {tmp_path / 'a.yaml'})",
    )


@pytest.fixture
def env(tmp_path):
    registry = tmp_path / "registry"
    registry.mkdir()
    (registry / "demo.yaml").write_text(yaml.safe_dump(MINIMAL))
    store_uri = f"sqlite:///{tmp_path / 'md.sqlite'}"
    with open_store(store_uri) as store:
        tx = store.begin(UnitKey("demo", "oai_dc"), "full")
        tx.write([(RecordInput("oai:1", "<a/>"), False), (RecordInput("oai:2", None), True)])
        tx.commit()
    return {
        "CONTENTCLOUD_MDSTORE": store_uri,
        "CONTENTCLOUD_REGISTRY": str(registry),
        "CONTENTCLOUD_VAR": str(tmp_path / "var"),
    }


def invoke(env, *args):
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_cli_datasource_validate_list_and_mdstore_commands(env, tmp_path):
    good = invoke(env, "datasource", "validate", f"{env['CONTENTCLOUD_REGISTRY']}/demo.yaml")
    assert good.exit_code == 0 and good.output.strip().endswith("demo.yaml: ok")
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**MINIMAL, "id": "bad id"}))
    result = invoke(env, "datasource", "validate", str(bad))
    assert result.exit_code == 2
    assert f"{bad}: id: 'bad id' is not a valid id" in result.output
    listing = json.loads(invoke(env, "datasource", "list", "--json").output)
    assert [(d["id"], d["protocol"], d["format"]) for d in listing] == [("demo", "oai", "oai_dc")]
    units = json.loads(invoke(env, "mdstore", "list", "--json").output)
    assert [(u["unit"], u["stats"]["present"], u["stats"]["deleted"]) for u in units] == [
        ("demo/oai_dc/store/native", 1, 1)
    ]
    ids = invoke(env, "mdstore", "export", "demo", "--ids-only")
    assert sorted(ids.output.splitlines()) == ["oai:1\tpresent", "oai:2\tdeleted"]
    full = [json.loads(line) for line in invoke(env, "mdstore", "export", "demo").output.splitlines()]
    assert {(r["originalId"], r["deleted"], r["body"]) for r in full} == {
        ("oai:1", False, "<a/>"),
        ("oai:2", True, None),
    }
    assert invoke(env, "mdstore", "gc", "--keep", "1").output.startswith("removed 0 version(s)")
    negative = CliRunner().invoke(cli, ["mdstore", "gc", "--keep", "-1"], env=env)
    assert negative.exit_code == 2
    assert "Invalid value for '--keep': -1 is not in the range x>=0." in negative.output
    rollback = CliRunner().invoke(cli, ["mdstore", "rollback", "demo"], env=env)
    assert rollback.exit_code != 0
    settings = json.loads(invoke(env, "settings", "show", "--json").output)
    assert settings["registry"]["origin"] == "env:CONTENTCLOUD_REGISTRY"


def test_every_command_has_help():
    from contentcloud.cli import COMMANDS

    for name in COMMANDS:
        result = CliRunner().invoke(cli, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert "Usage:" in result.output


def test_schema_errors_name_their_fields_from_the_error_objects():
    """Several missing fields, each once; unknown fields named where they are, quotes and all."""
    profile = {k: v for k, v in MINIMAL.items() if k not in ("nsprefix", "name")}
    profile["api"] = {**MINIMAL["api"], "it's": 1}
    errors = validate_profile(profile, file="p.yaml")
    assert [(e.field, e.rule, e.message) for e in errors] == [
        ("name", "required", "'name' is a required property"),
        ("nsprefix", "required", "'nsprefix' is a required property"),
        ("api.it's", "additionalProperties", "unknown field (Additional properties are not allowed "
         "(\"it's\" was unexpected))"),
    ]
