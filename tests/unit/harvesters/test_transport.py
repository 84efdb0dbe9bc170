"""Retry arithmetic and Retry-After parsing of the shared transport (no network)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harvesters.repair import html_error_title
from harvesters.transport import RetryPolicy, parse_retry_after


def test_retry_after_in_seconds():
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 7 ") == 7.0


def test_retry_after_as_http_date_uses_the_servers_date():
    assert (
        parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", server_date="Wed, 21 Oct 2015 07:28:00 GMT")
        == 30.0
    )
    now = datetime(2015, 10, 21, 7, 28, 25, tzinfo=UTC)
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now=now) == 5.0
    assert (
        parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", server_date="Wed, 21 Oct 2015 08:00:00 GMT") == 0.0
    )


@pytest.mark.parametrize("value", [None, "", "soon", "-5", "1.5e3"])
def test_unreadable_retry_after_is_ignored(value):
    assert parse_retry_after(value) is None


def test_backoff_doubles_and_is_capped_with_jitter():
    policy = RetryPolicy(backoff=1, max_backoff=10, jitter=0.5, rng=lambda: 1.0)
    assert [policy.delay(n) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    no_jitter = RetryPolicy(backoff=1, max_backoff=10, jitter=0.5, rng=lambda: 0.0)
    assert [no_jitter.delay(n) for n in range(6)] == [1, 2, 4, 8, 10, 10]


def test_retry_after_replaces_the_backoff_and_is_capped():
    policy = RetryPolicy(backoff=1, max_retry_after=60)
    assert policy.delay(3, retry_after=2.5) == 2.5
    assert policy.delay(0, retry_after=86400) == 60


@given(st.integers(min_value=0, max_value=60), st.floats(min_value=0, max_value=1))
def test_delay_is_always_within_bounds(attempt, draw):
    policy = RetryPolicy(backoff=2, max_backoff=300, jitter=0.5, rng=lambda: draw)
    assert 0 <= policy.delay(attempt) <= 300


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504, 599])
def test_retryable_statuses(status):
    assert RetryPolicy().is_retryable_status(status)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422])
def test_client_errors_are_not_retried(status):
    assert not RetryPolicy().is_retryable_status(status)


def test_html_error_pages_are_recognised_by_content():
    assert html_error_title(b"<!DOCTYPE html><html><head><title> Bad\n Gateway </title>") == "Bad Gateway"
    assert html_error_title(b"\xef\xbb\xbf  <HTML><body>x</body></HTML>") == "(untitled)"
    assert (
        html_error_title(b'<?xml version="1.0"?><OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">')
        is None
    )
    assert html_error_title(b"<html-ish/>") is None
