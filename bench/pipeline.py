"""End-to-end pipeline: 100,000 records from a local OAI-PMH source to the embedded index.

    python bench/pipeline.py [--records 100000] [--page-size 500] [--parts 1] [--airflow]
    python bench/pipeline.py --records 100000 --workers 1,2
    python bench/pipeline.py --records 1000000 --growth-from 100000 --workers 2


The source is the pre-rendered endpoint of ``bench/harvest.py`` in its own process (oai_dc,
~1.3 KB a record). The run goes through the same code the CLI and the Airflow tasks call:
collect (full harvest into the SQLite MDStore), transform (the shipped ``oai_dc2pe.xsl``, split in
``--parts`` parts the way the DAG maps them over workers, here run one after another), index (the
embedded SQLite FTS5 index, full rebuild) and publish (the OAI-PMH publisher snapshot). Prints
records/s per step, peak memory and the total wall time. Goal (issue 7): under 5 minutes on a
2-core machine. Before the stages and after each, a machine probe (``bench._common.machine_probe``:
CPU seconds of a fixed Python loop, left out of the totals) shows how fast the interpreter ran at
that moment (runs of the same code here differ by up to 1.2x; the probe tells whether the
interpreter was slower, not whether memory and caches were), and each stage's note gives the file
pages it read again from disk after the kernel evicted them (``bench._common.page_cache_rereads``).

``--growth-from N`` runs the pipeline on N records first, then on ``--records``, one after the other
with the same options, and prints each stage's wall and CPU seconds at both sizes, their growth and
the CPU per record (issue 18: wall time ≤ 10.5x from 100,000 to 1,000,000 records).

``--airflow`` then runs the same records from the same source through a running Airflow
(``airflow standalone``, LocalExecutor; ``bench/_airflow.py``), triggered through the REST API as
a full run of every step, and prints its wall time beside the CLI run's (goal, issue 15: within
1.5× of the CLI). The load average is printed before and after, since both runs share the machine.

``--workers 1,2`` compares worker counts instead (issue 18: both cores used): the source is collected
once, then for each count a copy of that MDStore is transformed and fed into a fresh embedded index
(an in-place first feed, split in parts like the DAG's) with that many worker processes, side by
side, with wall and CPU seconds (this process and its children) and the load average before and
after, so a busy machine shows in the figures. The runner is the CLI's (``run_parted``) taken stage
by stage with the same calls, so each stage and each part gets a span: when it ran, its CPU
seconds, the time it waited for a CPU held by other processes (the kernel's run-queue statistics)
and the time it was blocked (a lock, a pipe, the disk). Parts that overlap and are not blocked run
in parallel; a part blocked for as long as the other runs is a serialisation point.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import Phase, machine_probe, measure, page_cache_rereads, print_rows  # noqa: E402
from bench.harvest import serve  # noqa: E402

GOAL_SECONDS = 300
#: issue 18: wall time from 100,000 to 1,000,000 records grows at most this much
GROWTH_GOAL = 10.5


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--page-size", type=int, default=500)
    ap.add_argument("--parts", type=int, default=1, help="transformation parts (the DAG's mapped tasks)")
    ap.add_argument("--airflow", action="store_true", help="also run it under airflow standalone")
    ap.add_argument(
        "--workers",
        help="one count: transform and index with that many worker processes (index: a first feed in "
        "place, split in parts, instead of a rebuild); several (comma-separated, e.g. 1,2): compare them",
    )
    ap.add_argument(
        "--growth-from",
        type=int,
        metavar="N",
        help=f"first run the pipeline on N records, then on --records, and print how each stage grew "
        f"(issue 18: wall time ≤ {GROWTH_GOAL}x from 100,000 to 1,000,000)",
    )
    args = ap.parse_args()
    if args.workers and "," in args.workers:
        return compare_workers(args.records, args.page_size, [int(w) for w in args.workers.split(",")])
    if args.growth_from and args.airflow:
        ap.error("--growth-from compares two CLI runs; run --airflow on its own")
    workers = int(args.workers) if args.workers else 1
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    runs = [
        run_once(records, args.page_size, args.parts, workers, airflow=args.airflow)
        for records in ([args.growth_from] if args.growth_from else []) + [args.records]
    ]
    if len(runs) == 2:
        print_growth(*runs)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


@dataclass
class PipelineRun:
    """One run of the pipeline: its rows as printed, and the figures the growth table compares."""

    rows: list[tuple[str, Phase, str]]
    #: CPU seconds of each stage, in the order of ``rows``
    stage_cpu: list[float]
    #: wall seconds of the stages, without the machine probes between them
    total: float
    #: the machine probes, before the stages and after each, and the CPU seconds they took
    probes: list[float]
    probe_cpu: float
    #: CPU seconds of every process of the run, without the probes (set by :func:`run_once`)
    cpu: float = 0.0

    @property
    def records(self) -> int:
        return self.rows[0][1].items


def run_once(records: int, page_size: int, parts: int, workers: int, *, airflow: bool = False) -> PipelineRun:
    """The pipeline on ``records`` records from a fresh source into fresh stores; prints its table."""
    spool = tempfile.TemporaryDirectory(prefix="bench-pipeline-pages-")
    receive, send = multiprocessing.Pipe(duplex=False)
    endpoint = multiprocessing.Process(
        target=serve, args=(records, page_size, send), kwargs={"spool": spool.name}, daemon=True
    )
    endpoint.start()
    port = receive.recv()
    under_airflow = None
    try:
        with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
            cpu_before = _cpu_seconds()
            run = run_pipeline(Path(tmp), f"http://127.0.0.1:{port}/oai", parts, workers)
            # this process and its ended workers and builders, without the probes
            run.cpu = _cpu_seconds() - cpu_before - run.probe_cpu
            total = run.total
            # printed before the Airflow run, so that a failure there does not lose it
            print_rows(f"pipeline, {records} records, OAI-PMH source → embedded index", run.rows)
            verdict = "within" if total < GOAL_SECONDS else "OVER"
            print(f"\ntotal wall time {total:.1f}s, {run.cpu:.1f} CPU s ({verdict} the {GOAL_SECONDS}s goal)")
            print(
                "machine probe (CPU s of a fixed Python loop, best of 3; higher: a slower interpreter) "
                f"before the stages and after each: {' '.join(f'{p:.2f}' for p in run.probes)}"
            )
            print(f"load average after the CLI run: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
            sys.stdout.flush()
            if airflow:
                from bench._airflow import run_under_airflow

                profile = bench_profile(f"http://127.0.0.1:{port}/oai")
                profile["transform"]["records_per_part"] = max(1, -(-records // parts))
                profile["rdf"] = {"enabled": False}  # the steps the CLI run has, no more
                under_airflow = run_under_airflow(Path(tmp), profile)
    finally:
        endpoint.terminate()
        endpoint.join()
        spool.cleanup()
    if under_airflow is not None:
        ratio = under_airflow["wall"] / total
        print(
            f"under airflow standalone (LocalExecutor): run {under_airflow['state']}, wall time "
            f"{under_airflow['wall']:.1f}s, {under_airflow['cpu']:.1f} CPU s of the Airflow processes; "
            f"{ratio:.2f}x the CLI run ({'within' if ratio <= 1.5 else 'OVER'} the 1.5x goal)"
        )
        for task, seconds in sorted(under_airflow["tasks"].items(), key=lambda kv: -kv[1]):
            print(f"  {task:24s} {seconds:8.1f}s")
    return run


def print_growth(small: PipelineRun, large: PipelineRun) -> None:
    """Each stage's wall and CPU seconds at both sizes, their growth and the CPU per record: a
    growth above the records' ratio is work that costs more per record as the data grows."""
    ratio = large.records / small.records
    print(f"\n## growth from {small.records} to {large.records} records ({ratio:g}x the records)")
    print(
        f"{'stage':34s} {'small s (CPU s)':>18s} {'large s (CPU s)':>18s} {'growth wall (CPU)':>18s} "
        f"{'CPU us a record':>18s}"
    )
    stages = [
        (label, s_phase.seconds, s_cpu, l_phase.seconds, l_cpu)
        for (label, s_phase, _), s_cpu, (_, l_phase, _), l_cpu in zip(
            small.rows, small.stage_cpu, large.rows, large.stage_cpu, strict=True
        )
    ]
    stages.append(("total", small.total, small.cpu, large.total, large.cpu))
    for label, s_wall, s_cpu, l_wall, l_cpu in stages:
        print(
            f"{label:34s} {f'{s_wall:.1f} ({s_cpu:.1f})':>18s} {f'{l_wall:.1f} ({l_cpu:.1f})':>18s} "
            f"{f'{l_wall / s_wall:.1f}x ({l_cpu / s_cpu:.1f}x)':>18s} "
            f"{f'{s_cpu / small.records * 1e6:.0f} -> {l_cpu / large.records * 1e6:.0f}':>18s}"
        )
    growth = large.total / small.total
    verdict = "within" if growth <= GROWTH_GOAL * ratio / 10 else "OVER"
    print(
        f"wall time grew {growth:.2f}x for {ratio:g}x the records "
        f"({verdict} the goal of {GROWTH_GOAL}x for 10x the records)"
    )


def bench_profile(baseurl: str) -> dict:
    return {
        "id": "bench",
        "name": "Pipeline bench",
        "nsprefix": "bench",
        "api": {"protocol": "oai", "baseurl": baseurl, "metadata_prefix": "oai_dc", "sets": ["full"]},
        "transform": {"steps": [{"type": "xslt", "mapping": "oai_dc2pe.xsl"}]},
    }


def run_pipeline(tmp: Path, baseurl: str, parts: int, workers: int = 1) -> PipelineRun:
    from contentcloud.pipeline.collect import run_collect
    from contentcloud.pipeline.index import run_index
    from contentcloud.pipeline.publish import run_publish
    from contentcloud.pipeline.tasks import finish_parts_task, plan_parts_task, run_part_task
    from contentcloud.pipeline.transform import run_transform
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
    stage_cpu: list[float] = []
    probes: list[float] = []
    probe_wall = probe_cpu = 0.0  # the probes' own seconds, left out of the totals

    def probe() -> None:
        nonlocal probe_wall, probe_cpu
        wall, cpu = time.perf_counter(), time.process_time()
        probes.append(machine_probe())
        probe_wall += time.perf_counter() - wall
        probe_cpu += time.process_time() - cpu

    started = time.perf_counter()
    probe()
    cpu = _cpu_seconds()
    rereads = page_cache_rereads()

    def cpu_note(note: str) -> str:
        """The note with the stage's CPU seconds (this process and its ended workers and builders:
        less sensitive to other processes' load than the wall time), the machine probe after it
        (:func:`bench._common.machine_probe`, taken while nothing else of the bench runs), the file
        pages the stage read again after the kernel evicted them (:func:`page_cache_rereads`) and
        the files' sizes."""
        nonlocal cpu, rereads
        spent = _cpu_seconds() - cpu
        stage_cpu.append(spent)
        refaulted, read = (now - before for now, before in zip(page_cache_rereads(), rereads, strict=True))
        probe()
        cpu, rereads = _cpu_seconds(), page_cache_rereads()
        sizes = ", ".join(
            f"{path.relative_to(tmp)} {path.stat().st_size / 2**20:.0f} MB"
            for path in sorted(tmp.rglob("*.sqlite*"))
            if path.is_file()
        )
        return (
            f"{spent:.1f} CPU s"
            + (f"; {note}" if note else "")
            + f"; probe {probes[-2]:.2f} -> {probes[-1]:.2f}"
            + f"; evicted and read again {refaulted / 2**20:.0f} MB (disk reads {read / 2**20:.0f} MB)"
            + (f"; {sizes}" if sizes else "")
        )

    with measure("collect", tree=True) as phase:
        summary = run_collect("bench", settings, mode="full", environ={})
        assert summary.ok, summary.text()
        phase.items = summary.read
    rows.append(("collect (OAI-PMH → MDStore)", phase, cpu_note(f"{summary.pages} pages")))
    # memory: this process and its workers and builders, summed
    with measure("transform", tree=True) as phase:
        if workers > 1:
            summary = run_transform("bench", settings, mode="full", workers=workers)
            assert summary.ok, summary.text()
            phase.items, note = summary.read, f"{workers} workers"
        else:
            specs = plan_parts_task("transform", "bench", settings, mode="full", parts=parts)
            results = [run_part_task("transform", "bench", settings, spec) for spec in specs]
            summary_dict = finish_parts_task("transform", "bench", settings, specs, results)
            phase.items, note = summary_dict["read"], f"{len(specs)} part(s)"
    rows.append(("transform (oai_dc2pe.xsl → PE)", phase, cpu_note(note)))
    with measure("index", tree=True) as phase:
        # one worker: a full rebuild (one part); several: a first feed in place, in parts
        summary = run_index("bench", settings, full=workers == 1, workers=workers)
        assert summary.ok, summary.text()
        phase.items = summary.written
    rows.append(
        (
            "index (embedded, full rebuild)" if workers == 1 else "index (embedded, first feed)",
            phase,
            cpu_note(f"{workers} workers" if workers > 1 else ""),
        )
    )
    with measure("publish", tree=True) as phase:
        summary = run_publish("bench", settings, workers=workers)
        assert summary.ok, summary.text()
        phase.items = summary.read
    note = f"{summary.written} OAI records" + (f", {workers} workers" if workers > 1 else "")
    rows.append(("publish (OAI-PMH snapshot)", phase, cpu_note(note)))
    return PipelineRun(rows, stage_cpu, time.perf_counter() - started - probe_wall, probes, probe_cpu)


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


def _schedstat() -> tuple[float, float]:
    """(seconds on a CPU, seconds runnable but waiting for a CPU) of this thread so far, from the
    kernel's scheduler statistics: what separates a busy machine from a wait inside the code."""
    try:
        with open("/proc/thread-self/schedstat") as f:
            on_cpu, waiting, _ = f.read().split()
        return int(on_cpu) / 1e9, int(waiting) / 1e9
    except (OSError, ValueError):
        return 0.0, 0.0


class _Span:
    """Wall, CPU (this process's own, and its children's that ended: builder processes), time this
    thread waited for a CPU (the run queue: other processes' load) and the rest of its wall time,
    when it was blocked (sleeping on a lock, a pipe, the disk, or a child process)."""

    def __init__(self) -> None:
        self.wall0, (self.own0, self.children0), (_, self.queue0) = time.perf_counter(), _cpu(), _schedstat()

    def end(self) -> dict[str, float]:
        wall = time.perf_counter() - self.wall0
        own, children = _cpu()
        own, children = own - self.own0, children - self.children0
        queued = _schedstat()[1] - self.queue0
        return {
            "start": self.wall0,
            "wall": wall,
            "cpu": own + children,
            "own": own,
            "children": children,
            "queued": queued,
            "blocked": max(0.0, wall - own - queued),
        }


def _cpu() -> tuple[float, float]:
    """CPU seconds of this process, and of its children that ended."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def _timed_part(plan: dict, datasource_id: str, settings, part: int, side_by_side: int) -> dict:
    """One part in a worker process, as the CLI's runner runs it (``parts._part_in_worker``), with
    its span; the wall clock (``time.perf_counter``) is the machine's monotonic clock, shared by
    the processes, so the parts' spans line up with the parent's."""
    from contentcloud.pipeline.parts import _part_in_worker

    span = _Span()
    result = _part_in_worker(plan, datasource_id, settings, part, side_by_side)
    return {"result": result, "span": span.end(), "pid": os.getpid()}


def run_parted_timed(name: str, settings, workers: int, **options) -> tuple[object, list[tuple[str, dict]]]:
    """``contentcloud.pipeline.parts.run_parted`` step by step (plan, parts, finish), the same calls,
    with a span per stage and per part: which stages run one at a time, and whether the parts
    overlap or wait (blocked) for each other."""
    from concurrent.futures import ProcessPoolExecutor

    from bench.pipeline import _timed_part as timed_part  # by module name: workers do not run __main__
    from contentcloud.pipeline.parts import PartResult, finish_parts, parted_step
    from contentcloud.pipeline.processes import BareMainContext

    spans: list[tuple[str, dict]] = []
    started = time.perf_counter()
    span = _Span()
    step = parted_step(name, "bench", settings)
    plan = step.plan(parts=1 if workers == 1 else None, min_parts=workers, **options)
    spans.append(("plan", span.end()))
    if workers == 1 or plan.parts == 1:
        span = _Span()
        results = [step.run_part(plan, part, alone=plan.parts == 1) for part in plan.indexes()]
        spans.append(("part 0 (in process)", span.end()))
    else:
        span = _Span()
        with ProcessPoolExecutor(min(workers, plan.parts), mp_context=BareMainContext()) as pool:
            futures = [
                pool.submit(timed_part, plan.to_dict(), "bench", settings, part, min(workers, plan.parts))
                for part in plan.indexes()
            ]
            done = [future.result() for future in futures]
        spans.append(("parts, all (incl. worker start-up)", span.end()))
        results = []
        for part, item in enumerate(done):
            results.append(PartResult.from_dict(item["result"]))
            spans.append((f"part {part} (worker pid {item['pid']})", item["span"]))
    span = _Span()
    summary = finish_parts(step, plan, results, seconds=time.perf_counter() - started)
    spans.append(("finish", span.end()))
    return summary, spans


def _print_spans(origin: float, spans: list[tuple[str, dict]]) -> None:
    for label, s in spans:
        children = f" (+ {s['children']:.1f} in child processes)" if s.get("children", 0) > 0.05 else ""
        print(
            f"    {label:38s} {s['start'] - origin:7.1f} → {s['start'] - origin + s['wall']:7.1f} s: "
            f"wall {s['wall']:6.1f}, CPU {s.get('own', s['cpu']):6.1f}{children}, "
            f"waiting for a CPU {s['queued']:6.1f}, blocked {s['blocked']:6.1f}",
            flush=True,
        )


def compare_workers(records: int, page_size: int, counts: list[int]) -> int:
    """Transform and index the same collected source with each worker count; print the speed-ups."""
    import os

    from contentcloud.pipeline.collect import run_collect

    spool = tempfile.TemporaryDirectory(prefix="bench-workers-pages-")
    receive, send = multiprocessing.Pipe(duplex=False)
    endpoint = multiprocessing.Process(
        target=serve, args=(records, page_size, send), kwargs={"spool": spool.name}, daemon=True
    )
    endpoint.start()
    port = receive.recv()
    results: dict[int, dict[str, tuple[float, float, int, float]]] = {}
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
            load = os.getloadavg()[0]
            bare = bare_speedup(min(records, 5000))
            print(
                f"baseline, bare lxml loop: 1 process {bare['one_wall']:.1f} s wall / "
                f"{bare['one_cpu']:.1f} CPU s, "
                f"2 processes (half each) {bare['two_wall']:.1f} s / {bare['two_cpu']:.1f} CPU s: "
                f"{bare['speedup']:.2f}× (CPU {bare['cpu_growth']:.2f}× the one process's); "
                f"load {load:.2f} → {os.getloadavg()[0]:.2f}",
                flush=True,
            )
            for count in counts:
                mdstore = tmp / f"mdstore-{count}.sqlite"
                _copy_sqlite(collected, mdstore)  # every count starts from the same collected store
                settings = _settings(tmp, registry, mdstore, tmp / f"index-{count}.sqlite")
                results[count] = {}
                for step, options in (("transform", {"mode": "full"}), ("index", {})):
                    load = os.getloadavg()[0]
                    cpu, wall = _cpu_seconds(), time.perf_counter()
                    summary, spans = run_parted_timed(step, settings, count, **options)
                    wall, cpu = time.perf_counter() - wall, _cpu_seconds() - cpu
                    assert summary.ok, summary.text()
                    critical = _critical_path(spans)
                    results[count][step] = (wall, cpu, summary.read, critical)
                    print(
                        f"{step:9s} workers {count}: {summary.read} records in {wall:6.1f} s wall, "
                        f"{cpu:6.1f} s CPU; load {load:.2f} → {os.getloadavg()[0]:.2f}; "
                        f"unloaded (longest chain) {critical:6.1f} s",
                        flush=True,
                    )
                    _print_spans(spans[0][1]["start"], spans)
    finally:
        endpoint.terminate()
        endpoint.join()
        spool.cleanup()
    base = counts[0]
    print(f"\n## speed-up against {base} worker(s), {records} records, {os.cpu_count()} cores")
    print(
        f"baseline: the bare lxml loop, 1 → 2 processes: {bare['speedup']:.2f}× wall; two processes "
        f"at once used {bare['cpu_growth']:.2f}× the CPU seconds of one for the same records"
    )
    print("(wall: as measured. unloaded: the ratio of the two runs' longest chains of stages, plan +")
    print(" longest part + finish, each without its time waiting for a CPU held by other processes:")
    print(" the speed-up the split gives when every process has a core. A one-worker index part has")
    print(" a builder process beside it, counted as the larger of the two: see _critical_path)")
    for count in counts[1:]:
        for step in ("transform", "index"):
            wall = results[base][step][0] / results[count][step][0]
            unloaded = results[base][step][3] / results[count][step][3]
            print(f"{step:9s} {base} → {count} workers: wall {wall:.2f}×, unloaded {unloaded:.2f}×")
        both = sum(results[base][s][0] for s in results[base]) / sum(
            results[count][s][0] for s in results[count]
        )
        both_unloaded = sum(results[base][s][3] for s in results[base]) / sum(
            results[count][s][3] for s in results[count]
        )
        print(
            f"transform + index {base} → {count} workers: wall {both:.2f}×, unloaded {both_unloaded:.2f}× "
            "(goal ≥ 1.7×)"
        )
    return 0


def bare_loop(records: int) -> tuple[float, float]:
    """The bare lxml loop over ``records`` records (``oai_dc2pe.xsl`` compiled once, records in
    memory: parse, transform, serialize): (wall, CPU seconds) of the loop alone."""
    from lxml import etree

    from bench.transform import MAPPINGS, oai_dc_record
    from transforms.payload import safe_parser
    from transforms.registry import build_chain
    from transforms.xslt import run_params

    compiled = (
        build_chain(
            [{"type": "xslt", "mapping": "oai_dc2pe.xsl"}], base_dir=MAPPINGS, params=run_params("bench")
        )
        .steps[0]
        .compiled
    )
    parser = safe_parser()
    bodies = [oai_dc_record(i) for i in range(records)]
    wall, cpu = time.perf_counter(), time.process_time()
    for body in bodies:
        bytes(compiled(etree.fromstring(body, parser)))
    return time.perf_counter() - wall, time.process_time() - cpu


def bare_speedup(records: int) -> dict[str, float]:
    """The machine's own speed-up for perfectly parallel work, measured now: the bare loop over
    ``2 × records`` records in one process, then ``records`` each in two processes at once (both
    spawned, so start-up is equal and left out of the loops' clocks)."""
    from concurrent.futures import ProcessPoolExecutor

    from bench.pipeline import bare_loop as loop  # by module name: workers do not run __main__
    from contentcloud.pipeline.processes import BareMainContext

    with ProcessPoolExecutor(1, mp_context=BareMainContext()) as pool:
        one_wall, one_cpu = pool.submit(loop, 2 * records).result()
    with ProcessPoolExecutor(2, mp_context=BareMainContext()) as pool:
        both = [f.result() for f in [pool.submit(loop, records) for _ in range(2)]]
    two_wall = max(w for w, _ in both)
    two_cpu = sum(c for _, c in both)
    return {
        "one_wall": one_wall,
        "one_cpu": one_cpu,
        "two_wall": two_wall,
        "two_cpu": two_cpu,
        "speedup": one_wall / two_wall,
        "cpu_growth": two_cpu / one_cpu,
    }


def _copy_sqlite(source: Path, target: Path) -> None:
    """A copy of an SQLite file with what its WAL still holds (a plain file copy can miss the
    last commits when no connection checkpointed them)."""
    import sqlite3

    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    src.close()
    dst.close()


def _critical_path(spans: list[tuple[str, dict]]) -> float:
    """Seconds of the longest chain of stages if no other process competed for the CPUs: plan,
    the longest part, finish. A stage or part without child processes counts its CPU + blocked
    time; one with a child process that ran beside it (the index's builder in a one-worker run)
    counts the larger of its own CPU and the child's, a lower bound (its blocked time includes
    waiting for the child, which itself waited for a CPU on a loaded machine). Worker processes
    add their start-up: the CPU seconds of the pool that no part accounts for, per worker."""

    def length(s: dict) -> float:
        if s.get("children", 0) > 0.05 and "own" in s:
            return max(s["own"], s["children"])
        return s.get("own", s["cpu"]) + s["blocked"]

    serial = sum(length(s) for label, s in spans if label in ("plan", "finish"))
    parts = [(label, s) for label, s in spans if label.startswith("part ")]
    longest = max((length(s) for _, s in parts), default=0.0)
    pools = [s for label, s in spans if label.startswith("parts, all")]
    if pools:  # each worker's start-up (spawn, imports): the pool's CPU that no part accounts for
        workers = len({label.split("pid ")[-1] for label, _ in parts})
        startup = (pools[0]["children"] - sum(s.get("own", s["cpu"]) for _, s in parts)) / max(1, workers)
        serial += max(0.0, startup)
    return serial + longest


if __name__ == "__main__":
    sys.exit(main())
