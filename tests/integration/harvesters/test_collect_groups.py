"""Collect writes the pages of a fast source in groups (one MDStore group, one SQLite commit, for the
pages that came while the ones before were written), and loses none of them to a failure."""

from __future__ import annotations

import threading

import pytest

from contentcloud.pipeline.collect import collect
from contentcloud.pipeline.summary import Outcome
from harvesters.base import Page
from harvesters.registry import HARVESTERS
from mdstore import RecordInput
from mdstore.errors import TransportError
from mdstore.sqlite import SqliteBackend
from tests.integration.harvesters.conftest import make_profile, present_and_deleted

pytestmark = pytest.mark.integration

PAGES, PER_PAGE = 20, 10


class Scripted:
    """A source whose pages after the first are all fetched while the writer writes the first (it
    waits for them: ``fetched``); it fails once, resumably (no answer), after page ``fail_after``."""

    fail_after: int | None = None
    writing = threading.Event()
    fetched = threading.Event()

    @classmethod
    def from_profile(cls, api, *, datasource, options=None):
        return cls()

    def harvest(self, request):
        start = (request.resume or {}).get("page", -1) + 1
        for n in range(start, PAGES):
            items = [(RecordInput(f"oai:x:{n:02d}-{i}", f"<r>{n}/{i}</r>"), False) for i in range(PER_PAGE)]
            yield Page(items=items, checkpoint={"page": n}, label=f"page {n}")
            Scripted.writing.wait(5)
            if n == Scripted.fail_after:
                Scripted.fail_after = None
                Scripted.fetched.set()
                raise TransportError("the server went away", url="http://127.0.0.1:9/oai")
        Scripted.fetched.set()  # the last page is queued: the fetcher asked for the next

    def close(self) -> None:
        pass


@pytest.fixture
def scripted(monkeypatch):
    monkeypatch.setattr(HARVESTERS, "get", lambda name: Scripted)
    return make_profile(
        "grouped", {"protocol": "oai", "baseurl": "http://127.0.0.1:9/oai", "metadata_prefix": "oai_dc"}
    )


@pytest.fixture
def groups(monkeypatch) -> list[int]:
    """The number of records each SQLite group wrote; the first one waits until every other page
    (or the error) is fetched."""
    sizes: list[int] = []
    Scripted.writing.clear()
    Scripted.fetched.clear()
    grouped = SqliteBackend.grouped
    write_rows = SqliteBackend.write_rows
    local = threading.local()

    def counting_grouped(self):
        local.rows = 0
        with grouped(self):
            yield
        sizes.append(local.rows)

    def counting_write_rows(self, version_id, rows):
        local.rows = getattr(local, "rows", 0) + len(rows)
        if not sizes:
            Scripted.writing.set()
            assert Scripted.fetched.wait(10)
        write_rows(self, version_id, rows)

    from contextlib import contextmanager

    monkeypatch.setattr(SqliteBackend, "grouped", contextmanager(counting_grouped))
    monkeypatch.setattr(SqliteBackend, "write_rows", counting_write_rows)
    return sizes


def test_a_fast_sources_pages_are_written_in_groups_with_the_last_pages_checkpoint(store, scripted, groups):
    progress: list[tuple[int, str]] = []
    summary = collect(
        store, scripted, environ={}, on_progress=lambda n, total, label: progress.append((n, label))
    )

    assert summary.outcome is Outcome.FINISHED, summary.text()
    assert (summary.pages, summary.added) == (PAGES, PAGES * PER_PAGE)
    assert groups == [PER_PAGE, (PAGES - 1) * PER_PAGE]  # the first page alone, then all the others
    assert progress == [(PER_PAGE, "page 0"), (PAGES * PER_PAGE, f"page {PAGES - 1}")]
    present, _ = present_and_deleted(store, scripted)
    assert len(present) == PAGES * PER_PAGE and present["oai:x:07-3"] == b"<r>7/3</r>"
    version = store.version(store.current_version(scripted.native_unit))
    assert version.report["harvest"]["checkpoint"] == {"page": PAGES - 1}


def test_a_failure_keeps_every_page_fetched_before_it_and_resumes_after_the_last(store, scripted, groups):
    Scripted.fail_after = 12
    first = collect(store, scripted, environ={})

    assert first.outcome is Outcome.RESUMABLE, first.text()
    assert first.pages == 13 and "the harvest stopped after page 13" in first.message
    assert sum(groups) == 13 * PER_PAGE  # the pages before the error, all written
    assert store.open_transaction(scripted.native_unit).checkpoint["harvester"] == {"page": 12}

    resumed = collect(store, scripted, environ={}, resume=True)
    assert resumed.outcome is Outcome.FINISHED, resumed.text()
    assert sum(groups) == PAGES * PER_PAGE  # nothing written twice
    present, _ = present_and_deleted(store, scripted)
    assert sorted(present) == sorted(f"oai:x:{n:02d}-{i}" for n in range(PAGES) for i in range(PER_PAGE))
