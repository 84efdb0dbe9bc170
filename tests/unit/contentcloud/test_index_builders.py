"""The index step's builder processes: they start wherever the feed runs (Airflow's task runner
re-ran its ``airflow`` script in them and they died), and a dead or stuck builder is a clear error
within a bounded time, never a hang."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

import pytest

from contentcloud.pipeline import index as index_step
from mdstore.errors import ProvisionError
from provision.index.profile import IndexProfile, load_profile

ROOT = Path(__file__).resolve().parents[3]
ARGS = index_step._BuildArgs("src", "v1", "2026-01-01T00:00:00Z", None, None)


@pytest.fixture(scope="module")
def profile() -> IndexProfile:
    return load_profile(ROOT / "mappings" / "index" / "pe.yaml")


class _ExitOnLoad:
    """Unpickled in the builder, it ends the builder process at once (a crash)."""

    def __reduce__(self):
        return (os._exit, (3,))


class _SleepOnLoad:
    """Unpickled in the builder, it keeps the builder busy (a stuck builder)."""

    def __reduce__(self):
        return (time.sleep, (60,))


MAIN_SCRIPT = """
import sys
if __name__ != "__main__":
    # what the airflow entry script amounts to under the task runner: importing it fails
    raise SystemExit("the builder re-ran the parent's main script")
from contentcloud.pipeline import index
from provision.index.profile import load_profile
profile = load_profile(sys.argv[1])
args = index._BuildArgs("src", "v1", "2026-01-01T00:00:00Z", None, None)
with index._builder(profile, 2) as build:
    built = index._wait_built(build([], args), 60)
print("built", built.records, len(built.docs))
"""


def test_builders_do_not_re_run_the_parents_main_script(tmp_path: Path) -> None:
    script = tmp_path / "entry.py"
    script.write_text(MAIN_SCRIPT)
    result = subprocess.run(
        [sys.executable, str(script), str(ROOT / "mappings" / "index" / "pe.yaml")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout == "built 0 0\n"
    assert "re-ran" not in result.stderr


DEAD_AT_START = """
import sys, time, multiprocessing.spawn as spawn
from contentcloud.pipeline import index
from provision.index.profile import load_profile
profile = load_profile(sys.argv[1])
from multiprocessing import resource_tracker
resource_tracker.ensure_running()  # started with the real interpreter: only the builder dies
spawn.set_executable("/bin/false")  # a builder that dies before it reads its start data
started = time.monotonic()
try:
    with index._builder(profile, 1) as build:
        index._wait_built(build([], index._BuildArgs("src", "v1", "2026-01-01T00:00:00Z", None, None)), 60)
except Exception as exc:
    print(type(exc).__name__, str(exc).split(" (")[0], time.monotonic() - started < 20)
"""


def test_a_builder_dead_at_start_fails_the_feed_instead_of_hanging_it(tmp_path: Path) -> None:
    """The start data went through a pipe the parent filled while the child was dead: with the
    76 KB profile in it the parent blocked forever (the hang under Airflow's task runner)."""
    script = tmp_path / "dead.py"
    script.write_text(DEAD_AT_START)
    result = subprocess.run(
        [sys.executable, str(script), str(ROOT / "mappings" / "index" / "pe.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.stdout == "ProvisionError index builders: a document builder process died True\n", (
        result.stderr
    )
    assert (
        len(pickle.dumps(index_step._builder_start(load_profile(ROOT / "mappings" / "index" / "pe.yaml"))))
        < 4096
    )


def test_a_builder_loads_the_profile_it_was_given_or_refuses(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(index_step, "_WORKER_PROFILE", None)  # this process plays the builder
    source = ROOT / "mappings" / "index"
    for name in ("pe.yaml", "pe-classes.json"):
        (tmp_path / name).write_bytes((source / name).read_bytes())
    profile = load_profile(tmp_path / "pe.yaml")
    index_step._init_builder(*index_step._builder_start(profile))
    assert index_step._WORKER_PROFILE.digest == profile.digest
    (tmp_path / "pe.yaml").write_text((source / "pe.yaml").read_text() + "\n# edited\n")
    with pytest.raises(ProvisionError) as caught:
        index_step._init_builder(*index_step._builder_start(profile))
    assert (
        str(caught.value)
        == f"index builders: the index profile {tmp_path / 'pe.yaml'} changed since the feed began"
    )


def test_a_dead_builder_fails_the_feed_with_a_clear_error(profile: IndexProfile) -> None:
    started = time.monotonic()
    with pytest.raises(ProvisionError) as caught, index_step._builder(profile, 1) as build:
        index_step._wait_built(build([], _ExitOnLoad()), 60)
    assert time.monotonic() - started < 30
    assert str(caught.value).startswith("index builders: a document builder process died (")
    assert str(caught.value).endswith("or set index.workers: 0 to build in the feeding process")


def test_a_stuck_builder_is_stopped_after_the_page_timeout(
    profile: IndexProfile, monkeypatch: pytest.MonkeyPatch
) -> None:
    processes = []
    original = index_step._BuilderContext.Process

    def remember(self, *args, **kwargs):
        process = original(self, *args, **kwargs)
        processes.append(process)
        return process

    monkeypatch.setattr(index_step._BuilderContext, "Process", remember)
    started = time.monotonic()
    with pytest.raises(ProvisionError) as caught, index_step._builder(profile, 1) as build:
        index_step._wait_built(build([], _SleepOnLoad()), 1.5)
    assert time.monotonic() - started < 15
    assert str(caught.value) == "index builders: no documents from a builder process in 1.5 s; it was stopped"
    assert len(processes) == 1
    assert processes[0].exitcode is not None  # killed, not left sleeping


def test_a_feed_with_builders_builds_pages(profile: IndexProfile) -> None:
    with index_step._builder(profile, 1) as build:
        built = index_step._wait_built(build([], ARGS), 60)
    assert (built.records, built.docs, built.errors) == (0, [], [])


IN_A_DAEMONIC_PROCESS = """
import importlib, multiprocessing, sys
from contentcloud.pipeline import index
from provision.index.profile import load_profile

def feed(path, answers):
    # what a task runner forked from a Celery prefork child is: a process marked daemonic
    profile = load_profile(path)
    args = index._BuildArgs("src", "v1", "2026-01-01T00:00:00Z", None, None)
    with index._builder(profile, 1) as build:
        built = index._wait_built(build([], args), 60)
    answers.put((built.records, multiprocessing.current_process().daemon))

if __name__ == "__main__":
    # multiprocessing's, or billiard's: Celery's pool, whose process objects the task runner inherits
    context = importlib.import_module(sys.argv[2]).get_context("fork")
    answers = context.Queue()
    child = context.Process(target=feed, args=(sys.argv[1], answers), daemon=True)
    child.start()
    child.join(120)
    print("exit", child.exitcode, "answer", answers.get(timeout=5) if child.exitcode == 0 else None)
"""


@pytest.mark.parametrize("library", ["multiprocessing", "billiard"])
def test_builders_start_from_a_daemonic_process(tmp_path: Path, library: str) -> None:
    """Celery's prefork pool runs tasks in daemonic processes of billiard's; the builders start there
    all the same, and the process keeps its daemonic mark afterwards."""
    if library == "billiard":
        pytest.importorskip("billiard", reason="Celery is not installed (the airflow extra)")
    script = tmp_path / "daemonic.py"
    script.write_text(IN_A_DAEMONIC_PROCESS)
    result = subprocess.run(
        [sys.executable, str(script), str(ROOT / "mappings" / "index" / "pe.yaml"), library],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert "daemonic processes are not allowed" not in result.stderr, result.stderr[-2000:]
    assert result.stdout == "exit 0 answer (0, True)\n", result.stderr[-2000:]
