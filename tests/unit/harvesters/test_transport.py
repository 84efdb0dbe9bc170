"""Retry arithmetic, Retry-After parsing and the connect budget of the shared transport (no network)."""

from __future__ import annotations

import errno
import re
from datetime import UTC, datetime

import pytest
import requests
import urllib3
from hypothesis import given
from hypothesis import strategies as st

from harvesters.repair import html_error_title
from harvesters.transport import ConnectFailed, RetryPolicy, Transport, parse_retry_after
from mdstore.errors import TransportError


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


def _refused() -> requests.ConnectionError:
    """What requests raises for a refused connection (built as urllib3 2 chains it)."""
    new = urllib3.exceptions.NewConnectionError(None, "Failed to establish a new connection: [Errno 111]")
    new.__cause__ = ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")
    return requests.ConnectionError(urllib3.exceptions.MaxRetryError(None, "/oai", new))


def _dropped() -> requests.ConnectionError:
    return requests.ConnectionError(
        urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError(104, "reset"))
    )


def _transport(failure, monkeypatch, sleeps):
    transport = Transport(retry=RetryPolicy(max_retries=5, sleep=sleeps.append), datasource="src")
    calls = []

    def get(*args, **kwargs):
        calls.append(args)
        raise failure()

    monkeypatch.setattr(transport.session, "get", get)
    return transport, calls


def test_a_refused_connection_gets_the_short_budget_and_one_clear_error(monkeypatch):
    sleeps: list[float] = []
    transport, calls = _transport(_refused, monkeypatch, sleeps)
    with pytest.raises(ConnectFailed) as caught:
        transport.get("http://127.0.0.1:9/oai", page="Identify")
    assert len(calls) == 3 and sleeps == [0.5, 1.0]  # not five retries with minutes of back-off
    assert re.fullmatch(
        r"src: http://127\.0\.0\.1:9/oai: Identify: cannot connect to 127\.0\.0\.1:9 \(connection refused;"
        r" 3 attempts in \ds\): check that the server is running and that the profile's address is right",
        str(caught.value),
    )
    assert caught.value.status is None


def test_a_connection_dropped_mid_answer_keeps_the_full_budget(monkeypatch):
    sleeps: list[float] = []
    transport, calls = _transport(_dropped, monkeypatch, sleeps)
    with pytest.raises(TransportError) as caught:
        transport.get("http://127.0.0.1:9/oai")
    assert not isinstance(caught.value, ConnectFailed)
    assert len(calls) == 6 and len(sleeps) == 5
    assert "gave up after 6 attempts" in str(caught.value)


def test_the_connect_budget_never_exceeds_max_retries(monkeypatch):
    sleeps: list[float] = []
    transport = Transport(retry=RetryPolicy(max_retries=0, sleep=sleeps.append))
    monkeypatch.setattr(transport.session, "get", lambda *a, **k: (_ for _ in ()).throw(_refused()))
    with pytest.raises(ConnectFailed, match=r"\(connection refused; 1 attempt in 0s\)"):
        transport.get("http://localhost:9/")
    assert sleeps == []
