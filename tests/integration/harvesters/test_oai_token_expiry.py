"""Expired resumption tokens never lose a harvest: the token is sent once more, then a date window
takes over, the fallback budget counts one stretch of failures, and a spent budget keeps the open
transaction for ``--resume`` (exit 4). Against the scripted fault server on 127.0.0.1."""

from __future__ import annotations

import pytest

from contentcloud.pipeline.collect import collect
from contentcloud.pipeline.summary import Outcome
from harvesters.oai.iterator import MAX_WINDOW_FALLBACKS
from mdstore import UnitKey, open_store
from tests.integration.harvesters.conftest import present_and_deleted
from tests.integration.harvesters.test_harvest_cli import cli_env, run, write_profile  # noqa: F401
from tests.integration.harvesters.test_oai_faults import assert_exactly, oai_profile
from tests.servers.oai_faults import FaultyRepository, fault_server

pytestmark = pytest.mark.integration


def ids(first: int, last: int) -> set[str]:
    return {f"oai:test:{i:05d}" for i in range(first, last + 1)}


def test_a_refused_token_is_sent_again_and_accepted(store, fast, sleeps):
    """The ``expire`` fault refuses one request and keeps the token good (as many servers do):
    four expiries in one list of 2,000 records cost four re-sends, no window, nothing lost."""
    repo = FaultyRepository.with_records(2000, page_size=100)
    for page in (5, 9, 13, 17):
        repo.schedule(page, "expire")
    with fault_server(repo) as server:
        datasource = oai_profile(server.url)
        summary = collect(store, datasource, options=fast, environ={})

    assert summary.outcome is Outcome.FINISHED, summary.text()
    assert_exactly(store, datasource, repo)
    assert (summary.read, summary.added, summary.pages, summary.errors) == (2000, 2000, 20, 0)
    requests = repo.list_requests()
    assert len(requests) == 24  # 20 pages + 4 re-sends
    assert not [r for r in requests if "from" in r]  # no date window was needed
    resent = [i for i in range(1, len(requests)) if requests[i] == requests[i - 1]]
    assert resent == [5, 10, 15, 20]  # each refused token (pages 5, 9, 13, 17) sent again at once
    assert all("resumptionToken" in requests[i] for i in resent)
    # one pause before each re-send: the second back-off step of the policy (0.02 s, jitter 0.5)
    assert len(sleeps) == 4
    assert all(0.01 <= s <= 0.02 for s in sleeps)


def test_tokens_expiring_every_few_pages_are_harvested_through(store, fast):
    """Tokens die after 3 pages for good (the re-send is refused too): every stretch costs one
    window, and a stretch ends when the window's tokens work again, so the six windows of this
    list (twice the budget of three) all go through."""
    repo = FaultyRepository.with_records(200, expire_every=3)
    with fault_server(repo) as server:
        datasource = oai_profile(server.url)
        summary = collect(store, datasource, options=fast, environ={})

    assert summary.outcome is Outcome.FINISHED, summary.text()
    assert_exactly(store, datasource, repo)
    present, deleted = present_and_deleted(store, datasource)
    assert (len(present), deleted) == (200, set())
    assert (summary.added, summary.errors, summary.discarded) == (200, 0, 0)
    # each window starts at the last record seen (29, 58, ...), which is read a second time
    windows = [r["from"] for r in repo.list_requests() if "from" in r]
    assert windows == [f"2020-01-01T0{m // 60}:{m % 60:02d}:00Z" for m in (29, 58, 87, 116, 145, 174)]
    assert len(windows) > MAX_WINDOW_FALLBACKS
    assert summary.read == 200 + len(windows)
    # 6 lists of 3 pages and a refused token sent twice, then the last window's 3 pages
    assert len(repo.list_requests()) == 6 * (3 + 2) + 3
    report = store.version(store.current_version(datasource.native_unit)).report
    state = report["harvest"]["checkpoint"]["lists"][""]
    assert (state["windows"], state["fallbacks"], state["records"], state["done"]) == (6, 0, 206, True)


def test_a_spent_budget_keeps_the_transaction_and_resume_finishes_exactly(cli_env):  # noqa: F811
    """A server that refuses every token (also when sent again): each date window yields one page
    and fails again, so the budget is spent. The run exits 4 with the command that resumes it, the
    open transaction keeps the 37 records fetched, and once the server behaves ``--resume``
    continues from the last good page and commits exactly the 50 records."""
    registry, uri, base = cli_env
    repo = FaultyRepository.with_records(50, expire_every=1)
    with fault_server(repo) as server:
        write_profile(registry, server.url)
        spent = run([*base, "harvest", "faulty"])
        assert spent.exit_code == 4, spent.output
        stderr_lines = spent.stderr.splitlines()
        assert stderr_lines[-1].endswith(
            f"; to continue: contentcloud --mdstore {uri} --registry {registry} harvest faulty --resume"
        )
        assert (
            "faulty: http://127.0.0.1:" in spent.output
            and "/oai: all records, page 5: resumption token refused (the token is invalid or "
            "expired) after it was sent twice and after 3 date-window fallback(s) in a row; the 40 "
            "record(s) read so far are kept; the harvest stopped after page 4 "
            "and can be continued with --resume (or dropped with --abort)"
            in spent.output
        ), spent.output
        # page 1 (records 0-9), then windows from records 9, 18 and 27, each one page: 37 records
        windows = [r["from"] for r in repo.list_requests() if "from" in r]
        assert windows == ["2020-01-01T00:09:00Z", "2020-01-01T00:18:00Z", "2020-01-01T00:27:00Z"]
        assert len(repo.list_requests()) == 4 * (1 + 2)
        unit = UnitKey("faulty", "oai_dc")
        with open_store(uri) as store:
            kept = store.open_transaction(unit)
            assert kept is not None
            assert store.current_version(unit) is None
            assert kept.checkpoint["counts"]["records"] == 40  # 37 records, 3 read twice
            assert kept.checkpoint["harvester"]["lists"][""]["records"] == 40

        repo.expire_every = 0  # the server behaves again
        before = len(repo.list_requests())
        resumed = run([*base, "harvest", "faulty", "--resume"])
        assert resumed.exit_code == 0, resumed.output

    # the resume sent the last good page's token (not a new list), then read the last two pages
    continued = repo.list_requests()[before:]
    assert len(continued) == 2
    assert set(continued[0]) == {"verb", "resumptionToken"}
    assert "records 53 in 6 pages: added 50, updated 0, deleted 0, unchanged 0" in resumed.output
    assert "errors 0, discarded 0" in resumed.output
    with open_store(uri) as store:
        assert store.open_transaction(unit) is None
        with store.reader(unit) as view:
            records = list(view.records())
    assert sorted(r.original_id for r in records) == sorted(ids(0, 49))
    assert not any(r.deleted for r in records)
