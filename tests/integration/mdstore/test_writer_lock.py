"""The writer lock of an open transaction, on every backend: who holds a unit, its heartbeat, and
when a second writer may resume, abort, force or join."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import timedelta

import pytest

from mdstore import RecordInput, UnitKey, open_store
from mdstore.envelope import utcnow
from mdstore.errors import TransactionError, WriterLockError

UNIT = UnitKey("locked", "oai_dc")
HOST = socket.gethostname()


@pytest.fixture
def fast(store_uri):
    """A store whose writers beat every 0.2 s; a writer of another host is stale after 1 s."""
    with open_store(store_uri, heartbeat=0.2, writer_timeout=1.0) as store:
        yield store


def records(n: int) -> list[RecordInput]:
    return [RecordInput(f"r{i:03d}", f"<r>{i}</r>") for i in range(n)]


def entry_of(store, tx) -> dict:
    return store.backend.get_version(tx.version_id)["lock"]["holders"][tx.owner]


def pretend(store, tx, **changes) -> None:
    """Rewrite the writer entry of ``tx`` as if another process (host, pid, heartbeat) held it."""
    doc = store.backend.get_version(tx.version_id)
    lock = doc["lock"]
    entry = {**lock["holders"][tx.owner], **changes}
    assert store.backend.swap_writers(tx.version_id, lock["epoch"], {tx.owner: entry})


def test_begin_records_the_writer_and_a_second_begin_names_it(fast):
    tx = fast.begin(UNIT, run_id="run-a")
    [writer] = fast.writers(UNIT)
    assert (writer.owner, writer.host, writer.pid, writer.run_id, writer.state, writer.shared) == (
        tx.owner,
        HOST,
        os.getpid(),
        "run-a",
        "alive",
        False,
    )
    assert abs((utcnow() - writer.started_at).total_seconds()) < 5
    with pytest.raises(WriterLockError) as err:
        fast.begin(UNIT, run_id="run-b")
    message = str(err.value)
    assert message.startswith(
        f"{UNIT.name}: {tx.version_id}: an open transaction ({tx.version_id}) already exists"
    )
    assert f"held by a live writer (host {HOST}, pid {os.getpid()}, run run-a, since " in message
    assert "last heartbeat 0 s ago); wait for it to finish or stop it first" in message
    tx.abort()
    assert fast.writers(UNIT) == []


def test_the_heartbeat_is_refreshed_while_the_writer_waits(fast):
    tx = fast.begin(UNIT)
    first = entry_of(fast, tx)["heartbeat_at"]
    time.sleep(0.7)  # the writer does nothing meanwhile: the thread beats
    later = entry_of(fast, tx)["heartbeat_at"]
    assert (later - first).total_seconds() >= 0.3
    tx.upsert(records(3))
    tx.commit()
    committed = fast.backend.get_version(tx.version_id)["lock"]["holders"][tx.owner]["heartbeat_at"]
    time.sleep(0.5)  # no beat after the commit
    assert fast.backend.get_version(tx.version_id)["lock"]["holders"][tx.owner]["heartbeat_at"] == committed


def test_resume_and_abort_are_refused_while_the_writer_lives_even_with_force(fast):
    tx = fast.begin(UNIT, run_id="run-a")
    tx.upsert(records(5))
    for attempt in (
        lambda: fast.resume(UNIT),
        lambda: fast.resume(UNIT, force=True),
        lambda: fast.abort_open(UNIT),
        lambda: fast.abort_open(UNIT, force=True),
    ):
        with pytest.raises(
            WriterLockError, match=f"held by a live writer \\(host {HOST}, pid {os.getpid()}, run run-a"
        ):
            attempt()
    with pytest.raises(WriterLockError, match="force takes over only a dead writer's transaction"):
        fast.resume(UNIT, force=True)
    # nothing was touched: the writer goes on and commits everything
    tx.upsert(records(8))
    assert tx.commit().stats["total"] == 8


def test_a_released_transaction_is_resumed_at_once_with_its_checkpoint(fast):
    tx = fast.begin(UNIT, run_id="run-a")
    tx.upsert(records(5))
    tx.checkpoint({"page": 1})
    tx.release()
    assert fast.writers(UNIT) == [] and fast.open_transaction(UNIT).id == tx.version_id
    with pytest.raises(TransactionError, match="already closed"):
        tx.upsert(records(1))
    resumed = fast.resume(UNIT, run_id="run-b")
    assert resumed.version_id == tx.version_id and resumed.checkpoint_data == {"page": 1}
    [writer] = fast.writers(UNIT)
    assert writer.owner == resumed.owner and writer.run_id == "run-b"
    resumed.upsert(records(7))
    assert resumed.commit().stats["total"] == 7


def test_a_dropped_transaction_is_gone_for_this_process_and_handed_back(fast):
    tx = fast.begin(UNIT)
    tx.upsert(records(5))
    version = tx.version_id
    del tx  # the writer disappears without commit, abort or release
    deadline = time.monotonic() + 5
    while fast.writers(UNIT) and time.monotonic() < deadline:  # its heartbeat thread hands it back
        time.sleep(0.05)
    assert fast.writers(UNIT) == []
    assert fast.abort_open(UNIT) == version


def test_a_dead_process_of_this_host_is_taken_over_without_force(fast):
    tx = fast.begin(UNIT)
    tx.upsert(records(5))
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    pretend(fast, tx, pid=int(gone.stdout), proc_started=None)
    [writer] = fast.writers(UNIT)
    assert writer.state == "dead" and writer.pid == int(gone.stdout)
    resumed = fast.resume(UNIT)
    with pytest.raises(WriterLockError, match="another writer took this transaction over"):
        tx.commit()  # the old writer object lost the unit
    resumed.upsert(records(6))
    assert resumed.commit().stats["total"] == 6


def test_a_reused_pid_is_not_mistaken_for_the_writer(fast):
    tx = fast.begin(UNIT)
    # our parent process is alive, but it did not start at the recorded time
    pretend(fast, tx, pid=os.getppid(), proc_started="1")
    assert [w.state for w in fast.writers(UNIT)] == ["dead"]
    pretend(fast, tx, pid=os.getppid(), proc_started=None)
    assert [w.state for w in fast.writers(UNIT)] == ["alive"]
    tx.release()
    fast.abort_open(UNIT)


def test_a_writer_of_another_host_is_alive_while_it_beats_then_needs_force(fast):
    tx = fast.begin(UNIT, run_id="far-run")
    tx.upsert(records(5))
    tx.checkpoint({"page": 1})
    tx._heartbeat.stop()  # the far writer's beats are written by hand below
    pretend(fast, tx, host="worker-elsewhere", pid=4242, heartbeat_at=utcnow())
    with pytest.raises(
        WriterLockError, match=r"held by a live writer \(host worker-elsewhere, pid 4242, run far-run"
    ):
        fast.resume(UNIT, force=True)
    pretend(fast, tx, heartbeat_at=utcnow() - timedelta(seconds=5))
    [writer] = fast.writers(UNIT)
    assert writer.state == "stale"
    with pytest.raises(WriterLockError) as err:
        fast.abort_open(UNIT)
    message = str(err.value)
    assert (
        "held by a writer on another host that stopped beating (host worker-elsewhere, pid 4242, " in message
    )
    assert "run far-run, since " in message
    assert message.endswith(
        "last heartbeat 5 s ago, more than 1 s): presumed dead, but this host cannot check"
    )
    assert err.value.takeover and not err.value.resumable  # the CLI adds: take it over with --force
    resumed = fast.resume(UNIT, force=True)
    assert resumed.checkpoint_data == {"page": 1}
    assert [w.owner for w in fast.writers(UNIT)] == [resumed.owner]
    resumed.upsert(records(9))
    assert resumed.commit().stats["total"] == 9


def test_a_taken_over_writer_stops_writing_at_its_next_heartbeat(fast):
    tx = fast.begin(UNIT)
    tx.upsert(records(2))
    pretend(fast, tx, host="worker-elsewhere", heartbeat_at=utcnow() - timedelta(seconds=5))
    resumed = fast.resume(UNIT, force=True)
    pretend_entry = fast.backend.get_version(tx.version_id)["lock"]["holders"]
    assert list(pretend_entry) == [resumed.owner]
    time.sleep(0.6)  # the old writer's thread finds its entry gone
    with pytest.raises(WriterLockError, match="another writer took this transaction over"):
        tx.upsert(records(3))
    resumed.abort()


def test_two_takeovers_from_the_same_lock_state_cannot_both_win(fast):
    tx = fast.begin(UNIT)
    lock = fast.backend.get_version(tx.version_id)["lock"]
    assert fast.backend.swap_writers(tx.version_id, lock["epoch"], {"a": {"host": "h"}})
    assert not fast.backend.swap_writers(tx.version_id, lock["epoch"], {"b": {"host": "h"}})
    assert list(fast.backend.get_version(tx.version_id)["lock"]["holders"]) == ["a"]
    assert fast.backend.get_version(tx.version_id)["lock"]["epoch"] == lock["epoch"] + 1
    fast.backend.drop_writer(tx.version_id, "a")
    fast.abort_open(UNIT)


def test_parts_of_one_run_join_and_others_are_refused(fast):
    plan = fast.begin(UNIT, run_id="split-run")
    plan.release()
    part0 = fast.resume(UNIT, join=True, run_id="split-run")
    part1 = fast.resume(UNIT, join=True, run_id="split-run")
    assert sorted(w.owner for w in fast.writers(UNIT)) == sorted([part0.owner, part1.owner])
    assert all(w.shared and w.state == "alive" for w in fast.writers(UNIT))
    with pytest.raises(WriterLockError, match="cannot join run other-run: the open transaction is held by"):
        fast.resume(UNIT, join=True, run_id="other-run")
    with pytest.raises(WriterLockError, match="held by a live writer"):
        fast.resume(UNIT)  # the finish waits for the parts
    part0.upsert(records(3))
    part1.upsert([RecordInput("x", "<r/>")])
    part0.release()
    part1.release()
    finish = fast.resume(UNIT)
    with pytest.raises(WriterLockError, match="cannot join run split-run"):
        fast.resume(UNIT, join=True, run_id="split-run")  # an exclusive writer is never joined
    assert finish.commit().stats["total"] == 4


def test_closing_the_store_hands_open_transactions_back(store_uri):
    with open_store(store_uri, heartbeat=0.2) as store:
        tx = store.begin(UNIT)
        tx.upsert(records(4))
    with open_store(store_uri) as other:
        assert other.writers(UNIT) == []
        assert other.resume(UNIT).commit().stats["total"] == 4


def test_a_transaction_opened_before_the_lock_existed_can_be_resumed(fast):
    tx = fast.begin(UNIT)
    tx.release()
    fast.backend.update_version(tx.version_id, lock=None)  # as written before the lock existed
    assert fast.writers(UNIT) == []
    assert fast.resume(UNIT).abort() == tx.version_id
