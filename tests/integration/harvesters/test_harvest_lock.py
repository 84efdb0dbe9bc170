"""Two real processes on one datasource: a second ``harvest``, ``--resume`` or ``--abort`` while a
harvest runs is refused in one line naming it (exit 1) and leaves it alone; once the first process is
killed with SIGKILL, ``--resume`` takes over (at once on this host, with ``--force`` when the writer
was on another host and stopped beating) and nothing committed or fetched is lost."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from mdstore import UnitKey, make_record_id, open_store
from mdstore.envelope import utcnow
from tests.integration.harvesters.test_harvest_cli import write_profile
from tests.servers.oai_faults import FaultyRepository, fault_server

pytestmark = pytest.mark.integration

PROJECT = Path(__file__).resolve().parents[3]
UNIT = UnitKey("faulty", "oai_dc")
RECORDS, PAGES = 400, 40
#: another process opening a transaction on the unit through the API
BEGIN = """
import sys
from mdstore import UnitKey, open_store
from mdstore.errors import WriterLockError
with open_store(sys.argv[1]) as store:
    try:
        store.begin(UnitKey("faulty", "oai_dc"))
    except WriterLockError as exc:
        print(type(exc).__name__, exc)
"""


@pytest.fixture(params=["sqlite", "mongodb"])
def store_uri(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'mdstore.sqlite'}"
    server = request.getfixturevalue("mongo_server")
    return f"{server.url.rstrip('/')}/t{uuid.uuid4().hex[:12]}"


class Cli:
    """The ``contentcloud`` command as a separate process, heartbeats every 0.3 s (stale after 1.5 s)."""

    def __init__(self, registry: Path, uri: str) -> None:
        self.command = [
            str(Path(sys.executable).parent / "contentcloud"),
            "--mdstore",
            uri,
            "--registry",
            str(registry),
        ]
        self.env = {
            **os.environ,
            "PYTHONPATH": str(PROJECT),
            "CONTENTCLOUD_WRITER_HEARTBEAT": "0.3",
            "CONTENTCLOUD_WRITER_TIMEOUT": "1.5",
        }

    def start(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [*self.command, *args], env=self.env, cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )

    def run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*self.command, *args], env=self.env, cwd=PROJECT, capture_output=True, text=True, timeout=120
        )


def wait_for_pages(uri: str, pages: int, process: subprocess.Popen) -> int:
    deadline = time.monotonic() + 60
    with open_store(uri) as store:
        while time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()
            info = store.open_transaction(UNIT)
            done = ((info.checkpoint if info else {}).get("counts") or {}).get("pages", 0)
            if done >= pages:
                return done
            time.sleep(0.02)
    raise AssertionError("the harvest did not get going")


def pages_checkpointed(uri: str) -> int:
    with open_store(uri) as store:
        return store.open_transaction(UNIT).checkpoint["counts"]["pages"]


def kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL


def one_line_error(result: subprocess.CompletedProcess) -> str:
    """The refusal: exit 1, one line on stderr, no traceback, nothing on stdout."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def committed_first(cli: Cli, repo: FaultyRepository, uri: str) -> str:
    """A first complete harvest, so the test can show that the committed version is never touched."""
    first = cli.run("harvest", "faulty")
    assert first.returncode == 0, first.stderr
    with open_store(uri) as store:
        return store.current_version(UNIT)


def test_a_running_harvest_is_refused_to_others_then_resumed_after_sigkill(tmp_path, store_uri):
    repo = FaultyRepository.with_records(RECORDS, deleted={17, 250})
    registry = tmp_path / "registry"
    cli = Cli(registry, store_uri)
    with fault_server(repo) as server:
        write_profile(registry, server.url)
        v1 = committed_first(cli, repo, store_uri)
        repo.items["oai:test:00003"].title = "changed"
        repo.page_delay = 1.0  # 40 s in all: time for the other processes to try on a busy machine
        process = cli.start("harvest", "faulty")
        try:
            wait_for_pages(store_uri, 3, process)
            with open_store(store_uri) as store:
                running = store.open_transaction(UNIT).id
            who = f"(host {socket.gethostname()}, pid {process.pid}, run collect-"
            again = one_line_error(cli.run("harvest", "faulty"))
            assert again.startswith(f"error: {UNIT.name}: {running}: a harvest is running {who}")
            assert again.endswith("; wait for it to finish or stop it first")
            for args in (["--resume"], ["--abort"], ["--resume", "--force"], ["--abort", "--force"]):
                refused = one_line_error(cli.run("harvest", "faulty", *args))
                assert refused.startswith(
                    f"error: {UNIT.name}: {running}: the open transaction is held by a live writer {who}"
                )
                assert (
                    ", last heartbeat " in refused
                    and " s ago); wait for it to finish or stop it first" in refused
                )
                assert refused.endswith("first") != ("--force" in args)
            begin = subprocess.run(
                [sys.executable, "-c", BEGIN, store_uri],
                env=cli.env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert begin.stdout.startswith(
                f"WriterLockError {UNIT.name}: {running}: an open transaction ({running}) already exists, "
                f"held by a live writer {who}"
            ), begin.stderr
            assert one_line_error(cli.run("mdstore", "abort", "faulty")).startswith(
                f"error: {UNIT.name}: {running}: the open transaction is held by a live writer {who}"
            )
            # the running harvest was left alone: it goes on writing pages into the same transaction
            before = pages_checkpointed(store_uri)
            wait_for_pages(store_uri, before + 2, process)
            pages = pages_checkpointed(store_uri)
            kill(process)
        finally:
            if process.poll() is None:
                process.kill()
        with open_store(store_uri) as store:
            assert store.current_version(UNIT) == v1 and store.open_transaction(UNIT).id == running
            assert [w.state for w in store.writers(UNIT)] == ["dead"]  # same host: the pid is gone
        requests_before = len(repo.list_requests())
        repo.page_delay = 0
        resumed = cli.run("harvest", "faulty", "--resume")  # no --force: a dead pid of this host
    assert resumed.returncode == 0, resumed.stderr
    assert f"records {RECORDS} in {PAGES} pages" in resumed.stdout
    # it continued after the pages already fetched, never from the start
    assert set(repo.list_requests()[requests_before]) == {"verb", "resumptionToken"}
    assert len(repo.list_requests()) - requests_before <= PAGES - pages + 1
    with open_store(store_uri) as store:
        current = store.current_version(UNIT)
        assert current == running and store.open_transaction(UNIT) is None
        assert store.version(v1).state == "committed"  # the earlier version is kept for rollback
        with store.reader(UNIT) as view:
            assert view.count() == RECORDS and view.count(deleted=True) == 2
            assert {original for _, original, _ in view.ids()} == set(repo.items)
            assert b"changed" in view.get(make_record_id("faulty", "oai:test:00003")).body_bytes()


def beat_as_if_far(store, version: str, when) -> None:
    """Rewrite the writer entry as if it ran on another host and last beat at ``when``."""
    doc = store.backend.get_version(version)
    [(owner, entry)] = doc["lock"]["holders"].items()
    far = {**entry, "host": "worker-elsewhere", "heartbeat_at": when}
    assert store.backend.swap_writers(version, doc["lock"]["epoch"], {owner: far})


def test_a_writer_of_another_host_that_stopped_beating_is_taken_over_only_with_force(tmp_path, store_uri):
    repo = FaultyRepository.with_records(RECORDS, deleted={17, 250})
    registry = tmp_path / "registry"
    cli = Cli(registry, store_uri)
    with fault_server(repo) as server:
        write_profile(registry, server.url)
        v1 = committed_first(cli, repo, store_uri)
        repo.page_delay = 0.15
        process = cli.start("harvest", "faulty")
        try:
            wait_for_pages(store_uri, 4, process)
            kill(process)
        finally:
            if process.poll() is None:
                process.kill()
        pages = pages_checkpointed(store_uri)
        # as if the killed harvest had run on another worker: this host cannot check its pid
        with open_store(store_uri) as store:
            running = store.open_transaction(UNIT).id
            beat_as_if_far(store, running, utcnow() + timedelta(minutes=1))  # it beats on
        who = f"(host worker-elsewhere, pid {process.pid}, run collect-"
        live = one_line_error(cli.run("harvest", "faulty", "--resume", "--force"))
        assert live.startswith(
            f"error: {UNIT.name}: {running}: the open transaction is held by a live writer {who}"
        )
        with open_store(store_uri) as store:
            beat_as_if_far(store, running, utcnow())  # its last beat
        time.sleep(2.6)  # more than the 1.5 s timeout after the last heartbeat
        stale = one_line_error(cli.run("harvest", "faulty", "--resume"))
        assert stale.startswith(
            f"error: {UNIT.name}: {running}: the open transaction is held by a writer on another host "
            f"that stopped beating {who}"
        )
        assert stale.endswith(
            "more than 1.5 s): presumed dead, but this host cannot check; "
            "take it over with --force if that process is gone"
        )
        again = cli.run("harvest", "faulty")
        assert again.returncode == 4 and "Traceback" not in again.stderr
        assert "its writer on another host stopped beating (host worker-elsewhere" in again.stderr
        assert "continue it with --resume --force or drop it with --abort --force" in again.stderr
        requests_before = len(repo.list_requests())
        repo.page_delay = 0
        forced = cli.run("harvest", "faulty", "--resume", "--force")
    assert forced.returncode == 0, forced.stderr
    assert f"records {RECORDS} in {PAGES} pages" in forced.stdout
    assert len(repo.list_requests()) - requests_before <= PAGES - pages + 1
    with open_store(store_uri) as store:
        assert store.current_version(UNIT) == running and store.version(v1).state == "committed"
        with store.reader(UNIT) as view:
            assert view.count() == RECORDS and view.count(deleted=True) == 2
