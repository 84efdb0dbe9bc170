"""The RDF an X3ML run produces, and its serialisations.

Triples are kept as plain tuples in insertion order without duplicates (the reference's Jena
model is a set); named-graph quads, when a mapping declares named graphs, are kept beside them.
N-Triples is written directly, which is what the transformation pipeline needs per record;
Turtle, RDF/XML, TriG and JSON-LD go through pyoxigraph, fed from N-Quads in lenient mode so that
IRIs the reference would write (it does not validate them) do not stop the serialisation.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Literal as TypingLiteral
from typing import NamedTuple

__all__ = ["FORMATS", "DEFAULT_GRAPH", "Graph", "Literal", "RdfFormat"]

RdfFormat = TypingLiteral["ntriples", "turtle", "rdfxml", "trig", "jsonld", "nquads"]
FORMATS: tuple[str, ...] = ("ntriples", "turtle", "rdfxml", "trig", "jsonld", "nquads")

#: the graph the reference gives triples outside any named graph when it writes quads
DEFAULT_GRAPH = "http://default"

_IRI_BAD = re.compile(r'[\x00-\x20<>"{}|^`\\]')
_LANG_OK = re.compile(r"^[a-zA-Z]+(-[a-zA-Z0-9]+)*$")
_LIT_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}
_LIT_BAD = re.compile(r'[\\"\n\r\t\b\f\x00-\x1f\x7f]')


class Literal(NamedTuple):
    """An RDF literal: lexical form, language tag or datatype IRI (at most one of them)."""

    lexical: str
    language: str | None = None
    datatype: str | None = None


Term = str | Literal  # an IRI is a plain str


def _iri(iri: str) -> str:
    if _IRI_BAD.search(iri):
        iri = _IRI_BAD.sub(lambda m: f"\\u{ord(m.group(0)):04X}", iri)
    return f"<{iri}>"


def _literal(lit: Literal) -> str:
    text = lit.lexical
    if _LIT_BAD.search(text):
        text = _LIT_BAD.sub(lambda m: _LIT_ESCAPES.get(m.group(0)) or f"\\u{ord(m.group(0)):04X}", text)
    if lit.language:
        return f'"{text}"@{lit.language}'
    if lit.datatype:
        return f'"{text}"^^{_iri(lit.datatype)}'
    return f'"{text}"'


def term_nt(term: Term) -> str:
    """One term in N-Triples syntax."""
    return _literal(term) if isinstance(term, Literal) else _iri(term)


@lru_cache(maxsize=1024)
def valid_language(tag: str | None) -> str | None:
    """A language tag N-Triples accepts, or ``None`` (the literal then stays plain)."""
    if not tag:
        return None
    if _LANG_OK.match(tag):
        return tag
    tag = tag.replace("_", "-")
    return tag if _LANG_OK.match(tag) else None


_RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
#: N-Triples forms of predicates and rdf:type objects, shared by every graph (see to_ntriples)
_SHARED_NT: dict[Term, str] = {}
_SHARED_NT_SIZE = 10_000


class Graph:
    """Triples (and named-graph quads) in insertion order, without duplicates."""

    __slots__ = ("_quads", "default_graph", "prefixes", "triples")

    def __init__(self, prefixes: dict[str, str] | None = None, *, default_graph: str = DEFAULT_GRAPH) -> None:
        self.triples: dict[tuple[str, str, Term], None] = {}
        self._quads: dict[tuple[str, str, str, Term], None] = {}
        self.prefixes = dict(prefixes or {})
        #: the graph TriG output puts every triple in (``<mappings namedgraph>`` or http://default)
        self.default_graph = default_graph

    def add(self, subject: str, predicate: str, obj: Term) -> None:
        self.triples[(subject, predicate, obj)] = None

    def add_quad(self, graph: str, subject: str, predicate: str, obj: Term) -> None:
        self._quads[(graph, subject, predicate, obj)] = None

    def __len__(self) -> int:
        return len(self.triples)

    def __iter__(self) -> Iterator[tuple[str, str, Term]]:
        return iter(self.triples)

    def quads(self) -> Iterator[tuple[str | None, str, str, Term]]:
        """Named-graph quads, then every triple in the default graph (``None``): the reference
        writes the whole model beside its named graphs."""
        yield from self._quads
        for triple in self.triples:
            yield (None, *triple)

    def to_ntriples(self) -> str:
        """All triples (named graphs merged into one graph) as N-Triples."""
        # predicates and types recur in every record: their N-Triples forms are kept across
        # graphs (bounded); subjects and objects are mostly the record's own
        shared = _SHARED_NT
        if len(shared) > _SHARED_NT_SIZE:
            shared.clear()
        cache: dict[Term, str] = {}
        lines = []
        for s, p, o in self.triples:
            s_nt = cache.get(s)
            if s_nt is None:
                s_nt = cache[s] = _iri(s)
            p_nt = shared.get(p)
            if p_nt is None:
                p_nt = shared[p] = _iri(p)
            o_nt = cache.get(o)
            if o_nt is None:
                if p == _RDF_TYPE:
                    o_nt = shared.get(o)
                    if o_nt is None:
                        o_nt = shared[o] = term_nt(o)
                else:
                    o_nt = term_nt(o)
                cache[o] = o_nt
            lines.append(f"{s_nt} {p_nt} {o_nt} .\n")
        return "".join(lines)

    def to_nquads(self, *, default_graph: str | None = None) -> str:
        """Quads as N-Quads; the triples go to ``default_graph`` (or the default graph)."""
        lines = []
        for g, s, p, o in self.quads():
            g = g if g is not None else default_graph
            suffix = f" {_iri(g)}" if g is not None else ""
            lines.append(f"{_iri(s)} {_iri(p)} {term_nt(o)}{suffix} .\n")
        return "".join(lines)

    def serialize(self, fmt: str) -> bytes:
        """The graph in ``fmt`` (one of :data:`FORMATS`)."""
        if fmt == "ntriples":
            return self.to_ntriples().encode("utf-8")
        import pyoxigraph

        if fmt == "nquads":
            return self.to_nquads().encode("utf-8")
        target = {
            "turtle": pyoxigraph.RdfFormat.TURTLE,
            "rdfxml": pyoxigraph.RdfFormat.RDF_XML,
            "trig": pyoxigraph.RdfFormat.TRIG,
            "jsonld": pyoxigraph.RdfFormat.JSON_LD,
        }.get(fmt)
        if target is None:
            raise ValueError(f"unknown RDF format {fmt!r}; expected one of {', '.join(FORMATS)}")
        if fmt == "trig":
            data = self.to_nquads(default_graph=self.default_graph)
            source = pyoxigraph.RdfFormat.N_QUADS
        else:
            data = self.to_ntriples()
            source = pyoxigraph.RdfFormat.N_TRIPLES
        parsed = pyoxigraph.parse(data.encode("utf-8"), format=source, lenient=True)
        prefixes = self.prefixes if fmt != "jsonld" else None
        return pyoxigraph.serialize(parsed, format=target, prefixes=prefixes)
