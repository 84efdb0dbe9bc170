"""URI templates of generator policies: RFC 6570 expansion and the ``shorten`` algorithms.

Expansion follows the library the reference engine uses (handy-uri-templates 2.1): values are
strings, encoded as UTF-8 with upper-case percent escapes, against the character set of the
operator (unreserved for ``{x}``, reserved for ``{+x}``, fragment for ``{#x}``). Nothing here
knows about XML or X3ML.

Shortening (``shorten="yes"`` on a template generator) exists in two versions:

* :func:`shorten_current` (engine 1.9.2 and later): the expansion up to its last ``/`` is kept
  and the last segment becomes the upper-case name-based (MD5, version 3) UUID of its bytes;
  with no segment after the last ``/`` the whole expansion is replaced.
* :func:`shorten_legacy` (engines 1.8.4–1.9.1): the whole expansion becomes the base-36 form of
  the first eight bytes of the lower-case text of its name-based UUID.
"""

from __future__ import annotations

import hashlib
import re
import uuid

__all__ = [
    "TemplateError",
    "expand",
    "name_uuid",
    "post_process",
    "shorten_current",
    "shorten_legacy",
    "template_variables",
]

_ALPHA_DIGIT = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_UNRESERVED = frozenset((_ALPHA_DIGIT + "-._~").encode())
_SUB_DELIMS = "!$&'()*+,;="
_RESERVED = frozenset((_ALPHA_DIGIT + "-._~" + _SUB_DELIMS + ":/?#[]@").encode())
_FRAGMENT = frozenset((_ALPHA_DIGIT + "-._~" + _SUB_DELIMS + ":@/?").encode())

#: how the reference finds the argument names of a pattern (``X3MLGeneratorPolicy.BRACES``)
_BRACES = re.compile(r"\{[?;+#]?([^}]+)\}")
_EXPRESSION = re.compile(r"\{([^{}]*)\}")
_VARSPEC = re.compile(r"^([A-Za-z0-9_%.]+)(?::([1-9][0-9]{0,3})|(\*))?$")

# operator -> (first, separator, named, if-empty, allowed characters)
_OPERATORS = {
    "": ("", ",", False, "", _UNRESERVED),
    "+": ("", ",", False, "", _RESERVED),
    "#": ("#", ",", False, "", _FRAGMENT),
    ".": (".", ".", False, "", _UNRESERVED),
    "/": ("/", "/", False, "", _UNRESERVED),
    ";": (";", ";", True, "", _UNRESERVED),
    "?": ("?", "&", True, "=", _UNRESERVED),
    "&": ("&", "&", True, "=", _UNRESERVED),
}

_HEX = "0123456789ABCDEF"


class TemplateError(ValueError):
    """The pattern is not a valid URI template (the reference's "Malformed")."""


def _encode(value: str, allowed: frozenset[int]) -> str:
    out = []
    for byte in value.encode("utf-8"):
        if byte in allowed:
            out.append(chr(byte))
        else:
            out.append("%" + _HEX[byte >> 4] + _HEX[byte & 15])
    return "".join(out)


def template_variables(pattern: str) -> list[str]:
    """The argument names the reference asks the mapping for, in pattern order."""
    names: list[str] = []
    for match in _BRACES.finditer(pattern):
        names.extend(match.group(1).split(","))
    return names


def expand(pattern: str, values: dict[str, str]) -> str:
    """RFC 6570 expansion of ``pattern`` with string values (missing names expand to nothing)."""
    out: list[str] = []
    pos = 0
    for match in _EXPRESSION.finditer(pattern):
        literal = pattern[pos : match.start()]
        if "{" in literal or "}" in literal:
            raise TemplateError(f"unbalanced braces in {pattern!r}")
        out.append(literal)
        pos = match.end()
        body = match.group(1)
        op = body[:1] if body[:1] in _OPERATORS and body[:1] != "" else ""
        if body[:1] in "=,!@|":
            raise TemplateError(f"reserved operator in {match.group(0)!r}")
        first, sep, named, if_empty, allowed = _OPERATORS[op]
        parts: list[str] = []
        for spec in body[len(op) :].split(","):
            m = _VARSPEC.match(spec)
            if not m:
                raise TemplateError(f"invalid variable {spec!r} in {pattern!r}")
            name, prefix = m.group(1), m.group(2)
            value = values.get(name)
            if value is None:
                continue
            if prefix:
                value = value[: int(prefix)]
            encoded = _encode(value, allowed)
            if named:
                parts.append(f"{name}{if_empty}" if value == "" else f"{name}={encoded}")
            else:
                parts.append(encoded)
        if parts:
            out.append(first + sep.join(parts))
    rest = pattern[pos:]
    if "{" in rest or "}" in rest:
        raise TemplateError(f"unbalanced braces in {pattern!r}")
    out.append(rest)
    return "".join(out)


def name_uuid(data: str) -> uuid.UUID:
    """``java.util.UUID.nameUUIDFromBytes`` (MD5 of the bytes, version 3, no namespace)."""
    digest = bytearray(hashlib.md5(data.encode("utf-8")).digest())  # noqa: S324 - the reference's algorithm
    digest[6] = (digest[6] & 0x0F) | 0x30
    digest[8] = (digest[8] & 0x3F) | 0x80
    return uuid.UUID(bytes=bytes(digest))


def shorten_current(expansion: str) -> str:
    """The suffix after the namespace with the 1.9.2+ algorithm (see the module docstring)."""
    if "/" in expansion:
        head, tail = expansion[: expansion.rindex("/") + 1], expansion[expansion.rindex("/") + 1 :]
    else:
        head, tail = expansion, ""
    if not tail:
        return str(name_uuid(head)).upper()
    return head + str(name_uuid(tail)).upper()


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    if number == 0:
        return "0"
    out = []
    while number:
        number, rest = divmod(number, 36)
        out.append(digits[rest])
    return "".join(reversed(out))


def shorten_legacy(expansion: str) -> str:
    """The suffix after the namespace with the 1.8.4–1.9.1 algorithm (see the module docstring)."""
    text = str(name_uuid(expansion)).encode("ascii")
    return _base36(int.from_bytes(text[:8], "big"))


def post_process(expansion: str) -> str:
    """What the reference does to a plain (not shortened) expansion since engine 1.8.5: ``%2F``
    becomes ``/``, and ``%25`` becomes ``%`` unless that would create ``%%``."""
    if "%%" in expansion.replace("%25", "%"):
        return expansion.replace("%2F", "/")
    return expansion.replace("%2F", "/").replace("%25", "%")
