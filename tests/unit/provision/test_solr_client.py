"""The Solr backend's client logic against a scripted HTTP double (the real server is in
tests/integration): retry classification, bisecting refused batches, and the SolrCloud rebuild path
(collection + CREATEALIAS), which the test server (standalone) cannot exercise."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from mdstore.errors import IndexBackendError
from provision.index import solr as solr_module
from provision.index.base import IndexState
from provision.index.solr import SolrHttp, SolrHTTPError, SolrIndex


class Reply:
    def __init__(self, status: int, body: Any) -> None:
        self.status_code = status
        self._body = body
        self.reason = "reason"
        self.text = json.dumps(body) if not isinstance(body, str) else body
        self.content = self.text.encode()

    def json(self) -> Any:
        if isinstance(self._body, str):
            raise ValueError("not JSON")
        return self._body


class ScriptedSession:
    """Answers from a list of replies (or exceptions), in order; records every request."""

    def __init__(self, script: list[Any]) -> None:
        self.script = list(script)
        self.calls: list[tuple[str, str]] = []
        self.auth = None
        self.headers: dict[str, str] = {}

    def request(self, method: str, url: str, **kw: Any) -> Reply:
        self.calls.append((method, url))
        step = self.script.pop(0)
        if isinstance(step, BaseException):
            raise step
        return step

    def close(self) -> None:
        pass


@pytest.fixture(autouse=True)
def no_sleeping(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(solr_module.time, "sleep", lambda seconds: None)


def test_transient_failures_are_retried() -> None:
    session = ScriptedSession(
        [
            requests.ConnectionError("refused"),
            Reply(503, {"error": {"msg": "loading"}}),
            Reply(500, "<html><title>Server Error</title></html>"),
            Reply(200, {"ok": 1}),
        ]
    )
    http = SolrHttp(session=session, retry_for=60)
    assert http.get("http://solr/x/select") == {"ok": 1}
    assert http.retries == 3


def test_a_bad_request_is_not_retried() -> None:
    session = ScriptedSession([Reply(400, {"error": {"msg": "undefined field foo", "code": 400}})])
    http = SolrHttp(session=session)
    with pytest.raises(SolrHTTPError) as caught:
        http.get("http://solr/x/select")
    assert (caught.value.status, caught.value.message, http.retries) == (400, "undefined field foo", 0)


def test_retrying_stops_at_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter(range(0, 1000, 7))
    monkeypatch.setattr(solr_module.time, "monotonic", lambda: float(next(clock)))
    session = ScriptedSession([requests.ConnectionError("refused")] * 50)
    http = SolrHttp(session=session, retry_for=30)
    with pytest.raises(
        IndexBackendError, match="Solr did not answer for 30 s; last: ConnectionError: refused"
    ):
        http.get("http://solr/x/select")


class FakeSolr:
    """Enough of a Solr for the feeder: update requests refuse documents whose id contains 'bad'."""

    def __init__(
        self,
        *,
        cloud: bool = False,
        collections: list[str] | None = None,
        aliases: dict[str, str] | None = None,
    ) -> None:
        self.cloud = cloud
        self.collections = list(collections or [])
        self.aliases = dict(aliases or {})
        self.indexed: dict[str, list[str]] = {}
        self.admin: list[dict[str, str]] = []
        self.auth = None
        self.headers: dict[str, str] = {}

    def request(
        self,
        method: str,
        url: str,
        params: list[tuple[str, str]] | None = None,
        data: bytes | None = None,
        **kw: Any,
    ) -> Reply:
        # pysolr puts its parameters in the URL (and a slash after the handler)
        query = dict([*parse_qsl(urlsplit(url).query), *(params or [])])
        path = urlsplit(url).path.rstrip("/")
        if path.endswith("/admin/info/system"):
            return Reply(200, {"mode": "solrcloud" if self.cloud else "std"})
        if path.endswith("/admin/collections"):
            self.admin.append(query)
            action = query["action"]
            if action == "LIST":
                return Reply(200, {"collections": self.collections})
            if action == "LISTALIASES":
                return Reply(200, {"aliases": self.aliases})
            if action == "CREATE":
                if query["name"] in self.collections:
                    message = f"collection already exists: {query['name']}"
                    return Reply(400, {"error": {"msg": message, "code": 400}})
                self.collections.append(query["name"])
            elif action == "CREATEALIAS":
                self.aliases[query["name"]] = query["collections"]
            elif action == "DELETE":
                users = [a for a, targets in self.aliases.items() if query["name"] in targets.split(",")]
                if users:  # as Solr 9 does
                    message = (
                        f"Collection : {query['name']} is part of aliases: {users}, remove or modify the "
                        "aliases before removing this collection."
                    )
                    return Reply(400, {"error": {"msg": message, "code": 400}})
                self.collections.remove(query["name"])
            return Reply(200, {"responseHeader": {"status": 0}})
        if path.endswith("/feeder"):
            return Reply(
                200, {"response": {"numFound": 0, "docs": []}, "nextCursorMark": query.get("cursorMark")}
            )
        if path.endswith("/update"):
            if data and data.startswith(b"<"):  # pysolr's XML commit and delete
                return Reply(200, {"responseHeader": {"status": 0}})
            body = json.loads(data or b"null")
            target = path.split("/")[-2]
            if isinstance(body, list):
                if any("bad" in doc["id"] for doc in body):
                    bad = next(doc["id"] for doc in body if "bad" in doc["id"])
                    return Reply(
                        400, {"error": {"msg": f"ERROR: [doc={bad}] unknown field 'bogus'", "code": 400}}
                    )
                self.indexed.setdefault(target, []).extend(doc["id"] for doc in body)
            return Reply(200, {"responseHeader": {"status": 0}})
        raise AssertionError(f"unexpected request {method} {url}")

    def close(self) -> None:
        pass


def make_index(fake: FakeSolr, **kw: Any) -> SolrIndex:
    index = SolrIndex("http://solr:8983/solr", "catalogue", **kw)
    index.http.session = fake  # type: ignore[assignment]
    return index


def test_refused_documents_are_isolated_by_bisection() -> None:
    fake = FakeSolr(
        cloud=True,
        collections=["catalogue_20240101T000000_aaaaaa"],
        aliases={"catalogue": "catalogue_20240101T000000_aaaaaa"},
    )
    index = make_index(fake, batch_size=8)
    writer = index.open_writer("ads")
    docs = [{"id": f"ads::{n}", "datasource": "ads"} for n in range(10)]
    docs[3]["id"], docs[8]["id"] = "ads::bad3", "ads::bad8"
    writer.add(docs)
    rejected = writer.flush()
    assert [r.id for r in rejected] == ["ads::bad3", "ads::bad8"]
    assert rejected[0].message == "ERROR: [doc=ads::bad3] unknown field 'bogus'"
    assert sorted(fake.indexed["catalogue"]) == sorted(d["id"] for d in docs if "bad" not in d["id"])
    writer.abort()


def test_a_solrcloud_rebuild_moves_the_alias_and_drops_the_old_collection() -> None:
    old = "catalogue_20240101T000000_aaaaaa"
    fake = FakeSolr(cloud=True, collections=[old], aliases={"catalogue": old})
    index = make_index(fake, num_shards=2, replication_factor=3)
    writer = index.open_writer("ads", rebuild=True)
    new = writer.target
    assert new.startswith("catalogue_")
    assert new != old
    create = next(a for a in fake.admin if a["action"] == "CREATE")
    assert (
        create["name"],
        create["collection.configName"],
        create["numShards"],
        create["replicationFactor"],
    ) == (new, "contentcloud", "2", "3")
    writer.add([{"id": "ads::1", "datasource": "ads"}])
    writer.commit(IndexState("ads", "v1", "u", "full"))
    assert fake.indexed[new] == ["ads::1", "_index_state::ads"]
    assert fake.aliases == {"catalogue": new}
    assert fake.collections == [new]
    actions = [a["action"] for a in fake.admin]
    assert actions.index("CREATEALIAS") < actions.index("DELETE")  # never delete before the switch


def test_a_solrcloud_rebuild_keeps_an_old_collection_another_alias_still_uses() -> None:
    old = "catalogue_20240101T000000_aaaaaa"
    fake = FakeSolr(cloud=True, collections=[old], aliases={"catalogue": old, "portal": old})
    index = make_index(fake)
    writer = index.open_writer("ads", rebuild=True)
    writer.add([{"id": "ads::1", "datasource": "ads"}])
    writer.commit(IndexState("ads", "v1", "u", "full"))  # the switch succeeded: no error
    writer.abort()  # what the pipeline does after any exception: must not touch the live collection
    new = writer.target
    assert fake.aliases == {"catalogue": new, "portal": old}
    assert fake.collections == [old, new]
    assert [a["action"] for a in fake.admin].count("DELETE") == 0
    assert index.builds() == []  # the kept collection is served, not a rebuild in progress
    index.open_writer("ads").abort()  # so an in-place feed is not refused


def test_a_first_solrcloud_feed_uses_the_collection_a_concurrent_first_feed_created() -> None:
    fake = FakeSolr(cloud=True)
    make_index(fake).open_writer("ads").abort()
    assert (fake.collections, fake.aliases) == (["catalogue_1"], {"catalogue": "catalogue_1"})
    del fake.aliases["catalogue"]  # as seen by a second feed that looked just before the alias came
    make_index(fake).open_writer("bds").abort()
    assert (fake.collections, fake.aliases) == (["catalogue_1"], {"catalogue": "catalogue_1"})


def test_a_solrcloud_rebuild_needs_an_alias() -> None:
    fake = FakeSolr(cloud=True, collections=["catalogue"])
    with pytest.raises(IndexBackendError, match="'catalogue' is a collection, not an alias"):
        make_index(fake).open_writer("ads", rebuild=True)
