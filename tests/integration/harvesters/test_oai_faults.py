"""The OAI-PMH harvester against a scripted faulty server: exactly-once collection under faults."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from lxml import etree

from contentcloud.pipeline.collect import collect
from contentcloud.pipeline.summary import Outcome
from tests.integration.harvesters.conftest import make_profile, present_and_deleted
from tests.servers.oai_faults import DAY, FaultyRepository, fault_server

pytestmark = pytest.mark.integration

DC_TITLE = "{http://purl.org/dc/elements/1.1/}title"


def oai_profile(url: str, **api):
    return make_profile(
        "faulty",
        {"protocol": "oai", "baseurl": f"{url}/oai", "metadata_prefix": "oai_dc", "timeout": 0.5, **api},
    )


def assert_exactly(store, datasource, repo, *, missing: set[str] = frozenset()):
    """The unit holds every repository record once, with its deletion status and its title."""
    present, deleted = present_and_deleted(store, datasource)
    expected_present = {i for i, it in repo.items.items() if not it.deleted} - missing
    assert set(present) == expected_present
    assert deleted == {i for i, it in repo.items.items() if it.deleted}
    for original_id, body in present.items():
        title = etree.fromstring(body).findtext(f".//{DC_TITLE}")
        assert title == repo.items[original_id].title


def test_transient_faults_exactly_once(store, fast, sleeps):
    repo = FaultyRepository.with_records(95, deleted={5, 50, 94})
    for page, faults in {
        2: ["503"],
        3: ["503-date"],
        4: ["500", "500"],
        5: ["drop"],
        6: ["truncate"],
        7: ["html"],
        8: ["429"],
        9: ["slow"],
    }.items():
        repo.schedule(page, *faults)
    with fault_server(repo) as server:
        datasource = oai_profile(server.url)
        summary = collect(store, datasource, options=fast, environ={})

    assert summary.outcome is Outcome.FINISHED, summary.text()
    assert_exactly(store, datasource, repo)
    assert (summary.added, summary.deleted, summary.pages, summary.errors) == (92, 3, 10, 0)
    # Retry-After honoured: 1 s as seconds, 2 s as an HTTP date measured against the server's Date
    assert sleeps[:2] == [1.0, 2.0]
    assert len(sleeps) == 9  # one wait per injected fault, each then cured by one retry
    assert all(s <= 0.05 for s in sleeps[2:])  # capped exponential back-off with jitter
    assert all(not any(f for f in faults) for faults in repo.faults.values())


def test_control_characters_repaired_and_broken_record_discarded(store, fast):
    repo = FaultyRepository.with_records(40)
    repo.page_traits = {2: {"badchars"}, 3: {"broken-record"}}
    with fault_server(repo) as server:
        datasource = oai_profile(server.url)
        summary = collect(store, datasource, options=fast, environ={})

    broken_id = "oai:test:00021"  # second record of page 3
    assert summary.outcome is Outcome.RECORD_ERRORS
    assert (summary.added, summary.discarded) == (39, 1)
    present, _ = present_and_deleted(store, datasource)
    assert broken_id not in present
    repaired = etree.fromstring(present["oai:test:00010"]).findtext(f".//{DC_TITLE}")
    assert repaired == "Title 10"  # \x0b, \x01 and &#x1; removed, every legal character kept
    with store.reader(datasource.native_unit) as view:
        discarded = view.discarded()
        errors = view.errors()
    assert len(discarded) == 1
    assert discarded[0].raw.startswith(b"<record><header><identifier>oai:test:00021</identifier>")
    assert discarded[0].source == "all records, page 3, record 2"
    assert "record is not well-formed XML" in discarded[0].error
    assert any("page is not well-formed XML" in e.message for e in errors)


def test_expired_token_falls_back_to_a_date_window(store, fast):
    repo = FaultyRepository.with_records(60)
    repo.schedule(4, "expire-all")  # every token dies, so the one re-send is refused too
    with fault_server(repo) as server:
        datasource = oai_profile(server.url)
        summary = collect(store, datasource, options=fast, environ={})

    assert summary.outcome is Outcome.FINISHED
    assert_exactly(store, datasource, repo)
    windowed = [r for r in repo.list_requests() if "from" in r]
    # last record of page 3 is record 29, stamped 2020-01-01 00:29:00: the window starts there
    assert windowed == [{"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2020-01-01T00:29:00Z"}]
    # 3 pages, the refused token sent twice, 4 pages of the window (29..59)
    assert len(repo.list_requests()) == 9
    assert repo.list_requests()[3] == repo.list_requests()[4]


def test_token_loop_stops_with_a_clear_error_and_keeps_the_current_version(store, fast):
    repo = FaultyRepository.with_records(30)
    with fault_server(repo) as server:
        datasource = oai_profile(server.url)
        first = collect(store, datasource, options=fast, environ={})
        repo.page_traits = {2: {"loop"}}
        looped = collect(store, datasource, options=fast, environ={})

    assert looped.outcome is Outcome.FAILED
    assert "the list loops" in looped.message
    assert "aborted" in looped.message
    assert store.current_version(datasource.native_unit) == first.version_out
    assert store.open_transaction(datasource.native_unit) is None
    assert len(repo.list_requests()) == 3 + 3  # first harvest; then page 1, page 2 asked twice


def test_dead_server_is_resumable_from_the_last_good_page(store, fast):
    repo = FaultyRepository.with_records(50)
    repo.schedule(4, "503", "500", "503", "500")  # more failures than max_retries=3
    with fault_server(repo) as server:
        datasource = oai_profile(server.url)
        failed = collect(store, datasource, options=fast, environ={})
        assert failed.outcome is Outcome.RESUMABLE
        assert "gave up after 4 attempts" in failed.message
        assert failed.message.endswith("the harvest stopped after page 3")  # the CLI adds --resume
        assert store.open_transaction(datasource.native_unit) is not None
        before = len(repo.list_requests())
        resumed = collect(store, datasource, resume=True, options=fast, environ={})

    assert resumed.outcome is Outcome.FINISHED
    assert_exactly(store, datasource, repo)
    assert resumed.pages == 5
    assert resumed.read == 50  # counts cover the whole harvest
    first_of_resume = repo.list_requests()[before]
    assert set(first_of_resume) == {"verb", "resumptionToken"}  # continued, not started over


@pytest.mark.parametrize("parallelism", [1, 3])
def test_sets_are_merged_without_duplicates(store, fast, parallelism):
    sets = {
        i: tuple(s for s, keep in (("a", i % 2 == 0), ("b", i % 3 == 0), ("c", i < 10)) if keep)
        for i in range(60)
    }
    repo = FaultyRepository.with_records(60, sets=sets, deleted={6})
    repo.schedule(2, "503")
    with fault_server(repo) as server:
        datasource = oai_profile(server.url, sets=["a", "b", "c"], set_parallelism=parallelism)
        summary = collect(store, datasource, options=fast, environ={})

    in_a_set = {f"oai:test:{i:05d}" for i, s in sets.items() if s}
    present, deleted = present_and_deleted(store, datasource)
    assert summary.outcome is Outcome.FINISHED
    assert set(present) | deleted == in_a_set
    assert deleted == {"oai:test:00006"}
    assert summary.read == sum(len(s) for s in sets.values())  # every set listing written...
    assert summary.added + summary.deleted == len(in_a_set)  # ...and merged to one record each


def test_incremental_harvest_starts_at_the_servers_response_date(store, fast):
    repo = FaultyRepository.with_records(30, now=datetime(2021, 6, 1, 12, 0, 0, tzinfo=UTC))
    with fault_server(repo) as server:
        datasource = oai_profile(server.url)
        full = collect(store, datasource, options=fast, environ={})
        later = datetime(2021, 6, 2, tzinfo=UTC)
        for i in (3, 4, 5):
            repo.items[f"oai:test:{i:05d}"].title += " (revised)"
            repo.items[f"oai:test:{i:05d}"].datestamp = later
        for i in (7, 8):
            repo.items[f"oai:test:{i:05d}"].deleted = True
            repo.items[f"oai:test:{i:05d}"].datestamp = later
        for i in range(30, 34):
            repo.add(f"oai:test:{i:05d}", later, f"Title {i}")
        repo.now = datetime(2021, 6, 3, 8, 30, 0, tzinfo=UTC)
        incremental = collect(store, datasource, mode="incremental", options=fast, environ={})
        again = collect(store, datasource, mode="incremental", options=fast, environ={})

    assert full.extra["watermark"]["response_date"] == "2021-06-01T12:00:00Z"
    list_requests = [r for r in repo.list_requests() if "metadataPrefix" in r]
    assert list_requests[0] == {"verb": "ListRecords", "metadataPrefix": "oai_dc"}
    assert list_requests[1] == {
        "verb": "ListRecords",
        "metadataPrefix": "oai_dc",
        "from": "2021-06-01T12:00:00Z",
    }
    assert (incremental.added, incremental.updated, incremental.deleted, incremental.read) == (4, 3, 2, 9)
    assert_exactly(store, datasource, repo)
    assert list_requests[2]["from"] == "2021-06-03T08:30:00Z"
    assert again.outcome is Outcome.FINISHED
    assert again.read == 0
    assert not again.changed


def test_incremental_with_day_granularity_sends_a_day(store, fast):
    repo = FaultyRepository.with_records(10, granularity=DAY, now=datetime(2021, 6, 1, 23, 59, tzinfo=UTC))
    with fault_server(repo) as server:
        datasource = oai_profile(server.url)
        collect(store, datasource, options=fast, environ={})
        collect(store, datasource, mode="incremental", options=fast, environ={})
    assert repo.list_requests()[-1]["from"] == "2021-06-01"


def test_get_record_mode_reports_missing_records_and_goes_on(store, fast):
    repo = FaultyRepository.with_records(25, deleted={3})
    with fault_server(repo) as server:
        datasource = oai_profile(server.url, use_get_record=True)
        gone = "oai:test:00012"
        repo.unreachable = {gone}
        summary = collect(store, datasource, options=fast, environ={})

    assert summary.outcome is Outcome.RECORD_ERRORS
    assert summary.first_errors == (f"all records, GetRecord {gone}: GetRecord failed: no such identifier",)
    present, deleted = present_and_deleted(store, datasource)
    assert deleted == {"oai:test:00003"}
    assert set(present) == {i for i in repo.items if i not in ("oai:test:00003", gone)}
    assert [r["verb"] for r in repo.requests].count("GetRecord") == 24


def test_persistent_html_page_is_resumable_and_says_so(store, fast):
    repo = FaultyRepository.with_records(20)
    repo.schedule(2, *["html"] * 5)
    with fault_server(repo) as server:
        summary = collect(store, oai_profile(server.url), options=fast, environ={})
    assert summary.outcome is Outcome.RESUMABLE
    assert (
        "the server answered an HTML page ('Down for maintenance') with HTTP 200 where XML was expected"
        in summary.message
    )


def test_full_harvest_tombstones_records_the_server_dropped(store, fast):
    repo = FaultyRepository.with_records(20)
    with fault_server(repo) as server:
        datasource = oai_profile(server.url)
        collect(store, datasource, options=fast, environ={})
        del repo.items["oai:test:00004"]
        second = collect(store, datasource, options=fast, environ={})
    assert (second.deleted, second.unchanged, second.extra["present"]) == (1, 19, 19)
    record_id = f"faulty::{hashlib.md5(b'oai:test:00004').hexdigest()}"
    with store.reader(datasource.native_unit) as view:
        assert view.get(record_id).deleted


def test_limits_refuse_a_suspicious_drop(store, fast):
    repo = FaultyRepository.with_records(20)
    with fault_server(repo) as server:
        datasource = make_profile(
            "faulty",
            {"protocol": "oai", "baseurl": f"{server.url}/oai", "metadata_prefix": "oai_dc"},
            limits={"max_drop_ratio": 0.5},
        )
        first = collect(store, datasource, options=fast, environ={})
        for i in range(15):
            del repo.items[f"oai:test:{i:05d}"]
        second = collect(store, datasource, options=fast, environ={})
    assert second.outcome is Outcome.FAILED
    assert (
        "present records would drop from 20 to 5 (75%), more than limits.max_drop_ratio = 50%"
        in second.message
    )
    assert store.current_version(datasource.native_unit) == first.version_out


def test_window_arguments_are_sent_as_typed(store, fast):
    repo = FaultyRepository.with_records(20)
    with fault_server(repo) as server:
        datasource = oai_profile(server.url)
        summary = collect(
            store,
            datasource,
            mode="incremental",
            from_="2020-01-01T00:05:00Z",
            until="2020-01-01T00:09:00Z",
            options=fast,
            environ={},
        )
    assert summary.read == 5
    assert repo.list_requests()[0] == {
        "verb": "ListRecords",
        "metadataPrefix": "oai_dc",
        "from": "2020-01-01T00:05:00Z",
        "until": "2020-01-01T00:09:00Z",
    }
    assert timedelta(0) < timedelta(seconds=summary.seconds) < timedelta(seconds=30)


def test_a_harvest_bounded_by_until_leaves_the_rest_to_the_next_incremental(store, fast):
    """The high-water mark of a harvest with ``until`` is ``until``, not the server's clock:
    otherwise the next incremental harvest would start after records nobody asked for."""
    repo = FaultyRepository.with_records(20, now=datetime(2021, 6, 1, 12, 0, 0, tzinfo=UTC))
    with fault_server(repo) as server:
        datasource = oai_profile(server.url)
        bounded = collect(store, datasource, until="2020-01-01T00:09:00Z", options=fast, environ={})
        assert bounded.extra["watermark"]["response_date"] == "2020-01-01T00:09:00Z"
        assert bounded.added == 10
        incremental = collect(store, datasource, mode="incremental", options=fast, environ={})
    first_pages = [r for r in repo.list_requests() if "metadataPrefix" in r]
    assert first_pages[0]["until"] == "2020-01-01T00:09:00Z"
    assert first_pages[1]["from"] == "2020-01-01T00:09:00Z"
    assert "until" not in first_pages[1]
    assert (incremental.added, incremental.updated) == (10, 0)  # record 9 again: unchanged
    assert incremental.extra["watermark"]["response_date"] == "2021-06-01T12:00:00Z"
    assert_exactly(store, datasource, repo)
