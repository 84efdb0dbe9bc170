"""A harvested record holding an unexpanded entity reference is a record error, never a good record
that fails later at transform. The page is a recorded one (asu) with an XXE attempt put in."""

from __future__ import annotations

import json

import pytest

from contentcloud.pipeline.collect import collect
from contentcloud.pipeline.summary import Outcome
from tests.integration.harvesters.conftest import make_profile, present_and_deleted
from tests.servers.oai_replay import replay_server

pytestmark = pytest.mark.integration

DOCTYPE = b'<!DOCTYPE OAI-PMH [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
TITLE = b"<dc:title>Kenny Miller, tenor</dc:title>"


def test_a_record_with_an_unexpanded_entity_is_discarded_and_counted(tmp_path, shared_dir, store, fast):
    recorded = (shared_dir / "oai-pmh" / "recorded" / "asu" / "002-ListRecords.xml").read_bytes()
    assert recorded.count(TITLE) == 1
    head, rest = recorded.split(b"?>", 1)
    hostile = head + b"?>" + DOCTYPE + rest.replace(TITLE, b"<dc:title>Kenny Miller, tenor &xxe;</dc:title>")
    provider = tmp_path / "recorded" / "asu-xxe"
    provider.mkdir(parents=True)
    (provider / "page.xml").write_bytes(hostile)
    exchange = {"seq": 1, "query": "verb=ListRecords&metadataPrefix=oai_dc", "body_file": "page.xml"}
    (provider / "index.json").write_text(json.dumps({"exchanges": [exchange]}), encoding="utf-8")

    with replay_server(tmp_path / "recorded") as server:
        datasource = make_profile(
            "asu-xxe", {"protocol": "oai", "baseurl": f"{server.url}/asu-xxe", "metadata_prefix": "oai_dc"}
        )
        summary = collect(store, datasource, options=fast, environ={})

    assert summary.outcome is Outcome.RECORD_ERRORS, summary.text()
    assert (summary.read, summary.added, summary.errors, summary.discarded) == (28, 28, 1, 1)
    assert summary.first_errors == (
        "all records, page 1, record 1: record holds unexpanded entity reference(s) &xxe; "
        "(entities are never resolved)",
    )
    present, deleted = present_and_deleted(store, datasource)
    assert "item:7715" not in present and len(present) == 28 and deleted == set()
    assert not any(b"&xxe;" in body or b"root:" in body for body in present.values())
    with store.reader(datasource.native_unit) as view:
        [discarded] = view.discarded()
        [error] = view.errors()
    assert discarded.source == "all records, page 1, record 1"
    assert discarded.raw.startswith(b'<record xmlns="http://www.openarchives.org/OAI/2.0/"')
    assert b"<dc:title>Kenny Miller, tenor &xxe;</dc:title>" in discarded.raw
    assert (error.record_id, error.message) == (
        "item:7715",
        "record holds unexpanded entity reference(s) &xxe; (entities are never resolved)",
    )
    # the harvest report of the committed version counts it
    report = store.version(summary.version_out).report["harvest"]
    assert (report["counts"]["errors"], report["counts"]["discarded"]) == (1, 1)
