"""Blob codecs and record parsing, per record, side by side in one run (issue 18).

    python bench/blobs.py [--records 5000] [--repeat 5]

Records: ``--records`` of the pipeline bench's oai_dc natives (``bench.harvest``'s source: ~1.1 KB)
and their transformed version (the shipped ``oai_dc2pe.xsl``, default N-Triples output: ~9 KB, 56
triples), made once through the transform step (not timed). Then, each ``--repeat`` times,
alternating, best round kept (CPU time of this process):

* **compress**: zlib level 1 (what the publisher's payloads and the embedded index's stored fields
  used before) against Zstandard level 1 through ``mdstore.compression`` (what they use now, and
  what the SQLite MDStore keeps bytes bodies in): µs a record and bytes;
* **decompress**: the same blobs read back;
* **parse**: a transformed record into pyoxigraph triples, strict (what the publisher did) and
  lenient (what it does now, as the index and rdf steps).

Prints µs per record, bytes, the CPU seconds of the whole run, peak anonymous memory and the load
average before and after.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pyoxigraph as ox  # noqa: E402

from bench.harvest import render_record  # noqa: E402
from bench.transform import MAPPINGS  # noqa: E402
from contentcloud.pipeline.transform import transform  # noqa: E402
from mdstore import RecordInput, UnitKey, compression, open_store  # noqa: E402
from transforms.registry import build_chain  # noqa: E402
from transforms.xslt import run_params  # noqa: E402


def make_records(n: int, workdir: str) -> tuple[list[bytes], list[bytes]]:
    """(natives, transformed bodies) of ``n`` records, through the transform step."""
    store = open_store(f"sqlite:///{workdir}/md.sqlite")
    source, target = UnitKey("bench", "oai_dc"), UnitKey("bench", "pe")
    tx = store.begin(source, "full", nsprefix="bench")
    tx.upsert(RecordInput(f"oai:bench:{i:07d}", render_record(i).encode()) for i in range(n))
    tx.commit()
    chain = build_chain(
        [{"type": "xslt", "mapping": "oai_dc2pe.xsl"}], base_dir=MAPPINGS, params=run_params("bench")
    )
    summary = transform(store, source, target, chain, run_id="bench-blobs", max_error_rate=0.0)
    if summary.errors:
        raise SystemExit(summary.text())
    with store.reader(source) as view:
        natives = [r.body_bytes() for r in view.records()]
    with store.reader(target) as view:
        transformed = [r.body_bytes() for r in view.records()]
    store.close()
    return natives, transformed


def best_of(repeat: int, data: list[bytes], fn: Callable[[bytes], object]) -> tuple[float, list]:
    """Best CPU µs per item over ``repeat`` rounds, and the last round's results."""
    best, out = float("inf"), []
    for _ in range(repeat):
        start = time.process_time()
        out = [fn(item) for item in data]
        best = min(best, time.process_time() - start)
    return best / len(data) * 1e6, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    cpu0 = time.process_time()
    with tempfile.TemporaryDirectory(prefix="bench-blobs-") as tmp:
        natives, transformed = make_records(args.records, tmp)
    rows = []
    for label, data in (("transformed N-Triples", transformed), ("native oai_dc", natives)):
        size = sum(map(len, data)) / len(data)
        zl_us, zl = best_of(args.repeat, data, lambda b: zlib.compress(b, 1))
        zs_us, zs = best_of(args.repeat, data, compression.compress)
        zld_us, _ = best_of(args.repeat, zl, zlib.decompress)
        zsd_us, _ = best_of(args.repeat, zs, compression.decompress)
        zl_size, zs_size = sum(map(len, zl)) / len(zl), sum(map(len, zs)) / len(zs)
        rows.append((label, size, "zlib level 1", zl_us, zld_us, zl_size))
        rows.append((label, size, "Zstandard level 1", zs_us, zsd_us, zs_size))
    print(f"\n## blobs, {args.records} records, µs of CPU a record (best of {args.repeat})")
    header = ("records", "bytes", "codec", "compress", "decompress", "blob bytes")
    print("{:<22} {:>7}  {:<18} {:>9} {:>10} {:>10}".format(*header))
    for label, size, codec, c_us, d_us, blob in rows:
        print(f"{label:<22} {size:>7.0f}  {codec:<18} {c_us:>9.1f} {d_us:>10.1f} {blob:>10.0f}")
    nt = ox.RdfFormat.N_TRIPLES
    strict_us, _ = best_of(args.repeat, transformed, lambda b: list(ox.parse(b, format=nt)))
    lenient_us, _ = best_of(args.repeat, transformed, lambda b: list(ox.parse(b, format=nt, lenient=True)))
    print(f"\n## parse a transformed record into pyoxigraph triples (best of {args.repeat})")
    print(f"strict  {strict_us:>6.1f} µs")
    print(f"lenient {lenient_us:>6.1f} µs ({strict_us / lenient_us:.2f}× faster)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nCPU {time.process_time() - cpu0:.1f} s, peak resident {peak:.0f} MB")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
