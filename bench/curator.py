"""Curator workbench throughput: coverage and diff over a whole native version (issue 8).

Builds an SQLite MDStore with ``--records`` realistic oai_dc records (``bench.transform.oai_dc_record``,
in their OAI envelope), transforms them once with the shipped chain (``oai_dc2pe.xsl``, the demo
profile's) so a transformed version exists, then measures:

* coverage with the shipped XSLT (reads found by tracing), and with the shipped X3ML mapping
  (reads from its XPaths);
* diff of a draft (the shipped stylesheet without its subject links) against the transformed
  version: the draft applied to every record, both outputs parsed and compared as graphs;
* beside them, the floor they stand on: streaming and parsing every native record (bare lxml),
  and the transform step that made the transformed version.

Goal (issue 8): coverage and diff each under 60 s on 20,000 records on this machine.

    python bench/curator.py [--records 20000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import Phase, measure, print_rows  # noqa: E402
from bench.transform import oai_dc_record  # noqa: E402
from contentcloud.pipeline.transform import transform  # noqa: E402
from mdstore import RecordInput, UnitKey, open_store  # noqa: E402
from transforms.curation.coverage import coverage  # noqa: E402
from transforms.curation.rdfdiff import diff_version  # noqa: E402
from transforms.payload import parse_xml  # noqa: E402
from transforms.registry import build_chain  # noqa: E402
from transforms.xslt import run_params  # noqa: E402

MAPPINGS = Path(__file__).resolve().parent.parent / "mappings"
NATIVE = UnitKey("bench", "oai_dc")
TRANSFORMED = UnitKey("bench", "PE", "store", "transformed")
BUDGET_SECONDS = 60.0


def shipped_chain():
    return build_chain(
        [{"type": "xslt", "mapping": "oai_dc2pe.xsl"}], base_dir=MAPPINGS, params=run_params("bench")
    )


def x3ml_chain():
    return build_chain(
        [{"type": "x3ml", "mapping": "oai_dc2pe.x3ml", "policy": "policies/contentcloud-policy.xml"}],
        base_dir=MAPPINGS,
        params=run_params("bench"),
    )


def draft_chain(tmp: Path):
    """The shipped stylesheet without its P129 subject links, run from a copy of mappings/ as drafts are."""
    import shutil

    root = tmp / "mappings"
    shutil.copytree(MAPPINGS, root)
    text = (MAPPINGS / "oai_dc2pe.xsl").read_text()
    start = text.index('      <xsl:for-each select="dc:subject[normalize-space()]">')
    end = text.index("</xsl:for-each>", start) + len("</xsl:for-each>")
    (root / "draft.xsl").write_text(text[:start] + text[end:])
    return build_chain([{"type": "xslt", "mapping": "draft.xsl"}], base_dir=root, params=run_params("bench"))


def prepare(store, records: int) -> Phase:
    tx = store.begin(NATIVE, "full", nsprefix="bench")
    tx.upsert(RecordInput(f"oai:bench.example.org:{i}", oai_dc_record(i)) for i in range(records))
    tx.commit()
    with measure("transform step (makes the transformed version)") as phase:
        summary = transform(store, NATIVE, TRANSFORMED, shipped_chain(), datasource="bench", nsprefix="bench")
        phase.items = summary.read
    assert summary.errors == 0, summary.first_errors
    return phase


def stream_and_parse(store) -> Phase:
    with measure("baseline: stream + parse every record") as phase, store.reader(NATIVE) as view:
        for record in view.records(deleted=False):
            parse_xml(record.body_bytes())
            phase.items += 1
    return phase


def run_coverage(store, chain, label: str) -> tuple[Phase, str]:
    with measure(label) as phase:
        report = coverage(store, NATIVE, chain)
        phase.items = report.records
    unread = ", ".join(row.path for row in report.unread)
    return phase, f"{len(report.rows)} paths; not read: {unread}; {report.method_note}"


def run_diff(store, chain) -> tuple[Phase, str]:
    with measure("diff (draft vs transformed version)") as phase:
        report = diff_version(store, NATIVE, TRANSFORMED, chain, current_format="ntriples")
        phase.items = report.total
    counts = {k: v for k, v in report.counts.items() if v}
    return phase, f"{counts}; -{report.removed} +{report.added} triples"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, open_store(f"sqlite:///{tmp}/bench.sqlite") as store:
        made = prepare(store, args.records)
        runs: dict[str, list[tuple[Phase, str]]] = {}
        xslt, x3ml, draft = shipped_chain(), x3ml_chain(), draft_chain(Path(tmp))
        for _ in range(args.repeat):
            runs.setdefault("floor", []).append((stream_and_parse(store), ""))
            runs.setdefault("coverage-xslt", []).append(
                run_coverage(store, xslt, "coverage, XSLT (traced reads)")
            )
            runs.setdefault("coverage-x3ml", []).append(
                run_coverage(store, x3ml, "coverage, X3ML (static reads)")
            )
            runs.setdefault("diff", []).append(run_diff(store, draft))
    rows = [("transform step (makes the transformed version)", made, "once")]
    verdicts = []
    for key, measured in runs.items():
        median = sorted(measured, key=lambda m: m[0].seconds)[len(measured) // 2]
        phase, note = median
        spread = f"median of {len(measured)}: {statistics.median(m[0].seconds for m in measured):.2f}s"
        rows.append((phase.name, phase, f"{spread}; {note}"))
        if key != "floor":
            verdicts.append(
                f"{phase.name}: {phase.seconds:.1f} s "
                f"({'within' if phase.seconds < BUDGET_SECONDS else 'OVER'} the "
                f"{BUDGET_SECONDS:.0f} s budget)"
            )
    print_rows(f"Curator workbench, {args.records} records (sqlite MDStore)", rows)
    print()
    for verdict in verdicts:
        print(verdict)


if __name__ == "__main__":
    main()
