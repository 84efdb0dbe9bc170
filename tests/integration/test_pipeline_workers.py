"""``--workers N``: a step's id-range parts run in worker processes give exactly what one worker gives.

Two environments hold the same native records; one is transformed and indexed in this process with
one worker (one part, as a single run has always been), the other through the CLI with
``--workers 2`` (the parts the DAG would map over: ``records_per_part`` 7, so 6 parts of 40
records). The transformed versions (ids, bodies, tombstones, stored errors, stats), the index
documents (but for ``indexed_at``, the time of the feed) and the RDF graph (its triples, the
ledger's records, the state) must be the same, after a full run and after an incremental one with
updates and deletions.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from contentcloud.pipeline.index import run_index
from contentcloud.pipeline.rdf import open_rdf_store, run_rdf
from contentcloud.pipeline.transform import run_transform
from contentcloud.settings import load_settings
from mdstore import RecordInput, UnitKey, open_store
from provision.index.sqlite import SqliteIndex
from tests.cli_runner import run_cli

PROJECT = Path(__file__).resolve().parents[2]
NATIVE = UnitKey("par", "oai_dc")
TRANSFORMED = UnitKey("par", "PE", "store", "transformed")
DC = (
    '<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/">'
    "<dc:title>{title}</dc:title><dc:creator>Author {n}</dc:creator><dc:subject>{subject}</dc:subject>"
    "<dc:identifier>https://example.org/par/{n}</dc:identifier><dc:date>20{year:02d}</dc:date>"
    "<dc:type>dataset</dc:type></oai_dc:dc>"
)
PROFILE = """id: par
name: Parted
nsprefix: par
api: {protocol: oai, baseurl: "http://127.0.0.1:9/oai", metadata_prefix: oai_dc}
transform:
  records_per_part: 7
  steps:
    - {type: xslt, mapping: oai_dc2pe.xsl}
index:
  records_per_part: 7
rdf:
  records_per_part: 7
"""


def dc(n: int, *, version: int = 0) -> str:
    subject = "Archaeology" if n % 3 else "History of art"
    return DC.format(title=f"Record {n} v{version}", n=n, subject=subject, year=n % 25)


def environment(root: Path) -> dict[str, str]:
    root.mkdir()
    (root / "registry").mkdir()
    (root / "registry" / "par.yaml").write_text(PROFILE)
    return {
        "CONTENTCLOUD_MAPPINGS": str(PROJECT / "mappings"),
        "CONTENTCLOUD_MDSTORE": f"sqlite:///{root / 'mdstore.sqlite'}",
        "CONTENTCLOUD_INDEX": f"sqlite:///{root / 'index.sqlite'}",
        "CONTENTCLOUD_REGISTRY": str(root / "registry"),
        "CONTENTCLOUD_VAR": str(root / "var"),
    }


def collect(
    env: dict[str, str], records: dict[str, str], *, deleted: tuple[str, ...] = (), mode="full"
) -> None:
    with open_store(env["CONTENTCLOUD_MDSTORE"]) as store:
        tx = store.begin(NATIVE, mode, nsprefix="par")
        tx.upsert(RecordInput(oid, body) for oid, body in records.items())
        if deleted:
            tx.delete(list(deleted))
        # an incremental run reads records stamped at or after the source's commit (in ms): a commit in
        # the same millisecond as its writes would make the next run read them all again
        time.sleep(0.01)
        tx.commit()


def transformed(env: dict[str, str]) -> dict[str, Any]:
    """Everything the current transformed version holds."""
    with open_store(env["CONTENTCLOUD_MDSTORE"]) as store:
        current = store.current_version(TRANSFORMED)
        info = store.version(current)
        with store.reader(TRANSFORMED, current) as view:
            records = [(r.id, r.original_id, r.deleted, r.body_text()) for r in view.records()]
            errors = sorted((e.record_id, e.message) for e in view.errors())
    stats = {k: v for k, v in info.stats.items() if not k.endswith(("_at", "_datestamp"))}  # write times
    return {"version": current, "records": records, "errors": errors, "stats": stats}


def documents(env: dict[str, str]) -> dict[str, Any]:
    """The index's documents of the datasource (but ``indexed_at``) and its state."""
    with SqliteIndex(Path(env["CONTENTCLOUD_INDEX"].removeprefix("sqlite:///"))) as index:
        docs = index.select({"q": "*:*", "fq": "datasource:par", "rows": 1000, "sort": "id asc"})
        state = index.state("par")
        ids = list(index.ids("par"))
    found = [{k: v for k, v in doc.items() if k != "indexed_at"} for doc in docs["response"]["docs"]]
    fields = ("version", "mode", "live_versions", "count", "errors", "errors_total", "profile_digest")
    return {"ids": ids, "docs": found, "state": [getattr(state, f) for f in fields]}


def graph(env: dict[str, str]) -> dict[str, Any]:
    """The datasource's graph in the embedded RDF store, what the ledger says each record asserted,
    and the state (but its times and run)."""
    backend = open_rdf_store(load_settings(environ=env, base_dir=Path(env["CONTENTCLOUD_REGISTRY"]).parent))
    try:
        state = backend.state("par")
        fields = ("version", "records", "triples", "errors", "errors_total", "loading")
        return {
            "triples": sorted(backend.graph_lines("par")),
            "ledger": list(backend.record_lines("par")),
            "state": [getattr(state, f) for f in fields],
        }
    finally:
        backend.close()


def one_worker(env: dict[str, str], *, mode: str) -> tuple[dict, dict, dict]:
    settings = load_settings(environ=env, base_dir=Path(env["CONTENTCLOUD_REGISTRY"]).parent)
    transform = run_transform("par", settings, mode=mode, workers=1)
    index = run_index("par", settings, workers=1)
    rdf = run_rdf("par", settings, workers=1)
    return transform.as_dict(), index.as_dict(), rdf.as_dict()


def two_workers(env: dict[str, str], *, mode: str, exit_code: int) -> tuple[dict, dict, dict]:
    transform = run_cli("transform", "par", f"--{mode}", "--workers", "2", "--json", env=env)
    assert transform.exit_code == exit_code, transform.output  # 3: finished with record errors
    index = run_cli("index", "par", "--workers", "2", "--json", env=env)
    assert index.exit_code == 0, index.output
    rdf = run_cli("rdf", "par", "--workers", "2", "--json", env=env)
    assert rdf.exit_code == 0, rdf.output
    return json.loads(transform.stdout), json.loads(index.stdout), json.loads(rdf.stdout)


@pytest.mark.integration
def test_two_workers_write_what_one_worker_writes(tmp_path: Path) -> None:
    single, parted = environment(tmp_path / "single"), environment(tmp_path / "parted")
    records = {f"oai:par:{n:03d}": dc(n) for n in range(40)}
    records["oai:par:017"] = "<oai_dc:dc>not XML"  # a record error, in the third part
    for env in (single, parted):
        collect(env, records)

    one_t, one_i, one_r = one_worker(single, mode="full")
    two_t, two_i, two_r = two_workers(parted, mode="full", exit_code=3)
    assert (one_t["extra"]["parts"], two_t["extra"]["parts"]) == (1, 6)  # 40 records, 7 a part
    for key in ("outcome", "read", "written", "added", "errors", "version_out"):
        assert one_t[key] == two_t[key], key
    assert (two_t["read"], two_t["written"], two_t["errors"]) == (40, 39, 1)
    for key in ("outcome", "read", "written", "deleted", "errors", "version_out"):
        assert one_i[key] == two_i[key], key
    assert (two_i["read"], two_i["written"]) == (39, 39)
    assert transformed(single) == transformed(parted)
    assert len(transformed(parted)["records"]) == 39
    assert documents(single) == documents(parted)
    assert len(documents(parted)["docs"]) == 39
    # a first load is a full one: one part, whatever the workers
    assert (one_r["extra"]["mode"], two_r["extra"]["mode"]) == ("full", "full")
    for key in ("outcome", "read", "written", "deleted", "errors", "version_out"):
        assert one_r[key] == two_r[key], key
    assert (two_r["read"], two_r["written"]) == (39, 39)
    assert graph(single) == graph(parted)
    assert len(graph(parted)["ledger"]) == 39

    # an incremental round: 9 records updated (the broken one mended), 3 deleted
    changed = {f"oai:par:{n:03d}": dc(n, version=1) for n in range(5, 40, 4)}
    gone = ("oai:par:002", "oai:par:021", "oai:par:038")
    for env in (single, parted):
        collect(env, changed, deleted=gone, mode="incremental")
    one_t, one_i, one_r = one_worker(single, mode="incremental")
    two_t, two_i, two_r = two_workers(parted, mode="incremental", exit_code=0)
    assert one_t["extra"]["mode"] == two_t["extra"]["mode"] == "incremental"
    # parts are counted from the whole version (as the DAG plans them), cut among the changed ids
    assert (one_t["extra"]["parts"], two_t["extra"]["parts"]) == (1, 6)
    for key in ("outcome", "read", "written", "added", "updated", "deleted", "errors", "version_out"):
        assert one_t[key] == two_t[key], key
    for key in ("outcome", "read", "written", "deleted", "errors", "version_out"):
        assert one_i[key] == two_i[key], key
    assert transformed(single) == transformed(parted)
    assert documents(single) == documents(parted)
    assert len(documents(parted)["docs"]) == 37  # 40, 3 deleted, the broken one mended
    # the RDF load in place: the changed records' triples replaced, the deleted ones' removed, in
    # id-range parts (two of them at once, taking the embedded store's write lock in turn)
    assert one_r["extra"]["mode"] == two_r["extra"]["mode"] == "incremental"
    for key in ("outcome", "read", "written", "deleted", "errors", "version_out"):
        assert one_r[key] == two_r[key], key
    # every record changed within INCREMENTAL_OVERLAP (5 minutes) of the loaded version: all are read
    assert (two_r["read"], two_r["written"], two_r["deleted"]) == (40, 37, 3)
    assert graph(single) == graph(parted)
    assert len(graph(parted)["ledger"]) == 37


@pytest.mark.parametrize("step", ["transform", "index", "rdf"])
def test_a_retried_finish_that_already_committed_reports_success(tmp_path: Path, step: str) -> None:
    """Airflow retries a finish whose first attempt committed but lost its result: the same summary
    comes back (the run is not committed twice, nor reported failed), for every parted step."""
    from contentcloud.pipeline.tasks import finish_parts_task, plan_parts_task, run_part_task

    env = environment(tmp_path / "env")
    collect(env, {f"oai:par:{n:03d}": dc(n) for n in range(20)})
    settings = load_settings(environ=env, base_dir=tmp_path / "env")
    if step == "index":
        run_transform("par", settings, workers=1)
    if step == "rdf":  # a first load is one full part: the parts come with a later, incremental one
        run_transform("par", settings, workers=1)
        run_rdf("par", settings, workers=1)
        collect(env, {f"oai:par:{n:03d}": dc(n, version=1) for n in range(20)}, mode="incremental")
        run_transform("par", settings, mode="incremental", workers=1)
    specs = json.loads(json.dumps(plan_parts_task(step, "par", settings, run_id="r1")))
    assert [spec["part"] for spec in specs] == [0, 1, 2]  # 20 records, 7 a part
    results = [run_part_task(step, "par", settings, spec) for spec in specs]
    first = finish_parts_task(step, "par", settings, specs, results)
    again = finish_parts_task(step, "par", settings, specs, results)
    assert (first["outcome"], again["outcome"]) == ("finished", "finished")
    for key in ("version_out", "read", "written", "added", "errors"):
        assert again[key] == first[key], key
    assert again["message"].endswith("already committed by this run")
    with pytest.raises(Exception, match=r"parts \[2\] have no result"):
        finish_parts_task(step, "par", settings, specs, results[:2])


def test_workers_must_be_at_least_one(tmp_path: Path) -> None:
    env = environment(tmp_path / "env")
    for command in ("transform", "index", "rdf"):
        result = run_cli(command, "par", "--workers", "0", env=env)
        assert result.exit_code == 2, result.output
        assert "Invalid value for '--workers': 0 is not in the range x>=1." in result.output
