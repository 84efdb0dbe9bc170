"""``contentcloud publish --workers 2``: builder processes make the payloads, and the publisher's
snapshots are exactly those of a refresh made in one process.

One MDStore (300 oai_dc records, one of them broken, transformed to PE N-Triples by the shipped
mapping) is published into two publisher indexes: in this process with one worker, and through the
CLI with ``--workers 2`` (a first batch of 300 items to make: the builders start). Every row of the
snapshot (records with their datestamps, items, set memberships), every payload, the stored errors
in the order they were recorded, the snapshot's description and the run's counts must be the same,
after the first refresh and after a second one over updated and deleted records.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from contentcloud.pipeline.publish import run_publish
from contentcloud.pipeline.transform import run_transform
from contentcloud.settings import load_settings
from mdstore import compression
from mdstore.envelope import utcnow
from tests.cli_runner import run_cli
from tests.integration.test_pipeline_workers import collect, dc, environment

RECORDS = 300


def snapshot(var: Path) -> dict[str, Any]:
    """Everything the live snapshot of the publisher index in ``var`` holds."""
    con = sqlite3.connect(var / "oai.sqlite")
    try:
        (sid, info) = con.execute("SELECT id, info FROM snapshots WHERE state='live'").fetchone()
        rows = {
            kind: con.execute(f"SELECT * FROM {kind}_{sid} ORDER BY 1, 2, 3, 4").fetchall()  # noqa: S608
            for kind in ("rec", "mem", "item")
        }
        blobs = {h: compression.decompress(d) for h, d in con.execute("SELECT hash, data FROM blobs")}
        payloads = sorted(blobs[row[4]] for row in rows["rec"] if row[4] is not None)
        errors = con.execute(
            "SELECT datasource, record_id, message FROM errors WHERE snapshot=? ORDER BY rowid", (sid,)
        ).fetchall()
        return {"id": sid, **rows, "payloads": payloads, "errors": errors, "info": json.loads(info)}
    finally:
        con.close()


def counts(summary: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "outcome",
        "read",
        "written",
        "added",
        "updated",
        "unchanged",
        "deleted",
        "errors",
        "first_errors",
    )
    return {key: summary[key] for key in keys}


@pytest.mark.integration
def test_two_workers_publish_what_one_worker_publishes(tmp_path: Path, monkeypatch) -> None:
    import provision.oai.builder as builder

    started: list[bool] = []
    start = builder._BuilderPool.start

    def spy(source, workers, mp_context):
        pool = start(source, workers, mp_context)
        started.append(pool is not None and workers == 2)
        return pool

    monkeypatch.setattr(builder._BuilderPool, "start", staticmethod(spy))
    # both refreshes of a pair run at one instant: deleted records and re-published ones take the
    # refresh time as their datestamp, and the two runs could otherwise straddle a second
    instant = [utcnow()]
    monkeypatch.setattr(builder, "utcnow", lambda: instant[0])
    env = environment(tmp_path / "env")
    records = {f"oai:par:{n:03d}": dc(n) for n in range(RECORDS)}
    records["oai:par:017"] = "<oai_dc:dc>not XML"  # not transformed; its native record is broken too
    collect(env, records)
    settings = load_settings(environ=env, base_dir=tmp_path / "env")
    run_transform("par", settings, mode="full", workers=1)
    one_env, two_env = (
        {**env, "CONTENTCLOUD_VAR": str(tmp_path / "one")},
        {**env, "CONTENTCLOUD_VAR": str(tmp_path / "two")},
    )

    def one() -> dict[str, Any]:
        return run_publish(
            None, load_settings(environ=one_env, base_dir=tmp_path / "env"), workers=1
        ).as_dict()

    def two() -> dict[str, Any]:
        result = run_cli("publish", "--workers", "2", "--json", env=two_env)
        assert result.exit_code in (0, 3), result.output
        return json.loads(result.stdout)

    first_one, first_two = one(), two()
    assert started == [True]  # the CLI's refresh, not the one in this process
    assert counts(first_one) == counts(first_two)
    assert (first_two["read"], first_two["added"]) == (RECORDS, RECORDS)
    mine, theirs = snapshot(tmp_path / "two"), snapshot(tmp_path / "one")
    assert mine == theirs
    assert len(mine["item"]) == RECORDS and len(mine["rec"]) > RECORDS and len(mine["payloads"]) > RECORDS
    assert mine["errors"], "the broken record is reported"

    # a second refresh: 30 records updated, 3 deleted; the others are reused from the first snapshot
    changed = {f"oai:par:{n:03d}": dc(n, version=1) for n in range(5, RECORDS, 10)}
    collect(env, changed, deleted=("oai:par:002", "oai:par:121", "oai:par:238"), mode="incremental")
    run_transform("par", settings, mode="incremental", workers=1)
    instant[0] = utcnow()
    second_one, second_two = one(), two()
    assert counts(second_one) == counts(second_two)
    assert (second_two["updated"], second_two["deleted"]) == (30, 3)
    mine, theirs = snapshot(tmp_path / "two"), snapshot(tmp_path / "one")
    assert mine == theirs and mine["id"] == 2
