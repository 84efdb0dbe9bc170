"""The HTTP connectors against a local HTTP server on 127.0.0.1."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from lxml import etree

from contentcloud.pipeline.collect import collect
from contentcloud.pipeline.summary import Outcome
from mdstore.errors import ConfigError
from tests.integration.harvesters.conftest import make_profile, present_and_deleted
from tests.servers.http_api import http_api

pytestmark = pytest.mark.integration

ITEMS = [
    {
        "id": f"it-{i}",
        "title": f"Item {i}",
        "tags": ["a", "b"],
        "extra": {"n": i, "ok": True, "x": None},
        "2bad key": "v",
    }
    for i in range(23)
]


def json_reply(data, status=200, headers=None):
    return status, "application/json", json.dumps(data).encode(), headers or {}


def http_profile(url: str, connector: str, **params):
    return make_profile("api", {"protocol": "http", "connector": connector, "url": url, "params": params})


def check_items(store, profile, count=23):
    present, _ = present_and_deleted(store, profile)
    assert set(present) == {f"it-{i}" for i in range(count)}
    record = etree.fromstring(present["it-7"])
    assert record.tag == "record"
    assert record.findtext("title") == "Item 7"
    assert [t.text for t in record.findall("tags")] == ["a", "b"]
    assert record.findtext("extra/n") == "7"
    assert record.findtext("extra/ok") == "true"
    assert record.find("extra/x").get("null") == "true"
    assert record.find("field").get("name") == "2bad key"


def test_paged_by_page_number_with_auth_header_from_the_environment(store, fast):
    def api(query, headers):
        if headers.get("authorization") != "Bearer s3cret":
            return json_reply({"error": "unauthorized"}, 401)
        page, rows = int(query["p"]), int(query["rows"])
        return json_reply({"response": {"docs": ITEMS[(page - 1) * rows : page * rows]}})

    with http_api({"/search": api}) as server:
        profile = make_profile(
            "api",
            {
                "protocol": "http",
                "connector": "paged",
                "url": f"{server.url}/search",
                "headers_env": {"Authorization": "API_TOKEN"},
                "params": {
                    "pagination": "page",
                    "page_param": "p",
                    "size_param": "rows",
                    "page_size": 10,
                    "items_path": "response.docs",
                    "id_path": "id",
                },
            },
        )
        summary = collect(store, profile, options=fast, environ={"API_TOKEN": "Bearer s3cret"})
        denied = collect(store, profile, options=fast, environ={"API_TOKEN": "wrong"})
    assert (summary.outcome, summary.added, summary.pages) == (Outcome.FINISHED, 23, 3)
    check_items(store, profile)
    assert [q["p"] for path, q, _ in server.state.requests[:3]] == ["1", "2", "3"]
    assert denied.outcome is Outcome.FAILED
    assert "HTTP 401" in denied.message


def test_paged_by_offset(store, fast):
    with http_api(
        {"/items": lambda q, h: json_reply(ITEMS[int(q["start"]) : int(q["start"]) + 10])}
    ) as server:
        profile = http_profile(
            f"{server.url}/items",
            "paged",
            pagination="offset",
            offset_param="start",
            items_path="",
            id_path="id",
        )
        summary = collect(store, profile, options=fast, environ={})
    assert (summary.added, summary.pages) == (23, 4)  # the fourth page is empty: the end
    check_items(store, profile)


def test_an_unparsable_page_is_kept_and_the_harvest_resumes_from_it(store, fast):
    broken = {"times": 1}

    def api(query, headers):
        start = int(query["start"])
        if start == 10 and broken["times"]:
            broken["times"] -= 1
            return 200, "application/json", b'{"truncated": [', {}
        return json_reply(ITEMS[start : start + 10])

    with http_api({"/items": api}) as server:
        profile = http_profile(
            f"{server.url}/items",
            "paged",
            pagination="offset",
            offset_param="start",
            items_path="",
            id_path="id",
        )
        failed = collect(store, profile, options=fast, environ={})
        assert failed.outcome is Outcome.RESUMABLE
        assert (failed.read, failed.discarded) == (10, 1)
        assert "not JSON: " in failed.message
        unit = profile.native_unit
        with store.reader(unit, store.open_transaction(unit).id) as view:
            [kept] = view.discarded()
        assert kept.raw == b'{"truncated": ['
        resumed = collect(store, profile, resume=True, options=fast, environ={})
    assert resumed.outcome is Outcome.RECORD_ERRORS  # the discarded page stays on the record
    check_items(store, profile)
    starts = [q["start"] for path, q, _ in server.state.requests]
    assert starts == ["0", "10", "10", "20", "23"]  # page 1 not fetched again; 3 items end it


def test_paged_by_cursor_with_a_deletion_flag(store, fast):
    def api(query, headers):
        start = int(query.get("cursor") or 0)
        chunk = [dict(it, gone=i + start == 4) for i, it in enumerate(ITEMS[start : start + 10])]
        nxt = str(start + 10) if start + 10 < len(ITEMS) else None
        return json_reply({"items": chunk, "meta": {"next_cursor": nxt}})

    with http_api({"/feed": api}) as server:
        profile = http_profile(
            f"{server.url}/feed",
            "paged",
            pagination="cursor",
            cursor_path="meta.next_cursor",
            items_path="items",
            id_path="id",
            deleted_path="gone",
        )
        summary = collect(store, profile, options=fast, environ={})
    present, deleted = present_and_deleted(store, profile)
    assert (summary.pages, deleted, len(present)) == (3, {"it-4"}, 22)


def test_paged_xml_by_next_link_header(store, fast):
    def api(query, headers):
        page = int(query.get("page", "1"))
        items = "".join(
            f"<item><id>it-{i}</id><title>Item {i}</title></item>"
            for i in range((page - 1) * 10, min(page * 10, 23))
        )
        link = {"Link": f'</xmlapi?page={page + 1}>; rel="next"'} if page < 3 else {}
        return 200, "application/xml", f"<result><items>{items}</items></result>".encode(), link

    with http_api({"/xmlapi": api}) as server:
        profile = http_profile(
            f"{server.url}/xmlapi",
            "paged",
            format="xml",
            pagination="next-link",
            items_path="//item",
            id_path="id",
        )
        summary = collect(store, profile, options=fast, environ={})
    present, _ = present_and_deleted(store, profile)
    assert (summary.outcome, summary.pages, len(present)) == (Outcome.FINISHED, 3, 23)
    assert etree.fromstring(present["it-22"]).findtext("title") == "Item 22"


def test_paged_next_link_loop_is_stopped(store, fast):
    with http_api(
        {"/loop": lambda q, h: json_reply({"items": [{"id": "x"}], "next": "/loop?again=1"})}
    ) as server:
        profile = http_profile(
            f"{server.url}/loop",
            "paged",
            pagination="next-link",
            next_path="next",
            items_path="items",
            id_path="id",
        )
        summary = collect(store, profile, options=fast, environ={})
    assert summary.outcome is Outcome.FAILED
    assert "the paging loops" in summary.message


def test_csv_one_record_per_row(store, fast):
    text = "id;title;note\nc1;First;a\xa0b\nc2;Second;x\x0by\n;No id;z\nc3;Third;\n"
    with http_api({"/export.csv": lambda q, h: (200, "text/csv", text.encode(), {})}) as server:
        profile = http_profile(f"{server.url}/export.csv", "csv", id_column="id", delimiter=";")
        summary = collect(store, profile, options=fast, environ={})
    assert (summary.outcome, summary.added, summary.discarded) == (Outcome.RECORD_ERRORS, 3, 1)
    present, _ = present_and_deleted(store, profile)
    record = etree.fromstring(present["c2"])
    assert [(c.get("name"), c.text) for c in record] == [("id", "c2"), ("title", "Second"), ("note", "xy")]
    with store.reader(profile.native_unit) as view:
        (problem,) = view.discarded()
    assert problem.source == "export.csv:4"
    assert "no value in the id column 'id'" in problem.error


def test_url_list_follows_an_index(store, fast):
    docs = {f"/docs/{i}.xml": f"<doc><id>d{i}</id></doc>".encode() for i in range(4)}
    routes = {path: (lambda q, h, body=body: (200, "text/xml", body, {})) for path, body in docs.items()}
    routes["/docs/html.xml"] = lambda q, h: (200, "text/html", b"<html><title>Login</title></html>", {})
    routes["/index.txt"] = lambda q, h: (
        200,
        "text/plain",
        b"# documents\n" + b"\n".join([p.encode() for p in docs] + [b"/docs/missing.xml", b"docs/html.xml"]),
        {},
    )
    with http_api(routes) as server:
        profile = http_profile(f"{server.url}/index.txt", "url-list", id_xpath="/doc/id")
        summary = collect(store, profile, options=fast, environ={})
    present, _ = present_and_deleted(store, profile)
    assert set(present) == {"d0", "d1", "d2", "d3"}
    assert summary.outcome is Outcome.RECORD_ERRORS
    assert sorted(summary.first_errors) == sorted(
        [
            f"{server.url}/docs/missing.xml: HTTP 404 Not Found",
            f"{server.url}/docs/html.xml: an HTML page, not an XML document: "
            "the server answered an HTML page "
            "('Login') with HTTP 200 where XML was expected",
        ]
    )


def test_xml_split_of_a_zipped_dump(store, fast):
    body = "".join(f"<rec><id>x{i}</id></rec>" for i in range(120)).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("part1.xml", b"<dump>" + body + b"</dump>")
        archive.writestr("part2.xml", b"<dump><rec><id>y0</id></rec></dump>")
    with http_api({"/dump.zip": lambda q, h: (200, "application/zip", buffer.getvalue(), {})}) as server:
        profile = http_profile(f"{server.url}/dump.zip", "xml-split", element="rec", id_xpath="id")
        summary = collect(store, profile, options=fast, environ={})
    present, _ = present_and_deleted(store, profile)
    assert (summary.outcome, len(present), summary.pages) == (Outcome.FINISHED, 121, 3)
    assert present["y0"] == b"<rec><id>y0</id></rec>"


def test_unknown_connector_parameter_is_a_config_error(store, fast):
    profile = http_profile("http://127.0.0.1:9/x", "csv", id_column="id", delimeter=";")
    with pytest.raises(ConfigError) as caught:
        collect(store, profile, options=fast, environ={})
    assert str(caught.value) == (
        "api.params.delimeter: unknown parameter(s) delimeter for connector 'csv' "
        "(known: delimiter, encoding, id_column, name, quotechar)"
    )
    assert store.open_transaction(profile.native_unit) is None


def test_deflate_and_gzip_bodies_are_decoded(store, fast):
    import zlib

    body = json.dumps({"items": ITEMS}).encode()
    routes = {
        "/deflate": lambda q, h: (
            200,
            "application/json",
            zlib.compress(body),
            {"Content-Encoding": "deflate"},
        ),
        "/gzip": lambda q, h: (
            200,
            "application/json",
            body,
            {"Content-Encoding": "gzip"},
        ),  # send_body gzips
    }
    with http_api(routes) as server:
        for path in routes:
            profile = http_profile(
                f"{server.url}{path}",
                "paged",
                pagination="next-link",
                next_path="none",
                items_path="items",
                id_path="id",
            )
            summary = collect(store, profile, options=fast, environ={})
            assert summary.outcome is Outcome.FINISHED
            assert summary.read == summary.extra["present"] == 23
            check_items(store, profile)
