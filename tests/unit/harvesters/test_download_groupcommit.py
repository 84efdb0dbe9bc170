"""Group commit (shared batches from many threads) and the syncers of the local file store."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from harvesters.download import groupcommit
from harvesters.download.groupcommit import GroupCommit
from harvesters.download.sync import FsyncSyncer, NoSyncer, SyncfsSyncer, default_syncer


class Gated:
    """A commit function that records its batches and holds the first one until released."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.first_started = threading.Event()
        self.release = threading.Event()

    def __call__(self, items: list[int]) -> list[int | BaseException]:
        self.batches.append(list(items))
        if len(self.batches) == 1:
            self.first_started.set()
            assert self.release.wait(5), "the test never released the first batch"
        return [ValueError(f"odd {i}") if i % 2 else i * 10 for i in items]


def test_items_arriving_during_a_commit_share_the_next_one():
    commit = Gated()
    group = GroupCommit(commit)
    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(group.submit, 0)
        assert commit.first_started.wait(5)
        others = [pool.submit(group.submit, i) for i in range(2, 16, 2)]
        deadline = time.monotonic() + 5
        while len(group._pending) < len(others) and time.monotonic() < deadline:
            time.sleep(0.005)
        commit.release.set()
        assert first.result(5) == 0
        assert [f.result(5) for f in others] == [i * 10 for i in range(2, 16, 2)]
    assert commit.batches == [[0], list(range(2, 16, 2))]
    group.close()


def test_an_item_failure_is_raised_to_its_own_submitter_only():
    commit = Gated()
    commit.release.set()
    group = GroupCommit(commit)
    assert group.submit(4) == 40
    with pytest.raises(ValueError, match="odd 3"):
        group.submit(3)
    assert group.submit(6) == 60
    group.close()


def test_a_failing_commit_fails_every_item_of_its_batch():
    def broken(items: list[str]) -> list[str]:
        raise OSError("disk full")

    outcomes: list[object] = []
    group = GroupCommit(broken, linger=0.2, quiet=0.2)
    for item in ("a", "b", "c"):
        group.submit_later(item, outcomes.append)
    group.close()
    assert [str(o) for o in outcomes] == ["disk full"] * 3
    assert all(isinstance(o, OSError) for o in outcomes)


def test_a_wrong_number_of_outcomes_is_an_error_for_every_item():
    group = GroupCommit(lambda items: [1], linger=1.0, quiet=1.0)  # both items in one batch
    outcomes: list[object] = []
    group.submit_later("x", outcomes.append)
    group.submit_later("y", outcomes.append)
    group.close()
    assert [type(o) for o in outcomes] == [RuntimeError, RuntimeError]
    assert {str(o) for o in outcomes} == {"group-commit: 1 outcomes for 2 items"}


def test_max_batch_caps_a_batch_and_close_commits_what_is_pending():
    batches: list[list[int]] = []
    gate = threading.Event()

    def commit(items: list[int]) -> list[int]:
        gate.wait(5)
        batches.append(items)
        return items

    group = GroupCommit(commit, max_batch=3)
    got: list[object] = []
    for i in range(8):
        group.submit_later(i, got.append)
    gate.set()
    group.close()
    assert sorted(got) == list(range(8))
    assert all(len(batch) <= 3 for batch in batches)
    assert [i for batch in batches for i in batch] == list(range(8))
    with pytest.raises(ValueError, match="max_batch must be at least 1"):
        GroupCommit(commit, max_batch=0)


def test_linger_gathers_a_batch_from_a_trickle():
    batches: list[list[int]] = []
    group = GroupCommit(lambda items: batches.append(items) or items, linger=1.0, quiet=0.3)
    got: list[object] = []
    for i in range(4):
        group.submit_later(i, got.append)
        time.sleep(0.02)
    group.close()
    assert batches == [[0, 1, 2, 3]]


def test_the_committer_thread_ends_when_idle_and_the_group_works_after_close(monkeypatch):
    monkeypatch.setattr(groupcommit, "IDLE_EXIT", 0.05)
    group = GroupCommit(lambda items: items, name="idle-test")
    assert group.submit("a") == "a"
    deadline = time.monotonic() + 5
    while group._thread is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert group._thread is None
    assert not [t for t in threading.enumerate() if t.name == "idle-test"]
    assert group.submit("b") == "b"  # a new committer starts
    group.close()
    group.close()  # idempotent
    assert group.submit("c") == "c"  # and not final
    group.close()


def test_a_failing_callback_is_logged_and_the_next_items_go_on(caplog):
    group = GroupCommit(lambda items: items, name="cb-test")

    def bad(_outcome: object) -> None:
        raise KeyError("oops")

    group.submit_later("a", bad)
    assert group.submit("b") == "b"
    group.close()
    assert "cb-test: the callback of a committed item failed" in caplog.text


# --- syncers -------------------------------------------------------------------------------------
def test_syncers_sync_real_files_and_directories(tmp_path):
    path = tmp_path / "f"
    with path.open("wb") as file:
        file.write(b"bytes")
        for syncer in (FsyncSyncer(), NoSyncer(), default_syncer(tmp_path)):
            syncer.sync_files([file])
            syncer.sync_directories([tmp_path])
            syncer.close()
    with pytest.raises(FileNotFoundError):
        FsyncSyncer().sync_directories([tmp_path / "missing"])


def test_syncfs_syncer_reopens_after_close(tmp_path):
    try:
        syncer = SyncfsSyncer(tmp_path)
    except OSError:
        pytest.skip("syncfs is not available on this platform")
    syncer.close()
    syncer.sync_directories([tmp_path])  # a store used again after its close
    syncer.close()
    syncer.close()
