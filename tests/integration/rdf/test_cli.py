"""``contentcloud rdf DS [--full]`` and ``contentcloud rdf --check DS`` as users run them: output,
exit codes, and what the store holds afterwards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from mdstore import open_store
from tests.cli_runner import run_cli
from tests.integration.rdf.conftest import write_version
from tests.pe_records import pe_records


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    registry = tmp_path / "registry"
    registry.mkdir()
    (registry / "ads.yaml").write_text(yaml.safe_dump({
        "id": "ads", "name": "ADS", "nsprefix": "ads",
        "api": {"protocol": "oai", "baseurl": "http://127.0.0.1:1/oai", "metadata_prefix": "oai_dc"},
    }))  # fmt: skip
    return {
        "CONTENTCLOUD_VAR": str(tmp_path / "var"),
        "CONTENTCLOUD_MDSTORE": f"sqlite:///{tmp_path / 'mdstore.sqlite'}",
        "CONTENTCLOUD_REGISTRY": str(registry),
    }


def test_load_check_and_rebuild_from_the_command_line(env: dict[str, str]) -> None:
    with open_store(env["CONTENTCLOUD_MDSTORE"]) as store:
        version = write_version(store, pe_records(25, prefix="ads"))
    loaded = run_cli("rdf", "ads", env=env)
    assert loaded.exit_code == 0, loaded.output
    lines = loaded.output.splitlines()
    assert lines[0].startswith("rdf ads: finished in ")
    assert lines[1] == (
        f"  ads/PE/store/transformed @ {version} -> graph <https://contentcloud.example/pe/graph/ads> "
        "(full: the store holds no graph for this datasource)"
    )
    assert lines[2] == "  records read 25, loaded 25, deleted 0, errors 0"
    assert lines[3].startswith("  the graph now holds ") and lines[3].endswith(" triples of 25 records")
    checked = run_cli("rdf", "--check", "ads", env=env)
    assert checked.exit_code == 0, checked.output
    assert checked.output.startswith("check ads: store 25 records (")
    assert "MDStore 25 present records; no differences" in checked.output
    with open_store(env["CONTENTCLOUD_MDSTORE"]) as store:
        write_version(store, pe_records(24, prefix="ads"))
    behind = run_cli("rdf", "--check", "ads", "--json", env=env)
    assert behind.exit_code == 3
    report = json.loads(behind.output)
    assert (report["extra"]["unexpected_total"], report["extra"]["behind"]) == (1, True)
    again = run_cli("rdf", "ads", env=env)
    assert again.exit_code == 0
    assert "(incremental: changes since version " in again.output
    full = run_cli("rdf", "ads", "--full", "--json", env=env)
    summary = json.loads(full.output)
    assert (full.exit_code, summary["extra"]["mode"], summary["written"], summary["extra"]["records"]) == (
        0,
        "full",
        24,
        24,
    )
    assert run_cli("rdf", "--check", "ads", env=env).exit_code == 0


def test_usage_errors_are_one_line_with_exit_code_2(env: dict[str, str]) -> None:
    both = run_cli("rdf", "ads", "--full", "--check", env=env)
    assert both.exit_code == 2
    assert "--check compares, --full loads: choose one" in both.output
    unknown = run_cli("rdf", "nope", env=env)
    assert unknown.exit_code == 2
    assert unknown.output.startswith("error: ")
    assert unknown.output.rstrip().endswith("id: unknown datasource 'nope'; known: ads")
    bad_uri = run_cli("rdf", "ads", env={**env, "CONTENTCLOUD_RDF": "ftp://x/y"})
    assert bad_uri.exit_code == 2
    assert (
        "'ftp://x/y' has no supported scheme (expected one of: oxigraph://, sparql+http://, sparql+https://)"
        in (bad_uri.output)
    )
