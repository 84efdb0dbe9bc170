"""The SQLite MDStore keeps bytes bodies compressed and hands every body back as it was given."""

from __future__ import annotations

import sqlite3

from mdstore import RecordInput, UnitKey, open_store
from mdstore.compression import ZSTD_MAGIC
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


def _stored(path, table: str) -> dict[str, tuple[str, bytes | str | None]]:
    con = sqlite3.connect(path)
    try:
        return {
            oid: (typeof, body)
            for oid, typeof, body in con.execute(f"SELECT original_id, typeof(body), body FROM {table}")
        }
    finally:
        con.close()


def test_bodies_come_back_as_they_were_given_and_bytes_are_stored_compressed(tmp_path):
    path = tmp_path / "md.sqlite"
    store = open_store(f"sqlite:///{path}")
    try:
        tx = store.begin(UNIT, "full", nsprefix="ds")
        tx.upsert([RecordInput(oid, body) for oid, body in BODIES.items()])
        version = tx.commit().id
        with store.reader(UNIT, version) as view:
            records = {r.original_id: r for r in view.records()}
            assert {oid: r.body for oid, r in records.items()} == BODIES
            by_id = {r.original_id: r for r in view.get_many([r.id for r in records.values()]).values()}
            assert {oid: r.body for oid, r in by_id.items()} == BODIES
            # sizes and checksums are those of the bodies as given
            assert records["large bytes"].checksum == records["large text"].checksum
            stats = view.stats()
        (table,) = [
            name
            for (name,) in sqlite3.connect(path).execute(
                "SELECT name FROM sqlite_master WHERE name LIKE 'rec_%'"
            )
        ]
        stored = _stored(path, table)
        typeof, blob = stored["large bytes"]
        assert typeof == "blob" and blob[:4] == ZSTD_MAGIC and len(blob) < len(LARGE) // 4
        assert stored["small bytes"] == ("blob", b"<a/>") and len(b"<a/>") < COMPRESS_MIN_BYTES
        assert stored["small bytes that look compressed"][1][:4] == ZSTD_MAGIC  # a frame of its own
        assert stored["small bytes that look compressed"][1] != BODIES["small bytes that look compressed"]
        assert stored["large text"] == ("text", LARGE.decode("utf-8"))
        given = sum(len(b.encode() if isinstance(b, str) else b) for b in BODIES.values() if b is not None)
        assert stats["bytes"] == given == 19_981  # as given, not as stored
    finally:
        store.close()


def test_raw_bodies_of_files_written_before_read_as_they_are(tmp_path):
    path = tmp_path / "md.sqlite"
    store = open_store(f"sqlite:///{path}")
    try:
        tx = store.begin(UNIT, "full", nsprefix="ds")
        tx.upsert([RecordInput("r1", LARGE)])
        version = tx.commit().id
        (table,) = [
            name
            for (name,) in sqlite3.connect(path).execute(
                "SELECT name FROM sqlite_master WHERE name LIKE 'rec_%'"
            )
        ]
        con = sqlite3.connect(path)
        with con:
            con.execute(f"UPDATE {table} SET body = ?", (LARGE,))  # as the code before wrote it
        con.close()
        with store.reader(UNIT, version) as view:
            (record,) = list(view.records())
        assert record.body == LARGE
    finally:
        store.close()
