"""What a record becomes on the wire: the native payload as harvested, the transformed RDF as
RDF/XML, and the well-known schemas of common metadata namespaces.

Harvested bodies are untrusted: one hardened parser (no external entities, no DTD loading, no
network, no huge trees) reads them, and a payload that still holds unexpanded entity references
is refused (it would not be well-formed once cut out of its document).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from lxml import etree

from mdstore.errors import RecordParseError

OAI_NS = "http://www.openarchives.org/OAI/2.0/"
OAI_DC_NS = "http://www.openarchives.org/OAI/2.0/oai_dc/"
OAI_DC_SCHEMA = "http://www.openarchives.org/OAI/2.0/oai_dc.xsd"
DC_NS = "http://purl.org/dc/elements/1.1/"
RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
PROVENANCE_NS = "http://www.openarchives.org/OAI/2.0/provenance"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"

#: namespace → schema location, for metadataFormat declarations when records carry none
KNOWN_SCHEMAS: dict[str, str] = {
    OAI_DC_NS: OAI_DC_SCHEMA,
    "http://datacite.org/schema/kernel-4": "http://schema.datacite.org/meta/kernel-4/metadata.xsd",
    "http://datacite.org/schema/kernel-3": "http://schema.datacite.org/meta/kernel-3/metadata.xsd",
    "http://www.loc.gov/MARC21/slim": "http://www.loc.gov/standards/marcxml/schema/MARC21slim.xsd",
    "http://www.loc.gov/mods/v3": "http://www.loc.gov/standards/mods/v3/mods-3-7.xsd",
    "urn:isbn:1-931666-22-9": "http://www.loc.gov/ead/ead.xsd",
    "http://www.lido-schema.org": "http://www.lido-schema.org/schema/v1.0/lido-v1.0.xsd",
    "http://www.clarin.eu/cmd/": "http://www.clarin.eu/cmd/",
    "http://www.clarin.eu/cmd/1": "https://infra.clarin.eu/CMDI/1.x/xsd/cmd-envelop.xsd",
    # RDF/XML has no official XSD; W3C's informal schema location is the customary value
    RDF_NS: "http://www.w3.org/2000/07/rdf.xsd",
}

PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    huge_tree=False,
    remove_comments=False,
    remove_pis=False,
)


@dataclass(frozen=True, slots=True)
class Payload:
    """A serialized metadata element ready to sit inside ``<metadata>``."""

    xml: bytes
    namespace: str
    schema: str | None  # from the record's xsi:schemaLocation, when it names its root namespace
    checksum: str
    origin: bytes | None = None  # a provenance originDescription the harvested record already had

    def __reduce__(self) -> tuple:
        """Pickled as its fields: a refresh's builder processes send two payloads an item back, and
        the pickling that ``slots=True`` gives a dataclass asks ``dataclasses.fields()`` on every
        object (a round trip 9.2 µs, against 5.1 this way)."""
        return (Payload, (self.xml, self.namespace, self.schema, self.checksum, self.origin))

    def without_xml(self) -> Payload:
        """The payload's description, its bytes left out (what a builder sends back beside the
        compressed blob)."""
        return Payload(b"", self.namespace, self.schema, self.checksum, self.origin)

    @classmethod
    def of(cls, element: etree._Element, *, origin: bytes | None = None) -> Payload:
        xml = etree.tostring(element, encoding="UTF-8", xml_declaration=False, with_tail=False)
        namespace = etree.QName(element).namespace or ""
        return cls(xml, namespace, _schema_location(element, namespace), checksum(xml), origin)


def checksum(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def parse_xml(body: bytes | str, *, record_id: str = "", step: str = "publish") -> etree._Element:
    """The root element of an untrusted XML body (hardened parser)."""
    data = body.encode("utf-8") if isinstance(body, str) else body
    try:
        root = etree.fromstring(data, PARSER)
    except etree.XMLSyntaxError as exc:
        raise RecordParseError(
            f"not well-formed XML: {exc}",
            record_id=record_id,
            step=step,
            location=f"line {exc.lineno}" if exc.lineno else None,
        ) from exc
    if root is None:
        raise RecordParseError("empty XML body", record_id=record_id, step=step)
    tree = root.getroottree()
    if tree.docinfo.doctype and any(True for _ in root.iter(etree.Entity)):
        raise RecordParseError(
            "the record uses entity references, which cannot be disseminated", record_id=record_id, step=step
        )
    return root


def metadata_element(root: etree._Element) -> tuple[etree._Element | None, etree._Element | None]:
    """The payload inside whatever wraps it, and the provenance about it already carries.

    A harvested body is a bare payload, an OAI ``<record>`` (D-NET's stored form) or a whole
    OAI-PMH response; the payload of the last two is the first element under ``<metadata>``.
    """
    record = root
    if root.tag == f"{{{OAI_NS}}}OAI-PMH":
        record = next(iter(root.iter(f"{{{OAI_NS}}}record")), None)
        if record is None:
            return None, None
    if record.tag != f"{{{OAI_NS}}}record":
        return root, None
    metadata = record.find(f"{{{OAI_NS}}}metadata")
    payload = None
    if metadata is not None:
        payload = next((c for c in metadata if isinstance(c.tag, str)), None)
    origin = record.find(
        f"{{{OAI_NS}}}about/{{{PROVENANCE_NS}}}provenance/{{{PROVENANCE_NS}}}originDescription"
    )
    return payload, origin


def native_payload(body: bytes | str, *, record_id: str = "") -> Payload:
    """The native payload of a harvested body, ready for ``<metadata>``.

    Refused (``RecordParseError``): unparsable bodies, an OAI record without metadata, and
    payloads without a namespace or in the OAI namespace (the OAI-PMH schema admits neither).
    """
    return native_payload_of(parse_xml(body, record_id=record_id), record_id=record_id)


def native_payload_of(root: etree._Element, *, record_id: str = "") -> Payload:
    """:func:`native_payload` of a body already parsed by :func:`parse_xml` (the refresh parses
    each native record once for every use)."""
    element, origin = metadata_element(root)
    if element is None:
        raise RecordParseError("the OAI record has no metadata element", record_id=record_id, step="publish")
    namespace = etree.QName(element).namespace
    if not namespace or namespace == OAI_NS:
        raise RecordParseError(
            f"the payload root <{etree.QName(element).localname}> has "
            f"{'no namespace' if not namespace else 'the OAI-PMH namespace'}; OAI-PMH "
            "metadata must be in a namespace of its own",
            record_id=record_id,
            step="publish",
        )
    origin_xml = (
        etree.tostring(origin, encoding="UTF-8", xml_declaration=False, with_tail=False)
        if origin is not None
        else None
    )
    return Payload.of(element, origin=origin_xml)


def _schema_location(element: etree._Element, namespace: str) -> str | None:
    value = element.get(f"{{{XSI_NS}}}schemaLocation")
    if not value:
        return None
    parts = value.split()
    for ns, location in zip(parts[::2], parts[1::2]):
        if ns == namespace:
            return location
    return None


# --- RDF ----------------------------------------------------------------------------------------

#: transform output syntax (profile ``transform.output``) → pyoxigraph format name
RDF_SYNTAXES = {"ntriples": "N_TRIPLES", "turtle": "TURTLE", "rdfxml": "RDF_XML"}


def parse_rdf(body: bytes | str, syntax: str, *, record_id: str = "") -> list:
    """The triples of a transformed record (pyoxigraph quads/triples).

    Lenient, as the index and rdf steps read the same records: IRIs and language tags are not
    validated again (the transform step's conversion validated them when it wrote the body), which
    halves the parse (55 → 27 µs for a PE record of 52 triples, ``bench/blobs.py``). Syntax errors
    are still errors, and RDF/XML that a lenient parse lets through but XML cannot carry is refused
    by :func:`rdf_xml_payload`'s own check. A body that does not parse is parsed again strictly for
    the error: its message is the more precise one (``Invalid IRI code point ' '`` where the
    lenient parser only sees a broken triple further on)."""
    import pyoxigraph as ox

    data = body.encode("utf-8") if isinstance(body, str) else body
    rdf_format = getattr(ox.RdfFormat, RDF_SYNTAXES[syntax])
    try:
        return list(ox.parse(data, format=rdf_format, lenient=True))
    except (SyntaxError, ValueError) as lenient_error:
        error: Exception = lenient_error
        try:
            list(ox.parse(data, format=rdf_format))
        except (SyntaxError, ValueError) as strict_error:
            error = strict_error
        message = f"not valid {syntax} RDF: {error}"
        raise RecordParseError(message, record_id=record_id, step="publish") from error


#: what pyoxigraph's RDF/XML writer puts before the ``rdf:RDF`` element
_RDF_XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n<rdf:RDF '
#: what makes pyoxigraph's RDF/XML differ from lxml's serialization of it, or not well-formed:
#: escapes (``&apos;``, ``&quot;``, ``&gt;``, character references), characters XML parsers
#: rewrite (CR) or refuse (other C0 controls; U+FFFE/U+FFFF, whose UTF-8 starts with EF, as do
#: a few other rare characters, which also take the slow path) …
_NOT_VERBATIM_BYTES = bytes(range(0x00, 0x09)) + bytes(range(0x0B, 0x20)) + b"&\xef"
#: … empty elements (``<a></a>`` comes back as ``<a/>``), and any tag whose name is not a plain
#: ASCII QName (pyoxigraph writes ``<oxprefix:`` for a predicate without a local name).
#: (Two checks rather than one regex: an alternation tried at every byte costs 30 times more.)
_NOT_VERBATIM_TAG = re.compile(
    rb"<(?:(?!/?[A-Za-z_][A-Za-z0-9_.\-]*(?::[A-Za-z_][A-Za-z0-9_.\-]*)?[\t\n />])|(?<=><)/)"
)


def rdf_xml_payload(triples: list, *, record_id: str = "") -> Payload:
    """RDF/XML of a graph, as a payload element (``rdf:RDF``).

    The payload is the element as lxml serializes it. When pyoxigraph's output has no escape, no
    CR or control character, that serialization is pyoxigraph's bytes after the XML declaration,
    so the parse and re-serialization (two thirds of the cost) are skipped; otherwise the output
    is parsed (and checked) and re-serialized as before.
    """
    import pyoxigraph as ox

    if not triples:
        raise RecordParseError("the transformed record holds no triples", record_id=record_id, step="publish")
    data = ox.serialize(triples, format=ox.RdfFormat.RDF_XML)
    start = len(_RDF_XML_DECLARATION) - len(b"<rdf:RDF ")
    if (
        data.startswith(_RDF_XML_DECLARATION)
        and len(data.translate(None, _NOT_VERBATIM_BYTES)) == len(data)
        and _NOT_VERBATIM_TAG.search(data, start) is None
    ):
        xml = data[start:].rstrip(b"\n")
        if xml.endswith(b"</rdf:RDF>") and xml.count(b"<rdf:RDF ") == 1:
            return Payload(xml, RDF_NS, None, checksum(xml))
    return Payload.of(parse_xml(data, record_id=record_id))
