"""A writer killed with SIGKILL mid-transaction leaves the current version untouched, and its
persisted transaction can be resumed from the last checkpoint or aborted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from mdstore import RecordInput, UnitKey, open_store

UNIT = UnitKey("crashy", "oai_dc")
PAGES, PAGE_SIZE = 40, 100

WRITER = textwrap.dedent("""
    import sys, time
    from mdstore import open_store, RecordInput, UnitKey
    store = open_store(sys.argv[1])
    tx = store.begin(UnitKey("crashy", "oai_dc"), "full", run_id="killed-run")
    for page in range({pages}):
        tx.upsert(RecordInput(f"rec-{{page * {size} + i:05d}}", f"<r>{{page}}/{{i}}</r>")
                  for i in range({size}))
        tx.checkpoint({{"next_page": page + 1}})
        if page == 3:
            print("CHECKPOINTED", flush=True)
        time.sleep(0.05)
    print("FINISHED", flush=True)
    time.sleep(60)
""").format(pages=PAGES, size=PAGE_SIZE)


def page_records(page: int) -> list[RecordInput]:
    return [RecordInput(f"rec-{page * PAGE_SIZE + i:05d}", f"<r>{page}/{i}</r>") for i in range(PAGE_SIZE)]


def kill_writer_mid_transaction(store_uri: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, store_uri],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        assert proc.stdout.readline().strip() == "CHECKPOINTED"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.parametrize("outcome", ["resume", "abort"])
def test_sigkill_mid_transaction(store_uri, outcome):
    with open_store(store_uri) as store:
        tx = store.begin(UNIT, "full")
        tx.upsert(RecordInput(f"old-{i}", "<r>old</r>") for i in range(7))
        before = tx.commit()

    kill_writer_mid_transaction(store_uri)

    with open_store(store_uri) as store:
        assert store.current_version(UNIT) == before.id
        with store.reader(UNIT) as view:
            assert view.count() == 7 and {r.original_id for r in view.records()} == {
                f"old-{i}" for i in range(7)
            }
        open_tx = store.open_transaction(UNIT)
        assert open_tx is not None and open_tx.run_id == "killed-run"
        next_page = open_tx.checkpoint["next_page"]
        assert 4 <= next_page < PAGES
        if outcome == "abort":
            assert store.abort_open(UNIT) == open_tx.id
            assert store.current_version(UNIT) == before.id and store.open_transaction(UNIT) is None
            return
        tx = store.resume(UNIT)
        for page in range(tx.checkpoint_data["next_page"] - 1, PAGES):  # redo the last page: idempotent
            tx.upsert(page_records(page))
        after = tx.commit()
        assert after.stats["added"] == PAGES * PAGE_SIZE
        assert after.stats["present"] == PAGES * PAGE_SIZE and after.stats["newly_deleted"] == 7
        with store.reader(UNIT) as view:
            present = [oid for _, oid, deleted in view.ids() if not deleted]
        assert sorted(present) == [f"rec-{i:05d}" for i in range(PAGES * PAGE_SIZE)]
