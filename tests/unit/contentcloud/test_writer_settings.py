"""The writer-lock settings: defaults, the environment, and a timeout that must outlast heartbeats."""

from __future__ import annotations

import pytest

from contentcloud.settings import load_settings
from mdstore import open_store
from mdstore.errors import ConfigError


def test_defaults_and_environment_reach_the_store(tmp_path):
    defaults = load_settings(environ={}, base_dir=tmp_path)
    assert (defaults.writer_heartbeat, defaults.writer_timeout) == (10.0, 30.0)
    env = {"CONTENTCLOUD_WRITER_HEARTBEAT": "0.5", "CONTENTCLOUD_WRITER_TIMEOUT": "2"}
    settings = load_settings(environ=env, base_dir=tmp_path)
    assert settings.store_options() == {"keep": 3, "lease_ttl": 3600, "heartbeat": 0.5, "writer_timeout": 2.0}
    assert settings.origins["writer_timeout"] == "env:CONTENTCLOUD_WRITER_TIMEOUT"
    with open_store(f"sqlite:///{tmp_path / 'm.sqlite'}", **settings.store_options()) as store:
        assert (store.heartbeat, store.writer_timeout) == (0.5, 2.0)
    with open_store(f"sqlite:///{tmp_path / 'm.sqlite'}", heartbeat=4) as store:
        assert store.writer_timeout == 12  # three heartbeats unless told


@pytest.mark.parametrize(
    "env",
    [
        {"CONTENTCLOUD_WRITER_TIMEOUT": "5"},
        {"CONTENTCLOUD_WRITER_HEARTBEAT": "0"},
        {"CONTENTCLOUD_WRITER_HEARTBEAT": "30", "CONTENTCLOUD_WRITER_TIMEOUT": "30"},
    ],
)
def test_a_timeout_that_does_not_outlast_the_heartbeat_is_refused(tmp_path, env):
    with pytest.raises(ConfigError) as err:
        load_settings(environ=env, base_dir=tmp_path)
    heartbeat = float(env.get("CONTENTCLOUD_WRITER_HEARTBEAT", 10))
    timeout = float(env.get("CONTENTCLOUD_WRITER_TIMEOUT", 30))
    assert err.value.field == "writer_timeout" and err.value.rule == "writer-timeout"
    assert err.value.message == (
        f"writer_timeout ({timeout:g} s) must be longer than a positive writer_heartbeat "
        f"({heartbeat:g} s); three heartbeats is usual"
    )
