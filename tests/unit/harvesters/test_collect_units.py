"""Pieces of the collect step that need no server: secrets, prefetch ordering and errors."""

from __future__ import annotations

import threading
import time

import pytest

from contentcloud.pipeline.collect import prefetch, resolve_secrets
from harvesters.base import Page
from mdstore.envelope import RecordInput
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


def _page(n: int, body: str = "") -> Page:
    return Page(items=[(RecordInput(f"oai:x:{n}", body), False)], checkpoint={"page": n})


def _numbers(pages) -> list[int]:
    return [page.checkpoint["page"] for page in pages]


def test_prefetch_keeps_order_and_reraises_after_the_pages_before():
    def pages():
        yield from map(_page, range(5))
        raise RuntimeError("boom")

    seen = []

    def consume() -> None:
        for item in prefetch(pages()):
            seen.append(item)

    with pytest.raises(RuntimeError, match="boom"):
        consume()
    assert _numbers(seen) == [0, 1, 2, 3, 4]


def test_prefetch_stops_the_producer_when_the_consumer_stops():
    closed = []

    def pages():
        try:
            yield from map(_page, range(1000))
        finally:
            closed.append(True)

    for item in prefetch(pages()):
        if item.checkpoint["page"] == 3:
            break
    assert closed == [True]


def test_prefetch_runs_ahead_by_at_most_its_depth_and_bytes_and_hands_over_what_came():
    fetched: list[int] = []
    asked = threading.Event()

    def pages():
        for n in range(6):
            fetched.append(n)
            yield _page(n, "x" * 1000)
        asked.wait(5)  # the last answer is slow: the writer must not wait for it to write the rest
        yield _page(6)

    def settle(count: int) -> None:
        """Wait for the fetcher to reach ``count`` pages, then a little more: it must stop there."""
        deadline = time.monotonic() + 5
        while len(fetched) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.1)

    by_pages = prefetch(pages(), depth=3)
    it = iter(by_pages)
    assert _numbers([next(it)]) == [0]
    settle(5)
    assert fetched == [0, 1, 2, 3, 4]  # three queued, one more waiting for room
    assert _numbers(by_pages.take_ready()) == [1, 2, 3]  # all that came, none waited for
    settle(6)
    assert _numbers(by_pages.take_ready()) == [4, 5]
    assert by_pages.take_ready() == []  # the next is not there yet
    asked.set()
    assert _numbers(it) == [6]

    fetched.clear()
    asked.clear()
    by_bytes = prefetch(pages(), depth=10, max_bytes=2500)
    it = iter(by_bytes)
    next(it)
    settle(4)
    assert fetched == [0, 1, 2, 3]  # 2,000 bytes queued; the third page would pass 2,500
    asked.set()
    assert _numbers(it) == [1, 2, 3, 4, 5, 6]


def test_prefetch_leaves_an_error_after_the_pages_that_came_before_it():
    def pages():
        yield from map(_page, range(3))
        raise RuntimeError("boom")

    fetched = prefetch(pages())
    it = iter(fetched)
    first = next(it)
    time.sleep(0.2)
    assert _numbers([first, *fetched.take_ready()]) == [0, 1, 2]
    with pytest.raises(RuntimeError, match="boom"):
        next(it)
