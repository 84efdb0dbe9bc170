"""What flows between the steps of a chain: one record, as XML bytes, an lxml tree or RDF text.

A payload converts lazily and at most once: a record read from the MDStore is parsed only when a
step needs a tree, and a tree produced by an lxml XSLT step is serialized only when the next step
(or the final output) needs bytes. That is what keeps a chain close to a bare lxml loop.

Parsing is always hardened: harvested data is untrusted, so the parser resolves no external
entities, loads no DTD, never touches the network and refuses huge trees (billion laughs).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Literal

from lxml import etree

from mdstore.errors import RecordParseError

PayloadKind = Literal["xml", "text"]

_local = threading.local()
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
_POSITION_SUFFIX = re.compile(r", line \d+, column \d+$")


def safe_parser() -> etree.XMLParser:
    """The hardened XML parser of this thread (lxml parsers must not be shared across threads)."""
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, dtd_validation=False
        )
        _local.parser = parser
    return parser


def text_to_xml_bytes(text: str) -> bytes:
    """UTF-8 bytes of an XML document held as ``str``; its declaration (which may name another
    encoding than the one the string now has) is dropped."""
    return _XML_DECLARATION.sub("", text, count=1).encode("utf-8")


def parse_xml(
    data: bytes, *, record_id: str | None = None, step: str = "parse", base_url: str | None = None
) -> etree._ElementTree:
    """Parse untrusted XML with :func:`safe_parser`; a syntax error becomes a located
    :class:`RecordParseError`."""
    try:
        tree = etree.fromstring(data, safe_parser(), base_url=base_url).getroottree()
    except etree.XMLSyntaxError as exc:
        line, column = exc.position if exc.position else (None, None)
        location = f"line {line}, column {column}" if line else None
        message = _POSITION_SUFFIX.sub("", exc.msg or str(exc))
        raise RecordParseError(
            f"not well-formed XML: {message}", record_id=record_id, step=step, location=location
        ) from exc
    except ValueError as exc:  # e.g. an empty document
        raise RecordParseError(f"not XML: {exc}", record_id=record_id, step=step) from exc
    if tree.docinfo.internalDTD is not None:
        _refuse_entity_references(tree, record_id=record_id, step=step)
    return tree


def _refuse_entity_references(tree: etree._ElementTree, *, record_id: str | None, step: str) -> None:
    """Entities are never expanded, so a reference would survive into the output as an undeclared
    ``&name;`` (broken XML downstream): such a record fails here, with the entity and its line."""
    for entity in tree.getroot().iter(etree.Entity):
        raise RecordParseError(
            f"entity reference {entity.text} is refused: harvested records get no entity expansion",
            record_id=record_id,
            step=step,
            location=f"line {entity.sourceline}",
        )


@dataclass(frozen=True, slots=True)
class RecordContext:
    """What a step may know about the record besides its body (errors name it; X3ML derives
    reproducible UUIDs from the id; XSLT gets both as the parameters ``recordId``/``originalId``)."""

    record_id: str | None = None
    original_id: str | None = None
    #: non-fatal problems steps report (e.g. an X3ML entity dropped for an empty value)
    warnings: list[str] = field(default_factory=list)


class Payload:
    """One record between two steps.

    ``kind`` is ``xml`` (bytes and/or tree) or ``text`` (the text output of a step: N-Triples,
    Turtle…, named by ``text_format``).
    """

    __slots__ = ("_bytes", "_tree", "_text", "kind", "text_format")

    def __init__(
        self,
        kind: PayloadKind,
        *,
        data: bytes | None = None,
        tree: etree._ElementTree | None = None,
        text: str | None = None,
        text_format: str | None = None,
    ) -> None:
        self.kind = kind
        self._bytes = data
        self._tree = tree
        self._text = text
        self.text_format = text_format

    # --- constructors -------------------------------------------------------------------------
    @classmethod
    def from_body(cls, body: bytes | str) -> Payload:
        """A record body as stored (bytes, or str for bodies written as text)."""
        return cls("xml", data=text_to_xml_bytes(body) if isinstance(body, str) else body)

    @classmethod
    def from_tree(cls, tree: etree._ElementTree) -> Payload:
        return cls("xml", tree=tree)

    @classmethod
    def from_text(cls, text: str, text_format: str) -> Payload:
        """The text result of a step, e.g. N-Triples from an X3ML mapping or a text-method XSLT."""
        return cls("text", text=text, text_format=text_format)

    # --- views --------------------------------------------------------------------------------
    @property
    def is_xml(self) -> bool:
        return self.kind == "xml"

    def tree(self, *, step: str = "parse", record_id: str | None = None) -> etree._ElementTree:
        """The record as a tree, parsed (hardened) on first use."""
        if self.kind != "xml":
            raise RecordParseError(
                f"needs XML, but the previous step produced {self.text_format} text",
                record_id=record_id,
                step=step,
            )
        if self._tree is None:
            assert self._bytes is not None
            self._tree = parse_xml(self._bytes, record_id=record_id, step=step)
        return self._tree

    def xml_bytes(self) -> bytes:
        """The XML serialized (once); an XSLT result keeps its ``xsl:output`` settings."""
        if self.kind != "xml":
            return self.text().encode("utf-8")
        if self._bytes is None:
            assert self._tree is not None
            if isinstance(self._tree, etree._XSLTResultTree):
                self._bytes = bytes(self._tree)
            else:
                self._bytes = etree.tostring(self._tree, encoding="UTF-8", xml_declaration=True)
        return self._bytes

    def text(self) -> str:
        if self.kind == "text":
            assert self._text is not None
            return self._text
        return self.xml_bytes().decode("utf-8")

    def with_tree(self, tree: etree._ElementTree) -> Payload:
        """This record after a step changed its tree in place (cached bytes are stale)."""
        return Payload.from_tree(tree)

    def __repr__(self) -> str:
        held = [
            name
            for name, value in (("bytes", self._bytes), ("tree", self._tree), ("text", self._text))
            if value is not None
        ]
        return f"<Payload {self.kind} {self.text_format or ''} holding {','.join(held)}>"
