"""The conformance command line: output on stdout, problems on stderr, exit codes."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from contentcloud.cli import main
from contentcloud.cli.x3ml import x3ml as x3ml_command
from tests.unit.transforms.x3ml.x3ml_helpers import domain, entity, link, literal_label, x3ml

MAPPING = x3ml(
    "<mapping>"
    + domain("/r", entity("crm:E78"))
    + link("item", "crm:P46", "item", entity("crm:E22", labels=literal_label("name/text()")))
    + "</mapping>"
)
RECORD = "<r><item><name>a</name></item><item><name/></item></r>"
TYPE = "<http://www.w3.org/1999/02/22-rdf-syntax-ns#type>"
CRM = "http://www.cidoc-crm.org/cidoc-crm/"


@pytest.fixture
def files(write):
    return write("m.x3ml", MAPPING), write("in.xml", RECORD)


def test_ntriples_on_stdout_problems_on_stderr(files):
    mapping, record = files
    result = CliRunner().invoke(
        x3ml_command,
        ["--mapping", str(mapping), "--input", str(record), "--uuid-test-size", "1", "--format", "ntriples"],
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"<uuid:A> {TYPE} <{CRM}E78> .",
        f"<uuid:B> {TYPE} <{CRM}E22> .",
        '<uuid:B> <http://www.w3.org/2000/01/rdf-schema#label> "a" .',
        "<uuid:A> <http://www.cidoc-crm.org/cidoc-crm/P46> <uuid:B> .",
        f"<uuid:C> {TYPE} <{CRM}E22> .",
        "<uuid:A> <http://www.cidoc-crm.org/cidoc-crm/P46> <uuid:C> .",
    ]
    assert 'label generator "Literal" gives no value: Empty result for arg text at node item' in result.stderr
    assert "1 problem(s) with single entities" in result.stderr


@pytest.mark.parametrize("fmt", ["turtle", "rdfxml", "trig", "jsonld", "nquads"])
def test_other_formats(files, fmt):
    mapping, record = files
    result = CliRunner().invoke(
        x3ml_command, ["--mapping", str(mapping), "--input", str(record), "--format", fmt, "--quiet"]
    )
    assert result.exit_code == 0
    assert "cidoc-crm" in result.stdout


def test_reproducible_by_default(files):
    mapping, record = files
    args = ["--mapping", str(mapping), "--input", str(record), "--record-id", "r1", "--quiet"]
    first, second = CliRunner().invoke(x3ml_command, args), CliRunner().invoke(x3ml_command, args)
    assert first.stdout == second.stdout
    assert "<urn:uuid:" in first.stdout


def test_invalid_mapping_exits_2_with_one_line(write, capsys):
    mapping = write("bad.x3ml", '<x3ml version="1.0" source_type="xpath"><mappings/></x3ml>')
    record = write("in.xml", RECORD)
    with pytest.raises(SystemExit) as exit_info:
        main(["x3ml", "--mapping", str(mapping), "--input", str(record)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"error: {mapping}: line 1: invalid X3ML mapping: <x3ml> contains mappings")


def test_inputs_with_different_roots_fail(files, write, capsys):
    mapping, record = files
    other = write("other.xml", "<other/>")
    with pytest.raises(SystemExit) as exit_info:
        main(["x3ml", "--mapping", str(mapping), "--input", str(record), "--input", str(other)])
    assert exit_info.value.code == 2
    assert "different root nodes: [other , r]" in capsys.readouterr().err
