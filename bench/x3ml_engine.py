"""Records per second of the X3ML engine on the PARTHENOS CMDI → PE mapping.

The mapping is the generated one for CMDI profile p_1380106710826 (13 mappings, 28 links) with
the batch generator policy; the record is the CLARIN-DK sample that comes with Mapping518. The
record is transformed ``--records`` times in memory (parse, map, write N-Triples), as the
pipeline's transform step does per record, with reproducible UUIDs from a per-record id.

    python bench/x3ml_engine.py [--records 2000] [--shared ../shared] [--profile]

Prints one line: records, seconds, records/s, triples per record.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from transforms.x3ml import X3MLMapping  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--uuid-mode", default="reproducible", choices=["reproducible", "test", "random"])
    parser.add_argument("--profile", action="store_true", help="print the 25 most expensive functions")
    args = parser.parse_args(argv)

    parthenos = args.shared / "parthenos"
    mapping = X3MLMapping.load(
        parthenos / "batch_generation_14775/mapping/p_1380106710826.xml",
        policy=parthenos / "batch_generation_14775/conf/policy.xml",
    )
    record = next((parthenos / "mappings/Mapping518").glob("oai_clarin_dk_*.xml")).read_bytes()

    def run() -> int:
        triples = 0
        for i in range(args.records):
            result = mapping.transform(record, record_id=f"bench:{i}", uuid_mode=args.uuid_mode)
            triples += len(result.to_ntriples().splitlines())
        return triples

    run_once = mapping.transform(record, record_id="warm-up")  # compile lazily built XPaths
    assert len(run_once) > 0
    profiler = cProfile.Profile() if args.profile else None
    start = time.perf_counter()
    if profiler:
        profiler.enable()
    triples = run()
    if profiler:
        profiler.disable()
    seconds = time.perf_counter() - start
    print(
        f"x3ml p_1380106710826: {args.records} records in {seconds:.2f} s = {args.records / seconds:,.0f} "
        f"records/s ({triples / args.records:.0f} triples per record, uuid mode {args.uuid_mode})"
    )
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    return 0


if __name__ == "__main__":
    sys.exit(main())
