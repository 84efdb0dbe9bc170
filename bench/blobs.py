"""Blob codecs and record parsing, per record, side by side in one run (issue 18).

    python bench/blobs.py [--records 5000] [--repeat 5]

Records: ``--records`` oai_dc natives of two kinds, the pipeline bench's (``bench.harvest``'s
source: ~1 KB, a long description) and the transform bench's (``bench.transform.oai_dc_record``:
~1.6 KB, more creators, subjects and identifiers), and their transformed versions (the shipped
``oai_dc2pe.xsl``, default N-Triples output: ~6.8 and ~9 KB), made once through the transform step
(not timed). Then, each ``--repeat`` times,
alternating, best round kept (CPU time of this process):

* **compress**: zlib level 1 (what the publisher's payloads and the embedded index's stored fields
  used before) against Zstandard level 1 through ``mdstore.compression`` (what they use now, and
  what the SQLite MDStore keeps bytes bodies in): µs a record and bytes;
* **decompress**: the same blobs read back;
* **store**: the same bodies written into a fresh SQLite MDStore (pages of 500, one version) and
  read back, stored raw and stored compressed (``mdstore.sqlite.COMPRESS_MIN_BYTES`` set to never
  and to always): CPU seconds of each, and the file's size;
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
from bench.transform import MAPPINGS, load_native, oai_dc_record, run_step  # noqa: E402
from mdstore import RecordInput, UnitKey, compression, open_store  # noqa: E402
from transforms.registry import build_chain  # noqa: E402
from transforms.xslt import run_params  # noqa: E402


def make_records(n: int, workdir: str, make: Callable[[int], bytes]) -> tuple[list[bytes], list[bytes]]:
    """(natives, transformed bodies) of ``n`` records ``make(i)``, through the transform step (the
    transform bench's own set-up)."""
    store = open_store(f"sqlite:///{workdir}/md.sqlite")
    source, target = UnitKey("bench", "oai_dc"), UnitKey("bench", "pe")
    natives = load_native(store, source, make, n)
    chain = build_chain(
        [{"type": "xslt", "mapping": "oai_dc2pe.xsl"}], base_dir=MAPPINGS, params=run_params("bench")
    )
    run_step(store, source, target, chain, "transform")
    with store.reader(target) as view:
        transformed = [r.body_bytes() for r in view.records()]
    store.close()
    return natives, transformed


def best_of(
    repeat: int, data: list[bytes], fn: Callable[[bytes], object], *, keep: bool = True
) -> tuple[float, list]:
    """Best CPU µs per item over ``repeat`` rounds, and the last round's results (with ``keep``;
    without, each result is dropped at once, as the steps drop a record's parsed triples: keeping
    millions of Python objects alive would time the garbage collector's passes over them too)."""
    best, out = float("inf"), []
    for _ in range(repeat):
        start = time.process_time()
        if keep:
            out = [fn(item) for item in data]
        else:
            for item in data:
                fn(item)
        best = min(best, time.process_time() - start)
    return best / len(data) * 1e6, out


def store_round(bodies: list[bytes], compressed: bool) -> tuple[float, float, int]:
    """(write CPU s, read CPU s, file bytes) of ``bodies`` in a fresh SQLite MDStore."""
    import mdstore.sqlite

    saved = mdstore.sqlite.COMPRESS_MIN_BYTES
    mdstore.sqlite.COMPRESS_MIN_BYTES = 0 if compressed else 1 << 62
    try:
        with tempfile.TemporaryDirectory(prefix="bench-blobs-store-") as tmp:
            store = open_store(f"sqlite:///{tmp}/md.sqlite")
            unit = UnitKey("bench", "raw")
            inputs = [RecordInput(f"r{i:07d}", body) for i, body in enumerate(bodies)]
            start = time.process_time()
            tx = store.begin(unit, "full", nsprefix="bench")
            for page in range(0, len(inputs), 500):
                tx.upsert(inputs[page : page + 500])
            tx.commit()
            written = time.process_time() - start
            start = time.process_time()
            with store.reader(unit) as view:
                assert sum(len(r.body) for r in view.records()) == sum(map(len, bodies))
            read = time.process_time() - start
            store.close()
            return written, read, os.path.getsize(f"{tmp}/md.sqlite")
    finally:
        mdstore.sqlite.COMPRESS_MIN_BYTES = saved


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    cpu0 = time.process_time()
    corpora = {}
    for kind, make in (("pipeline", lambda i: render_record(i).encode()), ("transform", oai_dc_record)):
        with tempfile.TemporaryDirectory(prefix="bench-blobs-") as tmp:
            natives, transformed = make_records(args.records, tmp, make)
        corpora[f"{kind}: transformed"], corpora[f"{kind}: native"] = transformed, natives
    rows = []
    for label, data in corpora.items():
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
    print("{:<24} {:>7}  {:<18} {:>9} {:>10} {:>10}".format(*header))
    for label, size, codec, c_us, d_us, blob in rows:
        print(f"{label:<24} {size:>7.0f}  {codec:<18} {c_us:>9.1f} {d_us:>10.1f} {blob:>10.0f}")
    print(f"\n## MDStore, {args.records} bodies written and read back, CPU s (best of {args.repeat})")
    print("{:<24} {:<11} {:>7} {:>7} {:>8}".format("records", "stored", "write", "read", "file MB"))
    for label, data in corpora.items():
        for compressed in (False, True):
            rounds = [store_round(data, compressed) for _ in range(args.repeat)]
            written, read = min(r[0] for r in rounds), min(r[1] for r in rounds)
            how = "compressed" if compressed else "raw"
            print(f"{label:<24} {how:<11} {written:>7.2f} {read:>7.2f} {rounds[0][2] / 1e6:>8.1f}")
    nt = ox.RdfFormat.N_TRIPLES
    print(f"\n## parse a transformed record into pyoxigraph triples (best of {args.repeat})")
    for label, data in corpora.items():
        if label.endswith("transformed"):
            strict_us, _ = best_of(args.repeat, data, lambda b: list(ox.parse(b, format=nt)), keep=False)
            lenient_us, _ = best_of(
                args.repeat, data, lambda b: list(ox.parse(b, format=nt, lenient=True)), keep=False
            )
            triples = sum(b.count(b"\n") for b in data) / len(data)
            print(
                f"{label} ({triples:.0f} triples): strict {strict_us:.1f} µs, lenient {lenient_us:.1f} µs "
                f"({strict_us / lenient_us:.2f}× faster)"
            )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nCPU {time.process_time() - cpu0:.1f} s, peak resident {peak:.0f} MB")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
