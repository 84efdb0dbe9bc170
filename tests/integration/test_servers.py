"""The test servers themselves: Solr 9 with the project's configset, and the MongoDB-wire server.

These pin what later integration tests rely on: the schema's facets, date ranges, title sorting and
stored RDF through pysolr; CoreAdmin CREATE/SWAP/RELOAD/UNLOAD for rebuilds by core swap; a
restart on the same port with the data kept; and the pymongo 4.x operations the MongoDB MDStore
uses, against mongo-java-server.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pymongo
import pysolr
import pytest
from pymongo.errors import DuplicateKeyError

from tests.servers import CONFIGSET_NAME, ServerProcess, SolrServer

pytestmark = pytest.mark.integration

RDF_ADS_1 = (
    '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    '<rdf:Description rdf:about="urn:ads:1"/></rdf:RDF>'
)

# Five catalogue entities from two datasources; titles chosen so that a plain byte-order sort
# (uppercase first, "É" last) and the collated title_sort disagree.
CATALOGUE = [
    {
        "id": "ads::1",
        "datasource": "ads",
        "provider": "Archaeology Data Service",
        "entity_type": ["Dataset"],
        "title": "Zeus temple excavation",
        "subject": ["Bronze Age", "Temple"],
        "time_span": ["[1200 TO 1350]"],
        "rdf": RDF_ADS_1,
    },
    {
        "id": "ads::2",
        "datasource": "ads",
        "entity_type": ["Dataset"],
        "title": "Émile Cartailhac, field notes",
        "language": ["fr"],
        "time_span": ["1890"],
        "period_txt": ["fin de siècle"],
    },
    {
        "id": "ads::3",
        "datasource": "ads",
        "entity_type": ["Place"],
        "title": "apollo sanctuary",
        "subject": ["Temple"],
        "time_span": ["[-0800 TO -0500]"],
    },
    {
        "id": "dans::1",
        "datasource": "dans",
        "entity_type": ["Dataset"],
        "title": "Bronze hoard",
        "subject": ["Bronze Age"],
        "time_span": ["[1300 TO 1400]"],
    },
    {
        "id": "dans::2",
        "datasource": "dans",
        "entity_type": ["Actor"],
        "title": "Mortimer Wheeler",
        "actor": ["Mortimer Wheeler"],
    },
]


def fresh_core(server: SolrServer, core: str = CONFIGSET_NAME) -> pysolr.Solr:
    solr = pysolr.Solr(server.core_url(core), timeout=30)
    solr.delete(q="*:*", commit=True)
    return solr


def facet_counts(results: pysolr.Results, field: str) -> dict[str, int]:
    flat = results.facets["facet_fields"][field]
    return dict(zip(flat[::2], flat[1::2], strict=True))


def ids(results: pysolr.Results) -> list[str]:
    return [doc["id"] for doc in results.docs]


# ---------------------------------------------------------------------------------------- Solr


def test_solr_catalogue_schema_through_pysolr(solr_server: SolrServer) -> None:
    solr = fresh_core(solr_server)
    solr.add(CATALOGUE, commit=True)

    everything = solr.search(
        "*:*",
        **{"facet": "true", "facet.field": ["datasource", "entity_type", "subject_facet"], "rows": 0},
    )
    assert everything.hits == 5
    assert facet_counts(everything, "datasource") == {"ads": 3, "dans": 2}
    assert facet_counts(everything, "entity_type") == {"Dataset": 3, "Place": 1, "Actor": 1}
    assert facet_counts(everything, "subject_facet") == {"Bronze Age": 2, "Temple": 2}

    intersects = solr.search("*:*", fq="{!field f=time_span op=Intersects}[1320 TO 1330]", sort="id asc")
    assert ids(intersects) == ["ads::1", "dans::1"]
    before_christ = solr.search("*:*", fq="{!field f=time_span op=Within}[-1000 TO -0001]")
    assert ids(before_christ) == ["ads::3"]

    by_title = solr.search("*:*", sort="title_sort asc", fl="id")
    assert ids(by_title) == ["ads::3", "dans::1", "ads::2", "dans::2", "ads::1"]

    (stored,) = solr.search("id:ads\\:\\:1", fl="*").docs
    assert stored["rdf"] == RDF_ADS_1
    assert "subject_facet" not in stored  # facet copies stay out of fl=*
    assert "title_sort" not in stored

    assert ids(solr.search("emile")) == ["ads::2"]  # ASCII folding, catch-all "text"
    assert ids(solr.search("siecle")) == ["ads::2"]  # *_txt is copied into "text"
    assert solr.search("Description").hits == 0  # rdf is stored, never searched


def test_solr_refuses_unknown_fields(solr_server: SolrServer) -> None:
    solr = fresh_core(solr_server)
    with pytest.raises(pysolr.SolrError, match="unknown field 'bogus'"):
        solr.add([{"id": "x::1", "datasource": "x", "bogus": "value"}], commit=True)


def test_solr_core_swap(solr_server: SolrServer) -> None:
    live = fresh_core(solr_server)
    live.add(CATALOGUE[:2], commit=True)
    rebuild_name = f"rebuild_{uuid.uuid4().hex[:8]}"
    solr_server.create_core(rebuild_name)
    try:
        rebuild = pysolr.Solr(solr_server.core_url(rebuild_name), timeout=30)
        rebuild.add(CATALOGUE, commit=True)
        assert (live.search("*:*").hits, rebuild.search("*:*").hits) == (2, 5)

        solr_server.core_admin("SWAP", core=CONFIGSET_NAME, other=rebuild_name)
        assert (live.search("*:*").hits, rebuild.search("*:*").hits) == (5, 2)

        solr_server.core_admin("RELOAD", core=CONFIGSET_NAME)
        assert live.search("*:*").hits == 5
    finally:
        solr_server.core_admin("UNLOAD", core=rebuild_name, deleteInstanceDir=True)
    assert rebuild_name not in solr_server.core_names()
    assert CONFIGSET_NAME in solr_server.core_names()


def test_solr_restart_keeps_port_and_data(solr_server: SolrServer) -> None:
    solr = fresh_core(solr_server)
    solr.add(CATALOGUE[:3], commit=True)
    url, pid = solr_server.url, solr_server.pid

    solr_server.restart()

    assert solr_server.url == url
    assert solr_server.pid != pid
    assert solr_server.ping(CONFIGSET_NAME)
    assert ids(pysolr.Solr(solr_server.core_url(), timeout=30).search("*:*", sort="id asc")) == [
        "ads::1",
        "ads::2",
        "ads::3",
    ]


# --------------------------------------------------------------------------------------- Mongo


@pytest.fixture
def mongo_db(mongo_server: ServerProcess) -> Iterator[pymongo.database.Database]:
    client: pymongo.MongoClient = pymongo.MongoClient(mongo_server.url, serverSelectionTimeoutMS=5000)
    db = client[f"test_{uuid.uuid4().hex[:8]}"]
    yield db
    client.drop_database(db.name)
    client.close()


def test_mongo_announces_a_wire_version_pymongo_accepts(mongo_db: pymongo.database.Database) -> None:
    hello = mongo_db.client.admin.command("isMaster")
    assert hello["maxWireVersion"] == 17
    assert mongo_db.client.server_info()["version"] == "6.0.0"


def test_mongo_operations_the_mdstore_uses(mongo_db: pymongo.database.Database) -> None:
    records = mongo_db["records"]
    records.insert_many(
        [{"_id": f"ads::{n:02d}", "original_id": f"oai:ads:{n}", "ds": "ads" if n < 7 else "dans", "n": n}
         for n in range(10)]
    )  # fmt: skip
    records.create_index("original_id", unique=True)
    with pytest.raises(DuplicateKeyError):
        records.insert_one({"_id": "ads::99", "original_id": "oai:ads:3"})

    cursor = records.find({}, {"_id": 1}).sort("n", pymongo.DESCENDING).limit(7).batch_size(2)
    assert [d["_id"] for d in cursor] == [f"ads::{n:02d}" for n in range(9, 2, -1)]

    pointers = mongo_db["pointers"]
    pointers.insert_one({"_id": "ads", "current": "v1"})
    before = pointers.find_one_and_update({"_id": "ads", "current": "v1"}, {"$set": {"current": "v2"}})
    assert before == {"_id": "ads", "current": "v1"}
    stale = pointers.find_one_and_update({"_id": "ads", "current": "v1"}, {"$set": {"current": "v3"}})
    assert stale is None
    after = pointers.find_one_and_update(
        {"_id": "ads"}, {"$set": {"current": "v4"}}, return_document=pymongo.ReturnDocument.AFTER
    )
    assert after == {"_id": "ads", "current": "v4"}

    per_datasource = records.aggregate(
        [{"$group": {"_id": "$ds", "count": {"$sum": 1}, "top": {"$max": "$n"}}}, {"$sort": {"_id": 1}}]
    )
    assert list(per_datasource) == [
        {"_id": "ads", "count": 7, "top": 6},
        {"_id": "dans", "count": 3, "top": 9},
    ]
    assert records.count_documents({"ds": "ads", "n": {"$gte": 5}}) == 2

    assert sorted(mongo_db.list_collection_names()) == ["pointers", "records"]
    records.drop()
    assert mongo_db.list_collection_names() == ["pointers"]
