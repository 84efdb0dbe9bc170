"""Repairs and hardened parsing for untrusted XML: what every harvester applies to what it fetches.

Holds the one place that strips XML-illegal characters and the one hardened lxml parser
configuration (no entity resolution, no DTD loading, no network, no huge trees). Harvesters use
these helpers; they never build their own parsers.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import IO

from lxml import etree

#: C0 controls XML 1.0 forbids (TAB, LF and CR are allowed). In UTF-8 and every ASCII-compatible
#: encoding these bytes never occur inside a multi-byte sequence, so deleting them is safe.
ILLEGAL_C0 = bytes(b for b in range(0x20) if b not in (0x09, 0x0A, 0x0D))
#: U+FFFE and U+FFFF (noncharacters XML forbids) in UTF-8
_ILLEGAL_UTF8_SEQ = re.compile(rb"\xef\xbf[\xbe\xbf]")
#: numeric character references, to drop those that name an illegal character
_CHAR_REF = re.compile(rb"&#(?:[xX]([0-9a-fA-F]{1,8})|([0-9]{1,10}));")
_ILLEGAL_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def is_legal_xml_char(codepoint: int) -> bool:
    """XML 1.0 ``Char`` production (section 2.2)."""
    return (
        codepoint in (0x9, 0xA, 0xD)
        or 0x20 <= codepoint <= 0xD7FF
        or 0xE000 <= codepoint <= 0xFFFD
        or 0x10000 <= codepoint <= 0x10FFFF
    )


def _drop_illegal_ref(match: re.Match[bytes]) -> bytes:
    hex_digits, dec_digits = match.groups()
    codepoint = int(hex_digits, 16) if hex_digits else int(dec_digits)
    return match.group(0) if is_legal_xml_char(codepoint) else b""


def _is_utf16(data: bytes) -> bool:
    return data[:2] in (b"\xff\xfe", b"\xfe\xff") or (len(data) > 1 and (data[0] == 0 or data[1] == 0))


def strip_illegal_xml_bytes(data: bytes) -> tuple[bytes, int]:
    """Remove XML-illegal characters (raw and as character references) from an XML document.

    Returns the repaired bytes and how many bytes were removed. UTF-16 documents are left as
    they are (their code units contain NUL bytes by design).
    """
    if _is_utf16(data):
        return data, 0
    cleaned = data.translate(None, ILLEGAL_C0)
    if b"\xef\xbf" in cleaned:
        cleaned = _ILLEGAL_UTF8_SEQ.sub(b"", cleaned)
    if b"&#" in cleaned:
        cleaned = _CHAR_REF.sub(_drop_illegal_ref, cleaned)
    return cleaned, len(data) - len(cleaned)


def strip_illegal_xml_text(text: str) -> str:
    """The same repair on text (JSON or CSV values turned into XML)."""
    return _ILLEGAL_TEXT.sub("", text)


class CleaningReader:
    """A file-like wrapper that deletes illegal C0 bytes while streaming (for ``iterparse``).

    Character references and U+FFFE/U+FFFF split across reads cannot be repaired here; the
    streaming splitter reports such a document as unparsable instead.
    """

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.removed = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._raw.read(size)
        cleaned = chunk.translate(None, ILLEGAL_C0)
        self.removed += len(chunk) - len(cleaned)
        return cleaned


def safe_parser(*, recover: bool = False) -> etree.XMLParser:
    """The hardened parser: no external entities, no DTDs, no network, no huge trees."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        dtd_validation=False,
        recover=recover,
        remove_blank_text=False,
    )


_PARSER = safe_parser()


def parse_xml(data: bytes) -> etree._Element:
    """Parse one document with the hardened parser; raises ``etree.XMLSyntaxError``."""
    return etree.fromstring(data, parser=_PARSER)


def has_doctype(element: etree._Element) -> bool:
    """Whether ``element``'s document declares a DOCTYPE: without one an entity reference other than
    the five predefined is not well-formed, so only such documents can hold unexpanded ones."""
    docinfo = element.getroottree().docinfo
    return bool(docinfo.doctype) or docinfo.internalDTD is not None


def unexpanded_entities(element: etree._Element) -> list[str]:
    """The entity references left in ``element`` (``&name;`` nodes), in order, without repeats.

    The hardened parser never resolves entities, so a reference declared in a page's DTD (an XXE
    attempt, or a harmless ``&nbsp;``) stays a node; a record serialized with it is no longer
    well-formed outside that page, so harvesters make such a record a record error."""
    return list(dict.fromkeys(node.name for node in element.iter(etree.Entity)))


def entities_message(names: list[str]) -> str:
    """The record error for :func:`unexpanded_entities`."""
    refs = ", ".join(f"&{name};" for name in names[:5]) + (", …" if len(names) > 5 else "")
    return f"record holds unexpanded entity reference(s) {refs} (entities are never resolved)"


FEED_BYTES = 64 * 1024


def pull_events_safely(
    source: IO[bytes],
    tag: str | None = None,
    events: tuple[str, ...] = ("end",),
    *,
    feed_bytes: int = FEED_BYTES,
    max_gap: int | None = None,
) -> Iterator[tuple[str, etree._Element]]:
    """Parse events of a stream with the hardened options, in constant memory.

    A pull parser fed ``feed_bytes`` at a time, its events drained after every feed, rather than
    ``etree.iterparse``, so that what a broken document yields does not depend on libxml2's
    buffering: with libxml2 2.14, iterparse raised a broken tail's error before any event when the
    file fitted in one parser chunk, losing every good record before it. Here the events parsed
    before a syntax error are yielded, then the ``etree.XMLSyntaxError`` is raised.

    At the end of the data, libxml2 2.14 closes the elements still open (a truncated record would
    arrive as a complete element), so the events of a failing ``close()`` are dropped. To be sure
    nothing complete is still held back at that point, an empty comment is fed first: it is legal
    wherever a document can end, and it makes the parser finish every complete construct before it.

    With ``max_gap``, more than that many bytes fed without an event raises :class:`EventTooFar`
    (with the ``events`` and ``tag`` of a record splitter: a record larger than the cap), before
    the parser has built more of it than that.
    """
    parser = etree.XMLPullParser(
        events=events,
        tag=tag,
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=False,
    )
    gap = 0
    while chunk := source.read(feed_bytes):
        gap += len(chunk)
        for event in _feed(parser, chunk):
            gap = 0
            yield event
        if max_gap is not None and gap > max_gap:
            raise EventTooFar(gap)
    yield from _feed(parser, b"<!---->")
    try:
        parser.close()
    except etree.XMLSyntaxError:
        for _ in parser.read_events():
            pass  # elements closed by the end of the data, not by their end tags
        raise
    yield from parser.read_events()


class EventTooFar(Exception):
    """More than ``max_gap`` bytes without a parse event (``args[0]``: the bytes fed since one)."""


def _feed(parser: etree.XMLPullParser, data: bytes) -> Iterator[tuple[str, etree._Element]]:
    try:
        parser.feed(data)
    except etree.XMLSyntaxError:
        yield from parser.read_events()
        raise
    yield from parser.read_events()


_HTML_START = re.compile(
    rb"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*(?:<!doctype\s+html|<html[\s>])", re.IGNORECASE | re.DOTALL
)
_HTML_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def html_error_title(data: bytes) -> str | None:
    """If ``data`` is an HTML page (a proxy's or a CMS's error page served with 200), its title.

    Decided on the content, not the ``Content-Type``: real OAI-PMH servers send XML labelled
    ``text/html`` (ncar), and error pages arrive labelled ``text/xml``.
    """
    head = data[:4096].lstrip(b"\xef\xbb\xbf")
    if not _HTML_START.match(head):
        return None
    found = _HTML_TITLE.search(data[:65536])
    title = found.group(1).decode("utf-8", "replace").strip() if found else ""
    return " ".join(title.split()) or "(untitled)"
