"""The SQLite MDStore keeps bytes bodies compressed and hands every body back as it was given."""

from __future__ import annotations

import pickle
import sqlite3

import pytest

from mdstore import RecordInput, UnitKey, open_store
from mdstore.compression import ZSTD_MAGIC
from mdstore.errors import StoreError
from mdstore.sqlite import COMPRESS_MIN_BYTES

UNIT = UnitKey("ds", "pe", "transformed")
LARGE = b"".join(b'<urn:x:%d> <urn:p> "caf\xc3\xa9 %d" .\n' % (i, i) for i in range(300))
BODIES: dict[str, bytes | str | None] = {
    "large bytes": LARGE,
    "small bytes": b"<a/>",
    "small bytes that look compressed": ZSTD_MAGIC + b"\x00 not a frame",
    "large text": LARGE.decode("utf-8"),
    "empty bytes": b"",
}


def _write(store, bodies) -> str:
    """The version holding ``bodies`` (original id → body)."""
    tx = store.begin(UNIT, "full", nsprefix="ds")
    tx.upsert([RecordInput(oid, body) for oid, body in bodies.items()])
    return tx.commit().id


def _records_table(path) -> str:
    con = sqlite3.connect(path)
    try:
        ((table,),) = con.execute("SELECT name FROM sqlite_master WHERE name LIKE 'rec_%'").fetchall()
        return table
    finally:
        con.close()


def _stored(path) -> dict[str, tuple[str, bytes | str | None]]:
    """Original id → (SQLite type, value) of each body as the records table holds it."""
    con = sqlite3.connect(path)
    try:
        sql = f"SELECT original_id, typeof(body), body FROM {_records_table(path)}"
        return {oid: (typeof, body) for oid, typeof, body in con.execute(sql)}
    finally:
        con.close()


@pytest.fixture
def path(tmp_path):
    return tmp_path / "md.sqlite"


@pytest.fixture
def store(path):
    store = open_store(f"sqlite:///{path}")
    yield store
    store.close()


def test_bodies_come_back_as_they_were_given_and_bytes_are_stored_compressed(store, path):
    version = _write(store, BODIES)
    with store.reader(UNIT, version) as view:
        records = {r.original_id: r for r in view.records()}
        assert {oid: r.body for oid, r in records.items()} == BODIES
        by_id = {r.original_id: r for r in view.get_many([r.id for r in records.values()]).values()}
        assert {oid: r.body for oid, r in by_id.items()} == BODIES
        # sizes and checksums are those of the bodies as given
        assert records["large bytes"].checksum == records["large text"].checksum
        stats = view.stats()
    stored = _stored(path)
    typeof, blob = stored["large bytes"]
    assert typeof == "blob" and blob[:4] == ZSTD_MAGIC and len(blob) < len(LARGE) // 4
    assert stored["small bytes"] == ("blob", b"<a/>") and len(b"<a/>") < COMPRESS_MIN_BYTES
    assert stored["small bytes that look compressed"][1][:4] == ZSTD_MAGIC  # a frame of its own
    assert stored["small bytes that look compressed"][1] != BODIES["small bytes that look compressed"]
    assert stored["large text"] == ("text", LARGE.decode("utf-8"))
    given = sum(len(b.encode() if isinstance(b, str) else b) for b in BODIES.values() if b is not None)
    assert stats["bytes"] == given == 19_981  # as given, not as stored


def test_raw_bodies_of_files_written_before_read_as_they_are(store, path):
    version = _write(store, {"r1": LARGE})
    con = sqlite3.connect(path)
    with con:  # the body as the code before wrote it
        con.execute(f"UPDATE {_records_table(path)} SET body = ?", (LARGE,))
    con.close()
    with store.reader(UNIT, version) as view:
        (record,) = list(view.records())
    assert record.body == LARGE


def test_a_stored_frame_that_does_not_decompress_is_a_store_error_naming_the_record(store, path):
    version = _write(store, {"r1": LARGE})
    con = sqlite3.connect(path)
    with con:  # a damaged file: the frame cut short
        con.execute(f"UPDATE {_records_table(path)} SET body = substr(body, 1, 20)")
    con.close()
    with store.reader(UNIT, version) as view:
        (record,) = list(view.records())  # unpacked when its body is read
        with pytest.raises(StoreError) as caught:
            _ = record.body
    (record_id,) = [rid for (rid,) in sqlite3.connect(path).execute(f"SELECT id FROM {_records_table(path)}")]
    message = str(caught.value)
    assert message.startswith(
        f"{version}: the stored body of record {record_id} does not decompress (a damaged"
    )
    assert message.endswith("the file is damaged; restore it from a backup or harvest the datasource again")


def test_a_record_read_from_the_store_pickles_its_body_compressed_and_unpacks_it_where_read(store):
    """A publish refresh ships records to its builder processes: they travel as stored."""
    version = _write(store, {"r1": LARGE, "r2": "<a>é</a>"})
    with store.reader(UNIT, version) as view:
        large, text = sorted(view.records(), key=lambda r: r.original_id)
    data = pickle.dumps(large)
    assert len(data) < len(LARGE) // 4
    copy = pickle.loads(data)
    assert copy.body == LARGE and copy == large
    assert pickle.loads(pickle.dumps(text)).body == "<a>é</a>"
    # a body set by hand replaces the stored one, unpacked or not
    copy.body = b"<b/>"
    assert pickle.loads(pickle.dumps(copy)).body == b"<b/>"
