"""OAI-PMH publisher: full-harvest throughput, deep-page latency and 50 concurrent harvesters.

    python bench/oai.py [--records 200000] [--clients 50] [--workdir DIR]

Builds an MDStore of N oai_dc records (~1 KB) in one datasource, refreshes the publisher index
(``contentcloud publish``'s step), starts the real server (``contentcloud serve``, waitress) in a
subprocess on 127.0.0.1, then measures from this process:

* a full ListRecords harvest (resumption tokens, 100 records a page, keep-alive HTTP);
* the latency of page 1 and of the page at record 190,000 (re-sending its token returns the
  same page), median of 15 each;
* N concurrent harvesting clients, each harvesting one disjoint from/until window to the end
  (together the whole repository once), counting HTTP errors and 503 retries.

Goals (issue 6): throughput ≥ 2,000 records/s; deep/first page latency ratio ≤ 1.5 (keyset
paging); 50 concurrent clients with no errors. ``--workdir`` keeps the store and index between
runs (the build is skipped when they are there).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests  # noqa: E402

from bench._common import Phase, measure, print_rows  # noqa: E402
from tests.curator_support import serve_process  # noqa: E402

DC = (
    "<oai_dc:dc xmlns:oai_dc='http://www.openarchives.org/OAI/2.0/oai_dc/' "
    "xmlns:dc='http://purl.org/dc/elements/1.1/'><dc:identifier>oai:bench:{i}</dc:identifier>"
    "<dc:title>Record {i}</dc:title><dc:creator>Creator {c}</dc:creator><dc:date>20{y:02d}</dc:date>"
    "<dc:description>{filler}</dc:description></oai_dc:dc>"
)
PROFILE = """id: bench
name: Benchmark source
nsprefix: bench
api: {protocol: oai, baseurl: "http://bench.example.org/oai", metadata_prefix: oai_dc}
"""
BASE = datetime(2024, 1, 1, tzinfo=UTC)
TOKEN = re.compile(
    rb'<resumptionToken completeListSize="(\d+)" cursor="(\d+)"[^>]*?(?:/>|>([^<]*)</resumptionToken>)'
)


def body(i: int) -> str:
    return DC.format(i=i, c=i % 97, y=i % 25, filler=(hashlib.sha256(str(i).encode()).hexdigest() * 12)[:700])


def build(workdir: Path, n: int, windows: int) -> list[Phase]:
    from contentcloud.pipeline.publish import run_publish
    from contentcloud.settings import load_settings
    from mdstore import RecordInput, UnitKey, open_store

    (workdir / "registry").mkdir(parents=True, exist_ok=True)
    (workdir / "registry" / "bench.yaml").write_text(PROFILE)
    settings = load_settings(environ=env_for(workdir), base_dir=workdir)
    per_window = -(-n // windows)
    with measure("MDStore write (setup)") as write, open_store(settings.mdstore) as store:
        tx = store.begin(UnitKey("bench", "oai_dc"), "full", nsprefix="bench")
        for w in range(windows):  # one datestamp hour per window, for the concurrent clients
            first, last = w * per_window, min(n, (w + 1) * per_window)
            tx.upsert(
                (RecordInput(f"oai:bench:{i:08d}", body(i)) for i in range(first, last)),
                when=BASE + timedelta(hours=w),
            )
        tx.commit()
        write.items = n
    with measure("publish refresh (contentcloud publish)") as refresh:
        summary = run_publish(None, settings)
        refresh.items = summary.written
    return [write, refresh]


def env_for(workdir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "CONTENTCLOUD_MDSTORE": f"sqlite:///{workdir}/mdstore.sqlite",
        "CONTENTCLOUD_REGISTRY": str(workdir / "registry"),
        "CONTENTCLOUD_VAR": str(workdir / "var"),
        "CONTENTCLOUD_OAI_SECRET": "bench-secret",
    }


def start_server(workdir: Path) -> tuple[subprocess.Popen, str]:
    process = serve_process(env_for(workdir), threads=64)
    line = process.stderr.readline()
    match = re.search(r"http://127\.0\.0\.1:\d+/oai", line)
    if not match:
        process.kill()
        raise SystemExit(f"the server did not start: {line}")
    url = match.group(0)
    for _ in range(100):
        try:
            requests.get(url, params={"verb": "Identify"}, timeout=5)
            return process, url
        except requests.ConnectionError:
            time.sleep(0.1)
    raise SystemExit("the server does not answer")


def harvest(
    session: requests.Session,
    url: str,
    params: dict,
    stats: dict | None = None,
    capture_at: int | None = None,
) -> tuple[int, int, str | None]:
    """Follow a list to its end; returns (records, completeListSize, token of the page at capture_at)."""
    count, _total, captured = 0, 0, None
    while True:
        for _attempt in range(60):
            response = session.get(url, params=params, timeout=120)
            if response.status_code == 503:
                if stats is not None:
                    stats["retries"] += 1
                time.sleep(float(response.headers.get("Retry-After", "1")))
                continue
            break
        if response.status_code != 200 or b"<error" in response.content:
            raise RuntimeError(f"HTTP {response.status_code}: {response.content[:300]!r}")
        count += response.content.count(b"<record>")
        match = TOKEN.search(response.content)
        if not match or not match.group(3):
            return count, int(match.group(1)) if match else count, captured
        int(match.group(1))
        if capture_at is not None and captured is None and int(match.group(2)) + 100 >= capture_at:
            captured = params.get("resumptionToken")
        params = {"verb": "ListRecords", "resumptionToken": match.group(3).decode()}


def timed(session: requests.Session, url: str, params: dict, repeat: int = 15) -> float:
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        response = session.get(url, params=params, timeout=60)
        samples.append(time.perf_counter() - t0)
        assert response.status_code == 200
        assert response.content.count(b"<record>") == 100
    return statistics.median(samples)


def server_peak_mb(process: subprocess.Popen) -> float:
    try:
        status = Path(f"/proc/{process.pid}/status").read_text()
        return int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 1024
    except (OSError, AttributeError):
        return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--deep", type=int, default=190_000, help="record whose page is timed against page 1")
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-oai-"))
    rows: list[tuple[str, Phase, str]] = []
    if not (workdir / "var" / "oai.sqlite").exists():
        for phase in build(workdir, args.records, args.clients):
            rows.append((phase.name, phase, "setup"))
    process, url = start_server(workdir)
    try:
        session = requests.Session()
        with measure("full ListRecords harvest") as full:
            count, total, deep_token = harvest(
                session,
                url,
                {"verb": "ListRecords", "metadataPrefix": "oai_dc"},
                capture_at=min(args.deep, args.records - 100),
            )
            full.items = count
        assert count == total == args.records, (count, total)
        rows.append(
            (
                "full ListRecords harvest (1 client)",
                full,
                f"goal ≥ 2000 rec/s: {'OK' if full.rate >= 2000 else 'MISSED'}",
            )
        )
        first = timed(session, url, {"verb": "ListRecords", "metadataPrefix": "oai_dc"})
        deep = timed(session, url, {"verb": "ListRecords", "resumptionToken": deep_token})
        ratio = deep / first
        stats = {"retries": 0}
        errors: list[str] = []
        counts: list[int] = []

        def client(window: int) -> None:
            since = (BASE + timedelta(hours=window)).strftime("%Y-%m-%dT%H:%M:%SZ")
            until = (BASE + timedelta(hours=window, minutes=59, seconds=59)).strftime("%Y-%m-%dT%H:%M:%SZ")
            try:
                got, size, _ = harvest(
                    requests.Session(),
                    url,
                    {"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": since, "until": until},
                    stats,
                )
                if got != size:
                    errors.append(f"window {window}: {got} of {size}")
                counts.append(got)
            except Exception as exc:  # noqa: BLE001 - reported
                errors.append(f"window {window}: {exc!r}")

        with measure(f"{args.clients} concurrent harvesters") as concurrent:
            threads = [threading.Thread(target=client, args=(w,)) for w in range(args.clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            concurrent.items = sum(counts)
        rows.append(
            (
                f"{args.clients} concurrent harvesters (total)",
                concurrent,
                f"errors {len(errors)}, 503 retries {stats['retries']}, records {sum(counts)}/{args.records}",
            )
        )
        peak = server_peak_mb(process)
    finally:
        process.terminate()
        process.wait(10)
    print_rows(f"OAI-PMH publisher, {args.records} records (server peak RSS {peak:.0f} MB)", rows)
    print(
        f"\npage 1 latency {first * 1000:.1f} ms; page at record {args.deep}: {deep * 1000:.1f} ms; "
        f"ratio {ratio:.2f} (goal ≤ 1.5: {'OK' if ratio <= 1.5 else 'MISSED'})"
    )
    print(f"concurrent clients: {args.clients}, errors: {len(errors)} {errors[:3]}")
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
