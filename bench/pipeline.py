"""End-to-end pipeline: 100,000 records from a local OAI-PMH source to the embedded index.

    python bench/pipeline.py [--records 100000] [--page-size 500] [--parts 1]

The source is the pre-rendered endpoint of ``bench/harvest.py`` in its own process (oai_dc,
~1.3 KB a record). The run goes through the same code the CLI and the Airflow tasks call:
collect (full harvest into the SQLite MDStore), transform (the shipped ``oai_dc2pe.xsl``, split in
``--parts`` parts the way the DAG maps them over workers, here run one after another), index (the
embedded SQLite FTS5 index, full rebuild) and publish (the OAI-PMH publisher snapshot). Prints
records/s per step, peak memory and the total wall time. Goal (issue 7): under 5 minutes on a
2-core machine.
"""

from __future__ import annotations

import argparse
import multiprocessing
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
    args = ap.parse_args()

    receive, send = multiprocessing.Pipe(duplex=False)
    endpoint = multiprocessing.Process(target=serve, args=(args.records, args.page_size, send), daemon=True)
    endpoint.start()
    port = receive.recv()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
            rows, total = run_pipeline(Path(tmp), f"http://127.0.0.1:{port}/oai", args.parts)
    finally:
        endpoint.terminate()
    print_rows(f"pipeline, {args.records} records, OAI-PMH source → embedded index", rows)
    verdict = "within" if total < GOAL_SECONDS else "OVER"
    print(f"\ntotal wall time {total:.1f}s ({verdict} the {GOAL_SECONDS}s goal)")
    return 0


def run_pipeline(tmp: Path, baseurl: str, parts: int):
    from contentcloud.pipeline.collect import run_collect
    from contentcloud.pipeline.index import run_index
    from contentcloud.pipeline.publish import run_publish
    from contentcloud.pipeline.runs import finish_parts_task, plan_parts_task, run_part_task
    from contentcloud.settings import load_settings

    registry = tmp / "registry"
    registry.mkdir()
    profile = {
        "id": "bench",
        "name": "Pipeline bench",
        "nsprefix": "bench",
        "api": {"protocol": "oai", "baseurl": baseurl, "metadata_prefix": "oai_dc", "sets": ["full"]},
        "transform": {"steps": [{"type": "xslt", "mapping": "oai_dc2pe.xsl"}]},
    }
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


if __name__ == "__main__":
    sys.exit(main())
