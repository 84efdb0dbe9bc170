"""RDF output checked against the PE/CIDOC-CRM ontology: unknown terms, domains, ranges, literals.

The ontology is the digest ``schemas/ontology/pe-crm.json`` (see ``scripts/make-ontology.py``).
Reasoning is RDFS: a class is what it says and every superclass; a property's domain and range
include those of its superproperties. The check reads RDFS domains and ranges as *constraints*
(closed world, as a validator must): a subject whose declared types include none that is a
subclass of the domain is reported, where RDFS inference would silently add the type.

What is checked, per triple:

* ``unknown-class``: ``rdf:type`` of a term in a closed namespace (CRM, CRMpe, CRMdig) the ontology
  does not define;
* ``unknown-property``: a predicate in a closed namespace that is not defined (error), or in any
  other namespace and not among the accepted RDF/RDFS/OWL/SKOS terms (warning);
* ``domain``: the subject has types, and none is a subclass of the property's domain;
* ``range``: the object has types, and none is a subclass of the property's range;
* ``literal-for-resource``: a literal where the range is a class;
* ``resource-for-literal``: an IRI or blank node where the range is ``rdfs:Literal`` or a datatype.

Untyped subjects and objects are not reported: their class is unknown, not wrong.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

from mdstore.errors import ConfigError

RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
RDFS_LITERAL = "http://www.w3.org/2000/01/rdf-schema#Literal"
XSD = "http://www.w3.org/2001/XMLSchema#"

#: RDF file extensions → pyoxigraph format names of :mod:`transforms.rdf`
FORMAT_BY_SUFFIX = {
    ".nt": "ntriples",
    ".ntriples": "ntriples",
    ".ttl": "turtle",
    ".turtle": "turtle",
    ".rdf": "rdfxml",
    ".owl": "rdfxml",
    ".xml": "rdfxml",
    ".jsonld": "jsonld",
    ".json": "jsonld",
    ".trig": "trig",
    ".nq": "nquads",
}


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem of one triple (or one term), with where it was found."""

    kind: str
    severity: str  # "error" | "warning"
    message: str
    subject: str
    predicate: str
    object: str = ""
    file: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    def __str__(self) -> str:
        where = f"{self.file}: " if self.file else ""
        return f"{where}{self.severity}: {self.kind}: {self.subject} {self.predicate}: {self.message}"


class Ontology:
    """Classes and properties with their RDFS closure, loaded once from the JSON digest."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.prefixes: dict[str, str] = dict(data.get("prefixes", {}))
        self.closed = tuple(data.get("closed_namespaces", ()))
        self.open_terms = frozenset(data.get("open_terms", ()))
        self.class_labels = {iri: entry.get("label", "") for iri, entry in data["classes"].items()}
        self.properties: dict[str, dict[str, Any]] = data["properties"]
        direct_super = {iri: entry.get("super", []) for iri, entry in data["classes"].items()}
        self._class_closure = {iri: _closure(iri, direct_super) for iri in direct_super}
        prop_super = {iri: entry.get("super", []) for iri, entry in self.properties.items()}
        self._domains: dict[str, tuple[str, ...]] = {}
        self._ranges: dict[str, tuple[str, ...]] = {}
        for iri in self.properties:
            ancestors = _closure(iri, prop_super)
            # sorted: issues come out in the same order in every run
            self._domains[iri] = tuple(
                sorted({d for p in ancestors if (d := (self.properties.get(p) or {}).get("domain"))})
            )
            self._ranges[iri] = tuple(
                sorted({r for p in ancestors if (r := (self.properties.get(p) or {}).get("range"))})
            )

    @classmethod
    def load(cls, path: str | Path) -> Ontology:
        return _load_cached(str(Path(path).resolve()))

    # --- queries -------------------------------------------------------------------------------
    def is_class(self, iri: str) -> bool:
        return iri in self._class_closure

    def is_property(self, iri: str) -> bool:
        return iri in self.properties

    def superclasses(self, iri: str) -> frozenset[str]:
        """The class and all its superclasses (itself only when unknown)."""
        return self._class_closure.get(iri, frozenset((iri,)))

    def is_subclass(self, sub: str, sup: str) -> bool:
        return sup in self.superclasses(sub)

    def domains(self, prop: str) -> tuple[str, ...]:
        """Every domain the property must meet: its own and its superproperties'."""
        return self._domains.get(prop, ())

    def ranges(self, prop: str) -> tuple[str, ...]:
        return self._ranges.get(prop, ())

    def in_closed_namespace(self, iri: str) -> bool:
        return iri.startswith(self.closed)

    def is_literal_type(self, iri: str) -> bool:
        return iri == RDFS_LITERAL or iri.startswith(XSD) or iri.endswith("#langString")

    def short(self, iri: str) -> str:
        """``crm:E22_Human-Made_Object`` for display; the full IRI when no prefix fits."""
        for prefix, namespace in self.prefixes.items():
            if iri.startswith(namespace) and len(iri) > len(namespace):
                return f"{prefix}:{iri[len(namespace) :]}"
        return iri


@cache
def _load_cached(path: str) -> Ontology:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"cannot read the ontology: {exc}", file=path, field="ontology", rule="readable"
        ) from exc
    return Ontology(data)


def _closure(start: str, parents: dict[str, list[str]]) -> frozenset[str]:
    seen = {start}
    stack = [start]
    while stack:
        for parent in parents.get(stack.pop(), ()):
            if parent not in seen:
                seen.add(parent)
                stack.append(parent)
    return frozenset(seen)


# --- the check -----------------------------------------------------------------------------------


def _term(node: Any) -> tuple[str, str]:
    """(kind, text) of a pyoxigraph term: ``iri``, ``blank`` or ``literal``."""
    import pyoxigraph as ox

    if isinstance(node, ox.NamedNode):
        return "iri", node.value
    if isinstance(node, ox.BlankNode):
        return "blank", "_:" + node.value
    return "literal", str(node)


def check_triples(triples: Iterable[Any], ontology: Ontology, *, file: str = "") -> list[Issue]:
    """Every issue of a graph (pyoxigraph triples or quads), in the order of the triples."""
    triples = list(triples)
    types: dict[str, set[str]] = defaultdict(set)
    for triple in triples:
        if triple.predicate.value == RDF_TYPE:
            kind, obj = _term(triple.object)
            if kind == "iri":
                types[_term(triple.subject)[1]].add(obj)
    issues: list[Issue] = []
    reported_terms: set[tuple[str, str]] = set()
    for triple in triples:
        subject = _term(triple.subject)[1]
        predicate = triple.predicate.value
        obj_kind, obj = _term(triple.object)
        issue = _check_one(subject, predicate, obj_kind, obj, types, ontology, reported_terms)
        issues.extend(
            Issue(
                kind,
                severity,
                message,
                ontology.short(subject),
                ontology.short(predicate),
                _show(obj_kind, obj, ontology),
                file,
            )
            for kind, severity, message in issue
        )
    return issues


def _show(kind: str, text: str, ontology: Ontology) -> str:
    return ontology.short(text) if kind == "iri" else text


def _check_one(
    subject: str,
    predicate: str,
    obj_kind: str,
    obj: str,
    types: dict[str, set[str]],
    ontology: Ontology,
    reported: set[tuple[str, str]],
) -> list[tuple[str, str, str]]:
    found: list[tuple[str, str, str]] = []
    if predicate == RDF_TYPE:
        if obj_kind == "iri" and not ontology.is_class(obj) and ontology.in_closed_namespace(obj):
            found.append(("unknown-class", "error", f"{ontology.short(obj)} is not a class of the ontology"))
        return found
    if not ontology.is_property(predicate):
        if ("p", predicate) in reported:
            return found
        reported.add(("p", predicate))
        if ontology.in_closed_namespace(predicate):
            found.append(("unknown-property", "error", "not a property of the ontology"))
        elif predicate not in ontology.open_terms:
            found.append(("unknown-property", "warning", "not in the ontology (namespace not covered)"))
        return found
    short = ontology.short
    for domain in ontology.domains(predicate):
        subject_types = types.get(subject)
        if subject_types and not any(ontology.is_subclass(t, domain) for t in subject_types):
            found.append(
                (
                    "domain",
                    "error",
                    f"subject is {_types(subject_types, short)}, the domain is {short(domain)}",
                )
            )
    for range_ in ontology.ranges(predicate):
        literal_range = ontology.is_literal_type(range_)
        if obj_kind == "literal":
            if not literal_range:
                found.append(
                    ("literal-for-resource", "error", f"a literal where a {short(range_)} is expected")
                )
            continue
        if literal_range:
            found.append(
                ("resource-for-literal", "error", f"a resource where a literal ({short(range_)}) is expected")
            )
            continue
        object_types = types.get(obj)
        if object_types and not any(ontology.is_subclass(t, range_) for t in object_types):
            found.append(
                ("range", "error", f"object is {_types(object_types, short)}, the range is {short(range_)}")
            )
    return found


def _types(types: set[str], short: Any) -> str:
    return ", ".join(sorted(short(t) for t in types))


def rdf_format_of(path: str | Path, data: bytes | None = None) -> str:
    """The RDF serialization of a file, by extension, else by a look at its first bytes."""
    suffix = Path(path).suffix.lower()
    if suffix in FORMAT_BY_SUFFIX:
        return FORMAT_BY_SUFFIX[suffix]
    head = (data or b"")[:512].lstrip()
    if head.startswith(b"<"):
        return "rdfxml"
    if head.startswith((b"{", b"[")):
        return "jsonld"
    return "turtle" if b"@prefix" in head or b"PREFIX" in head else "ntriples"


def check_rdf(data: bytes, fmt: str, ontology: Ontology, *, file: str = "") -> list[Issue]:
    """Parse RDF (a syntax error raises a located ``RecordError``) and check it."""
    from transforms.rdf import parse_rdf

    return check_triples(parse_rdf(data, fmt, record_id=file or None, step="check"), ontology, file=file)


def check_file(path: str | Path, ontology: Ontology) -> list[Issue]:
    path = Path(path)
    data = path.read_bytes()
    return check_rdf(data, rdf_format_of(path, data), ontology, file=str(path))
