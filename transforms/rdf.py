"""RDF serializations of a chain's output, converted through pyoxigraph.

rdflib is pleasant but parses RDF/XML and writes N-Triples at ~900 records/s; pyoxigraph does both
at ~37,000, so every conversion on the record path goes through it. A payload already in the
requested serialization is passed through untouched (no parse, no churn in the bytes).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Literal

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


def _oxigraph_format(name: str):
    import pyoxigraph as ox

    return {
        "ntriples": ox.RdfFormat.N_TRIPLES,
        "turtle": ox.RdfFormat.TURTLE,
        "rdfxml": ox.RdfFormat.RDF_XML,
        "trig": ox.RdfFormat.TRIG,
        "jsonld": ox.RdfFormat.JSON_LD,
        "nquads": ox.RdfFormat.N_QUADS,
    }[name]


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
    if output == "ntriples" and source == "rdfxml":
        tree = payload.held_tree()
        if tree is not None:
            written = tree_to_ntriples(tree)
            if written is not None:
                return written
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


# --- N-Triples straight from an RDF/XML tree ----------------------------------------------------

_RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
_RDF_RDF = _RDF + "RDF"
_RDF_DESCRIPTION = _RDF + "Description"
_RDF_TYPE_TAG = _RDF + "type"
_RDF_ABOUT = _RDF + "about"
_RDF_RESOURCE = _RDF + "resource"
_RDF_DATATYPE = _RDF + "datatype"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_RDF_TYPE = "<http://www.w3.org/1999/02/22-rdf-syntax-ns#type>"
_XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
_XML_SPACE = " \t\n\r"
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z]{4})?(?:-(?:[A-Za-z]{2}|[0-9]{3}))?")
_NT_ESCAPES = {
    **{c: f"\\u{c:04X}" for c in (*range(0x20), 0x7F)},
    0x08: "\\b",
    0x09: "\\t",
    0x0A: "\\n",
    0x0C: "\\f",
    0x0D: "\\r",
    0x22: '\\"',
    0x5C: "\\\\",
}
_NEEDS_ESCAPE = re.compile('[\\x00-\\x1f\\x7f"\\\\]')
#: IRIs pyoxigraph accepted → their N-Triples form; element tags → their predicate's; language
#: tags → their lower-case form (pyoxigraph's). Bounded: emptied when full.
_IRIS: dict[str, str] = {}
_TAGS: dict[str, str] = {}
_LANGS: dict[str, str] = {}
_CACHE_SIZE = 100_000


class _NotSimple(Exception):
    """The tree uses RDF/XML that the direct writer leaves to pyoxigraph."""


def _check_iri(value: str) -> str:
    """``<value>`` once pyoxigraph accepts ``value`` as an IRI, as is (else ``_NotSimple``)."""
    import pyoxigraph as ox

    try:
        ok = ox.NamedNode(value).value == value
    except ValueError:
        ok = False
    if not ok:
        raise _NotSimple
    if len(_IRIS) >= _CACHE_SIZE:
        _IRIS.clear()
    found = _IRIS[value] = f"<{value}>"
    return found


def _check_tag(tag: Any) -> str:
    """The predicate IRI of a property element's tag (rdf:type is the only RDF name taken)."""
    if not isinstance(tag, str) or not tag.startswith("{") or (tag.startswith(_RDF) and tag != _RDF_TYPE_TAG):
        raise _NotSimple
    namespace, _, local = tag[1:].partition("}")
    found = _check_iri(namespace + local)
    if len(_TAGS) >= _CACHE_SIZE:
        _TAGS.clear()
    _TAGS[tag] = found
    return found


def _literal(text: str) -> str:
    if _NEEDS_ESCAPE.search(text) is not None:
        text = text.translate(_NT_ESCAPES)
    return f'"{text}"'


def tree_to_ntriples(tree: Any) -> bytes | None:
    """N-Triples of an RDF/XML tree, written by walking it, or None when the tree uses anything
    beyond the plain subset: node elements with ``rdf:about``, property elements with
    ``rdf:resource`` or a literal (``xml:lang`` or ``rdf:datatype``), in UTF-8.

    The same bytes pyoxigraph would write after parsing the serialized tree (same triple order
    and escapes; IRIs are validated by pyoxigraph itself, once per distinct IRI), without
    serializing the tree and parsing it again, which made the N-Triples output cost 0.39 of a
    bare lxml loop. Anything else (blank nodes, nested descriptions, ``rdf:parseType``,
    ``xml:base``, property attributes, comments …) returns None: the caller converts the
    serialized XML with pyoxigraph as before.
    """
    docinfo = tree.docinfo
    if docinfo.encoding not in ("UTF-8", "utf-8") or docinfo.doctype:
        return None
    root = tree.getroot()
    if root is None or root.tag != _RDF_RDF or root.attrib or (root.text or "").strip(_XML_SPACE):
        return None
    out: list[str] = []
    append = out.append
    iris, tags, langs = _IRIS, _TAGS, _LANGS
    try:
        for node in root:
            attributes = node.items()
            if len(attributes) != 1 or attributes[0][0] != _RDF_ABOUT:
                raise _NotSimple
            text, tail = node.text, node.tail
            if (text is not None and text.strip(_XML_SPACE)) or (tail is not None and tail.strip(_XML_SPACE)):
                raise _NotSimple
            about = attributes[0][1]
            subject = iris.get(about) or _check_iri(about)
            tag = node.tag
            if tag != _RDF_DESCRIPTION:
                if tag.startswith(_RDF):
                    raise _NotSimple
                append(f"{subject} {_RDF_TYPE} {tags.get(tag) or _check_tag(tag)} .\n")
            for prop in node:
                tag = prop.tag
                predicate = tags.get(tag) or _check_tag(tag)
                if len(prop):
                    raise _NotSimple
                tail = prop.tail
                if tail is not None and tail.strip(_XML_SPACE):
                    raise _NotSimple
                attributes = prop.items()
                if not attributes:
                    append(f"{subject} {predicate} {_literal(prop.text or '')} .\n")
                    continue
                if len(attributes) != 1:
                    raise _NotSimple
                name, value = attributes[0]
                if name == _RDF_RESOURCE:
                    if prop.text is not None:
                        raise _NotSimple
                    append(f"{subject} {predicate} {iris.get(value) or _check_iri(value)} .\n")
                elif name == _XML_LANG:
                    language = langs.get(value)
                    if language is None:
                        if not _LANGUAGE_TAG.fullmatch(value):
                            raise _NotSimple
                        if len(langs) >= _CACHE_SIZE:
                            langs.clear()
                        language = langs[value] = value.lower()
                    append(f"{subject} {predicate} {_literal(prop.text or '')}@{language} .\n")
                elif name == _RDF_DATATYPE:
                    if value == _XSD_STRING:
                        append(f"{subject} {predicate} {_literal(prop.text or '')} .\n")
                    else:
                        datatype = iris.get(value) or _check_iri(value)
                        append(f"{subject} {predicate} {_literal(prop.text or '')}^^{datatype} .\n")
                else:
                    raise _NotSimple
    except _NotSimple:
        return None
    return "".join(out).encode()
