"""What one record costs in the index and publish steps' own code, side by side with a base checkout
(issue 18).

    python bench/record_costs.py [--records 5000] [--repeat 5] --base DIR

The stage benches (``bench/pipeline.py``, ``bench/publish.py``) measure whole steps, whose CPU seconds
move by ±10 % between two runs of the same code on this machine; a change of a few µs a record
hides in that. This one times the functions themselves, per record, in CPU time, best of
``--repeat`` rounds, for this checkout and for ``--base`` (a worktree of the commit to compare with,
e.g. ``git worktree add --detach /tmp/base HEAD~3``), each in a fresh child process, alternating
(base, this, base, this).

Records: the pipeline bench's (``bench.harvest``'s source) through the shipped ``oai_dc2pe.xsl``
(default N-Triples output, ~6.8 KB, ~56 triples), made once by the transform step (not timed). Per
record:

* **index build**: ``IndexProfile.build`` with the shipped ``pe.yaml`` (parse, main entity, fields);
* **index prepare**: ``prepare_batch`` of those documents, 500 at a time (analysis, rows, the stored
  fields packed and compressed), what a builder process does before the writer inserts;
* **index unpack**: the stored fields read back (what a query's ``fl`` and a refeed do);
* **publish parse**: the N-Triples into pyoxigraph triples (lenient, as the publisher reads them);
* **publish entity type**: ``main_entity_type`` of those triples;
* **publish RDF/XML**: ``rdf_xml_payload`` of those triples.

Prints µs per record for each side and their ratio, the CPU seconds of each child and the load
average before and after. Both sides must give the same documents, entity types and payloads: the
child prints a digest of them, and the run fails if the digests differ.
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import run_in_checkout  # noqa: E402

CHILD = r"""
import gc, hashlib, json, pickle, resource, sys, time
from mdstore import Record
from provision.index import sqlite as index_sqlite
from provision.index.profile import load_profile
from provision.oai import formats
from provision.oai.sets import main_entity_type

bodies = pickle.loads(open(sys.argv[1], "rb").read())
repeat = int(sys.argv[2])
profile = load_profile("mappings/index/pe.yaml")  # the checkout's own: it is the working directory
n = len(bodies)
times = {}

def timed(name, run):
    best = None
    for _ in range(repeat):
        index_sqlite._analysed_short.cache_clear(); index_sqlite._sort_key_short.cache_clear()
        started = time.process_time()
        out = run()
        spent = time.process_time() - started
        best = spent if best is None else min(best, spent)
    times[name] = best / n * 1e6
    gc.collect(); gc.freeze()  # what is kept for the next function is not walked by its collections
    return out

def build():
    return [profile.build(Record(f"bench::{i}", f"oai:{i}", "bench", "", body, "", None), datasource="bench",
                          version="v1", indexed_at="2026-12-07T00:00:00Z", rdf_format="ntriples")[0]
            for i, body in enumerate(bodies)]

docs = timed("index build", build)
pages = [docs[k:k + 500] for k in range(0, n, 500)]
batches = timed("index prepare", lambda: [index_sqlite.prepare_batch(page) for page in pages])
packed = [doc[3] for batch in batches for doc in batch.docs]
stored = timed("index unpack", lambda: [index_sqlite.unpack(blob) for blob in packed])
triples = timed("publish parse", lambda: [formats.parse_rdf(body, "ntriples") for body in bodies])
types = timed("publish entity type", lambda: [main_entity_type(t) for t in triples])
payloads = timed("publish RDF/XML", lambda: [formats.rdf_xml_payload(t) for t in triples])
digest = hashlib.sha256(json.dumps([docs, stored, types, [p.xml.decode() for p in payloads]],
                                   sort_keys=True, default=str).encode()).hexdigest()
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"times": times, "digest": digest, "cpu": usage.ru_utime + usage.ru_stime}))
"""


def child(code_dir: Path, bodies: Path, repeat: int) -> dict:
    return run_in_checkout(CHILD, code_dir, str(bodies), str(repeat))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=5, help="rounds per function; the best is kept")
    ap.add_argument("--base", type=Path, required=True, help="a worktree of the code to compare with")
    args = ap.parse_args()
    from bench.blobs import make_records
    from bench.harvest import render_record

    with tempfile.TemporaryDirectory(prefix="bench-record-costs-") as tmp:
        _, transformed = make_records(args.records, tmp, render_record)
        bodies = Path(tmp) / "bodies.pickle"
        bodies.write_bytes(pickle.dumps(transformed))
        load_before = os.getloadavg()[0]
        runs = {"base": [], "this": []}
        for _ in range(2):
            runs["base"].append(child(args.base.resolve(), bodies, args.repeat))
            runs["this"].append(child(ROOT, bodies, args.repeat))
    digests = {run["digest"] for side in runs.values() for run in side}
    if len(digests) != 1:
        raise SystemExit("the two checkouts gave different documents, entity types or payloads")
    print(f"# {args.records} records, best of {args.repeat} rounds a function, µs of CPU a record")
    print(f"# base: {args.base}; this: {ROOT}; load average {load_before:.2f} → {os.getloadavg()[0]:.2f}")
    print(
        f"{'function':22s} {'base run 1':>11s} {'this run 1':>11s} {'base run 2':>11s} {'this run 2':>11s} "
        f"{'this/base':>10s}"
    )
    for name in runs["this"][0]["times"]:
        base = [run["times"][name] for run in runs["base"]]
        this = [run["times"][name] for run in runs["this"]]
        print(
            f"{name:22s} {base[0]:11.1f} {this[0]:11.1f} {base[1]:11.1f} {this[1]:11.1f} "
            f"{min(this) / min(base):10.2f}"
        )
    cpu = ", ".join(f"{side} {run['cpu']:.1f}" for side in runs for run in runs[side])
    print(f"# CPU seconds of the children: {cpu}; outputs identical (digest {digests.pop()[:12]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
