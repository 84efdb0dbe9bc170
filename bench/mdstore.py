"""MDStore throughput: write then stream-read N records of ~2 KB on each backend, side by side
with the baseline of bare sqlite3 on the same rows (batched ``executemany`` into a table keyed by
the record id; keyset ``SELECT``s of 1,000 rows).

    python bench/mdstore.py [--records 200000] [--mongo-uri mongodb://…] [--no-mongo]

Without ``--mongo-uri`` the MongoDB-wire test server from ``tests/servers`` is started.
Goal (issue 2): SQLite MDStore ≥ 0.8 of the baseline both ways; peak memory flat in N.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sqlite3
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import measure, print_rows  # noqa: E402
from mdstore import RecordInput, UnitKey, open_store  # noqa: E402

BODY_TEMPLATE = (
    "<oai_dc:dc xmlns:oai_dc='http://www.openarchives.org/OAI/2.0/oai_dc/' "
    "xmlns:dc='http://purl.org/dc/elements/1.1/'><dc:identifier>{i}</dc:identifier>"
    "<dc:title>Record {i}</dc:title><dc:description>{filler}</dc:description></oai_dc:dc>"
)


def make_body(i: int) -> str:
    filler = (hashlib.sha256(str(i).encode()).hexdigest() * 30)[:1800]
    return BODY_TEMPLATE.format(i=i, filler=filler)


def inputs(n: int):
    for i in range(n):
        yield RecordInput(f"oai:bench:{i:08d}", make_body(i), provenance={"page": i // 500})


def bench_baseline(path: str, n: int):
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE records (id TEXT PRIMARY KEY, original_id TEXT, body TEXT)")
    with measure("baseline write") as w:
        batch = []
        for i in range(n):
            oid = f"oai:bench:{i:08d}"
            digest = hashlib.md5(oid.encode(), usedforsecurity=False).hexdigest()
            batch.append((f"bench::{digest}", oid, make_body(i)))
            if len(batch) == 1000:
                con.executemany("INSERT INTO records VALUES (?,?,?)", batch)
                con.commit()
                batch = []
        if batch:
            con.executemany("INSERT INTO records VALUES (?,?,?)", batch)
            con.commit()
        w.items = n
    with measure("baseline read") as r:
        last, count = "", 0
        while True:
            rows = con.execute(
                "SELECT id, original_id, body FROM records WHERE id > ? ORDER BY id LIMIT 1000", (last,)
            ).fetchall()
            if not rows:
                break
            count += len(rows)
            last = rows[-1][0]
        r.items = count
    con.close()
    return w, r


def bench_store(uri: str, n: int, label: str):
    unit = UnitKey("bench", "oai_dc")
    with open_store(uri) as store:
        with measure(f"{label} write") as w:
            tx = store.begin(unit, "full", nsprefix="bench")
            tx.upsert(inputs(n))
            tx.commit()
            w.items = n
        with measure(f"{label} read") as r:
            count = 0
            with store.reader(unit) as view:
                for _ in view.records():
                    count += 1
            r.items = count
    return w, r


def best(phases):
    """The fastest of repeated runs (least disturbed by other processes), peak memory the largest."""
    top = max(phases, key=lambda p: p.rate)
    top.peak_mb = max(p.peak_mb for p in phases)
    return top


def ratio_note(ours, base, label="baseline"):
    ratios = sorted(o.rate / b.rate for o, b in zip(ours, base, strict=True))
    return f"{ratios[len(ratios) // 2]:.2f} x {label} (median of {len(ratios)} paired runs)"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3, help="paired runs; the median ratio is reported")
    ap.add_argument("--mongo-uri")
    ap.add_argument("--no-mongo", action="store_true")
    args = ap.parse_args()
    n = args.records
    print(f"# MDStore benchmark: {n} records of ~{len(make_body(1))} bytes, {args.repeat} paired runs")
    base_w, base_r, ours_w, ours_r = [], [], [], []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="bench-mdstore-") as tmp:
            bw, br = bench_baseline(str(Path(tmp) / "baseline.sqlite"), n)
            sw, sr = bench_store(f"sqlite:///{Path(tmp) / 'mdstore.sqlite'}", n, "sqlite MDStore")
        base_w.append(bw)
        base_r.append(br)
        ours_w.append(sw)
        ours_r.append(sr)
    rows = [
        ("baseline sqlite3 write", best(base_w), ""),
        ("sqlite MDStore write", best(ours_w), ratio_note(ours_w, base_w)),
        ("baseline sqlite3 read", best(base_r), ""),
        ("sqlite MDStore read", best(ours_r), ratio_note(ours_r, base_r)),
    ]

    if not args.no_mongo:
        server = None
        uri = args.mongo_uri
        if uri is None:
            from tests.servers import start_mongo

            server = start_mongo(max_heap="4g")  # in-memory: it holds every record
            uri = server.url
        try:
            mw, mr = bench_store(f"{uri.rstrip('/')}/bench{uuid.uuid4().hex[:8]}", n, "mongodb MDStore")
            rows += [
                ("mongo-wire MDStore write", mw, f"{mw.rate / best(base_w).rate:.2f} x sqlite baseline"),
                ("mongo-wire MDStore read", mr, f"{mr.rate / best(base_r).rate:.2f} x sqlite baseline"),
            ]
        finally:
            if server is not None:
                server.stop()
    print_rows(f"MDStore, {n} records", rows)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
