"""Records per second of the X3ML engine on the PARTHENOS CMDI → PE mapping, beside its baselines.

The mapping is the generated one for CMDI profile p_1380106710826 (13 mappings, 28 links) with
the batch generator policy; the record is the CLARIN-DK sample that comes with Mapping518. The
record is transformed ``--records`` times in memory (parse, map, write N-Triples), as the
pipeline's transform step does per record, with reproducible UUIDs from a per-record id.

Rates are given per wall-clock second and per second of this process's CPU time (the second
holds better when other work shares the machine). In the same run, so that ratios hold on a
busy machine, it measures the baselines the issue
names: rdflib turning the engine's RDF/XML for that record into N-Triples (the issue's
"~900 records/s"), and single compiled lxml XPath evaluations on the record.

    python bench/x3ml_engine.py [--records 2000] [--shared ../shared] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from transforms.x3ml import X3MLMapping  # noqa: E402


def _rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f}/s"


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
    warm = mapping.transform(record, record_id="warm-up")  # compiles the XPaths built at run time
    assert len(warm) > 0

    profiler = cProfile.Profile() if args.profile else None
    if profiler:
        profiler.enable()
    start, cpu_start = time.perf_counter(), time.process_time()
    triples = 0
    for i in range(args.records):
        triples += (
            mapping.transform(record, record_id=f"bench:{i}", uuid_mode=args.uuid_mode)
            .to_ntriples()
            .count("\n")
        )
    engine_seconds = time.perf_counter() - start
    engine_cpu = time.process_time() - cpu_start
    if profiler:
        profiler.disable()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    # baseline 1: rdflib, RDF/XML of this record's result -> N-Triples
    import rdflib

    rdfxml = warm.serialize("rdfxml")
    rounds = max(200, args.records // 4)
    start, cpu_start = time.perf_counter(), time.process_time()
    for _ in range(rounds):
        rdflib.Graph().parse(data=rdfxml, format="xml").serialize(format="nt")
    rdflib_seconds = time.perf_counter() - start
    rdflib_cpu = time.process_time() - cpu_start

    # baseline 2: one compiled lxml XPath 1.0 expression on the record
    from lxml import etree

    root = etree.fromstring(record)
    xpath = etree.XPath("cmd:Header/cmd:MdSelfLink/text()", namespaces={"cmd": "http://www.clarin.eu/cmd/1"})
    evaluations = 100_000
    start = time.perf_counter()
    for _ in range(evaluations):
        xpath(root)
    xpath_seconds = time.perf_counter() - start

    engine_rate = args.records / engine_seconds
    rdflib_rate = rounds / rdflib_seconds
    print(
        f"x3ml engine  p_1380106710826: {args.records} records in {engine_seconds:.2f} s = "
        f"{engine_rate:,.0f} records/s wall, {args.records / engine_cpu:,.0f} records/s of CPU time "
        f"({triples / args.records:.0f} triples/record, {args.uuid_mode} UUIDs, peak RSS {peak_mb:.0f} MB)"
    )
    print(
        f"baseline     rdflib RDF/XML->N-Triples of the same record: {_rate(rounds, rdflib_seconds)} wall, "
        f"{_rate(rounds, rdflib_cpu)} of CPU time (engine/rdflib = {engine_rate / rdflib_rate:.2f})"
    )
    print(f"baseline     lxml compiled XPath 1.0 evaluation: {_rate(evaluations, xpath_seconds)}")
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    return 0


if __name__ == "__main__":
    sys.exit(main())
