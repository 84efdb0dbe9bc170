"""Sets: the main entity type of a transformed record, and sets defined by queries (D-NET model).

Query language (profile ``publish.sets[].query``), small and safe — no regular expressions, no
code, bounded size and depth, linear-time wildcard matching::

    query  := or
    or     := and ( "OR" and )*
    and    := unary ( ["AND"] unary )*          -- juxtaposition means AND
    unary  := "NOT" unary | "(" or ")" | term
    term   := FIELD ":" VALUE
    VALUE  := word | "quoted text"              -- \\" and \\\\ escape inside quotes
              * matches any run of characters, ? exactly one; matching ignores case

Fields: ``original_id``, ``id`` (the record id), ``datasource``, ``type`` (the main entity type
of the transformed record, e.g. ``PE18_Dataset``), ``format`` (a metadataPrefix the item is
published in), and every name declared in the profile's ``publish.fields`` (an XPath 1.0
expression over the native payload; its values are the string values of the nodes it selects).
A term matches when any value of its field matches.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lxml import etree

from mdstore.errors import ConfigError
from provision.oai.formats import RDF_NS

BUILTIN_FIELDS = frozenset({"original_id", "id", "datasource", "type", "format"})
MAX_QUERY_LENGTH = 2000
MAX_DEPTH = 32
MAX_FIELD_VALUES = 200
_TOKEN = re.compile(
    r'\s*(?:(?P<paren>[()])|(?P<term>[A-Za-z_][A-Za-z0-9_.-]*:(?:"(?:[^"\\]|\\.)*"|[^\s()"]+))'
    r"|(?P<op>AND|OR|NOT)(?=[\s()]|$))"
)
_SETSPEC_PART = re.compile(r"[^A-Za-z0-9\-_.!~*'()]")
PE_NS = "http://parthenos.d4science.org/CRMext/CRMpe.rdfs/"
CRM_NS = "http://www.cidoc-crm.org/cidoc-crm/"


def glob_match(pattern: str, text: str) -> bool:
    """``*``/``?`` wildcard match in O(len(pattern)·len(text)) at worst (no backtracking blow-up)."""
    p = t = 0
    star, mark = -1, 0
    while t < len(text):
        if p < len(pattern) and (pattern[p] == "?" or pattern[p] == text[t]):
            p += 1
            t += 1
        elif p < len(pattern) and pattern[p] == "*":
            star, mark = p, t
            p += 1
        elif star != -1:
            p = star + 1
            mark += 1
            t = mark
        else:
            return False
    while p < len(pattern) and pattern[p] == "*":
        p += 1
    return p == len(pattern)


@dataclass(frozen=True)
class Term:
    field: str
    pattern: str  # casefolded

    def matches(self, fields: Mapping[str, list[str]]) -> bool:
        return any(glob_match(self.pattern, value.casefold()) for value in fields.get(self.field, ()))


@dataclass(frozen=True)
class Not:
    operand: Query

    def matches(self, fields: Mapping[str, list[str]]) -> bool:
        return not self.operand.matches(fields)


@dataclass(frozen=True)
class All:
    operands: tuple[Query, ...]

    def matches(self, fields: Mapping[str, list[str]]) -> bool:
        return all(q.matches(fields) for q in self.operands)


@dataclass(frozen=True)
class Any_:
    operands: tuple[Query, ...]

    def matches(self, fields: Mapping[str, list[str]]) -> bool:
        return any(q.matches(fields) for q in self.operands)


Query = Term | Not | All | Any_


def parse_query(text: str, fields: frozenset[str] = BUILTIN_FIELDS, *, where: str = "query") -> Query:
    """Parse a set query; a :class:`ConfigError` names the position of the problem."""
    if len(text) > MAX_QUERY_LENGTH:
        raise ConfigError(
            f"the query is longer than {MAX_QUERY_LENGTH} characters", field=where, rule="query"
        )
    tokens: list[tuple[str, str, int]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match:
            raise ConfigError(
                f"cannot read the query at character {pos + 1}: {text[pos : pos + 20]!r}",
                field=where,
                rule="query",
            )
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind), match.start(kind)))
        pos = match.end()
    parser = _Parser(tokens, fields, where)
    query = parser.parse_or(0)
    if parser.i != len(tokens):
        raise ConfigError(
            f"unexpected {tokens[parser.i][1]!r} at character {tokens[parser.i][2] + 1}",
            field=where,
            rule="query",
        )
    return query


class _Parser:
    def __init__(self, tokens: list[tuple[str, str, int]], fields: frozenset[str], where: str) -> None:
        self.tokens, self.fields, self.where, self.i = tokens, fields, where, 0

    def _peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def _fail(self, message: str) -> ConfigError:
        return ConfigError(message, field=self.where, rule="query")

    def parse_or(self, depth: int) -> Query:
        operands = [self.parse_and(depth)]
        while (tok := self._peek()) and tok[:2] == ("op", "OR"):
            self.i += 1
            operands.append(self.parse_and(depth))
        return operands[0] if len(operands) == 1 else Any_(tuple(operands))

    def parse_and(self, depth: int) -> Query:
        operands = [self.parse_unary(depth)]
        while (tok := self._peek()) and not (tok[0] == "paren" and tok[1] == ")") and tok[:2] != ("op", "OR"):
            if tok[:2] == ("op", "AND"):
                self.i += 1
            operands.append(self.parse_unary(depth))
        return operands[0] if len(operands) == 1 else All(tuple(operands))

    def parse_unary(self, depth: int) -> Query:
        if depth > MAX_DEPTH:
            raise self._fail(f"the query nests deeper than {MAX_DEPTH}")
        tok = self._peek()
        if tok is None:
            raise self._fail("the query ends where a term was expected")
        kind, value, at = tok
        self.i += 1
        if kind == "op" and value == "NOT":
            return Not(self.parse_unary(depth + 1))
        if kind == "paren" and value == "(":
            inner = self.parse_or(depth + 1)
            close = self._peek()
            if close is None or close[:2] != ("paren", ")"):
                raise self._fail(f"missing ')' for the '(' at character {at + 1}")
            self.i += 1
            return inner
        if kind == "term":
            name, _, raw = value.partition(":")
            if name not in self.fields:
                raise self._fail(
                    f"unknown field {name!r} at character {at + 1} (known: {', '.join(sorted(self.fields))})"
                )
            if raw.startswith('"'):
                raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
            return Term(name, raw.casefold())
        raise self._fail(f"unexpected {value!r} at character {at + 1}")


class FieldExtractor:
    """Values of the profile's XPath fields over a native payload (compiled once)."""

    def __init__(
        self, fields: Mapping[str, str], namespaces: Mapping[str, str], *, where: str = "publish.fields"
    ):
        self._args = (dict(fields), dict(namespaces), where)
        self.paths: dict[str, etree.XPath] = {}
        for name, expression in fields.items():
            if name in BUILTIN_FIELDS:
                raise ConfigError(f"{name!r} is a built-in field", field=f"{where}.{name}", rule="reserved")
            try:
                self.paths[name] = etree.XPath(
                    expression, namespaces=dict(namespaces), regexp=False, smart_strings=False
                )
            except etree.XPathSyntaxError as exc:
                raise ConfigError(
                    f"invalid XPath {expression!r}: {exc}", field=f"{where}.{name}", rule="xpath"
                ) from exc

    def __reduce__(self) -> tuple:
        """Pickled as its expressions (compiled XPath does not pickle; builder processes compile
        them again)."""
        fields, namespaces, where = self._args
        return (_field_extractor, (fields, namespaces, where))

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self.paths)

    def values(self, payload: etree._Element | None) -> dict[str, list[str]]:
        result: dict[str, list[str]] = {}
        for name, path in self.paths.items():
            if payload is None:
                result[name] = []
                continue
            try:
                found = path(payload)
            except etree.XPathEvalError:
                found = []
            items = found if isinstance(found, list) else [found]
            values = []
            for item in items[:MAX_FIELD_VALUES]:
                if isinstance(item, etree._Element):
                    values.append(" ".join("".join(item.itertext()).split()))
                elif isinstance(item, bool):
                    values.append("true" if item else "false")
                elif isinstance(item, float):
                    values.append(str(int(item)) if item.is_integer() else str(item))
                else:
                    values.append(str(item))
            result[name] = values
        return result


def _field_extractor(fields: dict[str, str], namespaces: dict[str, str], where: str) -> FieldExtractor:
    return FieldExtractor(fields, namespaces, where=where)


def main_entity_type(triples: list, main_entity: str | None = None) -> str | None:
    """The type of a transformed record's main entity, as a setSpec-safe local name.

    The main entity is ``main_entity`` when the transform recorded it (provenance), else the typed
    subject that is the object of no triple in the record (the root of its description); among
    several roots, the one with most statements, then the smallest IRI. Among its types, a
    PARTHENOS Entities class wins over a CIDOC-CRM one, then any other, then the smallest IRI.
    """
    import pyoxigraph as ox

    named, blank, rdf_type = ox.NamedNode, ox.BlankNode, ox.NamedNode(RDF_NS + "type")
    # terms themselves as keys (hashing a term is cheaper than writing it out); a term is taken from
    # its triple only when it is needed (each access makes a new Python object), and the statements
    # per subject are counted only when several roots must be ranked (the one root is the rule)
    types: dict[Any, set[str]] = {}
    objects: set[Any] = set()
    for quad in triples:
        obj = quad.object
        kind = type(obj)
        if kind is named:
            if quad.predicate == rdf_type:
                subject = quad.subject
                found = types.get(subject)
                if found is None:
                    types[subject] = {obj.value}
                else:
                    found.add(obj.value)
            else:
                objects.add(obj)
        elif kind is blank:
            objects.add(obj)
    if not types:
        return None
    chosen = None
    if main_entity is not None:
        try:
            chosen = named(main_entity)
        except ValueError:  # not an IRI: no such subject
            chosen = None
        if chosen not in types:
            chosen = None
    if chosen is None:
        roots = [s for s in types if s not in objects] or list(types)
        if len(roots) == 1:
            chosen = roots[0]
        else:
            outgoing: dict[Any, int] = {}
            for quad in triples:
                subject = quad.subject
                outgoing[subject] = outgoing.get(subject, 0) + 1
            chosen = min(roots, key=lambda s: (-outgoing[s], str(s)))
    ranked = sorted(types[chosen], key=lambda t: (not t.startswith(PE_NS), not t.startswith(CRM_NS), t))
    local = re.split(r"[/#]", ranked[0].rstrip("/#"))[-1] or "Entity"
    return _SETSPEC_PART.sub("_", local)


def ancestors(spec: str) -> list[str]:
    """``a:b:c`` → ``["a", "a:b", "a:b:c"]``: membership of a set implies membership of its ancestors."""
    parts = spec.split(":")
    return [":".join(parts[:i]) for i in range(1, len(parts) + 1)]
