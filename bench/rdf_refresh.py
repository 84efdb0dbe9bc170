"""RDF store in-place refresh and check at N records: a full load of N synthetic PE records into a
fresh embedded store, then a version with 1,000 records changed and 1,000 deleted loaded
incrementally (the ledger's in-place path), then ``contentcloud rdf --check``'s comparison.

    python bench/rdf_refresh.py [--records 100000] [--workdir DIR]

Printed: wall and CPU seconds of each, the load average (the machine is shared).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import contentcloud.pipeline.rdf as rdf_step  # noqa: E402
from bench.rdf import BASE, datasource  # noqa: E402
from mdstore import RecordInput, open_store  # noqa: E402
from provision.rdf.embedded import EmbeddedRdf  # noqa: E402
from tests.pe_records import pe_records  # noqa: E402


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(label: str, run):
    c0, t0 = cpu(), time.monotonic()
    result = run()
    seconds, load = time.monotonic() - t0, os.getloadavg()[0]
    print(f"{label:22s} {seconds:7.2f} s  cpu {cpu() - c0:6.2f} s  load {load:.1f}", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--workdir", type=Path, help="default: a temporary directory")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-rdf-refresh-"))
    work.mkdir(parents=True, exist_ok=True)
    # the versions below are written within seconds: no clock-skew overlap, or all would be re-read
    rdf_step.INCREMENTAL_OVERLAP = timedelta(milliseconds=-1)
    unit = datasource().transformed_unit
    with open_store(f"sqlite:///{work / 'mdstore.sqlite'}") as store:
        records = list(pe_records(args.records, prefix="ads"))
        tx = store.begin(unit, "full", stamp="transformed", nsprefix="ads")
        tx.upsert(RecordInput(oid, body) for oid, body in records)
        tx.commit()
        backend = EmbeddedRdf(work / "rdf", base=BASE)
        timed("full load", lambda: rdf_step.load_rdf(store, datasource(), backend, full=True))
        changed = dict(pe_records(1000, prefix="ads", variant=3))
        tx = store.begin(unit, "full", stamp="transformed", nsprefix="ads")
        tx.upsert(RecordInput(oid, changed.get(oid, body)) for oid, body in records[:-1000])
        tx.commit()
        summary = timed("incremental", lambda: rdf_step.load_rdf(store, datasource(), backend))
        print(f"  {summary.extra['mode']}: read {summary.read}, written {summary.written}, "
              f"deleted {summary.deleted}, {summary.extra['triples']} triples")  # fmt: skip
        check = timed("check", lambda: rdf_step.check_rdf(store, datasource(), backend))
        print(f"  {check.outcome}: {check.message}")
        backend.close()
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
