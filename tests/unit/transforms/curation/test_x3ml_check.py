"""The mapping's findings over a sample: paths matching nothing, links writing nothing, no cascades."""

from __future__ import annotations

from pathlib import Path

from transforms.curation.preview import preview_records
from transforms.registry import build_chain

MAPPINGS = Path(__file__).resolve().parents[4] / "mappings"
SHIPPED = (MAPPINGS / "oai_dc2pe.x3ml").read_text(encoding="utf-8")
POLICY = str(MAPPINGS / "policies" / "contentcloud-policy.xml")
DC = (
    '<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/">{}</oai_dc:dc>'
)
FULL = DC.format(
    "<dc:title>T</dc:title><dc:identifier>https://e.org/1</dc:identifier><dc:creator>C</dc:creator>"
    "<dc:date>2020</dc:date><dc:subject>s</dc:subject><dc:type>Text</dc:type><dc:description>d</dc:description>"
    "<dc:language>en</dc:language><dc:rights>CC0</dc:rights>"
)


class Rec:
    def __init__(self, n: int, body: str) -> None:
        self.id, self.original_id, self.body = f"t::{n}", str(n), body.encode()

    def body_bytes(self) -> bytes:
        return self.body


def findings(tmp_path, text: str, bodies: list[str]) -> list[tuple[str, str, str]]:
    path = tmp_path / "m.x3ml"
    path.write_text(text, encoding="utf-8")
    chain = build_chain([{"type": "x3ml", "mapping": str(path), "policy": POLICY}], base_dir=MAPPINGS)
    report = preview_records(chain, [Rec(n, b) for n, b in enumerate(bodies)])
    assert report.failed == 0
    return [(f.kind, f.location.replace(str(path), "m.x3ml"), f.message) for f in report.findings]


def test_the_shipped_mapping_on_full_records_has_no_finding(tmp_path):
    assert findings(tmp_path, SHIPPED, [FULL, FULL]) == []


def test_a_path_missing_from_one_record_only_is_no_finding(tmp_path):
    assert findings(tmp_path, SHIPPED, [FULL, DC.format("<dc:title>only a title</dc:title>")]) == []


def test_a_misspelt_generator_argument_gives_no_text(tmp_path):
    old = '<arg name="label" type="xpath">dc:title[1]/text()</arg>'
    assert SHIPPED.count(old) == 1
    text = SHIPPED.replace(old, old.replace("dc:title", "dc:titel"))
    assert findings(tmp_path, text, [FULL, FULL]) == [
        (
            "no-match",
            "m.x3ml:34, mapping 1",
            "the generator SimpleLabel argument label 'dc:titel[1]/text()' gives no text in any of the 2 "
            "sampled records",
        )
    ]


def test_a_domain_that_matches_nothing_is_one_finding_plus_its_silent_links(tmp_path):
    text = SHIPPED.replace(
        "<source_node>//oai_dc:dc</source_node>", "<source_node>//oai_dc:record</source_node>"
    )
    found = findings(tmp_path, text, [FULL])
    assert found[0] == (
        "no-match",
        "m.x3ml:24, mapping 1",
        "the domain source_node '//oai_dc:record' matches nothing in any of the 1 sampled record",
    )
    assert [kind for kind, _, _ in found[1:]] == ["no-triple"] * 10  # each link, no path cascade
