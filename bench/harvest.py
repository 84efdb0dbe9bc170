"""OAI-PMH harvest throughput: the full collect step into the SQLite MDStore, side by side with
the baseline of a bare sickle loop over the same endpoint that only parses the records.

    python bench/harvest.py [--records 100000] [--page-size 500] [--rounds 3]

The endpoint runs in a separate process (its own core) and serves pages rendered before the
clock starts, so it is not the bottleneck. Each round runs the baseline and the harvest once;
the median ratio is printed. Peak memory is measured in fresh processes for a quarter, half and
all of the list, to show it is bounded: it grows only until the writer's page cache (at most
``GROUPED_CACHE_KIB`` while a group of pages is written) and the prefetched pages (at most
``PREFETCH_PAGES``) are full, not with the number of records beyond.
Goal (issue 3): harvest ≥ 0.8 of the bare loop.
"""

from __future__ import annotations

import argparse
import multiprocessing
import re
import statistics
import sys
import tempfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import measure, print_rows  # noqa: E402

HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><responseDate>2024-01-01T00:00:00Z</responseDate>'
)


def render_record(i: int) -> str:
    return (
        f"<record><header><identifier>oai:bench:{i:07d}</identifier><datestamp>2023-01-01T00:00:00Z"
        f"</datestamp><setSpec>bench</setSpec></header><metadata><oai_dc:dc "
        'xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f"<dc:title>A benchmark record number {i}</dc:title><dc:creator>Author, Some</dc:creator>"
        f"<dc:creator>Other, Author {i % 97}</dc:creator><dc:subject>archaeology</dc:subject>"
        f"<dc:subject>heritage</dc:subject>"
        f"<dc:description>{'Lorem ipsum dolor sit amet. ' * 12}</dc:description>"
        f"<dc:date>20{i % 24:02d}-05-01</dc:date><dc:type>Dataset</dc:type>"
        f"<dc:identifier>https://example.org/record/{i}</dc:identifier><dc:language>en</dc:language>"
        "</oai_dc:dc></metadata></record>"
    )


def render_pages(total: int, page_size: int, name: str) -> dict[str, bytes]:
    return {f"{name}:{p}": body for p, body in _page_bodies(total, page_size, name)}


def _page_bodies(total: int, page_size: int, name: str):
    """(page number, rendered ListRecords response) of a list of ``total`` records, one at a time."""
    count = (total + page_size - 1) // page_size
    for p in range(count):
        records = "".join(render_record(i) for i in range(p * page_size, min(total, (p + 1) * page_size)))
        token = f"{name}:{p + 1}" if p + 1 < count else ""
        xml = (
            f'{HEAD}<request verb="ListRecords">http://bench/oai</request><ListRecords>{records}'
            f'<resumptionToken completeListSize="{total}" cursor="{p * page_size}">{token}</resumptionToken>'
            "</ListRecords></OAI-PMH>"
        )
        yield p, xml.encode()


class _SpooledPages:
    """Rendered pages kept in files of a directory; ``pages[key]`` reads one back."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def put(self, key: str, body: bytes) -> None:
        (self.directory / key.replace(":", "-")).write_bytes(body)

    def __getitem__(self, key: str) -> bytes:
        if not re.fullmatch(r"\w+:\d+", key):  # a token names a page, never a path
            raise KeyError(key)
        try:
            return (self.directory / key.replace(":", "-")).read_bytes()
        except OSError:
            raise KeyError(key) from None


def serve(total: int, page_size: int, ready, *, spool: str | None = None) -> None:
    """The endpoint process: render everything first, then answer from memory.

    With ``spool`` (a directory), only the full list is rendered, page by page into files there,
    and each request reads its page from the file: the pages then sit in the OS page cache, not in
    this process (1,000,000 records of ~1.3 KB would otherwise hold 2.3 GB of anonymous memory
    with the quarter and half lists).
    """
    if spool is not None:
        pages: dict[str, bytes] | _SpooledPages = _SpooledPages(Path(spool))
        for number, body in _page_bodies(total, page_size, "full"):
            pages.put(f"full:{number}", body)
    else:
        pages = render_pages(total, page_size, "full")
        pages.update(render_pages(total // 4, page_size, "quarter"))
        pages.update(render_pages(total // 2, page_size, "half"))
    identify = (
        f'{HEAD}<request verb="Identify">http://bench/oai</request><Identify><repositoryName>bench'
        "</repositoryName><baseURL>http://bench/oai</baseURL><protocolVersion>2.0</protocolVersion>"
        "<adminEmail>a@b.c</adminEmail><earliestDatestamp>2000-01-01T00:00:00Z</earliestDatestamp>"
        "<deletedRecord>persistent</deletedRecord><granularity>YYYY-MM-DDThh:mm:ssZ</granularity>"
        "</Identify></OAI-PMH>"
    ).encode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
            if query.get("verb") == "Identify":
                body = identify
            elif "resumptionToken" in query:
                name, _, number = query["resumptionToken"].partition(":")
                body = pages[f"{name}:{number}"]
            else:
                body = pages[f"{query.get('set', 'full')}:0"]
            self.send_response(200)
            self.send_header("Content-Type", "text/xml; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ready.send(server.server_address[1])
    server.serve_forever()


def bare_sickle(url: str, list_name: str) -> int:
    from sickle import Sickle

    count = 0
    for _ in Sickle(url).ListRecords(metadataPrefix="oai_dc", set=list_name):
        count += 1
    return count


def harvest(url: str, list_name: str) -> tuple[int, int]:
    from contentcloud.datasources import profile_from_dict
    from contentcloud.pipeline.collect import collect
    from mdstore import open_store

    profile = profile_from_dict(
        {
            "id": "bench",
            "name": "bench",
            "nsprefix": "bench",
            "api": {"protocol": "oai", "baseurl": url, "metadata_prefix": "oai_dc", "sets": [list_name]},
        }
    )
    with tempfile.TemporaryDirectory() as tmp, open_store(f"sqlite:///{tmp}/mdstore.sqlite") as store:
        summary = collect(store, profile, environ={})
        assert summary.ok, summary.text()
        return summary.read, summary.pages


def _probe(url: str, list_name: str, conn) -> None:
    import contentcloud.pipeline.collect  # noqa: F401 - imports are not part of the harvest's memory
    import harvesters.oai  # noqa: F401

    with measure(list_name) as phase:
        phase.items, _ = harvest(url, list_name)
    conn.send(phase)


def fresh_process_harvest(url: str, list_name: str):
    """A harvest in a new process, so its peak memory is not hidden by an earlier run's heap."""
    spawn = multiprocessing.get_context("spawn")
    receive, send = spawn.Pipe(duplex=False)
    process = spawn.Process(target=_probe, args=(url, list_name, send))
    process.start()
    phase = receive.recv()
    process.join()
    return phase


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--page-size", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    receive, send = multiprocessing.Pipe(duplex=False)
    process = multiprocessing.Process(target=serve, args=(args.records, args.page_size, send), daemon=True)
    process.start()
    url = f"http://127.0.0.1:{receive.recv()}/oai"
    try:
        ratios, rows = [], []
        for round_no in range(1, args.rounds + 1):
            with measure("sickle") as base:
                base.items = bare_sickle(url, "full")
            with measure("harvest") as ours:
                ours.items, pages = harvest(url, "full")
            assert base.items == ours.items == args.records, (base.items, ours.items)
            ratios.append(ours.rate / base.rate)
            rows += [
                (f"round {round_no}: bare sickle loop (baseline)", base, "parse only"),
                (
                    f"round {round_no}: contentcloud harvest",
                    ours,
                    f"{pages} pages, stored + checkpointed; ratio {ours.rate / base.rate:.2f}",
                ),
            ]
        for list_name in ("quarter", "half", "full"):
            phase = fresh_process_harvest(url, list_name)
            rows.append(
                (
                    f"memory: {phase.items} records, fresh process",
                    phase,
                    "bounded by the page cache and prefetch caps",
                )
            )
        print_rows(f"OAI-PMH harvest, {args.records} oai_dc records in pages of {args.page_size}", rows)
        print(f"\nmedian ratio harvest / bare sickle: {statistics.median(ratios):.2f} (goal >= 0.80)")
    finally:
        process.terminate()
        process.join()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
