"""The production MDStore backend on MongoDB (pymongo): one collection of records per version.

D-NET's layout: ``units`` and ``versions`` hold the bookkeeping, ``records_<version>`` the records.
Nothing here needs a multi-document transaction: a commit is one conditional ``update_one`` on
the unit document (the pointer flip), claiming a unit for writing is one conditional update,
and record writes are idempotent upserts. The same code therefore runs on a replica set, a
standalone server, or a MongoDB-wire server such as mongo-java-server in the tests.
Indexes are created on first use.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from mdstore.api import EMPTY_CHECKSUM, Backend, Discarded, Existing, Row, StoredError, tally_row_stats
from mdstore.envelope import Record, UnitKey
from mdstore.errors import PluginUnavailable, StoreError

try:  # the registry reports a missing driver by name, not with a stray ImportError
    import pymongo
    from pymongo import InsertOne, ReplaceOne, UpdateOne
    from pymongo.errors import PyMongoError
except ModuleNotFoundError as exc:  # pragma: no cover - depends on the installation
    raise PluginUnavailable(
        "needs the package 'pymongo' (pip install pymongo)", kind="mdstore backend", name="mongodb"
    ) from exc

_RECORD_FIELDS = {
    "original_id": 1,
    "body": 1,
    "checksum": 1,
    "datestamp": 1,
    "deleted": 1,
    "deleted_at": 1,
    "collected_at": 1,
    "transformed_at": 1,
    "provenance": 1,
}


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class MongoBackend(Backend):
    """MongoDB storage primitives on one database."""

    def __init__(self, uri: str, database: str | None = None, **client_options: Any) -> None:
        self.uri = uri
        name = database or urlsplit(uri).path.strip("/") or "contentcloud"
        self.client = pymongo.MongoClient(
            uri, tz_aware=True, tzinfo=UTC, serverSelectionTimeoutMS=15000, **client_options
        )
        self.db = self.client[name]
        self._ensure_indexes()

    def _ensure_indexes(self) -> None:
        try:
            self.db.versions.create_index([("unit", 1), ("created_at", 1)])
            self.db.errors.create_index([("version", 1)])
            self.db.discarded.create_index([("version", 1)])
            self.db.leases.create_index([("version", 1)])
        except PyMongoError as exc:
            raise StoreError(f"cannot reach MongoDB at {self._safe_uri()}: {exc}") from exc

    def _safe_uri(self) -> str:
        parts = urlsplit(self.uri)
        return f"{parts.scheme}://{parts.hostname}:{parts.port or 27017}{parts.path}"

    def close(self) -> None:
        self.client.close()

    def _records(self, version_id: str):
        if not version_id.startswith("v") or not version_id[1:].isdigit():
            raise StoreError("malformed version id", version=version_id)
        return self.db[f"records_{version_id}"]

    # --- units & versions ---------------------------------------------------------------------
    def get_unit(self, unit: UnitKey) -> dict[str, Any] | None:
        return self.db.units.find_one({"_id": unit.name})

    def list_units(self) -> list[dict[str, Any]]:
        return list(self.db.units.find().sort("_id", 1))

    def new_version_id(self) -> str:
        doc = self.db.counters.find_one_and_update(
            {"_id": "version"},
            {"$inc": {"value": 1}},
            upsert=True,
            return_document=pymongo.ReturnDocument.AFTER,
        )
        return f"v{doc['value']:08d}"

    def claim_open(self, unit: UnitKey, version: dict[str, Any]) -> bool:
        self.db.versions.insert_one(dict(version))
        self.db.units.update_one(
            {"_id": unit.name}, {"$setOnInsert": {"current": None, "open": None}}, upsert=True
        )
        claimed = self.db.units.find_one_and_update(
            {"_id": unit.name, "open": None}, {"$set": {"open": version["_id"]}}
        )
        if claimed is None:
            self.db.versions.update_one({"_id": version["_id"]}, {"$set": {"state": "aborted"}})
            return False
        return True

    def get_version(self, version_id: str) -> dict[str, Any] | None:
        return self.db.versions.find_one({"_id": version_id})

    def list_versions(self, unit: UnitKey) -> list[dict[str, Any]]:
        return list(self.db.versions.find({"unit": unit.name}).sort([("created_at", 1), ("_id", 1)]))

    def update_version(self, version_id: str, **fields: Any) -> None:
        result = self.db.versions.update_one({"_id": version_id}, {"$set": fields})
        if result.matched_count != 1:
            raise StoreError("no such version", version=version_id)

    def flip_current(self, unit: UnitKey, expected: str | None, new: str, *, clear_open: str | None) -> bool:
        query: dict[str, Any] = {"_id": unit.name, "current": expected}
        update: dict[str, Any] = {"current": new}
        if clear_open:
            query["open"] = clear_open
            update["open"] = None
        return self.db.units.update_one(query, {"$set": update}).modified_count == 1

    def release_open(self, unit: UnitKey, version_id: str) -> None:
        self.db.units.update_one({"_id": unit.name, "open": version_id}, {"$set": {"open": None}})

    # --- the writer lock: single-document conditional updates (no multi-document transaction) ---
    def swap_writers(self, version_id: str, epoch: int | None, holders: dict[str, dict[str, Any]]) -> bool:
        query: dict[str, Any] = {"_id": version_id, "state": "open"}
        query["lock.epoch"] = epoch if epoch is not None else {"$exists": False}
        update = {"$set": {"lock": {"epoch": (epoch or 0) + 1, "holders": holders}}}
        return self.db.versions.update_one(query, update).matched_count == 1

    def beat_writer(self, version_id: str, owner: str, when: datetime) -> bool:
        path = f"lock.holders.{owner}"
        result = self.db.versions.update_one(
            {"_id": version_id, "state": "open", path: {"$exists": True}},
            {"$set": {f"{path}.heartbeat_at": when}},
        )
        return result.matched_count == 1

    def drop_writer(self, version_id: str, owner: str) -> None:
        self.db.versions.update_one(
            {"_id": version_id, "state": "open"}, {"$unset": {f"lock.holders.{owner}": ""}}
        )

    # --- records ------------------------------------------------------------------------------
    def create_records(self, version_id: str, copy_from: str | None) -> None:
        target = self._records(version_id)
        target.create_index([("datestamp", 1)])
        if copy_from is None:
            return
        batch: list[dict[str, Any]] = []
        for doc in self._records(copy_from).find().sort("_id", 1).batch_size(1000):
            doc["change"] = "unchanged"
            batch.append(doc)
            if len(batch) >= 1000:
                self._insert_ignoring_duplicates(target, batch)
                batch = []
        if batch:
            self._insert_ignoring_duplicates(target, batch)

    @staticmethod
    def _insert_ignoring_duplicates(collection, docs: list[dict[str, Any]]) -> None:
        try:
            collection.insert_many(docs, ordered=False)
        except pymongo.errors.BulkWriteError as exc:  # a resumed copy: rows already there are fine
            if any(err.get("code") != 11000 for err in exc.details.get("writeErrors", [])):
                raise

    def drop_records(self, version_id: str) -> None:
        self._records(version_id).drop()

    def lookup(self, version_id: str, ids: Sequence[str]) -> dict[str, Existing]:
        cursor = self._records(version_id).find(
            {"_id": {"$in": list(ids)}}, {"checksum": 1, "datestamp": 1, "deleted": 1, "change": 1}
        )
        return {d["_id"]: Existing(d["checksum"], d["datestamp"], d["deleted"], d["change"]) for d in cursor}

    @staticmethod
    def _doc(row: Row) -> dict[str, Any]:
        body, size = row.body, row.size
        return {
            "_id": row.id,
            "original_id": row.original_id,
            "body": body,
            "size": size,
            "checksum": row.checksum,
            "datestamp": row.datestamp,
            "deleted": row.deleted,
            "deleted_at": row.deleted_at,
            "collected_at": row.collected_at,
            "transformed_at": row.transformed_at,
            "provenance": row.provenance,
            "change": row.change,
        }

    def write_rows(self, version_id: str, rows: Sequence[Row]) -> None:
        if rows:
            self._records(version_id).bulk_write(
                [ReplaceOne({"_id": r.id}, self._doc(r), upsert=True) for r in rows], ordered=False
            )

    @staticmethod
    def _record(d: dict[str, Any], unit: UnitKey) -> Record:
        return Record(
            d["_id"],
            d["original_id"],
            unit.datasource,
            unit.format,
            d.get("body"),
            d["checksum"],
            d["datestamp"],
            d.get("deleted", False),
            d.get("deleted_at"),
            d.get("collected_at"),
            d.get("transformed_at"),
            d.get("provenance") or {},
        )

    @staticmethod
    def _filter(after_id, since, until, deleted) -> dict[str, Any]:
        query: dict[str, Any] = {}
        if after_id is not None:
            query["_id"] = {"$gt": after_id}
        dates: dict[str, Any] = {}
        if since is not None:
            dates["$gte"] = since
        if until is not None:
            dates["$lte"] = until
        if dates:
            query["datestamp"] = dates
        if deleted is not None:
            query["deleted"] = deleted
        return query

    def _find_page(self, version_id, projection, after_id, limit, since, until, deleted):
        return (
            self._records(version_id)
            .find(self._filter(after_id, since, until, deleted), projection)
            .sort("_id", 1)
            .limit(limit)
            .batch_size(min(limit, 5000))
        )

    def scan(self, version_id, unit, *, after_id, limit, since, until, deleted) -> list[Record]:
        cursor = self._find_page(version_id, _RECORD_FIELDS, after_id, limit, since, until, deleted)
        return [self._record(d, unit) for d in cursor]

    def stream(
        self, version_id, unit, *, after_id, since, until, deleted, page_size
    ) -> Iterator[list[Record]]:
        """One server-side cursor for the whole read (a sort per page is costly on some servers);
        if the cursor dies (timeout, failover), it is reopened after the last id delivered."""
        while True:
            cursor = (
                self._records(version_id)
                .find(self._filter(after_id, since, until, deleted), _RECORD_FIELDS)
                .sort("_id", 1)
                .batch_size(page_size)
            )
            page: list[Record] = []
            try:
                for doc in cursor:
                    page.append(self._record(doc, unit))
                    if len(page) >= page_size:
                        yield page
                        after_id = page[-1].id
                        page = []
            except (pymongo.errors.CursorNotFound, pymongo.errors.AutoReconnect):
                if page:
                    yield page
                    after_id = page[-1].id
                continue
            finally:
                cursor.close()
            if page:
                yield page
            return

    def scan_ids(self, version_id, *, after_id, limit, since, until, deleted) -> list[tuple[str, str, bool]]:
        cursor = self._find_page(
            version_id, {"original_id": 1, "deleted": 1}, after_id, limit, since, until, deleted
        )
        return [(d["_id"], d["original_id"], d.get("deleted", False)) for d in cursor]

    def get_records(self, version_id: str, unit: UnitKey, ids: Sequence[str]) -> list[Record]:
        cursor = self._records(version_id).find({"_id": {"$in": list(ids)}}, _RECORD_FIELDS)
        return [self._record(d, unit) for d in cursor]

    def count_rows(self, version_id, *, since=None, until=None, deleted=None) -> int:
        return self._records(version_id).count_documents(self._filter(None, since, until, deleted))

    def row_stats(self, version_id: str) -> dict[str, Any]:
        records = self._records(version_id)
        pipeline = [
            {
                "$group": {
                    "_id": {"change": "$change", "deleted": "$deleted"},
                    "count": {"$sum": 1},
                    "bytes": {"$sum": "$size"},
                }
            }
        ]
        stats = tally_row_stats(
            (g["_id"]["change"], g["_id"]["deleted"], g["count"], g["bytes"])
            for g in records.aggregate(pipeline)
        )
        first = list(records.find({}, {"datestamp": 1}).sort("datestamp", 1).limit(1))
        last = list(records.find({}, {"datestamp": 1}).sort("datestamp", -1).limit(1))
        stats["earliest_datestamp"] = _iso(first[0]["datestamp"]) if first else None
        stats["latest_datestamp"] = _iso(last[0]["datestamp"]) if last else None
        return stats

    def tombstone_missing(self, version_id: str, parent_id: str, when: datetime) -> None:
        target, parent = self._records(version_id), self._records(parent_id)
        batch: list[dict[str, Any]] = []

        def flush() -> None:
            present = {d["_id"] for d in target.find({"_id": {"$in": [d["_id"] for d in batch]}}, {"_id": 1})}
            docs = []
            for doc in batch:
                if doc["_id"] in present:
                    continue
                was_deleted = doc.get("deleted", False)
                doc.update(
                    body=None,
                    size=0,
                    checksum=EMPTY_CHECKSUM,
                    deleted=True,
                    datestamp=doc["datestamp"] if was_deleted else when,
                    deleted_at=doc.get("deleted_at") if was_deleted else when,
                    change="unchanged" if was_deleted else "deleted",
                )
                docs.append(doc)
            if docs:
                self._insert_ignoring_duplicates(target, docs)

        for doc in parent.find({}, {"body": 0}).sort("_id", 1).batch_size(1000):
            batch.append(doc)
            if len(batch) >= 1000:
                flush()
                batch = []
        if batch:
            flush()

    # --- errors & discarded -------------------------------------------------------------------
    def add_errors(self, version_id: str, errors: Sequence[StoredError]) -> None:
        # a record's identical error is kept once: a resumed or retried writer redoes its work
        operations: list[Any] = []
        for e in errors:
            doc = {
                "version": version_id,
                "record_id": e.record_id,
                "step": e.step,
                "message": e.message,
                "location": e.location,
                "created_at": e.created_at,
            }
            if e.record_id is None:
                operations.append(InsertOne(doc))
            else:
                key = {"version": version_id, "record_id": e.record_id, "step": e.step, "message": e.message}
                operations.append(UpdateOne(key, {"$setOnInsert": doc}, upsert=True))
        if operations:
            self.db.errors.bulk_write(operations, ordered=True)

    def add_discarded(self, version_id: str, items: Sequence[Discarded]) -> None:
        self.db.discarded.insert_many(
            [
                {
                    "version": version_id,
                    "source": d.source,
                    "error": d.error,
                    "raw": d.raw,
                    "created_at": d.created_at,
                }
                for d in items
            ]
        )

    def list_errors(self, version_id: str, limit: int | None) -> list[StoredError]:
        cursor = self.db.errors.find({"version": version_id}).sort("_id", 1).limit(limit or 0)
        return [
            StoredError(d["record_id"], d["step"], d["message"], d["location"], d["created_at"])
            for d in cursor
        ]

    def list_discarded(self, version_id: str, limit: int | None) -> list[Discarded]:
        cursor = self.db.discarded.find({"version": version_id}).sort("_id", 1).limit(limit or 0)
        return [Discarded(d["source"], d["error"], bytes(d["raw"]), d["created_at"]) for d in cursor]

    def count_errors(self, version_id: str) -> tuple[int, int]:
        return (
            self.db.errors.count_documents({"version": version_id}),
            self.db.discarded.count_documents({"version": version_id}),
        )

    def drop_side_data(self, version_id: str) -> None:
        self.db.errors.delete_many({"version": version_id})
        self.db.discarded.delete_many({"version": version_id})

    # --- leases -------------------------------------------------------------------------------
    def add_lease(self, lease_id, unit, version_id, expires, holder) -> None:
        self.db.leases.insert_one(
            {"_id": lease_id, "unit": unit.name, "version": version_id, "expires": expires, "holder": holder}
        )

    def renew_lease(self, lease_id: str, expires: datetime) -> bool:
        return self.db.leases.update_one({"_id": lease_id}, {"$set": {"expires": expires}}).matched_count == 1

    def drop_lease(self, lease_id: str) -> None:
        self.db.leases.delete_one({"_id": lease_id})

    def leased_versions(self, now: datetime) -> set[str]:
        return {d["version"] for d in self.db.leases.find({"expires": {"$gt": now}}, {"version": 1})}

    def expire_leases(self, now: datetime) -> int:
        return self.db.leases.delete_many({"expires": {"$lte": now}}).deleted_count


def from_uri(uri: str) -> MongoBackend:
    """``mongodb://host:port/database`` (database defaults to ``contentcloud``)."""
    return MongoBackend(uri)
