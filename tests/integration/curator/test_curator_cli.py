"""``contentcloud map preview|coverage|diff|check`` through the console entry point, on a real SQLite
store."""

from __future__ import annotations

import json

import pytest

from mdstore import UnitKey, open_store
from tests.cli_runner import run_cli
from tests.curator_support import PROJECT, draft_stylesheet, make_setup

POLICY = str(PROJECT / "mappings" / "policies" / "contentcloud-policy.xml")
X3ML = str(PROJECT / "mappings" / "oai_dc2pe.x3ml")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("curator-cli")
    found = make_setup(tmp)
    found["tmp"] = tmp
    return found


def test_preview_sequential_panels_and_exit_3_for_the_failing_record(setup):
    result = run_cli("map", "preview", "cur", "--sample", "3", env=setup["env"])
    assert result.exit_code == 3, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "preview cur/oai_dc/store/native @ v00000001: 3 of 8 records, 1 failed"
    headers = [line for line in lines if line.startswith("# ")]
    # first, middle and last record in id order
    assert headers == [
        "# cur::099fdb74332f2801d445442380223fcf (oai:cur:2): ok, 37 triples",
        "# cur::bbf363e49b6027efe9d0d39fbb5a7313 (oai:cur:5): ok, 29 triples",
        "# cur::ff82002f4169becccd2d125766836ff3 (oai:cur:8): FAILED",
    ]
    assert (
        "cur::ff82002f4169becccd2d125766836ff3: xslt oai_dc2pe.xsl: oai_dc2pe.xsl:49, "
        'xsl:template match="/" / xsl:if test="not($dc)": no oai_dc:dc element in the record' in lines
    )
    assert "  <dc:identifier>urn:nbn:de:demo-2</dc:identifier>" in lines  # the source, indented
    assert any(line.startswith("<https://contentcloud.example/pe/cur/dataset/") for line in lines)  # Turtle


def test_preview_json_by_original_id_with_an_x3ml_draft_names_the_xpath(setup):
    draft = setup["tmp"] / "oai_dc2pe.x3ml"
    draft.write_text(
        (PROJECT / "mappings" / "oai_dc2pe.x3ml")
        .read_text()
        .replace(
            '<arg name="label" type="xpath">dc:title[1]/text()</arg>',
            '<arg name="label" type="xpath">dc:titel[1]/text()</arg>',
        )
    )
    result = run_cli(
        "map",
        "preview",
        "cur",
        "--mapping",
        str(draft),
        "--policy",
        POLICY,
        "--ids",
        "oai:cur:3",
        "--json",
        env=setup["env"],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    [record] = report["records"]
    assert record["original_id"] == "oai:cur:3"
    assert record["warnings"] == [
        {
            "step": "x3ml oai_dc2pe.x3ml",
            "location": f"{draft}:34, mapping 1",
            "xpath": "dc:titel[1]/text()",
            "message": 'label generator "SimpleLabel" gives no value: '
            "Empty result for arg label at node dc in "
            "generator SimpleLabel",
        }
    ]
    assert record["triples"] == 16
    assert record["error"] is None


def test_preview_of_an_unknown_id_exits_3(setup):
    result = run_cli("map", "preview", "cur", "--ids", "oai:cur:404", "--json", env=setup["env"])
    assert result.exit_code == 3
    assert json.loads(result.stdout)["missing"] == [
        "cur::" + __import__("hashlib").md5(b"oai:cur:404").hexdigest()
    ]


def test_preview_refuses_sample_and_ids_together(setup):
    result = run_cli("map", "preview", "cur", "--sample", "3", "--ids", "oai:cur:1", env=setup["env"])
    assert result.exit_code == 2
    assert "--sample and --ids exclude each other: give one of them" in result.output


def test_coverage_table_unread_first(setup):
    result = run_cli("map", "coverage", "cur", env=setup["env"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith(
        "coverage cur/oai_dc/store/native @ v00000001: 8 records, 16 paths, 5 not read; "
        "reads by trace: traced on "
    )
    assert lines[1] == "path\trecords\tshare\tdistinct\tread\texamples"
    assert lines[2] == (
        "/oai_dc:dc/dc:publisher\t7\t88%\t3\tNO\t"
        "Demo Heritage Repository | Demo Language Archive | Demo Archaeological Data Service"  # id order
    )
    assert [line.split("\t")[0] for line in lines[3:7]] == [
        "/oai_dc:dc/dc:coverage",
        "/metadata",
        "/oai_dc:dc/dc:relation",
        "/oai_dc:dc/dc:type/@xsi:type",
    ]
    assert "/oai_dc:dc/dc:title\t7\t88%\t8\tyes\t" in result.stdout


def test_x3ml_coverage_static_and_traced_agree(setup):
    args = ["map", "coverage", "cur", "--mapping", X3ML, "--policy", POLICY, "--json", "--distinct-cap", "2"]
    static = json.loads(run_cli(*args, "--method", "static", env=setup["env"]).stdout)
    traced = json.loads(run_cli(*args, "--method", "trace", env=setup["env"]).stdout)
    assert static["method"] == "static"
    assert traced["method"] == "trace"
    reads = {row["path"]: row["read"] for row in static["paths"]}
    assert reads == {row["path"]: row["read"] for row in traced["paths"]}
    assert [p for p, read in reads.items() if not read] == [
        "/oai_dc:dc/dc:publisher",
        "/oai_dc:dc/dc:coverage",
        "/metadata",
        "/oai_dc:dc/dc:relation",
        "/oai_dc:dc/dc:type/@xsi:type",
    ]
    title = next(row for row in static["paths"] if row["path"] == "/oai_dc:dc/dc:title")
    assert (title["distinct"], title["distinct_capped"], len(title["examples"])) == (2, True, 2)


def test_diff_summary_by_predicate_and_records(setup):
    draft = draft_stylesheet(setup["tmp"], name="subjects-dropped.xsl")
    result = run_cli("map", "diff", "cur", "--mapping", str(draft), "--max-details", "1", env=setup["env"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[1] == (
        "  changed 5, unchanged 2, newly failing 0, newly passing 1, still failing 0, not transformed 0"
    )
    assert lines[2] == "  triples added 0, removed 6"
    assert "http://www.cidoc-crm.org/cidoc-crm/P129_is_about\t0\t6\t5" in lines
    assert "… and 5 more records with differences (--max-details)" in lines
    assert any(
        line.startswith("- <https://contentcloud.example/pe/cur/dataset/") and "P129_is_about" in line
        for line in lines
    )


def test_diff_newly_failing_exits_3_and_writes_nothing(setup):
    with open_store(setup["uri"]) as store:
        before = store.versions(UnitKey("cur", "PE", "store", "transformed"))
    draft = draft_stylesheet(
        setup["tmp"],
        drop_subjects=False,
        accept_any_record=False,
        refuse_coverage=True,
        name="refuse-coverage.xsl",
    )
    result = run_cli("map", "diff", "cur", "--mapping", str(draft), "--json", env=setup["env"])
    assert result.exit_code == 3
    report = json.loads(result.stdout)
    assert report["counts"]["newly_failing"] == 2
    assert report["counts"]["still_failing"] == 1
    failing = [d for d in report["details"] if d["status"] == "newly_failing"]
    assert {d["original_id"] for d in failing} == {"oai:cur:1", "oai:cur:3"}
    assert failing[0]["error"].endswith(
        ': xslt refuse-coverage.xsl: refuse-coverage.xsl:56, xsl:template match="oai_dc:dc" / '
        'xsl:if test="dc:coverage": coverage is not mapped yet'
    )
    with open_store(setup["uri"]) as store:
        assert store.versions(UnitKey("cur", "PE", "store", "transformed")) == before


def test_diff_before_any_transform_is_a_clear_error(tmp_path):
    fresh = make_setup(tmp_path, transform=False)
    result = run_cli("map", "diff", "cur", env=fresh["env"])
    assert result.exit_code == 1
    assert result.stderr == (
        "error: cur/PE/store/transformed: no transformed version to compare with; run the transform first\n"
    )


def test_check_reports_violations_per_file_and_exits_3(setup, tmp_path):
    good = tmp_path / "good.ttl"
    good.write_text("@prefix crm: <http://www.cidoc-crm.org/cidoc-crm/> .\n<http://e/a> a crm:E39_Actor .\n")
    bad = tmp_path / "bad.nt"
    bad.write_text(
        "<http://e/a> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> "
        "<http://www.cidoc-crm.org/cidoc-crm/E39_Actor> .\n"
        "<http://e/a> <http://www.cidoc-crm.org/cidoc-crm/P72_has_language> <http://e/l> .\n"
    )
    ok = run_cli("map", "check", str(good), env=setup["env"])
    assert ok.exit_code == 0
    assert ok.stdout == ""
    assert ok.stderr == "1 file(s): 0 error(s), 0 warning(s)\n"
    result = run_cli("map", "check", str(good), str(bad), env=setup["env"])
    assert result.exit_code == 3
    assert result.stdout == (
        f"{bad}: error: domain: http://e/a crm:P72_has_language: subject is crm:E39_Actor, the domain is "
        "crm:E33_Linguistic_Object\n"
    )
    data = json.loads(run_cli("map", "check", str(bad), "--json", env=setup["env"]).stdout)
    assert data["errors"] == 1
    assert data["files"][str(bad)][0]["kind"] == "domain"


# --- the ontology check and the mapping's findings in map preview -----------------------------------


def wrong_property_draft(tmp_path):
    """The shipped stylesheet writing crm:P72_has_lang, a property the ontology does not have."""
    text = (PROJECT / "mappings" / "oai_dc2pe.xsl").read_text(encoding="utf-8")
    assert text.count("crm:P72_has_language rdf:resource") == 1
    draft = tmp_path / "wrong.xsl"
    draft.write_text(text.replace("crm:P72_has_language rdf:resource", "crm:P72_has_lang rdf:resource"))
    return draft


def test_preview_exits_3_with_one_line_per_ontology_issue(setup, tmp_path):
    draft = wrong_property_draft(tmp_path)
    result = run_cli("map", "preview", "cur", "--mapping", str(draft), "--ids", "oai:cur:2", env=setup["env"])
    assert result.exit_code == 3, result.output
    lines = [line for line in result.stdout.splitlines() if line.startswith("ontology: ")]
    record = "cur::099fdb74332f2801d445442380223fcf"
    assert lines == [
        f"ontology: {record}: error: unknown-property: https://contentcloud.example/pe/cur/dataset/"
        "099fdb74332f2801d445442380223fcf crm:P72_has_lang: not a property of the ontology"
    ]
    assert "# cur::099fdb74332f2801d445442380223fcf (oai:cur:2): ok, 37 triples, 1 ontology issue(s)" in (
        result.stdout.splitlines()
    )
    assert result.stderr.strip().splitlines()[-1] == (
        "ontology check: 1 error(s), 0 warning(s) in 1 record(s); mapping check: 0 finding(s)"
    )


def test_preview_of_a_clean_mapping_exits_0(setup):
    result = run_cli("map", "preview", "cur", "--ids", "oai:cur:2", env=setup["env"])
    assert result.exit_code == 0, result.output
    assert result.stderr.strip().splitlines()[-1] == (
        "ontology check: 0 error(s), 0 warning(s) in 1 record(s); mapping check: 0 finding(s)"
    )


def test_preview_of_an_x3ml_draft_without_policy_says_a_policy_is_needed(setup):
    result = run_cli("map", "preview", "cur", "--mapping", X3ML, "--standalone", env=setup["env"])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.strip() == (
        "error: transform.steps[0].policy: x3ml oai_dc2pe.x3ml uses generators that need a generator policy "
        "(DatasetURI, SimpleLabel, AppellationURI, IdentifierURI, URIorUUID, ActorURI, ConceptURI, TypeURI, "
        f"LanguageURI, RightURI, first at {X3ML}:31, mapping 1) and no policy is given: name one (policy in "
        "the profile's x3ml step, --policy, or the curator page's policy field)"
    )


def test_preview_flags_a_misspelt_path_and_its_silent_link(setup, tmp_path):
    draft = tmp_path / "typo.x3ml"
    text = (PROJECT / "mappings" / "oai_dc2pe.x3ml").read_text(encoding="utf-8")
    assert text.count("<relation>dc:title</relation>") == 1
    draft.write_text(text.replace("<relation>dc:title</relation>", "<relation>dc:titel</relation>"))
    args = ["map", "preview", "cur", "--mapping", str(draft), "--policy", POLICY, "--sample", "3"]
    result = run_cli(*args, env=setup["env"])
    assert result.exit_code == 0, result.output  # warnings: --strict makes them fail
    findings = [line for line in result.stdout.splitlines() if line.startswith("mapping: ")]
    where = f"x3ml typo.x3ml: {draft}:40, mapping 1, link 1"
    assert findings == [
        f"mapping: warning: no-match: {where}: the source_relation 'dc:titel' matches nothing in any of "
        "the 3 sampled records [xpath dc:titel]",
        f"mapping: warning: no-triple: {where}: the link wrote no triple in any of the 3 sampled records",
    ]
    data = json.loads(run_cli(*args, "--json", env=setup["env"]).stdout)
    assert [(f["kind"], f["location"], f["xpath"]) for f in data["findings"]] == [
        ("no-match", f"{draft}:40, mapping 1, link 1", "dc:titel"),
        ("no-triple", f"{draft}:40, mapping 1, link 1", None),
    ]


def test_preview_strict_fails_on_findings_alone(setup, tmp_path):
    draft = tmp_path / "typo.x3ml"
    text = (PROJECT / "mappings" / "oai_dc2pe.x3ml").read_text(encoding="utf-8")
    draft.write_text(text.replace("<relation>dc:title</relation>", "<relation>dc:titel</relation>"))
    base = ["map", "preview", "cur", "--mapping", str(draft), "--policy", POLICY, "--ids", "oai:cur:2"]
    assert run_cli(*base, env=setup["env"]).exit_code == 0
    assert run_cli(*base, "--strict", env=setup["env"]).exit_code == 3


def test_preview_of_an_own_record_file(setup, tmp_path):
    record = tmp_path / "mine.xml"
    record.write_text(
        '<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Mine</dc:title>'
        "<dc:identifier>urn:mine:1</dc:identifier></oai_dc:dc>"
    )
    result = run_cli("map", "preview", "cur", "--record", str(record), "--json", env=setup["env"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    [item] = report["records"]
    assert (report["unit"], item["original_id"], item["error"]) == ("your own records", "mine.xml", None)
    assert item["record_id"] == "cur::" + __import__("hashlib").md5(b"mine.xml").hexdigest()
    assert '"Mine"' in item["output"]
    refused = run_cli("map", "preview", "cur", "--record", str(record), "--ids", "x", env=setup["env"])
    assert refused.exit_code == 2
    assert "--record previews your own records: it excludes --sample and --ids" in refused.output
