"""End-to-end pipeline: 100,000 records from a local OAI-PMH source to the embedded index.

    python bench/pipeline.py [--records 100000] [--page-size 500] [--parts 1] [--airflow]
    python bench/pipeline.py --records 100000 --workers 1,2


The source is the pre-rendered endpoint of ``bench/harvest.py`` in its own process (oai_dc,
~1.3 KB a record). The run goes through the same code the CLI and the Airflow tasks call:
collect (full harvest into the SQLite MDStore), transform (the shipped ``oai_dc2pe.xsl``, split in
``--parts`` parts the way the DAG maps them over workers, here run one after another), index (the
embedded SQLite FTS5 index, full rebuild) and publish (the OAI-PMH publisher snapshot). Prints
records/s per step, peak memory and the total wall time. Goal (issue 7): under 5 minutes on a
2-core machine.

``--airflow`` then runs the same records from the same source through a running Airflow
(``airflow standalone``, LocalExecutor; ``bench/_airflow.py``), triggered through the REST API as
a full run of every step, and prints its wall time beside the CLI run's (goal, issue 15: within
1.5× of the CLI). The load average is printed before and after, since both runs share the machine.

``--workers 1,2`` compares worker counts instead (issue 18: both cores used): the source is collected
once, then for each count a copy of that MDStore is transformed and fed into a fresh embedded index
(an in-place first feed, split in parts like the DAG's) by the CLI's runner with that many worker
processes, side by side, with wall and CPU seconds (this process and its children) and the load
average before and after, so a busy machine shows in the figures.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import measure, print_rows  # noqa: E402
from bench.harvest import serve  # noqa: E402

GOAL_SECONDS = 300


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--page-size", type=int, default=500)
    ap.add_argument("--parts", type=int, default=1, help="transformation parts (the DAG's mapped tasks)")
    ap.add_argument("--airflow", action="store_true", help="also run it under airflow standalone")
    ap.add_argument("--workers", help="compare these worker counts (comma-separated, e.g. 1,2)")
    args = ap.parse_args()
    if args.workers:
        return compare_workers(args.records, args.page_size, [int(w) for w in args.workers.split(",")])
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    receive, send = multiprocessing.Pipe(duplex=False)
    endpoint = multiprocessing.Process(target=serve, args=(args.records, args.page_size, send), daemon=True)
    endpoint.start()
    port = receive.recv()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
            cpu_before = time.process_time()
            rows, total = run_pipeline(Path(tmp), f"http://127.0.0.1:{port}/oai", args.parts)
            cpu = time.process_time() - cpu_before
            # printed before the Airflow run, so that a failure there does not lose it
            print_rows(f"pipeline, {args.records} records, OAI-PMH source → embedded index", rows)
            verdict = "within" if total < GOAL_SECONDS else "OVER"
            print(f"\ntotal wall time {total:.1f}s, {cpu:.1f} CPU s ({verdict} the {GOAL_SECONDS}s goal)")
            print(f"load average after the CLI run: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
            sys.stdout.flush()
            airflow = None
            if args.airflow:
                from bench._airflow import run_under_airflow

                profile = bench_profile(f"http://127.0.0.1:{port}/oai")
                profile["transform"]["records_per_part"] = max(1, -(-args.records // args.parts))
                profile["rdf"] = {"enabled": False}  # the steps the CLI run has, no more
                airflow = run_under_airflow(Path(tmp), profile)
    finally:
        endpoint.terminate()
    if airflow is not None:
        ratio = airflow["wall"] / total
        print(
            f"under airflow standalone (LocalExecutor): run {airflow['state']}, wall time "
            f"{airflow['wall']:.1f}s, {airflow['cpu']:.1f} CPU s of the Airflow processes; "
            f"{ratio:.2f}x the CLI run ({'within' if ratio <= 1.5 else 'OVER'} the 1.5x goal)"
        )
        for task, seconds in sorted(airflow["tasks"].items(), key=lambda kv: -kv[1]):
            print(f"  {task:24s} {seconds:8.1f}s")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


def bench_profile(baseurl: str) -> dict:
    return {
        "id": "bench",
        "name": "Pipeline bench",
        "nsprefix": "bench",
        "api": {"protocol": "oai", "baseurl": baseurl, "metadata_prefix": "oai_dc", "sets": ["full"]},
        "transform": {"steps": [{"type": "xslt", "mapping": "oai_dc2pe.xsl"}]},
    }


def run_pipeline(tmp: Path, baseurl: str, parts: int):
    from contentcloud.pipeline.collect import run_collect
    from contentcloud.pipeline.index import run_index
    from contentcloud.pipeline.publish import run_publish
    from contentcloud.pipeline.runs import finish_parts_task, plan_parts_task, run_part_task
    from contentcloud.settings import load_settings

    registry = tmp / "registry"
    registry.mkdir()
    profile = bench_profile(baseurl)
    (registry / "bench.yaml").write_text(yaml.safe_dump(profile))
    settings = load_settings(
        {
            "mdstore": f"sqlite:///{tmp / 'mdstore.sqlite'}",
            "index": f"sqlite:///{tmp / 'index.sqlite'}",
            "registry": str(registry),
            "var_dir": str(tmp / "var"),
        },
        environ={},
    )
    rows = []
    started = time.perf_counter()
    with measure("collect") as phase:
        summary = run_collect("bench", settings, mode="full", environ={})
        assert summary.ok, summary.text()
        phase.items = summary.read
    rows.append(("collect (OAI-PMH → MDStore)", phase, f"{summary.pages} pages"))
    with measure("transform") as phase:
        specs = plan_parts_task("transform", "bench", settings, mode="full", parts=parts)
        results = [run_part_task("transform", "bench", settings, spec) for spec in specs]
        summary_dict = finish_parts_task("transform", "bench", settings, specs, results)
        phase.items = summary_dict["read"]
    rows.append(("transform (oai_dc2pe.xsl → PE)", phase, f"{len(specs)} part(s)"))
    with measure("index") as phase:
        summary = run_index("bench", settings, full=True)
        assert summary.ok, summary.text()
        phase.items = summary.written
    rows.append(("index (embedded, full rebuild)", phase, ""))
    with measure("publish") as phase:
        summary = run_publish("bench", settings)
        assert summary.ok, summary.text()
        phase.items = summary.read
    rows.append(("publish (OAI-PMH snapshot)", phase, f"{summary.written} OAI records"))
    return rows, time.perf_counter() - started


def _settings(tmp: Path, registry: Path, mdstore: Path, index: Path):
    from contentcloud.settings import load_settings

    return load_settings(
        {
            "mdstore": f"sqlite:///{mdstore}",
            "index": f"sqlite:///{index}",
            "registry": str(registry),
            "var_dir": str(tmp / "var"),
        },
        environ={},
    )


def _cpu_seconds() -> float:
    """CPU seconds of this process and of its children that ended (the worker processes)."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def compare_workers(records: int, page_size: int, counts: list[int]) -> int:
    """Transform and index the same collected source with each worker count; print the speed-ups."""
    import os
    import shutil

    from contentcloud.pipeline.collect import run_collect
    from contentcloud.pipeline.index import run_index
    from contentcloud.pipeline.transform import run_transform

    receive, send = multiprocessing.Pipe(duplex=False)
    endpoint = multiprocessing.Process(target=serve, args=(records, page_size, send), daemon=True)
    endpoint.start()
    port = receive.recv()
    results: dict[int, dict[str, tuple[float, float, int]]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-workers-") as name:
            tmp = Path(name)
            registry = tmp / "registry"
            registry.mkdir()
            profile = {
                "id": "bench",
                "name": "Pipeline bench",
                "nsprefix": "bench",
                "api": {
                    "protocol": "oai",
                    "baseurl": f"http://127.0.0.1:{port}/oai",
                    "metadata_prefix": "oai_dc",
                    "sets": ["full"],
                },
                "transform": {"steps": [{"type": "xslt", "mapping": "oai_dc2pe.xsl"}]},
            }
            (registry / "bench.yaml").write_text(yaml.safe_dump(profile))
            collected = tmp / "collected.sqlite"
            summary = run_collect(
                "bench", _settings(tmp, registry, collected, tmp / "unused.sqlite"), mode="full", environ={}
            )
            assert summary.ok, summary.text()
            print(f"collected {summary.read} records; load average {os.getloadavg()}", flush=True)
            for count in counts:
                mdstore = tmp / f"mdstore-{count}.sqlite"
                shutil.copyfile(collected, mdstore)  # every count starts from the same collected store
                settings = _settings(tmp, registry, mdstore, tmp / f"index-{count}.sqlite")
                results[count] = {}
                for step, run in (
                    (
                        "transform",
                        lambda s=settings, w=count: run_transform("bench", s, mode="full", workers=w),
                    ),
                    ("index", lambda s=settings, w=count: run_index("bench", s, workers=w)),
                ):
                    load = os.getloadavg()[0]
                    cpu, wall = _cpu_seconds(), time.perf_counter()
                    summary = run()
                    wall, cpu = time.perf_counter() - wall, _cpu_seconds() - cpu
                    assert summary.ok, summary.text()
                    results[count][step] = (wall, cpu, summary.read)
                    print(
                        f"{step:9s} workers {count}: {summary.read} records in {wall:6.1f} s wall, "
                        f"{cpu:6.1f} s CPU; load {load:.2f} → {os.getloadavg()[0]:.2f}",
                        flush=True,
                    )
    finally:
        endpoint.terminate()
    base = counts[0]
    print(f"\n## speed-up against {base} worker(s), {records} records, {os.cpu_count()} cores")
    for count in counts[1:]:
        for step in ("transform", "index"):
            speedup = results[base][step][0] / results[count][step][0]
            print(f"{step:9s} {base} → {count} workers: {speedup:.2f}×")
        both = sum(results[base][s][0] for s in results[base]) / sum(
            results[count][s][0] for s in results[count]
        )
        print(f"transform + index {base} → {count} workers: {both:.2f}× (goal ≥ 1.7×)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
