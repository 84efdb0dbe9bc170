"""Publish refresh throughput, side by side with its baselines, in one run (issue 18).

    python bench/publish.py [--records 100000] [--repeat 3] [--base DIR] [--workdir DIR] [--workers 1,2]

Set-up (once, not timed): an SQLite MDStore with N oai_dc records in their OAI envelope
(``bench.transform.oai_dc_record``, ~1.6 KB, as the collect step stores them) and their
transformed version (the shipped ``oai_dc2pe.xsl``, default N-Triples output), one datasource
in a registry, as ``bench/pipeline.py`` leaves them.

Then, ``--repeat`` times, alternating, each in a fresh process on a fresh publisher index:

* **refresh**: ``contentcloud publish``'s step with this checkout's code (first snapshot: every
  item computed — parse, entity type, RDF/XML, oai_dc, compress, write), once per ``--workers``
  value (1: all in one process; N: N builder processes make the payloads while the step's process
  writes);
* **base**: the same step with the code of ``--base`` (a git worktree of the commit to compare
  with, e.g. ``git worktree add --detach /tmp/base 0ee2fed``), on the same MDStore, with its
  default (the code before builder processes ran everything in one process);
* **bare SQLite insert**: the floor of any refresh — the rows the refresh wrote (items, records,
  compressed blobs) read back into memory, then inserted into an empty file with ``executemany``
  in one transaction, with the publisher's table layout and settings.

Each line gives records (items) per second of wall time and per CPU second of that process and
its builder processes (their CPU counted once they exited), CPU seconds, peak anonymous memory
growth (``RssAnon``, of the step's process only) and the load average at its end: the
machine is shared, CPU rates are the comparable figures. Goal: ≥ 10,000 records per CPU second.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import run_in_checkout  # noqa: E402

GOAL = 10_000

CHILD = r"""
import json, os, sys, threading, time
from pathlib import Path
sys.path.insert(0, os.getcwd())

def anon():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    return 0

work = Path(sys.argv[1]); mode = sys.argv[2]
def cpu_now():
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system
if mode == "refresh":
    from contentcloud.pipeline.publish import run_publish
    from contentcloud.settings import load_settings
    import provision.oai.builder, pyoxigraph, lxml.etree  # imports before the clock starts
base = anon(); peak = [base]; stop = threading.Event()
def sample():
    while not stop.is_set():
        peak[0] = max(peak[0], anon()); stop.wait(0.02)
threading.Thread(target=sample, daemon=True).start()
cpu0, t0 = cpu_now(), time.perf_counter()
if mode == "refresh":
    settings = load_settings({"mdstore": f"sqlite:///{work / 'mdstore.sqlite'}",
                              "registry": str(work / "registry"), "var_dir": sys.argv[3]}, environ={})
    summary = run_publish(None, settings, **({"workers": int(sys.argv[4])} if len(sys.argv) > 4 else {}))
    assert summary.ok, summary.text()
    items = summary.read
else:  # bare SQLite insert of the rows a refresh wrote (read before the clock starts)
    import sqlite3
    source = sqlite3.connect(sys.argv[3])
    (sid,) = source.execute("SELECT id FROM snapshots WHERE state='live'").fetchone()
    items_rows = source.execute(f"SELECT * FROM item_{sid}").fetchall()
    rec_rows = source.execute(f"SELECT * FROM rec_{sid}").fetchall()
    blob_rows = source.execute("SELECT hash, data FROM blobs").fetchall()
    source.close()
    cpu0, t0 = cpu_now(), time.perf_counter()
    con = sqlite3.connect(sys.argv[4], isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL"); con.execute("PRAGMA synchronous=NORMAL")
    con.execute("PRAGMA cache_size=-16384")
    con.execute("CREATE TABLE blobs (hash TEXT PRIMARY KEY, data BLOB NOT NULL)")
    con.execute("CREATE TABLE rec (prefix TEXT NOT NULL, datestamp TEXT NOT NULL, id TEXT NOT NULL, "
                "deleted INTEGER NOT NULL, blob TEXT, PRIMARY KEY (prefix, datestamp, id)) WITHOUT ROWID")
    con.execute("CREATE UNIQUE INDEX rec_id ON rec(prefix, id)")
    con.execute("CREATE TABLE item (id TEXT PRIMARY KEY, datasource TEXT NOT NULL, "
                "original_id TEXT NOT NULL, entity_type TEXT, sets TEXT NOT NULL, prefixes TEXT NOT NULL, "
                "native_cs TEXT, "
                "transformed_cs TEXT, fingerprint TEXT, about TEXT, deleted INTEGER NOT NULL) WITHOUT ROWID")
    con.execute("BEGIN")
    for start in range(0, len(items_rows), 500):
        con.executemany("INSERT INTO item VALUES (?,?,?,?,?,?,?,?,?,?,?)", items_rows[start:start + 500])
        con.executemany("INSERT INTO rec VALUES (?,?,?,?,?)", rec_rows[2 * start:2 * start + 1000])
        con.executemany("INSERT OR IGNORE INTO blobs VALUES (?,?)", blob_rows[2 * start:2 * start + 1000])
    con.execute("COMMIT"); con.close()
    items = len(items_rows)
cpu, wall = cpu_now() - cpu0, time.perf_counter() - t0
stop.set()
print(json.dumps({"items": items, "cpu": cpu, "wall": wall, "peak_mb": (peak[0] - base) / 2**20,
                  "load": os.getloadavg()[0]}))
"""


def setup(work: Path, n: int) -> None:
    import yaml

    from bench.transform import oai_dc_record
    from contentcloud.datasources import DatasourceRegistry
    from contentcloud.pipeline.transform import run_transform
    from contentcloud.settings import load_settings
    from mdstore import RecordInput, open_store

    (work / "registry").mkdir(parents=True)
    profile = {
        "id": "bench",
        "name": "Publish bench",
        "nsprefix": "bench",
        "api": {"protocol": "oai", "baseurl": "http://127.0.0.1:1/oai", "metadata_prefix": "oai_dc"},
        "transform": {"steps": [{"type": "xslt", "mapping": "oai_dc2pe.xsl"}]},
    }
    (work / "registry" / "bench.yaml").write_text(yaml.safe_dump(profile))
    settings = load_settings(
        {"mdstore": f"sqlite:///{work / 'mdstore.sqlite'}", "registry": str(work / "registry")}, environ={}
    )
    ds = DatasourceRegistry(settings.registry).get("bench")
    with open_store(settings.mdstore) as store:
        tx = store.begin(ds.native_unit, "full", nsprefix="bench")
        tx.upsert(RecordInput(f"oai:bench.example.org:{i}", oai_dc_record(i)) for i in range(n))
        tx.commit()
    summary = run_transform("bench", settings)
    assert summary.ok, summary.text()
    assert summary.written == n, summary.text()


def child(code_dir: Path, *args: str) -> dict:
    return run_in_checkout(CHILD, code_dir, *args)


def line(label: str, r: dict, note: str = "") -> str:
    return (
        f"{label:34s} {r['items']:8d} {r['wall']:8.2f} {r['items'] / r['wall']:9.0f} {r['cpu']:8.2f} "
        f"{r['items'] / r['cpu']:9.0f} {r['peak_mb']:8.1f} {r['load']:6.1f}  {note}"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--base", type=Path, help="a worktree of the code to compare with")
    ap.add_argument("--workdir", type=Path, help="keep the MDStore here (built once)")
    ap.add_argument("--workers", default="1,2", help="refresh with each of these worker counts (default 1,2)")
    args = ap.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-publish-"))
    if not (work / "mdstore.sqlite").exists():
        t0 = time.perf_counter()
        setup(work, args.records)
        seconds = time.perf_counter() - t0
        print(f"# set-up: {args.records} records harvested and transformed in {seconds:.0f} s")
    print(f"# publish refresh, {args.records} items (oai_dc native + PE N-Triples), {os.cpu_count()} cores")
    print(
        f"{'phase':34s} {'items':>8s} {'wall s':>8s} {'items/s':>9s} {'CPU s':>8s} {'/CPU s':>9s} "
        f"{'peak MB':>8s} {'load':>6s}"
    )
    worker_counts = [int(w) for w in args.workers.split(",")]
    ratios, rates = [], []
    walls: dict[int, list[float]] = {w: [] for w in worker_counts}
    for r in range(args.repeat):
        var = work / f"var-{r}"
        for workers in worker_counts:
            shutil.rmtree(var, ignore_errors=True)
            mine = child(ROOT, str(work), "refresh", str(var), str(workers))
            walls[workers].append(mine["items"] / mine["wall"])
            if workers == worker_counts[0]:
                rates.append(mine["items"] / mine["cpu"])
                first = mine
            note = f"goal >= {GOAL}/CPU s"
            print(line(f"refresh (this code, {workers} w) #{r + 1}", mine, note), flush=True)
        if args.base is not None:
            base_var = work / f"var-base-{r}"
            shutil.rmtree(base_var, ignore_errors=True)
            base = child(args.base, str(work), "refresh", str(base_var))
            ratios.append(base["cpu"] / first["cpu"])
            print(line(f"refresh (base {args.base.name}) #{r + 1}", base, f"this/base CPU {ratios[-1]:.2f}x"))
            shutil.rmtree(base_var, ignore_errors=True)
        floor = work / f"bare-{r}.sqlite"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{floor}{suffix}").unlink(missing_ok=True)
        bare = child(ROOT, str(work), "bare", str(var / "oai.sqlite"), str(floor))
        print(line(f"bare SQLite insert #{r + 1}", bare, f"refresh/bare CPU {bare['cpu'] / mine['cpu']:.2f}"))
        shutil.rmtree(var, ignore_errors=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{floor}{suffix}").unlink(missing_ok=True)
    print(
        f"\nmedian refresh rate with {worker_counts[0]} worker(s) {statistics.median(rates):.0f} "
        f"items per CPU second (goal {GOAL})"
    )
    for workers, rate in walls.items():
        print(f"median wall rate with {workers} worker(s): {statistics.median(rate):.0f} items/s")
    if ratios:
        print(f"median speed-up over the base code, per CPU second: {statistics.median(ratios):.2f}x")
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
