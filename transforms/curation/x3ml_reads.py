"""Which source paths an X3ML mapping reads, from its XPath expressions alone (no record needed).

The engine evaluates each expression against a context node: a domain's ``source_node`` against
the root element, a link's ``source_relation`` against each domain node, a range's
``source_node`` against each path node, conditions and generator arguments against the node of
their domain, path or range (:mod:`transforms.x3ml.engine`). This module replays that nesting
over *path patterns* instead of nodes: each expression is parsed with elementpath (XPath 3.1,
which also accepts the XPath 1.0 the engine runs on lxml) and its syntax tree is walked as an
abstract interpreter, turning every location path into patterns relative to the context's.

A pattern is a tuple of steps: ``("c", name)`` a child element, ``("a", name)`` an attribute,
``("d",)`` any number of element steps (``//``, ``descendant::``); names are Clark names, ``*``,
``{uri}*`` or ``{*}local``. *Reads* are the nodes an expression hands back (selected nodes,
arguments of functions and operators, predicate operands); the steps a path walks through to get
there are not. Predicates are followed (``dc:identifier[starts-with(., 'http')]`` reads and
selects dc:identifier), ``..`` and the ancestor/sibling axes are resolved against the context
pattern, and generator arguments also read ``@xml:lang`` on the node and its ancestors (the
engine takes a literal's language from there).

Limits: variables (``$x``), ``id()``/``doc()`` and other node-returning functions are not
followed (counted in :attr:`MappingReads.unresolved`); join links (``a==b``) are followed
approximately; ``following::``/``preceding::`` read any element of that name.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

XML_NS = "http://www.w3.org/XML/1998/namespace"

Step = tuple[str, ...]
Pattern = tuple[Step, ...]

#: the root element: the context of a domain's source_node
ROOT_ELEMENT: Pattern = (("c", "*"),)
DOCUMENT: Pattern = ()
ANY_DESCENDANT: Step = ("d",)

_AXES = {
    "child", "descendant", "descendant-or-self", "self", "parent", "ancestor", "ancestor-or-self",
    "attribute", "following-sibling", "preceding-sibling", "following", "preceding",
}  # fmt: skip
_COMBINERS = {"|", "union", "intersect", "except", ","}
_NODE_FUNCTIONS_TO_ROOT = {"root"}


@dataclass
class MappingReads:
    """The patterns a mapping reads, and what the analysis could not follow."""

    patterns: set[Pattern] = field(default_factory=set)
    unresolved: list[str] = field(default_factory=list)
    expressions: int = 0

    def reads(self, path: tuple[str, ...]) -> bool:
        """Whether a concrete path (Clark names, ``@`` for a final attribute) is read."""
        return any(matches(pattern, path) for pattern in self.patterns)

    def describe(self) -> str:
        note = f"{self.expressions} XPath expressions of the mapping"
        if self.unresolved:
            note += f"; {len(self.unresolved)} not followed ({'; '.join(self.unresolved[:3])})"
        return note


# --- matching ------------------------------------------------------------------------------------


def _name_matches(test: str, name: str) -> bool:
    if test == "*" or test == name:
        return True
    if test.endswith("}*"):
        return name.startswith(test[:-1])
    if test.startswith("{*}"):
        return name.endswith("}" + test[3:]) or name == test[3:]
    return False


def matches(pattern: Pattern, path: tuple[str, ...]) -> bool:
    """Whether a concrete path is one of the nodes a pattern describes."""
    memo: dict[tuple[int, int], bool] = {}

    def match(i: int, j: int) -> bool:
        key = (i, j)
        if key in memo:
            return memo[key]
        if i == len(pattern):
            result = j == len(path)
        else:
            step = pattern[i]
            if step[0] == "d":
                # zero or more element steps
                result = match(i + 1, j) or (
                    j < len(path) and not path[j].startswith("@") and match(i, j + 1)
                )
            elif j == len(path):
                result = False
            elif step[0] == "c":
                result = (
                    not path[j].startswith("@") and _name_matches(step[1], path[j]) and match(i + 1, j + 1)
                )
            else:  # attribute
                result = (
                    path[j].startswith("@") and _name_matches(step[1], path[j][1:]) and match(i + 1, j + 1)
                )
        memo[key] = result
        return result

    return match(0, 0)


# --- the abstract interpreter over elementpath's syntax tree --------------------------------------


class _Interpreter:
    def __init__(self, namespaces: dict[str, str], reads: MappingReads) -> None:
        self.namespaces = {**namespaces, "xml": XML_NS}
        self.reads = reads
        from elementpath.xpath31 import XPath31Parser

        self._parser = XPath31Parser(namespaces={k: v for k, v in self.namespaces.items() if k})

    def evaluate(
        self, expression: str | None, context: set[Pattern], *, language: bool = False
    ) -> set[Pattern]:
        """The patterns an expression selects from ``context``; what it reads is recorded."""
        if expression is None or not expression.strip():
            return set(context)
        self.reads.expressions += 1
        try:
            token = self._parser.parse(expression.strip())
        except Exception as exc:  # elementpath raises its own error classes for bad syntax
            self.reads.unresolved.append(f"{expression!r}: {exc}")
            return set()
        selected = self._eval(token, context)
        self._read(selected)
        if language:
            self._read(
                {_lang_pattern(p[:k]) for p in selected for k in range(1, len(p) + 1) if p[k - 1][0] == "c"}
            )
        return selected

    def _read(self, patterns: Iterable[Pattern]) -> None:
        self.reads.patterns.update(patterns)

    # names ------------------------------------------------------------------------------------
    def _name(self, token: Any, *, attribute: bool = False) -> str:
        symbol = token.symbol
        if symbol == "*":
            return "*"
        if symbol == "(name)":
            return token.value  # no namespace (XPath has no default element namespace here)
        if symbol == ":":
            prefix_token, local_token = token[0], token[1]
            local = "*" if local_token.symbol == "*" else local_token.value
            if prefix_token.symbol == "*":
                return "{*}" + local
            uri = self.namespaces.get(prefix_token.value)
            if uri is None:
                self.reads.unresolved.append(f"undeclared prefix {prefix_token.value!r}")
                return "{?}" + local
            return f"{{{uri}}}{local}"
        if symbol in ("{", "Q{"):  # braced URI literal
            return "*"
        return "*"

    # steps ------------------------------------------------------------------------------------
    def _step(self, token: Any, context: set[Pattern], axis: str = "child") -> set[Pattern] | None:
        """A node test on an axis, or None when the token is no node test."""
        symbol = token.symbol
        if symbol in ("(name)", ":", "*"):
            name = self._name(token)
            return _axis(context, axis, "a" if axis == "attribute" else "c", name)
        if symbol == "text":
            return set(context) if axis in ("child", "self") else _axis(context, axis, "c", "*")
        if symbol == "node":
            if axis == "child":
                return {*context, *(p + (("c", "*"),) for p in context)}
            return _axis(context, axis, "a" if axis == "attribute" else "c", "*")
        if symbol == "element":
            name = self._name(token[0]) if len(token) else "*"
            return _axis(context, axis, "c", name)
        if symbol == "attribute" and axis != "attribute":
            name = self._name(token[0]) if len(token) else "*"
            return _axis(context, "attribute", "a", name)
        if symbol in ("comment", "processing-instruction", "namespace-node"):
            return set()
        if symbol == "document-node":
            return {DOCUMENT}
        return None

    def _eval(self, token: Any, context: set[Pattern]) -> set[Pattern]:
        symbol = token.symbol
        children = list(token)
        found = self._step(token, context)
        if found is not None and symbol != "attribute":
            return found
        if symbol == "/":
            if not children:
                return {DOCUMENT}
            if len(children) == 1:
                return self._eval(children[0], {DOCUMENT})
            return self._eval(children[1], self._eval(children[0], context))
        if symbol == "//":
            if len(children) == 1:
                return self._eval(children[0], {(ANY_DESCENDANT,)})
            left = self._eval(children[0], context)
            return self._eval(children[1], {p + (ANY_DESCENDANT,) for p in left})
        if symbol == "@" and children:
            return _axis(context, "attribute", "a", self._name(children[0]))
        if symbol in _AXES and children:
            found = self._step(children[0], context, axis=symbol)
            return found if found is not None else set()
        if symbol == ".":
            return set(context)
        if symbol == "..":
            return {_parent(p) for p in context}
        if symbol == "[":
            base = self._eval(children[0], context)
            for predicate in children[1:]:
                self._read(self._eval(predicate, base))
            return base
        if symbol == "(":
            return self._eval(children[0], context) if children else set()
        if symbol in _COMBINERS:
            result: set[Pattern] = set()
            for child in children:
                result |= self._eval(child, context)
            return result
        if symbol == "$":
            self.reads.unresolved.append(f"variable ${token.value}")
            return set()
        if symbol in _NODE_FUNCTIONS_TO_ROOT:
            return {DOCUMENT}
        if symbol.startswith("(") and symbol.endswith(")"):  # literals: (string), (integer)…
            return set()
        # functions, operators, conditionals, quantifiers: their operands are read; their result
        # is a value, except for if/then/else and the like, which pass nodes through
        passed: set[Pattern] = set()
        for child in children:
            result = self._eval(child, context)
            self._read(result)
            passed |= result
        return passed if symbol in ("if", "for", "let", "some", "every", "!") else set()


def _lang_pattern(pattern: Pattern) -> Pattern:
    return pattern + (("a", f"{{{XML_NS}}}lang"),)


def _parent(pattern: Pattern) -> Pattern:
    if not pattern:
        return pattern
    if pattern[-1][0] == "d":
        return pattern  # the parent of "anything below" is still "anything below"
    return pattern[:-1]


def _ancestors(pattern: Pattern, include_self: bool) -> list[Pattern]:
    result = [pattern[:k] for k in range(1, len(pattern)) if pattern[k - 1][0] in ("c", "d")]
    if include_self and pattern and pattern[-1][0] == "c":
        result.append(pattern)
    return result


def _axis(context: set[Pattern], axis: str, kind: str, name: str) -> set[Pattern]:
    step = (kind, name)
    result: set[Pattern] = set()
    for pattern in context:
        if axis in ("child", "attribute"):
            result.add(pattern + (step,))
        elif axis == "descendant":
            result.add(pattern + (ANY_DESCENDANT, step))
        elif axis == "descendant-or-self":
            result.add(pattern + (ANY_DESCENDANT, step))
            result.add(pattern)
        elif axis == "self":
            result.add(pattern)
        elif axis == "parent":
            result.add(_with_last(_parent(pattern), step))
        elif axis in ("ancestor", "ancestor-or-self"):
            result.update(_with_last(p, step) for p in _ancestors(pattern, axis == "ancestor-or-self"))
        elif axis in ("following-sibling", "preceding-sibling"):
            result.add(_parent(pattern) + (step,))
        else:  # following, preceding: anywhere in the document
            result.add((ANY_DESCENDANT, step))
    return result


def _with_last(pattern: Pattern, step: Step) -> Pattern:
    """A pattern whose last step must also pass ``step``'s name test (kept as the narrower one)."""
    if not pattern or pattern[-1][0] != "c":
        return pattern + (step,) if pattern and pattern[-1][0] == "d" else pattern
    last = pattern[-1][1]
    return pattern if step[1] == "*" else (pattern[:-1] + (("c", step[1]),) if last == "*" else pattern)


# --- walking a mapping ---------------------------------------------------------------------------


def mapping_reads(document: Any) -> MappingReads:
    """The reads of a loaded mapping (``X3MLMapping.document``: a :class:`MappingDocument`)."""
    reads = MappingReads()
    interpreter = _Interpreter(dict(document.namespaces), reads)
    for mapping in document.mappings:
        if mapping.skip:
            continue
        domain = mapping.domain
        domains = interpreter.evaluate(domain.source, {ROOT_ELEMENT})
        _conditions(interpreter, domain.conditions, domains)
        _entity(interpreter, domain.entity, domains)
        for link in mapping.links:
            if not link.skip:
                _link(interpreter, link, domains)
    return reads


def _link(interpreter: _Interpreter, link: Any, domains: set[Pattern]) -> None:
    path = link.path
    first = path.relations[0] if path.relations else ""
    if "==" in first:  # join: foreign key under the domain, primary key under the range source
        for relation in path.relations:
            left, _, right = relation.partition("==")
            interpreter.evaluate(left.strip() + "/text()", domains)
            ranges = interpreter.evaluate(link.range.source, {ROOT_ELEMENT})
            interpreter.evaluate(right.strip() + "/text()", ranges)
        _entity(interpreter, link.range.entity, interpreter.evaluate(link.range.source, {ROOT_ELEMENT}))
        return
    nodes = interpreter.evaluate(first, domains)
    _conditions(interpreter, path.conditions, nodes)
    for entity in path.entities:
        _entity(interpreter, entity, nodes)
    ranges = nodes if link.range_on_path_node else interpreter.evaluate(link.range.source, nodes)
    _conditions(interpreter, link.range.conditions, ranges)
    _entity(interpreter, link.range.entity, ranges)


def _conditions(interpreter: _Interpreter, conditions: Iterable[Any], context: set[Pattern]) -> None:
    for condition in conditions:
        if condition.children:
            _conditions(interpreter, condition.children, context)
        elif condition.xpath is not None:
            interpreter.evaluate(condition.xpath.source, context)


def _entity(interpreter: _Interpreter, entity: Any, context: set[Pattern]) -> None:
    generators = [entity.instance_generator, *entity.label_generators]
    for generator in generators:
        if generator is None:
            continue
        for arg in generator.args.values():
            if arg.type in (None, "xpath") and arg.value and arg.value.strip():
                interpreter.evaluate(arg.value, context, language=True)
    for additional in entity.additionals:
        for _term, extra in additional.pairs:
            _entity(interpreter, extra, context)
