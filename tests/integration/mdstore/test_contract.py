"""MDStore contract: the same assertions on the SQLite and the MongoDB backend."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from mdstore import RecordInput, UnitKey, make_record_id, open_store
from mdstore.envelope import body_checksum
from mdstore.errors import TransactionError, VersionNotFound

UNIT = UnitKey("ds1", "oai_dc")


def records(n: int, prefix: str = "oai:x:", body: str = "<dc>{}</dc>") -> list[RecordInput]:
    return [
        RecordInput(f"{prefix}{i:05d}", body.format(i), provenance={"url": "http://h/oai", "page": i // 100})
        for i in range(n)
    ]


def commit_full(store, recs, unit=UNIT):
    tx = store.begin(unit, "full", run_id="run-1")
    tx.upsert(recs)
    return tx.commit()


def test_full_commit_is_read_back_in_id_order_with_envelope(store):
    info = commit_full(store, records(2345))
    assert info.state == "committed"
    assert info.stats["total"] == 2345 and info.stats["added"] == 2345 and info.stats["deleted"] == 0
    with store.reader(UNIT) as view:
        got = list(view.records())
        assert view.version_id == info.id
    assert len(got) == 2345
    assert [r.id for r in got] == sorted(make_record_id("ds1", f"oai:x:{i:05d}") for i in range(2345))
    first = next(r for r in got if r.original_id == "oai:x:00007")
    assert first.id == "ds1::" + __import__("hashlib").md5(b"oai:x:00007").hexdigest()
    assert first.body == "<dc>7</dc>" and first.checksum == body_checksum("<dc>7</dc>")
    assert first.datasource == "ds1" and first.format == "oai_dc" and not first.deleted
    assert first.provenance == {"url": "http://h/oai", "page": 0}
    assert first.collected_at is not None and first.transformed_at is None
    assert first.datestamp.tzinfo is not None


def test_bytes_and_text_bodies_keep_their_type(store):
    tx = store.begin(UNIT)
    tx.upsert([RecordInput("b", b"\x00\xffraw"), RecordInput("t", "t\u00e9xt")])
    tx.commit()
    with store.reader(UNIT) as view:
        by_oid = {r.original_id: r for r in view.records()}
    assert by_oid["b"].body == b"\x00\xffraw"
    assert by_oid["t"].body == "t\u00e9xt"
    assert by_oid["t"].body_bytes() == "t\u00e9xt".encode()


def test_uncommitted_writes_are_invisible_and_abort_keeps_current(store):
    v1 = commit_full(store, records(10))
    tx = store.begin(UNIT, "full")
    tx.upsert(records(3, prefix="other:"))
    with store.reader(UNIT) as view:
        assert view.version_id == v1.id and view.count() == 10
    aborted = tx.abort()
    assert store.current_version(UNIT) == v1.id
    assert store.version(aborted).state == "aborted"
    with pytest.raises(VersionNotFound):
        store.reader(UNIT, aborted)
    with pytest.raises(TransactionError, match="already closed"):
        tx.upsert(records(1))


def test_one_open_transaction_per_unit(store):
    tx = store.begin(UNIT)
    with pytest.raises(TransactionError, match="already exists") as err:
        store.begin(UNIT)
    assert err.value.version == tx.version_id
    store.begin(UnitKey("ds2", "oai_dc")).abort()  # other units are independent
    tx.abort()
    store.begin(UNIT).abort()


def test_incremental_starts_from_current_and_counts_changes(store):
    v1 = commit_full(store, records(100))
    tx = store.begin(UNIT, "incremental")
    counts = tx.upsert(
        [
            RecordInput("oai:x:00001", "<dc>1</dc>"),
            RecordInput("oai:x:00002", "<dc>new 2</dc>"),
            RecordInput("oai:x:new", "<dc>n</dc>"),
        ]
    )
    assert (counts.added, counts.updated, counts.unchanged) == (1, 1, 1)
    assert tx.delete(["oai:x:00003"]).deleted == 1
    v2 = tx.commit()
    assert v2.parent == v1.id and v2.mode == "incremental"
    s = v2.stats
    assert (s["total"], s["present"], s["deleted"]) == (101, 100, 1)
    assert (s["added"], s["updated"], s["newly_deleted"], s["unchanged"]) == (1, 1, 1, 98)


def test_datestamp_changes_only_when_body_or_deletion_changes(store):
    commit_full(store, records(5))
    with store.reader(UNIT) as view:
        before = {r.original_id: r for r in view.records()}
    time.sleep(0.01)  # datestamps have millisecond resolution
    tx = store.begin(UNIT, "full")  # full re-harvest: same bodies except one
    recs = records(5)
    recs[2] = RecordInput("oai:x:00002", "<dc>changed</dc>")
    tx.upsert(recs)
    tx.commit()
    with store.reader(UNIT) as view:
        after = {r.original_id: r for r in view.records()}
    for oid in before:
        if oid == "oai:x:00002":
            assert after[oid].datestamp > before[oid].datestamp
        else:
            assert after[oid].datestamp == before[oid].datestamp
            assert after[oid].collected_at > before[oid].collected_at


def test_tombstones_keep_deletion_date_and_full_mode_tombstones_missing(store):
    commit_full(store, records(4))
    tx = store.begin(UNIT, "full")
    tx.upsert(records(2))  # 00002 and 00003 are no longer delivered
    v = tx.commit()
    assert v.stats["newly_deleted"] == 2 and v.stats["present"] == 2
    with store.reader(UNIT) as view:
        gone = list(view.records(deleted=True))
        assert view.count(deleted=False) == 2
    assert sorted(r.original_id for r in gone) == ["oai:x:00002", "oai:x:00003"]
    assert all(r.body is None and r.deleted_at == r.datestamp for r in gone)
    # deleting an already deleted record changes nothing
    tx = store.begin(UNIT, "incremental")
    counts = tx.delete(["oai:x:00002"])
    assert counts.unchanged == 1 and counts.deleted == 0
    v3 = tx.commit()
    with store.reader(UNIT) as view:
        again = view.get(make_record_id("ds1", "oai:x:00002"))
    assert (
        again.deleted and again.datestamp == next(r for r in gone if r.original_id == "oai:x:00002").datestamp
    )
    assert v3.stats["newly_deleted"] == 0


def test_redoing_a_page_is_idempotent(store):
    tx = store.begin(UNIT)
    page = records(50)
    tx.upsert(page)
    tx.upsert(page)  # a resumed writer redoes its last page
    v = tx.commit()
    assert v.stats["total"] == 50 and v.stats["added"] == 50


def test_interleaved_write_keeps_input_order(store):
    tx = store.begin(UNIT)
    counts = tx.write(
        [
            (RecordInput("a", "1"), False),
            (RecordInput("a", None), True),
            (RecordInput("b", "2"), False),
            (RecordInput("b", "3"), False),
        ]
    )
    assert counts.written == 2
    tx.commit()
    with store.reader(UNIT) as view:
        by_oid = {r.original_id: r for r in view.records()}
    assert by_oid["a"].deleted and by_oid["b"].body == "3"


def test_a_group_reads_its_own_writes_and_commits_them_like_single_writes(store):
    tx = store.begin(UNIT, "full", run_id="run-g")
    tx.upsert(records(10))
    with tx.grouped():
        tx.upsert(records(30)[10:])
        tx.add_error("bad record", record_id="oai:x:00012", step="collect")
        assert tx.get("oai:x:00025").body == "<dc>25</dc>"  # the writer sees its group at once
        tx.upsert([RecordInput("oai:x:00025", "<dc>again</dc>")])
        tx.checkpoint({"page": 3})
    assert tx.checkpoint_data == {"page": 3}
    v = tx.commit()
    assert (v.stats["total"], v.stats["added"]) == (30, 30)
    with store.reader(UNIT) as view:
        assert view.get(make_record_id("ds1", "oai:x:00025")).body == "<dc>again</dc>"
        assert [e.message for e in view.errors()] == ["bad record"]


class Interrupted(Exception):
    pass


def test_an_error_in_a_group_leaves_a_checkpoint_that_describes_the_stored_records(store_uri, store):
    tx = store.begin(UNIT, "full", run_id="run-g")
    pages = [records(40)[n * 10 : n * 10 + 10] for n in range(4)]
    tx.upsert(pages[0])
    tx.checkpoint({"page": 0})

    def write_and_fail() -> None:
        with tx.grouped():
            tx.upsert(pages[1])
            tx.checkpoint({"page": 1})
            tx.upsert(pages[2][:5])  # the writer fails in the middle of a page
            raise Interrupted

    with pytest.raises(Interrupted):
        write_and_fail()
    stored = tx.stats()["total"]
    if store_uri.startswith("sqlite"):  # one SQLite transaction: the group is kept whole or not at all
        assert (tx.checkpoint_data, stored) == ({"page": 0}, 10)
    else:  # each write was its own: they stay, and so does the checkpoint written among them
        assert (tx.checkpoint_data, stored) == ({"page": 1}, 25)
    with open_store(store_uri) as other:
        assert other.open_transaction(UNIT).checkpoint == tx.checkpoint_data
    # a resumed writer redoes every page after its checkpoint, and ends with each record once
    for page in pages[tx.checkpoint_data["page"] + 1 :]:
        tx.upsert(page)
    v = tx.commit()
    assert (v.stats["total"], v.stats["added"]) == (40, 40)


def test_a_sqlite_group_is_one_transaction_that_other_connections_see_whole(tmp_path):
    import sqlite3

    path = tmp_path / "mdstore.sqlite"
    with open_store(f"sqlite:///{path}") as store:
        tx = store.begin(UNIT, "full", run_id="run-g")
        table = store.backend._tables(tx.version_id)["rec"]
        other = sqlite3.connect(path)
        count = f'SELECT count(*) FROM "{table}"'
        with tx.grouped():
            tx.upsert(records(20)[:10])
            tx.checkpoint({"page": 0})
            tx.upsert(records(20)[10:])
            assert other.execute(count).fetchone() == (0,)
        assert other.execute(count).fetchone() == (20,)
        other.close()
        tx.commit()


def test_open_transaction_is_persisted_and_resumable(store_uri, store):
    tx = store.begin(UNIT, "full", run_id="run-7")
    tx.upsert(records(30))
    tx.checkpoint({"token": "abc", "page": 3})
    with open_store(store_uri) as other:  # a different process would see the same
        info = other.open_transaction(UNIT)
        assert (
            info is not None and info.id == tx.version_id and info.checkpoint == {"token": "abc", "page": 3}
        )
        with pytest.raises(TransactionError, match="held by a live writer"):
            other.resume(UNIT)  # the writer is still there
        tx.release()  # it hands the transaction back, which stays open
        assert other.open_transaction(UNIT).id == tx.version_id and other.writers(UNIT) == []
        resumed = other.resume(UNIT)
        assert resumed.checkpoint_data == {"token": "abc", "page": 3} and resumed.run_id == "run-7"
        resumed.upsert(records(40))
        v = resumed.commit()
    assert v.stats["total"] == 40 and v.stats["added"] == 40
    assert store.open_transaction(UNIT) is None
    with pytest.raises(TransactionError, match="no open transaction"):
        store.resume(UNIT)


def test_abort_open_transaction_left_by_a_crashed_writer(store):
    v1 = commit_full(store, records(3))
    tx = store.begin(UNIT)
    tx.upsert(records(5))
    del tx  # the writer disappears
    assert store.abort_open(UNIT)
    assert store.current_version(UNIT) == v1.id and store.open_transaction(UNIT) is None


def test_rollback_to_an_earlier_kept_version(store):
    v1 = commit_full(store, records(3))
    v2 = commit_full(store, records(5))
    assert store.rollback(UNIT) == v1.id
    with store.reader(UNIT) as view:
        assert view.count() == 3
    assert store.rollback(UNIT, v2.id) == v2.id
    with pytest.raises(VersionNotFound):
        store.rollback(UNIT, "v99999999")
    tx = store.begin(UNIT)
    with pytest.raises(TransactionError, match="commit or abort"):
        store.rollback(UNIT, v1.id)
    tx.abort()


def test_commit_refuses_when_current_moved_under_it(store):
    commit_full(store, records(3))
    v2 = commit_full(store, records(4))
    tx = store.begin(UNIT, "incremental")
    store.backend.flip_current(UNIT, v2.id, store.versions(UNIT)[0].id, clear_open=None)
    with pytest.raises(TransactionError, match="moved"):
        tx.commit()
    tx.abort()


def test_gc_keeps_current_last_k_and_leased_versions(store):
    ids = [commit_full(store, records(i + 1)).id for i in range(5)]
    view = store.reader(UNIT, ids[0])
    view.acquire()
    report = store.gc(keep=2)
    assert sorted(report.removed) == [ids[1], ids[2]]
    assert view.count() == 1  # the leased version is still readable
    view.release()
    assert store.gc(keep=2).removed == [ids[0]]
    states = {v.id: v.state for v in store.versions(UNIT)}
    assert states == {
        ids[0]: "collected",
        ids[1]: "collected",
        ids[2]: "collected",
        ids[3]: "committed",
        ids[4]: "committed",
    }
    with pytest.raises(VersionNotFound):
        store.rollback(UNIT, ids[2])


def test_keyset_paging_filters_and_limits(store):
    commit_full(store, records(250))
    tx = store.begin(UNIT, "incremental")
    tx.delete([f"oai:x:{i:05d}" for i in range(0, 250, 10)])
    tx.commit()
    with store.reader(UNIT) as view:
        all_ids = [r.id for r in view.records(page_size=7)]
        assert all_ids == sorted(all_ids) and len(all_ids) == 250
        pages, after = [], None
        while True:
            page = view.page(after_id=after, limit=60)
            if not page:
                break
            pages.extend(r.id for r in page)
            after = page[-1].id
        assert pages == all_ids
        assert [r.id for r in view.records(after_id=all_ids[99], limit=5)] == all_ids[100:105]
        assert view.count(deleted=True) == 25 and view.count(deleted=False) == 225
        deleted = list(view.records(deleted=True))
        latest = max(r.datestamp for r in deleted)
        assert {r.id for r in view.records(since=latest)} >= {r.id for r in deleted}
        assert view.count(until=latest - timedelta(days=1)) == 0
        assert [i for i, _, d in view.ids(deleted=True)] == [r.id for r in deleted]
        # ids alone (what cutting a run into id ranges reads): present and deleted, in id order
        assert list(view.keys()) == all_ids
        assert list(view.keys(since=latest)) == [i for i, _, _ in view.ids(since=latest)]


def test_counts_of_a_committed_version_are_its_rows_counts(store):
    """A committed version answers unfiltered counts from what its commit counted; they are its
    rows' counts, and an open version (whose rows still change) counts its rows."""
    commit_full(store, records(30))
    tx = store.begin(UNIT, "incremental")
    tx.delete([f"oai:x:{i:05d}" for i in range(0, 30, 3)])
    with store.reader(UNIT, tx.version_id) as view:  # open: counted from the rows, as they are now
        assert (view.count(), view.count(deleted=False), view.count(deleted=True)) == (30, 20, 10)
        tx.upsert(records(35)[30:])
        assert (view.count(), view.count(deleted=False), view.count(deleted=True)) == (35, 25, 10)
    tx.commit()
    with store.reader(UNIT) as view:
        assert (view.count(), view.count(deleted=False), view.count(deleted=True)) == (35, 25, 10)
        assert view.stats()["present"] == 25


def test_errors_and_discarded_are_kept_per_version(store):
    tx = store.begin(UNIT)
    tx.upsert(records(2))
    tx.add_error("no title", record_id="ds1::x", step="x3ml", location="mapping.x3ml: link 2: dc:title")
    tx.add_discarded(b"<record><broken", "not well-formed (line 1, column 17)", source="page 3")
    tx.add_error(
        "no title", record_id="ds1::x", step="x3ml", location="mapping.x3ml: link 2: dc:title"
    )  # redone
    v = tx.commit()
    assert v.stats["errors"] == 1 and v.stats["discarded"] == 1
    with store.reader(UNIT) as view:
        (error,) = view.errors()
        (raw,) = view.discarded()
    assert (error.record_id, error.step, error.message, error.location) == (
        "ds1::x",
        "x3ml",
        "no title",
        "mapping.x3ml: link 2: dc:title",
    )
    assert raw.raw == b"<record><broken" and raw.source == "page 3" and "column 17" in raw.error


def test_units_listing_and_stats(store):
    commit_full(store, records(7))
    commit_full(store, records(2), unit=UnitKey("ds1", "PE", "store", "transformed"))
    units = {u.key.name: u for u in store.units()}
    assert set(units) == {"ds1/oai_dc/store/native", "ds1/PE/store/transformed"}
    assert units["ds1/oai_dc/store/native"].stats["present"] == 7
    assert units["ds1/oai_dc/store/native"].stats["bytes"] == sum(len(f"<dc>{i}</dc>") for i in range(7))


def test_commit_report_is_stored_with_the_version(store):
    tx = store.begin(UNIT)
    tx.upsert(records(1))
    v = tx.commit(report={"step": "collect", "pages": 1})
    assert store.version(v.id).report == {"step": "collect", "pages": 1}
    merged = store.add_to_report(v.id, run={"id": "r-1", "steps": ["collect"]})
    assert merged == {"step": "collect", "pages": 1, "run": {"id": "r-1", "steps": ["collect"]}}
    assert store.version(v.id).report == merged


def test_full_mode_counts_changes_against_the_parent(store):
    """A second full run compares with the parent: its records were 'added' there, not here."""
    tx = store.begin(UNIT, "full")
    tx.upsert([RecordInput("a", "1"), RecordInput("b", "1"), RecordInput("c", "1")])
    tx.commit()
    tx = store.begin(UNIT, "full")
    counts = tx.upsert([RecordInput("a", "2"), RecordInput("b", "1"), RecordInput("d", "1")])
    assert (counts.added, counts.updated, counts.unchanged) == (1, 1, 1)
    stats = tx.commit().stats
    assert (stats["added"], stats["updated"], stats["unchanged"], stats["newly_deleted"]) == (1, 1, 1, 1)


def test_lineage_walks_the_parents_from_the_current_version(store):
    v1 = commit_full(store, records(3))
    v2 = commit_full(store, records(4))
    tx = store.begin(UNIT, "incremental")
    tx.upsert(records(1, prefix="oai:y:"))
    v3 = tx.commit()
    other = commit_full(store, records(2), unit=UnitKey("ds2", "oai_dc"))
    assert [v.id for v in store.lineage(UNIT)] == [v3.id, v2.id, v1.id]
    assert [v.id for v in store.lineage(UNIT, v2.id)] == [v2.id, v1.id]
    assert [(v.state, v.mode) for v in store.lineage(UNIT)] == [
        ("committed", "incremental"),
        ("committed", "full"),
        ("committed", "full"),
    ]
    assert store.is_ancestor(UNIT, v1.id, v3.id) and store.is_ancestor(UNIT, v3.id, v3.id)
    assert store.is_ancestor(UNIT, v2.id)  # of the current version
    assert not store.is_ancestor(UNIT, v3.id, v1.id)
    assert not store.is_ancestor(UNIT, other.id, v3.id)
    assert not store.is_ancestor(UNIT, v1.id, "no-such-version")
    assert not store.is_ancestor(UNIT, v1.id, other.id)  # a version of another unit is not in it
    assert list(store.lineage(UnitKey("none", "oai_dc"))) == []
    with pytest.raises(VersionNotFound) as err:
        list(store.lineage(UNIT, other.id))
    assert str(err.value) == f"ds1/oai_dc/store/native: {other.id}: no such version of this unit"


def test_lineage_ends_at_a_parent_pointer_that_loops_back(store):
    """A damaged store (a parent pointer back to a descendant) must not make a caller loop."""
    v1 = commit_full(store, records(3))
    v2 = commit_full(store, records(4))
    v3 = commit_full(store, records(5))
    store.backend.update_version(v1.id, parent=v3.id)
    assert [v.id for v in store.lineage(UNIT)] == [v3.id, v2.id, v1.id]
    assert [v.id for v in store.lineage(UNIT, v2.id)] == [v2.id, v1.id, v3.id]
    assert not store.is_ancestor(UNIT, "elsewhere", v3.id)
    store.backend.update_version(v2.id, parent=v2.id)  # its own parent
    assert [v.id for v in store.lineage(UNIT)] == [v3.id, v2.id]


def test_lineage_goes_on_through_collected_versions_and_stops_at_a_missing_one(store):
    v1 = commit_full(store, records(3))
    v2 = commit_full(store, records(3))
    v3 = commit_full(store, records(3))
    v4 = commit_full(store, records(3))
    assert v1.id in store.gc(keep=1).removed
    assert [(v.id, v.state) for v in store.lineage(UNIT)] == [
        (v4.id, "committed"),
        (v3.id, "collected"),
        (v2.id, "collected"),
        (v1.id, "collected"),
    ]
    store.backend.update_version(v3.id, parent="gone")
    assert [v.id for v in store.lineage(UNIT)] == [v4.id, v3.id]
    assert not store.is_ancestor(UNIT, v1.id)
