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
from functools import lru_cache
from typing import Any

__all__ = [
    "TemplateError",
    "UriTemplate",
    "compile_template",
    "expand",
    "name_uuid",
    "post_process",
    "shorten_current",
    "shorten_legacy",
    "template_variables",
]

_SUB_DELIMS = "!$&'()*+,;="
# characters left as they are besides ALPHA / DIGIT / "-" / "." / "_" / "~" (urllib.parse.quote's own set)
_SAFE_UNRESERVED = ""
_SAFE_RESERVED = _SUB_DELIMS + ":/?#[]@"
_SAFE_FRAGMENT = _SUB_DELIMS + ":@/?"
#: a value made only of the characters ``quote`` never encodes (most identifiers) is its own
#: encoding: checked with one regular expression instead of ``quote``'s byte-by-byte pass
_NEVER_QUOTED = re.compile(r"[A-Za-z0-9_.~-]*")
_QUOTE_TABLES: dict[str, list[str]] = {}


def _quote(value: str, safe: str) -> str:
    """``urllib.parse.quote(value, safe=safe)`` (UTF-8, upper-case escapes) for ASCII ``safe``,
    each byte looked up in a table of 256 strings by ``map`` instead of a Python-level loop."""
    table = _QUOTE_TABLES.get(safe)
    if table is None:
        keep = frozenset(
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~" + safe.encode()
        )
        table = _QUOTE_TABLES[safe] = [chr(b) if b in keep else f"%{b:02X}" for b in range(256)]
    return "".join(map(table.__getitem__, value.encode("utf-8")))


#: how the reference finds the argument names of a pattern (``X3MLGeneratorPolicy.BRACES``)
_BRACES = re.compile(r"\{[?;+#]?([^}]+)\}")
_EXPRESSION = re.compile(r"\{([^{}]*)\}")
_VARSPEC = re.compile(r"^([A-Za-z0-9_%.]+)(?::([1-9][0-9]{0,3})|(\*))?$")

# operator -> (first, separator, named, if-empty, safe characters)
_OPERATORS = {
    "": ("", ",", False, "", _SAFE_UNRESERVED),
    "+": ("", ",", False, "", _SAFE_RESERVED),
    "#": ("#", ",", False, "", _SAFE_FRAGMENT),
    ".": (".", ".", False, "", _SAFE_UNRESERVED),
    "/": ("/", "/", False, "", _SAFE_UNRESERVED),
    ";": (";", ";", True, "", _SAFE_UNRESERVED),
    "?": ("?", "&", True, "=", _SAFE_UNRESERVED),
    "&": ("&", "&", True, "=", _SAFE_UNRESERVED),
}


class TemplateError(ValueError):
    """The pattern is not a valid URI template (the reference's "Malformed")."""


def template_variables(pattern: str) -> list[str]:
    """The argument names the reference asks the mapping for, in pattern order."""
    names: list[str] = []
    for match in _BRACES.finditer(pattern):
        names.extend(match.group(1).split(","))
    return names


class UriTemplate:
    """A pattern parsed once into literals and expressions."""

    __slots__ = ("_parts", "pattern")

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        parts: list[Any] = []
        pos = 0
        for match in _EXPRESSION.finditer(pattern):
            literal = pattern[pos : match.start()]
            if "{" in literal or "}" in literal:
                raise TemplateError(f"unbalanced braces in {pattern!r}")
            if literal:
                parts.append(literal)
            pos = match.end()
            body = match.group(1)
            if body[:1] in "=,!@|":
                raise TemplateError(f"reserved operator in {match.group(0)!r}")
            op = body[:1] if body[:1] and body[:1] in _OPERATORS else ""
            specs = []
            for spec in body[len(op) :].split(","):
                m = _VARSPEC.match(spec)
                if not m:
                    raise TemplateError(f"invalid variable {spec!r} in {pattern!r}")
                specs.append((m.group(1), int(m.group(2)) if m.group(2) else None))
            parts.append((_OPERATORS[op], specs))
        rest = pattern[pos:]
        if "{" in rest or "}" in rest:
            raise TemplateError(f"unbalanced braces in {pattern!r}")
        if rest:
            parts.append(rest)
        self._parts = parts

    def expand(self, values: dict[str, str]) -> str:
        """RFC 6570 expansion with string values (missing names expand to nothing)."""
        out: list[str] = []
        for part in self._parts:
            if type(part) is str:
                out.append(part)
                continue
            (first, sep, named, if_empty, safe), specs = part
            pieces = []
            for name, prefix in specs:
                value = values.get(name)
                if value is None:
                    continue
                if prefix:
                    value = value[:prefix]
                encoded = value if _NEVER_QUOTED.fullmatch(value) else _quote(value, safe)
                if named:
                    pieces.append(f"{name}{if_empty}" if value == "" else f"{name}={encoded}")
                else:
                    pieces.append(encoded)
            if pieces:
                out.append(first + sep.join(pieces))
        return "".join(out)


@lru_cache(maxsize=1024)
def compile_template(pattern: str) -> UriTemplate:
    """The parsed form of ``pattern`` (cached)."""
    return UriTemplate(pattern)


def expand(pattern: str, values: dict[str, str]) -> str:
    """RFC 6570 expansion of ``pattern`` with string values (missing names expand to nothing)."""
    return compile_template(pattern).expand(values)


def name_uuid(data: str) -> str:
    """``java.util.UUID.nameUUIDFromBytes(data.getBytes()).toString()``: the lower-case text of
    the version-3 UUID of the MD5 of the bytes (no namespace)."""
    digest = bytearray(hashlib.md5(data.encode("utf-8")).digest())  # noqa: S324 - the reference's algorithm
    digest[6] = (digest[6] & 0x0F) | 0x30
    digest[8] = (digest[8] & 0x3F) | 0x80
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def shorten_current(expansion: str) -> str:
    """The suffix after the namespace with the 1.9.2+ algorithm (see the module docstring)."""
    cut = expansion.rfind("/") + 1
    head, tail = (expansion[:cut], expansion[cut:]) if cut else (expansion, "")
    if not tail:
        return name_uuid(head).upper()
    return head + name_uuid(tail).upper()


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
    text = name_uuid(expansion).encode("ascii")
    return _base36(int.from_bytes(text[:8], "big"))


def post_process(expansion: str) -> str:
    """What the reference does to a plain (not shortened) expansion since engine 1.8.5: ``%2F``
    becomes ``/``, and ``%25`` becomes ``%`` unless that would create ``%%``."""
    if "%%" in expansion.replace("%25", "%"):
        return expansion.replace("%2F", "/")
    return expansion.replace("%2F", "/").replace("%25", "%")
