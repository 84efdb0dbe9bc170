"""RDF serializations of a chain's output, converted through pyoxigraph.

rdflib is pleasant but parses RDF/XML and writes N-Triples at ~900 records/s; pyoxigraph does both
at ~37,000, so every conversion on the record path goes through it. A payload already in the
requested serialization is passed through untouched (no parse, no churn in the bytes).

Why :func:`ntriples_form` is written down: N-Triples that went through the conversion are in
pyoxigraph's own form (one spelling per triple), and the rdf step, which must tell triples apart by
their lines, can then split them instead of parsing and writing each record again. N-Triples a
stylesheet or an X3ML mapping wrote itself carry no such promise. The transform step names the form
in a version's report when every record of the version was converted (see
:mod:`contentcloud.pipeline.transform`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from mdstore.errors import RecordError

if TYPE_CHECKING:
    from transforms.payload import Payload

OutputFormat = Literal["ntriples", "turtle", "rdfxml", "trig", "jsonld", "nquads", "xml"]

#: every output a chain can produce: the RDF serializations, or ``xml`` (the last step's XML as is)
OUTPUT_FORMATS: tuple[str, ...] = ("ntriples", "turtle", "rdfxml", "trig", "jsonld", "nquads", "xml")
RDF_FORMATS: tuple[str, ...] = ("ntriples", "turtle", "rdfxml", "trig", "jsonld", "nquads")

#: prefixes for the readable serializations (Turtle, TriG, RDF/XML)
PREFIXES = {
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "crm": "http://www.cidoc-crm.org/cidoc-crm/",
    "crmpe": "http://parthenos.d4science.org/CRMext/CRMpe.rdfs/",
    "crmdig": "http://www.ics.forth.gr/isl/CRMext/CRMdig.rdfs/",
    "skos": "http://www.w3.org/2004/02/skos/core#",
}

_ALIASES = {
    "nt": "ntriples",
    "n-triples": "ntriples",
    "ttl": "turtle",
    "xml-rdf": "rdfxml",
    "rdf/xml": "rdfxml",
    "json-ld": "jsonld",
    "nq": "nquads",
}


def canonical_format(name: str) -> str:
    """``nt``/``ttl``/``json-ld``… → the names of :data:`OUTPUT_FORMATS`; unknown names pass through."""
    name = name.lower()
    return _ALIASES.get(name, name)


#: our format names → pyoxigraph's, filled on first use (pyoxigraph is imported lazily; building
#: this table on every call cost ~2 µs of the ~65 µs conversion of each record)
_OX_FORMATS: dict[str, object] = {}


def _oxigraph_format(name: str):
    if not _OX_FORMATS:
        import pyoxigraph as ox

        _OX_FORMATS.update(
            ntriples=ox.RdfFormat.N_TRIPLES,
            turtle=ox.RdfFormat.TURTLE,
            rdfxml=ox.RdfFormat.RDF_XML,
            trig=ox.RdfFormat.TRIG,
            jsonld=ox.RdfFormat.JSON_LD,
            nquads=ox.RdfFormat.N_QUADS,
        )
    return _OX_FORMATS[name]


def ntriples_form() -> str:
    """The form of the N-Triples :func:`convert` writes: pyoxigraph's, of this version (another
    version may escape or spell a term otherwise)."""
    import pyoxigraph as ox

    return f"pyoxigraph {ox.__version__}"


def converts_to_ntriples(payload: Payload, output: str) -> bool:
    """Does :func:`serialize_payload` write this payload as N-Triples through pyoxigraph (rather
    than pass N-Triples through as the last step wrote them)?"""
    return canonical_format(output) == "ntriples" and payload_rdf_format(payload) != "ntriples"


def payload_rdf_format(payload: Payload) -> str:
    """The serialization a payload holds: its text format, or RDF/XML for XML."""
    return canonical_format(payload.text_format or "ntriples") if not payload.is_xml else "rdfxml"


def parse_rdf(data: bytes, fmt: str, *, record_id: str | None = None, step: str = "output") -> list:
    """Parse RDF into pyoxigraph quads; a syntax error becomes a located :class:`RecordError`."""
    import pyoxigraph as ox

    try:
        return list(ox.parse(data, format=_oxigraph_format(fmt)))
    except SyntaxError as exc:
        location = None
        if getattr(exc, "lineno", None):
            location = f"line {exc.lineno}, column {exc.offset}"
        raise RecordError(
            f"not valid {fmt}: {exc.msg if hasattr(exc, 'msg') else exc}",
            record_id=record_id,
            step=step,
            location=location,
        ) from exc
    except ValueError as exc:
        raise RecordError(f"not valid {fmt}: {exc}", record_id=record_id, step=step) from exc


def serialize_payload(payload: Payload, output: str, *, record_id: str | None = None) -> bytes:
    """The stored body of a chain's result in ``output`` (one of :data:`OUTPUT_FORMATS`)."""
    output = canonical_format(output)
    if output == "xml":
        return payload.xml_bytes()
    source = payload_rdf_format(payload)
    data = payload.xml_bytes()
    if source == output:
        return data
    return convert(data, source, output, record_id=record_id)


def convert(data: bytes, source: str, output: str, *, record_id: str | None = None) -> bytes:
    """Re-serialize RDF, streaming parser to serializer inside pyoxigraph (no Python objects per
    triple: that alone would cost more than the parse)."""
    import pyoxigraph as ox

    prefixes = PREFIXES if output in ("turtle", "trig", "rdfxml") else None
    try:
        if prefixes:
            return ox.serialize(
                ox.parse(data, format=_oxigraph_format(source)),
                format=_oxigraph_format(output),
                prefixes=prefixes,
            )
        return ox.serialize(ox.parse(data, format=_oxigraph_format(source)), format=_oxigraph_format(output))
    except SyntaxError:
        parse_rdf(data, source, record_id=record_id)  # raises the located RecordError
        raise
    except ValueError:  # named graphs into a graph format: keep the triples, drop the graph names
        return convert_quads(parse_rdf(data, source, record_id=record_id), output)


def convert_quads(quads: list, output: str) -> bytes:
    import pyoxigraph as ox

    fmt = _oxigraph_format(output)
    if output in ("ntriples", "turtle", "rdfxml"):
        quads = [ox.Triple(q.subject, q.predicate, q.object) for q in quads]
    prefixes = PREFIXES if output in ("turtle", "trig", "rdfxml") else None
    return ox.serialize(quads, format=fmt, prefixes=prefixes) if prefixes else ox.serialize(quads, format=fmt)
