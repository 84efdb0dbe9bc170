"""``contentcloud harvest``: exit codes per outcome, the printed summary, and resume after SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from contentcloud.cli import cli
from mdstore import UnitKey, open_store
from tests.servers.oai_faults import FaultyRepository, fault_server

pytestmark = pytest.mark.integration

PROJECT = Path(__file__).resolve().parents[3]


def write_profile(registry: Path, url: str, **api) -> None:
    registry.mkdir(exist_ok=True)
    profile = {
        "id": "faulty",
        "name": "Faulty",
        "nsprefix": "faulty",
        "api": {
            "protocol": "oai",
            "baseurl": f"{url}/oai",
            "metadata_prefix": "oai_dc",
            "max_retries": 2,
            "backoff": 0.01,
            "max_backoff": 0.02,
            "timeout": 5,
            **api,
        },
    }
    (registry / "faulty.yaml").write_text(yaml.safe_dump(profile), encoding="utf-8")


@pytest.fixture
def cli_env(tmp_path):
    registry = tmp_path / "registry"
    uri = f"sqlite:///{tmp_path / 'mdstore.sqlite'}"
    return registry, uri, ["--mdstore", uri, "--registry", str(registry)]


def run(args: list[str]):
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def test_exit_codes_follow_the_outcome(cli_env):
    registry, uri, base = cli_env
    repo = FaultyRepository.with_records(30, deleted={2})
    with fault_server(repo) as server:
        write_profile(registry, server.url)
        ok = run([*base, "harvest", "faulty"])
        assert ok.exit_code == 0, ok.output
        assert "harvest faulty: finished" in ok.output
        assert "records 30 in 3 pages: added 29, updated 0, deleted 1, unchanged 0" in ok.output
        assert "errors 0, discarded 0" in ok.output

        repo.page_traits = {2: {"broken-record"}}
        repo.items["oai:test:00011"].title = "changed"
        record_errors = run([*base, "harvest", "faulty", "--full"])
        assert record_errors.exit_code == 3, record_errors.output
        assert "discarded 1" in record_errors.output

        repo.page_traits = {}
        repo.schedule(2, "500", "500", "500")
        resumable = run([*base, "harvest", "faulty"])
        assert resumable.exit_code == 4, resumable.output
        assert "can be continued with --resume" in resumable.output
        refused = run([*base, "harvest", "faulty"])
        assert refused.exit_code == 4
        assert "is open; continue it with --resume or drop it with --abort" in refused.output
        resumed = run([*base, "harvest", "faulty", "--resume", "--json"])
        assert resumed.exit_code == 0, resumed.output
        assert '"outcome": "finished"' in resumed.output

        repo.page_traits = {2: {"loop"}}
        failed = run([*base, "harvest", "faulty"])
        assert failed.exit_code == 1, failed.output
        assert "the list loops" in failed.output


def test_usage_errors(cli_env):
    registry, _, base = cli_env
    write_profile(registry, "http://127.0.0.1:9")
    assert run([*base, "harvest", "faulty", "--resume", "--abort"]).exit_code == 2
    assert run([*base, "harvest", "faulty", "--full", "--from", "2020-01-01"]).exit_code == 2
    bad_date = run([*base, "harvest", "faulty", "--from", "yesterday"])
    assert bad_date.exit_code == 2
    assert "'yesterday' is not an OAI-PMH date" in bad_date.output


def test_abort_drops_the_open_harvest(cli_env):
    registry, uri, base = cli_env
    repo = FaultyRepository.with_records(30)
    repo.schedule(3, *["503"] * 3)
    with fault_server(repo) as server:
        write_profile(registry, server.url)
        assert run([*base, "harvest", "faulty"]).exit_code == 4
        aborted = run([*base, "harvest", "faulty", "--abort"])
    assert aborted.exit_code == 0
    assert "aborted the open transaction" in aborted.output
    with open_store(uri) as store:
        assert store.open_transaction(UnitKey("faulty", "oai_dc")) is None


def test_resume_after_sigkill_collects_exactly_the_full_set(cli_env):
    """A harvest process killed with SIGKILL mid-run: --resume continues from the last checkpointed
    page and the committed version holds every record exactly once."""
    registry, uri, base = cli_env
    repo = FaultyRepository.with_records(400, deleted={17, 250}, page_delay=0.05)
    unit = UnitKey("faulty", "oai_dc")
    with fault_server(repo) as server:
        write_profile(registry, server.url)
        env = {**os.environ, "PYTHONPATH": str(PROJECT)}
        command = [str(Path(sys.executable).parent / "contentcloud"), *base, "harvest", "faulty"]
        process = subprocess.Popen(
            command, env=env, cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        try:
            pages = _wait_for_pages(uri, unit, 5, process)
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
        finally:
            if process.poll() is None:
                process.kill()
        assert process.returncode == -signal.SIGKILL
        requests_before = len(repo.list_requests())
        repo.page_delay = 0
        resumed = subprocess.run(
            [*command, "--resume"], env=env, cwd=PROJECT, capture_output=True, text=True, timeout=120
        )
    assert resumed.returncode == 0, resumed.stderr
    assert "records 400 in 40 pages" in resumed.stdout
    first_resumed = repo.list_requests()[requests_before]
    assert set(first_resumed) == {"verb", "resumptionToken"}
    # it redoes at most the page in flight when killed, never the pages already checkpointed
    assert len(repo.list_requests()) - requests_before <= 40 - pages + 1
    with open_store(uri) as store, store.reader(unit) as view:
        assert view.count() == 400
        assert view.count(deleted=True) == 2
        assert {original for _, original, _ in view.ids()} == set(repo.items)


def _wait_for_pages(uri: str, unit: UnitKey, pages: int, process: subprocess.Popen) -> int:
    deadline = time.monotonic() + 60
    with open_store(uri) as store:
        while time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()
            info = store.open_transaction(unit) if store.current_version(unit) is None else None
            done = ((info.checkpoint if info else {}).get("counts") or {}).get("pages", 0)
            if done >= pages:
                return done
            time.sleep(0.02)
    raise AssertionError("the harvest did not get going")
