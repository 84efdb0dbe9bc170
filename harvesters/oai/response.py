"""Turning response bytes into OAI-PMH values, repairing what can be repaired.

Illegal control characters are stripped before parsing. A page that is still not well-formed is
salvaged record by record (each ``<record>`` starts with its ``<header>``, which gives reliable
split points even when MARC or MODS payloads contain ``<record>`` elements of their own); the
resumption token is read with a pattern, so the list can go on. Records that do not parse go to
the discarded store with the parser's message.
"""

from __future__ import annotations

import logging
import re
from xml.sax.saxutils import unescape

import requests
from lxml import etree
from sickle.response import OAIResponse as SickleResponse

from harvesters.base import Problem
from harvesters.oai.errors import NotOAIResponse, error_for
from harvesters.oai.models import OAI_NS, Header, Identify, ListPage, OAIRecord, ResumptionToken
from harvesters.repair import (
    entities_message,
    has_doctype,
    parse_xml,
    strip_illegal_xml_bytes,
    unexpanded_entities,
)

logger = logging.getLogger(__name__)

_NS = f"{{{OAI_NS}}}"
_ROOT = f"{_NS}OAI-PMH"
_ENTITIES = {"&quot;": '"', "&apos;": "'"}


class OAIResponse(SickleResponse):
    """A response parsed once with the hardened parser (sickle re-parses on every ``.xml``)."""

    def __init__(self, http_response: requests.Response, params: dict) -> None:
        super().__init__(http_response, params)
        self._xml: etree._Element | None = None

    @property
    def xml(self) -> etree._Element:
        if self._xml is None:
            content, _ = strip_illegal_xml_bytes(self.http_response.content)
            self._xml = parse_xml(content)
        return self._xml


def check_error(root: etree._Element, **where: object) -> None:
    """Raise the OAI error class of the first ``<error>`` of a response, if any."""
    error = root.find(f"{_NS}error")
    if error is not None:
        raise error_for(error.get("code", "unknown"), (error.text or "").strip(), **where)


def parse_document(content: bytes, **where: object) -> tuple[etree._Element, int]:
    """Repair, parse and check an OAI-PMH document; returns the root and the bytes repaired."""
    cleaned, repaired = strip_illegal_xml_bytes(content)
    root = parse_xml(cleaned)
    if root.tag != _ROOT:
        raise NotOAIResponse(f"not an OAI-PMH 2.0 response (root element {root.tag!r})", **where)
    check_error(root, **where)
    return root, repaired


def parse_identify(content: bytes, **where: object) -> Identify:
    root, _ = parse_document(content, **where)
    identify = root.find(f"{_NS}Identify")
    if identify is None:
        raise NotOAIResponse("Identify response without an <Identify> element", **where)

    def text(name: str) -> str | None:
        value = identify.findtext(f"{_NS}{name}")
        return value.strip() if value else None

    return Identify(
        repository_name=text("repositoryName"),
        base_url=text("baseURL"),
        granularity=text("granularity") or "YYYY-MM-DD",
        earliest_datestamp=text("earliestDatestamp"),
        deleted_record=text("deletedRecord"),
        response_date=(root.findtext(f"{_NS}responseDate") or "").strip() or None,
    )


def parse_list_page(
    content: bytes, verb: str, *, location: str, max_record_bytes: int | None = None, **where: object
) -> ListPage:
    """A ListRecords/ListIdentifiers/GetRecord page; salvages records of a broken page. A record
    larger than ``max_record_bytes`` is a record error (its head kept in the discarded store)."""
    cleaned, repaired = strip_illegal_xml_bytes(content)
    del content  # one copy of a large page is enough
    try:
        root = parse_xml(cleaned)
    except etree.XMLSyntaxError as exc:
        page = _salvage(cleaned, verb, f"{exc}", location=location, **where)
        page.repaired = repaired
        _cap_records(page, max_record_bytes, location)
        return page
    if root.tag != _ROOT:
        raise NotOAIResponse(f"not an OAI-PMH 2.0 response (root element {root.tag!r})", **where)
    check_error(root, **where)
    container = root.find(f"{_NS}{verb}")
    records: list[OAIRecord] = []
    problems: list[Problem] = []
    token = None
    if container is not None:
        element = "header" if verb == "ListIdentifiers" else "record"
        entities = has_doctype(root)  # only a page with a DOCTYPE can hold entity references
        for index, item in enumerate(container.iterchildren(f"{_NS}{element}")):
            _add_item(item, verb, records, problems, f"{location}, {element} {index + 1}", entities=entities)
        token_el = container.find(f"{_NS}resumptionToken")
        if token_el is not None:
            token = ResumptionToken(
                token=token_el.text or "",
                cursor=token_el.get("cursor"),
                complete_list_size=token_el.get("completeListSize"),
                expiration_date=token_el.get("expirationDate"),
            )
    response_date = (root.findtext(f"{_NS}responseDate") or "").strip() or None
    page = ListPage(records, token, response_date, problems, repaired)
    _cap_records(page, max_record_bytes, location)
    return page


#: bytes of an oversized record kept in the discarded store
RECORD_HEAD = 64 * 1024


def _cap_records(page: ListPage, max_record_bytes: int | None, location: str) -> None:
    """Records larger than the cap become record errors: the rest of the page goes on."""
    if max_record_bytes is None:
        return
    kept = []
    for record in page.records:
        if record.raw is not None and len(record.raw) > max_record_bytes:
            page.problems.append(
                Problem(
                    f"record is larger than api.max_record_bytes ({max_record_bytes} bytes): "
                    f"{len(record.raw)} bytes",
                    location=f"{location}, record {record.header.identifier}",
                    record_id=record.header.identifier,
                    raw=record.raw[:RECORD_HEAD],
                )
            )
        else:
            kept.append(record)
    page.records = kept


_HEADER, _METADATA = f"{_NS}header", f"{_NS}metadata"
_IDENTIFIER, _DATESTAMP, _SETSPEC = f"{_NS}identifier", f"{_NS}datestamp", f"{_NS}setSpec"


def _add_item(
    item: etree._Element,
    verb: str,
    records: list[OAIRecord],
    problems: list[Problem],
    location: str,
    *,
    entities: bool = False,
) -> None:
    """One ``<record>`` (or ``<header>``); children are walked once, this runs per record.

    With ``entities`` (the page declares a DOCTYPE), a record holding an entity reference the
    hardened parser left unexpanded is a record error, kept in the discarded store: stored as a
    good record it would only fail later, at transform."""
    if entities and (names := unexpanded_entities(item)):
        problems.append(
            Problem(
                entities_message(names),
                location=location,
                record_id=_identifier(item, verb),
                raw=etree.tostring(item),
            )
        )
        return
    if verb == "ListIdentifiers":
        header_el, has_metadata = item, False
    else:
        header_el, has_metadata = None, False
        for child in item:
            tag = child.tag
            if tag == _HEADER:
                header_el = child
            elif tag == _METADATA:
                has_metadata = True
    header = _header(header_el)
    if header is None:
        problems.append(
            Problem("record without a header identifier", location=location, raw=etree.tostring(item))
        )
        return
    if header.deleted or verb == "ListIdentifiers":
        records.append(OAIRecord(header, None))
        return
    if not has_metadata:
        problems.append(
            Problem(
                "record has no <metadata> and is not marked deleted",
                location=location,
                record_id=header.identifier,
                raw=etree.tostring(item),
            )
        )
        return
    records.append(OAIRecord(header, etree.tostring(item)))


def _identifier(item: etree._Element, verb: str) -> str | None:
    """The header identifier of a record that is refused, to name it in the error (if it has one)."""
    header_el = item if verb == "ListIdentifiers" else item.find(_HEADER)
    text = header_el.findtext(_IDENTIFIER) if header_el is not None else None
    return (text.strip() or None) if text else None


def _header(header_el: etree._Element | None) -> Header | None:
    if header_el is None:
        return None
    identifier, datestamp, sets = "", "", []
    for child in header_el:
        tag = child.tag
        if tag == _IDENTIFIER:
            identifier = (child.text or "").strip()
        elif tag == _DATESTAMP:
            datestamp = (child.text or "").strip()
        elif tag == _SETSPEC:
            sets.append((child.text or "").strip())
    if not identifier:
        return None
    return Header(identifier, datestamp, header_el.get("status") == "deleted", tuple(sets))


# --- salvage of pages that are not well-formed ---------------------------------------------------

_ROOT_START = re.compile(rb"<(?P<prefix>[\w.-]+:)?OAI-PMH\b[^>]*>")
_ATTR = re.compile(rb"""([\w:.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")


def _salvage(content: bytes, verb: str, parse_error: str, *, location: str, **where: object) -> ListPage:
    root_match = _ROOT_START.search(content)
    if root_match is None:
        raise NotOAIResponse(f"not well-formed ({parse_error}) and not an OAI-PMH response", **where)
    prefix = root_match.group("prefix") or b""
    root_start, root_end = root_match.group(0), b"</" + prefix + b"OAI-PMH>"
    p = re.escape(prefix)
    error = re.search(rb"<" + p + rb"error\b([^>]*)>(.*?)</" + p + rb"error>", content, re.DOTALL)
    if error is not None:
        code = dict(_attrs(error.group(1))).get("code", "unknown")
        raise error_for(code, _text(error.group(2)), **where)
    element = b"header" if verb == "ListIdentifiers" else b"record"
    start = re.compile(
        rb"<"
        + p
        + element
        + (rb"\b[^>]*>" if verb == "ListIdentifiers" else rb"\b[^>]*>\s*<" + p + rb"header\b")
    )
    starts = [m.start() for m in start.finditer(content)]
    token_match = re.search(
        rb"<" + p + rb"resumptionToken\b([^>]*?)(?:/>|>(.*?)</" + p + rb"resumptionToken>)",
        content,
        re.DOTALL,
    )
    tail = token_match.start() if token_match else content.rfind(b"</" + p + verb.encode())
    ends = [*starts[1:], tail if tail > starts[-1] else len(content)] if starts else []
    records: list[OAIRecord] = []
    problems = [
        Problem(
            f"page is not well-formed XML ({parse_error}); {len(starts)} record(s) salvaged one by one",
            location=location,
        )
    ]
    for index, (begin, end) in enumerate(zip(starts, ends, strict=True)):
        chunk = content[begin:end].rstrip()
        where_item = f"{location}, {element.decode()} {index + 1}"
        try:
            wrapper = parse_xml(root_start + chunk + root_end)
            item = wrapper[0]
        except (etree.XMLSyntaxError, IndexError) as exc:
            problems.append(Problem(f"record is not well-formed XML: {exc}", location=where_item, raw=chunk))
            continue
        _add_item(item, verb, records, problems, where_item)
    token = None
    if token_match is not None:
        attrs = dict(_attrs(token_match.group(1)))
        token = ResumptionToken(
            token=_text(token_match.group(2) or b""),
            cursor=attrs.get("cursor"),
            complete_list_size=attrs.get("completeListSize"),
            expiration_date=attrs.get("expirationDate"),
        )
    date = re.search(rb"<" + p + rb"responseDate>([^<]*)</", content)
    if not records and token is None:
        raise _unparsable(content, parse_error, **where)
    return ListPage(records, token, _text(date.group(1)) if date else None, problems, salvaged=True)


def _unparsable(content: bytes, parse_error: str, **where: object):
    from harvesters.oai.errors import UnparsablePage

    return UnparsablePage(
        f"page is not well-formed XML ({parse_error}) and no record or resumption token "
        "could be read from it",
        raw=content,
        **where,
    )


def _attrs(text: bytes) -> list[tuple[str, str]]:
    return [
        (m.group(1).decode(), _text(m.group(2) if m.group(2) is not None else m.group(3)))
        for m in _ATTR.finditer(text)
    ]


def _text(raw: bytes) -> str:
    return unescape(raw.decode("utf-8", "replace"), _ENTITIES).strip()
