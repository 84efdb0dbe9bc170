"""Is a text an absolute URI, and how the reference engine repairs one that is not.

The reference (``gr.forth.UriValidator``) first asks ``java.net.URI`` (RFC 2396, strict about
spaces and brackets, lenient about non-ASCII "other" characters); when that fails it lets
Spring's ``UriComponentsBuilder`` split the text into components and percent-encode each one,
then asks ``java.net.URI`` again. The result counts as a URI when it has a scheme. This module
reproduces both steps closely enough for the generators that depend on it (URIorUUID,
UriExistingOrNew, RemoveTerm, custom generators with a prefix).
"""

from __future__ import annotations

import re

__all__ = ["UriRepairError", "encode_uri", "is_java_uri", "is_valid_uri"]

_ALPHA = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_DIGIT = "0123456789"
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+\-.]*$")

# java.net.URI (RFC 2396): unreserved = alphanum | mark; reserved; escaped
_J_UNRESERVED = set(_ALPHA + _DIGIT + "-_.!~*'()")
_J_RESERVED = set(";/?:@&=+$,")
_J_URIC = _J_UNRESERVED | _J_RESERVED | {"[", "]"}  # brackets only in IPv6 hosts, checked below

_HEX = "0123456789ABCDEF"


class UriRepairError(ValueError):
    """Spring's encoding produced text that ``java.net.URI`` still rejects."""


def _is_other(ch: str) -> bool:
    """``java.net.URI``'s "other" category: non-ASCII, not a control or space character."""
    if ord(ch) < 0x80:
        return False
    import unicodedata

    cat = unicodedata.category(ch)
    return not (cat.startswith("Z") or cat == "Cc")


#: the ASCII texts :func:`_valid_chars` accepts (no ``extra``): what the loop checks character by
#: character, in one regular expression match
_ASCII_URIC = re.compile(r"(?:[A-Za-z0-9\-_.!~*'();/?:@&=+$,]|%[0-9a-fA-F]{2})*")


def _valid_chars(text: str, extra: str = "") -> bool:
    if not extra and text.isascii():  # no "other" characters: the loop below in one match
        return _ASCII_URIC.fullmatch(text) is not None
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "%":
            if (
                i + 2 >= n
                or text[i + 1] not in "0123456789abcdefABCDEF"
                or text[i + 2] not in "0123456789abcdefABCDEF"
            ):
                return False
            i += 3
            continue
        if ch in _J_UNRESERVED or ch in _J_RESERVED or ch in extra or _is_other(ch):
            i += 1
            continue
        return False
    return True


def _java_parse(text: str) -> tuple[bool, bool]:
    """(parses, is absolute) for ``new java.net.URI(text)``."""
    if text == "":
        return True, False
    ssp_and_frag = text
    scheme = None
    colon = text.find(":")
    first_delim = min(
        [p for p in (text.find("/"), text.find("?"), text.find("#")) if p >= 0], default=len(text)
    )
    if 0 < colon < first_delim:
        scheme = text[:colon]
        if not _SCHEME.match(scheme):
            return False, False
        ssp_and_frag = text[colon + 1 :]
        if ssp_and_frag == "":
            return False, False  # "Expected scheme-specific part"
    elif colon == 0:
        return False, False
    ssp, _, frag = ssp_and_frag.partition("#")
    if "#" in frag:
        return False, False
    if not _valid_chars(frag):
        return False, False
    if scheme is not None and not ssp.startswith("/"):
        # opaque URI: any uric characters (brackets not allowed)
        return _valid_chars(ssp), True
    path_part = ssp
    if path_part.startswith("//"):
        rest = path_part[2:]
        end = min([p for p in (rest.find("/"), rest.find("?")) if p >= 0], default=len(rest))
        authority, path_part = rest[:end], rest[end:]
        host = authority.rpartition("@")[2]
        if "[" in authority or "]" in authority:
            if not re.match(r"^\[[0-9A-Fa-f:.]+\](:\d*)?$", host):
                return False, False
            authority = authority.replace(host, "h")
        if not _valid_chars(authority):
            return False, False
    path, _, query = path_part.partition("?")
    if not _valid_chars(path) or not _valid_chars(query):
        return False, False
    return True, scheme is not None


def _ascii(text: str) -> str:
    """``URI.toASCIIString``: non-ASCII characters become UTF-8 percent escapes."""
    if text.isascii():
        return text
    return "".join(ch if ord(ch) < 0x80 else _pct(ch) for ch in text)


def _pct(text: str) -> str:
    return "".join("%" + _HEX[b >> 4] + _HEX[b & 15] for b in text.encode("utf-8"))


_UNRESERVED = set(_ALPHA + _DIGIT + "-._~")
_SUB_DELIMS = set("!$&'()*+,;=")
_PCHAR = _UNRESERVED | _SUB_DELIMS | {":", "@"}
_ALLOWED = {
    "scheme": set(_ALPHA + _DIGIT + "+-."),
    "userinfo": _UNRESERVED | _SUB_DELIMS | {":"},
    "host": _UNRESERVED | _SUB_DELIMS,
    "port": set(_DIGIT),
    "path": _PCHAR | {"/"},
    "query_param": (_PCHAR | {"/", "?"}) - {"=", "&"},
    "fragment": _PCHAR | {"/", "?"},
}

_SPRING = re.compile(
    r"^(([^:/?#\\]+):)?"
    r"(//(([^/?#\\]*)@)?(\[[0-9A-Fa-f:.]*[%0-9A-Za-z]*\]|[^/?#:\\]*)(:(\{[^}]+\}?|[^/?#\\]*))?)?"
    r"([^?#]*)(\?([^#]*))?(#(.*))?$",
    re.DOTALL,
)


def _spring_component(value: str, kind: str) -> str:
    allowed = _ALLOWED[kind]
    return "".join(ch if ch in allowed else _pct(ch) for ch in value)


def _spring_encode(text: str) -> str:
    """``UriComponentsBuilder.fromUriString(text).build().encode().toUriString()``."""
    m = _SPRING.match(text)
    if not m:  # cannot happen: every part is optional
        return _spring_component(text, "path")
    scheme, userinfo, host, port = m.group(2), m.group(5), m.group(6), m.group(8)
    path, query, fragment = m.group(9), m.group(11), m.group(13)
    out = []
    if scheme is not None:
        out.append(_spring_component(scheme, "scheme") + ":")
    if m.group(3) is not None:
        out.append("//")
        if userinfo is not None:
            out.append(_spring_component(userinfo, "userinfo") + "@")
        if host:
            out.append(host if host.startswith("[") else _spring_component(host, "host"))
        if port:
            out.append(":" + _spring_component(port, "port"))
    out.append(_spring_component(path, "path"))
    if query is not None:
        params = []
        for pair in query.split("&"):
            if not pair:
                continue
            name, eq, value = pair.partition("=")
            params.append(
                _spring_component(name, "query_param")
                + (eq + _spring_component(value, "query_param") if eq else "")
            )
        if params:
            out.append("?" + "&".join(params))
    if fragment is not None:
        out.append("#" + _spring_component(fragment, "fragment"))
    return "".join(out)


def encode_uri(text: str) -> tuple[str, bool]:
    """``UriValidator.encodeURI(text)``: the ASCII form and whether it is absolute.

    Raises :class:`UriRepairError` where the reference throws ``IllegalStateException``.
    """
    ok, absolute = _java_parse(text)
    if ok and absolute:
        return _ascii(text), True
    encoded = _spring_encode(text)
    ok, absolute = _java_parse(encoded)
    if not ok:
        raise UriRepairError(f"{text!r} cannot be encoded as a URI")
    return _ascii(encoded), absolute


def is_java_uri(text: str) -> bool:
    """``new java.net.URI(text)`` succeeds."""
    return _java_parse(text)[0]


def is_valid_uri(text: str) -> bool:
    """``UriValidator.isValid``: the (repaired) text is an absolute URI."""
    try:
        return encode_uri(text)[1]
    except UriRepairError:
        return False
