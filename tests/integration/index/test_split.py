"""A feed split into parts by id range (plan, parts, finish: what Airflow's mapped ``index_part``
tasks run) gives the same index as one run, on the embedded index and on real Solr: a refeed in
three parts, an incremental feed in two, record errors carried across parts, the error rate judged
over all parts, and a full rebuild kept as one part."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from contentcloud.pipeline.index import check_index, finish_index, index, index_part, plan_index
from contentcloud.pipeline.summary import Outcome
from mdstore import MDStore, RecordInput, open_store
from provision.index.base import IndexBackend
from provision.index.profile import IndexProfile
from provision.index.sqlite import SqliteIndex
from tests.integration.index.conftest import ROOT, datasource
from tests.pe_records import pe_record, pe_records

NOT_RDF = (ROOT / "tests" / "fixtures" / "index" / "not_rdf.nt").read_text()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MDStore]:
    with open_store(f"sqlite:///{tmp_path / 'mdstore.sqlite'}") as store:
        yield store


@pytest.fixture
def single(tmp_path: Path) -> Iterator[SqliteIndex]:
    """An embedded index fed in one run, to compare with."""
    with SqliteIndex(tmp_path / "single.sqlite") as backend:
        yield backend


def write_version(store: MDStore, records, *, deleted=(), mode: str = "full") -> str:
    tx = store.begin(datasource().transformed_unit, mode, stamp="transformed", nsprefix="ads")
    tx.upsert(RecordInput(oid, body) for oid, body in records)
    if deleted:
        tx.delete(list(deleted))
    return tx.commit().id


def split_feed(store: MDStore, backend: IndexBackend, profile: IndexProfile, parts: int, **options):
    plan = plan_index(store, datasource(), backend, profile, parts=parts, **options)
    results = [index_part(store, backend, profile, plan, part) for part in range(len(plan.parts))]
    return plan, results, finish_index(store, backend, plan, results)


def same_index(split: IndexBackend, single: IndexBackend) -> None:
    assert list(split.ids("ads")) == list(single.ids("ads"))
    a, b = split.state("ads"), single.state("ads")
    fields = ("version", "mode", "live_versions", "count", "errors", "errors_total", "profile_digest")
    assert [getattr(a, f) for f in fields] == [getattr(b, f) for f in fields]


def test_a_refeed_in_three_parts_then_an_incremental_feed_in_two_equal_one_run(
    store: MDStore, backend: IndexBackend, single: SqliteIndex, pe_profile: IndexProfile
) -> None:
    broken = ("oai:ads:broken", NOT_RDF)
    first = write_version(store, [*pe_records(90, prefix="ads"), broken])

    plan, results, summary = split_feed(store, backend, pe_profile, 3)
    assert (plan.mode, plan.version, len(plan.parts), plan.total) == ("refeed", first, 3, 91)
    assert [r.read for r in results] == [31, 30, 30]  # 91 ids cut in three, in id order
    assert sum(r.sent for r in results) == 90
    assert sum(r.error_count for r in results) == 1
    assert (summary.outcome, summary.read, summary.written, summary.errors) == (
        Outcome.RECORD_ERRORS,
        91,
        90,
        1,
    )
    assert summary.extra["mode"] == "refeed"
    assert summary.extra["index_count"] == 90
    one = index(store, datasource(), single, pe_profile)
    assert (one.read, one.written, one.errors) == (summary.read, summary.written, summary.errors)
    same_index(backend, single)
    again = finish_index(store, backend, plan, results)  # a retried finish task
    assert (again.outcome, again.written) == (Outcome.RECORD_ERRORS, 90)
    assert again.message.endswith("the state was already committed by this run")
    check = check_index(store, datasource(), backend)
    assert (check.extra["missing_total"], check.extra["unexplained_total"]) == (1, 0)
    assert (check.extra["unexpected_total"], check.extra["stale_total"], check.extra["behind"]) == (
        0,
        0,
        False,
    )

    # five records change, one is new, ten are withdrawn, the broken one is mended, one breaks
    changed = [pe_record(i, prefix="ads", variant=1) for i in range(5)]
    mended = ("oai:ads:broken", pe_record(200, prefix="ads")[1])
    second = write_version(
        store,
        [*changed, pe_record(100, prefix="ads"), mended, ("oai:ads:50", NOT_RDF)],
        deleted=[f"oai:ads:{i}" for i in range(20, 30)],
        mode="incremental",
    )
    old_errors = sorted(backend.state("ads").errors)
    plan, results, summary = split_feed(store, backend, pe_profile, 2)
    assert (plan.mode, plan.version, len(plan.parts)) == ("incremental", second, 2)
    # every record of the new version is within the overlap: all 92 are read, 10 of them tombstones
    assert sum(r.read for r in results) == 92
    assert sum(len(r.stale_on_error) for r in results) == 1
    assert sorted(t for r in results for t in r.touched_errors) == old_errors  # the mended record
    assert (summary.outcome, summary.read, summary.errors) == (Outcome.RECORD_ERRORS, 92, 1)
    assert backend.count("ads") == 81  # 82 present records, one of them broken: its old document is gone
    one = index(store, datasource(), single, pe_profile)
    assert (one.read, one.written, one.deleted, one.errors) == (
        summary.read, summary.written, summary.deleted, summary.errors)  # fmt: skip
    same_index(backend, single)
    state = backend.state("ads")
    assert state.live_versions == (first, second)
    assert [message.split(":")[0] for message in state.errors.values()] == ["RecordParseError"]
    assert (state.count, state.errors_total) == (81, 1)
    titles = backend.select({"q": "title:rev", "rows": 0})["response"]["numFound"]
    assert titles == 5
    check = check_index(store, datasource(), backend)
    assert (check.extra["index_count"], check.extra["mdstore_count"]) == (81, 82)
    assert (check.extra["missing_total"], check.extra["unexplained_total"], check.extra["behind"]) == (
        1,
        0,
        False,
    )


def test_past_the_error_rate_over_all_parts_the_state_stays_and_nothing_is_swept(
    store: MDStore, backend: IndexBackend, pe_profile: IndexProfile
) -> None:
    first = write_version(store, list(pe_records(60, prefix="ads")))
    index(store, datasource(), backend, pe_profile)
    before = backend.state("ads")
    records = [
        (f"oai:ads:{i}", NOT_RDF) if i % 3 == 0 else pe_record(i, prefix="ads", variant=1) for i in range(60)
    ]
    second = write_version(store, records)
    plan, results, summary = split_feed(store, backend, pe_profile, 3, max_error_rate=0.2)
    assert (plan.mode, len(plan.parts)) == ("incremental", 3)
    assert [r.error_count for r in results] == [r.read - r.sent for r in results]
    assert all(r.error_count for r in results)  # spread over the parts
    assert summary.outcome == Outcome.FAILED
    assert summary.message.startswith("20 of 60 records failed (33.3% > 20.0%); the index was left as it was")
    assert summary.version_out is None
    assert backend.state("ads") == before
    # what the parts wrote stays (documents replaced by id); no sweep, no stale-on-error deletion
    assert Counter(version for _, version in backend.ids("ads")) == {second: 40, first: 20}
    assert check_index(store, datasource(), backend).extra["behind"] is True


def test_a_full_rebuild_is_one_part_and_nothing_to_do_is_none(
    store: MDStore, backend: IndexBackend, pe_profile: IndexProfile
) -> None:
    version = write_version(store, list(pe_records(30, prefix="ads")))
    plan, results, summary = split_feed(store, backend, pe_profile, 3, full=True)
    assert (plan.mode, plan.parts) == ("full", ((None, None),))
    assert results[0].summary == summary.as_dict()  # the part did it all
    assert (summary.outcome, summary.written, summary.extra["mode"]) == (Outcome.FINISHED, 30, "full")
    assert backend.count("ads") == 30
    plan, results, summary = split_feed(store, backend, pe_profile, 3)
    assert (plan.mode, plan.parts, results) == ("none", (), [])
    assert (summary.outcome, summary.message) == (
        Outcome.NOTHING_TO_DO,
        f"version {version} is already indexed",
    )
    assert summary.extra == {"mode": "none", "index_count": 30}


def test_a_finish_refuses_a_state_another_feed_moved(
    store: MDStore, backend: IndexBackend, pe_profile: IndexProfile
) -> None:
    write_version(store, list(pe_records(20, prefix="ads")))
    plan = plan_index(store, datasource(), backend, pe_profile, parts=2)
    results = [index_part(store, backend, pe_profile, plan, part) for part in range(2)]
    index(store, datasource(), backend, pe_profile, full=True)  # meanwhile
    moved = backend.state("ads")
    summary = finish_index(store, backend, plan, results)
    assert summary.outcome == Outcome.FAILED
    assert f"moved from version None to {moved.version}" in summary.message
    assert backend.state("ads") == moved
