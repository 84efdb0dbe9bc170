"""The content-addressed file store and the download ledger (local files only)."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harvesters.download import Entry, Ledger, LocalFileStore, open_file_store
from harvesters.download.filestore import temp_name
from mdstore.errors import ConfigError, PluginUnavailable, StoreError, UnknownPlugin


def store_bytes(store: LocalFileStore, *chunks: bytes):
    with store.writer() as writer:
        for chunk in chunks:
            writer.write(chunk)
        return writer.commit()


def test_a_file_is_stored_under_its_sha256_in_sharded_directories(tmp_path):
    store = LocalFileStore(tmp_path / "files")
    stored = store_bytes(store, b"hello ", b"world")
    digest = hashlib.sha256(b"hello world").hexdigest()
    assert (stored.sha256, stored.size, stored.existed) == (digest, 11, False)
    assert stored.location == str(tmp_path / "files" / digest[:2] / digest)
    assert store.has(digest)
    assert store.open(digest).read() == b"hello world"
    assert oct(os.stat(stored.location).st_mode & 0o777) == "0o644"
    assert list((tmp_path / "files" / ".tmp").iterdir()) == []


def test_identical_bytes_are_stored_once(tmp_path):
    store = LocalFileStore(tmp_path)
    first = store_bytes(store, b"same")
    second = store_bytes(store, b"sa", b"me")
    assert first.sha256 == second.sha256
    assert (first.existed, second.existed) == (False, True)
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == [first.sha256]


def test_a_writer_that_fails_leaves_nothing(tmp_path):
    store = LocalFileStore(tmp_path)

    def half_a_file() -> None:
        with store.writer() as writer:
            writer.write(b"half a file")
            raise RuntimeError("connection dropped")

    with pytest.raises(RuntimeError):
        half_a_file()
    with store.writer() as writer:
        writer.write(b"never committed")
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


@given(st.lists(st.binary(max_size=300), max_size=6))
def test_the_address_is_the_sha256_of_the_bytes_written(tmp_path_factory, chunks):
    store = LocalFileStore(tmp_path_factory.mktemp("files"))
    stored = store_bytes(store, *chunks)
    data = b"".join(chunks)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert stored.size == len(data)
    assert store.open(stored.sha256).read() == data


def test_cleanup_removes_temp_files_of_dead_writers_only(tmp_path):
    store = LocalFileStore(tmp_path)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    host = socket.gethostname()
    orphan = tmp_path / ".tmp" / f"{host}-{dead.stdout.strip()}-0123456789abcdef.part"
    orphan.write_bytes(b"half")
    mine = tmp_path / ".tmp" / temp_name()
    mine.write_bytes(b"in progress")
    elsewhere = tmp_path / ".tmp" / "other-host-1-0123456789abcdef.part"
    elsewhere.write_bytes(b"not ours to judge")
    assert store.cleanup() == 1
    assert sorted(p.name for p in (tmp_path / ".tmp").iterdir()) == sorted([mine.name, elsewhere.name])


def test_addresses_are_checked_and_stores_chosen_by_uri(tmp_path):
    store = LocalFileStore(tmp_path)
    with pytest.raises(StoreError, match="is not a sha256 hex digest"):
        store.path("../../etc/passwd")
    assert isinstance(open_file_store(f"file://{tmp_path}/a"), LocalFileStore)
    assert open_file_store(str(tmp_path / "b")).root == tmp_path / "b"
    default = open_file_store(f"file://{tmp_path}/c")
    assert (default.fsync, default.durable, default.uri) == ("group", True, f"file://{tmp_path}/c")
    assert open_file_store(f"file://{tmp_path}/c?fsync=true").fsync == "group"
    each = open_file_store(f"file://{tmp_path}/c?fsync=each")
    assert (each.fsync, each.durable, each.uri) == ("each", True, f"file://{tmp_path}/c?fsync=each")
    fast = open_file_store(f"file://{tmp_path}/d?fsync=false")
    assert (fast.fsync, fast.durable, fast.uri) == ("none", False, f"file://{tmp_path}/d?fsync=false")
    for wrong in ("sync=no", "fsync=maybe"):
        with pytest.raises(ConfigError, match=r"the only parameter is fsync=group\|each\|false"):
            open_file_store(f"file://{tmp_path}/e?{wrong}")
    with pytest.raises(ConfigError, match="names no host"):
        open_file_store("file://server/share")
    with pytest.raises(UnknownPlugin, match="unknown file store 'ftp'; valid names: file, s3"):
        open_file_store("ftp://host/x")


def test_s3_store_names_its_missing_package_or_loads():
    try:
        import boto3  # noqa: F401
    except ImportError:
        with pytest.raises(PluginUnavailable, match="boto3"):
            open_file_store("s3://bucket/prefix")
    else:
        store = open_file_store("s3://bucket/some/prefix/?region=eu-west-1")
        assert store.uri == "s3://bucket/some/prefix"
        digest = "ab" + "0" * 62
        assert store.location(digest) == f"s3://bucket/some/prefix/ab/{digest}"


# --- ledger ---------------------------------------------------------------------------------------


def entry(record: str, url: str, state: str = "ok", **fields) -> Entry:
    return Entry(record, url, state, run_id=fields.pop("run_id", "run-1"), **fields)


def test_ledger_rows_round_trip_and_persist(tmp_path):
    path = tmp_path / "ledger.sqlite"
    full = entry(
        "ds::1",
        "https://ex.org/a",
        original_id="a",
        final_url="https://cdn.ex.org/a",
        status=200,
        content_type="application/pdf",
        size=10,
        sha256="0" * 64,
        fetched_at="2024-01-01T00:00:00Z",
        checked_at="2024-01-01T00:00:00Z",
        etag='"e"',
        last_modified="Mon, 01 Jan 2024 00:00:00 GMT",
    )
    with Ledger(path) as ledger:
        ledger.put(full)
        ledger.put(entry("ds::1", "https://ex.org/b", "gone", status=404, error="HTTP 404 Not Found"))
        ledger.put(replace_state(full, "not-modified"))  # replaces the row of (record, URL)
    with Ledger(path) as ledger:
        assert ledger.get("ds::1", "https://ex.org/a") == replace_state(full, "not-modified")
        assert set(ledger.entries("ds::1")) == {"https://ex.org/a", "https://ex.org/b"}
        assert ledger.counts_by_state() == {"gone": 1, "not-modified": 1}
        assert [e.url for e in ledger.failures()] == ["https://ex.org/b"]


def replace_state(e: Entry, state: str) -> Entry:
    from dataclasses import replace

    return replace(e, state=state)


def test_marking_deleted_records_and_unreferenced_rows(tmp_path):
    with Ledger(tmp_path / "l.sqlite") as ledger:
        for record, url in [("r1", "u1"), ("r1", "u2"), ("r2", "u3"), ("r3", "u4")]:
            ledger.put(entry(record, url, run_id="old"))
        assert ledger.mark_record_deleted("r1", "new") == 2
        assert ledger.mark_record_deleted("r1", "new") == 0  # already marked
        ledger.put(entry("r2", "u3", run_id="new"))
        assert ledger.mark_unreferenced("new") == 1
        assert {e.url: e.state for e in ledger.all()} == {
            "u1": "record-deleted",
            "u2": "record-deleted",
            "u3": "ok",
            "u4": "unreferenced",
        }


def test_the_same_url_settled_in_this_run(tmp_path):
    with Ledger(tmp_path / "l.sqlite") as ledger:
        ledger.put(entry("r1", "u", run_id="run-2", sha256="1" * 64))
        assert ledger.fetched_in_run("u", "run-2", exclude_record="r2").sha256 == "1" * 64
        assert ledger.fetched_in_run("u", "run-2", exclude_record="r1") is None
        assert ledger.fetched_in_run("u", "run-3", exclude_record="r2") is None


def test_runs_open_resume_and_end(tmp_path):
    with Ledger(tmp_path / "l.sqlite") as ledger:
        assert ledger.open_run() is None
        ledger.start_run("run-1", layer="native", unit="ds/x/store/native", version="v1")
        ledger.save_progress("run-1", "ds::5", {"records": 5})
        run = ledger.open_run()
        assert (run.run_id, run.cursor, run.counts, run.version, run.state) == (
            "run-1",
            "ds::5",
            {"records": 5},
            "v1",
            "open",
        )
        ledger.end_run("run-1", "finished", {"records": 9})
        assert ledger.open_run() is None
        assert ledger.last_run().counts == {"records": 9}
        with pytest.raises(StoreError, match="no download run nope"):
            ledger.run("nope")


# --- durability: the order of a commit, group commit ----------------------------------------------
class RecordingSyncer:
    """Records what it is asked to sync and what was at the address at that moment."""

    def __init__(self, store_root, fail: str | None = None, hold=None) -> None:
        self.root = store_root
        self.calls: list[tuple] = []
        self.fail = fail
        self.hold = hold  # an Event the first sync_files waits for

    def _addressed(self) -> int:
        return len([p for p in self.root.rglob("*") if p.is_file() and ".tmp" not in p.parts])

    def sync_files(self, files) -> None:
        self.calls.append(("files", len(files), self._addressed()))
        if self.hold is not None and len(self.calls) == 1:
            assert self.hold.wait(5)
        if self.fail == "files":
            raise OSError(5, "Input/output error")

    def sync_directories(self, directories) -> None:
        names = sorted(str(d.relative_to(self.root.parent)) for d in directories)
        self.calls.append(("dirs", names, self._addressed()))
        if self.fail == "dirs":
            raise OSError(28, "No space left on device")

    def close(self) -> None:
        self.calls.append(("close",))


@pytest.mark.parametrize("mode", ["group", "each"])
def test_a_commit_syncs_the_bytes_then_links_then_syncs_the_names(tmp_path, mode):
    root = tmp_path / "files"
    syncer = RecordingSyncer(root)
    store = LocalFileStore(root, fsync=mode, syncer=syncer)
    first = store_bytes(store, b"one")
    assert syncer.calls == [
        ("files", 1, 0),  # the bytes are durable before the file has an address
        ("dirs", sorted(["files", f"files/{first.sha256[:2]}"]), 1),  # a new shard: the root too
    ]
    syncer.calls.clear()
    again = store_bytes(store, b"one")  # already stored: no bytes to sync, its name is synced
    assert again.existed
    assert syncer.calls == [("dirs", [f"files/{first.sha256[:2]}"], 1)]
    store.close()
    assert syncer.calls[-1] == ("close",)


def test_a_failed_sync_of_the_bytes_stores_nothing(tmp_path):
    root = tmp_path / "files"
    store = LocalFileStore(root, syncer=RecordingSyncer(root, fail="files"))
    with pytest.raises(StoreError, match="cannot make the downloaded files durable: .*Input/output error"):
        store_bytes(store, b"lost")
    assert [p for p in root.rglob("*") if p.is_file()] == []
    store.close()


def test_a_failed_sync_of_the_names_is_an_error_and_the_next_run_finds_the_file(tmp_path):
    root = tmp_path / "files"
    store = LocalFileStore(root, syncer=RecordingSyncer(root, fail="dirs"))
    with pytest.raises(StoreError, match="cannot make the stored files' names durable: .*No space left"):
        store_bytes(store, b"maybe")
    store.close()
    healthy = LocalFileStore(root, fsync="none")
    stored = store_bytes(healthy, b"maybe")  # complete at its address: never a torn file
    assert stored.existed
    assert healthy.open(stored.sha256).read() == b"maybe"
    assert list((root / ".tmp").iterdir()) == []


def test_concurrent_writers_share_group_commits(tmp_path):
    import threading
    from concurrent.futures import ThreadPoolExecutor

    root = tmp_path / "files"
    hold = threading.Event()
    syncer = RecordingSyncer(root, hold=hold)
    store = LocalFileStore(root, syncer=syncer, linger=0)
    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(store_bytes, store, f"file {i}".encode()) for i in range(40)]
        deadline = time.monotonic() + 10  # the first batch is held in its sync; the others pile up
        while time.monotonic() < deadline and (
            not syncer.calls or syncer.calls[0][1] + len(store._batches._pending) < 8
        ):
            time.sleep(0.01)
        hold.set()
        stored = [f.result(10) for f in futures]
    store.close()
    assert len({s.sha256 for s in stored}) == 40
    assert not any(s.existed for s in stored)
    file_syncs = [c for c in syncer.calls if c[0] == "files"]
    assert sum(c[1] for c in file_syncs) == 40
    # the writers not in the first batch waited during its sync and all shared the second one
    assert file_syncs[0][1] + file_syncs[1][1] == 8
    assert len(file_syncs) <= 20  # batches, not a sync per file
    assert len([p for p in root.rglob("*") if p.is_file() and ".tmp" not in p.parts]) == 40


def test_a_store_works_again_after_close(tmp_path):
    store = LocalFileStore(tmp_path / "files")
    store_bytes(store, b"before")
    store.close()
    assert store_bytes(store, b"after").size == 5
    store.close()
