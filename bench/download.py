"""File download throughput: the full download step (records in the MDStore → URLs by XPath →
polite, checked, streamed downloads → content-addressed store → ledger) side by side with the
baseline of a bare ``requests`` loop at the same concurrency.

    python bench/download.py [--files 5000] [--size 100000] [--workers 8] [--rounds 5]

The files are served by a separate process (a threaded HTTP/1.1 server, keep-alive, one thread
per connection) that builds each ~100 KB body from a block made before the clock starts, each
file distinct. Baseline: a ``ThreadPoolExecutor`` with the same number of workers, each thread
with its own ``requests.Session`` (keep-alive, as ours), doing ``session.get(url)`` and writing
the body to a file (no fsync); the same with plain ``requests.get`` (a new connection per file,
as the issue words it) runs beside it. Ours runs three times per round, one per ``fsync`` mode of
the local store: ``group`` (the default: files made durable in shared batches before they get
their address), ``each`` (an fsync per file and per directory entry) and ``false`` (page-cache
writes, as the baseline; not safe against a power cut), which separates the cost of durability
from the cost of the machinery. Each round runs all five on fresh directories, in a rotated
order; the median of the per-round ratios is printed (goal of issue 9: ≥ 0.8 of the baseline).
Peak memory (anonymous RSS growth) is measured for a quarter and all of the files, each in a
fresh process, to show it does not grow with the number of files.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import measure, print_rows  # noqa: E402

DC = "http://purl.org/dc/elements/1.1/"


def serve(size: int, ready) -> None:
    """The file server process: ``/f/<n>`` is ``size`` bytes, its first 8 bytes the number n."""
    block = os.urandom(size)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            number = int(self.path.rsplit("/", 1)[1])
            body = number.to_bytes(8, "big") + block[8:]
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", f'"{number}"')
            self.end_headers()
            self.wfile.write(body)

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 256

    server = Server(("127.0.0.1", 0), Handler)
    ready.send(server.server_address[1])
    server.serve_forever()


def urls(base: str, files: int) -> list[str]:
    return [f"{base}/f/{n}" for n in range(files)]


def bare_requests(base: str, files: int, workers: int, out: Path, *, keep_alive: bool = True) -> int:
    """The baseline: a thread pool doing GETs and writing each body to a file.

    With ``keep_alive`` each thread has its own ``requests.Session`` (connections reused, as
    ours); without, each file is a plain ``requests.get`` (a new connection per file), as the
    issue words the baseline.
    """
    import requests

    local = threading.local()

    def fetch(n_url: tuple[int, str]) -> int:
        n, url = n_url
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session() if keep_alive else requests
        response = session.get(url, timeout=60)
        response.raise_for_status()
        (out / str(n)).write_bytes(response.content)
        return len(response.content)

    with ThreadPoolExecutor(workers) as pool:
        return sum(pool.map(fetch, enumerate(urls(base, files))))


def prepare_store(base: str, files: int, workdir: Path):
    """A native unit of ``files`` records, one URL each (built before the clock starts)."""
    from contentcloud.datasources import profile_from_dict
    from mdstore import RecordInput, open_store

    datasource = profile_from_dict(
        {
            "id": "bench",
            "name": "bench",
            "nsprefix": "bench",
            "api": {"protocol": "oai", "baseurl": "http://127.0.0.1:9/oai", "metadata_prefix": "oai_dc"},
            "download": {
                "xpath": "//dc:identifier",
                "namespaces": {"dc": DC},
                "allow": {"networks": ["127.0.0.1/32"]},
                "concurrency": WORKERS,
                "per_host": WORKERS,
                "timeout": 60,
            },
        }
    )
    uri = f"sqlite:///{workdir / 'mdstore.sqlite'}"
    with open_store(uri) as store:
        tx = store.begin(datasource.native_unit, "full", nsprefix="bench")
        tx.upsert(
            RecordInput(
                f"rec-{n}",
                f'<r xmlns:dc="{DC}"><dc:title>file {n}</dc:title><dc:identifier>{url}</dc:identifier></r>',
            )
            for n, url in enumerate(urls(base, files))
        )
        tx.commit()
    return datasource, uri


def contentcloud_download(datasource, uri: str, workdir: Path, *, fsync: str = "group") -> tuple[int, int]:
    """The whole download step into a fresh local store with the given ``fsync`` mode."""
    from contentcloud.pipeline.download import download
    from harvesters.download import Ledger, LocalFileStore
    from mdstore import open_store

    files = LocalFileStore(workdir / f"files-{fsync}", fsync=fsync)
    try:
        with open_store(uri) as store, Ledger(workdir / f"ledger-{fsync}.sqlite") as ledger:
            summary = download(store, datasource, files=files, ledger=ledger)
    finally:
        files.close()
    assert str(summary.outcome) == "finished", summary.text()
    return summary.extra["downloaded"], summary.extra["bytes"]


WORKERS = 8


def _probe(base: str, files: int, conn) -> None:
    import contentcloud.pipeline.download  # noqa: F401 - imports are not part of the run's memory
    import harvesters.download  # noqa: F401

    with tempfile.TemporaryDirectory() as tmp:
        datasource, uri = prepare_store(base, files, Path(tmp))
        with measure(f"{files} files") as phase:
            phase.items, _ = contentcloud_download(datasource, uri, Path(tmp))
    conn.send(phase)


def fresh_process_download(base: str, files: int):
    spawn = multiprocessing.get_context("spawn")
    receive, send = spawn.Pipe(duplex=False)
    process = spawn.Process(target=_probe, args=(base, files, send))
    process.start()
    phase = receive.recv()
    process.join()
    return phase


#: what a round runs: label, note, kind (a baseline loop, or ours with that fsync mode)
VARIANTS: list[tuple[str, str, str]] = [
    ("bare requests loop (baseline)", "a session per thread", "session"),
    ("bare requests.get loop", "a new connection per file", "get"),
    ("contentcloud download", "group commit (the default)", "group"),
    ("contentcloud, ?fsync=each", "fsync per file", "each"),
    ("contentcloud, ?fsync=false", "no fsync", "none"),
]


def run_round(base: str, args, round_no: int) -> dict[str, object]:
    """All variants on fresh directories, in an order rotated by round (no variant always runs
    first or after the same one). Between them, untimed, a ``sync``: each starts with no dirty
    pages of the one before, which a later fsync or syncfs would otherwise pay for."""
    phases: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        datasource, uri = prepare_store(base, args.files, work)
        shift = (round_no - 1) % len(VARIANTS)
        for label, _note, kind in VARIANTS[shift:] + VARIANTS[:shift]:
            os.sync()
            with measure(label) as phase:
                if kind in ("session", "get"):
                    out = work / f"bare-{kind}"
                    out.mkdir()
                    size = bare_requests(base, args.files, args.workers, out, keep_alive=kind == "session")
                    phase.items = args.files
                else:
                    phase.items, size = contentcloud_download(datasource, uri, work, fsync=kind)
            assert size == args.files * args.size, (label, size)
            phases[label] = phase
    return phases


def main() -> int:
    global WORKERS
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=5000)
    ap.add_argument("--size", type=int, default=100_000)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--no-memory", action="store_true", help="skip the fresh-process memory runs")
    args = ap.parse_args()
    WORKERS = args.workers
    receive, send = multiprocessing.Pipe(duplex=False)
    process = multiprocessing.Process(target=serve, args=(args.size, send), daemon=True)
    process.start()
    base = f"http://127.0.0.1:{receive.recv()}"
    total_mb = args.files * args.size / 2**20
    baseline_label = VARIANTS[0][0]
    plain_label = VARIANTS[1][0]
    rows: list = []
    ratios: dict[str, list[float]] = {label: [] for label, _, _ in VARIANTS[1:]}
    vs_plain: list[float] = []
    try:
        for round_no in range(1, args.rounds + 1):
            phases = run_round(base, args, round_no)
            bare = phases[baseline_label]
            for label, note, _kind in VARIANTS:
                phase = phases[label]
                text = f"{total_mb / phase.seconds:.1f} MB/s; {note}"
                if label != baseline_label:
                    ratios[label].append(phase.rate / bare.rate)
                    text += f"; ratio {phase.rate / bare.rate:.2f}"
                rows.append((f"round {round_no}: {label}", phase, text))
            vs_plain.append(phases[VARIANTS[2][0]].rate / phases[plain_label].rate)
        if not args.no_memory:
            for files in (args.files // 4, args.files):
                phase = fresh_process_download(base, files)
                rows.append(
                    (
                        f"memory: {files} files, fresh process",
                        phase,
                        f"{files * args.size / 2**20 / phase.seconds:.1f} MB/s",
                    )
                )
        print_rows(f"File download, {args.files} files of {args.size} bytes, {args.workers} workers", rows)
        print(f"\nmedian ratio / bare requests loop over {args.rounds} rounds (goal of issue 9: >= 0.80):")
        for label, values in ratios.items():
            spread = f"{min(values):.2f} to {max(values):.2f}"
            print(f"  {label:32s} {statistics.median(values):.2f}  (rounds: {spread})")
        print(f"  {'default vs plain requests.get':32s} {statistics.median(vs_plain):.2f}")
    finally:
        process.terminate()
        process.join()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
