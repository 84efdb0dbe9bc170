"""The index step on the embedded backends (SQLite MDStore, SQLite index): modes, deletions, record
errors, the error rate, the state it keeps, ``--check`` and the ``contentcloud index`` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from contentcloud.cli import cli
from contentcloud.datasources import Datasource, profile_from_dict
from contentcloud.pipeline.index import check_index, index
from contentcloud.pipeline.summary import Outcome
from mdstore import MDStore, RecordInput, open_store
from mdstore.envelope import Record
from provision.index.profile import IndexProfile, load_profile
from provision.index.sqlite import SqliteIndex
from tests.pe_records import pe_record, pe_records

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "tests" / "fixtures" / "index"
NOT_RDF = (FIXTURES / "not_rdf.nt").read_text()
NO_MAIN = (FIXTURES / "no_main_entity.nt").read_text()


def make_datasource(**extra) -> Datasource:
    data = {
        "id": "ads",
        "name": "ADS",
        "nsprefix": "ads",
        "provider": "Archaeology Data Service",
        "api": {"protocol": "oai", "baseurl": "http://127.0.0.1:1/oai", "metadata_prefix": "oai_dc"},
    }
    data.update(extra)
    return profile_from_dict(data)


@pytest.fixture
def store(tmp_path: Path):
    with open_store(f"sqlite:///{tmp_path / 'mdstore.sqlite'}") as store:
        yield store


@pytest.fixture
def backend(tmp_path: Path):
    with SqliteIndex(tmp_path / "index.sqlite") as backend:
        yield backend


@pytest.fixture(scope="module")
def profile() -> IndexProfile:
    return load_profile(ROOT / "mappings" / "index" / "pe.yaml")


def write_version(store: MDStore, records: list[tuple[str, str]], *, mode: str = "full") -> str:
    tx = store.begin(make_datasource().transformed_unit, mode, stamp="transformed", nsprefix="ads")
    tx.upsert(RecordInput(oid, body) for oid, body in records)
    return tx.commit().id


def indexed(backend: SqliteIndex) -> dict[str, dict]:
    answer = backend.select({"q": "*:*", "rows": 10_000, "fl": "*"})
    return {d["id"]: d for d in answer["response"]["docs"]}


def test_first_feed_then_nothing_to_do(store: MDStore, backend: SqliteIndex, profile: IndexProfile) -> None:
    records = list(pe_records(40, prefix="ads"))
    version = write_version(store, records)
    first = index(store, make_datasource(), backend, profile, run_id="r1")
    assert (first.outcome, first.extra["mode"], first.read, first.written) == (
        Outcome.FINISHED,
        "refeed",
        40,
        40,
    )
    docs = indexed(backend)
    assert len(docs) == 40
    bodies = dict(records)
    for document in docs.values():
        assert document["mdstore_version"] == version
        assert document["datasource"] == "ads"
        assert document["provider"] == "Archaeology Data Service"
        assert document["rdf"] == bodies[document["original_id"]]
        assert document["indexed_at"].endswith("Z")
    state = backend.state("ads")
    assert (state.version, state.live_versions, state.mode, state.count, state.run_id) == (
        version,
        (version,),
        "refeed",
        40,
        "r1",
    )
    again = index(store, make_datasource(), backend, profile)
    assert again.outcome == Outcome.NOTHING_TO_DO
    assert again.message == f"version {version} is already indexed"


def test_incremental_feed_sends_changes_and_deletes_tombstones(
    store: MDStore, backend: SqliteIndex, profile: IndexProfile
) -> None:
    write_version(store, list(pe_records(30, prefix="ads")))
    index(store, make_datasource(), backend, profile)
    changed = [pe_record(i, prefix="ads", variant=1) for i in range(5)] + [pe_record(100, prefix="ads")]
    tx = store.begin(make_datasource().transformed_unit, "incremental", stamp="transformed", nsprefix="ads")
    tx.upsert(RecordInput(oid, body) for oid, body in changed)
    tx.delete([f"oai:ads:{i}" for i in range(20, 30)])
    version = tx.commit().id
    summary = index(store, make_datasource(), backend, profile)
    assert summary.extra["mode"] == "incremental"
    assert summary.outcome == Outcome.FINISHED
    docs = indexed(backend)
    assert len(docs) == 21
    titles = {d["original_id"]: d["title"] for d in docs.values()}
    assert all(titles[f"oai:ads:{i}"].endswith(" rev 1") for i in range(5))
    assert not any(f"oai:ads:{i}" in titles for i in range(20, 30))
    assert "oai:ads:100" in titles
    state = backend.state("ads")
    assert state.version == version
    assert state.live_versions[-1] == version
    assert len(state.live_versions) == 2


def test_builder_processes_build_the_same_documents(
    store: MDStore, backend: SqliteIndex, profile: IndexProfile, tmp_path: Path
) -> None:
    write_version(store, [*pe_records(2500, prefix="ads"), ("oai:ads:broken", NOT_RDF)])
    here = index(store, make_datasource(), backend, profile, workers=0)
    with SqliteIndex(tmp_path / "other.sqlite") as other:
        pooled = index(store, make_datasource(), other, profile, workers=2)
        assert (
            (pooled.read, pooled.written, pooled.errors)
            == (here.read, here.written, here.errors)
            == (2501, 2500, 1)
        )
        strip = lambda docs: {i: {k: v for k, v in d.items() if k != "indexed_at"} for i, d in docs.items()}  # noqa: E731
        assert strip(indexed(other)) == strip(indexed(backend))
        assert other.state("ads").errors == backend.state("ads").errors


def test_the_feeder_builds_pages_itself_while_its_builder_is_busy(
    store: MDStore,
    backend: SqliteIndex,
    profile: IndexProfile,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One builder process and the feeder share the pages (both cores work); the documents are the
    ones built in one process, whichever process built each page."""
    from contentcloud.pipeline import index as index_step

    monkeypatch.setattr(index_step, "PAGE_SIZE", 50)
    built_here: list[int] = []
    build_here = index_step._built_here

    def counting(profile, records, args, prepare):  # noqa: ANN001, ANN202
        built_here.append(len(records))
        return build_here(profile, records, args, prepare)

    write_version(store, [*pe_records(600, prefix="ads"), ("oai:ads:broken", NOT_RDF)])
    alone = index(store, make_datasource(), backend, profile, full=True, workers=0)
    monkeypatch.setattr(index_step, "_built_here", counting)
    with SqliteIndex(tmp_path / "other.sqlite") as other:
        shared = index(store, make_datasource(), other, profile, full=True, workers=1)
        assert (shared.read, shared.written, shared.errors) == (alone.read, alone.written, alone.errors)
        assert (shared.read, shared.written, shared.errors) == (601, 600, 1)
        # the builder process takes a second to start: the feeder builds the pages queued meanwhile
        assert 0 < len(built_here) < 13
        strip = lambda docs: {i: {k: v for k, v in d.items() if k != "indexed_at"} for i, d in docs.items()}  # noqa: E731
        assert strip(indexed(other)) == strip(indexed(backend))
        assert other.state("ads").errors == backend.state("ads").errors


def test_full_rebuild_keeps_other_datasources(
    store: MDStore, backend: SqliteIndex, profile: IndexProfile
) -> None:
    write_version(store, list(pe_records(10, prefix="ads")))
    other = make_datasource(id="dans", nsprefix="dans")
    tx = store.begin(other.transformed_unit, "full", stamp="transformed", nsprefix="dans")
    tx.upsert(RecordInput(oid, body) for oid, body in pe_records(7, prefix="dans"))
    tx.commit()
    index(store, make_datasource(), backend, profile)
    index(store, other, backend, profile)
    write_version(store, list(pe_records(4, prefix="ads")))
    summary = index(store, make_datasource(), backend, profile, full=True)
    assert (summary.extra["mode"], summary.written) == ("full", 4)
    assert (backend.count("ads"), backend.count("dans")) == (4, 7)
    assert backend.state("dans").version == store.current_version(other.transformed_unit)


def test_a_profile_change_or_a_rollback_refeeds(
    store: MDStore, backend: SqliteIndex, profile: IndexProfile, tmp_path: Path
) -> None:
    first = write_version(store, list(pe_records(10, prefix="ads")))
    index(store, make_datasource(), backend, profile)
    write_version(store, list(pe_records(6, prefix="ads")))
    index(store, make_datasource(), backend, profile)
    store.rollback(make_datasource().transformed_unit, first)
    back = index(store, make_datasource(), backend, profile)
    assert back.extra["mode"] == "refeed"
    assert "not an ancestor" in back.extra["reason"]
    assert backend.count("ads") == 10
    changed = yaml.safe_load((ROOT / "mappings" / "index" / "pe.yaml").read_text())
    changed["fields"]["keyword"] = {"path": "crm:P3_has_note"}
    (tmp_path / "pe.yaml").write_text(yaml.safe_dump(changed))
    (tmp_path / "pe-classes.json").write_text((ROOT / "mappings" / "index" / "pe-classes.json").read_text())
    new_profile = load_profile(tmp_path / "pe.yaml")
    again = index(store, make_datasource(), backend, new_profile)
    assert again.extra["mode"] == "refeed"
    assert "profile" in again.extra["reason"]
    assert all(d.get("keyword") for d in indexed(backend).values())


def test_record_errors_are_kept_counted_and_checked(
    store: MDStore, backend: SqliteIndex, profile: IndexProfile
) -> None:
    write_version(
        store, [*pe_records(60, prefix="ads"), ("oai:ads:broken", NOT_RDF), ("oai:ads:lonely", NO_MAIN)]
    )
    summary = index(store, make_datasource(), backend, profile)
    assert summary.outcome == Outcome.RECORD_ERRORS
    assert (summary.read, summary.written, summary.errors) == (62, 60, 2)
    state = backend.state("ads")
    assert len(state.errors) == 2
    assert all(
        message.startswith(("RecordParseError: not valid", "MappingError: no main entity"))
        for message in state.errors.values()
    )
    check = check_index(store, make_datasource(), backend)
    assert check.outcome == Outcome.RECORD_ERRORS
    assert (check.extra["index_count"], check.extra["mdstore_count"], check.extra["missing_total"]) == (
        60,
        62,
        2,
    )
    assert sorted(m.split(": ", 1)[1].split(":")[0] for m in check.extra["missing"]) == [
        "MappingError",
        "RecordParseError",
    ]


def test_past_the_error_rate_a_rebuild_is_dropped(
    store: MDStore, backend: SqliteIndex, profile: IndexProfile
) -> None:
    write_version(store, list(pe_records(10, prefix="ads")))
    index(store, make_datasource(), backend, profile)
    write_version(store, [*pe_records(3, prefix="ads"), *[(f"oai:ads:bad{n}", NOT_RDF) for n in range(7)]])
    summary = index(store, make_datasource(), backend, profile, full=True, max_error_rate=0.5)
    assert summary.outcome == Outcome.FAILED
    assert "7 of 10 records failed (70.0% > 50.0%)" in summary.message
    assert backend.count("ads") == 10  # the live index is the one from before
    assert backend.builds() == []


def test_past_the_error_rate_an_in_place_feed_neither_sweeps_nor_advances(
    store: MDStore, backend: SqliteIndex, profile: IndexProfile
) -> None:
    first = write_version(store, list(pe_records(10, prefix="ads")))
    index(store, make_datasource(), backend, profile)
    write_version(store, [*[(f"oai:ads:{n}", NOT_RDF) for n in range(10)]])
    failed = index(store, make_datasource(), backend, profile, max_error_rate=0.2)
    assert failed.outcome == Outcome.FAILED
    assert failed.extra["mode"] == "incremental"
    assert backend.count("ads") == 10
    assert backend.state("ads").version == first


def test_check_lists_unexpected_and_stale_documents(
    store: MDStore, backend: SqliteIndex, profile: IndexProfile
) -> None:
    write_version(store, list(pe_records(5, prefix="ads")))
    index(store, make_datasource(), backend, profile)
    assert check_index(store, make_datasource(), backend).outcome == Outcome.FINISHED
    some_id = next(iter(indexed(backend)))
    writer = backend.open_writer("ads")
    writer.add(
        [
            {"id": "ads::ghost", "datasource": "ads", "mdstore_version": backend.state("ads").version},
            {**indexed(backend)[some_id], "mdstore_version": "v-old"},
        ]
    )
    writer.commit(backend.state("ads"))
    report = check_index(store, make_datasource(), backend)
    assert report.outcome == Outcome.RECORD_ERRORS
    assert report.extra["unexpected"] == ["ads::ghost"]
    assert report.extra["stale"] == [f"{some_id}: version v-old"]
    assert report.extra["missing"] == []


# --------------------------------------------------------------------------------------- CLI


@pytest.fixture
def cli_env(tmp_path: Path, store: MDStore) -> dict[str, str]:
    registry = tmp_path / "registry"
    registry.mkdir()
    (registry / "ads.yaml").write_text(
        yaml.safe_dump(
            {
                "id": "ads",
                "name": "ADS",
                "nsprefix": "ads",
                "provider": "Archaeology Data Service",
                "api": {"protocol": "oai", "baseurl": "http://127.0.0.1:1/oai", "metadata_prefix": "oai_dc"},
                "index": {"profile": "pe"},
            }
        )
    )
    return {
        "CONTENTCLOUD_REGISTRY": str(registry),
        "CONTENTCLOUD_MDSTORE": store.uri,
        "CONTENTCLOUD_INDEX": f"sqlite:///{tmp_path / 'cli-index.sqlite'}",
        "CONTENTCLOUD_MAPPINGS": str(ROOT / "mappings"),
    }


def test_command_feeds_checks_and_says_so_with_exit_codes(store: MDStore, cli_env: dict[str, str]) -> None:
    write_version(store, [*pe_records(30, prefix="ads"), ("oai:ads:broken", NOT_RDF)])
    runner = CliRunner()
    fed = runner.invoke(cli, ["index", "ads"], env=cli_env)
    assert fed.exit_code == 3, fed.output
    assert "index ads: finished_with_record_errors" in fed.output
    assert "records read 31, documents sent 30" in fed.output
    assert "the index now holds 30 documents of ads" in fed.output
    checked = runner.invoke(cli, ["index", "--check", "ads", "--json"], env=cli_env)
    assert checked.exit_code == 3
    report = json.loads(checked.output)
    assert (report["extra"]["missing_total"], report["extra"]["index_count"]) == (1, 30)
    full = runner.invoke(cli, ["index", "ads", "--full"], env=cli_env)
    assert full.exit_code == 3
    assert "(full: asked for a full rebuild)" in full.output
    both = runner.invoke(cli, ["index", "ads", "--full", "--check"], env=cli_env)
    assert both.exit_code == 2
    assert "--check compares, --full feeds: choose one" in both.output


def test_command_on_an_unknown_datasource(cli_env: dict[str, str]) -> None:
    result = CliRunner().invoke(cli, ["index", "nope"], env=cli_env)
    assert result.exit_code != 0
    assert "unknown datasource 'nope'" in str(result.exception)


def test_the_project_mappings_output_becomes_a_document(profile: IndexProfile, tmp_path: Path) -> None:
    """oai_dc → PE with the project's own stylesheet (mappings/oai_dc2pe.xsl), then → index document."""
    record = tmp_path / "record.xml"
    record.write_text(
        '<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/">'
        "<dc:title>Bronze Age settlement survey at Aquileia</dc:title><dc:creator>Rossi, Giulia</dc:creator>"
        "<dc:subject>archaeology</dc:subject><dc:subject>Bronze Age</dc:subject>"
        "<dc:description>Survey notes.</dc:description><dc:date>2017-02-02</dc:date>"
        "<dc:type>Dataset</dc:type>"
        "<dc:identifier>https://demo.contentcloud.example/records/0001</dc:identifier>"
        "<dc:language>nl</dc:language><dc:rights>CC BY 4.0</dc:rights></oai_dc:dc>"
    )
    mapped = CliRunner().invoke(
        cli,
        [
            "map",
            "--mapping",
            str(ROOT / "mappings" / "oai_dc2pe.xsl"),
            "--input",
            str(record),
            "--format",
            "ntriples",
        ],
    )
    assert mapped.exit_code == 0, mapped.output
    rdf = Record("ads::1", "oai:ads:1", "ads", "PE", mapped.stdout, "x", None)
    doc, warnings = profile.build(rdf, datasource="ads", version="v1", indexed_at="2024-05-01T00:00:00Z")
    assert warnings == []
    assert doc["entity_type"] == ["PE22_Persistent_Dataset", "E33_Linguistic_Object"]
    assert doc["title"] == "Bronze Age settlement survey at Aquileia"
    assert doc["label"] == ["Bronze Age settlement survey at Aquileia"]  # not the identifier
    assert doc["identifier_ss"] == ["https://demo.contentcloud.example/records/0001"]
    assert doc["subject"] == ["archaeology", "Bronze Age", "dataset"]
    assert doc["actor"] == ["Rossi, Giulia"]
    assert doc["time_span"] == ["[2017-02-02 TO 2017-02-02]"]
    assert doc["language"] == ["nld"]
    assert doc["rights"] == ["CC BY 4.0"]
    assert doc["landing_url"] == ["https://demo.contentcloud.example/records/0001"]
    assert doc["description"] == ["Survey notes."]


# ------------------------------------------------------------------- the orchestrator's stages


def test_the_orchestrators_stages_split_a_feed_and_fail_it_past_the_error_rate(
    store: MDStore, cli_env: dict[str, str], tmp_path: Path
) -> None:
    """plan_parts_task → run_part_task × N → finish_parts_task of the index step, as Airflow's mapped
    tasks call them (each through JSON, as XCom carries it)."""
    from contentcloud.pipeline.outcomes import StepFailed
    from contentcloud.pipeline.tasks import finish_parts_task, plan_parts_task, run_part_task
    from contentcloud.settings import load_settings

    registry = Path(cli_env["CONTENTCLOUD_REGISTRY"])
    profile = yaml.safe_load((registry / "ads.yaml").read_text())
    profile["index"]["records_per_part"] = 10
    profile["limits"] = {"max_error_rate": 0.1}
    (registry / "ads.yaml").write_text(yaml.safe_dump(profile))
    settings = load_settings(environ=cli_env, base_dir=tmp_path)
    via_json = lambda value: json.loads(json.dumps(value))  # noqa: E731

    def run() -> tuple[list, dict]:
        specs = via_json(plan_parts_task("index", "ads", settings, run_id="r"))
        outputs = [via_json(run_part_task("index", "ads", settings, spec)) for spec in specs]
        return specs, finish_parts_task("index", "ads", settings, specs, outputs)

    write_version(store, list(pe_records(35, prefix="ads")))
    specs, summary = run()
    assert [spec["part"] for spec in specs] == [0, 1, 2, 3]  # 35 records, 10 a part
    assert (summary["outcome"], summary["read"], summary["written"]) == ("finished", 35, 35)
    assert summary["extra"]["index_count"] == 35

    specs, summary = run()  # nothing changed: one part, whose plan carries the summary through
    assert len(specs) == 1 and specs[0]["plan"]["summary"]["outcome"] == "nothing_to_do"
    assert summary["outcome"] == "nothing_to_do"

    write_version(store, [*pe_records(30, prefix="ads"), *[(f"oai:ads:{n}", NOT_RDF) for n in range(30, 35)]])
    with pytest.raises(StepFailed, match=r"5 of 35 records failed \(14.3% > 10.0%\)") as failed:
        run()
    assert failed.value.summary["step"] == "index"
    with SqliteIndex(Path(cli_env["CONTENTCLOUD_INDEX"].removeprefix("sqlite:///"))) as backend:
        assert backend.state("ads").version == store.versions(make_datasource().transformed_unit)[-2].id
