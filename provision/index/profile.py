"""Index profiles: RDF records → index documents, by property paths per entity type.

A profile (YAML, ``mappings/index/<name>.yaml``) says which entity of a record is the *main* one
(the one the document describes), and how each index field is read from it: a property path (a
subset of SPARQL 1.1 paths: ``a/b`` sequence, ``a|b`` alternative, ``^a`` inverse, ``(…)``
grouping, ``a`` for rdf:type), how a reached node becomes a value (``value``, ``iri``, ``label``,
``label_or_iri``, ``date_range``, ``date``), language preferences for literals, and filters
(``where``). Types listed under ``types:`` override or add fields for entities of that class or its
subclasses (the class hierarchy and readable labels come from a classes file generated from the
ontologies: ``scripts/build-index-classes``). Adding a field is a profile change, not a code change.

Records are parsed once with pyoxigraph (N-Triples by default, also Turtle and RDF/XML, sniffed when
the profile says ``format: auto``) into two dictionaries (subject → predicate → objects, and the
inverse when a path needs it); paths are compiled once into closures over them. No SPARQL engine
and no rdflib graph per record: a record of 20–30 triples costs tens of microseconds.

Documents always carry ``id`` (the MDStore record id), ``datasource``, ``provider`` (when known),
``uri`` (the main entity), ``entity_type`` and ``entity_type_label`` (its classes, as local names
and readable labels), ``original_id``, ``record_id``, ``mdstore_version``, ``indexed_at`` and the
record's RDF as it was stored (``rdf``), besides the profile's fields.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyoxigraph as ox
import yaml

from mdstore.errors import ConfigError, MappingError, RecordParseError
from provision.index import analysis
from provision.index.analysis import InvalidValue
from provision.index.fields import lookup

if TYPE_CHECKING:
    from mdstore.envelope import Record

RDF_TYPE = ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
#: bump when document building changes in a way a profile digest cannot see
BUILDER_VERSION = "1"
_FORMATS = {"ntriples": ox.RdfFormat.N_TRIPLES, "turtle": ox.RdfFormat.TURTLE, "rdfxml": ox.RdfFormat.RDF_XML}
_AUTOMATIC = (
    "id",
    "datasource",
    "provider",
    "uri",
    "entity_type",
    "entity_type_label",
    "original_id",
    "record_id",
    "mdstore_version",
    "indexed_at",
    "rdf",
    "doc_type",
    "index_state",
)
_MODES = ("value", "iri", "label", "label_or_iri", "date_range", "date")
_NO_PRIORITY = 1 << 30

Term = Any  # a pyoxigraph NamedNode, BlankNode or Literal


# ----------------------------------------------------------------------------------- record graph


class Graph:
    """A record's triples, indexed once: ``out[subject][predicate] → objects`` (in record order)."""

    __slots__ = ("out", "_inv", "_objects")

    def __init__(self, triples: Any) -> None:
        out: dict[Term, dict[Term, list[Term]]] = {}
        for triple in triples:
            subject = triple.subject
            predicates = out.get(subject)
            if predicates is None:
                predicates = out[subject] = {}
            objects = predicates.get(triple.predicate)
            if objects is None:
                predicates[triple.predicate] = [triple.object]
            else:
                objects.append(triple.object)
        self.out = out
        self._inv: dict[Term, dict[Term, list[Term]]] | None = None
        self._objects: set[Term] | None = None

    @property
    def inv(self) -> dict[Term, dict[Term, list[Term]]]:
        if self._inv is None:
            inv: dict[Term, dict[Term, list[Term]]] = {}
            for subject, predicates in self.out.items():
                for predicate, objects in predicates.items():
                    for obj in objects:
                        inv.setdefault(obj, {}).setdefault(predicate, []).append(subject)
            self._inv = inv
        return self._inv

    @property
    def objects(self) -> set[Term]:
        if self._objects is None:
            self._objects = {
                o for predicates in self.out.values() for objects in predicates.values() for o in objects
            }
        return self._objects


def parse_record(body: bytes | str, rdf_format: str = "auto", *, record_id: str = "") -> Graph:
    """Parse a record body into a :class:`Graph`; :class:`RecordParseError` says what and where."""
    data = body.encode("utf-8") if isinstance(body, str) else body
    name = sniff_format(data) if rdf_format == "auto" else rdf_format
    try:
        # lenient: IRIs are not re-validated (the transform step wrote them; Solr does not care), which
        # halves the parse time; syntax errors are still errors
        return Graph(ox.parse(data, format=_FORMATS[name], lenient=True))
    except SyntaxError as exc:
        raise RecordParseError(f"not valid {name}: {exc}", record_id=record_id, step="index") from exc


def sniff_format(data: bytes) -> str:
    head = data[:512].lstrip()
    if head.startswith((b"<?xml", b"<rdf:RDF", b"<RDF")):
        return "rdfxml"
    if head.startswith((b"@prefix", b"@base", b"PREFIX", b"BASE", b"prefix", b"base")) or b"@prefix" in head:
        return "turtle"
    return "ntriples"


# ----------------------------------------------------------------------------------- paths

PathFn = Callable[[list[Term], Graph], list[Term]]
_PATH_TOKEN = re.compile(r"\s*(<[^>]*>|[()|/^\[\]]|[A-Za-z_][\w.-]*:[\w.%-]*|a(?![\w:]))")


class _PathParser:
    """``seq ('|' seq)*``, ``seq := step ('/' step)*``, ``step := '^'? (iri | '(' path ')') filter?``,
    ``filter := '[' 'a' iri ('|' iri)* ']'`` (keeps the nodes typed with one of the classes)."""

    def __init__(self, text: str, prefixes: dict[str, str], where: str) -> None:
        self.text = text
        self.prefixes = prefixes
        self.where = where
        self.tokens: list[str] = []
        position = 0
        while position < len(text):
            if text[position:].strip() == "":
                break
            match = _PATH_TOKEN.match(text, position)
            if match is None:
                raise self.error(f"cannot read the path from {text[position:]!r}")
            self.tokens.append(match[1])
            position = match.end()
        self.i = 0

    def error(self, message: str) -> ConfigError:
        return ConfigError(f"path {self.text!r}: {message}", file=self.where, rule="path")

    def parse(self) -> PathFn:
        fn = self.alternative()
        if self.i != len(self.tokens):
            raise self.error(f"unexpected {self.tokens[self.i]!r}")
        return fn

    def alternative(self) -> PathFn:
        options = [self.sequence()]
        while self.i < len(self.tokens) and self.tokens[self.i] == "|":
            self.i += 1
            options.append(self.sequence())
        if len(options) == 1:
            return options[0]
        return _Union(options)

    def sequence(self) -> PathFn:
        steps = [self.step()]
        while self.i < len(self.tokens) and self.tokens[self.i] == "/":
            self.i += 1
            steps.append(self.step())
        if len(steps) == 1:
            return steps[0]
        forward = [getattr(step, "predicate", None) for step in steps]
        if all(p is not None for p in forward):
            return _forward_chain(forward)  # the common case, without a call per step

        def chain(nodes: list[Term], graph: Graph) -> list[Term]:
            for step in steps:
                nodes = step(nodes, graph)
                if not nodes:
                    return nodes
            return nodes

        return chain

    def step(self) -> PathFn:
        if self.i >= len(self.tokens):
            raise self.error("ends too early")
        token = self.tokens[self.i]
        inverse = token == "^"  # noqa: S105 (a path token, not a credential)
        if inverse:
            self.i += 1
            token = self.tokens[self.i] if self.i < len(self.tokens) else ""
        if token == "(":  # noqa: S105 (a path token)
            self.i += 1
            inner = self.alternative()
            if self.i >= len(self.tokens) or self.tokens[self.i] != ")":
                raise self.error("missing ')'")
            self.i += 1
            if inverse:
                raise self.error("'^' before a group is not supported; put it on each property")
            return self.type_filter(inner)
        self.i += 1
        predicate = self.iri(token)
        step = _inverse_step(predicate) if inverse else _forward_step(predicate)
        return self.type_filter(step)

    def type_filter(self, step: PathFn) -> PathFn:
        if self.i >= len(self.tokens) or self.tokens[self.i] != "[":
            return step
        self.i += 1
        if self.i >= len(self.tokens) or self.tokens[self.i] != "a":
            raise self.error("a filter is '[a class | class …]'")
        self.i += 1
        classes = {self.iri(self.tokens[self.i])} if self.i < len(self.tokens) else set()
        self.i += 1
        while self.i < len(self.tokens) and self.tokens[self.i] == "|":
            classes.add(self.iri(self.tokens[self.i + 1]))
            self.i += 2
        if self.i >= len(self.tokens) or self.tokens[self.i] != "]":
            raise self.error("missing ']'")
        self.i += 1

        def typed(nodes: list[Term], graph: Graph) -> list[Term]:
            out = graph.out
            kept = []
            for node in step(nodes, graph):
                edges = out.get(node)
                if edges and not classes.isdisjoint(edges.get(RDF_TYPE, ())):
                    kept.append(node)
            return kept

        return typed

    def iri(self, token: str) -> ox.NamedNode:
        if token == "a":  # noqa: S105 (a Turtle token)
            return RDF_TYPE
        if token.startswith("<"):
            return ox.NamedNode(token[1:-1])
        prefix, _, local = token.partition(":")
        if prefix not in self.prefixes:
            raise self.error(f"unknown prefix {prefix!r} (declared: {', '.join(sorted(self.prefixes))})")
        return ox.NamedNode(self.prefixes[prefix] + local)


class _Union:
    """``a | b``: the alternatives' results in order, without repeats; ``options`` stay visible so a
    single-valued field can stop at the first alternative that yields a value."""

    __slots__ = ("options",)

    def __init__(self, options: list[PathFn]) -> None:
        self.options = options

    def __call__(self, nodes: list[Term], graph: Graph) -> list[Term]:
        result: list[Term] = []
        for option in self.options:
            result.extend(option(nodes, graph))
        return list(dict.fromkeys(result)) if len(result) > 1 else result


def _forward_step(predicate: ox.NamedNode) -> PathFn:
    def forward(nodes: list[Term], graph: Graph) -> list[Term]:
        out = graph.out
        result: list[Term] = []
        for node in nodes:
            predicates = out.get(node)
            if predicates:
                objects = predicates.get(predicate)
                if objects:
                    result.extend(objects)
        return result

    forward.predicate = predicate  # type: ignore[attr-defined]
    return forward


def _forward_chain(predicates: list[ox.NamedNode]) -> PathFn:
    def chain(nodes: list[Term], graph: Graph) -> list[Term]:
        out = graph.out
        for predicate in predicates:
            following: list[Term] = []
            for node in nodes:
                edges = out.get(node)
                if edges:
                    objects = edges.get(predicate)
                    if objects:
                        following.extend(objects)
            if not following:
                return following
            nodes = following
        return nodes

    return chain


def _inverse_step(predicate: ox.NamedNode) -> PathFn:
    def inverse(nodes: list[Term], graph: Graph) -> list[Term]:
        inv = graph.inv
        result: list[Term] = []
        for node in nodes:
            predicates = inv.get(node)
            if predicates:
                subjects = predicates.get(predicate)
                if subjects:
                    result.extend(subjects)
        return result

    return inverse


def compile_path(text: str, prefixes: dict[str, str], *, where: str = "<profile>") -> PathFn:
    """Compile a property path (``crm:P1_is_identified_by/crm:P190_has_symbolic_content | rdfs:label``)."""
    return _PathParser(text, prefixes, where).parse()


# ----------------------------------------------------------------------------------- fields


@dataclass(frozen=True)
class ClassInfo:
    name: str
    label: str
    supers: frozenset[str]


@dataclass(frozen=True)
class FieldRule:
    """One index field: a path from the main entity, how nodes become values, and filters."""

    name: str
    path: PathFn
    mode: str
    single: bool
    lang: tuple[str, ...]
    where: tuple[PathFn, frozenset[str]] | None
    limit: int | None
    source: str


class IndexProfile:
    """A compiled index profile: call :meth:`build` per record."""

    def __init__(
        self,
        data: dict[str, Any],
        *,
        path: Path | None = None,
        classes_data: dict[str, Any] | None = None,
        digest: str = "",
    ) -> None:
        where = str(path) if path else "<profile>"
        self._source = (data, path, classes_data, digest)
        self.where = where
        self.path = path
        self.name = str(data.get("name") or (path.stem if path else "profile"))
        self.digest = (
            digest or hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()
        )
        self.rdf_format = str(data.get("format", "auto"))
        if self.rdf_format not in (*_FORMATS, "auto"):
            raise ConfigError(
                f"format {self.rdf_format!r}: expected auto, ntriples, turtle or rdfxml",
                file=where,
                field="format",
                rule="enum",
            )
        self.prefixes: dict[str, str] = {str(k): str(v) for k, v in (data.get("prefixes") or {}).items()}
        self.classes: dict[str, ClassInfo] = {
            iri: ClassInfo(info["name"], info["label"], frozenset(info.get("super", ())))
            for iri, info in (classes_data or {}).items()
        }
        main = data.get("main") or {}
        main_types = main.get("types") or []
        if not main_types:
            raise ConfigError(
                "main.types lists no class: which entity of a record is the document?",
                file=where,
                field="main.types",
                rule="required",
            )
        self.main_types = [self._class_iri(t, "main.types") for t in main_types]
        self.lang = tuple(str(x) for x in data.get("lang") or ())
        self.label_paths: list[PathFn] = [
            compile_path(p, self.prefixes, where=where) for p in data.get("labels") or ["rdfs:label"]
        ]
        dates = data.get("date_range") or {}
        self.date_begin = [compile_path(p, self.prefixes, where=where) for p in dates.get("begin") or []]
        self.date_end = [compile_path(p, self.prefixes, where=where) for p in dates.get("end") or []]
        self.date_at = [compile_path(p, self.prefixes, where=where) for p in dates.get("at") or []]
        self.default_fields = self._rules(data.get("fields") or {}, "fields")
        self.type_fields: list[tuple[str, dict[str, FieldRule | None]]] = []
        for type_name, section in (data.get("types") or {}).items():
            iri = self._class_iri(type_name, f"types.{type_name}")
            self.type_fields.append(
                (iri, self._rules((section or {}).get("fields") or {}, f"types.{type_name}.fields"))
            )
        self._rules_cache: dict[frozenset[str], list[FieldRule]] = {}
        self._priorities: dict[Term, int] = {}
        self._label_steps = [(getattr(path, "predicate", None), path) for path in self.label_paths]

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its source and compiled again on the other side (builder processes)."""
        data, path, classes_data, digest = self._source
        return (_rebuild_profile, (data, path, classes_data, digest))

    # --- compiling -----------------------------------------------------------------------------
    def _class_iri(self, text: str, field_name: str) -> str:
        if text.startswith("<") and text.endswith(">"):
            return text[1:-1]
        prefix, _, local = text.partition(":")
        if not local or prefix not in self.prefixes:
            raise ConfigError(
                f"{text!r} is not a prefixed class name with a declared prefix",
                file=self.where,
                field=field_name,
                rule="class",
            )
        return self.prefixes[prefix] + local

    def _rules(self, section: dict[str, Any], where: str) -> dict[str, FieldRule | None]:
        rules: dict[str, FieldRule | None] = {}
        for name, spec in section.items():
            field_where = f"{where}.{name}"
            if spec is None:
                rules[name] = None  # a type may remove an inherited field
                continue
            if name in _AUTOMATIC:
                raise ConfigError(
                    f"{name!r} is filled by the indexer itself",
                    file=self.where,
                    field=field_where,
                    rule="reserved",
                )
            definition = lookup(name)
            if definition is None:
                raise ConfigError(
                    f"the index schema has no field {name!r} (named fields, or a dynamic suffix: "
                    "_s _ss _t _txt _dt _i _l _b _dr)",
                    file=self.where,
                    field=field_where,
                    rule="field",
                )
            if isinstance(spec, str):
                spec = {"path": spec}
            unknown = set(spec) - {"path", "as", "lang", "where", "max", "single"}
            if unknown:
                raise ConfigError(
                    f"unknown option(s) {', '.join(sorted(unknown))}",
                    file=self.where,
                    field=field_where,
                    rule="option",
                )
            if "path" not in spec:
                raise ConfigError("a field needs a path", file=self.where, field=field_where, rule="required")
            mode = spec.get("as", "date_range" if definition.kind == "date_range" else "value")
            if mode not in _MODES:
                raise ConfigError(
                    f"as: {mode!r} is not one of {', '.join(_MODES)}",
                    file=self.where,
                    field=field_where,
                    rule="enum",
                )
            where_spec = spec.get("where")
            where_rule = None
            if where_spec is not None:
                if not isinstance(where_spec, dict) or "path" not in where_spec or "equals" not in where_spec:
                    raise ConfigError(
                        "where needs path and equals", file=self.where, field=field_where, rule="where"
                    )
                equals = where_spec["equals"]
                equals = equals if isinstance(equals, list) else [equals]
                where_rule = (
                    compile_path(where_spec["path"], self.prefixes, where=self.where),
                    frozenset(str(v).casefold() for v in equals),
                )
            rules[name] = FieldRule(
                name=name,
                path=compile_path(str(spec["path"]), self.prefixes, where=self.where),
                mode=mode,
                single=bool(spec.get("single", not definition.multi)),
                lang=tuple(str(x) for x in spec.get("lang") or self.lang or ()),
                where=where_rule,
                limit=int(spec["max"]) if spec.get("max") is not None else None,
                source=str(spec["path"]),
            )
            if not definition.multi and not rules[name].single:  # type: ignore[union-attr]
                raise ConfigError(
                    f"{name!r} holds one value in the schema; single: false is not possible",
                    file=self.where,
                    field=field_where,
                    rule="single",
                )
        return rules

    # --- the main entity -----------------------------------------------------------------------
    def _is_a(self, class_iri: str, wanted: str) -> bool:
        if class_iri == wanted:
            return True
        info = self.classes.get(class_iri)
        return info is not None and wanted in info.supers

    def _priority(self, class_node: Term) -> int:
        """The position of the first ``main.types`` class this class is (or specialises); big if none."""
        priority = self._priorities.get(class_node)
        if priority is None:
            iri = class_node.value if isinstance(class_node, ox.NamedNode) else ""
            matches = (i for i, wanted in enumerate(self.main_types) if self._is_a(iri, wanted))
            priority = next(matches, _NO_PRIORITY)
            self._priorities[class_node] = priority
        return priority

    def main_entity(self, graph: Graph) -> tuple[Term, list[str]]:
        """The record's main entity and its classes: the first ``main.types`` class (or subclass)
        that types an entity wins; among several such entities, one no other entity points to."""
        best = _NO_PRIORITY
        candidates: list[tuple[Term, list[Term]]] = []
        for subject, predicates in graph.out.items():
            types = predicates.get(RDF_TYPE)
            if not types:
                continue
            priority = min(map(self._priority, types))
            if priority < best:
                best, candidates = priority, [(subject, types)]
            elif priority == best and priority != _NO_PRIORITY:
                candidates.append((subject, types))
        if not candidates:
            names = ", ".join(self._short(t) for t in self.main_types)
            raise MappingError(f"no main entity: no entity of the record is a {names}", step="index")
        if len(candidates) > 1:
            roots = [c for c in candidates if c[0] not in graph.objects]
            candidates = roots or candidates
        entity, types = candidates[0]
        return entity, [t.value for t in types if isinstance(t, ox.NamedNode)]

    def _short(self, iri: str) -> str:
        for prefix, namespace in self.prefixes.items():
            if iri.startswith(namespace):
                return f"{prefix}:{iri[len(namespace) :]}"
        return f"<{iri}>"

    def rules_for(self, types: Sequence[str]) -> list[FieldRule]:
        key = frozenset(types)
        cached = self._rules_cache.get(key)
        if cached is None:
            merged: dict[str, FieldRule | None] = dict(self.default_fields)
            for type_iri, rules in self.type_fields:
                if any(self._is_a(t, type_iri) for t in types):
                    merged.update(rules)
                    break
            cached = self._rules_cache[key] = [rule for rule in merged.values() if rule is not None]
        return cached

    def type_names(self, types: Sequence[str]) -> tuple[list[str], list[str]]:
        """(local names, readable labels) of an entity's classes."""
        names, labels = [], []
        for iri in types:
            info = self.classes.get(iri)
            name = info.name if info else re.split(r"[/#]", iri)[-1]
            label = info.label if info else re.sub(r"^[A-Z]+\d+[a-z]?_", "", name).replace("_", " ")
            names.append(name)
            if label not in labels:
                labels.append(label)
        return names, labels

    # --- values --------------------------------------------------------------------------------
    @staticmethod
    def _ordered_literals(literals: list[Any], lang: tuple[str, ...]) -> list[Any]:
        """Literals by language preference (stable: record order among equals)."""
        if not lang or len(literals) < 2:
            return literals
        rank = _lang_ranks(lang)
        last = len(rank)
        return sorted(literals, key=lambda lit: rank.get(lit.language or "", last))

    def _label(self, node: Term, graph: Graph, lang: tuple[str, ...]) -> str | None:
        if isinstance(node, ox.Literal):
            return node.value
        edges = graph.out.get(node)
        for predicate, path in self._label_steps:
            if predicate is not None:  # a one-step label path, looked up without a call
                if not edges:
                    continue
                found = edges.get(predicate)
                if not found:
                    continue
            else:
                found = path([node], graph)
            literals = [n for n in found if isinstance(n, ox.Literal)]
            if literals:
                return self._ordered_literals(literals, lang)[0].value
        return None

    def _date_range(self, node: Term, graph: Graph, warnings: list[str], rule: FieldRule) -> str | None:
        if isinstance(node, ox.Literal):
            endpoint = analysis.range_endpoint(node.value)
            if endpoint is None:
                warnings.append(f"{rule.name}: {node.value!r} is not a date")
            return endpoint[0] if endpoint else None
        begin = self._first_date(node, graph, self.date_begin)
        end = self._first_date(node, graph, self.date_end)
        if begin is None and end is None:
            at = self._first_date(node, graph, self.date_at)
            return at[0] if at else None
        value = f"[{begin[0] if begin else '*'} TO {end[0] if end else '*'}]"
        if begin and end and begin[1] > end[2]:
            warnings.append(f"{rule.name}: {value}: Wrong order: {begin[0]} TO {end[0]}")
            return None
        return value

    def _first_date(self, node: Term, graph: Graph, paths: list[PathFn]) -> tuple[str, int, int] | None:
        for path in paths:
            for value in path([node], graph):
                if isinstance(value, ox.Literal):
                    endpoint = analysis.range_endpoint(value.value)
                    if endpoint is not None:
                        return endpoint
        return None

    def _values(self, rule: FieldRule, entity: Term, graph: Graph, warnings: list[str]) -> list[Any]:
        if rule.single and isinstance(rule.path, _Union):
            for option in rule.path.options:  # a single value: the first alternative that yields one
                values = self._render(rule, option([entity], graph), graph, warnings)
                if values:
                    return values[:1]
            return []
        values = self._render(rule, rule.path([entity], graph), graph, warnings)
        if rule.single:
            return values[:1]
        return values[: rule.limit] if rule.limit is not None else values

    def _render(self, rule: FieldRule, nodes: list[Term], graph: Graph, warnings: list[str]) -> list[Any]:
        """Nodes reached by a path → field values (filtered, ordered by language, without repeats)."""
        if not nodes:
            return []
        if rule.where is not None:
            where_path, accepted = rule.where
            nodes = [
                n
                for n in nodes
                if any(
                    isinstance(v, ox.Literal)
                    and v.value.casefold() in accepted
                    or isinstance(v, ox.NamedNode)
                    and v.value.casefold() in accepted
                    for v in where_path([n], graph)
                )
            ]
        mode = rule.mode
        values: list[Any] = []
        if len(nodes) == 1 and mode in ("value", "label", "label_or_iri"):  # the common case, shortly
            node = nodes[0]
            if isinstance(node, ox.Literal):
                return [node.value] if node.value else []
            if mode == "value":
                return [node.value] if isinstance(node, ox.NamedNode) else []
        if mode == "value":
            literals = [n for n in nodes if isinstance(n, ox.Literal)]
            if rule.lang and literals:
                literals = self._ordered_literals(literals, rule.lang)
                nodes = literals + [n for n in nodes if not isinstance(n, ox.Literal)]
            values = [n.value for n in nodes if not isinstance(n, ox.BlankNode)]
        elif mode == "iri":
            values = [n.value for n in nodes if isinstance(n, ox.NamedNode)]
        elif mode in ("label", "label_or_iri"):
            for node in nodes:
                label = self._label(node, graph, rule.lang)
                if label is None and mode == "label_or_iri" and isinstance(node, ox.NamedNode):
                    label = node.value
                if label is not None:
                    values.append(label)
        elif mode == "date_range":
            values = [v for v in (self._date_range(n, graph, warnings, rule) for n in nodes) if v is not None]
        elif mode == "date":
            for node in nodes:
                if isinstance(node, ox.Literal):
                    instant = _instant(node.value)
                    if instant is None:
                        warnings.append(f"{rule.name}: {node.value!r} is not a date")
                    else:
                        values.append(instant)
        if len(values) > 1:
            values = list(dict.fromkeys(values))
        return [v for v in values if v != ""]

    # --- documents -----------------------------------------------------------------------------
    def build(
        self,
        record: Record,
        *,
        datasource: str,
        version: str,
        indexed_at: str,
        provider: str | None = None,
        rdf_format: str | None = None,
    ) -> tuple[dict[str, Any], list[str]]:
        """The index document of ``record`` and warnings (values dropped as invalid).

        Raises :class:`RecordParseError` (not RDF) or :class:`MappingError` (no main entity).
        """
        body = record.body
        if body is None:
            raise MappingError("the record has no body", record_id=record.id, step="index")
        graph = parse_record(body, rdf_format or self.rdf_format, record_id=record.id)
        try:
            entity, types = self.main_entity(graph)
        except MappingError as exc:
            raise MappingError(exc.message, record_id=record.id, step="index") from None
        names, labels = self.type_names(types)
        doc: dict[str, Any] = {"id": record.id, "datasource": datasource}
        if provider:
            doc["provider"] = provider
        if isinstance(entity, ox.NamedNode):
            doc["uri"] = entity.value
        doc["entity_type"] = names
        doc["entity_type_label"] = labels
        warnings: list[str] = []
        for rule in self.rules_for(types):
            values = self._values(rule, entity, graph, warnings)
            if values:
                doc[rule.name] = values if not rule.single else values[0]
        doc["original_id"] = record.original_id
        doc["record_id"] = record.id
        doc["mdstore_version"] = version
        doc["indexed_at"] = indexed_at
        doc["rdf"] = body if isinstance(body, str) else body.decode("utf-8", "replace")
        return doc, warnings


def _rebuild_profile(
    data: dict[str, Any], path: Path | None, classes_data: dict[str, Any] | None, digest: str
) -> IndexProfile:
    return IndexProfile(data, path=path, classes_data=classes_data, digest=digest)


@lru_cache(maxsize=64)
def _lang_ranks(lang: tuple[str, ...]) -> dict[str, int]:
    return {tag: i for i, tag in enumerate(lang)}


def _instant(text: str) -> str | None:
    """An xsd:date/dateTime literal as a ``pdate`` value (midnight UTC for a date)."""
    endpoint = analysis.range_endpoint(text)
    if endpoint is None or endpoint[0].lstrip("-").count("-") != 2:
        return None
    date, _, time_part = endpoint[0].partition("T")
    parts = (time_part.split(":") + ["00", "00", "00"])[:3] if time_part else ["00", "00", "00"]
    try:
        return analysis.normalize_instant(f"{date}T{parts[0]}:{parts[1]}:{parts[2]}Z")
    except InvalidValue:
        return None


# ----------------------------------------------------------------------------------- loading


def load_profile(path: str | Path) -> IndexProfile:
    """Read and compile a profile; its ``classes:`` file is resolved beside it."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"cannot read the index profile: {exc.strerror or exc}", file=str(path), rule="readable"
        ) from exc
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ConfigError(
            f"not valid YAML: {getattr(exc, 'problem', None) or exc}", file=where, rule="yaml"
        ) from exc
    if not isinstance(data, dict):
        raise ConfigError("an index profile is a mapping", file=str(path), rule="type")
    digest = hashlib.sha256(BUILDER_VERSION.encode() + raw)
    classes_data = None
    if data.get("classes"):
        classes_path = path.parent / str(data["classes"])
        try:
            classes_raw = classes_path.read_bytes()
        except OSError as exc:
            raise ConfigError(
                f"cannot read the classes file {classes_path}: {exc.strerror or exc}",
                file=str(path),
                field="classes",
                rule="readable",
            ) from exc
        classes_data = json.loads(classes_raw)
        digest.update(classes_raw)
    return IndexProfile(data, path=path, classes_data=classes_data, digest=digest.hexdigest())


def find_profile(mappings_dir: str | Path, name: str) -> Path:
    """``pe`` → ``<mappings>/index/pe.yaml`` (a path with a suffix is taken as it is)."""
    candidate = Path(name)
    if candidate.suffix in (".yaml", ".yml", ".json"):
        return candidate if candidate.is_absolute() else Path(mappings_dir) / "index" / candidate
    return Path(mappings_dir) / "index" / f"{name}.yaml"
