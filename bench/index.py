"""Index throughput: N transformed PE records → Solr, side by side with the baseline of posting the
same documents, already built, as raw JSON batches to ``/update`` with requests; then the embedded
index: documents/s and the latency of 3-facet queries at N documents.

    python bench/index.py [--records 100000] [--repeat 3] [--solr-url http://…/solr]
                          [--no-solr] [--no-embedded] [--senders 1] [--batch 500]

Without ``--solr-url`` the Solr test server from ``tests/servers`` is started (its own temporary home).
The feed is the real step (``contentcloud.pipeline.index.index`` with ``full=True`` and, as from the
command line, one builder process): read the MDStore version under a lease, build each document with
the PE profile (pyoxigraph) in the builder, send batches on a background thread, commit, switch cores.
The baseline gets the documents pre-built and posts batches of the same size, then commits. Runs
alternate; the ratio reported is the median. CPU per document (this process and its builders, and
the Solr JVM) is printed beside the rates: it does not depend on what else the machine runs.

With both backends, the same requests are then sent to the embedded index in process (its engine
time), to the same index served by ``contentcloud serve`` over HTTP on 127.0.0.1 (as portals meet
it; ``--no-http`` leaves it out) and to Solr (HTTP, wall time; Solr's QTime beside it) in one run,
alternating request by request: p50/p95 per query kind side by side, after one warm-up pass whose
times are shown as "first" (all cache results: Solr's filterCache/queryResultCache, the embedded
index's per-generation result cache, one in this process and one in the server). Two ratios of
p95: HTTP wall against HTTP wall, and the embedded engine (in process) against Solr's QTime.
Every answer is checked: same numFound on all, no ``partialResults`` (the embedded index's
default time budget must not cut a measured answer short). The embedded index is rebuilt
``--rebuilds`` times (``contentcloud.pipeline.index.index`` with ``full=True``, each in a new
process, as successive ``contentcloud index --full`` runs): docs/s, peak anonymous memory and index
bytes per document (live pages, and the file with the free pages the next rebuild reuses).

Goals (issue 5): feed ≥ 0.8 of the baseline; embedded 3-facet query p95 ≤ 50 ms at 100,000 documents.
Issue 17: ranked common term and fq + 3 facets p95 within 2× of Solr's; ≤ 4 KB per document; a 2nd
and 3rd rebuild peak within 10 % of the first. Issue 18: embedded feed ≥ 10,000 documents/s.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import os
import resource
import shutil
import statistics
import sys
import tempfile
import threading
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests  # noqa: E402

from bench._common import Phase, measure, print_rows  # noqa: E402
from contentcloud.datasources import profile_from_dict  # noqa: E402
from contentcloud.pipeline.index import index  # noqa: E402
from mdstore import RecordInput, open_store  # noqa: E402
from provision.index.base import IndexState  # noqa: E402
from provision.index.profile import load_profile  # noqa: E402
from provision.index.solr import SolrIndex  # noqa: E402
from provision.index.sqlite import SqliteIndex  # noqa: E402
from tests.pe_records import ACTORS, LANGUAGES, PLACES, SUBJECTS, TITLE_WORDS, pe_records  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BATCH = 500
FACETS = ["subject_facet", "language", "actor_facet"]
QUERIES = [
    {"q": "*:*"},
    {"q": "bronze"},
    {"q": "*:*", "fq": "language:de"},
    {"q": "title:excavation AND subject:temple", "sort": "title_sort asc"},
    {"q": '"roman villa"', "fq": "{!tag=l}language:en"},
    {"q": "temple OR hoard", "fq": "time_span:[-500 TO 500]"},
]

#: text queries asking for relevance order (not in the p95 above: a portal asks for them explicitly)
RANKED_QUERIES = [
    {"q": "bronze", "sort": "score desc"},
    {"q": "temple OR hoard", "sort": "score desc"},
]


#: the side-by-side kinds (issue 17): name → request (rows=10 on all)
SIDE_BY_SIDE = {
    "ranked: common term, sort=score desc": {"q": "bronze", "sort": "score desc"},
    "ranked: common term + 3 facets": {"q": "bronze", "sort": "score desc", "facet.field": FACETS},
    "fq on a facet value + 3 facets": {"q": "*:*", "fq": "language:de", "facet.field": FACETS},
    "browse: *:* + 3 facets": {"q": "*:*", "facet.field": FACETS},
    "ranked: OR of two terms + date fq": {
        "q": "temple OR hoard",
        "fq": "time_span:[-500 TO 500]",
        "sort": "score desc",
    },
    "fielded AND + title sort + 3 facets": {
        "q": "title:excavation AND subject:temple",
        "sort": "title_sort asc",
        "facet.field": FACETS,
    },
}


def uncached_kinds() -> dict[str, list[dict]]:
    """Kinds whose every request is new to both backends (no cache of either can answer it): a
    different common word each time, sorted by score; a different facet value as fq each time."""
    words: list[str] = []
    for text in TITLE_WORDS + SUBJECTS + PLACES:
        for word in text.lower().split():
            if word not in words and word not in ("bronze", "temple", "hoard", "age"):
                words.append(word)
    filters = [
        f'{field}:"{value}"'
        for field, values in (
            ("subject_facet", SUBJECTS),
            ("place_facet", PLACES),
            ("actor_facet", ACTORS),
            ("language", [v for v in LANGUAGES if v != "de"]),
        )
        for value in values
    ]
    return {
        "uncached: ranked, a new common word each": [{"q": word, "sort": "score desc"} for word in words],
        "uncached: fq on a new facet value + 3 facets": [
            {"q": "*:*", "fq": fq, "facet.field": FACETS} for fq in filters
        ],
    }


def datasource_profile():
    return profile_from_dict(
        {
            "id": "bench",
            "name": "Bench",
            "nsprefix": "bench",
            "provider": "Bench",
            "api": {"protocol": "oai", "baseurl": "http://127.0.0.1:1/oai", "metadata_prefix": "oai_dc"},
        }
    )


def load_store(path: str, n: int):
    datasource = profile_from_dict(
        {
            "id": "bench",
            "name": "Bench",
            "nsprefix": "bench",
            "provider": "Bench",
            "api": {"protocol": "oai", "baseurl": "http://127.0.0.1:1/oai", "metadata_prefix": "oai_dc"},
        }
    )
    store = open_store(f"sqlite:///{path}")
    tx = store.begin(datasource.transformed_unit, "full", stamp="transformed", nsprefix="bench")
    tx.upsert(RecordInput(oid, body) for oid, body in pe_records(n, prefix="bench"))
    tx.commit()
    return store, datasource


def build_all(store, datasource, profile) -> tuple[list[dict], Phase]:
    unit = datasource.transformed_unit
    with measure("build documents only") as phase, store.reader(unit) as view:
        version = view.version_id
        docs = [
            profile.build(
                r, datasource="bench", version=version, indexed_at="2024-05-01T00:00:00Z", provider="Bench"
            )[0]
            for r in view.records(deleted=False)
        ]
        phase.items = len(docs)
    return docs, phase


class CpuMeter:
    """CPU seconds spent by this process (and its finished children: the builder processes) and by the
    Solr JVM. Unlike wall time, CPU per document does not depend on what else the machine is running."""

    def __init__(self, solr_pid: int | None) -> None:
        self.solr_pid = solr_pid

    def sample(self) -> tuple[float, float]:
        own = resource.getrusage(resource.RUSAGE_SELF)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        client = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
        solr = 0.0
        if self.solr_pid:
            fields = Path(f"/proc/{self.solr_pid}/stat").read_text().rsplit(")", 1)[1].split()
            solr = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return client, solr


def cpu_note(before: tuple[float, float], after: tuple[float, float], items: int) -> str:
    client = (after[0] - before[0]) / items * 1e6
    solr = (after[1] - before[1]) / items * 1e6
    return f"CPU/doc: client {client:.0f} us, Solr {solr:.0f} us"


def post_baseline(solr_base: str, core: str, docs: list[dict]) -> Phase:
    session = requests.Session()
    requests.get(
        f"{solr_base}/admin/cores",
        params={
            "action": "CREATE",
            "name": core,
            "instanceDir": core,
            "configSet": "contentcloud",
            "wt": "json",
        },
        timeout=120,
    ).raise_for_status()
    with measure("baseline: raw JSON batches to /update") as phase:
        for start in range(0, len(docs), BATCH):
            session.post(
                f"{solr_base}/{core}/update", json=docs[start : start + BATCH], timeout=300
            ).raise_for_status()
        session.post(
            f"{solr_base}/{core}/update", params={"commit": "true"}, json={}, timeout=300
        ).raise_for_status()
        phase.items = len(docs)
    requests.get(
        f"{solr_base}/admin/cores",
        params={"action": "UNLOAD", "core": core, "deleteInstanceDir": "true", "wt": "json"},
        timeout=120,
    ).raise_for_status()
    return phase


def feed(store, datasource, backend, profile, label: str, workers: int) -> Phase:
    with measure(label) as phase:
        summary = index(store, datasource, backend, profile, full=True, workers=workers)
        phase.items = summary.written
    if summary.errors or summary.written == 0:
        raise SystemExit(f"the feed failed: {summary.text()}")
    return phase


def bench_solr(args, store, datasource, profile, docs, solr_base: str, server) -> SolrIndex:
    """The Solr feed runs beside the baseline; returns the index, kept for the side-by-side queries."""
    backend = SolrIndex(solr_base, "bench", batch_size=BATCH, senders=args.senders)
    post_baseline(solr_base, "bench_warmup", docs[: min(len(docs), 20_000)])  # JIT warm-up, not counted
    meter = CpuMeter(server.pid if server is not None else None)
    ratios, cpu_ratios, rows = [], [], []
    for run in range(args.repeat):
        start = meter.sample()
        base = post_baseline(solr_base, f"bench_baseline_{run}", docs)
        middle = meter.sample()
        ours = feed(
            store, datasource, backend, profile, "contentcloud index --full (build + feed)", args.workers
        )
        end = meter.sample()
        ratios.append(ours.rate / base.rate)
        base_cpu = (middle[0] - start[0]) + (middle[1] - start[1])
        ours_cpu = (end[0] - middle[0]) + (end[1] - middle[1])
        cpu_ratios.append(base_cpu / ours_cpu if ours_cpu else 0.0)
        rows += [
            (f"run {run + 1}: {base.name}", base, cpu_note(start, middle, base.items)),
            (
                f"run {run + 1}: {ours.name}",
                ours,
                f"ratio {ours.rate / base.rate:.2f}; {cpu_note(middle, end, ours.items)}",
            ),
        ]
    count = backend.count("bench")
    print_rows(f"Solr: {len(docs)} documents (batches of {BATCH})", rows)
    print(
        f"\nmedian ratio feed/baseline: {statistics.median(ratios):.2f} (goal >= 0.80); "
        f"documents in the index: {count}"
    )
    if server is not None:
        print(
            f"median ratio of CPU per document (client + Solr), baseline/feed: "
            f"{statistics.median(cpu_ratios):.2f}"
        )
    return backend


def _rebuild_in_child(store_path: str, index_path: str, workers: int, results) -> None:
    """One ``contentcloud index --full`` in a new process (its peak memory is its own)."""
    store = open_store(f"sqlite:///{store_path}")
    profile = load_profile(ROOT / "mappings" / "index" / "pe.yaml")
    backend = SqliteIndex(index_path)
    before = os.times()
    with measure("embedded index --full (build + feed)") as phase:
        summary = index(store, datasource_profile(), backend, profile, full=True, workers=workers)
        phase.items = summary.written
    after = os.times()
    cpu = (after.user + after.system) - (before.user + before.system)
    children = (after.children_user + after.children_system) - (before.children_user + before.children_system)
    backend.close()
    store.close()
    results.put((phase.items, phase.seconds, phase.peak_mb, cpu, children, bool(summary.errors)))


def index_bytes(path: Path, docs: int) -> tuple[float, float]:
    """(live pages, file + WAL) in bytes per document."""
    import sqlite3

    conn = sqlite3.connect(path)
    pages, free, size = (
        conn.execute(f"PRAGMA {name}").fetchone()[0] for name in ("page_count", "freelist_count", "page_size")
    )
    conn.close()
    wal = Path(f"{path}-wal")
    on_disk = path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
    return (pages - free) * size / docs, on_disk / docs


def writer_only(docs: list[dict]) -> Phase:
    """The embedded index's own share of a feed: pre-built documents through a rebuild writer."""
    with tempfile.TemporaryDirectory(prefix="bench-writer-") as tmp:
        backend = SqliteIndex(Path(tmp) / "index.sqlite")
        with measure("embedded writer only (pre-built documents)") as phase:
            writer = backend.open_writer("bench", rebuild=True)
            for start in range(0, len(docs), BATCH):
                writer.add(docs[start : start + BATCH])
            writer.commit(IndexState("bench", "v1", "bench", "full"))
            phase.items = len(docs)
        backend.close()
    return phase


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * share + 0.5) - 1)]


class Served:
    """``contentcloud serve`` over the embedded index (its own process, as portals meet it): Solr's
    ``/select`` at ``/solr/<index>/select`` on 127.0.0.1, asked through one keep-alive session."""

    def __init__(self, index_path: Path, index_name: str) -> None:
        import re
        import subprocess

        self.home = tempfile.mkdtemp(prefix="bench-serve-")
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from contentcloud.cli import main; main()", "--log-level", "WARNING"]
            + ["serve", "--port", "0", "--no-curator", "--threads", "4"],
            env={**os.environ, "PYTHONPATH": str(ROOT), "CONTENTCLOUD_INDEX": f"sqlite:///{index_path}"},
            cwd=self.home,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stderr is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.process.stderr.readline()
            if not line and self.process.poll() is not None:
                raise SystemExit(f"contentcloud serve exited with {self.process.returncode}")
            found = re.match(r"serving (http://[\d.]+:\d+)/oai", line)
            if found:
                self.url = f"{found.group(1)}/solr/{index_name}/select"
                # read the rest too: a full pipe would block the server on its next log line
                threading.Thread(target=self.process.stderr.read, daemon=True).start()
                break
        else:
            self.stop()
            raise SystemExit("contentcloud serve printed no address in 60 s")
        self.session = requests.Session()

    def select(self, params: dict) -> dict:
        pairs = [
            (k, v) for k, value in params.items() for v in (value if isinstance(value, list) else [value])
        ]
        answer = self.session.get(self.url, params=pairs, timeout=60)
        answer.raise_for_status()
        return answer.json()

    def stop(self) -> None:
        import shutil

        self.process.terminate()
        try:
            self.process.communicate(timeout=10)
        except Exception:
            self.process.kill()
            self.process.communicate()
        shutil.rmtree(self.home, ignore_errors=True)


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far, from /proc (clock-tick resolution)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def side_by_side(
    embedded: SqliteIndex,
    served: Served | None,
    solr: SolrIndex | None,
    rounds: int,
    solr_pid: int | None = None,
) -> None:
    """The same requests to every backend, alternating request by request: the embedded index in
    process (its engine time), the same index through ``contentcloud serve`` over HTTP, Solr over
    HTTP (wall time, its QTime beside it); p50/p95 per kind (issue 17)."""
    backends = [("embedded", embedded)]
    backends += [("emb HTTP", served)] if served is not None else []
    backends += [("Solr", solr)] if solr is not None else []
    # CPU per request, which the load of a shared machine does not change as it changes wall time:
    # this process's for the in-process engine, the server's and Solr's JVM's from /proc
    clocks = {"embedded": time.process_time}
    if served is not None:
        clocks["emb HTTP"] = partial(process_cpu, served.process.pid)
    if solr is not None and solr_pid is not None:
        clocks["Solr"] = partial(process_cpu, solr_pid)
    cpu_used: dict[str, dict[str, float]] = {}

    def run(name: str, query: dict) -> dict[str, tuple[float, dict]]:
        params = {**query, "rows": 10, **({"facet": "true"} if "facet.field" in query else {})}
        answers = {}
        for label, backend in backends:
            clock = clocks.get(label)
            cpu_start = clock() if clock else 0.0
            started = time.perf_counter()
            answer = backend.select(params)
            answers[label] = ((time.perf_counter() - started) * 1000, answer)
            if clock:
                used = cpu_used.setdefault(kind_of(name), {})
                used[label] = used.get(label, 0.0) + clock() - cpu_start
            if answer["responseHeader"].get("partialResults"):
                raise SystemExit(f"{label} cut {name} short (partialResults): no figure from it")
        found = {label: a["response"]["numFound"] for label, (_, a) in answers.items()}
        if len(set(found.values())) > 1:
            raise SystemExit(f"{name}: numFound differs {found}")
        return answers

    def record(name: str, answers: dict[str, tuple[float, dict]]) -> None:
        for label, (ms, answer) in answers.items():
            times[name][label].append(ms)
            if label == "Solr":
                times[name]["QTime"].append(answer["responseHeader"]["QTime"])

    def kind_of(name: str) -> str:
        return name.split(" #")[0]

    labels = ["embedded", "emb HTTP", "Solr", "QTime"]
    load_before = os.getloadavg()
    first = {name: run(name, query) for name, query in SIDE_BY_SIDE.items()}
    cpu_used.clear()  # the warm-up pass is not counted
    times: dict[str, dict[str, list[float]]] = {
        name: {label: [] for label in labels} for name in SIDE_BY_SIDE
    }
    cpu_before = time.process_time()
    for _ in range(rounds):
        for name, query in SIDE_BY_SIDE.items():
            record(name, run(name, query))
    cpu = time.process_time() - cpu_before
    uncached = uncached_kinds()
    for name, requests_ in uncached.items():
        times[name] = {label: [] for label in labels}
        counts: list[int] = []
        for number, query in enumerate(requests_[:rounds]):
            answers = run(f"{name} #{number}", query)
            record(name, answers)
            counts.append(answers["embedded"][1]["response"]["numFound"])
        hits = {"response": {"numFound": int(statistics.median(counts))}}  # the median, in the table
        first[name] = {label: (float("nan"), hits) for label, _ in backends}
    load_after = os.getloadavg()
    print(
        f"\n## Side by side at {embedded.count()} documents: {rounds} rounds of {len(SIDE_BY_SIDE)} kinds, "
        f"rows=10, alternating; load average {load_before[0]:.1f} → {load_after[0]:.1f}; "
        f"this process's CPU (in-process embedded + HTTP clients) "
        f"{cpu / (rounds * len(SIDE_BY_SIDE)) * 1000:.1f} ms per set of requests"
    )
    columns = [label for label, _ in backends]
    header = f"{'query kind':44s} {'hits':>7s}"
    for label in columns:
        header += f" | {label + ' first':>14s} {'p50':>6s} {'p95':>6s}"
    if solr is not None:
        header += f" | {'QTime p50':>9s} {'p95':>6s} | {'engine/QTime p95':>16s}"
        if served is not None:
            header += f" {'HTTP/HTTP p95':>13s}"
    print(header)
    for name in times:
        line = f"{name:44s} {first[name]['embedded'][1]['response']['numFound']:7d}"
        for label in columns:
            ms = times[name][label]
            line += (
                f" | {first[name][label][0]:14.1f} {statistics.median(ms):6.1f} {percentile(ms, 0.95):6.1f}"
            )
        if solr is not None:
            qtime = times[name]["QTime"]
            ours = percentile(times[name]["embedded"], 0.95)
            line += (
                f" | {statistics.median(qtime):9.1f} {percentile(qtime, 0.95):6.1f} | "
                f"{ours / max(percentile(qtime, 0.95), 1.0):16.2f}"
            )
            if served is not None:
                served_p95 = percentile(times[name]["emb HTTP"], 0.95)
                line += f" {served_p95 / percentile(times[name]['Solr'], 0.95):13.2f}"
        print(line)
    if cpu_used:
        print(
            "\nCPU per request (ms; this process for the in-process engine, the server's and the Solr "
            "JVM's from /proc, all their threads, 10 ms ticks summed over the kind's requests):"
        )
        print(f"{'query kind':44s} " + " ".join(f"{label:>10s}" for label in clocks) + f" {'emb/Solr':>9s}")
        for name in times:
            requests_made = len(times[name]["embedded"])
            used = {label: cpu_used.get(name, {}).get(label, 0.0) / requests_made * 1000 for label in clocks}
            line = f"{name:44s} " + " ".join(f"{used[label]:10.2f}" for label in clocks)
            if "Solr" in used and used["Solr"]:
                line += f" {used['embedded'] / used['Solr']:9.2f}"
            print(line)


def bench_embedded(args, store_path: str, solr: SolrIndex | None, solr_pid: int | None = None) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-index-") as tmp:
        path = Path(tmp) / "index.sqlite"
        context = multiprocessing.get_context("spawn")
        rows, peaks = [], []
        for run in range(args.rebuilds):
            results = context.Queue()
            child = context.Process(
                target=_rebuild_in_child, args=(store_path, str(path), args.workers, results)
            )
            child.start()
            items, seconds, peak, cpu, children, failed = results.get()
            child.join()
            if failed or child.exitcode:
                raise SystemExit("the embedded rebuild failed")
            phase = Phase(f"run {run + 1}: embedded index --full", items, seconds, peak)
            live, on_disk = index_bytes(path, items)
            peaks.append(peak)
            rows.append(
                (
                    phase.name,
                    phase,
                    f"CPU/doc: feeder {cpu / items * 1e6:.0f} us, builder {children / items * 1e6:.0f} us; "
                    f"index {live:,.0f} B/doc live, {on_disk:,.0f} B/doc file+WAL; "
                    f"load {os.getloadavg()[0]:.1f}",
                ),
            )
        print_rows(f"Embedded index: {args.rebuilds} successive full rebuilds, each in a new process", rows)
        print(
            "\npeak anonymous memory of rebuilds 2.. relative to the first: "
            + ", ".join(f"{peak / peaks[0]:.2f}" for peak in peaks[1:])
            + " (goal ≤ 1.10)"
        )
        backend = SqliteIndex(path)
        latencies, first = [], None
        for i in range(args.queries):
            query = dict(QUERIES[i % len(QUERIES)])
            query.update({"facet": "true", "facet.field": FACETS, "rows": 10})
            started = time.perf_counter()
            backend.select(query)
            elapsed = (time.perf_counter() - started) * 1000
            if first is None:
                first = elapsed
            else:
                latencies.append(elapsed)
        latencies.sort()
        p50 = statistics.median(latencies)
        p95 = latencies[max(0, int(len(latencies) * 0.95) - 1)]
        print(
            f"\n3-facet queries ({', '.join(FACETS)}; {len(QUERIES)} kinds, rows=10) "
            f"at {backend.count()} documents: "
            f"p50 {p50:.1f} ms, p95 {p95:.1f} ms (goal p95 <= 50 ms); first query after the feed "
            f"{first:.0f} ms (loads the facet columns)"
        )
        served = Served(path, backend.name) if args.http else None
        try:
            side_by_side(backend, served, solr, args.rounds, solr_pid)
        finally:
            if served is not None:
                served.stop()
        backend.close()


def main() -> None:
    global BATCH
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3, help="Solr feed runs (each beside its baseline)")
    parser.add_argument("--rebuilds", type=int, default=3, help="successive embedded full rebuilds")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=40, help="side-by-side rounds over the query kinds")
    parser.add_argument("--solr-url", help="a Solr base URL (…/solr) with the contentcloud configset")
    parser.add_argument("--senders", type=int, default=2, help="update requests the feeder keeps in flight")
    parser.add_argument(
        "--workers", type=int, default=1, help="document builder processes (0: in the feeder)"
    )
    parser.add_argument("--batch", type=int, default=500, help="documents per update request (both sides)")
    parser.add_argument("--no-solr", action="store_true")
    parser.add_argument("--no-embedded", action="store_true")
    parser.add_argument("--no-writer", action="store_true", help="skip the embedded writer-only feed")
    parser.add_argument(
        "--no-http",
        dest="http",
        action="store_false",
        help="side by side without the embedded index served over HTTP by contentcloud serve",
    )
    args = parser.parse_args()
    BATCH = args.batch
    profile = load_profile(ROOT / "mappings" / "index" / "pe.yaml")
    print(f"load average at the start: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="bench-mdstore-") as tmp:
        store_path = f"{tmp}/mdstore.sqlite"
        with measure("load the MDStore") as load:
            store, datasource = load_store(store_path, args.records)
            load.items = args.records
        docs, build = build_all(store, datasource, profile)
        # The baseline's pre-built documents are millions of long-lived objects; left to the collector,
        # every full collection the feed triggers would walk them all, a cost a real feed (which holds
        # one page at a time) never pays. Freeze them out of the collector's sight.
        gc.collect()
        gc.freeze()
        print_rows(
            f"Set-up: {args.records} PE records",
            [
                (load.name, load, "not part of the comparison"),
                (build.name, build, "profile on pyoxigraph, 1 core"),
            ],
        )
        server, solr, solr_home = None, None, None
        try:
            if not args.no_solr:
                solr_base = args.solr_url
                if solr_base is None:
                    from tests.servers import start_solr

                    solr_home = tempfile.mkdtemp(prefix="bench-solr-")  # ~200 MB at 100,000 documents
                    server = start_solr(solr_home, cores=())
                    solr_base = server.url
                solr = bench_solr(args, store, datasource, profile, docs, solr_base, server)
            if not args.no_embedded and not args.no_writer:
                phase = writer_only(docs)
                print_rows("Embedded writer alone", [(phase.name, phase, "analysis + SQLite, this process")])
            del docs
            if not args.no_embedded:
                bench_embedded(args, store_path, solr, server.pid if server is not None else None)
        finally:
            if solr is not None:
                solr.close()
            if server is not None:
                server.stop()
            if solr_home is not None:
                shutil.rmtree(solr_home, ignore_errors=True)
        store.close()


if __name__ == "__main__":
    main()
