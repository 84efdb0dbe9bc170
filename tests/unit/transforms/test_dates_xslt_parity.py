"""``mappings/lib/cc-functions.xsl`` (Saxon) and ``transforms.dates`` (Python, lxml) must agree.

The XPath port of the date grammar is run on the same inputs as the Python original, many at a
time: explicit shapes, generated date-like strings, and arbitrary text.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from tests.unit.transforms.test_dates import NOT_DATES, SHAPES
from transforms.dates import parse_date
from transforms.saxon_xslt import saxon_processor

LIB = Path(__file__).resolve().parents[3] / "mappings" / "lib" / "cc-functions.xsl"

PROBE = f"""<xsl:stylesheet version="3.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:cc="urn:contentcloud:functions" exclude-result-prefixes="cc">
  <xsl:import href="{LIB.as_uri()}"/>
  <xsl:template match="/">
    <r><xsl:for-each select="/values/v">
      <v d="{{cc:date(.)}}" s="{{cc:date-start(.)}}" e="{{cc:date-end(.)}}" y="{{cc:year(.)}}"/>
    </xsl:for-each></r>
  </xsl:template>
</xsl:stylesheet>"""


@pytest.fixture(scope="module")
def probe():
    processor, compiler = saxon_processor()
    executable = compiler.compile_stylesheet(stylesheet_text=PROBE)

    def run(values: list[str]) -> list[tuple[str, str, str, str]]:
        root = etree.Element("values")
        for value in values:
            etree.SubElement(root, "v").text = value
        node = processor.parse_xml(xml_text=etree.tostring(root, encoding="unicode"))
        result = etree.fromstring(executable.transform_to_string(xdm_node=node).encode("utf-8"))
        return [(v.get("d"), v.get("s"), v.get("e"), v.get("y")) for v in result]

    return run


def python(value: str) -> tuple[str, str, str, str]:
    found = parse_date(value)
    return (found.iso, found.first_day, found.last_day, found.year) if found else ("", "", "", "")


def check(probe, values: list[str]) -> None:
    assert probe(values) == [python(v) for v in values]


def test_documented_shapes_agree(probe):
    values = [text for text, _ in SHAPES] + [text for text in NOT_DATES if text is not None]
    check(probe, values)
    assert probe(["16/06/2015 - 17/06/2015"]) == [
        ("2015-06-16/2015-06-17", "2015-06-16", "2015-06-17", "2015")
    ]


PIECES = st.sampled_from(
    [
        "2015",
        "1850",
        "0000",
        "9999",
        "06",
        "6",
        "16",
        "31",
        "02",
        "29",
        "13",
        "00",
        "-",
        "/",
        ".",
        " ",
        " - ",
        "–",
        "—",
        " to ",
        "between ",
        " and ",
        "ca. ",
        "c.",
        "circa ",
        "about ",
        "approx. ",
        "[",
        "]",
        "(",
        ")",
        "?",
        "s",
        "T10:00",
        "t10:00:00z",
        "+02:00",
        "Z",
        "March",
        "mar.",
        "SEPT",
        "sept",
        "Sept.",
        "may",
        "june",
        "jul",
        "dec",
        ",",
        "st",
        "nd",
        "th",
        "1850s",
        "2016-02",
        "2015-06-16",
        "16/06/2015",
        "\t",
        "\n",
        "İ",
        "ß",
        "K",
        "ſept",
    ]
)
DATE_LIKE = st.lists(PIECES, min_size=1, max_size=7).map("".join)
XML_TEXT = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff"), max_size=25
)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(DATE_LIKE, XML_TEXT), min_size=1, max_size=60))
def test_generated_values_agree(probe, values):
    check(probe, values)
