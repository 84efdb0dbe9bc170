"""Streaming a large input file record by record: same triples as each record alone, memory flat."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from contentcloud.cli.x3ml import x3ml as x3ml_command
from mdstore.errors import RecordParseError
from tests.unit.transforms.x3ml.x3ml_helpers import domain, entity, link, literal_label, x3ml
from transforms.x3ml import X3MLMapping

ROOT = Path(__file__).resolve().parents[4]
MAPPING = x3ml(
    "<mapping>"
    + domain("/r", entity("crm:E78"))
    + link("item", "crm:P46", "item", entity("crm:E22", labels=literal_label("name/text()")))
    + "</mapping>"
)
RECORDS = [
    "<r><item><name>a</name></item></r>",
    "<r><item><name>b</name></item><item><name>c</name></item></r>",
    '<r xmlns:x="urn:x"><x:skip/><item><name>d</name></item></r>',
]
FILE = "<?xml version='1.0'?>\n<records>\n  " + "\n  <!-- between -->\n  ".join(RECORDS) + "\n</records>\n"
TYPE = "<http://www.w3.org/1999/02/22-rdf-syntax-ns#type>"
CRM = "http://www.cidoc-crm.org/cidoc-crm/"


@pytest.fixture
def mapping() -> X3MLMapping:
    return X3MLMapping.load(("m.x3ml", MAPPING.encode()))


def test_each_record_maps_as_a_document_of_its_own(mapping, write):
    path = write("in.xml", FILE)
    streamed = list(mapping.transform_stream(path, record_id="batch"))
    alone = [mapping.transform(record, record_id=f"batch/{i}") for i, record in enumerate(RECORDS, start=1)]
    assert [r.record_id for r in streamed] == ["batch/1", "batch/2", "batch/3"]
    assert [r.to_ntriples() for r in streamed] == [r.to_ntriples() for r in alone]
    assert [len(r) for r in streamed] == [4, 7, 4]


def test_test_uuids_continue_across_records(mapping, write):
    path = write("in.xml", FILE)
    lines = "".join(
        r.to_ntriples() for r in mapping.transform_stream(path, uuid_mode="test", uuid_test_size=1)
    )
    subjects = [line.split()[0] for line in lines.splitlines() if TYPE in line]
    assert subjects == ["<uuid:A>", "<uuid:B>", "<uuid:C>", "<uuid:D>", "<uuid:E>", "<uuid:F>", "<uuid:G>"]


def test_reproducible_uuids_without_a_record_id_come_from_the_record(mapping, write):
    twice = write("twice.xml", f"<records>{RECORDS[0]}{RECORDS[0]}{RECORDS[1]}</records>")
    first, second, third = (r.to_ntriples() for r in mapping.transform_stream(twice))
    assert first == second
    assert first != third


def test_a_fault_in_the_file_stops_after_the_records_before_it(mapping, write):
    path = write("bad.xml", f"<records>\n{RECORDS[0]}\n{RECORDS[1]}\n<r><item></r>\n</records>")
    results = mapping.transform_stream(path, record_id="f")
    assert len(next(results)) == 4
    assert len(next(results)) == 7
    with pytest.raises(RecordParseError) as caught:
        next(results)
    assert str(caught.value) == (
        f"{path}: x3ml: line 4: not well-formed XML: Opening and ending tag mismatch: item line 4 and r, "
        "line 4, column 14"
    )


def test_an_entity_is_not_expanded(mapping, write):
    path = write(
        "ent.xml",
        '<!DOCTYPE records [<!ENTITY e "BOOM">]><records><r><item><name>&e;</name></item></r></records>',
    )
    (result,) = mapping.transform_stream(path, record_id="f")
    assert "BOOM" not in result.to_ntriples()


def test_cli_stream_writes_every_record(write):
    mapping_path, input_path = write("m.x3ml", MAPPING), write("in.xml", FILE)
    result = CliRunner().invoke(
        x3ml_command,
        ["--mapping", str(mapping_path), "--input", str(input_path), "--stream", "--uuid-test-size", "1"],
    )
    assert result.exit_code == 0, result.output
    labels = [line for line in result.stdout.splitlines() if "rdf-schema#label" in line]
    assert labels == [
        '<uuid:B> <http://www.w3.org/2000/01/rdf-schema#label> "a" .',
        '<uuid:D> <http://www.w3.org/2000/01/rdf-schema#label> "b" .',
        '<uuid:E> <http://www.w3.org/2000/01/rdf-schema#label> "c" .',
        '<uuid:G> <http://www.w3.org/2000/01/rdf-schema#label> "d" .',
    ]
    assert len(result.stdout.splitlines()) == 15


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--format", "turtle"],
            "--stream writes ntriples or nquads (the other formats need the whole graph)",
        ),
        (["--input", "IN"], "--stream reads exactly one --input file"),
    ],
)
def test_cli_stream_refuses_what_it_cannot_stream(write, extra, message):
    mapping_path, input_path = write("m.x3ml", MAPPING), write("in.xml", FILE)
    extra = [str(input_path) if e == "IN" else e for e in extra]
    result = CliRunner().invoke(
        x3ml_command, ["--mapping", str(mapping_path), "--input", str(input_path), "--stream", *extra]
    )
    assert result.exit_code == 2
    assert message in result.output


MEMORY_PROBE = textwrap.dedent(
    """
    import json, sys
    from transforms.x3ml import X3MLMapping

    def status(field):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024

    mapping = X3MLMapping.load(("m.x3ml", sys.argv[2].encode()))
    before = status("VmRSS")
    records = triples = 0
    for result in mapping.transform_stream(sys.argv[1], record_id="big"):
        records += 1
        triples += result.to_ntriples().count("\\n")
    print(json.dumps({"records": records, "triples": triples, "growth": status("VmHWM") - before}))
    """
)


def test_a_large_file_streams_in_flat_memory(tmp_path):
    """48 MB of records (whole-file parsing would hold ~20 times that) map in a child process
    whose peak resident memory grows by less than 40 MB."""
    path = tmp_path / "big.xml"
    pad = "x" * 24_000
    count = 2_000
    with path.open("w") as out:
        out.write("<records>\n")
        for i in range(count):
            out.write(f"<r><item><name>n{i}</name></item><pad>{pad}</pad></r>\n")
        out.write("</records>\n")
    assert path.stat().st_size > 48_000_000
    probe = subprocess.run(
        [sys.executable, "-P", "-c", MEMORY_PROBE, str(path), MAPPING],
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    measured = json.loads(probe.stdout)
    assert (measured["records"], measured["triples"]) == (count, count * 4)
    assert measured["growth"] < 40 * 2**20, measured
