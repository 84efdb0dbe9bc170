"""``contentcloud download``: exit codes, the summary, --failures, and resume after SIGKILL."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import pytest
import yaml
from click.testing import CliRunner

from contentcloud.cli import main
from harvesters.download.service import IN_FLIGHT
from mdstore import open_store
from tests.integration.harvesters.download_support import DC, profile, record_xml, write_records
from tests.servers.file_server import FileRoute, file_server

pytestmark = pytest.mark.integration

PROJECT = Path(__file__).resolve().parents[3]


@pytest.fixture
def workspace(tmp_path):
    registry = tmp_path / "registry"
    registry.mkdir()
    uri = f"sqlite:///{tmp_path / 'mdstore.sqlite'}"
    env = {
        "CONTENTCLOUD_MDSTORE": uri,
        "CONTENTCLOUD_REGISTRY": str(registry),
        "CONTENTCLOUD_VAR": str(tmp_path / "var"),
    }
    return tmp_path, registry, uri, env


def write_profile(registry: Path, **download) -> None:
    section = {
        "xpath": "//dc:identifier",
        "namespaces": {"dc": DC},
        "allow": {"networks": ["127.0.0.1/32"]},
        "timeout": 5,
        "max_retries": 0,
        **download,
    }
    data = {
        "id": "files",
        "name": "Files",
        "nsprefix": "files",
        "api": {"protocol": "oai", "baseurl": "http://127.0.0.1:9/oai", "metadata_prefix": "oai_dc"},
        "download": section,
    }
    (registry / "files.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")


def invoke(env: dict[str, str], capsys, *args: str) -> tuple[int, str]:
    """The console entry (``main``), so errors print as one line with their exit code."""
    with mock.patch.dict(os.environ, env):
        try:
            main(list(args))
        except SystemExit as exc:
            code = int(exc.code or 0)
        else:
            code = 0
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def cli(env: dict[str, str], *args: str):
    from contentcloud.cli import cli as group

    return CliRunner().invoke(group, list(args), env=env, catch_exceptions=False)


def test_summary_exit_codes_and_the_failure_listing(workspace):
    tmp_path, registry, uri, env = workspace
    with file_server({"/ok.pdf": FileRoute(b"pdf bytes", "application/pdf")}) as server:
        write_profile(registry)
        with open_store(uri) as store:
            write_records(
                store,
                profile(),
                {
                    "a": record_xml(f"{server.url}/ok.pdf"),
                    "b": record_xml(f"{server.url}/missing.pdf", "ftp://x/y"),
                },
            )
        result = cli(env, "download", "files")
        assert result.exit_code == 3, result.output
        assert "download files: finished_with_record_errors" in result.output
        assert "records 2 (0 deleted upstream), links 3" in result.output
        assert "downloaded 1 (9 bytes): new 1, changed 0, unchanged 0 (0 not modified)" in result.output
        assert "failed 1 (refused 1), gone 1" in result.output
        assert "list them with --failures" in result.output
        assert str(tmp_path / "var" / "downloads" / "files.sqlite") in result.output

        listing = cli(env, "download", "files", "--failures")
        assert listing.exit_code == 0
        lines = listing.output.splitlines()
        assert lines[0] == "# 2 failed downloads of files"
        assert lines[1] == "record\turl\tstate\tstatus\terror\tchecked"
        rows = sorted(line.split("\t")[1:5] for line in lines[2:])
        assert rows == [
            ["ftp://x/y", "failed", "", "refused: only http and https URLs are downloaded, not 'ftp'"],
            [f"{server.url}/missing.pdf", "gone", "404", "HTTP 404 Not Found"],
        ]

        as_json = cli(env, "download", "files", "--failures", "--json")
        assert sorted(e["state"] for e in json.loads(as_json.output)) == ["failed", "gone"]

        again = cli(env, "download", "files", "--json")
        summary = json.loads(again.output)
        assert (summary["outcome"], summary["extra"]["not_modified"], summary["extra"]["unchanged"]) == (
            "finished_with_record_errors",
            0,
            1,
        )
    stored = list((tmp_path / "var" / "files").rglob("*"))
    assert [p.name for p in stored if p.is_file()] == [hashlib.sha256(b"pdf bytes").hexdigest()]


def test_usage_and_configuration_errors(workspace, capsys):
    _, registry, uri, env = workspace
    write_profile(registry)
    assert invoke(env, capsys, "download", "files", "--failures", "--resume")[0] == 2
    assert invoke(env, capsys, "download", "files") == (
        1,
        "error: files/oai_dc/store/native: nothing to download from: the unit has no committed version\n",
    )
    assert invoke(env, capsys, "download", "files", "--resume") == (
        1,
        "error: files: no interrupted download run to resume\n",
    )
    code, output = invoke(env, capsys, "download", "nope")
    assert code == 2
    assert "unknown datasource 'nope'" in output
    (registry / "files.yaml").write_text(
        yaml.safe_dump(
            {
                "id": "files",
                "name": "F",
                "nsprefix": "files",
                "api": {"protocol": "oai", "baseurl": "http://127.0.0.1:9/oai", "metadata_prefix": "oai_dc"},
                "download": {"xpath": "//x", "concurrency": 0},
            }
        ),
        encoding="utf-8",
    )
    code, output = invoke(env, capsys, "download", "files")
    assert code == 2
    assert "download.concurrency: 0 is less than the minimum of 1" in output


def test_resume_after_sigkill_fetches_each_settled_file_once(workspace):
    """A download process killed with SIGKILL mid-run: --resume continues the same run, requests
    only the files that were in flight again, and no half-written file lands in the store."""
    tmp_path, registry, uri, env = workspace
    count = 120

    def body_of(i: int):
        def chunks():
            for part in range(4):
                time.sleep(0.01)
                yield f"file {i} part {part} ".encode() * 1000

        return chunks

    routes = {f"/f{i}.bin": FileRoute(body_of(i)) for i in range(count)}
    with file_server(routes) as server:
        write_profile(registry, concurrency=2, per_host=2)
        with open_store(uri) as store:
            write_records(
                store, profile(), {f"rec-{i:03d}": record_xml(f"{server.url}/f{i}.bin") for i in range(count)}
            )
        full_env = {**os.environ, **env, "PYTHONPATH": str(PROJECT)}
        command = [str(Path(sys.executable).parent / "contentcloud"), "download", "files"]
        process = subprocess.Popen(
            command, env=full_env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        ledger = tmp_path / "var" / "downloads" / "files.sqlite"
        try:
            settled_before = _wait_for_rows(ledger, 30, process)
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
        finally:
            if process.poll() is None:
                process.kill()
        assert process.returncode == -signal.SIGKILL
        with sqlite3.connect(ledger) as db:
            (run_id,) = db.execute("SELECT run_id FROM runs WHERE state = 'open'").fetchone()
        resumed = cli(env, "download", "files", "--resume")
        per_path = {path: server.state.count(path) for path in routes}
    assert resumed.exit_code == 0, resumed.output
    assert "(resumed)" in resumed.output
    assert f"records {count} (0 deleted upstream)" in resumed.output
    assert settled_before >= 30
    with sqlite3.connect(ledger) as db:
        rows = db.execute("SELECT state, run_id, COUNT(*) FROM files GROUP BY state, run_id").fetchall()
        runs = db.execute("SELECT run_id, state FROM runs").fetchall()
    assert rows == [("ok", run_id, count)]
    assert runs == [(run_id, "finished")]
    assert all(n >= 1 for n in per_path.values())
    # only the files in flight at the kill were asked for twice: those on the network (at most
    # `concurrency`) and those downloaded but waiting for their group commit, which the ledger
    # never called stored (at most IN_FLIGHT x concurrency in all)
    assert sum(n - 1 for n in per_path.values()) <= IN_FLIGHT * 2
    files = tmp_path / "var" / "files"
    assert list((files / ".tmp").iterdir()) == []
    stored = [p for p in files.rglob("*") if p.is_file() and ".tmp" not in p.parts]
    assert len(stored) == count
    for path in stored:
        assert hashlib.sha256(path.read_bytes()).hexdigest() == path.name


def _wait_for_rows(ledger: Path, rows: int, process: subprocess.Popen) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        if ledger.exists():
            try:
                with sqlite3.connect(ledger) as db:
                    (done,) = db.execute("SELECT COUNT(*) FROM files").fetchone()
            except sqlite3.OperationalError:
                done = 0
            if done >= rows:
                return done
        time.sleep(0.02)
    raise AssertionError("the download did not get going")


def test_failures_listing_masks_tokens_in_urls(workspace):
    tmp_path, registry, uri, env = workspace
    with file_server({}) as server:
        write_profile(registry)
        with open_store(uri) as store:
            write_records(store, profile(), {"a": record_xml(f"{server.url}/x.pdf?api_key=S3CRET&amp;v=1")})
        assert cli(env, "download", "files").exit_code == 3
        listing = cli(env, "download", "files", "--failures")
        as_json = cli(env, "download", "files", "--failures", "--json")
    assert listing.output.splitlines()[2].split("\t")[1:5] == [
        f"{server.url}/x.pdf?api_key=***&v=1",
        "gone",
        "404",
        "HTTP 404 Not Found",
    ]
    assert [e["url"] for e in json.loads(as_json.output)] == [f"{server.url}/x.pdf?api_key=***&v=1"]
    assert "S3CRET" not in listing.output + as_json.output
