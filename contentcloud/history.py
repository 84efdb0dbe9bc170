"""The run history: one row per pipeline run of a datasource, kept beyond the MDStore's GC.

A run's report (:func:`contentcloud.pipeline.reports.run_report`) is stored with the MDStore
versions the run committed, so it disappears when ``mdstore gc`` collects them; the statistics
over time (records in/out, errors, deletions, durations per step) must outlive them. The report
writes its run here too: a small SQLite file under ``var/`` (``run-history.sqlite``), which GC
never touches, shared by every process of one installation (the CLI, the web app, Airflow's task
runners on the same volume). A run reported twice (a cleared report task) replaces its row.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mdstore.sqlitedb import connect, transaction

if TYPE_CHECKING:
    from contentcloud.settings import Settings

HISTORY_FILE = "run-history.sqlite"
#: runs listed by default (the API's ``limit`` goes up to :data:`MAX_RUNS`)
DEFAULT_RUNS = 100
MAX_RUNS = 10_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    datasource  TEXT NOT NULL,
    run_id      TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    records_in  INTEGER,
    records_out INTEGER,
    errors      INTEGER NOT NULL,
    deleted     INTEGER NOT NULL,
    seconds     REAL NOT NULL,
    steps       TEXT NOT NULL,
    PRIMARY KEY (datasource, run_id)
);
CREATE INDEX IF NOT EXISTS runs_by_time ON runs (datasource, finished_at);
"""
_lock = threading.Lock()
#: what the history keeps of each step of a run
STEP_FIELDS = ("step", "outcome", "read", "written", "added", "updated", "deleted", "errors", "seconds")


def history_path(settings: Settings) -> Path:
    return Path(settings.var_dir) / HISTORY_FILE


def run_outcome(steps: list[dict[str, Any]]) -> str:
    """The run's outcome from its steps': failed when one failed, else with record errors when
    any step had some, else finished (nothing_to_do when no step did anything)."""
    outcomes = [str(s.get("outcome") or "") for s in steps]
    if not outcomes:
        return "nothing_to_do"
    if any(o.startswith("failed") for o in outcomes):
        return "failed"
    if any(o == "finished_with_record_errors" for o in outcomes) or any(s.get("errors") for s in steps):
        return "finished_with_record_errors"
    if all(o == "nothing_to_do" for o in outcomes):
        return "nothing_to_do"
    return "finished"


def history_row(report: dict[str, Any]) -> dict[str, Any]:
    """A run report's row: records in = what the harvest wrote, records out = what the transform
    wrote (None when the run had no such step: a CLI ``transform`` alone is a run of one step),
    deletions = what the harvest deleted, and per step its counts and seconds."""
    steps = [{key: s.get(key) for key in STEP_FIELDS} for s in report.get("steps") or []]

    def step(name: str) -> dict[str, Any]:
        return next((s for s in steps if s["step"] == name), {})

    return {
        "datasource": report["datasource"],
        "run_id": report.get("run_id") or f"run-{report.get('finished_at')}",
        "finished_at": report.get("finished_at") or datetime.now(UTC).isoformat(timespec="seconds"),
        "outcome": run_outcome(steps),
        "records_in": int(step("collect").get("written") or 0) if step("collect") else None,
        "records_out": int(step("transform").get("written") or 0) if step("transform") else None,
        "errors": int(report.get("errors") or 0),
        "deleted": int(step("collect").get("deleted") or 0),
        "seconds": float(report.get("seconds") or 0.0),
        "steps": steps,
    }


class RunHistory:
    """The history file of one installation (created on first write)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @classmethod
    def from_settings(cls, settings: Settings) -> RunHistory:
        return cls(history_path(settings))

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(connect(self.path, timeout=30)) as connection:
            connection.executescript(_SCHEMA)
            with transaction(connection):
                yield connection

    def record(self, report: dict[str, Any]) -> dict[str, Any]:
        """Store one run report (replacing an earlier row of the same run); returns the row."""
        row = history_row(report)
        with _lock, self._connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    row["datasource"],
                    row["run_id"],
                    row["finished_at"],
                    row["outcome"],
                    row["records_in"],
                    row["records_out"],
                    row["errors"],
                    row["deleted"],
                    row["seconds"],
                    json.dumps(row["steps"], separators=(",", ":")),
                ),
            )
        return row

    def runs(self, datasource: str, *, limit: int = DEFAULT_RUNS) -> list[dict[str, Any]]:
        """The datasource's latest ``limit`` runs, oldest first (the order of a plot).

        ``finished_at`` has whole seconds, so two runs finishing in the same second are told
        apart by the order they were recorded in (the rowid), not by their random run ids."""
        if not self.path.is_file():
            return []
        limit = max(1, min(MAX_RUNS, limit))
        with self._connect() as db:
            rows = db.execute(
                "SELECT datasource, run_id, finished_at, outcome, records_in, records_out, errors, deleted, "
                "seconds, steps FROM runs WHERE datasource = ? "
                "ORDER BY finished_at DESC, rowid DESC LIMIT ?",
                (datasource, limit),
            ).fetchall()
        keys = (
            "datasource", "run_id", "finished_at", "outcome", "records_in", "records_out", "errors",
            "deleted", "seconds", "steps",
        )  # fmt: skip
        found = [dict(zip(keys, row, strict=True)) for row in reversed(rows)]
        for run in found:
            run["steps"] = json.loads(run["steps"])
        return found
