"""Files to records: split big XML on an element with streaming, or take one file as one record.

Splitting streams the file through a pull parser with the hardened options and frees each record's
element (and the siblings before it) as soon as it is serialized, so memory stays flat however big
the file; the records before a broken tail are kept whatever libxml2's buffering. The
shared logic of the FTP harvester and the HTTP ``xml-split`` connector.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import IO

from lxml import etree

from harvesters.base import Problem
from harvesters.repair import (
    CleaningReader,
    EventTooFar,
    entities_message,
    parse_xml,
    pull_events_safely,
    strip_illegal_xml_bytes,
    unexpanded_entities,
)
from mdstore.envelope import RecordInput

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SplitSpec:
    """How to cut records out of a file: the element, where its id is, the prefixes used."""

    element: str | None = None
    id_xpath: str | None = None
    namespaces: Mapping[str, str] | None = None

    def clark(self) -> str | None:
        """``prefix:local`` → ``{uri}local``; ``local`` matches that name in any namespace."""
        if self.element is None:
            return None
        if self.element.startswith("{"):
            return self.element
        if ":" in self.element:
            prefix, local = self.element.split(":", 1)
            uri = (self.namespaces or {}).get(prefix)
            if uri is None:
                raise ValueError(f"split element {self.element!r}: prefix {prefix!r} is not in namespaces")
            return f"{{{uri}}}{local}"
        return f"{{*}}{self.element}"


Item = RecordInput | Problem
#: bytes of an oversized record kept in the discarded store (enough to see what it was)
DISCARDED_HEAD = 64 * 1024


def split_stream(
    stream: IO[bytes], source: str, spec: SplitSpec, *, skip: int = 0, max_record_bytes: int = 64 * 2**20
) -> Iterator[Item]:
    """Records of one XML stream (``source`` names it in ids and errors); the first ``skip`` are
    passed over without being serialized (resuming inside a file)."""
    tag = spec.clark()
    if tag is None:
        data = stream.read(max_record_bytes + 1)  # never the whole of a hostile file in memory
        if len(data) > max_record_bytes:
            yield Problem(
                f"record is larger than {max_record_bytes} bytes (the whole file is one record)",
                location=source,
                raw=data[:DISCARDED_HEAD],
            )
            return
        yield from whole_file(data, source, spec)
        return
    cleaning = CleaningReader(stream)
    index = 0
    try:
        for _, element in pull_events_safely(cleaning, tag=tag, max_gap=max_record_bytes):
            index += 1
            if index > skip:
                yield _record(element, source, index, spec, max_record_bytes)
            element.clear(keep_tail=False)
            while element.getprevious() is not None:
                del element.getparent()[0]
    except etree.XMLSyntaxError as exc:
        yield Problem(f"not well-formed XML after record {index}: {exc}", location=source)
    except EventTooFar:
        yield Problem(
            f"record {index + 1} is larger than {max_record_bytes} bytes; the rest of the file is not read",
            location=source,
        )
    if cleaning.removed:
        logger.info("%s: removed %d illegal character byte(s)", source, cleaning.removed)


def _record(element: etree._Element, source: str, index: int, spec: SplitSpec, max_bytes: int) -> Item:
    raw = etree.tostring(element)
    location = f"{source}#{index}"
    if len(raw) > max_bytes:
        return Problem(f"record is larger than {max_bytes} bytes", location=location)
    if names := unexpanded_entities(element):  # declared in the file's DTD, undefined once split out
        return Problem(entities_message(names), location=location, raw=raw)
    if spec.id_xpath:
        original_id = _first_text(element, spec)
        if not original_id:
            return Problem(f"no id at {spec.id_xpath}", location=location, raw=raw)
    else:
        original_id = location
    return RecordInput(original_id, raw, provenance={"source": source})


def whole_file(data: bytes, source: str, spec: SplitSpec) -> Iterator[Item]:
    """One file = one record; it must be well-formed XML (repaired of illegal characters)."""
    cleaned, _ = strip_illegal_xml_bytes(data)
    try:
        root = parse_xml(cleaned)
    except etree.XMLSyntaxError as exc:
        yield Problem(f"not well-formed XML: {exc}", location=source, raw=data)
        return
    original_id = _first_text(root, spec) if spec.id_xpath else source
    if not original_id:
        yield Problem(f"no id at {spec.id_xpath}", location=source, raw=data)
        return
    yield RecordInput(original_id, cleaned, provenance={"source": source})


def _first_text(element: etree._Element, spec: SplitSpec) -> str | None:
    try:
        found = element.xpath(spec.id_xpath, namespaces=dict(spec.namespaces or {}))
    except etree.XPathError as exc:
        raise ValueError(f"id_xpath {spec.id_xpath!r}: {exc}") from exc
    if isinstance(found, list):
        found = found[0] if found else None
    if found is None:
        return None
    text = found.text if isinstance(found, etree._Element) else str(found)
    return text.strip() if text and text.strip() else None
