"""Masking secrets in URLs before they reach a log, a report, provenance, the store or an error.

Profiles refuse credentials in URLs (``contentcloud.datasources``), but a store written before
that rule, a URL taken from a harvested record or a redirect target may still carry them. So
every URL that leaves the code that uses it goes through :func:`mask_url`: the user-info
(``user:password@``) becomes ``***@`` and the values of query parameters that look like
secrets (``token``, ``api_key``, ``password``…) become ``***``. :func:`mask_text` does the same
for every URL inside a free text (an exception's message) and for ``name=value`` pairs of such
parameters there (requests quotes only the path and query of a failed URL). It lives in the
lowest layer so that harvesters, provision and the pipeline all use this one definition.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit, urlunsplit

MASK = "***"

#: query parameter names whose values are secrets (compared lower-case, ``-`` read as ``_``)
SECRET_PARAMS = frozenset(
    {
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "auth_token",
        "api_token",
        "apitoken",
        "key",
        "apikey",
        "api_key",
        "access_key",
        "secret",
        "client_secret",
        "secret_key",
        "password",
        "passwd",
        "pwd",
        "pass",
        "auth",
        "authorization",
        "signature",
        "sig",
        "session",
        "sessionid",
        "x_amz_signature",
        "x_amz_credential",
        "x_amz_security_token",
    }
)

_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]{1,15}://[^\s<>\"'`]+")
_PARAM = re.compile(r"(?P<name>[A-Za-z0-9_.-]+)=(?P<value>[^&#\s<>\"'`;,)]*)")
_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/?#@]*)@")


def is_secret_param(name: str) -> bool:
    """A query parameter name that carries a secret (``apiKey``, ``access-token``, ``X-Amz-Signature``)."""
    return name.lower().replace("-", "_") in SECRET_PARAMS


def _mask_query(query: str) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group("name")
        return f"{name}={MASK}" if is_secret_param(name) and match.group("value") else match.group(0)

    return _PARAM.sub(one, query)


def mask_url(url: str | None) -> str | None:
    """``url`` with its user-info and secret query values replaced by ``***`` (None stays None).

    Works on anything URL-shaped, even a URL that does not parse (an odd port, a broken IPv6
    literal): the user-info is cut by pattern when :func:`urllib.parse.urlsplit` refuses it.
    """
    if not url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        masked = _USERINFO.sub(lambda m: f"{m.group('scheme')}{MASK}@", url)
        return _mask_query(masked)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rsplit('@', 1)[1]}"
    query = _mask_query(parts.query) if parts.query else parts.query
    fragment = _mask_query(parts.fragment) if "=" in parts.fragment else parts.fragment
    if (netloc, query, fragment) == (parts.netloc, parts.query, parts.fragment):
        return url
    return urlunsplit((parts.scheme, netloc, parts.path, query, fragment))


def mask_text(text: str) -> str:
    """``text`` with every URL in it masked, and secret ``name=value`` pairs outside URLs too."""
    if not text or ("://" not in text and "=" not in text):
        return text
    masked = _URL.sub(lambda m: mask_url(m.group(0)) or "", text)
    return _mask_query(masked) if "=" in masked else masked


def has_userinfo(url: str) -> bool:
    """Does ``url`` carry a user name or password (``scheme://user:pass@host``)?"""
    try:
        parts = urlsplit(url)
    except ValueError:
        return bool(_USERINFO.match(url))
    return bool(parts.scheme) and "@" in parts.netloc


class MaskSecrets(logging.Filter):
    """A logging filter that masks the formatted message (for loggers of libraries that log URLs,
    such as urllib3's request lines at DEBUG); attach it to the logger that makes the records."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, ()
        return True
