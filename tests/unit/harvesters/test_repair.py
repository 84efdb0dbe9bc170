"""Control-character repair: for any text, the repaired document parses and keeps every legal character."""

from __future__ import annotations

from xml.sax.saxutils import escape

from hypothesis import example, given
from hypothesis import strategies as st

from harvesters.repair import is_legal_xml_char, parse_xml, strip_illegal_xml_bytes, strip_illegal_xml_text


def expected_text(text: str) -> str:
    legal = "".join(c for c in text if is_legal_xml_char(ord(c)))
    return legal.replace("\r\n", "\n").replace("\r", "\n")  # XML end-of-line handling (section 2.11)


@given(st.text())
@example("a\x0bb\x00c\x1f\ufffe\uffffd")
@example("\r\n\r")
def test_repaired_bytes_parse_and_keep_every_legal_character(text):
    document = f"<a>{escape(text)}</a>".encode()
    repaired, removed = strip_illegal_xml_bytes(document)
    assert (parse_xml(repaired).text or "") == expected_text(text)
    assert removed == len(document) - len(repaired)


@given(st.lists(st.integers(min_value=0, max_value=0x10FFFF)))
@example([11, 65, 0xFFFE, 0x1F600])
def test_illegal_character_references_are_dropped(codepoints):
    refs = "".join(f"&#{cp};" if i % 2 else f"&#x{cp:X};" for i, cp in enumerate(codepoints))
    repaired, _ = strip_illegal_xml_bytes(f"<a>{refs}</a>".encode())
    legal = [cp for cp in codepoints if is_legal_xml_char(cp)]
    assert (parse_xml(repaired).text or "") == expected_text("".join(map(chr, legal)))


@given(st.text())
def test_text_repair_keeps_legal_characters(text):
    assert strip_illegal_xml_text(text) == "".join(c for c in text if is_legal_xml_char(ord(c)))


def test_utf16_is_left_alone():
    data = "<a>x</a>".encode("utf-16")
    assert strip_illegal_xml_bytes(data) == (data, 0)
