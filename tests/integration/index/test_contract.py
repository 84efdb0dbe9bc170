"""The index backend contract, run unchanged on the embedded index and on a real Solr core.

A new backend passes this file unchanged: writes become visible at commit, documents come back as
they were sent, replacement and deletion by id, sweeps by MDStore version, state kept with the data,
rebuilds that replace one datasource and keep the others, aborted rebuilds that change nothing, and
refused documents isolated with the engine's reason while the rest of the batch is indexed.
"""

from __future__ import annotations

import pytest

from mdstore.errors import IndexBackendError
from provision.index.base import BadRequest, IndexBackend, IndexState


def doc(doc_id: str, datasource: str = "ads", version: str = "v1", **fields) -> dict:
    return {
        "id": doc_id,
        "datasource": datasource,
        "title": f"Title of {doc_id}",
        "mdstore_version": version,
        "indexed_at": "2024-05-01T10:00:00Z",
        **fields,
    }


def state(datasource: str = "ads", version: str = "v1", **kw) -> IndexState:
    return IndexState(
        datasource=datasource,
        version=version,
        unit=f"{datasource}/PE/store/transformed",
        mode=kw.pop("mode", "refeed"),
        live_versions=kw.pop("live_versions", (version,)),
        **kw,
    )


def feed(
    backend: IndexBackend, datasource: str, docs: list[dict], *, rebuild: bool = False, version: str = "v1"
) -> list:
    writer = backend.open_writer(datasource, rebuild=rebuild)
    writer.add(docs)
    rejected = writer.flush()
    writer.commit(state(datasource, version))
    return rejected


def ids(backend: IndexBackend, query: str = "*:*", **params) -> list[str]:
    answer = backend.select({"q": query, "rows": 1000, "fl": "id", "sort": "id asc", **params})
    return [d["id"] for d in answer["response"]["docs"]]


def test_documents_come_back_as_sent(backend: IndexBackend) -> None:
    sent = doc(
        "ads::1",
        subject=["Bronze Age", "Hoard"],
        time_span=["[1200 TO 1350]"],
        count_i=3,
        flag_b=True,
        rdf='<urn:x> <urn:p> "o" .\n',
    )
    assert feed(backend, "ads", [sent, doc("ads::2")]) == []
    answer = backend.select({"q": "id:ads\\:\\:1", "fl": "*"})
    assert answer["response"]["numFound"] == 1
    assert answer["response"]["docs"] == [sent]
    assert backend.count() == 2
    assert backend.count("ads") == 2
    assert backend.count("other") == 0


def test_state_is_kept_with_the_data(backend: IndexBackend) -> None:
    assert backend.state("ads") is None
    written = state("ads", "v7", errors={"ads::9": "not RDF"}, errors_total=1, count=3)
    writer = backend.open_writer("ads")
    writer.add([doc("ads::1")])
    writer.commit(written)
    assert backend.state("ads") == written
    assert backend.states() == {"ads": written}
    assert backend.count() == 1  # the state is not a catalogue document


def test_replacing_and_deleting_by_id(backend: IndexBackend) -> None:
    feed(backend, "ads", [doc("ads::1", title="Zeus temple"), doc("ads::2"), doc("ads::3")])
    writer = backend.open_writer("ads")
    writer.add([doc("ads::1", title="Apollo sanctuary")])
    writer.delete(["ads::2", "ads::404"])
    writer.commit(state())
    assert ids(backend) == ["ads::1", "ads::3"]
    assert ids(backend, "title:zeus") == []
    assert ids(backend, "title:apollo") == ["ads::1"]


def test_sweep_removes_superseded_versions_of_one_datasource(backend: IndexBackend) -> None:
    feed(
        backend,
        "ads",
        [doc("ads::1", version="v1"), doc("ads::2", version="v1"), doc("ads::3", version="v2")],
    )
    feed(backend, "dans", [doc("dans::1", "dans", version="w1")])
    writer = backend.open_writer("ads")
    writer.add([doc("ads::2", version="v3")])
    assert writer.sweep(["v2", "v3"]) == 1
    writer.commit(state("ads", "v3", live_versions=("v2", "v3")))
    assert ids(backend) == ["ads::2", "ads::3", "dans::1"]
    assert list(backend.ids("ads")) == [("ads::2", "v3"), ("ads::3", "v2")]
    assert backend.state("dans") is not None  # the sweep never touches state documents


def test_rebuild_replaces_one_datasource_and_keeps_the_others(backend: IndexBackend) -> None:
    feed(backend, "ads", [doc("ads::1"), doc("ads::2")])
    feed(backend, "dans", [doc("dans::1", "dans", version="w1", subject=["Temple"])], version="w1")
    writer = backend.open_writer("ads", rebuild=True)
    writer.add([doc("ads::3", version="v2")])
    assert ids(backend) == ["ads::1", "ads::2", "dans::1"]  # nothing visible before the switch
    writer.commit(state("ads", "v2", mode="full"))
    assert ids(backend) == ["ads::3", "dans::1"]
    assert backend.state("ads").version == "v2"
    assert backend.state("dans").version == "w1"
    kept = backend.select({"q": "dans\\:\\:1", "df": "id", "fl": "*"})["response"]["docs"][0]
    assert kept == doc("dans::1", "dans", version="w1", subject=["Temple"])
    assert ids(backend, "subject_facet:Temple") == ["dans::1"]  # copies rebuilt from the stored fields


def test_an_aborted_rebuild_changes_nothing(backend: IndexBackend) -> None:
    feed(backend, "ads", [doc("ads::1")])
    writer = backend.open_writer("ads", rebuild=True)
    writer.add([doc("ads::2")])
    writer.flush()
    writer.abort()
    assert ids(backend) == ["ads::1"]
    assert backend.state("ads").version == "v1"
    again = backend.open_writer("ads", rebuild=True)  # the abandoned build is gone: no "rebuild running"
    again.abort()


def test_closing_an_in_place_writer_keeps_its_documents_and_the_state(backend: IndexBackend) -> None:
    feed(backend, "ads", [doc("ads::1")])
    writer = backend.open_writer("ads")
    writer.add([doc("ads::2", version="v2"), doc("ads::3", version="v2")])
    writer.delete(["ads::1"])
    assert writer.flush() == []
    writer.close()
    assert ids(backend) == ["ads::2", "ads::3"]  # visible at once, as after a commit
    assert backend.state("ads") == state("ads", "v1")  # but no new state
    with pytest.raises(IndexBackendError, match="closed"):
        writer.add([doc("ads::4")])
    rebuild = backend.open_writer("ads", rebuild=True)
    with pytest.raises(IndexBackendError, match="not close"):
        rebuild.close()
    rebuild.abort()
    assert ids(backend) == ["ads::2", "ads::3"]


def test_one_rebuild_at_a_time_and_no_in_place_feed_meanwhile(backend: IndexBackend) -> None:
    feed(backend, "ads", [doc("ads::1")])
    writer = backend.open_writer("ads", rebuild=True)
    try:
        with pytest.raises(IndexBackendError, match="rebuild"):
            backend.open_writer("dans", rebuild=True)
        with pytest.raises(IndexBackendError, match="rebuild .* is running"):
            backend.open_writer("dans")
    finally:
        writer.abort()


def test_refused_documents_are_isolated_and_the_rest_is_indexed(backend: IndexBackend) -> None:
    good = [doc(f"ads::{n}") for n in range(1, 8)]
    bad = [
        {**doc("ads::bad1"), "bogus": "x"},
        doc("ads::bad2", title=["one", "two"]),
        doc("ads::bad3", indexed_at="yesterday"),
        doc("ads::bad4", count_i="many"),
        doc("ads::bad5", time_span=["[1350 TO 1200]"]),
    ]
    batch = good[:3] + bad[:2] + good[3:5] + bad[2:] + good[5:]
    rejected = feed(backend, "ads", batch)
    reasons = {r.id: r.message for r in rejected}
    assert sorted(reasons) == ["ads::bad1", "ads::bad2", "ads::bad3", "ads::bad4", "ads::bad5"]
    assert "unknown field 'bogus'" in reasons["ads::bad1"]
    assert "multiple values encountered for non multiValued field title: [one, two]" in reasons["ads::bad2"]
    assert "Invalid Date String:'yesterday'" in reasons["ads::bad3"]
    assert 'For input string: "many"' in reasons["ads::bad4"]
    assert "Wrong order: 1350 TO 1200" in reasons["ads::bad5"]
    assert ids(backend) == sorted(d["id"] for d in good)


def test_bad_requests_are_refused_with_the_reason(backend: IndexBackend) -> None:
    feed(backend, "ads", [doc("ads::1")])
    with pytest.raises(BadRequest, match="undefined field bogus"):
        backend.select({"q": "bogus:x"})
    with pytest.raises(BadRequest, match="can not sort on multivalued field: subject"):
        backend.select({"q": "*:*", "sort": "subject asc"})
    with pytest.raises(BadRequest, match="'rows' parameter cannot be negative"):
        backend.select({"q": "*:*", "rows": -1})


def test_ids_are_listed_in_order_with_their_versions(backend: IndexBackend) -> None:
    feed(backend, "ads", [doc(f"ads::{n:03d}", version=f"v{n % 2}") for n in range(120)])
    listed = list(backend.ids("ads"))
    assert [i for i, _ in listed] == [f"ads::{n:03d}" for n in range(120)]
    assert {v for _, v in listed} == {"v0", "v1"}
    assert list(backend.ids("nobody")) == []
