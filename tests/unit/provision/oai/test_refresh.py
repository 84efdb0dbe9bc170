"""The publish refresh: datestamps that follow content, persistent deletion, reuse, hooks."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from lxml import etree

from contentcloud.datasources import profile_from_dict
from contentcloud.pipeline.publish import publish_source, refresh_publisher
from contentcloud.pipeline.summary import Outcome
from mdstore import RecordInput, UnitKey, make_record_id, open_store
from mdstore.errors import ConfigError
from provision.oai import PublisherIndex
from tests.oai_support import DC_PROFILE, LIDO_PROFILE, OAI, REPO, _dc, error_code
from tests.unit.provision.oai.conftest import Client, make_app

OAI_ = f"{{{OAI}}}"


@pytest.fixture
def env(tmp_path):
    store = open_store(f"sqlite:///{tmp_path}/md.sqlite")
    index = PublisherIndex(tmp_path / "oai.sqlite")
    return store, index, tmp_path


def _harvest(store, ds, bodies: dict[str, str], when: datetime, mode="full"):
    tx = store.begin(ds.native_unit, mode, nsprefix=ds.nsprefix)
    tx.upsert([RecordInput(oid, body) for oid, body in bodies.items()], when=when)
    tx.commit()


def _datestamps(index, prefix="oai_dc") -> dict[str, tuple[str, bool]]:
    snap = index.current()
    rows = index.page(snap, prefix, None, None, None, None, 10_000, with_payload=False)
    return {r.id: (r.datestamp, r.deleted) for r in rows}


def test_datestamps_change_only_when_the_disseminated_content_changes(env):
    store, index, _ = env
    ds = profile_from_dict(DC_PROFILE)
    bodies = {f"r{i}": _dc(i) for i in range(6)}
    _harvest(store, ds, bodies, datetime(2024, 1, 1, tzinfo=UTC))
    first = refresh_publisher(store, [ds], index=index)
    assert first.outcome == Outcome.FINISHED
    assert first.added == 6
    before = _datestamps(index)
    assert {d for d, _ in before.values()} == {"2024-01-01T00:00:00Z"}
    # the same source again: nothing recomputed, nothing re-dated
    again = refresh_publisher(store, [ds], index=index)
    assert again.extra["snapshot"] == first.extra["snapshot"] + 1
    assert again.unchanged == 6
    assert _datestamps(index) == before
    # a new harvest changes one record and drops another
    bodies["r2"] = _dc(2).replace("Record 2", "Record two")
    del bodies["r5"]
    _harvest(store, ds, bodies, datetime(2024, 5, 1, tzinfo=UTC))
    third = refresh_publisher(store, [ds], index=index)
    after = _datestamps(index)
    changed = {k for k in after if after[k] != before[k]}
    r2, r5 = make_record_id("dcs", "r2"), make_record_id("dcs", "r5")
    assert changed == {r2, r5}
    assert after[r2] == ("2024-05-01T00:00:00Z", False)
    assert after[r5][1] is True
    assert (third.updated, third.deleted, third.unchanged) == (1, 1, 4)


def test_a_new_oai_dc_mapping_redates_the_records_it_changes(env):
    store, index, tmp = env
    ds = profile_from_dict(LIDO_PROFILE)
    _harvest(
        store,
        ds,
        {"a": '<l:lido xmlns:l="http://www.lido-schema.org"><l:title>A</l:title></l:lido>'},
        datetime(2024, 1, 1, tzinfo=UTC),
    )
    refresh_publisher(store, [ds], index=index)
    assert _datestamps(index)[make_record_id("lido", "a")][0] == "2024-01-01T00:00:00Z"

    def deriver(native, transformed):
        return (
            '<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>custom</dc:title></oai_dc:dc>'
        )

    refresh_publisher(store, [ds], index=index, oai_dc_deriver=deriver)
    stamp, _ = _datestamps(index)[make_record_id("lido", "a")]
    assert stamp > "2024-01-01T00:00:00Z"  # the refresh time: incremental harvesters must see it
    assert _datestamps(index, "lido")[make_record_id("lido", "a")][0] == "2024-01-01T00:00:00Z"
    row = index.record(index.current(), "oai_dc", make_record_id("lido", "a"))
    assert b"<dc:title>custom</dc:title>" in row.payload


def test_the_oai_dc_stylesheet_runs_over_the_transformed_rdf(env):
    store, index, tmp = env
    (tmp / "pe2oai_dc.xsl").write_text(
        '<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform" '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        'xmlns:rdfs="http://www.w3.org/2000/01/rdf-schema#" '
        'xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        '<xsl:template match="/"><oai_dc:dc><xsl:for-each select="//rdfs:label">'
        '<dc:title><xsl:value-of select="."/></dc:title></xsl:for-each>'
        '<dc:identifier><xsl:value-of select="//@rdf:about"/></dc:identifier></oai_dc:dc></xsl:template>'
        "</xsl:stylesheet>"
    )
    ds = profile_from_dict(LIDO_PROFILE)
    _harvest(
        store,
        ds,
        {"a": '<l:lido xmlns:l="http://www.lido-schema.org"><l:title>A</l:title></l:lido>'},
        datetime(2024, 1, 1, tzinfo=UTC),
    )
    tx = store.begin(ds.transformed_unit, "full", stamp="transformed", nsprefix="lido")
    tx.upsert(
        [
            RecordInput(
                "a",
                '<http://x/a> <http://www.w3.org/2000/01/rdf-schema#label> "From RDF" .\n',
                id=make_record_id("lido", "a"),
            )
        ]
    )
    tx.commit()
    summary = refresh_publisher(store, [ds], index=index, mappings_dir=tmp)
    assert summary.errors == 0
    payload = index.record(index.current(), "oai_dc", make_record_id("lido", "a")).payload
    assert b"<dc:title>From RDF</dc:title>" in payload
    assert b"<dc:identifier>http://x/a</dc:identifier>" in payload


def test_fallback_oai_dc_and_errors_for_records_that_cannot_be_published(env):
    store, index, _ = env
    ds = profile_from_dict(LIDO_PROFILE)
    _harvest(
        store,
        ds,
        {
            "plain": "<object><title>Plain</title><creator>Me</creator></object>",
            "broken": "<l:lido xmlns:l='http://www.lido-schema.org'><unclosed></l:lido>",
        },
        datetime(2024, 1, 1, tzinfo=UTC),
    )
    summary = refresh_publisher(store, [ds], index=index)
    assert summary.outcome == Outcome.RECORD_ERRORS
    assert any("no namespace" in e for e in summary.first_errors)
    assert any("not well-formed" in e for e in summary.first_errors)
    plain = index.record(index.current(), "oai_dc", make_record_id("lido", "plain")).payload
    assert b"<dc:title>Plain</dc:title>" in plain
    assert b"<dc:creator>Me</dc:creator>" in plain
    broken = index.record(index.current(), "oai_dc", make_record_id("lido", "broken")).payload
    assert b"<dc:identifier>broken</dc:identifier>" in broken  # never an item without oai_dc
    assert index.item(index.current(), make_record_id("lido", "plain")).prefixes == ("oai_dc",)
    assert [e[0] for e in index.errors(index.current().id)] == ["lidosource", "lidosource"]


def test_unpublished_datasources_stay_as_deleted_records_and_tokens_survive_refreshes(env, schema_dir):
    store, index, _ = env
    dcs, lido = profile_from_dict(DC_PROFILE), profile_from_dict(LIDO_PROFILE)
    _harvest(store, dcs, {f"r{i}": _dc(i) for i in range(12)}, datetime(2024, 1, 1, tzinfo=UTC))
    _harvest(
        store,
        lido,
        {"a": '<l:lido xmlns:l="http://www.lido-schema.org"><l:title>A</l:title></l:lido>'},
        datetime(2024, 1, 2, tzinfo=UTC),
    )
    refresh_publisher(store, [dcs, lido], index=index)
    client = Client(make_app(index), schema_dir)
    doc = client.oai("verb=ListIdentifiers&metadataPrefix=oai_dc&set=dcsource")
    token = doc.getroot().find(f".//{OAI_}resumptionToken").text
    # dcsource is unpublished; the earlier harvest goes on in its snapshot, a new one sees deletions
    disabled = profile_from_dict({**DC_PROFILE, "publish": {**DC_PROFILE["publish"], "enabled": False}})
    refresh_publisher(store, [disabled, lido], index=index)
    rest = client.oai({"verb": "ListIdentifiers", "resumptionToken": token})
    assert len(rest.getroot().findall(f".//{OAI_}header")) == 5
    assert not any(h.get("status") for h in rest.getroot().iter(f"{OAI_}header"))
    headers = (
        client.oai("verb=ListIdentifiers&metadataPrefix=oai_dc&set=dcsource").getroot().iter(f"{OAI_}header")
    )
    assert all(h.get("status") == "deleted" for h in headers)
    specs = [e.text for e in client.oai("verb=ListSets").getroot().iter(f"{OAI_}setSpec")]
    assert "dcsource" in specs
    # a token whose snapshot was dropped is a badResumptionToken, not an error page
    index.con.execute("UPDATE snapshots SET keep_until='2000-01-01T00:00:00Z' WHERE state='retired'")
    refresh_publisher(store, [disabled, lido], index=index)
    assert len(index.snapshots()) == 2  # the live one and the one it retired
    assert (
        error_code(client.oai({"verb": "ListIdentifiers", "resumptionToken": token})) == "badResumptionToken"
    )


def test_earliest_datestamp_includes_deleted_records(env):
    store, index, _ = env
    ds = profile_from_dict(DC_PROFILE)
    tx = store.begin(ds.native_unit, "full", nsprefix="dcs")
    tx.delete(["gone"], when=datetime(2020, 1, 1, tzinfo=UTC))
    tx.upsert([RecordInput("here", _dc(1))], when=datetime(2024, 1, 1, tzinfo=UTC))
    tx.commit()
    refresh_publisher(store, [ds], index=index)
    assert index.current().info["earliest"] == "2020-01-01T00:00:00Z"


def test_configuration_errors_name_the_field(env):
    store, index, tmp = env
    bad_query = profile_from_dict(
        {**DC_PROFILE, "publish": {"sets": [{"spec": "x", "name": "X", "query": "colour:red"}]}}
    )
    with pytest.raises(ConfigError, match="unknown field 'colour'") as info:
        publish_source(bad_query)
    assert info.value.field == "publish.sets.0.query"
    squatting = profile_from_dict(
        {**DC_PROFILE, "publish": {"sets": [{"spec": "dcsource:mine", "name": "M", "query": "id:*"}]}}
    )
    with pytest.raises(ConfigError, match="reserved"):
        refresh_publisher(store, [squatting], index=index)
    missing = profile_from_dict({**DC_PROFILE, "publish": {"oai_dc_xslt": "nope.xsl"}})
    with pytest.raises(ConfigError, match="does not exist"):
        publish_source(missing, mappings_dir=tmp)


def test_clashing_prefixes_skip_the_second_datasource(env):
    store, index, _ = env
    one = profile_from_dict({**LIDO_PROFILE, "id": "one", "nsprefix": "one"})
    two = profile_from_dict({**LIDO_PROFILE, "id": "two", "nsprefix": "two"})
    _harvest(
        store, one, {"a": '<l:lido xmlns:l="http://www.lido-schema.org"/>'}, datetime(2024, 1, 1, tzinfo=UTC)
    )
    _harvest(store, two, {"b": '<x:other xmlns:x="urn:other"/>'}, datetime(2024, 1, 1, tzinfo=UTC))
    summary = refresh_publisher(store, [one, two], index=index)
    assert any("two namespaces" in e for e in summary.first_errors)
    assert index.current().formats["lido"]["namespace"] == "http://www.lido-schema.org"
    assert index.item(index.current(), make_record_id("two", "b")) is None
    renamed = profile_from_dict(
        {**LIDO_PROFILE, "id": "two", "nsprefix": "two", "publish": {"native_prefix": "other"}}
    )
    summary = refresh_publisher(store, [one, renamed], index=index)
    assert summary.errors == 0
    assert set(index.current().formats) == {"lido", "other", "oai_dc"}
    assert (
        json.loads(index.record(index.current(), "other", make_record_id("two", "b")).about)["nativePrefix"]
        == "other"
    )


def test_unit_key_usage():
    assert UnitKey("dcsource", "oai_dc") == profile_from_dict(DC_PROFILE).native_unit
    assert REPO


def test_publish_profile_fields_are_validated_by_the_schema():
    from contentcloud.datasources import validate_profile

    errors = validate_profile(
        {**DC_PROFILE, "publish": {"formats": ["native", "bogus"], "sets": [{"spec": "a::b", "name": "x"}]}}
    )
    assert sorted(e.field for e in errors) == ["publish.formats.1", "publish.sets.0.spec"]
    assert any("is not a legal setSpec" in e.message for e in errors)


def test_an_xslt_2_stylesheet_runs_in_saxon(tmp_path):
    from mdstore import Record
    from provision.oai import XsltDeriver

    path = tmp_path / "two.xsl"
    path.write_text(
        '<xsl:stylesheet version="2.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform" '
        'xmlns:l="http://www.lido-schema.org" xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><xsl:template match="/"><oai_dc:dc>'
        '<dc:title><xsl:value-of select="upper-case(//l:title)"/></dc:title></oai_dc:dc></xsl:template>'
        "</xsl:stylesheet>"
    )
    native = Record(
        "lido::1",
        "1",
        "lidosource",
        "lido",
        '<l:lido xmlns:l="http://www.lido-schema.org"><l:title>Primavera</l:title></l:lido>',
        "cs",
        datetime(2024, 1, 1, tzinfo=UTC),
    )
    out = XsltDeriver(path, source="native")(native, None)
    assert b"<dc:title>PRIMAVERA</dc:title>" in out


def test_the_shipped_mappings_round_trip_and_formats_limit_what_is_published(env):
    """oai_dc → PE with the shipped oai_dc2pe.xsl, published back as oai_dc by the shipped
    pe2oai_dc.xsl (the default mappings); ``publish.formats`` leaves out the formats not listed."""
    from pathlib import Path

    from transforms.payload import RecordContext
    from transforms.registry import build_chain

    store, index, _ = env
    mappings = Path(__file__).resolve().parents[4] / "mappings"
    ds = profile_from_dict({**LIDO_PROFILE, "publish": {"formats": ["transformed"]}})
    _harvest(
        store,
        ds,
        {"r1": '<l:lido xmlns:l="http://www.lido-schema.org"><l:title>A</l:title></l:lido>'},
        datetime(2024, 1, 1, tzinfo=UTC),
    )
    chain = build_chain([{"type": "xslt", "mapping": "oai_dc2pe.xsl"}], base_dir=mappings)
    rid = make_record_id(ds.nsprefix, "r1")
    pe = chain.apply(_dc(1).encode(), context=RecordContext(rid, "r1"))
    tx = store.begin(ds.transformed_unit, "full", stamp="transformed", nsprefix=ds.nsprefix)
    tx.upsert([RecordInput("r1", pe, id=rid)])
    tx.commit()
    summary = refresh_publisher(store, [ds], index=index, mappings_dir=mappings)
    assert summary.errors == 0, summary.first_errors
    snapshot = index.current()
    assert set(snapshot.formats) == {"PE", "oai_dc"}  # the native lido is not listed
    assert index.record(snapshot, "lido", rid) is None
    assert index.record(snapshot, "PE", rid) is not None
    dc = etree.fromstring(index.record(snapshot, "oai_dc", rid).payload)
    assert dc.tag == "{http://www.openarchives.org/OAI/2.0/oai_dc/}dc"
    source = etree.fromstring(_dc(1).encode())
    for field in ("title", "subject", "date"):
        name = f"{{http://purl.org/dc/elements/1.1/}}{field}"
        assert dc.findtext(name) == source.findtext(f".//{name}"), field
