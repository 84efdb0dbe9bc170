"""The transform step's output is byte-for-byte what it was before N-Triples were written
straight from the XSLT's tree (issue 18).

The golden file holds, per record, the md5 of the body the step stored (the shipped
``oai_dc2pe.xsl`` with the default N-Triples output, over varied oai_dc records: escapes,
quotes, non-ASCII, CR and tabs in text, a record the mapping refuses) and the stored errors. It
was generated with the code of commit 0ee2fed, before the change:
``python -m tests.unit.transforms.test_transform_identical --write`` from a worktree of that
commit. Regenerate it only for a change that means to alter the transformed output.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path

from mdstore import RecordInput, UnitKey, open_store

GOLDEN = Path(__file__).with_name("transform_golden.json")
MAPPINGS = Path(__file__).resolve().parents[3] / "mappings"
TRICKY = [
    ("Record ", "Récord «q» "),
    ("Record ", 'Rec "quoted" \\ back '),
    ("Record ", "Rec &amp; &lt;tag&gt; 'apos' "),
    ("Record ", "Rec&#13;cr&#9;tab&#10;nl "),
    ("Record ", "漢字 \U0001f600 "),
    ("<dc:language>", "<dc:language>EN-gb</dc:language><dc:language>"),
    ("<dc:date>", "<dc:date>not a date</dc:date><dc:date>"),
]


def _bodies() -> list[tuple[str, bytes]]:
    from bench.transform import oai_dc_record

    bodies = [(f"oai:bench:{i}", oai_dc_record(i)) for i in range(60)]
    for k, (old, new) in enumerate(TRICKY):
        for i in range(3):
            n = 100 + 3 * k + i
            bodies.append((f"oai:bench:{n}", oai_dc_record(n).replace(old.encode(), new.encode(), 1)))
    bodies.append(("oai:bench:broken", b"<record><metadata>not oai_dc</metadata></record>"))
    return bodies


def transformed_rows(directory: Path) -> dict:
    from contentcloud.pipeline.transform import transform
    from transforms.registry import build_chain
    from transforms.xslt import run_params

    with open_store(f"sqlite:///{directory}/md.sqlite") as store:
        source, target = UnitKey("bench", "oai_dc"), UnitKey("bench", "PE", "store", "transformed")
        tx = store.begin(source, "full", nsprefix="bench")
        tx.upsert(RecordInput(oid, body) for oid, body in _bodies())
        tx.commit()
        chain = build_chain(
            [{"type": "xslt", "mapping": "oai_dc2pe.xsl"}], base_dir=MAPPINGS, params=run_params("bench")
        )
        assert chain.output == "ntriples"
        summary = transform(store, source, target, chain, run_id="golden", max_error_rate=1.0)
        with store.reader(target) as view:
            records = {
                r.id: [r.original_id, r.deleted, hashlib.md5(r.body_bytes()).hexdigest(), r.checksum]
                for r in view.records()
            }
            errors = sorted([e.record_id, e.step, e.message] for e in view.errors())
    return {"records": records, "errors": errors, "read": summary.read, "added": summary.added}


def test_the_transformed_records_are_identical_to_the_golden_ones(tmp_path):
    expected = json.loads(GOLDEN.read_text())
    got = json.loads(json.dumps(transformed_rows(tmp_path)))
    assert got["errors"] == expected["errors"]
    assert got["records"] == expected["records"]
    assert (got["read"], got["added"]) == (expected["read"], expected["added"])
    assert len(got["records"]) == 81


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    with tempfile.TemporaryDirectory() as name:
        GOLDEN.write_text(json.dumps(transformed_rows(Path(name)), indent=0, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN}")
