"""Masking of secrets in URLs and texts (mdstore.redact)."""

from __future__ import annotations

import logging

import pytest

from mdstore.errors import TransportError
from mdstore.redact import MaskSecrets, has_userinfo, mask_text, mask_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://user:pass@host/oai", "http://***@host/oai"),
        ("https://user@host:8443/oai?verb=Identify", "https://***@host:8443/oai?verb=Identify"),
        ("http://host/api?apiKey=abc&q=x&access-token=t1", "http://host/api?apiKey=***&q=x&access-token=***"),
        (
            "http://host/x?X-Amz-Signature=ff&X-Amz-Credential=cc",
            "http://host/x?X-Amz-Signature=***&X-Amz-Credential=***",
        ),
        ("http://host/oai?resumptionToken=abc&token=", "http://host/oai?resumptionToken=abc&token="),
        ("http://a:b@[::1/broken?password=p", "http://***@[::1/broken?password=***"),
        ("http://host/plain", "http://host/plain"),
        (None, None),
        ("", ""),
    ],
)
def test_mask_url(url, expected):
    assert mask_url(url) == expected


def test_mask_text_masks_every_url_and_loose_secret_parameters():
    text = "GET http://u:p@h/a?key=K failed (url: /a?key=K&verb=x); see https://h/b"
    assert mask_text(text) == "GET http://***@h/a?key=*** failed (url: /a?key=***&verb=x); see https://h/b"


def test_has_userinfo():
    assert has_userinfo("http://u:p@h/") and has_userinfo("ftp://u@h/")
    assert not has_userinfo("http://h/@x") and not has_userinfo("mailto:a@b")


def test_errors_are_masked_when_made():
    error = TransportError(
        "cannot reach http://u:pw@h/oai?token=T", url="http://u:pw@h/oai?token=T", page="p 1"
    )
    assert str(error) == "http://***@h/oai?token=***: p 1: cannot reach http://***@h/oai?token=***"
    assert error.as_dict()["url"] == "http://***@h/oai?token=***"


def test_the_logging_filter_masks_the_formatted_message():
    record = logging.LogRecord("x", logging.DEBUG, __file__, 1, '"GET /a?apikey=%s HTTP/1.1"', ("S3",), None)
    assert MaskSecrets().filter(record)
    assert record.getMessage() == '"GET /a?apikey=*** HTTP/1.1"'
