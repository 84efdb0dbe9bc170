"""The refresh's output is byte-for-byte what it was before its fast paths (issue 18).

The golden file holds every row of two snapshots (items, records, set memberships, errors, the
snapshot's description) built from a varied sample: oai_dc natives bare and in their OAI
envelope, LIDO natives with N-Triples (the oai_dc stylesheet over RDF/XML), the shipped
oai_dc → PE mapping's N-Triples, literals and IRIs with characters that XML must escape, blank
nodes, deleted and broken records, and a second refresh over changed records. Payloads are
compared by the md5 the record rows carry (the blob's address), checked here against the
decompressed blob.

It was generated with the code of commit 0ee2fed (before the fast paths):
``python -m tests.unit.provision.oai.test_refresh_identical --write`` from a worktree of that
commit. Regenerate it only for a change that means to alter the published output.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from contentcloud.datasources import profile_from_dict
from contentcloud.pipeline.publish import publish_source
from mdstore import RecordInput, compression, make_record_id, open_store
from provision.oai import PublisherIndex, build_snapshot
from tests.oai_support import CRM, PE, RDF, build_fixture

GOLDEN = Path(__file__).with_name("refresh_golden.json")
MAPPINGS = Path(__file__).resolve().parents[4] / "mappings"
NOW1 = datetime(2025, 1, 1, tzinfo=UTC)
NOW2 = datetime(2025, 2, 1, tzinfo=UTC)

BENCH_PROFILE = {
    "id": "benchsource",
    "name": "Shipped mapping sample",
    "nsprefix": "bench",
    "api": {"protocol": "oai", "baseurl": "http://bench.example.org/oai", "metadata_prefix": "oai_dc"},
    "transform": {"steps": [{"type": "xslt", "mapping": "oai_dc2pe.xsl"}]},
}
TRICKY_PROFILE = {
    "id": "tricky",
    "name": "Escapes & blank nodes",
    "nsprefix": "trick",
    "api": {
        "protocol": "http",
        "connector": "xml-split",
        "url": "http://t.example.org/x.xml",
        "format": "lido",
    },
    "transform": {"steps": [{"type": "x3ml", "mapping": "lido.x3ml"}]},
}
LIDO_NS = "http://www.lido-schema.org"
XSD = "http://www.w3.org/2001/XMLSchema#"


def _tricky_nt(i: int) -> str:
    s = f"<http://data.example.org/t/{i}?a=1&b=2>"
    lines = [
        f"{s} <{RDF}type> <{PE}PE18_Dataset> .",
        f'{s} <http://www.w3.org/2000/01/rdf-schema#label> "It\'s <b>bold</b> & \\"quoted\\" {i}"@en-GB .',
        f'{s} <{CRM}P3_has_note> "line one\\nline two\\ttab\\r end" .',
        f'{s} <{CRM}P3_has_note> "é ü 漢字 {i}"^^<http://www.w3.org/2001/XMLSchema#string> .',
        f'{s} <{CRM}P82a_begin_of_the_begin> "2020-0{1 + i % 9}-01"^^<{XSD}date> .',
        f"{s} <{CRM}P1_is_identified_by> _:id{i} .",
        f"_:id{i} <{RDF}type> <{CRM}E42_Identifier> .",
        f'_:id{i} <http://www.w3.org/2000/01/rdf-schema#label> "id > {i}" .',
    ]
    if i == 7:  # a predicate with no local name: RDF/XML cannot carry it (reported)
        lines.append(f"{s} <http://example.org/ns#> <http://example.org/x#y> .")
    if i % 3 == 0:
        lines.append(f"<http://data.example.org/t/{i}/part> <{RDF}type> <{CRM}E22_Man-Made_Object> .")
    if i == 4:
        lines = ["<http://data.example.org/t/4> <bad iri> ."]  # does not parse: reported
    return "\n".join(lines) + "\n"


def _tricky_native(i: int) -> str:
    return (
        f'<lido:lido xmlns:lido="{LIDO_NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'xsi:schemaLocation="{LIDO_NS} http://www.lido-schema.org/schema/v1.0/lido-v1.0.xsd">'
        f"<lido:lidoRecID>t-{i}</lido:lidoRecID><!-- a comment -->"
        f"<lido:title><![CDATA[Tricky <{i}> & co]]></lido:title>"
        f'<lido:note attr="a&#10;b\tc">x &gt; y</lido:note></lido:lido>'
    )


def build_sample(store) -> list:
    """The fixture of the publisher tests plus two more datasources (see the module docstring)."""
    from bench.transform import oai_dc_record
    from transforms.registry import build_chain
    from transforms.xslt import run_params

    fixture = build_fixture(store)
    bench, tricky = profile_from_dict(BENCH_PROFILE), profile_from_dict(TRICKY_PROFILE)
    tx = store.begin(bench.native_unit, "full", nsprefix="bench")
    tx.upsert(
        [RecordInput(f"oai:bench.example.org:{i}", oai_dc_record(i)) for i in range(40)],
        when=datetime(2024, 6, 1, tzinfo=UTC),
    )
    tx.commit()
    chain = build_chain(
        BENCH_PROFILE["transform"]["steps"], base_dir=MAPPINGS, params=run_params("benchsource")
    )
    tx = store.begin(bench.transformed_unit, "full", stamp="transformed", nsprefix="bench")
    for i in range(40):
        rid = make_record_id("bench", f"oai:bench.example.org:{i}")
        body = chain.apply(oai_dc_record(i), record_id=rid, original_id=f"oai:bench.example.org:{i}")
        tx.upsert(
            [RecordInput(f"oai:bench.example.org:{i}", body, id=rid)], when=datetime(2024, 6, 2, tzinfo=UTC)
        )
    tx.commit()
    tx = store.begin(tricky.native_unit, "full", nsprefix="trick")
    tx.upsert(
        [RecordInput(f"t-{i}", _tricky_native(i)) for i in range(12)], when=datetime(2024, 7, 1, tzinfo=UTC)
    )
    tx.commit()
    tx = store.begin(tricky.transformed_unit, "full", stamp="transformed", nsprefix="trick")
    for i in range(10):
        rid = make_record_id("trick", f"t-{i}")
        tx.upsert([RecordInput(f"t-{i}", _tricky_nt(i), id=rid)], when=datetime(2024, 7, 2, tzinfo=UTC))
    tx.commit()
    return [*fixture.datasources, bench, tricky]


def _change(store, datasources) -> None:
    """A second harvest of the bench source: some records change, one goes."""
    from bench.transform import oai_dc_record

    bench = next(ds for ds in datasources if ds.id == "benchsource")
    tx = store.begin(bench.native_unit, "full", nsprefix="bench")
    tx.upsert(
        [
            RecordInput(
                f"oai:bench.example.org:{i}",
                oai_dc_record(i).replace(b"Record ", b"Changed ") if i % 4 == 0 else oai_dc_record(i),
            )
            for i in range(39)
        ],
        when=datetime(2024, 8, 1, tzinfo=UTC),
    )
    tx.commit()


def _dump(index: PublisherIndex, snapshot_id: int) -> dict:
    con = index.con
    blobs = {h: compression.decompress(d) for h, d in con.execute("SELECT hash, data FROM blobs")}
    for digest, data in blobs.items():
        assert hashlib.md5(data, usedforsecurity=False).hexdigest() == digest
    rows = {
        name: [list(r) for r in con.execute(f"SELECT * FROM {name}_{snapshot_id} ORDER BY 1, 2, 3, 4")]
        for name in ("rec", "mem", "item")
    }
    for row in rows["rec"]:
        assert row[4] is None or row[4] in blobs
    # messages name the mapping file; the checkout's place is not part of what is compared
    mappings = str(Path(__file__).resolve().parents[4] / "mappings")
    errors = [
        [*r[:2], r[2].replace(mappings, "<mappings>")]
        for r in con.execute(
            "SELECT datasource, record_id, message FROM errors WHERE snapshot=? ORDER BY 1, 2, 3",
            (snapshot_id,),
        )
    ]
    (info,) = con.execute("SELECT info FROM snapshots WHERE id=?", (snapshot_id,)).fetchone()
    return {**rows, "errors": errors, "info": json.loads(info)}


def published_rows(directory: Path, *, workers: int = 0, reports: list | None = None) -> list[dict]:
    import mdstore.api

    store = open_store(f"sqlite:///{directory}/md.sqlite")
    index = PublisherIndex(directory / "oai.sqlite")
    clock = mdstore.api.utcnow
    mdstore.api.utcnow = lambda: datetime(2024, 9, 1, tzinfo=UTC)  # tombstones are dated "now"
    try:
        datasources = build_sample(store)
        sources = [publish_source(ds, mappings_dir=MAPPINGS) for ds in datasources]
        dumps = []
        for now in (NOW1, NOW2):
            if now == NOW2:
                _change(store, datasources)
            report = build_snapshot(store, index, sources, now=now, workers=workers)
            dumps.append(_dump(index, report.snapshot))
            if reports is not None:
                errors = index.con.execute(
                    "SELECT datasource, record_id, message FROM errors WHERE snapshot=? ORDER BY rowid",
                    (report.snapshot,),
                ).fetchall()
                reports.append((report, errors))
        return dumps
    finally:
        mdstore.api.utcnow = clock
        index.close()
        store.close()


def test_the_published_rows_are_identical_to_the_golden_ones(tmp_path):
    expected = json.loads(GOLDEN.read_text())
    got = json.loads(json.dumps(published_rows(tmp_path)))
    assert len(got) == len(expected) == 2
    for snapshot, (mine, theirs) in enumerate(zip(got, expected, strict=True)):
        for key in ("rec", "item", "mem", "errors", "info"):
            assert mine[key] == theirs[key], f"snapshot {snapshot + 1}: {key} differs"
    assert sum(len(d["rec"]) for d in got) == sum(len(d["rec"]) for d in expected) > 300


def test_payloads_made_in_builder_processes_give_the_same_snapshots(tmp_path, monkeypatch):
    """With builder processes (small batches, so that several are in flight and the second
    snapshot mixes reused and remade items), every row, the errors in the order they were
    recorded and the report are those of the refresh made in one process."""
    import provision.oai.builder as builder

    started = []
    start = builder._BuilderPool.start

    def spy(source, workers, mp_context):
        pool = start(source, workers, mp_context)
        started.append((source.datasource, pool is not None))
        return pool

    monkeypatch.setattr(builder, "BATCH", 7)
    monkeypatch.setattr(builder, "PARALLEL_MIN", 1)
    monkeypatch.setattr(builder._BuilderPool, "start", staticmethod(spy))
    alone: list = []
    expected = json.loads(json.dumps(published_rows(tmp_path / "alone", reports=alone)))
    assert started == []
    shared: list = []
    got = json.loads(json.dumps(published_rows(tmp_path / "workers", workers=2, reports=shared)))
    assert got == expected
    # every datasource rebuilt went to the builders (their oai_dc stylesheet and fields pickle)
    assert len(started) >= 4 and all(ok for _, ok in started), started
    assert {ds for ds, _ in started} >= {"benchsource", "tricky"}
    assert sum(len(errors) for _, errors in alone) > 3
    for (mine, my_errors), (theirs, their_errors) in zip(shared, alone, strict=True):
        assert my_errors == their_errors
        for name in ("read", "items", "records", "added", "updated", "unchanged", "deleted", "reused"):
            assert getattr(mine, name) == getattr(theirs, name), name
        assert (mine.errors, mine.first_errors) == (theirs.errors, theirs.first_errors)


def test_a_builder_keeps_each_records_origin_when_their_payloads_are_equal(monkeypatch):
    """Two records of one batch with the same metadata but harvested from different repositories:
    the payload shared on the way back keeps each record's provenance origin."""
    import provision.oai.builder as builder
    from provision.oai.formats import Payload, checksum

    xml = b"<oai_dc:dc xmlns:oai_dc='http://www.openarchives.org/OAI/2.0/oai_dc/'/>"

    class Maker:
        def make(self, native, transformed):
            item = builder._Item(native, native)
            payload = Payload(
                xml, "http://www.openarchives.org/OAI/2.0/oai_dc/", None, checksum(xml), native.encode()
            )
            item.records["oai_dc"] = ("2024-01-01T00:00:00Z", False, payload)
            return item, []

    monkeypatch.setattr(builder, "_BUILDER_MAKER", Maker())
    made = builder._make_in_builder(
        [("http://a.example", None), ("http://b.example", None), ("http://a.example", None)]
    )
    payloads = [item.records["oai_dc"][2] for item, _ in made]
    assert [p.origin for p in payloads] == [b"http://a.example", b"http://b.example", b"http://a.example"]
    assert [p.xml for p in payloads] == [b"", b"", b""]
    assert payloads[0] is payloads[2]  # still shared where the origin is the same too


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    with tempfile.TemporaryDirectory() as name:
        GOLDEN.write_text(json.dumps(published_rows(Path(name)), indent=0, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN}")


def test_rdf_xml_payloads_taken_verbatim_are_what_lxml_writes():
    """pyoxigraph's RDF/XML is taken as the payload only when lxml would write the same bytes;
    random graphs with escapes, controls, empty literals, odd predicate IRIs and blank nodes."""
    import random

    import pyoxigraph as ox

    from provision.oai.formats import Payload, parse_xml, rdf_xml_payload

    rnd = random.Random(18)
    texts = ["a", "é 漢", " ", "\n", "\t", "&", "'", '"', "<", ">", "\r", "]]>", "\x01", "\uffff", ""]
    predicates = ["http://x.example/p", "http://x.example/ns#", "http://x.example/1abc", "http://x.example/é"]
    verbatim = 0
    for _ in range(2000):
        triples = []
        for _ in range(rnd.randint(1, 4)):
            subject = ox.NamedNode(f"http://s.example/{rnd.randint(0, 2)}")
            if rnd.random() < 0.1:
                subject = ox.BlankNode(rnd.choice(["b1", "0a"]))
            predicate = ox.NamedNode(predicates[0] if rnd.random() < 0.7 else rnd.choice(predicates))
            shape = rnd.random()
            if shape < 0.3:
                obj = ox.NamedNode(rnd.choice(["http://o.example/1", "http://o.example/?a=1&b=2"]))
            else:
                text = "".join(
                    "a" if rnd.random() < 0.8 else rnd.choice(texts) for _ in range(rnd.randint(0, 3))
                )
                obj = (
                    ox.Literal(text, language="en")
                    if shape < 0.5
                    else ox.Literal(text, datatype=ox.NamedNode(f"{XSD}date"))
                    if shape < 0.6
                    else ox.Literal(text)
                )
            triples.append(ox.Triple(subject, predicate, obj))
        try:
            expected = Payload.of(parse_xml(ox.serialize(triples, format=ox.RdfFormat.RDF_XML)))
        except Exception as exc:  # noqa: BLE001 - then the fast path must refuse too
            expected = type(exc)
        try:
            got = rdf_xml_payload(triples)
        except Exception as exc:  # noqa: BLE001
            got = type(exc)
        assert got == expected, triples
        if isinstance(got, Payload) and b"&" not in got.xml and b"\r" not in got.xml:
            verbatim += 1
    assert verbatim > 200
