"""RDF store load rate: N transformed PE records → the datasource's graph, side by side with a bare
bulk load of the same N-Triples; then the p95 latency of three typical queries at N records.

    python bench/rdf.py [--records 20000] [--repeat 3] [--fuseki] [--queries 30]

* **embedded**: the real step (``contentcloud.pipeline.rdf.load_rdf`` with ``full=True``): read the
  MDStore version under a lease, take each record's lines (split: the version is marked as the
  transform step marks a version whose every record its pyoxigraph conversion wrote, which the
  default XSLT chain's are; the bodies are written by that conversion here too), count them in the
  ledger, bulk-load into the primary, publish a snapshot.
* **baseline**: ``pyoxigraph.Store.bulk_load`` of the records' bodies concatenated (the same
  N-Triples, already in memory) into a fresh on-disk store's named graph, then ``flush``.
* ``--fuseki``: the same load through the production backend into the Fuseki test server, against a
  raw Graph Store Protocol ``PUT`` of the same N-Triples (one request).

``--again``: after each embedded load, a second full load of the same records over the graph it
loaded (a rebuild of a live source), printed on its own row. ``--unmarked``: then the same load of
the version without the transform step's mark (what a chain whose last step writes N-Triples
itself gets: each record parsed and written again by pyoxigraph), on its own row.

Runs alternate; the ratio is the median of the paired ratios. Printed per run: records/s, CPU
seconds of this process (all threads), peak anonymous memory growth, and the load average (the
machine is shared), and the embedded ratio per CPU second too. The last run's graphs stay loaded for
the query latencies (embedded in process; Fuseki through the SPARQL backend, over HTTP). Goals
(issue 20): embedded ≥ 0.8 × bulk load; Fuseki ≥ 0.8 × raw PUT.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pyoxigraph as ox  # noqa: E402
import requests  # noqa: E402

from bench._common import measure  # noqa: E402
from contentcloud.datasources import profile_from_dict  # noqa: E402
from contentcloud.pipeline.rdf import load_rdf  # noqa: E402
from contentcloud.pipeline.transform import NTRIPLES_FORM  # noqa: E402
from mdstore import RecordInput, open_store  # noqa: E402
from provision.rdf.embedded import EmbeddedRdf  # noqa: E402
from tests.pe_records import CRM, PE, pe_records  # noqa: E402
from transforms.rdf import convert, ntriples_form  # noqa: E402

BASE = "https://contentcloud.example/pe/"
QUERIES = {
    "by type": f"SELECT ?s WHERE {{ ?s a <{PE}PE22_Persistent_Dataset> }} LIMIT 100",
    "by actor": (
        f"SELECT ?s WHERE {{ ?s <{CRM}P94i_was_created_by>/<{CRM}P14_carried_out_by> ?a . "
        '?a <http://www.w3.org/2000/01/rdf-schema#label> "DANS" } LIMIT 100'
    ),
    "by time-span": (
        f"SELECT ?s ?b WHERE {{ ?s <{CRM}P4_has_time-span> ?t . ?t <{CRM}P82a_begin_of_the_begin> ?b "
        'FILTER(?b >= "0100" && ?b < "0200") } LIMIT 100'
    ),
}


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def datasource():
    return profile_from_dict({
        "id": "ads", "name": "ADS", "nsprefix": "ads",
        "api": {"protocol": "oai", "baseurl": "http://127.0.0.1:1/oai", "metadata_prefix": "oai_dc"},
    })  # fmt: skip


def row(label: str, records: int, seconds: float, cpu_s: float, peak: float, extra: str = "") -> dict:
    load = os.getloadavg()[0]
    print(
        f"{label:34s} {records / seconds:9.0f} rec/s  {seconds:7.2f} s  cpu {cpu_s:7.2f} s  "
        f"peak {peak:7.1f} MB  load {load:4.1f}  {extra}",
        flush=True,
    )
    return {"rate": records / seconds, "seconds": seconds, "cpu": cpu_s, "peak": peak, "load": load}


def run_embedded(
    store, work: Path, n: int, run: int, *, keep: bool = False, again: bool = False
) -> tuple[dict, EmbeddedRdf | None]:
    """The step's full load into a fresh store; ``again``: then a second full load over the loaded
    graph (what ``contentcloud rdf DS --full`` does to a live source); ``keep``: the loaded store is
    returned (queries)."""
    target = work / f"embedded-{run}"
    backend = EmbeddedRdf(target, base=BASE)
    c0 = cpu()
    with measure("embedded") as m:
        summary = load_rdf(store, datasource(), backend, full=True)
    assert summary.written == n, summary.message
    result = row(
        "embedded (rdf step, full)",
        n,
        m.seconds,
        cpu() - c0,
        m.peak_mb,
        f"{summary.extra['triples']} triples, ledger {ledger_mb(target):.0f} MB",
    )
    if again:
        c0 = cpu()
        with measure("embedded again") as m:
            summary = load_rdf(store, datasource(), backend, full=True)
        assert summary.written == n, summary.message
        result["again"] = row(
            "embedded, full over the loaded graph",
            n,
            m.seconds,
            cpu() - c0,
            m.peak_mb,
            f"{summary.extra['triples']} triples",
        )
    if keep:
        return result, backend
    backend.close()
    shutil.rmtree(target, ignore_errors=True)
    return result, None


def ledger_mb(target: Path) -> float:
    """The ledger's size on disk (its file and write-ahead log)."""
    files = [target / "ledger.sqlite", target / "ledger.sqlite-wal"]
    return sum(f.stat().st_size for f in files if f.exists()) / 2**20


def run_unmarked(store, version: str, work: Path, n: int, run: int) -> dict:
    """The step's full load of the same version without its mark (each record canonicalized)."""
    target = work / f"unmarked-{run}"
    backend = EmbeddedRdf(target, base=BASE)
    store.add_to_report(version, **{NTRIPLES_FORM: None})
    try:
        c0 = cpu()
        with measure("unmarked") as m:
            summary = load_rdf(store, datasource(), backend, full=True)
    finally:
        store.add_to_report(version, **{NTRIPLES_FORM: ntriples_form()})
    assert summary.written == n, summary.message
    result = row("embedded, version not marked", n, m.seconds, cpu() - c0, m.peak_mb)
    backend.close()
    shutil.rmtree(target, ignore_errors=True)
    return result


def run_baseline(data: bytes, work: Path, n: int, run: int) -> dict:
    target = work / f"bare-{run}"
    c0 = cpu()
    with measure("baseline") as m:
        bare = ox.Store(str(target))
        bare.bulk_load(data, ox.RdfFormat.N_TRIPLES, to_graph=ox.NamedNode(f"{BASE}graph/ads"), lenient=True)
        bare.flush()
        del bare
    result = row("baseline (bare bulk_load)", n, m.seconds, cpu() - c0, m.peak_mb)
    shutil.rmtree(target, ignore_errors=True)
    return result


def run_fuseki(store, url: str, work: Path, n: int, run: int, *, keep: bool = False) -> tuple[dict, Any]:
    """The step's full load into Fuseki; ``keep``: the loaded backend is returned (queries)."""
    from provision.rdf.gsp import SparqlRdf

    backend = SparqlRdf(url, base=BASE, ledger_path=work / f"ledger-{run}.sqlite", timeout=600)
    backend.update("DROP ALL")
    c0 = cpu()
    with measure("fuseki") as m:
        summary = load_rdf(store, datasource(), backend, full=True)
    assert summary.written == n, summary.message
    result = row("fuseki (rdf step, full)", n, m.seconds, cpu() - c0, m.peak_mb)
    if keep:
        return result, backend
    backend.update("DROP ALL")
    backend.close()
    return result, None


def run_put(data: bytes, url: str, n: int) -> dict:
    requests.post(f"{url}/update", data={"update": "DROP ALL"}, timeout=600).raise_for_status()
    c0 = cpu()
    with measure("put") as m:
        response = requests.put(f"{url}/data", params={"graph": f"{BASE}graph/ads"}, data=data,
                                headers={"Content-Type": "application/n-triples"}, timeout=600)  # fmt: skip
        response.raise_for_status()
    result = row("baseline (raw GSP PUT)", n, m.seconds, cpu() - c0, m.peak_mb)
    requests.post(f"{url}/update", data={"update": "DROP ALL"}, timeout=600).raise_for_status()
    return result


def query_latencies(label: str, backend: Any, repeat: int) -> None:
    """p50/p95 of each query over the loaded graph (after one unmeasured warm-up run each)."""
    print(f"\nquery latency at {backend.state('ads').records} records ({label}, ms):")
    for name, query in QUERIES.items():
        backend.query(query, accept="application/sparql-results+json")
        times = []
        rows = 0
        for _ in range(repeat):
            t0 = time.perf_counter()
            answer = backend.query(query, accept="application/sparql-results+json")
            times.append((time.perf_counter() - t0) * 1000)
            rows = len(json.loads(answer.body)["results"]["bindings"])
        times.sort()
        p95 = times[min(len(times) - 1, int(round(0.95 * len(times))) - 1)]
        print(f"  {name:14s} p50 {statistics.median(times):7.1f}  p95 {p95:7.1f}  ({rows} rows)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--queries", type=int, default=30, help="runs of each query for the p95 (0: none)")
    parser.add_argument("--fuseki", action="store_true", help="also load into the Fuseki test server")
    parser.add_argument(
        "--fuseki-heap", default="4g", help="the Fuseki test server's -Xmx (in-memory dataset)"
    )
    parser.add_argument("--workdir", type=Path, help="default: a temporary directory")
    parser.add_argument(
        "--again", action="store_true", help="after each embedded load, a second full load over its graph"
    )
    parser.add_argument(
        "--unmarked",
        action="store_true",
        help="also the embedded load of the version without the transform step's mark",
    )
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-rdf-"))
    work.mkdir(parents=True, exist_ok=True)
    n = args.records
    # as the transform step's conversion writes them (the synthetic records are close to it already)
    records = [
        (oid, convert(body.encode(), "ntriples", "ntriples")) for oid, body in pe_records(n, prefix="ads")
    ]
    data = b"".join(body for _, body in records)
    triples = data.count(b"\n")
    print(f"{n} records, {triples} triples ({len(data) / 2**20:.1f} MB of N-Triples); work in {work}")
    server = None
    with open_store(f"sqlite:///{work / 'mdstore.sqlite'}") as store:
        tx = store.begin(datasource().transformed_unit, "full", stamp="transformed", nsprefix="ads")
        tx.upsert(RecordInput(oid, body) for oid, body in records)
        version = tx.commit(report={NTRIPLES_FORM: ntriples_form()}).id  # what the transform step writes
        del records
        if args.fuseki:
            from tests.servers import start_fuseki

            server = start_fuseki(max_heap=args.fuseki_heap, startup_timeout=300)
        ratios, cpu_ratios, fuseki_ratios = [], [], []
        loaded: list[tuple[str, Any]] = []
        try:
            for run in range(args.repeat):
                print(f"\nrun {run + 1}/{args.repeat}")
                keep = bool(args.queries) and run == args.repeat - 1  # the last run's graph is queried
                base = run_baseline(data, work, n, run)
                embedded, kept = run_embedded(store, work, n, run, keep=keep, again=args.again)
                ratios.append(embedded["rate"] / base["rate"])
                if args.unmarked:
                    unmarked = run_unmarked(store, version, work, n, run)
                    print(f"  not marked / bare bulk load: {unmarked['rate'] / base['rate']:.2f}")
                cpu_ratios.append(base["cpu"] / embedded["cpu"])
                if kept is not None:
                    loaded.append(("embedded, in process", kept))
                if server is not None:
                    put = run_put(data, server.url, n)
                    fuseki, kept = run_fuseki(store, server.url, work, n, run, keep=keep)
                    fuseki_ratios.append(fuseki["rate"] / put["rate"])
                    if kept is not None:
                        loaded.append(("Fuseki, through the SPARQL backend over HTTP", kept))
            for label, backend in loaded:
                query_latencies(label, backend, args.queries)
        finally:
            for _, backend in loaded:
                backend.close()
            if server is not None:
                server.stop()
        print(f"\nembedded / bare bulk load: median {statistics.median(ratios):.2f} "
              f"(runs: {', '.join(f'{r:.2f}' for r in ratios)}); goal >= 0.8")  # fmt: skip
        print(f"  per CPU second: median {statistics.median(cpu_ratios):.2f} "
              f"(runs: {', '.join(f'{r:.2f}' for r in cpu_ratios)})")  # fmt: skip
        if fuseki_ratios:
            print(f"fuseki / raw PUT: median {statistics.median(fuseki_ratios):.2f} "
                  f"(runs: {', '.join(f'{r:.2f}' for r in fuseki_ratios)}); goal >= 0.8")  # fmt: skip
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
