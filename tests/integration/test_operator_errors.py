"""What an operator sees when something around the pipeline is wrong: one ``error:`` line on stderr
that says what to do, the documented exit code, no traceback.

Every case runs the installed ``contentcloud`` console script in a subprocess (this worktree's code
through ``PYTHONPATH``), so logging, stderr and exit codes are the real ones.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from mdstore import RecordInput, UnitKey, open_store
from tests.servers.oai_faults import FaultyRepository, fault_server

PROJECT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def contentcloud(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CONTENTCLOUD_")}
    environ["PYTHONPATH"] = str(PROJECT)
    return subprocess.run(
        [str(Path(sys.executable).with_name("contentcloud")), *args],
        cwd=cwd,
        env={**environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def error_line(result) -> str:
    """The whole of stderr, which must be exactly one line."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def write_profile(registry: Path, ident: str, baseurl: str, **extra) -> Path:
    registry.mkdir(exist_ok=True)
    path = registry / f"{ident}.yaml"
    profile = {
        "id": ident,
        "name": ident.title(),
        "nsprefix": ident,
        "api": {"protocol": "oai", "baseurl": baseurl, "metadata_prefix": "oai_dc"},
        **extra,
    }
    path.write_text(yaml.safe_dump(profile), encoding="utf-8")
    return path


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- the source cannot be reached -----------------------------------------------------------------


def test_a_refused_connection_fails_in_seconds_with_one_line(tmp_path):
    port = closed_port()
    write_profile(tmp_path / "registry", "dead", f"http://127.0.0.1:{port}/oai")
    started = time.monotonic()
    result = contentcloud("harvest", "dead", cwd=tmp_path)
    elapsed = time.monotonic() - started
    assert result.returncode == 4, result.stderr
    assert elapsed < 15  # not the 85 s of back-off meant for a busy server
    line = error_line(result)
    assert re.fullmatch(
        rf"error: dead: http://127\.0\.0\.1:{port}/oai: Identify: cannot connect to 127\.0\.0\.1:{port} "
        r"\(connection refused; 3 attempts in \ds\): check that the server is running and that the "
        r"profile's address is right; the harvest stopped after page 0 and can be continued with --resume "
        r"\(or dropped with --abort\); to continue: contentcloud harvest dead --resume",
        line,
    ), line
    # the summary is still on stdout, without repeating the error
    assert "harvest dead: failed_resumable" in result.stdout
    assert "cannot connect" not in result.stdout


# --- the store file is not usable ------------------------------------------------------------------


def test_a_store_file_that_is_not_sqlite_is_refused(tmp_path):
    store = tmp_path / "md.sqlite"
    store.write_bytes(b"this is a text file, not a database\n" * 10)
    result = contentcloud("--mdstore", f"sqlite:///{store}", "mdstore", "list", cwd=tmp_path)
    assert result.returncode == 1
    assert error_line(result) == (
        f"error: {store}: not an SQLite database, so not an MDStore: restore it from a backup,"
        " or move it away to start an empty one"
    )
    assert store.read_bytes().startswith(b"this is a text file")  # left as it was


def test_an_empty_store_file_is_refused(tmp_path):
    store = tmp_path / "md.sqlite"
    store.touch()
    result = contentcloud("--mdstore", f"sqlite:///{store}", "mdstore", "list", cwd=tmp_path)
    assert result.returncode == 1
    assert error_line(result) == (
        f"error: {store}: the MDStore file is empty (0 bytes), so it holds no MDStore: delete it to"
        " start an empty one, or restore it from a backup"
    )
    assert store.stat().st_size == 0


def test_a_truncated_store_file_is_refused_before_any_query(tmp_path):
    store = tmp_path / "md.sqlite"
    with open_store(f"sqlite:///{store}") as md:
        tx = md.begin(UnitKey("demo", "oai_dc"), "full")
        tx.write((RecordInput(f"oai:{i}", f"<r>{'x' * 4000}{i}</r>"), False) for i in range(300))
        tx.commit()
    assert not Path(f"{store}-wal").exists()  # checkpointed on close: the header is current
    full = store.stat().st_size
    with store.open("r+b") as handle:
        handle.truncate(full // 2)
    result = contentcloud("--mdstore", f"sqlite:///{store}", "mdstore", "list", cwd=tmp_path)
    assert result.returncode == 1
    assert error_line(result) == (
        f"error: {store}: the MDStore file is truncated ({full // 2} bytes of {full}): restore it from a"
        " backup, or move it away to start an empty one"
    )


def test_a_damaged_page_is_reported_as_damage(tmp_path):
    """A file of the right length whose schema page is overwritten: SQLite's own "malformed"."""
    store = tmp_path / "md.sqlite"
    with open_store(f"sqlite:///{store}"):
        pass
    with store.open("r+b") as handle:
        handle.seek(100)
        handle.write(b"\xff" * 200)
    result = contentcloud("--mdstore", f"sqlite:///{store}", "mdstore", "list", cwd=tmp_path)
    assert result.returncode == 1
    assert re.fullmatch(
        rf"error: {re.escape(str(store))}: the MDStore file is damaged \(.+\): restore it from a backup,"
        r" or move it away to start an empty one",
        error_line(result),
    )


def test_any_other_damaged_sqlite_file_is_one_line_too(tmp_path):
    """The publisher's own file, which has no header check: the command line's last resort."""
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "oai.sqlite").write_bytes(b"junk" * 100)
    result = contentcloud("publish", cwd=tmp_path)
    assert result.returncode == 1
    assert error_line(result) == (
        "error: an SQLite file is damaged or unusable (file is not a database); run again with"
        " --log-level DEBUG to see which, then restore it from a backup or move it away"
    )


def test_a_store_in_a_missing_directory_is_refused_but_the_default_var_is_created(tmp_path):
    missing = tmp_path / "typo" / "md.sqlite"
    result = contentcloud("--mdstore", f"sqlite:///{missing}", "mdstore", "list", cwd=tmp_path)
    assert result.returncode == 2
    assert error_line(result) == (
        f"error: flag: mdstore: the directory {missing.parent} does not exist; create it"
        f" (mkdir -p {missing.parent}) or correct the path"
    )
    assert not missing.parent.exists()
    from_env = contentcloud(
        "mdstore", "list", cwd=tmp_path, env={"CONTENTCLOUD_INDEX": "sqlite:///nowhere/index.sqlite"}
    )
    assert from_env.returncode == 2
    assert error_line(from_env) == (
        "error: env:CONTENTCLOUD_INDEX: index: the directory nowhere does not exist; create it"
        " (mkdir -p nowhere) or correct the path"
    )
    default = contentcloud("mdstore", "list", cwd=tmp_path)
    assert default.returncode == 0, default.stderr
    assert (tmp_path / "var" / "mdstore.sqlite").is_file()


# --- the disk fills up ------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MB tmpfs (root only): the store fills it during a harvest."""
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_a_full_disk_is_resumable_and_the_resumed_harvest_is_complete(tmp_path, small_disk):
    repo = FaultyRepository.with_records(600, page_size=50)
    for i, item in enumerate(repo.items.values()):
        item.title = f"{i:04d}" + os.urandom(1500).hex()  # incompressible, ~3 KB a record
    store = small_disk / "md.sqlite"
    env = {"CONTENTCLOUD_MDSTORE": f"sqlite:///{store}"}
    with fault_server(repo) as server:
        write_profile(tmp_path / "registry", "big", f"{server.url}/oai")
        full = contentcloud("harvest", "big", cwd=tmp_path, env=env)
        assert full.returncode == 4, full.stderr
        assert re.fullmatch(
            rf"error: the disk is full \({re.escape(str(store))}, \d+ KiB free\): what was written up to"
            r" the last checkpoint is kept; free space, then continue with --resume",
            error_line(full),
        )
        subprocess.run(["mount", "-o", "remount,size=40m", str(small_disk)], check=True)
        resumed = contentcloud("harvest", "big", "--resume", cwd=tmp_path, env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert "the unit now holds 600 records and 0 tombstones" in resumed.stdout
    unit = UnitKey("big", "oai_dc")
    with open_store(f"sqlite:///{store}") as md, md.reader(unit) as view:
        assert md.open_transaction(unit) is None
        titles = sorted(r.body_text().split("<dc:title>")[1][:4] for r in view.records())
    assert titles == [f"{i:04d}" for i in range(600)]  # every record once, none lost at the full disk


# --- one profile of the registry is broken ---------------------------------------------------------


def test_one_invalid_profile_is_listed_as_such_and_the_others_keep_working(tmp_path):
    registry = tmp_path / "registry"
    repo = FaultyRepository.with_records(20)
    with fault_server(repo) as server:
        write_profile(registry, "good", f"{server.url}/oai")
        bad = write_profile(registry, "bad", "ftp://wrong.example/oai")
        listing = contentcloud("datasource", "list", cwd=tmp_path)
        assert listing.returncode == 0, listing.stderr
        rows = [line.split("\t") for line in listing.stdout.splitlines()]
        assert rows[0] == ["id", "name", "protocol", "format", "schedule", "enabled"]
        assert rows[1] == ["good", "Good", "oai", "oai_dc", "-", "yes"]
        assert rows[2][:5] == ["bad", "-", "-", "-", "-"]
        assert rows[2][5].startswith("INVALID (bad.yaml: api.baseurl: 'ftp://wrong.example/oai' ")
        assert error_line(listing) == (
            f"1 profile(s) invalid and skipped; see: contentcloud datasource validate {bad}"
        )
        harvested = contentcloud("harvest", "good", cwd=tmp_path)
        assert harvested.returncode == 0, harvested.stderr
        assert "records 20 in 2 pages" in harvested.stdout
    refused = contentcloud("harvest", "bad", cwd=tmp_path)
    assert refused.returncode == 2
    line = error_line(refused)
    assert line.startswith(f"error: {bad}: api.baseurl: the profile of 'bad' is invalid: api.baseurl: ")
    assert line.endswith(f"; fix it (contentcloud datasource validate {bad})")


# --- progress without a terminal --------------------------------------------------------------------


def test_a_harvest_without_a_terminal_prints_a_progress_line_every_interval(tmp_path):
    repo = FaultyRepository.with_records(50, page_delay=0.2)
    with fault_server(repo) as server:
        write_profile(tmp_path / "registry", "slow", f"{server.url}/oai")
        result = contentcloud("harvest", "slow", cwd=tmp_path, env={"CONTENTCLOUD_PROGRESS_INTERVAL": "0.3"})
        quiet = contentcloud("harvest", "slow", cwd=tmp_path, env={"CONTENTCLOUD_PROGRESS_INTERVAL": "0"})
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert 2 <= len(lines) <= 5, result.stderr  # 5 pages 0.2 s apart, one line per 0.3 s at most
    for line in lines:
        assert re.fullmatch(r"slow: \d\d of 50 \(\d+%\), \d+/s, ETA 0:00:0\d, all records, page \d", line)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == ""
