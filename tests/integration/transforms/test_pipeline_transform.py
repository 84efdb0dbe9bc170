"""The transform pipeline step over a real (embedded SQLite) MDStore.

Record ids, tombstones, stored errors with their location, the error-rate abort that leaves the
current version untouched, carry-over of a failing record's previous output, and incremental runs
(what they read, and when they fall back to full runs).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from contentcloud.pipeline.summary import Outcome
from contentcloud.pipeline.transform import transform
from mdstore import RecordInput, UnitKey, open_store
from transforms.registry import build_chain

PROJECT = Path(__file__).resolve().parents[3]
SOURCE = UnitKey("ds", "oai_dc")
TARGET = UnitKey("ds", "PE", "store", "transformed")

#: a small stylesheet: N-Triples out, and a located failure for records marked fail="yes"
STYLESHEET = """<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:output method="text"/>
  <xsl:param name="recordId"/>
  <xsl:template match="/">
    <xsl:if test="/r/@fail = 'yes'">
      <xsl:message terminate="yes">record marked as failing</xsl:message>
    </xsl:if>
    <xsl:text>&lt;http://x/</xsl:text><xsl:value-of select="$recordId"/>
    <xsl:text>&gt; &lt;http://x/title&gt; "</xsl:text><xsl:value-of select="/r/t"/>
    <xsl:text>" .&#10;</xsl:text>
  </xsl:template>
</xsl:stylesheet>
"""


def record(title: str, *, fail: bool = False) -> str:
    marker = ' fail="yes"' if fail else ""
    return f"<r{marker}><t>{title}</t></r>"


@pytest.fixture
def store(tmp_path):
    with open_store(f"sqlite:///{tmp_path / 'mdstore.sqlite'}", keep=5, lease_ttl=600) as store:
        yield store


@pytest.fixture
def mappings(tmp_path) -> Path:
    root = tmp_path / "mappings"
    root.mkdir()
    (root / "t.xsl").write_text(STYLESHEET)
    return root


@pytest.fixture
def chain(mappings):
    return build_chain([{"type": "xslt", "mapping": "t.xsl"}], base_dir=mappings, params={"datasource": "ds"})


def collect(store, records: dict[str, str | None], mode: str = "full") -> str:
    """Write a native version: original id → body, ``None`` for a deletion."""
    tx = store.begin(SOURCE, mode, nsprefix="ds")
    tx.write([(RecordInput(oid, body), body is None) for oid, body in records.items()])
    # an incremental run re-reads records stamped in the very millisecond of the commit it starts
    # from (harmless, but it would blur the counts these tests assert)
    time.sleep(0.002)
    return tx.commit().id


def target_records(store, version: str | None = None) -> dict[str, tuple[bool, str | None]]:
    with store.reader(TARGET, version) as view:
        return {r.original_id: (r.deleted, r.body_text() if r.body else None) for r in view.records()}


def title_triple(store, original_id: str, title: str) -> str:
    from mdstore import make_record_id

    return f'<http://x/{make_record_id("ds", original_id)}> <http://x/title> "{title}" .\n'


def test_full_run_keeps_ids_turns_tombstones_into_tombstones_and_stamps(store, chain):
    source_version = collect(store, {"a": record("A"), "b": record("B"), "c": None})
    summary = transform(store, SOURCE, TARGET, chain, run_id="run-1", datasource="ds", nsprefix="ds")
    assert summary.outcome == Outcome.FINISHED
    assert (summary.read, summary.errors, summary.added, summary.deleted) == (3, 0, 2, 1)
    assert (summary.version_in, summary.unit_in, summary.unit_out) == (
        source_version,
        SOURCE.name,
        TARGET.name,
    )
    assert target_records(store) == {
        "a": (False, title_triple(store, "a", "A")),
        "b": (False, title_triple(store, "b", "B")),
        "c": (True, None),
    }
    with store.reader(SOURCE) as native, store.reader(TARGET) as transformed:
        assert [r.id for r in native.records()] == [r.id for r in transformed.records()]
        stamped = transformed.get(next(native.ids())[0])
        assert stamped.transformed_at is not None
        assert stamped.collected_at is None
        info = transformed.info()
    assert info.run_id == "run-1"
    assert info.report["source_version"] == source_version
    assert info.report["fingerprint"] == chain.fingerprint
    assert info.report["outcome"] == "finished"


def test_failing_records_are_stored_with_their_location_and_the_run_goes_on(store, chain):
    collect(
        store, {"a": record("A"), "b": record("B", fail=True), "c": record("C"), "d": "<r><unclosed></r>"}
    )
    summary = transform(store, SOURCE, TARGET, chain, run_id="run-1", max_error_rate=0.5)
    assert summary.outcome == Outcome.RECORD_ERRORS
    assert (summary.read, summary.errors, summary.discarded, summary.added) == (4, 2, 1, 2)
    assert set(target_records(store)) == {"a", "c"}
    from mdstore import make_record_id

    with store.reader(TARGET) as view:
        errors = sorted(view.errors(), key=lambda e: e.message)
        discarded = view.discarded()
    assert [(e.record_id, e.step, e.message, e.location) for e in errors] == [
        (
            make_record_id("ds", "d"),
            "xslt t.xsl",
            "not well-formed XML: Opening and ending tag mismatch: unclosed line 1 and r",
            "line 1, column 18",
        ),
        (
            make_record_id("ds", "b"),
            "xslt t.xsl",
            "record marked as failing",
            't.xsl:6, xsl:template match="/" / xsl:if test="/r/@fail = \'yes\'"',  # the refusing test
        ),
    ]
    assert [(d.source, d.raw) for d in discarded] == [(make_record_id("ds", "d"), b"<r><unclosed></r>")]
    assert sorted(summary.first_errors) == [
        f"{make_record_id('ds', 'd')}: xslt t.xsl: line 1, column 18: not well-formed XML: "
        "Opening and ending tag mismatch: unclosed line 1 and r",
        f'{make_record_id("ds", "b")}: xslt t.xsl: t.xsl:6, xsl:template match="/" / '
        "xsl:if test=\"/r/@fail = 'yes'\": record marked as failing",
    ]


def test_too_many_errors_abort_and_leave_the_current_version(store, chain):
    collect(store, {"a": record("A"), "b": record("B")})
    first = transform(store, SOURCE, TARGET, chain, run_id="run-1")
    collect(store, {"a": record("A2", fail=True), "b": record("B2", fail=True), "c": record("C")})
    summary = transform(store, SOURCE, TARGET, chain, run_id="run-2", max_error_rate=0.3)
    assert summary.outcome == Outcome.FAILED
    assert summary.version_out is None
    # 3 records and 30% allowed: the first failure already makes the rate unreachable
    assert summary.message == (
        "1 of 1 records failed (100.0%), more than the 30.0% allowed: aborted, the current "
        "version is unchanged"
    )
    assert (summary.read, summary.errors) == (1, 1)
    assert store.current_version(TARGET) == first.version_out
    assert target_records(store) == {
        "a": (False, title_triple(store, "a", "A")),
        "b": (False, title_triple(store, "b", "B")),
    }
    assert [v.state for v in store.versions(TARGET)] == ["committed", "aborted"]
    assert store.open_transaction(TARGET) is None


def test_error_rate_at_the_limit_is_accepted(store, chain):
    collect(store, {"a": record("A"), "b": record("B", fail=True)})
    assert (
        transform(store, SOURCE, TARGET, chain, run_id="r", max_error_rate=0.5).outcome
        == Outcome.RECORD_ERRORS
    )
    collect(store, {"a": record("A"), "b": record("B", fail=True), "c": record("C", fail=True)})
    assert transform(store, SOURCE, TARGET, chain, run_id="r", max_error_rate=0.5).outcome == Outcome.FAILED


def test_a_failing_update_keeps_the_previous_output(store, chain):
    collect(store, {"a": record("A"), "b": record("B")})
    transform(store, SOURCE, TARGET, chain, run_id="run-1")
    collect(store, {"a": record("A2"), "b": record("B2", fail=True)})
    summary = transform(store, SOURCE, TARGET, chain, run_id="run-2", max_error_rate=0.5)
    assert summary.outcome == Outcome.RECORD_ERRORS
    assert (summary.updated, summary.unchanged, summary.deleted, summary.errors) == (1, 1, 0, 1)
    assert summary.extra["carried_over"] == 1
    assert target_records(store) == {
        "a": (False, title_triple(store, "a", "A2")),
        "b": (False, title_triple(store, "b", "B")),
    }


def test_unchanged_output_keeps_its_datestamp(store, chain):
    collect(store, {"a": record("A")})
    transform(store, SOURCE, TARGET, chain, run_id="run-1")
    with store.reader(TARGET) as view:
        before = next(view.records()).datestamp
    collect(store, {"a": record("A")})
    summary = transform(store, SOURCE, TARGET, chain, run_id="run-2")
    assert (summary.unchanged, summary.updated, summary.added) == (1, 0, 0)
    with store.reader(TARGET) as view:
        assert next(view.records()).datestamp == before


def test_incremental_reads_only_what_changed(store, chain):
    collect(store, {"a": record("A"), "b": record("B"), "c": record("C")})
    transform(store, SOURCE, TARGET, chain, run_id="run-1")
    # full harvest: a changes, b unchanged, c disappears (tombstone at commit), e is new
    collect(store, {"a": record("A2"), "b": record("B"), "e": record("E")})
    summary = transform(store, SOURCE, TARGET, chain, run_id="run-2", mode="incremental")
    assert summary.extra["mode"] == "incremental"
    assert summary.read == 3  # a, c (tombstone), e
    assert (summary.added, summary.updated, summary.deleted) == (1, 1, 1)
    assert target_records(store) == {
        "a": (False, title_triple(store, "a", "A2")),
        "b": (False, title_triple(store, "b", "B")),
        "c": (True, None),
        "e": (False, title_triple(store, "e", "E")),
    }


def test_incremental_with_nothing_new_does_nothing(store, chain):
    collect(store, {"a": record("A")})
    first = transform(store, SOURCE, TARGET, chain, run_id="run-1", mode="incremental")
    assert first.extra["mode"] == "full"
    assert first.extra["reason"] == "no transformed version yet"
    again = transform(store, SOURCE, TARGET, chain, run_id="run-2", mode="incremental")
    assert again.outcome == Outcome.NOTHING_TO_DO
    assert again.message == "the source has not changed since the last run"
    assert store.current_version(TARGET) == first.version_out


def test_incremental_falls_back_to_full_when_the_chain_changed(store, chain, mappings):
    collect(store, {"a": record("A"), "b": record("B")})
    transform(store, SOURCE, TARGET, chain, run_id="run-1")
    collect(store, {"a": record("A2"), "b": record("B")})
    (mappings / "t.xsl").write_text(STYLESHEET.replace("http://x/title", "http://x/name"))
    changed = build_chain(
        [{"type": "xslt", "mapping": "t.xsl"}], base_dir=mappings, params={"datasource": "ds"}
    )
    summary = transform(store, SOURCE, TARGET, changed, run_id="run-2", mode="incremental")
    assert (summary.extra["mode"], summary.extra["reason"]) == (
        "full",
        "the transform chain changed since the last run",
    )
    assert summary.read == 2
    assert all("http://x/name" in body for _deleted, body in target_records(store).values())


def test_incremental_falls_back_to_full_after_a_source_rollback(store, chain):
    collect(store, {"a": record("A")})
    collect(store, {"a": record("A2")})
    transform(store, SOURCE, TARGET, chain, run_id="run-1")
    store.rollback(SOURCE)
    summary = transform(store, SOURCE, TARGET, chain, run_id="run-2", mode="incremental")
    assert summary.extra["mode"] == "full"
    assert summary.extra["reason"].startswith("the source version the last run read is not an ancestor")
    assert target_records(store) == {"a": (False, title_triple(store, "a", "A"))}


def test_no_source_version_is_an_error(store, chain):
    from mdstore.errors import VersionNotFound

    with pytest.raises(VersionNotFound, match="no collected version to transform"):
        transform(store, SOURCE, TARGET, chain, run_id="r")


def test_progress_is_reported(store, chain, monkeypatch):
    monkeypatch.setattr("contentcloud.pipeline.transform.PROGRESS_EVERY", 2)
    collect(store, {str(i): record(str(i)) for i in range(5)})
    events = []
    transform(store, SOURCE, TARGET, chain, run_id="r", on_progress=lambda d, t, m: events.append((d, t, m)))
    assert events == [(2, 5, "transform"), (4, 5, "transform"), (5, 5, "transform")]


def test_the_shipped_oai_dc_mapping_through_the_store(store, shared_dir, tmp_path):
    mappings = tmp_path / "shipped"
    shutil.copytree(PROJECT / "mappings", mappings)
    body = (shared_dir / "oai-pmh" / "samples" / "oai_dc-puma-record.xml").read_bytes()
    collect(store, {"oai:pumaoai.isti.cnr.it:cnr.isti/cnr.isti/2015-TR-026": body})
    chain = build_chain(
        [{"type": "xslt", "mapping": "oai_dc2pe.xsl"}],
        base_dir=mappings,
        params={"datasource": "ds"},
        output="ntriples",
    )
    summary = transform(store, SOURCE, TARGET, chain, run_id="r")
    assert (summary.outcome, summary.added) == (Outcome.FINISHED, 1)
    ((deleted, text),) = target_records(store).values()
    assert (
        "<http://www.cidoc-crm.org/cidoc-crm/P2_has_type> <https://contentcloud.example/pe/type/report> ."
        in text
    )
    # 22 about the dataset, 2 per title/identifier/actor/concept…: see mappings/oai_dc2pe.xsl
    assert len(text.splitlines()) == 76


# --- a run split into parts (what the Airflow DAG maps over workers) ------------------------------


def split_run(store, chain, parts, *, order=None, retry=None, **kwargs):
    from contentcloud.pipeline.transform import finish_transform, plan_transform, transform_part

    plan = plan_transform(
        store, SOURCE, TARGET, chain, run_id="split", parts=parts, datasource="ds", nsprefix="ds", **kwargs
    )
    results = {}
    for index in order or range(len(plan.parts)):
        results[index] = transform_part(store, chain, plan, index)
        if index == retry:  # a worker retried after a crash redoes its part: idempotent
            results[index] = transform_part(store, chain, plan, index)
    return plan, finish_transform(store, plan, [results[i] for i in sorted(results)])


def test_a_run_split_into_parts_writes_what_a_single_run_writes(store, chain, tmp_path):
    records = {f"r{i:02d}": record(f"T{i}", fail=(i == 7)) for i in range(23)}
    records.update({"gone1": None, "gone2": None})
    collect(store, records)
    plan, summary = split_run(store, chain, 4, order=[2, 0, 3, 1], retry=1, max_error_rate=0.1)
    assert len(plan.parts) == 4 and plan.parts[0][0] is None and plan.parts[-1][1] is None
    assert [p[1] for p in plan.parts[:-1]] == [p[0] for p in plan.parts[1:]]  # contiguous, no overlap
    assert summary.outcome == Outcome.RECORD_ERRORS
    assert (summary.read, summary.errors, summary.added, summary.deleted) == (25, 1, 22, 2)
    assert summary.extra["parts"] == 4
    split_output = target_records(store)

    with open_store(f"sqlite:///{tmp_path / 'single.sqlite'}") as single:
        collect(single, records)
        one = transform(
            single, SOURCE, TARGET, chain, run_id="one", datasource="ds", nsprefix="ds", max_error_rate=0.1
        )
        assert (one.read, one.errors, one.added, one.deleted) == (25, 1, 22, 2)
        assert target_records(single) == split_output
    with store.reader(TARGET) as view:
        assert [e.record_id for e in view.errors()] == [__import__("mdstore").make_record_id("ds", "r07")]


def test_parts_over_the_error_rate_abort_the_whole_run(store, chain):
    before = collect(store, {f"r{i}": record(f"T{i}") for i in range(6)})
    transform(store, SOURCE, TARGET, chain, run_id="first", datasource="ds", nsprefix="ds")
    current = store.current_version(TARGET)
    collect(store, {f"r{i}": record(f"U{i}", fail=i < 3) for i in range(6)})
    _, summary = split_run(store, chain, 3, max_error_rate=0.2)
    assert summary.outcome == Outcome.FAILED and summary.errors == 3
    assert store.current_version(TARGET) == current and store.open_transaction(TARGET) is None
    assert before


def test_a_finish_with_a_part_missing_commits_nothing(store, chain):
    """Committing without a part's records would tombstone them: the finish refuses, the open
    transaction stays for the missing part, and finishing with every part then commits."""
    from contentcloud.pipeline.transform import finish_transform, plan_transform, transform_part
    from mdstore.errors import TransactionError

    collect(store, {f"r{i}": record(f"T{i}") for i in range(9)})
    plan = plan_transform(store, SOURCE, TARGET, chain, run_id="p", parts=3, datasource="ds", nsprefix="ds")
    results = [transform_part(store, chain, plan, i) for i in range(2)]
    with pytest.raises(
        TransactionError,
        match=r"^ds/PE/store/transformed: 2 of the plan's 3 parts reported; nothing was committed",
    ):
        finish_transform(store, plan, results)
    assert store.current_version(TARGET) is None and store.open_transaction(TARGET) is not None
    summary = finish_transform(store, plan, [*results, transform_part(store, chain, plan, 2)])
    assert (summary.read, summary.added, summary.deleted) == (9, 9, 0)


def test_transform_runs_the_whole_source_even_when_asked_for_parts(store, chain):
    collect(store, {f"r{i}": record(f"T{i}") for i in range(9)})
    with pytest.raises(TypeError, match="parts"):
        transform(store, SOURCE, TARGET, chain, run_id="t", datasource="ds", nsprefix="ds", parts=3)


def test_planning_again_returns_the_open_plan_and_refuses_a_stale_one(store, chain):
    from contentcloud.pipeline.transform import plan_transform
    from mdstore.errors import TransactionError

    collect(store, {f"r{i}": record(f"T{i}") for i in range(10)})
    first = plan_transform(store, SOURCE, TARGET, chain, run_id="a", parts=3, datasource="ds")
    again = plan_transform(store, SOURCE, TARGET, chain, run_id="b", parts=5, datasource="ds")
    assert again == first  # a retried planning task reuses the open transaction's plan
    collect(store, {"new": record("N")}, mode="incremental")
    with pytest.raises(TransactionError, match="unfinished transform"):
        plan_transform(store, SOURCE, TARGET, chain, run_id="c", parts=3, datasource="ds")


def test_x3ml_warnings_are_kept_with_the_version(store, mappings):
    """An entity dropped for an empty value is not a record error, but a curator must be able to
    see which one after the run: the first warnings go into the version's report."""
    from tests.unit.transforms.x3ml.x3ml_helpers import domain, entity, link, literal_label, x3ml

    name = '<instance_generator name="Literal"><arg name="text">name/text()</arg></instance_generator>'
    (mappings / "m.x3ml").write_text(
        x3ml(
            "<mapping>"
            + domain("/r", entity("crm:E1"))
            + link("item", "crm:P1", "item", entity("crm:E41", name, labels=literal_label("name/text()")))
            + "</mapping>"
        )
    )
    x3ml_chain = build_chain([{"type": "x3ml", "mapping": "m.x3ml"}], base_dir=mappings)
    collect(store, {f"r{i}": "<r><item><name>a</name></item><item><name/></item></r>" for i in range(3)})
    summary = transform(store, SOURCE, TARGET, x3ml_chain)
    assert summary.outcome == Outcome.FINISHED
    report = store.version(summary.version_out).report
    assert report["extra"]["warnings"] == 3
    warnings = report["extra"]["first_warnings"]
    assert len(warnings) == 3
    assert all("Empty result for arg text at node item" in w for w in warnings)
    assert all("m.x3ml:5, mapping 1, link 1, xpath 'name/text()'" in w for w in warnings)
    assert sorted(w.split(": ", 1)[0] for w in warnings) == sorted(
        f"ds::{__import__('hashlib').md5(f'r{i}'.encode()).hexdigest()}" for i in range(3)
    )


#: the same records as RDF/XML: the chain converts them to N-Triples through pyoxigraph
RDFXML_STYLESHEET = """<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:x="http://x/">
  <xsl:param name="recordId"/>
  <xsl:template match="/">
    <xsl:if test="/r/@fail = 'yes'">
      <xsl:message terminate="yes">record marked as failing</xsl:message>
    </xsl:if>
    <rdf:RDF><rdf:Description rdf:about="http://x/{$recordId}">
      <x:title><xsl:value-of select="/r/t"/></x:title>
    </rdf:Description></rdf:RDF>
  </xsl:template>
</xsl:stylesheet>
"""


def ntriples_form_of(store, version: str | None = None) -> str | None:
    from contentcloud.pipeline.transform import NTRIPLES_FORM

    return store.version(version or store.current_version(TARGET)).report.get(NTRIPLES_FORM)


@pytest.fixture
def converting(mappings):
    (mappings / "rdfxml.xsl").write_text(RDFXML_STYLESHEET)
    return build_chain([{"type": "xslt", "mapping": "rdfxml.xsl"}], base_dir=mappings)


def test_a_version_the_chain_converted_whole_names_its_ntriples_form(store, chain, converting, mappings):
    """What lets the rdf step split lines instead of parsing each record again: only a version whose
    every record went through the chain's pyoxigraph conversion says so."""
    from transforms.rdf import ntriples_form

    collect(store, {"a": record("A"), "b": record("B &lt;&amp;&gt; \u00e9")})
    transform(store, SOURCE, TARGET, converting, run_id="run-1")
    assert ntriples_form_of(store) == ntriples_form() == f"pyoxigraph {__import__('pyoxigraph').__version__}"
    assert target_records(store)["b"] == (False, title_triple(store, "b", "B <&> \u00e9"))
    # N-Triples the stylesheet wrote itself are stored as written: no promise
    transform(store, SOURCE, TARGET, chain, run_id="run-2")
    assert ntriples_form_of(store) is None
    # converted, but to Turtle
    turtle = build_chain([{"type": "xslt", "mapping": "rdfxml.xsl"}], base_dir=mappings, output="turtle")
    transform(store, SOURCE, TARGET, turtle, run_id="run-3")
    assert ntriples_form_of(store) is None


def test_an_incremental_version_names_the_form_only_when_its_parent_did(store, converting):
    collect(store, {"a": record("A"), "b": record("B")})
    first = transform(store, SOURCE, TARGET, converting, run_id="run-1")
    collect(store, {"a": record("A2"), "b": record("B")})
    second = transform(store, SOURCE, TARGET, converting, run_id="run-2", mode="incremental")
    assert second.extra["mode"] == "incremental"
    assert ntriples_form_of(store) is not None
    # a parent written without the promise (by an older version of the step): b stays as it wrote it
    store.add_to_report(second.version_out, ntriples_form=None)
    collect(store, {"a": record("A3"), "b": record("B")})
    third = transform(store, SOURCE, TARGET, converting, run_id="run-3", mode="incremental")
    assert third.extra["mode"] == "incremental"
    assert ntriples_form_of(store) is None
    assert ntriples_form_of(store, first.version_out) is not None


def test_a_full_version_with_carried_over_bodies_names_the_form_only_when_they_had_it(
    store, chain, converting
):
    collect(store, {"a": record("A"), "b": record("B")})
    transform(store, SOURCE, TARGET, chain, run_id="run-1")  # written as the stylesheet wrote it
    collect(store, {"a": record("A2"), "b": record("B2", fail=True)})
    summary = transform(store, SOURCE, TARGET, converting, run_id="run-2", max_error_rate=0.5)
    assert summary.extra["carried_over"] == 1
    assert ntriples_form_of(store) is None  # b's body is the text stylesheet's
    collect(store, {"a": record("A3"), "b": record("B3")})
    transform(store, SOURCE, TARGET, converting, run_id="run-3")
    assert ntriples_form_of(store) is not None
    collect(store, {"a": record("A4"), "b": record("B4", fail=True)})
    summary = transform(store, SOURCE, TARGET, converting, run_id="run-4", max_error_rate=0.5)
    assert (summary.extra["carried_over"], summary.errors) == (1, 1)
    assert ntriples_form_of(store) is not None  # b's carried body was converted too
