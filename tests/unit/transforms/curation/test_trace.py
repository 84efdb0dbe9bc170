"""Tracing which source paths a chain reads: value markers, then perturbation and removal."""

from __future__ import annotations

import itertools

import pytest

from transforms.curation.paths import Prefixes
from transforms.curation.trace import ChainTracer
from transforms.payload import Payload
from transforms.registry import build_chain

STYLESHEET = """<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:output method="text"/>
  <xsl:template match="/">
    <xsl:value-of select="concat('title=', normalize-space(/r/t), ';')"/>
    <xsl:if test="/r/flag = 'yes'">flagged;</xsl:if>
    <xsl:if test="/r/present">present;</xsl:if>
    <xsl:value-of select="concat('n=', count(/r/c), ';')"/>
    <xsl:value-of select="translate(/r/upper, 'abcdefghijklmnopqrstuvwxyz', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ')"/>
    <xsl:if test="/r/t/@lang"><xsl:value-of select="concat('lang=', /r/t/@lang)"/></xsl:if>
  </xsl:template>
</xsl:stylesheet>
"""

RECORD = (
    b'<r><t lang="en">A title</t><flag>yes</flag><present/><c>1</c><c>2</c><upper>abc</upper>'
    b"<ignored>x</ignored><ignored2 a='1'/></r>"
)


@pytest.fixture
def chain(tmp_path):
    (tmp_path / "t.xsl").write_text(STYLESHEET)
    return build_chain([{"type": "xslt", "mapping": "t.xsl"}], base_dir=tmp_path, output="xml")


def read_paths(tracer: ChainTracer) -> list[str]:
    prefixes = Prefixes()
    return sorted(prefixes.text(p) for p in tracer.read)


def test_markers_perturbation_and_removal_find_every_kind_of_read(chain):
    tracer = ChainTracer(chain)
    tracer.trace(RECORD, record_id="x::1")
    # t, @lang (copied: markers), upper (case changed: markers survive), flag (a test on the value:
    # perturbation), present (an empty element tested for presence: removal), c (counted: removal)
    assert read_paths(tracer) == ["/r/c", "/r/flag", "/r/present", "/r/t", "/r/t/@lang", "/r/upper"]
    assert tracer.deterministic
    assert tracer.traced_records == 1


def test_a_path_is_tried_on_a_bounded_number_of_records(chain):
    tracer = ChainTracer(chain, records_per_path=2)
    for _ in range(4):
        tracer.trace(RECORD)
    assert tracer.traced_records == 2  # then nothing is pending
    assert tracer.tried[("r", "ignored")] == 2
    assert tracer.pending([("r", "ignored"), ("r", "t")]) == []


def test_a_failing_chain_counts_as_a_difference(tmp_path):
    (tmp_path / "f.xsl").write_text(
        """<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
        <xsl:output method="text"/>
        <xsl:template match="/"><xsl:if test="not(/r/must)"><xsl:message terminate="yes">no must</xsl:message>
        </xsl:if>ok</xsl:template></xsl:stylesheet>"""
    )
    chain = build_chain([{"type": "xslt", "mapping": "f.xsl"}], base_dir=tmp_path, output="xml")
    tracer = ChainTracer(chain)
    tracer.trace(b"<r><must/><other/></r>")
    assert read_paths(tracer) == ["/r/must"]


class _NoisyChain:
    """A stand-in chain whose output changes on every run (like generate-id() or random UUIDs)."""

    steps = ()

    def __init__(self) -> None:
        self._counter = itertools.count()

    def apply_payload(self, payload: Payload, context) -> Payload:
        root = payload.tree().getroot()
        title = root.findtext("t") or ""
        return Payload.from_text(f"{next(self._counter)} {title}", "ntriples")


def test_a_nondeterministic_chain_falls_back_to_markers():
    tracer = ChainTracer(_NoisyChain())
    tracer.trace(b"<r><t>x</t><u>y</u></r>")
    assert not tracer.deterministic
    assert read_paths(tracer) == ["/r/t"]  # u is not claimed just because every output differs
    assert "only value markers were used" in tracer.describe()
