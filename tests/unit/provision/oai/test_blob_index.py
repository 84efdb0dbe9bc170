"""The blobs' hash index: dropped while a file's first snapshot appends its blobs, built at its end."""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime

import pytest

from provision.oai import PublisherIndex
from provision.oai.index import compress

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _indexes(path) -> dict[str, str | None]:
    con = sqlite3.connect(path)
    try:
        return dict(
            con.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'blobs'")
        )
    finally:
        con.close()


def _blobs(index: PublisherIndex) -> list[tuple[str, bytes]]:
    return index.con.execute("SELECT hash, data FROM blobs ORDER BY rowid").fetchall()


def _plan(index: PublisherIndex) -> str:
    rows = index.con.execute("EXPLAIN QUERY PLAN SELECT data FROM blobs WHERE hash = 'x'").fetchall()
    return " ".join(row[-1] for row in rows)


def test_a_first_snapshot_appends_without_the_index_and_builds_it_with_one_row_per_payload(tmp_path):
    index = PublisherIndex(tmp_path / "oai.sqlite")
    assert _indexes(tmp_path / "oai.sqlite") == {
        "blobs_hash": "CREATE UNIQUE INDEX blobs_hash ON blobs(hash)"
    }
    a, b = compress(b"<a/>"), compress(b"<b/>")
    with index.build(NOW) as writer:
        assert index.con.execute(
            "SELECT count(*) FROM sqlite_master WHERE name = 'blobs_hash'"
        ).fetchone() == (0,)
        assert "blobs_hash" in _indexes(tmp_path / "oai.sqlite")  # readers still see the committed file
        writer.put_blobs([("ha", a)])
        writer.put_blobs([("ha", a), ("hb", b)])  # the same payload made again by a later batch
        writer.put_blobs([("hb", b)])
    assert _blobs(index) == [("ha", a), ("hb", b)]
    assert "USING INDEX blobs_hash" in _plan(index)
    # the next snapshot inserts through the index: a payload stored before is not stored again
    with index.build(NOW) as writer:
        assert writer._bulk_blobs is False
        writer.put_blobs([("hb", b), ("hc", compress(b"<c/>"))])
    assert [h for h, _ in _blobs(index)] == ["ha", "hb", "hc"]
    assert list(_indexes(tmp_path / "oai.sqlite")) == ["blobs_hash"]


def test_a_failed_first_snapshot_leaves_the_index_as_it_was(tmp_path):
    index = PublisherIndex(tmp_path / "oai.sqlite")

    def fail() -> None:
        with index.build(NOW) as writer:
            writer.put_blobs([("ha", compress(b"<a/>"))])
            raise RuntimeError("a builder died")

    with pytest.raises(RuntimeError, match="a builder died"):
        fail()
    assert _blobs(index) == []
    assert list(_indexes(tmp_path / "oai.sqlite")) == ["blobs_hash"]
    assert index.current() is None


def test_a_file_made_before_keeps_its_primary_key_and_inserts_through_it(tmp_path):
    path = tmp_path / "oai.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE blobs (hash TEXT PRIMARY KEY, data BLOB NOT NULL)")
    con.close()
    index = PublisherIndex(path)
    a = compress(b"<a/>")
    with index.build(NOW) as writer:
        assert writer._bulk_blobs is False
        writer.put_blobs([("ha", a)])
        writer.put_blobs([("ha", a)])
    assert _blobs(index) == [("ha", a)]
    assert list(_indexes(path)) == ["sqlite_autoindex_blobs_1"]


def test_opening_a_file_does_not_wait_for_a_refresh_that_holds_the_write_lock(tmp_path):
    path = tmp_path / "oai.sqlite"
    PublisherIndex(path).close()
    refresh = sqlite3.connect(path, isolation_level=None)
    refresh.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        index = PublisherIndex(path)
        assert time.monotonic() - started < 5
        assert index.current() is None
        index.close()
    finally:
        refresh.execute("ROLLBACK")
        refresh.close()
