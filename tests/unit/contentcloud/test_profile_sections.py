"""The typed profile sections against the schema: one source of defaults, and the one error rate."""

from __future__ import annotations

import json
import logging
from dataclasses import MISSING, Field, fields
from types import SimpleNamespace
from typing import Any

import pytest

from contentcloud import datasources
from contentcloud.datasources import SCHEMA_PATH, profile_from_dict
from contentcloud.pipeline.index import FeedSettings, feed_settings
from contentcloud.sections import (
    IndexSection,
    Limits,
    PublishSection,
    RdfSection,
    TransformSection,
    error_rate,
)
from harvesters.download.config import DownloadConfig, Filters
from harvesters.ftp import FtpApi, FtpHarvester
from harvesters.http.harvester import HttpApi
from harvesters.oai.harvester import OaiApi, OaiHarvester
from harvesters.transport import RetryPolicy, Transport
from mdstore.sections import profile_key

SCHEMA = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))

#: section class, its part of the schema, and the schema properties it leaves to others on purpose
SECTIONS: list[tuple[type, dict[str, Any], set[str]]] = [
    # protocol picks the class; *_env names are resolved into username/password/headers values
    (OaiApi, SCHEMA["$defs"]["oai"], {"protocol", "headers_env", "password_env"}),
    (HttpApi, SCHEMA["$defs"]["http"], {"protocol", "headers_env", "password_env"}),
    (FtpApi, SCHEMA["$defs"]["ftp"], {"protocol", "username_env", "password_env"}),
    (TransformSection, SCHEMA["$defs"]["transform"], set()),
    (IndexSection, SCHEMA["$defs"]["index"], set()),
    (RdfSection, SCHEMA["$defs"]["rdf"], set()),
    # oai_dc_xslt: absent and null differ (publish.py reads it from the mapping)
    (PublishSection, SCHEMA["$defs"]["publish"], {"oai_dc_xslt"}),
    (Limits, SCHEMA["properties"]["limits"], set()),
    # allow.hosts/networks are flattened into allow_hosts/allow_networks
    (DownloadConfig, SCHEMA["$defs"]["download"], {"allow"}),
    (Filters, SCHEMA["$defs"]["download"]["properties"]["filters"], set()),
]


def _default(f: Field) -> Any:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return MISSING


def _schema_default(prop: dict[str, Any]) -> Any:
    value = prop["default"]
    return tuple(value) if isinstance(value, list) else value


@pytest.mark.parametrize(("cls", "schema", "elsewhere"), SECTIONS, ids=[c.__name__ for c, _, _ in SECTIONS])
def test_every_section_field_defaults_to_what_the_schema_says(cls, schema, elsewhere):
    props = schema["properties"]
    by_key = {profile_key(f): f for f in fields(cls)}
    # every field the profile can set is read, under its schema name
    assert set(props) - set(by_key) == elsewhere
    for name, prop in props.items():
        if name in elsewhere:
            continue
        default = _default(by_key[name])
        if name in schema.get("required", ()):
            # no default, or an empty one: the section of a profile without it (no transform steps)
            assert default is MISSING or default == (), f"{cls.__name__}.{name} is required: no default"
        elif "default" in prop:
            expected = _schema_default(prop)
            assert default == expected, f"{cls.__name__}.{name}: {default!r}, the schema says {expected!r}"
        elif isinstance(default, Filters):  # a nested section, checked on its own
            continue
        else:
            assert default in (None, (), {}), f"{cls.__name__}.{name}: {default!r} but no schema default"


def test_a_schema_default_that_changes_is_caught(monkeypatch):
    """The check above can fail: a section whose default differs from the schema is reported."""
    oai = json.loads(json.dumps(SCHEMA["$defs"]["oai"]))
    oai["properties"]["max_retries"]["default"] = 7
    with pytest.raises(AssertionError, match=r"OaiApi.max_retries: 5, the schema says 7"):
        test_every_section_field_defaults_to_what_the_schema_says(OaiApi, oai, SECTIONS[0][2])
    oai["properties"]["new_knob"] = {"type": "integer", "default": 1}
    with pytest.raises(AssertionError):
        test_every_section_field_defaults_to_what_the_schema_says(OaiApi, oai, SECTIONS[0][2])


def _profile(**extra: Any):
    return profile_from_dict(
        {
            "id": "demo",
            "name": "Demo",
            "nsprefix": "demo",
            "api": {"protocol": "oai", "baseurl": "http://127.0.0.1:1/oai", "metadata_prefix": "oai_dc"},
            **extra,
        }
    )


def test_an_empty_profile_has_the_schema_defaults_in_its_sections():
    ds = _profile()
    assert ds.transform == TransformSection()
    assert (ds.transform.output, ds.transform.target_format, ds.transform.records_per_part) == (
        "ntriples",
        "PE",
        50000,
    )
    assert (ds.index.enabled, ds.index.profile, ds.index.name, ds.index.workers) == (True, "pe", None, 1)
    assert ds.publish.formats == ("native", "transformed", "oai_dc")
    assert ds.limits == Limits(max_error_rate=None, min_records=None, max_drop_ratio=None)
    assert ds.transformed_unit.name == "demo/PE/store/transformed"
    # built once per profile
    assert ds.transform is ds.transform and ds.limits is ds.limits


def test_sections_read_what_the_profile_writes():
    ds = _profile(
        transform={
            "steps": [{"type": "xslt", "mapping": "a.xsl"}],
            "output": "rdfxml",
            "target_format": "EDM",
        },
        index={"enabled": False, "name": "core-1", "workers": 0},
        publish={"formats": ["native"], "sets": [{"spec": "a", "name": "A"}]},
        limits={"min_records": 3, "max_drop_ratio": 0.5},
    )
    assert ds.transform.steps == ({"type": "xslt", "mapping": "a.xsl"},)
    assert (ds.transform.output, ds.transformed_unit.format) == ("rdfxml", "EDM")
    assert (ds.index.enabled, ds.index.name, ds.index.workers) == (False, "core-1", 0)
    assert ds.publish.formats == ("native",)
    assert ds.publish.sets == ({"spec": "a", "name": "A"},)
    assert ds.limits == Limits(min_records=3, max_drop_ratio=0.5)


def test_api_sections_map_profile_keys_and_freeze_lists():
    api = OaiApi.from_mapping(
        {
            "protocol": "oai",
            "baseurl": "http://127.0.0.1:1/oai",
            "metadata_prefix": "oai_dc",
            "from": "2024-01-01",
            "sets": ["a", "b"],
            "password_env": "SECRET",
        }
    )
    assert (api.from_, api.sets, api.max_retries, api.password) == ("2024-01-01", ("a", "b"), 5, None)
    assert OaiApi.from_mapping(api) is api
    ftp = FtpApi.from_mapping({"host": "127.0.0.1", "include": ["*.xml"]})
    assert (ftp.max_retries, ftp.port, ftp.include, ftp.format) == (3, 21, ("*.xml",), "xml")
    assert _profile().api_section == OaiApi(baseurl="http://127.0.0.1:1/oai", metadata_prefix="oai_dc")


def test_transport_from_profile_takes_the_connection_fields_of_the_section():
    api = OaiApi(
        baseurl="http://127.0.0.1:1/oai",
        metadata_prefix="oai_dc",
        timeout=7,
        max_time=70,
        max_retries=2,
        backoff=0.5,
        max_backoff=4,
        user_agent="ua/1",
        username="harvester",
        password="s3cret",
        headers={"X-Token": "t"},
    )
    transport = Transport.from_profile(api, datasource="demo")
    assert (transport.timeout, transport.max_time, transport.datasource) == (7, 70, "demo")
    assert transport.auth == ("harvester", "s3cret")
    assert transport.headers == {"User-Agent": "ua/1", "Accept-Encoding": "gzip, deflate", "X-Token": "t"}
    assert (transport.retry.max_retries, transport.retry.backoff, transport.retry.max_backoff) == (
        2,
        0.5,
        4.0,
    )
    step = RetryPolicy(max_retries=9)
    assert Transport.from_profile(api, retry=step).retry is step
    assert Transport.from_profile(OaiApi(baseurl="x", metadata_prefix="y")).auth is None


def test_harvesters_take_their_typed_sections():
    oai = OaiHarvester.from_profile(
        {"baseurl": "http://127.0.0.1:1/oai", "metadata_prefix": "oai_dc", "max_page_bytes": 4096},
        datasource="demo",
    )
    assert (oai.client.max_page_bytes, oai.transport.retry.max_retries, oai.sets) == (4096, 5, [None])
    ftp = FtpHarvester.from_profile({"host": "127.0.0.1", "path": "/data/"}, datasource="demo")
    assert (ftp.root, ftp.retry.max_retries, ftp.username, ftp.include) == ("/data", 3, "anonymous", ["*"])


def test_one_error_rate_limits_first_then_the_setting():
    assert error_rate(Limits(), 0.05) == 0.05
    assert error_rate(Limits(max_error_rate=0.2), 0.05) == 0.2
    assert error_rate(Limits(max_error_rate=0.0), 0.05) == 0.0
    assert error_rate(Limits(max_error_rate=0.2), 0.05, transform=TransformSection()) == 0.2
    # the deprecated transform.max_error_rate still rules the transform step alone
    old = TransformSection(max_error_rate=0.4)
    assert error_rate(Limits(max_error_rate=0.2), 0.05, transform=old) == 0.4
    assert error_rate(Limits(max_error_rate=0.2), 0.05) == 0.2


def test_the_deprecated_transform_error_rate_is_logged_once_per_profile(caplog, monkeypatch):
    monkeypatch.setattr(datasources, "_warned", set())
    profile = {"transform": {"steps": [{"type": "xslt", "mapping": "a.xsl"}], "max_error_rate": 0.4}}
    with caplog.at_level(logging.WARNING, logger="contentcloud.datasources"):
        ds = _profile(**profile)
        _profile(**profile)
        _profile()
    assert [r.getMessage() for r in caplog.records] == [
        "profile 'demo': transform.max_error_rate is deprecated: use limits.max_error_rate "
        "(one error rate for every step)"
    ]
    assert ds.transform.max_error_rate == 0.4


def test_feed_settings_are_typed():
    from contentcloud.shipped import MAPPINGS_DIR

    # feed_settings reads these two settings only
    settings = SimpleNamespace(mappings=str(MAPPINGS_DIR), error_rate=0.05)
    ds = _profile(
        transform={
            "steps": [{"type": "xslt", "mapping": "a.xsl"}],
            "output": "turtle",
            "max_error_rate": 0.4,
        },
        index={"workers": 3, "records_per_part": 10},
        limits={"max_error_rate": 0.1},
    )
    options = feed_settings(ds, settings)
    assert isinstance(options, FeedSettings)
    # the index step keeps to limits.max_error_rate: the deprecated field is the transform step's
    assert (options.max_error_rate, options.rdf_format, options.workers, options.records_per_part) == (
        0.1,
        "turtle",
        3,
        10,
    )
    assert options.profile.name == "pe"
    # an unwritten transform.output is recognised per record, as before
    assert feed_settings(_profile(), settings).rdf_format is None
    assert feed_settings(_profile(), settings).max_error_rate == 0.05


def test_datasource_validate_warns_of_a_deprecated_field_and_still_passes(tmp_path):
    from click.testing import CliRunner

    from contentcloud.cli import cli

    old = tmp_path / "old.yaml"
    old.write_text(
        "id: old\nname: Old\nnsprefix: old\n"
        "api: {protocol: oai, baseurl: 'http://127.0.0.1:1/oai', metadata_prefix: oai_dc}\n"
        "transform: {max_error_rate: 0.3, steps: [{type: xslt, mapping: a.xsl}]}\n",
        encoding="utf-8",
    )
    new = tmp_path / "new.yaml"
    new.write_text(old.read_text().replace("max_error_rate: 0.3, ", "") + "limits: {max_error_rate: 0.3}\n")
    result = CliRunner().invoke(cli, ["datasource", "validate", str(old), str(new)])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{old}: ok\n{new}: ok\n"
    assert result.stderr == (
        f"{old}: warning: transform.max_error_rate is deprecated: use limits.max_error_rate "
        "(one error rate for every step)\n"
    )
