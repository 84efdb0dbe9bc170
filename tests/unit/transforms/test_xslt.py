"""The xslt step: processor choice, parameters, helper functions, text output and located errors."""

from __future__ import annotations

import pytest
from lxml import etree

from mdstore.errors import ConfigError, MappingError
from tests.unit.transforms.conftest import stylesheet, write
from transforms.payload import Payload, RecordContext
from transforms.registry import build_chain
from transforms.saxon_xslt import SaxonXslt
from transforms.xslt import LxmlXslt, run_params

PARAMS_BODY = (
    '<xsl:param name="datasource"/><xsl:param name="nsprefix"/><xsl:param name="recordId"/>'
    '<xsl:param name="originalId"/><xsl:param name="extra" select="\'default\'"/>'
    '<xsl:template match="/"><out ds="{$datasource}" ns="{$nsprefix}" id="{$recordId}" '
    'oid="{$originalId}" extra="{$extra}" v="{system-property(\'xsl:version\')}"/></xsl:template>'
)


@pytest.mark.parametrize(
    ("version", "forced", "processor", "xsl_version"),
    [
        ("1.0", None, LxmlXslt, "1"),
        ("2.0", None, SaxonXslt, "3"),
        ("3.0", None, SaxonXslt, "3"),
        ("1.0", "3.0", SaxonXslt, "3"),
        ("3.0", "1.0", LxmlXslt, "1"),
    ],
)
def test_processor_follows_version_and_parameters_arrive(
    mappings_dir, version, forced, processor, xsl_version
):
    write(mappings_dir / "p.xsl", stylesheet(PARAMS_BODY, version=version))
    step = {
        "type": "xslt",
        "mapping": "p.xsl",
        **({"version": forced} if forced else {}),
        "params": {"extra": "from-profile"},
    }
    chain = build_chain([step], base_dir=mappings_dir, params=run_params("ds1", nsprefix="ns1"), output="xml")
    assert isinstance(chain.steps[0], processor)
    out = etree.fromstring(chain.apply(b"<r/>", record_id="ns1::abc", original_id="oai:x:1"))
    assert dict(out.attrib) == {
        "ds": "ds1",
        "ns": "ns1",
        "id": "ns1::abc",
        "oid": "oai:x:1",
        "extra": "from-profile",
        "v": out.get("v"),
    }
    assert out.get("v").startswith(xsl_version)


def test_run_params_are_what_mappings_may_declare():
    from datetime import UTC, datetime

    params = run_params("ds1", nsprefix="ns", name="Demo", now=datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC))
    assert params == {
        "datasource": "ds1",
        "datasourceName": "Demo",
        "nsprefix": "ns",
        "transformDate": "2026-03-04",
        "transformDateTime": "2026-03-04T05:06:07Z",
    }


HELPERS = (
    '<xsl:template match="/"><out>'
    "<l><xsl:value-of select=\"cc:vocab('languages', /r/lang)\"/></l>"
    "<u><xsl:value-of select=\"cc:vocab('languages', 'klingon', '??')\"/></u>"
    "<n><xsl:value-of select=\"cc:vocab-label('languages', 'deu')\"/></n>"
    '<d><xsl:value-of select="cc:date(/r/date)"/></d><s><xsl:value-of select="cc:date-start(/r/date)"/></s>'
    '<e><xsl:value-of select="cc:date-end(/r/date)"/></e><y><xsl:value-of select="cc:year(/r/date)"/></y>'
    "<x><xsl:value-of select=\"cc:date('not a date')\"/></x></out></xsl:template>"
)


@pytest.mark.parametrize("version", ["1.0", "3.0"])
def test_helper_functions_in_both_processors(mappings_dir, version):
    body = HELPERS if version == "1.0" else '<xsl:import href="lib/cc-functions.xsl"/>' + HELPERS
    write(mappings_dir / "h.xsl", stylesheet(body, version=version))
    chain = build_chain([{"type": "xslt", "mapping": "h.xsl"}], base_dir=mappings_dir, output="xml")
    out = etree.fromstring(chain.apply(b"<r><lang> EN-gb </lang><date>ca. 1850s</date></r>"))
    assert [(c.tag, c.text) for c in out] == [
        ("l", "eng"),
        ("u", "??"),
        ("n", "German"),
        ("d", "1850/1859"),
        ("s", "1850-01-01"),
        ("e", "1859-12-31"),
        ("y", "1850"),
        ("x", None),
    ]


@pytest.mark.parametrize("version", ["1.0", "3.0"])
def test_an_unknown_vocabulary_fails_the_record_with_the_known_names(mappings_dir, version):
    body = (
        "<xsl:template match=\"/\"><out><xsl:value-of select=\"cc:vocab('nope', 'x')\"/></out></xsl:template>"
    )
    if version != "1.0":
        body = '<xsl:import href="lib/cc-functions.xsl"/>' + body
    write(mappings_dir / "u.xsl", stylesheet(body, version=version))
    chain = build_chain([{"type": "xslt", "mapping": "u.xsl"}], base_dir=mappings_dir, output="xml")
    with pytest.raises(MappingError, match="unknown vocabulary 'nope'; known: colours, languages") as info:
        chain.apply(b"<r/>", record_id="ds::9")
    assert (info.value.record_id, info.value.step) == ("ds::9", "xslt u.xsl")


@pytest.mark.parametrize("version", ["1.0", "3.0"])
def test_terminating_messages_and_runtime_errors_are_located(mappings_dir, version):
    body = (
        '<xsl:template match="/">\n<xsl:if test="not(/r/title)">\n'
        '<xsl:message terminate="yes">no title in <xsl:value-of select="name(/*)"/></xsl:message>\n'
        "</xsl:if><out/></xsl:template>"
    )
    write(mappings_dir / "m.xsl", stylesheet(body, version=version))
    chain = build_chain([{"type": "xslt", "mapping": "m.xsl"}], base_dir=mappings_dir, output="xml")
    assert b"<out/>" in chain.apply(b"<r><title/></r>")
    with pytest.raises(MappingError) as info:
        chain.apply(b"<r/>", record_id="ds::1")
    assert info.value.message.startswith("no title in r")
    assert (info.value.record_id, info.value.step) == ("ds::1", "xslt m.xsl")
    if version != "1.0":
        assert info.value.location == "m.xsl:3"


def test_lxml_runtime_error_names_the_line(mappings_dir):
    body = '<xsl:template match="/">\n\n<out><xsl:value-of select="cc:nope(.)"/></out></xsl:template>'
    write(mappings_dir / "e.xsl", stylesheet(body))
    chain = build_chain([{"type": "xslt", "mapping": "e.xsl"}], base_dir=mappings_dir, output="xml")
    with pytest.raises(MappingError) as info:
        chain.apply(b"<r/>", record_id="ds::1")
    assert info.value.location == "e.xsl:3"
    assert "Unregistered function" in info.value.message


@pytest.mark.parametrize(("version", "location"), [("1.0", "bad.xsl:2"), ("3.0", "bad.xsl:2:34")])
def test_a_stylesheet_that_does_not_compile(mappings_dir, version, location):
    write(
        mappings_dir / "bad.xsl",
        stylesheet(
            '<xsl:template match="/">\n<out><xsl:value-of select="1 +"/></out></xsl:template>',
            version=version,
        ),
    )
    with pytest.raises(MappingError) as info:
        build_chain([{"type": "xslt", "mapping": "bad.xsl"}], base_dir=mappings_dir)
    assert info.value.step == "xslt bad.xsl"
    assert info.value.message.startswith("does not compile")
    assert info.value.location == location


def test_not_well_formed_stylesheet(mappings_dir):
    write(
        mappings_dir / "broken.xsl",
        '<xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform">\n<oops></xsl:stylesheet>',
    )
    with pytest.raises(MappingError) as info:
        build_chain([{"type": "xslt", "mapping": "broken.xsl"}], base_dir=mappings_dir)
    assert info.value.location == f"{mappings_dir / 'broken.xsl'}:2"


@pytest.mark.parametrize(
    ("config", "field", "message"),
    [
        ({}, "transform.steps[0].mapping", "an xslt step needs one 'mapping'"),
        ({"mapping": "missing.xsl"}, "transform.steps[0].mapping", "'missing.xsl' does not exist"),
        (
            {"mapping": "t.xsl", "produces": "pdf"},
            "transform.steps[0].produces",
            "produces 'pdf' is not one of",
        ),
    ],
)
def test_configuration_errors(mappings_dir, config, field, message):
    write(mappings_dir / "t.xsl", stylesheet('<xsl:template match="/"><o/></xsl:template>'))
    with pytest.raises(ConfigError) as info:
        build_chain([{"type": "xslt", **config}], base_dir=mappings_dir)
    assert (info.value.field, info.value.message[: len(message)]) == (field, message)


@pytest.mark.parametrize("version", ["1.0", "3.0"])
def test_text_output_is_n_triples_by_default(mappings_dir, version):
    body = (
        '<xsl:output method="text"/><xsl:template match="/">'
        '<xsl:text>&lt;http://x/a&gt; &lt;http://x/p&gt; "</xsl:text><xsl:value-of select="/r"/>'
        '<xsl:text>" .&#10;</xsl:text></xsl:template>'
    )
    write(mappings_dir / "nt.xsl", stylesheet(body, version=version))
    chain = build_chain([{"type": "xslt", "mapping": "nt.xsl"}], base_dir=mappings_dir, output="turtle")
    assert chain.apply(b"<r>v</r>").decode().splitlines()[-1] == '<http://x/a> <http://x/p> "v" .'
    raw = chain.apply_payload(Payload.from_body(b"<r>v</r>"), RecordContext())
    assert (raw.kind, raw.text_format) == ("text", "ntriples")


def test_xslt_steps_chain_and_the_tree_is_not_reparsed(mappings_dir):
    write(
        mappings_dir / "a.xsl",
        stylesheet('<xsl:template match="/"><b><xsl:value-of select="/a"/></b></xsl:template>'),
    )
    write(
        mappings_dir / "b.xsl",
        stylesheet(
            '<xsl:template match="/"><c>[<xsl:value-of select="/b"/>]</c></xsl:template>', version="3.0"
        ),
    )
    write(
        mappings_dir / "c.xsl",
        stylesheet('<xsl:template match="/"><d><xsl:value-of select="/c"/>!</d></xsl:template>'),
    )
    chain = build_chain(
        [{"type": "xslt", "mapping": n} for n in ("a.xsl", "b.xsl", "c.xsl")],
        base_dir=mappings_dir,
        output="xml",
    )
    assert etree.fromstring(chain.apply(b"<a>x</a>")).text == "[x]!"


def test_non_ascii_and_other_encodings_survive_both_processors(mappings_dir):
    write(
        mappings_dir / "id1.xsl",
        stylesheet(
            '<xsl:output encoding="ISO-8859-1"/><xsl:template match="/">'
            '<xsl:copy-of select="/"/></xsl:template>'
        ),
    )
    write(
        mappings_dir / "id3.xsl",
        stylesheet(
            '<xsl:output encoding="ISO-8859-1"/><xsl:template match="/">'
            '<xsl:copy-of select="/"/></xsl:template>',
            version="3.0",
        ),
    )
    record = '<?xml version="1.0" encoding="ISO-8859-1"?><r>Ærø ünï</r>'.encode("iso-8859-1")
    for name in ("id1.xsl", "id3.xsl"):
        chain = build_chain([{"type": "xslt", "mapping": name}], base_dir=mappings_dir, output="xml")
        assert etree.fromstring(chain.apply(record)).text == "Ærø ünï"
    chain = build_chain([{"type": "xslt", "mapping": "id3.xsl"}], base_dir=mappings_dir, output="xml")
    assert etree.fromstring(chain.apply("<?xml version='1.0' encoding='ISO-8859-1'?><r>☃</r>")).text == "☃"
