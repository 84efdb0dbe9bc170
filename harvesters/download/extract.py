"""URL extraction plug-ins: which file URLs a stored record points to.

Two built-ins, picked by the profile's ``download`` section: ``xpath`` (XML records, prefixes
from ``namespaces``) and ``rdf-path`` (RDF records in N-Triples, Turtle, RDF/XML, TriG, N-Quads
or JSON-LD; a SPARQL 1.1 property path such as ``edm:isShownBy|edm:hasView`` or
``<http://www.cidoc-crm.org/cidoc-crm/P138i_has_representation>``). Outside packages add
extractors through the ``contentcloud.url_extractors`` entry-point group and are chosen with
``download.extractor``.

Records are untrusted: XML goes through the hardened parser of :mod:`harvesters.repair`, and
RDF/XML declaring entities is refused (pyoxigraph expands internal entities without a cap).
An extractor is used from one thread only (the service's dispatcher).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from mdstore.errors import ConfigError, RecordParseError
from mdstore.plugins import Registry

if TYPE_CHECKING:
    from harvesters.download.config import DownloadConfig

STEP = "download"


@runtime_checkable
class UrlExtractor(Protocol):
    """Takes the URLs of the files a record points to from its body."""

    @classmethod
    def from_config(cls, config: DownloadConfig) -> UrlExtractor: ...

    def urls(self, body: bytes, *, record_id: str) -> list[str]:
        """Distinct URLs in document order; raises :class:`RecordParseError` on a broken body."""
        ...


def _is_extractor(obj: Any) -> bool:
    return (
        isinstance(obj, type)
        and callable(getattr(obj, "from_config", None))
        and callable(getattr(obj, "urls", None))
    )


EXTRACTORS: Registry[type[UrlExtractor]] = Registry(
    "url extractor", group="contentcloud.url_extractors", check=_is_extractor
)
EXTRACTORS.register("xpath", "harvesters.download.extract:XPathExtractor")
EXTRACTORS.register("rdf-path", "harvesters.download.extract:RdfPathExtractor")


def build_extractor(config: DownloadConfig) -> UrlExtractor:
    """The profile's extractor for the layer read.

    ``extractor`` names one explicitly. Otherwise the one whose field is set; with both set,
    native (harvested XML) records use ``xpath`` and transformed (RDF) records ``property_path``.
    """
    name = config.extractor
    if name is None:
        if config.xpath and config.property_path:
            name = "xpath" if config.layer == "native" else "rdf-path"
        elif config.xpath:
            name = "xpath"
        elif config.property_path:
            name = "rdf-path"
        else:
            raise ConfigError(
                "the download section needs xpath, property_path or extractor",
                field="download",
                rule="required",
            )
    return EXTRACTORS.get(name).from_config(config)


def unique(values: Iterable[str]) -> list[str]:
    """Stripped, non-empty, first occurrence kept."""
    seen: dict[str, None] = {}
    for value in values:
        value = value.strip()
        if value:
            seen.setdefault(value, None)
    return list(seen)


class XPathExtractor:
    """XPath 1.0 over an XML record: attribute and text results are URLs, elements give their text."""

    def __init__(self, xpath: str, namespaces: Mapping[str, str] | None = None) -> None:
        from lxml import etree

        try:
            self._xpath = etree.XPath(xpath, namespaces=dict(namespaces or {}), smart_strings=False)
        except etree.XPathSyntaxError as exc:
            raise ConfigError(
                f"{xpath!r} is not a valid XPath: {exc}", field="download.xpath", rule="xpath"
            ) from exc
        self.expression = xpath

    @classmethod
    def from_config(cls, config: DownloadConfig) -> XPathExtractor:
        if not config.xpath:
            raise ConfigError(
                "the xpath extractor needs download.xpath", field="download.xpath", rule="required"
            )
        return cls(config.xpath, config.namespaces)

    def urls(self, body: bytes, *, record_id: str) -> list[str]:
        from lxml import etree

        from harvesters.repair import parse_xml

        try:
            root = parse_xml(body)
        except etree.XMLSyntaxError as exc:
            raise RecordParseError(f"not well-formed XML: {exc}", record_id=record_id, step=STEP) from exc
        try:
            result = self._xpath(root)
        except etree.XPathEvalError as exc:
            raise RecordParseError(f"{self.expression}: {exc}", record_id=record_id, step=STEP) from exc
        if isinstance(result, str):
            return unique([result])
        if not isinstance(result, list):  # a number or a boolean names no file
            return []
        return unique(
            item if isinstance(item, str) else "".join(item.itertext())
            for item in result
            if isinstance(item, str) or hasattr(item, "itertext")
        )


#: RDF/XML entity declarations (expanded without limit by the RDF/XML parser)
_ENTITY_DECLARATION = re.compile(rb"<!ENTITY", re.IGNORECASE)
#: an XML document (RDF/XML) rather than N-Triples/Turtle, whose first IRI also starts with '<'
_XML_START = re.compile(
    rb"^\s*(?:\xef\xbb\xbf)?\s*(?:<\?xml|<!|<[A-Za-z_][\w.-]*(?::[A-Za-z_][\w.-]*)?[\s/>])"
)
#: record syntaxes (the names of the profile's ``transform.output``) → pyoxigraph formats
SYNTAXES = {
    "ntriples": "N_TRIPLES",
    "turtle": "TURTLE",
    "rdfxml": "RDF_XML",
    "trig": "TRIG",
    "nquads": "N_QUADS",
    "jsonld": "JSON_LD",
}


def _sniff(body: bytes) -> str:
    """XML is RDF/XML, a JSON object or array JSON-LD, anything else Turtle (N-Triples included)."""
    if _XML_START.match(body[:512]):
        return "rdfxml"
    return "jsonld" if body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"[") else "turtle"


class RdfPathExtractor:
    """A SPARQL 1.1 property path from any subject: IRI and literal objects are URLs.

    ``syntax`` fixes the record syntax (a key of :data:`SYNTAXES`, as ``transform.output``
    names it); without it each record is recognised: XML is RDF/XML, JSON is JSON-LD (remote
    contexts are not fetched), anything else is read as Turtle (N-Triples is a subset).
    """

    def __init__(
        self, property_path: str, namespaces: Mapping[str, str] | None = None, *, syntax: str | None = None
    ) -> None:
        import pyoxigraph as ox

        if re.search(r"[{}]", property_path):
            raise ConfigError(
                f"{property_path!r} is not a property path (braces)",
                field="download.property_path",
                rule="property-path",
            )
        prefixes = "".join(f"PREFIX {p}: <{iri}>\n" for p, iri in (namespaces or {}).items())
        self.query = f"{prefixes}SELECT DISTINCT ?url WHERE {{ ?s {property_path} ?url }}"
        self._store = ox.Store()
        try:
            self._store.query(self.query)
        except SyntaxError as exc:
            raise ConfigError(
                f"{property_path!r} is not a valid SPARQL property path: {exc}",
                field="download.property_path",
                rule="property-path",
            ) from exc
        if syntax is not None and syntax not in SYNTAXES:
            raise ConfigError(
                f"unknown RDF syntax {syntax!r} (one of {', '.join(SYNTAXES)})",
                field="transform.output",
                rule="enum",
            )
        self.syntax = syntax
        self.property_path = property_path

    @classmethod
    def from_config(cls, config: DownloadConfig) -> RdfPathExtractor:
        if not config.property_path:
            raise ConfigError(
                "the rdf-path extractor needs download.property_path",
                field="download.property_path",
                rule="required",
            )
        return cls(config.property_path, config.namespaces, syntax=config.rdf_syntax)

    def _format(self, body: bytes):
        import pyoxigraph as ox

        syntax = self.syntax or _sniff(body)
        return syntax, getattr(ox.RdfFormat, SYNTAXES[syntax])

    def urls(self, body: bytes, *, record_id: str) -> list[str]:
        syntax, rdf_format = self._format(body)
        if syntax == "rdfxml" and _ENTITY_DECLARATION.search(body):
            raise RecordParseError(
                "RDF/XML declaring entities is refused (unbounded entity expansion)",
                record_id=record_id,
                step=STEP,
            )
        self._store.clear()
        try:
            self._store.load(body, format=rdf_format)
        except (SyntaxError, ValueError) as exc:
            raise RecordParseError(f"not valid {syntax} RDF: {exc}", record_id=record_id, step=STEP) from exc
        import pyoxigraph as ox

        # quads (TriG, N-Quads, JSON-LD graphs) count wherever they are: the union of the graphs
        found = (
            solution["url"] for solution in self._store.query(self.query, use_default_graph_as_union=True)
        )
        return unique(term.value for term in found if isinstance(term, ox.NamedNode | ox.Literal))
