"""oai_dc for every item (OAI-PMH 2.0 section 3.4 makes it mandatory), through one hook.

An *oai_dc deriver* is a plain callable ``deriver(native, transformed) -> bytes | str | None``
taking the item's native record and its transformed record (or None; either may be a
tombstone's body-less record) and returning an ``oai_dc:dc`` document, or None when it has
nothing to say. :func:`default_deriver` chains the built-ins:

1. the native payload itself, when it already is oai_dc (served as harvested);
2. an XSLT over the transformed record's RDF/XML (``mappings/pe2oai_dc.xsl`` from the
   transformation work), when one is configured and the item has a transformed record;
3. a fallback that copies the common Dublin-Core-like elements of the native XML (``title``,
   ``creator``, ``date`` … in any namespace) and the labels and types of the RDF, and at least
   ``dc:identifier`` (the original id), so that no item is ever without oai_dc.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from io import BytesIO
from pathlib import Path

from lxml import etree

from mdstore import Record
from mdstore.errors import MappingError, RecordParseError
from provision.oai.formats import (
    DC_NS,
    OAI_DC_NS,
    RDF_NS,
    XSI_NS,
    Payload,
    metadata_element,
    parse_rdf,
    parse_xml,
    rdf_xml_payload,
)

logger = logging.getLogger(__name__)

OaiDcDeriver = Callable[[Record, "Record | None"], "bytes | str | None"]

DC_ELEMENTS = (
    "title",
    "creator",
    "subject",
    "description",
    "publisher",
    "contributor",
    "date",
    "type",
    "format",
    "identifier",
    "source",
    "language",
    "relation",
    "coverage",
    "rights",
)
#: element local names (any namespace) the fallback maps to a DC element
SYNONYMS = {
    "creatorName": "creator",
    "contributorName": "contributor",
    "dateIssued": "date",
    "abstract": "description",
    "genre": "type",
    "languageTerm": "language",
    "publicationYear": "date",
    "topic": "subject",
    "unittitle": "title",
    "unitdate": "date",
}
RDF_LABELS = {
    "http://www.w3.org/2000/01/rdf-schema#label",
    "http://www.w3.org/2004/02/skos/core#prefLabel",
    "http://purl.org/dc/elements/1.1/title",
    "http://purl.org/dc/terms/title",
}
RDF_TYPE = RDF_NS + "type"
MAX_VALUES = 50
_SPACE = re.compile(r"\s+")


def build_oai_dc(values: list[tuple[str, str]]) -> bytes:
    """An ``oai_dc:dc`` document from (element, text) pairs, in DC element order."""
    root = etree.Element(f"{{{OAI_DC_NS}}}dc", nsmap={"oai_dc": OAI_DC_NS, "dc": DC_NS, "xsi": XSI_NS})
    root.set(f"{{{XSI_NS}}}schemaLocation", f"{OAI_DC_NS} http://www.openarchives.org/OAI/2.0/oai_dc.xsd")
    order = {name: i for i, name in enumerate(DC_ELEMENTS)}
    seen: set[tuple[str, str]] = set()
    for name, text in sorted(values, key=lambda v: order[v[0]]):
        if (name, text) in seen:
            continue
        seen.add((name, text))
        etree.SubElement(root, f"{{{DC_NS}}}{name}").text = text
    return etree.tostring(root, encoding="UTF-8", xml_declaration=False)


def _clean(text: str | None) -> str:
    cleaned = _SPACE.sub(" ", text or "").strip()
    return "".join(ch for ch in cleaned if ch in "\t\n\r" or ord(ch) >= 0x20)


def native_oai_dc(native: Record, transformed: Record | None = None) -> bytes | None:
    """The native payload when it is oai_dc already (served as harvested)."""
    if native.body is None:
        return None
    element, _ = metadata_element(parse_xml(native.body, record_id=native.id))
    if element is None or element.tag != f"{{{OAI_DC_NS}}}dc":
        return None
    return etree.tostring(element, encoding="UTF-8", xml_declaration=False, with_tail=False)


def fallback_oai_dc(
    native: Record, transformed: Record | None = None, *, rdf_syntax: str = "ntriples"
) -> bytes:
    """Common elements of the native XML (and labels/types of the RDF) as oai_dc; never empty."""
    values: list[tuple[str, str]] = []
    if native.body is not None:
        try:
            element, _ = metadata_element(parse_xml(native.body, record_id=native.id))
        except RecordParseError:
            element = None
        for node in element.iter() if element is not None else ():
            if not isinstance(node.tag, str) or len(values) >= MAX_VALUES:
                continue
            local = etree.QName(node).localname
            name = local if local in DC_ELEMENTS else SYNONYMS.get(local)
            text = _clean("".join(node.itertext())) if name else ""
            if name and text and len(node) == 0:
                values.append((name, text))
    if (
        transformed is not None
        and transformed.body is not None
        and rdf_syntax in ("ntriples", "turtle", "rdfxml")
    ):
        try:
            for quad in parse_rdf(transformed.body, rdf_syntax, record_id=transformed.id):
                predicate, obj = quad.predicate.value, quad.object
                if predicate in RDF_LABELS and len(values) < MAX_VALUES:
                    values.append(("title", _clean(obj.value)))
                elif predicate == RDF_TYPE and len(values) < MAX_VALUES:
                    values.append(("type", re.split(r"[/#]", obj.value.rstrip("/#"))[-1]))
        except RecordParseError:
            pass
    if not any(name == "identifier" for name, _ in values):
        values.append(("identifier", native.original_id))
    return build_oai_dc([(n, t) for n, t in values if t])


class XsltDeriver:
    """oai_dc by an XSLT over the transformed record as RDF/XML (or over the native payload).

    XSLT 1.0 runs in lxml with every file and network access denied; a stylesheet declaring
    version 2.0 or 3.0 runs in Saxon (saxonche).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        source: str = "transformed",
        rdf_syntax: str = "ntriples",
        digest: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.source = source
        self.rdf_syntax = rdf_syntax
        try:
            data = self.path.read_bytes()
            doc = etree.parse(
                BytesIO(data),
                parser=etree.XMLParser(resolve_entities=False, no_network=True),
                base_url=str(self.path),
            )
        except (OSError, etree.XMLSyntaxError) as exc:
            raise MappingError(f"cannot read the oai_dc stylesheet: {exc}", location=str(self.path)) from exc
        self.digest = hashlib.md5(data, usedforsecurity=False).hexdigest()
        if digest is not None and digest != self.digest:
            raise MappingError(
                "the oai_dc stylesheet changed since the refresh began", location=str(self.path)
            )
        self.version = doc.getroot().get("version", "1.0")
        self._saxon = None
        if self.version.startswith("1"):
            try:
                self._transform = etree.XSLT(doc, access_control=etree.XSLTAccessControl.DENY_ALL)
            except etree.XSLTParseError as exc:
                raise MappingError(f"invalid stylesheet: {exc}", location=str(self.path)) from exc

    def __reduce__(self) -> tuple:
        """Pickled as its file and digest (a refresh's builder processes compile it again, and
        refuse a file that changed meanwhile): a compiled stylesheet does not pickle."""
        return (_xslt_deriver, (str(self.path), self.source, self.rdf_syntax, self.digest))

    def _input(
        self,
        native: Record,
        transformed: Record | None,
        native_root: etree._Element | None = None,
        rdf_xml: bytes | None = None,
    ) -> bytes | None:
        if self.source == "native":
            if native.body is None:
                return None
            if native_root is None:
                native_root, _ = metadata_element(parse_xml(native.body, record_id=native.id))
            return etree.tostring(native_root) if native_root is not None else None
        if transformed is None or transformed.body is None:
            return None
        if self.rdf_syntax == "xml":
            return transformed.body_bytes()
        if rdf_xml is not None:
            return rdf_xml
        triples = parse_rdf(transformed.body, self.rdf_syntax, record_id=transformed.id)
        return rdf_xml_payload(triples, record_id=transformed.id).xml

    def __call__(
        self,
        native: Record,
        transformed: Record | None = None,
        *,
        native_root: etree._Element | None = None,
        rdf_xml: bytes | None = None,
    ) -> bytes | None:
        """``native_root`` (the native payload element) and ``rdf_xml`` (the transformed record
        as RDF/XML, from :func:`rdf_xml_payload` in this deriver's ``rdf_syntax``) spare the
        parses when the caller has them already."""
        data = self._input(native, transformed, native_root, rdf_xml)
        if data is None:
            return None
        if self.version.startswith("1"):
            try:
                result = self._transform(parse_xml(data, record_id=native.id).getroottree())
            except etree.XSLTApplyError as exc:
                raise MappingError(
                    f"the oai_dc stylesheet failed: {exc}",
                    record_id=native.id,
                    step="publish",
                    location=str(self.path),
                ) from exc
            root = result.getroot()
            return etree.tostring(root, encoding="UTF-8", xml_declaration=False) if root is not None else None
        return self._saxon_transform(data, native.id)

    def _saxon_transform(self, data: bytes, record_id: str) -> bytes | None:
        from saxonche import PySaxonApiError, PySaxonProcessor

        if self._saxon is None:
            processor = PySaxonProcessor(license=False)
            self._saxon = (
                processor,
                processor.new_xslt30_processor().compile_stylesheet(stylesheet_file=str(self.path)),
            )
        processor, executable = self._saxon
        try:
            node = processor.parse_xml(xml_text=data.decode("utf-8"))
            text = executable.transform_to_string(xdm_node=node)
        except PySaxonApiError as exc:
            raise MappingError(
                f"the oai_dc stylesheet failed: {exc}",
                record_id=record_id,
                step="publish",
                location=str(self.path),
            ) from exc
        return text.encode("utf-8") if text else None


def _xslt_deriver(path: str, source: str, rdf_syntax: str, digest: str) -> XsltDeriver:
    return XsltDeriver(path, source=source, rdf_syntax=rdf_syntax, digest=digest)


class DefaultDeriver:
    """The built-in chain: native oai_dc, else the XSLT (if any), else the fallback.

    A plain deriver when called; the refresh calls :meth:`derive` instead, with what it already
    parsed, and serves an oai_dc native payload as is without calling it at all.
    """

    def __init__(self, xslt: XsltDeriver | None, rdf_syntax: str) -> None:
        self.xslt = xslt
        self.rdf_syntax = rdf_syntax

    def __call__(self, native: Record, transformed: Record | None = None) -> bytes | str | None:
        found = native_oai_dc(native, transformed)
        if found is None and self.xslt is not None:
            found = self.xslt(native, transformed)  # errors propagate: the refresh reports them
        if found is not None:
            return found
        return fallback_oai_dc(native, transformed, rdf_syntax=self.rdf_syntax)

    def derive(
        self,
        native: Record,
        transformed: Record | None,
        *,
        native_root: etree._Element,
        rdf_xml: Payload | None,
    ) -> bytes | str | None:
        """What ``self(native, transformed)`` returns for a native payload that is not oai_dc,
        given that payload's element and the transformed record's RDF/XML (in ``rdf_syntax``)."""
        found = None
        if self.xslt is not None:
            reuse = rdf_xml.xml if rdf_xml is not None and self.xslt.rdf_syntax == self.rdf_syntax else None
            found = self.xslt(native, transformed, native_root=native_root, rdf_xml=reuse)
        if found is not None:
            return found
        return fallback_oai_dc(native, transformed, rdf_syntax=self.rdf_syntax)


def default_deriver(xslt: XsltDeriver | None = None, *, rdf_syntax: str = "ntriples") -> OaiDcDeriver:
    """The built-in chain: native oai_dc, else the XSLT (if any), else the fallback."""
    return DefaultDeriver(xslt, rdf_syntax)
