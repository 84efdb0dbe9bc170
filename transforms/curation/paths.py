"""Source paths of a record: every element and attribute path, namespaces as prefixes kept stable.

A path is held as a tuple of Clark names, elements as ``{uri}local`` and a final attribute as
``@{uri}local``: namespace URIs, not prefixes, decide identity, so two records that bind ``dc`` to
the same URI under different prefixes share their paths. :class:`Prefixes` turns them into text
(``/oai_dc:dc/dc:title/@xml:lang``) with one prefix per URI for the whole run: a well-known
prefix when the URI has one, else the first prefix a record declared for it, made unique.

An element's *value* is its own text (text children, whitespace normalised), so containers have
none; an attribute's value is its value.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from lxml import etree

XML_NS = "http://www.w3.org/XML/1998/namespace"

Path = tuple[str, ...]

#: URI → prefix for the namespaces metadata records use most
WELL_KNOWN = {
    XML_NS: "xml",
    "http://www.openarchives.org/OAI/2.0/oai_dc/": "oai_dc",
    "http://purl.org/dc/elements/1.1/": "dc",
    "http://purl.org/dc/terms/": "dcterms",
    "http://www.openarchives.org/OAI/2.0/": "oai",
    "http://www.w3.org/2001/XMLSchema-instance": "xsi",
    "http://www.w3.org/1999/02/22-rdf-syntax-ns#": "rdf",
    "http://www.w3.org/2000/01/rdf-schema#": "rdfs",
    "http://www.w3.org/1999/xlink": "xlink",
    "http://www.loc.gov/mods/v3": "mods",
    "http://www.clarin.eu/cmd/": "cmd",
    "http://www.clarin.eu/cmd/1": "cmd",
    "http://datacite.org/schema/kernel-4": "datacite",
    "http://www.openarchives.org/OAI/2.0/provenance": "provenance",
    "http://www.europeana.eu/schemas/edm/": "edm",
    "http://www.lido-schema.org": "lido",
    "http://www.tei-c.org/ns/1.0": "tei",
}


class Prefixes:
    """One prefix per namespace URI for a whole run, so path texts are comparable across records."""

    def __init__(self) -> None:
        self._by_uri: dict[str, str] = {}
        self._taken: set[str] = set()

    def learn(self, nsmap: dict[str | None, str]) -> None:
        """Note the prefixes a record declares (the first binding of a URI wins)."""
        for prefix, uri in nsmap.items():
            if uri not in self._by_uri:
                self._assign(uri, prefix)

    def prefix(self, uri: str) -> str:
        found = self._by_uri.get(uri)
        return found if found is not None else self._assign(uri, None)

    def _assign(self, uri: str, hint: str | None) -> str:
        wanted = WELL_KNOWN.get(uri) or hint or "ns"
        prefix, n = wanted, 1
        while prefix in self._taken:
            n += 1
            prefix = f"{wanted}{n}"
        self._by_uri[uri] = prefix
        self._taken.add(prefix)
        return prefix

    def qname(self, clark: str) -> str:
        if not clark.startswith("{"):
            return clark
        uri, _, local = clark[1:].partition("}")
        return f"{self.prefix(uri)}:{local}"

    def text(self, path: Path) -> str:
        """``/oai_dc:dc/dc:title/@xml:lang``."""
        parts = []
        for step in path:
            if step.startswith("@"):
                parts.append("@" + self.qname(step[1:]))
            else:
                parts.append(self.qname(step))
        return "/" + "/".join(parts)

    def as_dict(self) -> dict[str, str]:
        """prefix → URI, for a legend."""
        return {prefix: uri for uri, prefix in sorted(self._by_uri.items(), key=lambda item: item[1])}


def element_value(element: Any) -> str | None:
    """The element's own text, whitespace normalised; ``None`` when it has none."""
    chunks = [element.text or ""]
    chunks.extend(child.tail or "" for child in element)
    text = " ".join("".join(chunks).split())
    return text or None


def iter_nodes(root: Any) -> Iterator[tuple[Path, Any, str | None, str | None]]:
    """``(path, element, attribute name or None, value)`` for every element and attribute, in
    document order. Comments and processing instructions are skipped."""
    stack: list[tuple[Any, Path]] = [(root, (root.tag,))]
    while stack:
        element, path = stack.pop()
        yield path, element, None, element_value(element)
        for name, value in element.attrib.items():
            yield (*path, "@" + name), element, name, value
        children = [child for child in element if isinstance(child.tag, str)]
        for child in reversed(children):
            stack.append((child, (*path, child.tag)))


def record_paths(root: Any) -> dict[Path, list[str | None]]:
    """Every path of one record with the values found there (``None`` for a container element)."""
    found: dict[Path, list[str | None]] = {}
    for path, _element, _attr, value in iter_nodes(root):
        found.setdefault(path, []).append(value)
    return found


def is_attribute(path: Path) -> bool:
    return bool(path) and path[-1].startswith("@")


def parse_record(body: bytes | str, *, record_id: str | None = None) -> etree._Element:
    """A stored record body as an element, through the chain's hardened parser."""
    from transforms.payload import Payload

    return Payload.from_body(body).tree(record_id=record_id).getroot()
