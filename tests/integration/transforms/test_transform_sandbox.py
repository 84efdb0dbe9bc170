"""The transform pipeline step with hostile XSLT 2/3: a refused read or a runaway record is a stored
record error, the other records are transformed, and the secret is stored nowhere."""

from __future__ import annotations

import pytest

import transforms.saxon_xslt as saxon_xslt
from contentcloud.pipeline.summary import Outcome
from contentcloud.pipeline.transform import transform
from mdstore import RecordInput, UnitKey, make_record_id, open_store
from tests.unit.transforms.hostile import attack
from transforms.confine import landlock_abi
from transforms.registry import build_chain

pytestmark = pytest.mark.skipif(landlock_abi() < 1, reason="the kernel offers no Landlock")

SOURCE = UnitKey("ds", "oai_dc")
TARGET = UnitKey("ds", "PE", "store", "transformed")

#: reads the URI a record names, after the record's own xml:base (a harvested record is hostile
#: too), loops on demand, else copies
STYLESHEET = """<xsl:stylesheet version="3.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:template name="loop"><xsl:param name="n"/>
    <xsl:call-template name="loop"><xsl:with-param name="n" select="$n + 1"/></xsl:call-template>
  </xsl:template>
  <xsl:template match="/">
    <xsl:if test="/r/@loop">
      <xsl:call-template name="loop"><xsl:with-param name="n" select="1"/></xsl:call-template>
    </xsl:if>
    <xsl:variable name="base" select="(base-uri(/r)[string()], static-base-uri())[1]"/>
    <out><xsl:value-of select="if (/r/@href) then unparsed-text(resolve-uri(/r/@href, $base)) else /r"/></out>
  </xsl:template>
</xsl:stylesheet>
"""


@pytest.fixture
def hostile(tmp_path, mappings_dir):
    with attack(tmp_path, mappings_dir) as found:
        yield found


@pytest.fixture
def mappings_dir(tmp_path):
    root = tmp_path / "mappings"
    root.mkdir()
    (root / "vocab.txt").write_text("inside", encoding="utf-8")
    return root


def test_refused_reads_and_runaway_records_are_record_errors_and_the_run_goes_on(
    tmp_path, hostile, monkeypatch
):
    # the static checks would refuse this stylesheet outright (unparsed-text of a computed URI);
    # switched off, the run shows what the confined worker does record by record
    monkeypatch.setattr(saxon_xslt, "check_stylesheet", lambda *args, **kwargs: None)
    (hostile.mappings / "m.xsl").write_text(STYLESHEET, encoding="utf-8")
    chain = build_chain(
        [{"type": "xslt", "mapping": "m.xsl", "time_limit": 2}], base_dir=hostile.mappings, output="xml"
    )
    secret = hostile.secret_dir / "secret.txt"
    records = {
        "a": "<r>first</r>",
        "b": f'<r href="{secret}"/>',
        "c": f'<r xml:base="{hostile.secret_dir.as_uri()}/" href="secret.txt"/>',
        "d": '<r loop="yes"/>',
        "e": '<r href="vocab.txt"/>',
        "f": f'<r href="{hostile.http}/secret.txt"/>',
        "g": "<r>last</r>",
    }
    with open_store(f"sqlite:///{tmp_path / 'mdstore.sqlite'}", keep=5, lease_ttl=600) as store:
        tx = store.begin(SOURCE, "full", nsprefix="ds")
        tx.write([(RecordInput(oid, body), False) for oid, body in records.items()])
        tx.commit()
        summary = transform(store, SOURCE, TARGET, chain, run_id="run-1", max_error_rate=0.9)
        assert summary.outcome == Outcome.RECORD_ERRORS
        assert (summary.read, summary.errors, summary.added) == (7, 4, 3)
        with store.reader(TARGET) as view:
            outputs = {r.original_id: r.body_text() for r in view.records()}
            errors = {e.record_id: (e.step, e.message) for e in view.errors()}
    assert {oid: body.splitlines()[-1] for oid, body in outputs.items()} == {
        "a": "<out>first</out>",
        "e": "<out>inside</out>",
        "g": "<out>last</out>",
    }
    refused = "is refused: a mapping may read files inside the mappings directory only"
    assert errors[make_record_id("ds", "b")][1].startswith(f"reading {secret} {refused}")
    assert errors[make_record_id("ds", "c")][1].startswith(f"reading {secret} {refused}")
    assert errors[make_record_id("ds", "d")] == (
        "xslt m.xsl",
        "the stylesheet ran longer than the time limit of 2 s for this record (a loop or runaway "
        "recursion?); it was stopped",
    )
    assert errors[make_record_id("ds", "f")][1].startswith(
        f"refused by the sandbox: a mapping may read files inside the mappings directory only, and nothing "
        f"on the network (Access to URI {hostile.http}/secret.txt has been prohibited"
    )
    hostile.assert_nothing_escaped(*outputs.values(), *(message for _, message in errors.values()))


def test_a_hostile_mapping_fails_the_run_before_any_record_is_read(tmp_path, hostile):
    """With the static checks on (the real set-up), the chain does not even compile."""
    from mdstore.errors import MappingError

    hostile.place("saxon-xml-base-root")
    with pytest.raises(MappingError) as info:
        build_chain([{"type": "xslt", "mapping": "saxon-xml-base-root.xsl"}], base_dir=hostile.mappings)
    assert str(info.value) == (
        f"xslt saxon-xml-base-root.xsl: {hostile.mappings}/saxon-xml-base-root.xsl:4 (@select): "
        f"'secret.txt' is refused: it lies outside the mappings directory {hostile.mappings}"
    )
