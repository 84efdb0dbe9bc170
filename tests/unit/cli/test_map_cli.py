"""``contentcloud map``: the curator's quick check, through the console entry point."""

from __future__ import annotations

from pathlib import Path

import pytest
import rdflib

from tests.cli_runner import run_cli
from tests.unit.transforms.conftest import stylesheet, write

PROJECT = Path(__file__).resolve().parents[3]
OAI_DC2PE = str(PROJECT / "mappings" / "oai_dc2pe.xsl")
PE2OAI_DC = str(PROJECT / "mappings" / "pe2oai_dc.xsl")
CRM = rdflib.Namespace("http://www.cidoc-crm.org/cidoc-crm/")


@pytest.fixture
def sample(shared_dir) -> str:
    return str(shared_dir / "oai-pmh" / "samples" / "oai_dc-puma-record.xml")


def test_rdf_prints_as_turtle_by_default(sample):
    result = run_cli("map", "--mapping", OAI_DC2PE, "--input", sample, "--param", "datasource=puma")
    assert result.exit_code == 0, result.output
    graph = rdflib.Graph().parse(data=result.stdout, format="turtle")
    dataset = rdflib.URIRef("https://contentcloud.example/pe/puma/dataset/oai_dc-puma-record.xml")
    assert (
        dataset,
        CRM.P72_has_language,
        rdflib.URIRef("https://contentcloud.example/pe/language/eng"),
    ) in graph
    assert len(graph) == 76


@pytest.mark.filterwarnings("ignore::DeprecationWarning:rdflib")
@pytest.mark.parametrize("fmt", ["ntriples", "rdfxml", "jsonld", "trig", "turtle"])
def test_every_format_holds_the_same_graph(sample, fmt):
    result = run_cli("map", "--mapping", OAI_DC2PE, "--input", sample, "--format", fmt, "--record-id", "x::1")
    assert result.exit_code == 0, result.output
    graph = rdflib.Dataset() if fmt == "trig" else rdflib.Graph()
    graph.parse(
        data=result.stdout, format={"ntriples": "nt", "rdfxml": "xml", "jsonld": "json-ld"}.get(fmt, fmt)
    )
    assert len(graph) == 76


def test_a_chain_back_to_oai_dc_prints_the_xml(sample):
    result = run_cli("map", "--mapping", OAI_DC2PE, "--mapping", PE2OAI_DC, "--input", sample)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<oai_dc:dc ')
    assert "<dc:creator>Lluch Lafuente, Alberto</dc:creator>" in result.stdout


def test_map_run_is_the_same_command(sample):
    plain = run_cli("map", "--mapping", OAI_DC2PE, "--input", sample, "--format", "ntriples")
    spelled = run_cli("map", "run", "--mapping", OAI_DC2PE, "--input", sample, "--format", "ntriples")
    assert plain.exit_code == spelled.exit_code == 0
    assert plain.stdout == spelled.stdout


def test_record_errors_name_the_step_and_place(tmp_path):
    mapping = write(
        tmp_path / "m.xsl",
        stylesheet(
            '<xsl:template match="/">\n<xsl:message terminate="yes">no title</xsl:message></xsl:template>'
        ),
    )
    record = write(tmp_path / "in.xml", "<r/>")
    result = run_cli("map", "--mapping", str(mapping), "--input", str(record))
    assert result.exit_code == 1
    assert result.stderr == "error: in.xml: xslt m.xsl: m.xsl:2, xsl:template match=\"/\": no title\n"
    assert result.stdout == ""


def test_a_mapping_that_does_not_compile(tmp_path):
    mapping = write(
        tmp_path / "m.xsl",
        stylesheet(
            '<xsl:template match="/">\n<o><xsl:value-of select="1 +"/></o></xsl:template>', version="3.0"
        ),
    )
    record = write(tmp_path / "in.xml", "<r/>")
    result = run_cli("map", "--mapping", str(mapping), "--input", str(record))
    assert result.exit_code == 1
    assert result.stderr == (
        "error: xslt m.xsl: m.xsl:2:32: does not compile: Error in {1 +} at char 4 in xsl:value-of/@select "
        "on line 2 column 32 of m.xsl: XPST0003 Unexpected token <eof> before ...\n"
    )


def test_an_input_that_is_not_xml(tmp_path):
    record = write(tmp_path / "in.xml", "<r>")
    result = run_cli("map", "--mapping", OAI_DC2PE, "--input", str(record))
    assert result.exit_code == 1
    assert result.stderr == (
        "error: in.xml: xslt oai_dc2pe.xsl: line 1, column 4: not well-formed XML: "
        "Premature end of data in tag r line 1\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--input", "{sample}"], "give at least one --mapping FILE"),
        (["--mapping", OAI_DC2PE], "give the record to transform with --input FILE"),
        (
            ["--mapping", OAI_DC2PE, "--input", "{sample}", "--param", "nonsense"],
            "'nonsense' is not NAME=VALUE",
        ),
    ],
)
def test_usage_errors(sample, args, message):
    result = run_cli("map", *[a.format(sample=sample) for a in args])
    assert result.exit_code == 2
    assert message in result.stderr


def test_policy_without_x3ml_is_a_usage_error(sample, tmp_path):
    policy = write(tmp_path / "p.xml", "<generator_policy/>")
    result = run_cli("map", "--mapping", OAI_DC2PE, "--input", sample, "--policy", str(policy))
    assert result.exit_code == 2
    assert result.stderr == "error: policy: --policy/--terms apply to X3ML mappings, and none was given\n"


def test_reading_next_to_a_mapping_outside_the_mappings_directory(tmp_path):
    write(tmp_path / "codes.xml", "<c>from-beside</c>")
    mapping = write(
        tmp_path / "m.xsl",
        stylesheet(
            '<xsl:template match="/"><o><xsl:value-of select="document(\'codes.xml\')/c"/></o></xsl:template>'
        ),
    )
    record = write(tmp_path / "in.xml", "<r/>")
    result = run_cli("map", "--mapping", str(mapping), "--input", str(record))
    assert result.exit_code == 0, result.output
    assert "<o>from-beside</o>" in result.stdout
    other = tmp_path / "elsewhere"
    other.mkdir()
    result = run_cli("map", "--mapping", str(mapping), "--input", str(record), "--mappings-dir", str(other))
    assert result.exit_code == 1
    assert "outside the mappings directory" in result.stderr


def test_x3ml_files_policy_and_test_uuids_reach_the_engine(tmp_path, monkeypatch):
    """With a stand-in engine: consecutive X3ML files merge into one step that gets policy, terms and
    the test-UUID size; its N-Triples print as Turtle."""
    from tests.unit.transforms.test_x3ml_step import FakeMapping

    FakeMapping.loads = []
    calls = []

    class Recording(FakeMapping):
        def transform(self, source, **options):
            calls.append(options)
            return super().transform(source, **options)

    monkeypatch.setattr("transforms.x3ml_step.load_engine", lambda: Recording)
    files = [write(tmp_path / name, "<x3ml/>") for name in ("a.x3ml", "b.x3ml", "policy.xml", "terms.nt")]
    record = write(tmp_path / "in.xml", "<r><t>one</t></r>")
    result = run_cli(
        "map",
        "--mapping",
        str(files[0]),
        "--mapping",
        str(files[1]),
        "--input",
        str(record),
        "--policy",
        str(files[2]),
        "--terms",
        str(files[3]),
        "--uuid-test-size",
        "3",
    )
    assert result.exit_code == 0, result.output
    assert FakeMapping.loads == [
        {
            "paths": [str(files[0]), str(files[1])],
            "policy": str(files[2]),
            "terms": str(files[3]),
            "legacy_shorten": False,
        }
    ]
    assert calls == [{"record_id": "in.xml", "uuid_mode": "test", "uuid_test_size": 3}]
    assert result.stdout.splitlines()[-1] == '<http://x/in.xml> <http://x/title> "one" .'


def test_a_parthenos_mapping_through_the_real_engine(shared_dir):
    folder = shared_dir / "parthenos" / "mappings"
    result = run_cli(
        "map",
        "--mapping",
        str(folder / "Mapping549_CLARIN-DKtei" / "Mapping549.x3ml"),
        "--input",
        str(
            folder / "Mapping549_CLARIN-DKtei" / "oai_clarin_dk_dkclarin_527740___18-10-2018105001___402.xml"
        ),
        "--policy",
        str(folder / "Mapping518" / "PARTHENOS-GeneratorPolicy_v1.5___06-11-2018162844___5606.xml"),
        "--uuid-test-size",
        "2",
        "--format",
        "ntriples",
    )
    assert result.exit_code == 0, result.output
    produced = rdflib.Graph().parse(data=result.stdout, format="nt")
    expected = rdflib.Graph().parse(folder / "Mapping549_CLARIN-DKtei" / "Mapping549.ttl", format="turtle")
    assert len(produced) == len(expected) == 90
    actor = rdflib.URIRef(
        "http://parthenos.d4science.org/handle/Clarin/VLO/Actor/88894435-2CCB-3099-A7BE-14BEB8813B02"
    )
    assert set(produced.predicate_objects(actor)) == set(expected.predicate_objects(actor))
