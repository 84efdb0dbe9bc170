"""A record's triples in canonical form: sorted, unique N-Triples lines without blank nodes.

Why lines: the ledger, the in-place updates and ``--check`` all compare triples, and a canonical
N-Triples line (as pyoxigraph writes it) is a triple's identity that costs no Python object per
term. Why no blank nodes: a blank node cannot be deleted by value (``DELETE DATA`` refuses them) and
two records' ``_:b0`` would merge when loaded together; so each record's blank nodes become skolem
IRIs (RDF 1.1 §3.5) under ``{base}.well-known/genid/{datasource}/{record digest}/``, numbered in
the order the parser meets them, which keeps them stable from one load of the same body to the next.
"""

from __future__ import annotations

import hashlib

import pyoxigraph as ox

from mdstore.errors import RecordParseError

FORMATS = {
    "ntriples": ox.RdfFormat.N_TRIPLES,
    "turtle": ox.RdfFormat.TURTLE,
    "rdfxml": ox.RdfFormat.RDF_XML,
}


def sniff_format(data: bytes) -> str:
    """RDF/XML, Turtle or N-Triples, from the first bytes (records do not say)."""
    head = data[:512].lstrip()
    if head.startswith((b"<?xml", b"<rdf:RDF", b"<RDF")):
        return "rdfxml"
    if head.startswith((b"@prefix", b"@base", b"PREFIX", b"BASE", b"prefix", b"base")) or b"@prefix" in head:
        return "turtle"
    return "ntriples"


def skolem_prefix(base: str, datasource: str, record_id: str) -> str:
    digest = hashlib.sha1(record_id.encode("utf-8"), usedforsecurity=False).hexdigest()[:16]
    return f"{base}.well-known/genid/{datasource}/{digest}/"


def record_lines(
    body: bytes | str,
    *,
    record_id: str,
    datasource: str,
    base: str,
    rdf_format: str | None = None,
    canonical: bool = False,
) -> list[bytes]:
    """The record's canonical lines; :class:`RecordParseError` (step ``rdf``) when it is not RDF.

    ``canonical``: the caller knows the body is N-Triples as this pyoxigraph writes them (the
    transform step's conversion wrote it): its lines are split, not parsed and written again,
    unless it may hold blank nodes. Nothing is checked then: ``contentcloud rdf --check``, which
    parses every record, would show a false promise."""
    data = body.encode("utf-8") if isinstance(body, str) else body
    if canonical and b"_:" not in data:
        unique = set(data.split(b"\n"))
        unique.discard(b"")
        return sorted(unique)
    name = rdf_format if rdf_format in FORMATS else sniff_format(data)
    try:
        # lenient: the transform step wrote these IRIs; syntax errors are still errors
        text = ox.serialize(ox.parse(data, format=FORMATS[name], lenient=True), format=ox.RdfFormat.N_TRIPLES)
        if b"_:" in text:  # maybe blank nodes (or "_:" inside a literal: the slow path is right too)
            text = _skolemized(data, name, skolem_prefix(base, datasource, record_id))
    except (SyntaxError, ValueError) as exc:
        raise RecordParseError(f"not valid {name}: {exc}", record_id=record_id, step="rdf") from exc
    lines = text.split(b"\n")
    unique = set(lines)
    unique.discard(b"")
    return sorted(unique)


def _skolemized(data: bytes, name: str, prefix: str) -> bytes:
    names: dict[str, ox.NamedNode] = {}

    def term(node):
        if isinstance(node, ox.BlankNode):
            found = names.get(node.value)
            if found is None:
                found = names[node.value] = ox.NamedNode(f"{prefix}b{len(names)}")
            return found
        return node

    triples = [
        ox.Triple(term(q.subject), q.predicate, term(q.object))
        for q in ox.parse(data, format=FORMATS[name], lenient=True)
    ]
    return ox.serialize(triples, format=ox.RdfFormat.N_TRIPLES)
