"""The download step against a real HTTP server on 127.0.0.1: every outcome a file can have."""

from __future__ import annotations

import hashlib
import threading
import time

import pytest

from bench._common import rss_bytes
from tests.integration.harvesters.download_support import Run, profile, record_xml, write_records
from tests.servers.file_server import FileRoute, file_server

pytestmark = pytest.mark.integration

PDF = b"%PDF-1.4 " + bytes(range(256)) * 40
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00pixels" * 500


@pytest.fixture
def run(store, tmp_path):
    return Run(store, tmp_path)


def test_files_are_stored_and_every_field_is_in_the_ledger(store, run):
    routes = {
        "/doc.pdf": FileRoute(
            PDF, "application/pdf", etag='"v1"', last_modified="Wed, 01 May 2024 10:00:00 GMT"
        ),
        "/img.png": FileRoute(PNG, "image/png"),
    }
    with file_server(routes) as server:
        ds = profile()
        version = write_records(
            store, ds, {"rec-1": record_xml(f"{server.url}/doc.pdf", f"{server.url}/img.png")}
        )
        summary = run(ds)
    assert str(summary.outcome) == "finished", summary.text()
    assert (summary.read, summary.written, summary.added, summary.errors) == (1, 2, 2, 0)
    assert summary.version_in == version
    doc = run.entry(ds, "rec-1", f"{server.url}/doc.pdf")
    assert doc.state == "ok"
    assert doc.status == 200
    assert doc.final_url is None  # no redirect
    assert doc.content_type == "application/pdf"
    assert doc.size == len(PDF)
    assert doc.sha256 == hashlib.sha256(PDF).hexdigest()
    assert doc.etag == '"v1"'
    assert doc.last_modified == "Wed, 01 May 2024 10:00:00 GMT"
    assert doc.fetched_at
    assert doc.fetched_at.endswith("Z")
    assert doc.error is None
    assert doc.original_id == "rec-1"
    assert run.files.open(doc.sha256).read() == PDF
    stored = run.files.path(doc.sha256)
    assert stored.relative_to(run.files.root).parts == (doc.sha256[:2], doc.sha256)
    assert run.temp_files() == []


def test_redirect_chain_records_the_final_url(store, run):
    with file_server({}) as server:
        server.state.routes.update(
            {
                "/a": FileRoute(redirect="/b", redirect_status=301),
                "/b": FileRoute(redirect=f"{server.url}/c", redirect_status=307),
                "/c": FileRoute(redirect="/files/real.pdf", redirect_status=302),
                "/files/real.pdf": FileRoute(PDF, "application/pdf"),
            }
        )
        ds = profile()
        write_records(store, ds, {"r": record_xml(f"{server.url}/a")})
        summary = run(ds)
        paths = [p for p, _ in server.state.requests]
    assert str(summary.outcome) == "finished"
    entry = run.entry(ds, "r", f"{server.url}/a")
    assert entry.final_url == f"{server.url}/files/real.pdf"
    assert entry.sha256 == hashlib.sha256(PDF).hexdigest()
    assert paths == ["/a", "/b", "/c", "/files/real.pdf"]


def test_a_redirect_loop_fails_the_file_only(store, run):
    with file_server({"/loop": FileRoute(redirect="/loop"), "/ok": FileRoute(PDF)}) as server:
        ds = profile(max_redirects=3)
        write_records(store, ds, {"r": record_xml(f"{server.url}/loop", f"{server.url}/ok")})
        summary = run(ds)
    assert summary.extra["failed"] == 1
    assert summary.extra["downloaded"] == 1
    assert "Exceeded 3 redirects" in run.entry(ds, "r", f"{server.url}/loop").error


def test_404_and_410_are_gone_and_listed(store, run):
    with file_server({"/was-here": FileRoute(script=[(410, {}, b"gone for good")])}) as server:
        ds = profile()
        write_records(store, ds, {"r": record_xml(f"{server.url}/missing", f"{server.url}/was-here")})
        summary = run(ds)
    assert str(summary.outcome) == "finished_with_record_errors"
    assert (summary.extra["gone"], summary.errors) == (2, 2)
    missing = run.entry(ds, "r", f"{server.url}/missing")
    assert (missing.state, missing.status, missing.error) == ("gone", 404, "HTTP 404 Not Found")
    assert run.entry(ds, "r", f"{server.url}/was-here").status == 410
    assert [(e.url.rsplit("/", 1)[1], e.state) for e in run.ledger.failures()] == [
        ("missing", "gone"),
        ("was-here", "gone"),
    ]
    assert run.stored_files() == []


def test_500_then_success_is_retried(store, run):
    route = FileRoute(PDF, "application/pdf", script=[(500, {}, b"oops"), (503, {}, b"busy")])
    with file_server({"/flaky.pdf": route}) as server:
        ds = profile()
        write_records(store, ds, {"r": record_xml(f"{server.url}/flaky.pdf")})
        summary = run(ds, max_retries=3)
        assert server.state.count("/flaky.pdf") == 3
    assert str(summary.outcome) == "finished"
    assert run.entry(ds, "r", f"{server.url}/flaky.pdf").sha256 == hashlib.sha256(PDF).hexdigest()
    assert len(run.sleeps) == 2


def test_500_forever_fails_after_the_retries(store, run):
    route = FileRoute(PDF, script=[(500, {}, b"")] * 5)
    with file_server({"/down": route}) as server:
        ds = profile()
        write_records(store, ds, {"r": record_xml(f"{server.url}/down")})
        summary = run(ds, max_retries=2)
        assert server.state.count("/down") == 3
    entry = run.entry(ds, "r", f"{server.url}/down")
    assert (entry.state, entry.status) == ("failed", 500)
    assert entry.error == "HTTP 500 Internal Server Error; gave up after 3 attempts"
    assert summary.errors == 1


def test_retry_after_is_honoured(store, tmp_path):
    waits: list[float] = []

    def sleep_for_real(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    run = Run(store, tmp_path)
    run.record_sleep = sleep_for_real  # type: ignore[method-assign]
    route = FileRoute(PDF, script=[(429, {"Retry-After": "1"}, b"slow down")])
    with file_server({"/busy": route}) as server:
        ds = profile()
        write_records(store, ds, {"r": record_xml(f"{server.url}/busy")})
        started = time.monotonic()
        summary = run(ds)
        elapsed = time.monotonic() - started
        assert server.state.count("/busy") == 2
    assert str(summary.outcome) == "finished"
    assert waits == [1.0]
    assert elapsed >= 1.0


def test_slow_response_times_out_then_the_retry_succeeds(store, run):
    route = FileRoute(PDF, script=[(200, {}, b"too late")], script_delay=1.5)
    with file_server({"/slow": route}) as server:
        ds = profile(timeout=0.3)
        write_records(store, ds, {"r": record_xml(f"{server.url}/slow")})
        summary = run(ds)
        assert server.state.count("/slow") == 2
    assert str(summary.outcome) == "finished"
    assert run.entry(ds, "r", f"{server.url}/slow").sha256 == hashlib.sha256(PDF).hexdigest()
    assert len(run.sleeps) == 1


def test_wrong_content_type_fails_and_stores_nothing(store, run):
    routes = {
        "/paper": FileRoute(b"<html><title>Landing page</title></html>", "text/html; charset=utf-8"),
        "/paper2": FileRoute(PDF, "application/pdf; qs=1"),
        "/pic": FileRoute(PNG, "image/png"),
    }
    with file_server(routes) as server:
        ds = profile(filters={"content_types": ["application/pdf", "image/*"]})
        write_records(store, ds, {"r": record_xml(*(f"{server.url}{p}" for p in routes))})
        summary = run(ds)
    entry = run.entry(ds, "r", f"{server.url}/paper")
    assert (entry.state, entry.status, entry.content_type) == ("failed", 200, None)
    assert entry.error == (
        "content type 'text/html; charset=utf-8' is not one of "
        "download.filters.content_types (application/pdf, image/*)"
    )
    assert summary.extra["downloaded"] == 2
    assert len(run.stored_files()) == 2
    assert run.temp_files() == []


def test_extension_filter_skips_without_a_request(store, run):
    routes = {
        "/a.pdf": FileRoute(PDF),
        "/b.jpg": FileRoute(PNG),
        "/c": FileRoute(PNG),
        "/d.tar.gz": FileRoute(b"tgz"),
    }
    with file_server(routes) as server:
        ds = profile(filters={"extensions": ["PDF", ".tar.gz"]})
        write_records(store, ds, {"r": record_xml(*(f"{server.url}{p}" for p in routes))})
        summary = run(ds)
        asked = sorted(p for p, _ in server.state.requests)
    assert asked == ["/a.pdf", "/c", "/d.tar.gz"]
    assert summary.extra["skipped"] == 1
    assert run.entry(ds, "r", f"{server.url}/b.jpg").state == "skipped"


def test_duplicate_file_under_two_urls_is_stored_once(store, run):
    routes = {"/one/copy.pdf": FileRoute(PDF), "/two/other-name.pdf": FileRoute(PDF)}
    with file_server(routes) as server:
        ds = profile()
        write_records(
            store,
            ds,
            {
                "a": record_xml(f"{server.url}/one/copy.pdf"),
                "b": record_xml(f"{server.url}/two/other-name.pdf", f"{server.url}/one/copy.pdf"),
            },
        )
        summary = run(ds)
        assert server.state.count("/one/copy.pdf") == 1  # the same URL for a second record: reused
    assert summary.extra["downloaded"] == 2
    assert summary.extra["deduplicated"] == 1
    assert summary.extra["reused"] == 1
    assert len(run.stored_files()) == 1
    shas = {e.sha256 for e in run.ledger.all()}
    assert shas == {hashlib.sha256(PDF).hexdigest()}
    assert len(list(run.ledger.all())) == 3


def test_conditional_requests_answered_304_download_nothing(store, run):
    routes = {
        "/etag.pdf": FileRoute(PDF, etag='"abc"'),
        "/date.pdf": FileRoute(PNG, last_modified="Tue, 02 Jan 2024 03:04:05 GMT"),
        "/plain.pdf": FileRoute(b"no validators"),
    }
    with file_server(routes) as server:
        ds = profile()
        write_records(store, ds, {"r": record_xml(*(f"{server.url}{p}" for p in routes))})
        first = run(ds)
        second = run(ds)
        etag_headers = server.state.headers_of("/etag.pdf")
        date_headers = server.state.headers_of("/date.pdf")
        plain_headers = server.state.headers_of("/plain.pdf")
    assert first.extra["downloaded"] == 3
    assert "if-none-match" not in etag_headers[0]
    assert etag_headers[1]["if-none-match"] == '"abc"'
    assert date_headers[1]["if-modified-since"] == "Tue, 02 Jan 2024 03:04:05 GMT"
    assert "if-none-match" not in plain_headers[1]
    assert "if-modified-since" not in plain_headers[1]
    assert (second.extra["not_modified"], second.extra["downloaded"], second.extra["unchanged"]) == (2, 1, 3)
    entry = run.entry(ds, "r", f"{server.url}/etag.pdf")
    assert (entry.state, entry.status, entry.sha256) == ("not-modified", 304, hashlib.sha256(PDF).hexdigest())
    assert second.added == 0
    assert second.updated == 0


def test_changed_file_is_downloaded_again(store, run):
    route = FileRoute(PDF, etag='"v1"')
    with file_server({"/f.pdf": route}) as server:
        ds = profile()
        write_records(store, ds, {"r": record_xml(f"{server.url}/f.pdf")})
        run(ds)
        route.body, route.etag = PNG, '"v2"'
        second = run(ds)
    assert second.updated == 1
    entry = run.entry(ds, "r", f"{server.url}/f.pdf")
    assert (entry.state, entry.etag, entry.sha256) == ("ok", '"v2"', hashlib.sha256(PNG).hexdigest())
    assert len(run.stored_files()) == 2  # the earlier copy is kept (content-addressed, never rewritten)


def test_max_size_announced_and_while_streaming(store, run):
    big = b"x" * 5000

    def chunks():
        for _ in range(50):
            yield b"y" * 1000

    routes = {"/announced": FileRoute(big), "/chunked": FileRoute(chunks), "/fits": FileRoute(b"z" * 4096)}
    with file_server(routes) as server:
        ds = profile(filters={"max_size": 4096})
        write_records(store, ds, {"r": record_xml(*(f"{server.url}{p}" for p in routes))})
        summary = run(ds)
    announced = run.entry(ds, "r", f"{server.url}/announced")
    assert announced.error == "the file announces 5000 bytes, more than the maximum of 4096"
    chunked = run.entry(ds, "r", f"{server.url}/chunked")
    assert chunked.error == "the file exceeds the maximum of 4096 bytes (stopped while streaming)"
    assert (chunked.state, chunked.sha256) == ("failed", None)
    assert run.entry(ds, "r", f"{server.url}/fits").size == 4096
    assert summary.extra["failed"] == 2
    assert len(run.stored_files()) == 1
    assert run.temp_files() == []


def test_loopback_is_refused_by_default_without_any_request(store, run):
    with file_server({"/f": FileRoute(PDF)}) as server:
        ds = profile(allow={})
        write_records(store, ds, {"r": record_xml(f"{server.url}/f")})
        summary = run(ds)
        assert server.state.requests == []
    entry = run.entry(ds, "r", f"{server.url}/f")
    assert entry.state == "failed"
    assert entry.error == (
        "refused: 127.0.0.1 resolves to 127.0.0.1, a loopback address not in download.allow.networks"
    )
    assert summary.extra["refused"] == 1


def test_disallowed_schemes_and_hosts_are_refused_without_any_request(store, run):
    with file_server({"/f": FileRoute(PDF)}) as server:
        port = server.server_address[1]
        ds = profile(allow={"hosts": ["127.0.0.1"]})
        urls = [
            "ftp://127.0.0.1/f",
            "file:///etc/passwd",
            f"http://localhost:{port}/f",
            "gopher://x/",
            f"{server.url}/f",
        ]
        write_records(store, ds, {"r": record_xml(*urls)})
        summary = run(ds)
        assert [p for p, _ in server.state.requests] == ["/f"]
    errors = {e.url: e.error for e in run.ledger.all()}
    assert errors["ftp://127.0.0.1/f"] == "refused: only http and https URLs are downloaded, not 'ftp'"
    assert errors["file:///etc/passwd"] == "refused: only http and https URLs are downloaded, not 'file'"
    assert (
        errors[f"http://localhost:{port}/f"] == "refused: the host localhost is not in download.allow.hosts"
    )
    assert errors[f"{server.url}/f"] is None
    assert (summary.extra["refused"], summary.extra["downloaded"]) == (4, 1)


def test_redirects_to_refused_places_are_not_followed(store, run):
    with file_server({"/f": FileRoute(PDF)}) as server:
        port = server.server_address[1]
        server.state.routes.update(
            {
                "/to-ftp": FileRoute(redirect="ftp://127.0.0.1/secret"),
                # 127.0.0.2 is loopback too, but only 127.0.0.1/32 is allowed: refused at connect time
                "/to-other-address": FileRoute(redirect=f"http://127.0.0.2:{port}/f"),
                "/to-metadata": FileRoute(redirect="http://169.254.169.254/latest/meta-data/"),
            }
        )
        ds = profile()
        write_records(
            store,
            ds,
            {
                "r": record_xml(
                    f"{server.url}/to-ftp", f"{server.url}/to-other-address", f"{server.url}/to-metadata"
                )
            },
        )
        summary = run(ds)
        assert sorted(p for p, _ in server.state.requests) == ["/to-ftp", "/to-metadata", "/to-other-address"]
    errors = {e.url.rsplit("/", 1)[1]: e.error for e in run.ledger.all()}
    assert errors["to-ftp"] == (
        f"refused: only http and https URLs are downloaded, not 'ftp' (redirected from {server.url}/to-ftp)"
    )
    assert errors["to-other-address"] == (
        "refused: 127.0.0.2 resolves to 127.0.0.2, a loopback address not in download.allow.networks"
    )
    assert errors["to-metadata"] == (
        "refused: 169.254.169.254 resolves to 169.254.169.254, a link-local "
        "address not in download.allow.networks"
    )
    assert summary.extra["refused"] == 3


def test_tombstoned_records_are_marked_and_removed_links_unreferenced(store, run):
    routes = {"/a.pdf": FileRoute(PDF, etag='"a"'), "/b.png": FileRoute(PNG), "/c.pdf": FileRoute(b"c")}
    with file_server(routes) as server:
        ds = profile()
        write_records(
            store,
            ds,
            {
                "keep": record_xml(f"{server.url}/a.pdf", f"{server.url}/c.pdf"),
                "drop": record_xml(f"{server.url}/b.png"),
            },
        )
        run(ds)
        # the next harvest: "drop" deleted upstream, "keep" lost its link to c.pdf
        write_records(store, ds, {"keep": record_xml(f"{server.url}/a.pdf"), "drop": None})
        summary = run(ds)
    dropped = run.entry(ds, "drop", f"{server.url}/b.png")
    assert dropped.state == "record-deleted"
    assert dropped.sha256 == hashlib.sha256(PNG).hexdigest()
    assert run.files.has(dropped.sha256)  # marked, not silently removed
    assert run.entry(ds, "keep", f"{server.url}/c.pdf").state == "unreferenced"
    assert run.entry(ds, "keep", f"{server.url}/a.pdf").state == "not-modified"
    assert (summary.deleted, summary.extra["records_deleted"], summary.extra["unreferenced"]) == (1, 1, 1)
    assert summary.extra["states"] == {"not-modified": 1, "record-deleted": 1, "unreferenced": 1}


def test_unreadable_record_is_listed_and_the_run_goes_on(store, run):
    with file_server({"/a": FileRoute(PDF)}) as server:
        ds = profile()
        write_records(store, ds, {"bad": b"<rec><unclosed></rec>", "good": record_xml(f"{server.url}/a")})
        summary = run(ds)
    assert summary.extra["record_errors"] == 1
    assert summary.extra["downloaded"] == 1
    (failure,) = run.ledger.failures()
    assert failure.url == ""
    assert failure.original_id == "bad"
    assert failure.error.startswith("not well-formed XML: ")


def test_rdf_records_of_the_transformed_layer(store, run):
    from mdstore import RecordInput

    crm = "http://www.cidoc-crm.org/cidoc-crm/"
    with file_server({"/img.png": FileRoute(PNG, "image/png"), "/view.pdf": FileRoute(PDF)}) as server:
        ds = profile(
            property_path=f"<{crm}P138i_has_representation>|edm:hasView",
            xpath=None,
            namespaces={"edm": "http://www.europeana.eu/schemas/edm/"},
        )
        body = (
            f"<http://ex.org/obj/1> <{crm}P138i_has_representation> <{server.url}/img.png> .\n"
            f'<http://ex.org/obj/1> <http://www.europeana.eu/schemas/edm/hasView> "{server.url}/view.pdf" .\n'
            f'<http://ex.org/obj/1> <http://purl.org/dc/terms/title> "not a link" .\n'
        )
        tx = store.begin(ds.transformed_unit, "full", stamp="transformed", nsprefix=ds.nsprefix)
        tx.upsert([RecordInput("obj-1", body)])
        tx.commit()
        summary = run(ds, layer="transformed")
    assert str(summary.outcome) == "finished", summary.text()
    assert summary.unit_in == ds.transformed_unit.name
    assert summary.extra["downloaded"] == 2
    assert run.entry(ds, "obj-1", f"{server.url}/view.pdf").sha256 == hashlib.sha256(PDF).hexdigest()


def _counting_routes(count: int, pause: float):
    """Routes whose bodies record when they start and how many run at once."""
    state = {"active": 0, "peak": 0, "starts": []}
    lock = threading.Lock()

    def body():
        with lock:
            state["active"] += 1
            state["peak"] = max(state["peak"], state["active"])
            state["starts"].append(time.monotonic())
        time.sleep(pause)
        yield b"data"
        with lock:  # before the chunked terminator: the client cannot have finished yet
            state["active"] -= 1

    return {f"/f{i}": FileRoute(body) for i in range(count)}, state


def test_per_host_connection_limit_is_kept(store, run):
    routes, state = _counting_routes(6, pause=0.1)
    with file_server(routes) as server:
        ds = profile(concurrency=6, per_host=2)
        write_records(store, ds, {f"r{i}": record_xml(f"{server.url}/f{i}") for i in range(6)})
        summary = run(ds)
    assert summary.extra["downloaded"] == 6
    assert state["peak"] == 2


def test_per_host_delay_spaces_the_requests(store, run):
    routes, state = _counting_routes(6, pause=0)
    with file_server(routes) as server:
        ds = profile(concurrency=6, per_host=6, delay=0.06)
        write_records(store, ds, {f"r{i}": record_xml(f"{server.url}/f{i}") for i in range(6)})
        summary = run(ds)
    assert summary.extra["downloaded"] == 6
    # six starts 0.06 s apart span 0.3 s (without the delay they come within a few ms);
    # some slack, as a thread may reach the server a little after its turn
    assert max(state["starts"]) - min(state["starts"]) >= 0.25


def test_a_huge_file_streams_to_disk_in_flat_memory(store, run):
    """Some 256 MB generated on the fly: anonymous memory stays flat while it streams and hashes."""
    block = bytes(range(256)) * 4096  # 1 MiB
    blocks = 256
    expected = hashlib.sha256()
    for _ in range(blocks):
        expected.update(block)

    def body():
        for _ in range(blocks):
            yield block

    peak = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], rss_bytes())
            stop.wait(0.01)

    with file_server({"/huge.bin": FileRoute(body, length=blocks * len(block))}) as server:
        ds = profile()
        write_records(store, ds, {"r": record_xml(f"{server.url}/huge.bin")})
        before = rss_bytes()
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            summary = run(ds)
        finally:
            stop.set()
            sampler.join()
    entry = run.entry(ds, "r", f"{server.url}/huge.bin")
    assert (entry.state, entry.size) == ("ok", blocks * len(block))
    assert entry.sha256 == expected.hexdigest()
    assert summary.extra["bytes"] == blocks * len(block)
    growth_mb = (peak[0] - before) / 2**20
    assert growth_mb < 40, f"anonymous memory grew by {growth_mb:.1f} MB while streaming 256 MB"


def test_the_mongodb_mdstore_works_the_same(mongo_server, tmp_path):
    """The ledger lives beside the file store, so the step only reads the MDStore: either backend."""
    import uuid

    from mdstore import open_store

    uri = f"{mongo_server.url.rstrip('/')}/dl{uuid.uuid4().hex[:12]}"
    with (
        file_server({"/a.pdf": FileRoute(PDF, etag='"a"'), "/b.png": FileRoute(PNG)}) as server,
        open_store(uri) as mongo,
    ):
        run = Run(mongo, tmp_path)
        ds = profile()
        write_records(
            mongo, ds, {"a": record_xml(f"{server.url}/a.pdf"), "b": record_xml(f"{server.url}/b.png")}
        )
        first = run(ds)
        write_records(mongo, ds, {"a": record_xml(f"{server.url}/a.pdf"), "b": None})
        second = run(ds)
    assert (first.extra["downloaded"], first.errors) == (2, 0)
    assert (second.extra["not_modified"], second.extra["records_deleted"]) == (1, 1)
    assert run.entry(ds, "b", f"{server.url}/b.png").state == "record-deleted"


def test_a_trickling_file_is_stopped_at_max_time(store, run):
    def trickle():
        for _ in range(40):
            time.sleep(0.05)
            yield b"x" * 100

    with file_server({"/slow.bin": FileRoute(trickle), "/fast.bin": FileRoute(PDF)}) as server:
        ds = profile(max_time=0.5, timeout=5)
        write_records(store, ds, {"r": record_xml(f"{server.url}/slow.bin", f"{server.url}/fast.bin")})
        started = time.monotonic()
        summary = run(ds)
        elapsed = time.monotonic() - started
    entry = run.entry(ds, "r", f"{server.url}/slow.bin")
    assert entry.state == "failed"
    assert entry.error.startswith("the file took longer than download.max_time (0.5 s); stopped after ")
    assert summary.extra["downloaded"] == 1
    assert elapsed < 1.8  # not the 2 s the whole trickle takes
    assert run.temp_files() == []


def test_malformed_urls_fail_alone(store, run):
    with file_server({"/ok.pdf": FileRoute(PDF)}) as server:
        ds = profile(filters={"extensions": ["pdf"]})
        urls = ["http://[::1/broken.pdf", "http://ex.org:99999/x.pdf", "not a url", f"{server.url}/ok.pdf"]
        write_records(store, ds, {"r": record_xml(*urls)})
        summary = run(ds)
    errors = {e.url: e.error for e in run.ledger.all()}
    assert errors["http://[::1/broken.pdf"] == "refused: not a valid URL (Invalid IPv6 URL)"
    assert errors["http://ex.org:99999/x.pdf"] == "refused: not a valid URL (Port out of range 0-65535)"
    assert errors["not a url"] == "refused: only http and https URLs are downloaded, not 'none'"
    assert (summary.extra["refused"], summary.extra["downloaded"]) == (3, 1)


class _WatchingSyncer:
    """Syncs nothing; at each sync of downloaded bytes, notes how many ledger rows say ``ok``."""

    def __init__(self, ledger, fail: bool = False) -> None:
        self.ledger = ledger
        self.fail = fail
        self.seen: list[tuple[int, int]] = []  # (files synced before this call, ok rows now)
        self.synced = 0

    def sync_files(self, files) -> None:
        ok_rows = sum(1 for e in self.ledger.all() if e.state == "ok")
        self.seen.append((self.synced, ok_rows))
        if self.fail:
            raise OSError(5, "Input/output error")
        self.synced += len(files)

    def sync_directories(self, directories) -> None:
        pass

    def close(self) -> None:
        pass


def _many_files(server_url: str, count: int) -> dict[str, bytes]:
    return {f"r{i}": record_xml(f"{server_url}/f{i}.pdf") for i in range(count)}


def test_a_row_says_ok_only_once_its_file_is_durable(store, run, tmp_path):
    from harvesters.download import LocalFileStore

    syncer = _WatchingSyncer(run.ledger)
    run.files = LocalFileStore(tmp_path / "watched", syncer=syncer)
    routes = {f"/f{i}.pdf": FileRoute(PDF + str(i).encode()) for i in range(30)}
    with file_server(routes) as server:
        ds = profile(concurrency=4)
        write_records(store, ds, _many_files(server.url, 30))
        summary = run(ds)
    assert str(summary.outcome) == "finished", summary.text()
    assert summary.extra["downloaded"] == 30
    assert syncer.synced == 30
    # never more ok rows than files made durable before that moment
    assert syncer.seen
    assert all(ok <= synced for synced, ok in syncer.seen)


def test_a_disk_that_cannot_make_files_durable_fails_them_all_and_the_run_ends(store, run, tmp_path):
    from harvesters.download import LocalFileStore

    run.files = LocalFileStore(tmp_path / "broken", syncer=_WatchingSyncer(run.ledger, fail=True))
    routes = {f"/f{i}.pdf": FileRoute(PDF + str(i).encode()) for i in range(12)}
    with file_server(routes) as server:
        ds = profile(concurrency=4)
        write_records(store, ds, _many_files(server.url, 12))
        summary = run(ds)
    assert summary.errors == 12
    entries = list(run.ledger.all())
    assert len(entries) == 12
    assert {e.state for e in entries} == {"failed"}
    assert {e.error for e in entries} == {
        f"not stored: {tmp_path / 'broken'}: cannot make the downloaded files durable: "
        "[Errno 5] Input/output error"
    }
    assert run.stored_files() == []
    assert run.temp_files() == []


def test_a_ledger_row_that_cannot_be_written_fails_the_run_after_the_others(store, run):
    from mdstore.errors import StoreError

    class FlakyLedger(type(run.ledger)):
        def put(self, entry):
            if entry.url.endswith("/f3.pdf"):
                raise StoreError("database or disk is full")
            super().put(entry)

    run.ledger.close()
    run.ledger = FlakyLedger(run.ledger.path)
    routes = {f"/f{i}.pdf": FileRoute(PDF + str(i).encode()) for i in range(6)}
    with file_server(routes) as server:
        ds = profile()
        write_records(store, ds, _many_files(server.url, 6))
        with pytest.raises(StoreError) as failure:
            run(ds)
    assert str(failure.value) == (
        f"1 ledger rows could not be written (first: {server.url}/f3.pdf: database or disk is full);"
        " their files are fetched again by the next run"
    )
    rows = {e.url.rsplit("/", 1)[1]: e.state for e in run.ledger.all()}
    assert rows == {f"f{i}.pdf": "ok" for i in range(6) if i != 3}


def test_a_one_byte_a_second_server_is_stopped_at_max_time_and_committed_files_are_kept(store, run):
    """The deadline holds inside a read: 1 byte/s never trips the 5 s read timeout, nor fills a chunk."""
    routes = {"/slow.bin": FileRoute(b"x" * 100, trickle=1.0), "/fast.bin": FileRoute(PDF)}
    with file_server(routes) as server:
        ds = profile(max_time=2, timeout=5, concurrency=1, per_host=1)
        write_records(
            store, ds, {"a": record_xml(f"{server.url}/fast.bin"), "b": record_xml(f"{server.url}/slow.bin")}
        )
        started = time.monotonic()
        summary = run(ds)
        elapsed = time.monotonic() - started
    entry = run.entry(ds, "b", f"{server.url}/slow.bin")
    assert entry.state == "failed"
    assert entry.error.startswith("the file took longer than download.max_time (2 s); stopped after ")
    assert 2 <= elapsed < 3.5, elapsed  # max_time and a little slack, not the 100 s of the trickle
    assert summary.extra["downloaded"] == 1
    fast = run.entry(ds, "a", f"{server.url}/fast.bin")
    assert (fast.state, fast.sha256) == ("ok", hashlib.sha256(PDF).hexdigest())
    assert [p.read_bytes() for p in run.stored_files()] == [PDF]
    assert run.temp_files() == []
    assert server.state.count("/slow.bin") == 1  # no retry once the deadline has passed


def test_a_server_trickling_its_headers_is_stopped_at_max_time(store, run):
    with file_server({"/slow.bin": FileRoute(b"x" * 10, trickle=1.0, trickle_headers=True)}) as server:
        ds = profile(max_time=2, timeout=5)
        write_records(store, ds, {"r": record_xml(f"{server.url}/slow.bin")})
        started = time.monotonic()
        run(ds)
        elapsed = time.monotonic() - started
    entry = run.entry(ds, "r", f"{server.url}/slow.bin")
    assert entry.state == "failed"
    assert entry.error.startswith(
        "the file took longer than download.max_time (2 s);"
        " the transfer did not end within its time limit of 2 s"
    ), entry.error
    assert 2 <= elapsed < 3.5, elapsed


def test_oai_and_http_page_requests_are_bounded_by_api_max_time(store, fast):
    """A page trickling one byte a second ends at api.max_time, retries included (resumable)."""
    from contentcloud.pipeline.collect import collect
    from contentcloud.pipeline.summary import Outcome
    from tests.integration.harvesters.conftest import make_profile

    with file_server({"/oai": FileRoute(b"<OAI-PMH/>" * 10, trickle=1.0)}) as server:
        ds = make_profile(
            "slowoai",
            {"protocol": "oai", "baseurl": f"{server.url}/oai", "metadata_prefix": "oai_dc", "max_time": 2},
        )
        started = time.monotonic()
        summary = collect(store, ds, options=fast, environ={})
        elapsed = time.monotonic() - started
    assert summary.outcome is Outcome.RESUMABLE, summary.text()
    assert summary.message.startswith(
        f"slowoai: {server.url}/oai: all records, page 1:"
        " the transfer did not end within its time limit of 2 s"
    ), summary.message
    assert elapsed < 2 * (2 + 1.5), elapsed  # Identify and page 1, each stopped at 2 s


def test_the_deadline_holds_over_tls_and_a_good_file_still_arrives(tmp_path):
    """The deadline socket wraps the TLS socket after the handshake: reads go through it too."""
    import ssl
    import threading

    from harvesters.transport import DeadlinePassed, RetryPolicy, Transport
    from tests.servers._http import Server
    from tests.servers.file_server import FileHandler, FileServerState
    from tests.servers.tls import make_certificates

    certificates = make_certificates(tmp_path)
    routes = {"/slow.bin": FileRoute(b"x" * 100, trickle=1.0), "/ok.bin": FileRoute(PDF)}
    server = Server(FileHandler, FileServerState(routes))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificates.cert_file, certificates.key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    base = f"https://127.0.0.1:{server.server_address[1]}"

    def trust(session):
        session.trust_env = False  # else REQUESTS_CA_BUNDLE would win over verify
        session.verify = str(certificates.ca_file)

    transport = Transport(timeout=5, retry=RetryPolicy(max_retries=2, backoff=0.01), session_setup=trust)
    try:
        with transport.download(f"{base}/ok.bin") as spool:
            assert spool.read() == PDF
        started = time.monotonic()
        with pytest.raises(DeadlinePassed, match="the transfer did not end within its time limit of 1.5 s"):
            transport.download(f"{base}/slow.bin", max_time=1.5)
        assert time.monotonic() - started < 2.5
    finally:
        transport.close()
        server.shutdown()
        server.server_close()
