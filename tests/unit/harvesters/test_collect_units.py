"""Pieces of the collect step that need no server: secrets, prefetch ordering and errors."""

from __future__ import annotations

import pytest

from contentcloud.pipeline.collect import prefetch, resolve_secrets
from mdstore.errors import ConfigError


def test_secrets_are_resolved_from_the_given_environment_only():
    api = {"protocol": "http", "headers_env": {"Authorization": "TOKEN"}, "password_env": "PW", "url": "u"}
    assert resolve_secrets(api, {"TOKEN": "Bearer x", "PW": "p"}) == {
        "protocol": "http",
        "headers": {"Authorization": "Bearer x"},
        "password": "p",
        "url": "u",
    }
    with pytest.raises(ConfigError) as caught:
        resolve_secrets(api, {"TOKEN": "Bearer x"}, file="registry/x.yaml")
    assert str(caught.value) == "registry/x.yaml: api.password_env: the environment variable PW is not set"


def test_prefetch_keeps_order_and_reraises_after_the_pages_before():
    def pages():
        yield from range(5)
        raise RuntimeError("boom")

    seen = []

    def consume() -> None:
        for item in prefetch(pages()):
            seen.append(item)

    with pytest.raises(RuntimeError, match="boom"):
        consume()
    assert seen == [0, 1, 2, 3, 4]


def test_prefetch_stops_the_producer_when_the_consumer_stops():
    closed = []

    def pages():
        try:
            yield from range(1000)
        finally:
            closed.append(True)

    for item in prefetch(pages()):
        if item == 3:
            break
    assert closed == [True]
