"""``contentcloud map`` with hostile stylesheets: one ``error:`` line naming the refusal, exit 1,
and the secret nowhere in what the user sees."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_runner import run_cli
from tests.unit.transforms.hostile import CHECKED, ENGINE, LXML, SAXON, SECRET, attack, expected
from transforms.confine import landlock_abi

pytestmark = pytest.mark.skipif(landlock_abi() < 1, reason="the kernel offers no Landlock")

PROJECT = Path(__file__).resolve().parents[3]


@pytest.fixture
def hostile(tmp_path, monkeypatch):
    monkeypatch.setenv("CC_TEST_SECRET", SECRET)
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    (tmp_path / "record.xml").write_text("<r/>", encoding="utf-8")
    with attack(tmp_path, mappings) as found:
        yield found


#: the looping fixtures take the default 30 s time limit through the CLI: the transform step tests them
RUNAWAY = {"saxon-iterate-loop", "saxon-tail-loop"}


@pytest.mark.parametrize("name", [n for n in SAXON + LXML if n not in RUNAWAY])
def test_map_refuses_each_hostile_stylesheet_in_one_line(hostile, name):
    path = hostile.place(name)
    record = hostile.mappings.parent / "record.xml"
    result = run_cli(
        "map", "--mapping", str(path), "--input", str(record), "--mappings-dir", str(hostile.mappings)
    )
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    # a compile-time refusal names the step; a run-time one names the record first
    assert lines[0].startswith((f"error: xslt {name}.xsl: ", f"error: record.xml: xslt {name}.xsl: ")), lines
    assert expected(CHECKED.get(name) or ENGINE[name][0] or "", hostile) in lines[0]
    hostile.assert_nothing_escaped(result.output)


def test_the_console_script_refuses_xml_base_on_an_instruction(hostile):
    """The real ``contentcloud`` program, in its own process, as a curator runs it."""
    path = hostile.place("saxon-xml-base-instruction")
    record = hostile.mappings.parent / "record.xml"
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("contentcloud")),
            "map",
            "--mapping",
            str(path),
            "--input",
            str(record),
            "--mappings-dir",
            str(hostile.mappings),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"error: xslt saxon-xml-base-instruction.xsl: {path}:4 (@select): 'secret.txt' is refused: it lies "
        f"outside the mappings directory {hostile.mappings}\n"
    )
    hostile.assert_nothing_escaped(result.stdout, result.stderr)
