"""Refresh: materialize a publisher snapshot from the MDStore (see :mod:`provision.oai.index`).

One OAI item is one record id across a datasource's native and transformed units (the
transformed record keeps the native record's id). For each item the refresh computes, per
published format, the payload and its datestamp, the item's sets and its provenance.

Datestamps follow the disseminated bytes: a record keeps the previous snapshot's datestamp while
its payload (and deletion status) is unchanged; when it changes, it takes its MDStore source's
datestamp, or the refresh time if that is not newer (a new oai_dc stylesheet changes the oai_dc
of unchanged records: incremental harvesters must see them). Records are never forgotten:
whatever the previous snapshot had and the new one lacks is kept as deleted.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import multiprocessing
import pickle
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lxml import etree

from mdstore import MDStore, Record, UnitKey
from mdstore.envelope import utcnow
from mdstore.errors import ConfigError, ContentcloudError, PublisherError, RecordError
from mdstore.redact import mask_url
from provision.oai.formats import (
    KNOWN_SCHEMAS,
    OAI_DC_NS,
    OAI_DC_SCHEMA,
    RDF_NS,
    Payload,
    metadata_element,
    native_payload,
    native_payload_of,
    parse_rdf,
    parse_xml,
    rdf_xml_payload,
)
from provision.oai.index import PublisherIndex, SnapshotWriter, compress, ts
from provision.oai.oai_dc import DefaultDeriver, OaiDcDeriver, default_deriver, fallback_oai_dc
from provision.oai.protocol import PREFIX_RE, SETSPEC_RE
from provision.oai.sets import FieldExtractor, Query, ancestors, main_entity_type

logger = logging.getLogger(__name__)

FORMAT_KINDS = ("native", "transformed", "oai_dc")
BATCH = 500
MAX_STORED_ERRORS = 200
#: items to make in one batch before builder processes are worth starting (a spawn costs ~0.5 s)
PARALLEL_MIN = 250
#: longest wait for one batch from a builder process (a batch takes about a second): past it the
#: builders are killed and the refresh fails instead of hanging
BATCH_TIMEOUT = 600.0
#: longest wait for the builders to exit once every batch is made
SHUTDOWN_TIMEOUT = 30.0


@dataclass(frozen=True)
class QuerySet:
    """A set defined by a query over the records of the datasource that declares it."""

    spec: str
    name: str
    query: Query | None
    description: str | None = None


@dataclass(frozen=True)
class PublishSource:
    """Everything the refresh needs to know about one published datasource (plain values)."""

    datasource: str
    name: str
    native_unit: UnitKey
    transformed_unit: UnitKey | None = None
    formats: frozenset[str] = frozenset(FORMAT_KINDS)
    native_prefix: str | None = None  # default: the native unit's format name
    transformed_prefix: str | None = None  # default: the transformed unit's format name
    rdf_syntax: str = "ntriples"  # transform output: ntriples | turtle | rdfxml | xml
    base_url: str = ""  # the source repository, for provenance
    description: str | None = None
    sets: tuple[QuerySet, ...] = ()
    fields: FieldExtractor | None = None
    deriver: OaiDcDeriver | None = None
    config_fingerprint: str = ""  # changes when anything above that shapes payloads changes

    @property
    def native_prefix_name(self) -> str:
        return self.native_prefix or self.native_unit.format

    @property
    def transformed_prefix_name(self) -> str | None:
        if self.transformed_unit is None:
            return None
        return self.transformed_prefix or self.transformed_unit.format


@dataclass
class BuildReport:
    """What a refresh did; the pipeline step turns it into a RunSummary."""

    snapshot: int = 0
    previous: int | None = None
    read: int = 0
    items: int = 0
    records: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    reused: int = 0
    errors: int = 0
    first_errors: list[str] = field(default_factory=list)
    datasources: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: float = 0.0

    def error(self, message: str) -> None:
        self.errors += 1
        if len(self.first_errors) < 10:
            self.first_errors.append(message)


def fingerprint(*parts: Any) -> str:
    return hashlib.md5(
        json.dumps(parts, sort_keys=True, default=str).encode(), usedforsecurity=False
    ).hexdigest()


def check_sources(sources: Sequence[PublishSource]) -> None:
    """Configuration errors that would make the endpoint ambiguous: duplicate datasources,
    illegal or clashing prefixes, query sets squatting on datasource set specs."""
    ids = [s.datasource for s in sources]
    if len(set(ids)) != len(ids):
        raise ConfigError("a datasource is listed twice", field="datasource", rule="unique")
    for source in sources:
        where = f"{source.datasource}: publish"
        if not SETSPEC_RE.match(source.datasource) or ":" in source.datasource:
            raise ConfigError(
                f"datasource id {source.datasource!r} is not a legal setSpec", field=where, rule="setspec"
            )
        for kind in source.formats:
            if kind not in FORMAT_KINDS:
                raise ConfigError(
                    f"unknown format {kind!r} (one of {', '.join(FORMAT_KINDS)})",
                    field=f"{where}.formats",
                    rule="enum",
                )
        for prefix in (source.native_prefix_name, source.transformed_prefix_name):
            if prefix is not None and not PREFIX_RE.match(prefix):
                raise ConfigError(
                    f"{prefix!r} is not a legal metadataPrefix", field=f"{where}.formats", rule="prefix"
                )
        if source.transformed_prefix_name in (source.native_prefix_name, "oai_dc"):
            raise ConfigError(
                f"the transformed format's prefix {source.transformed_prefix_name!r} clashes with "
                "another format",
                field=f"{where}.transformed_prefix",
                rule="unique",
            )
        for query_set in source.sets:
            if not SETSPEC_RE.match(query_set.spec):
                raise ConfigError(
                    f"{query_set.spec!r} is not a legal setSpec", field=f"{where}.sets", rule="setspec"
                )
            head = query_set.spec.split(":")[0]
            if head in ids:
                raise ConfigError(
                    f"set {query_set.spec!r} is inside datasource {head!r}'s set hierarchy (reserved "
                    "for datasource and entity-type sets)",
                    field=f"{where}.sets",
                    rule="reserved",
                )


class _Item:
    """The rows of one item being built."""

    __slots__ = (
        "id",
        "original_id",
        "entity_type",
        "sets",
        "records",
        "native_cs",
        "transformed_cs",
        "about",
        "deleted",
        "blobs",
    )

    def __init__(self, record_id: str, original_id: str) -> None:
        self.id = record_id
        self.original_id = original_id
        self.entity_type: str | None = None
        self.sets: list[str] = []
        self.records: dict[
            str, tuple[str, bool, Payload | None]
        ] = {}  # prefix → (source datestamp, deleted, payload)
        self.native_cs: str | None = None
        self.transformed_cs: str | None = None
        self.about: dict[str, Any] | None = None
        self.deleted = False
        self.blobs: dict[str, bytes] = {}  # payload md5 → the payload, compressed by a builder


def _merge_by_id(
    native: Iterator[Record], transformed: Iterator[Record] | None
) -> Iterator[tuple[Record | None, Record | None]]:
    """Pair two id-ordered record streams by id (a full outer merge join)."""
    sentinel = None
    a = next(native, sentinel)
    b = next(transformed, sentinel) if transformed is not None else sentinel
    while a is not None or b is not None:
        if b is None or (a is not None and a.id < b.id):
            yield a, None
            a = next(native, sentinel)
        elif a is None or b.id < a.id:
            yield None, b
            b = next(transformed, sentinel)  # type: ignore[arg-type]
        else:
            yield a, b
            a = next(native, sentinel)
            b = next(transformed, sentinel)  # type: ignore[arg-type]


class _DatasourceBuilder:
    """Builds one datasource's items into the snapshot writer.

    This process reads the records, decides which items the previous snapshot already has
    unchanged, and writes the rows; the payload work of the other items (parses, entity type,
    RDF/XML, oai_dc, compression: ~90 % of a first snapshot's CPU) is done by an :class:`_ItemMaker`
    here, or, with ``workers``, by makers in that many builder processes, a batch each, while this
    process writes the rows of the batches before. Batches are taken back in order and what a
    maker reported (errors, declared formats) is replayed here in order, so the snapshot, its
    errors and the report are the same either way.
    """

    def __init__(
        self,
        source: PublishSource,
        writer: SnapshotWriter,
        report: BuildReport,
        formats: dict[str, dict],
        *,
        workers: int = 0,
        mp_context: Any = None,
    ):
        self.source = source
        self.writer = writer
        self.report = report
        self.formats = formats
        self.maker = _ItemMaker(source)
        self.now = ts(writer.now)
        self.errors_stored = 0
        self.stats = {"items": 0, "records": 0, "errors": 0, "reused": 0}
        self.workers = workers
        self.mp_context = mp_context
        self._pool: _BuilderPool | None = None

    def fail(self, record_id: str | None, message: str) -> None:
        text = f"{self.source.datasource}: {record_id or '-'}: {message}"
        self.report.error(text)
        self.stats["errors"] += 1
        if self.errors_stored < MAX_STORED_ERRORS:
            self.writer.add_error(self.source.datasource, record_id, message)
            self.errors_stored += 1
        logger.warning("publish: %s", text)

    def build(
        self, pairs: Iterator[tuple[Record | None, Record | None]], on_batch: Callable[[int], None]
    ) -> None:
        """Every item of ``pairs``, ``BATCH`` read records at a time (up to ``workers + 1`` batches
        in the builders while this process writes)."""
        pending: deque[tuple[list[tuple], Future[list[_Made] | None], int]] = deque()
        try:
            for chunk in _chunks(pairs, BATCH):
                self.report.read += len(chunk)
                pending.append((*self._submit(chunk), len(chunk)))
                while len(pending) > self.workers or (pending and pending[0][1].done()):
                    steps, made, read = pending.popleft()
                    self._write(steps, made)
                    on_batch(read)
            while pending:
                steps, made, read = pending.popleft()
                self._write(steps, made)
                on_batch(read)
        except BaseException:
            if self._pool is not None:
                self._pool.kill()
                self._pool = None
            raise
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def _submit(self, chunk: list[tuple[Record | None, Record | None]]) -> tuple[list[tuple], Future]:
        """What to do with each pair of a batch, in order, and the payload work handed to a maker."""
        previous = self.writer.previous_items([n.id for n, _ in chunk if n is not None])
        steps: list[tuple] = []
        work: list[tuple[Record, Record | None]] = []
        for native, transformed in chunk:
            if native is None:
                # a transformed record whose native record is not in the store: not an item of ours
                steps.append(("skip", transformed.id if transformed else None))
                continue
            prev = previous.get(native.id)
            if prev is not None and self._unchanged(prev, native, transformed):
                steps.append(("reuse", prev))
                continue
            steps.append(("make", prev, len(work), native, transformed))
            work.append((native, transformed))
        if work and self._pool is None and self.workers > 0 and len(work) >= PARALLEL_MIN:
            self._pool = _BuilderPool.start(self.source, self.workers, self.mp_context)
            self.workers = self.workers if self._pool is not None else 0  # not startable: made here
        if self._pool is not None and work:
            return steps, self._pool.submit(work)
        here: Future[list[_Made] | None] = Future()
        here.set_result(None)  # made one by one as they are written (nothing held meanwhile)
        return steps, here

    def _write(self, steps: list[tuple], made: Future[list[_Made] | None]) -> None:
        results = _wait(made)  # None: made here, one by one
        blobs: dict[str, bytes] = {}
        items_rows: list[tuple] = []
        record_rows: list[tuple] = []
        for step in steps:
            if step[0] == "skip":
                self.fail(step[1], "transformed record without a native record; skipped")
            elif step[0] == "reuse":
                prev = step[1]
                items_rows.append(prev["row"])
                record_rows.extend(prev["records"])
                self.report.reused += 1
                self.report.unchanged += 1
                self.stats["reused"] += 1
            else:
                item, events = results[step[2]] if results is not None else self.maker.make(*step[3:])
                for event in events:
                    if event[0] == "fail":
                        self.fail(event[1], event[2])
                    else:
                        self._declare(event[1], event[2])
                if item is not None:
                    self._rows(item, step[1], blobs, items_rows, record_rows)
        if results is None:
            self.writer.put_blobs([(digest, compress(xml)) for digest, xml in blobs.items()])
        else:
            self.writer.put_blobs(blobs.items())
        self.writer.put_items(items_rows, record_rows)
        self.stats["items"] += len(items_rows)
        self.stats["records"] += len(record_rows)

    def _unchanged(self, prev: dict[str, Any], native: Record, transformed: Record | None) -> bool:
        row = prev["row"]
        return (
            row[1] == self.source.datasource
            and row[6] == native.checksum
            and row[7] == (transformed.checksum if transformed is not None else None)
            and row[8] == self.source.config_fingerprint
        )

    def _declare(self, prefix: str, payload: Payload) -> None:
        """Record a prefix's namespace and schema (the first record that names them wins)."""
        known = self.formats.setdefault(
            prefix, {"namespace": payload.namespace, "schema": None, "datasources": []}
        )
        if known["namespace"] != payload.namespace:
            raise _PrefixClash(prefix, known["namespace"], payload.namespace)
        if known["schema"] is None:
            known["schema"] = payload.schema or KNOWN_SCHEMAS.get(payload.namespace)
        if self.source.datasource not in known["datasources"]:
            known["datasources"].append(self.source.datasource)

    def _rows(
        self,
        item: _Item,
        prev: dict[str, Any] | None,
        blobs: dict[str, bytes],
        items_rows: list[tuple],
        record_rows: list[tuple],
    ) -> None:
        prev_records = {r[0]: r for r in prev["records"]} if prev else {}
        changed = False
        for prefix, (source_ds, deleted, payload) in item.records.items():
            digest = payload.checksum if payload is not None else None
            old = prev_records.get(prefix)
            if old is not None and old[4] == digest and bool(old[3]) == deleted:
                datestamp = old[1]
            else:
                changed = True
                datestamp = source_ds if old is None or source_ds > old[1] else max(self.now, old[1])
            if payload is not None:
                # compressed in a builder process, else with the batch's others (``_write``)
                blobs[digest] = item.blobs.get(digest) or payload.xml  # type: ignore[index]
                if payload.origin:
                    item.about = dict(item.about or {}, origin=payload.origin.decode("utf-8"))
            record_rows.append((prefix, datestamp, item.id, int(deleted), digest))
        # formats of the previous snapshot that this item lost stay, as deleted
        for prefix, old in prev_records.items():
            if prefix not in item.records:
                changed = True
                record_rows.append((prefix, old[1] if old[3] else max(self.now, old[1]), item.id, 1, None))
        prefixes = " ".join(sorted(set(item.records) | set(prev_records)))
        items_rows.append(
            (
                item.id,
                self.source.datasource,
                item.original_id,
                item.entity_type,
                json.dumps(item.sets),
                prefixes,
                item.native_cs,
                item.transformed_cs,
                self.source.config_fingerprint,
                json.dumps(item.about),
                int(item.deleted),
            )
        )
        if prev is None:
            self.report.added += 1
        elif item.deleted and not prev["row"][10]:
            self.report.deleted += 1
        elif changed:
            self.report.updated += 1
        else:
            self.report.unchanged += 1


#: what an item maker returns: the item (None when it is not published) and, in order, what it
#: reported: ``("fail", record_id, message)`` and ``("declare", prefix, payload)``
_Made = tuple[_Item | None, list[tuple]]


class _ItemMaker:
    """The payload work of one item (parses, entity type, RDF/XML, oai_dc, sets, provenance, the
    compressed blobs), free of the writer: it runs in the refreshing process or in a builder process,
    and returns what it would report as events for the builder to replay in order."""

    def __init__(self, source: PublishSource) -> None:
        self.source = source
        self.deriver = source.deriver or default_deriver(rdf_syntax=source.rdf_syntax)
        self.events: list[tuple] = []

    def make(self, native: Record, transformed: Record | None) -> _Made:
        self.events = []
        return self._item(native, transformed), self.events

    def fail(self, record_id: str | None, message: str) -> None:
        self.events.append(("fail", record_id, message))

    def _declare(self, prefix: str, payload: Payload) -> None:
        self.events.append(("declare", prefix, payload))

    # --- one item -----------------------------------------------------------------------------
    def _item(self, native: Record, transformed: Record | None) -> _Item | None:
        source = self.source
        item = _Item(native.id, native.original_id)
        item.native_cs = native.checksum
        item.transformed_cs = transformed.checksum if transformed is not None else None
        item.deleted = native.deleted
        native_ds = ts(native.datestamp)
        root = None
        payload_root = None
        native_ns = None
        if not native.deleted:
            try:
                root = parse_xml(native.body or b"", record_id=native.id)
                payload_root, _ = metadata_element(root)
            except RecordError as exc:
                self.fail(native.id, f"native record: {exc.message}")
        # native format (oai_dc natives are served through the oai_dc format)
        native_prefix = source.native_prefix_name
        if "native" in source.formats and native_prefix != "oai_dc":
            if native.deleted:
                item.records[native_prefix] = (native_ds, True, None)
            elif payload_root is not None:
                try:
                    payload = native_payload_of(root, record_id=native.id)
                    item.records[native_prefix] = (native_ds, False, payload)
                    native_ns = payload.namespace
                    self._declare(native_prefix, payload)
                except RecordError as exc:
                    self.fail(native.id, f"native format not published: {exc.message}")
        if payload_root is not None and native_ns is None:
            native_ns = etree.QName(payload_root).namespace
        # transformed format, and the entity type
        triples = None
        transformed_live = transformed is not None and not transformed.deleted and not native.deleted
        if transformed_live and source.rdf_syntax != "xml":
            try:
                triples = parse_rdf(transformed.body or b"", source.rdf_syntax, record_id=transformed.id)
                item.entity_type = main_entity_type(
                    triples, (transformed.provenance or {}).get("main_entity")
                )
            except RecordError as exc:
                self.fail(native.id, f"transformed record: {exc.message}")
        t_prefix = source.transformed_prefix_name
        rdf_xml: Payload | None = None  # the transformed record as RDF/XML, once for every use
        if "transformed" in source.formats and t_prefix is not None and transformed is not None:
            t_ds = ts(
                max(transformed.datestamp, native.datestamp) if native.deleted else transformed.datestamp
            )
            if not transformed_live:
                item.records[t_prefix] = (t_ds, True, None)
            else:
                try:
                    if source.rdf_syntax == "xml":
                        payload = native_payload(transformed.body or b"", record_id=transformed.id)
                    elif triples is not None:
                        payload = rdf_xml = rdf_xml_payload(triples, record_id=transformed.id)
                    else:
                        payload = None
                    if payload is not None:
                        item.records[t_prefix] = (ts(transformed.datestamp), False, payload)
                        self._declare(t_prefix, payload)
                except RecordError as exc:
                    self.fail(native.id, f"transformed format not published: {exc.message}")
        # oai_dc, always
        if "oai_dc" in source.formats or native_prefix == "oai_dc":
            dc_ds = native_ds if not transformed_live else ts(max(native.datestamp, transformed.datestamp))
            if native.deleted:
                item.records["oai_dc"] = (native_ds, True, None)
            else:
                payload = self._oai_dc(
                    native,
                    transformed if transformed_live else None,
                    native_parsed=payload_root is not None,
                    native_root=payload_root,
                    rdf_xml=rdf_xml,
                )
                if payload is None:
                    self.fail(native.id, "no oai_dc could be derived; the item is not published")
                    return None
                item.records["oai_dc"] = (dc_ds, False, payload)
        if not item.records:
            self.fail(native.id, "no format could be published; the item is not published")
            return None
        item.sets = self._sets(item, payload_root)
        item.about = self._about(native, native_ns)
        return item

    def _oai_dc(
        self,
        native: Record,
        transformed: Record | None,
        *,
        native_parsed: bool,
        native_root: etree._Element | None = None,
        rdf_xml: Payload | None = None,
    ) -> Payload | None:
        """The item's oai_dc: the deriver's, else the built-in fallback (already reported natives that
        do not parse go straight to the fallback).

        The built-in deriver is handed what this item already parsed and serialized (the native
        payload, the RDF/XML): an oai_dc native is then its own payload, without the two parses
        and serializations of the round trip through bytes, which give the same bytes back.
        """
        if isinstance(self.deriver, DefaultDeriver) and native_parsed and native_root is not None:
            if native_root.tag == f"{{{OAI_DC_NS}}}dc":
                return Payload.of(native_root)
            if self.deriver.rdf_syntax != self.source.rdf_syntax:  # made from another reading
                rdf_xml = None
            try:
                produced = self.deriver.derive(native, transformed, native_root=native_root, rdf_xml=rdf_xml)
            except ContentcloudError as exc:
                self.fail(native.id, f"oai_dc deriver failed, fell back to the built-in mapping: {exc}")
                produced = None
            return self._checked_oai_dc(native, transformed, produced)
        try:
            produced = self.deriver(native, transformed) if native_parsed else None
        except ContentcloudError as exc:
            self.fail(native.id, f"oai_dc deriver failed, fell back to the built-in mapping: {exc}")
            produced = None
        return self._checked_oai_dc(native, transformed, produced)

    def _checked_oai_dc(
        self, native: Record, transformed: Record | None, produced: bytes | str | None
    ) -> Payload | None:
        if produced is None:
            produced = fallback_oai_dc(native, transformed, rdf_syntax=self.source.rdf_syntax)
        try:
            root = parse_xml(produced, record_id=native.id)
        except RecordError as exc:
            self.fail(native.id, f"the oai_dc produced is not XML: {exc.message}")
            return None
        if root.tag != f"{{{OAI_DC_NS}}}dc":
            self.fail(native.id, f"the oai_dc deriver returned <{root.tag}>, not oai_dc:dc")
            return None
        return Payload.of(root)

    def _sets(self, item: _Item, payload_root: etree._Element | None) -> list[str]:
        source = self.source
        specs = [source.datasource]
        if item.entity_type:
            specs.append(f"{source.datasource}:{item.entity_type}")
        if source.sets:
            values: dict[str, list[str]] = {
                "original_id": [item.original_id],
                "id": [item.id],
                "datasource": [source.datasource],
                "type": [item.entity_type] if item.entity_type else [],
                "format": list(item.records),
            }
            if source.fields is not None:
                values.update(source.fields.values(payload_root))
            for query_set in source.sets:
                if query_set.query is not None and query_set.query.matches(values):
                    specs.extend(ancestors(query_set.spec))
        return sorted(set(specs))

    def _about(self, native: Record, namespace: str | None) -> dict[str, Any]:
        provenance = native.provenance or {}
        harvested = native.collected_at or native.datestamp
        return {
            # records of older stores may hold a URL with credentials: never published
            "baseURL": mask_url(
                provenance.get("baseURL") or provenance.get("base_url") or self.source.base_url
            ),
            "identifier": provenance.get("identifier") or native.original_id,
            "datestamp": provenance.get("datestamp") or ts(harvested),
            "harvestDate": ts(harvested),
            "metadataNamespace": namespace or "",
            "nativePrefix": self.source.native_prefix_name,
        }


def _chunks(pairs: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for pair in pairs:
        chunk.append(pair)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _wait(made: Future[list[_Made] | None]) -> list[_Made] | None:
    """A batch's items, or a :class:`PublisherError` when its builder died or took too long."""
    try:
        return made.result(timeout=BATCH_TIMEOUT)
    except BrokenProcessPool as exc:
        raise PublisherError(
            f"a payload builder process died ({exc}); see the log for its error, or run the "
            "refresh with one worker",
            target="publish builders",
        ) from exc
    except FutureTimeout as exc:
        raise PublisherError(
            f"no items from a payload builder process in {BATCH_TIMEOUT:g} s; it was stopped",
            target="publish builders",
        ) from exc


_BUILDER_MAKER: _ItemMaker | None = None
#: why this builder could not start (raised by its first batch, so the parent gets the error itself)
_BUILDER_FAILED: ContentcloudError | None = None


def _init_builder(source: bytes) -> None:
    """Kept from raising: an initializer's exception only breaks the pool, and the parent would see
    "a process terminated abruptly" with the child's traceback on stderr instead of the reason."""
    global _BUILDER_MAKER, _BUILDER_FAILED
    try:
        _BUILDER_MAKER = _ItemMaker(pickle.loads(source))  # noqa: S301 - our own pickle, from the parent
    except ContentcloudError as exc:
        _BUILDER_FAILED = exc
    gc.freeze()  # the imports and the maker: see contentcloud.pipeline.processes.freeze_startup


def _make_in_builder(work: list[tuple[Record, Record | None]]) -> list[_Made]:
    """A batch's items, with their payloads' bytes left out (the compressed blobs are what the
    writer needs, and what is worth sending back)."""
    if _BUILDER_FAILED is not None:
        raise _BUILDER_FAILED
    assert _BUILDER_MAKER is not None
    made = [_BUILDER_MAKER.make(native, transformed) for native, transformed in work]
    # compressed in one loop after the batch, not between the items' parses: zlib's ~300 KB of
    # state per call, interleaved with lxml's and pyoxigraph's allocations, cost ~25 % more
    # equal payloads of a batch travel back as one object; the origin is not in the bytes, so it
    # is part of the key (records with the same metadata can come from different repositories)
    light: dict[tuple[str, bytes | None], Payload] = {}
    for item, events in made:
        if item is not None:
            records = {}
            for prefix, (ds, deleted, payload) in item.records.items():
                if payload is not None:
                    if payload.checksum not in item.blobs:
                        item.blobs[payload.checksum] = compress(payload.xml)
                    key = (payload.checksum, payload.origin)
                    payload = light.get(key) or light.setdefault(key, payload.without_xml())
                records[prefix] = (ds, deleted, payload)
            item.records = records
        for n, event in enumerate(events):
            if event[0] == "declare":
                events[n] = ("declare", event[1], event[2].without_xml())
    return made


class _BuilderPool:
    """Builder processes making one datasource's items, a batch each (``spawn``: no fork of a
    process holding an SQLite write transaction)."""

    def __init__(self, pool: ProcessPoolExecutor, context: Any) -> None:
        self.pool = pool
        self.context = context

    @classmethod
    def start(cls, source: PublishSource, workers: int, mp_context: Any) -> _BuilderPool | None:
        """The pool, or None when the source cannot go to another process (a custom oai_dc deriver
        that does not pickle): its items are then made in this process."""
        try:
            data = pickle.dumps(source)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            logger.warning(
                "publish %s: its payloads cannot be made in builder processes (%s); made in this "
                "process, as with --workers 1",
                source.datasource,
                exc,
            )
            return None
        context = mp_context or multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_builder, initargs=(data,))
        return cls(pool, context)

    def submit(self, work: list[tuple[Record, Record | None]]) -> Future[list[_Made]]:
        return self.pool.submit(_make_in_builder, work)  # records pickle still encoded

    def close(self) -> None:
        """Every batch is in: the builders exit on the pool's sentinel (bounded wait)."""
        processes = self._processes()  # before shutdown, which forgets them
        self.pool.shutdown(wait=False)
        stop_all = getattr(self.context, "stop_all", None)
        if stop_all is not None:
            stop_all(SHUTDOWN_TIMEOUT)
            return
        deadline = time.monotonic() + SHUTDOWN_TIMEOUT
        for process in processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()

    def kill(self) -> None:
        """On any error: nothing waits for a builder that is stuck or still making batches."""
        processes = self._processes()
        self.pool.shutdown(wait=False, cancel_futures=True)
        kill_all = getattr(self.context, "kill_all", None)
        if kill_all is not None:
            kill_all()
            return
        for process in processes:
            process.kill()

    def _processes(self) -> list[Any]:
        """The pool's processes (a context that does not track its children leaves only this)."""
        return list((getattr(self.pool, "_processes", None) or {}).values())


class _PrefixClash(ContentcloudError):
    def __init__(self, prefix: str, first: str, second: str) -> None:
        super().__init__(
            f"metadataPrefix {prefix!r} would carry two namespaces ({first} and {second}); give one "
            "datasource another prefix (publish.native_prefix)"
        )
        self.prefix = prefix


def build_snapshot(
    store: MDStore,
    index: PublisherIndex,
    sources: Sequence[PublishSource],
    *,
    now: datetime | None = None,
    retention_seconds: int = 26 * 3600,
    on_progress: Callable[[int, int | None, str], None] | None = None,
    workers: int = 0,
    mp_context: Any = None,
) -> BuildReport:
    """Build the next publisher snapshot from the current versions of every source's units.

    A datasource whose units and configuration did not change since the previous snapshot is
    copied as is; otherwise its records are read (native and transformed merged by id) and only
    the items whose sources or configuration changed are recomputed. A datasource that cannot be
    published (no harvested version yet, a clashing prefix) is reported and skipped; what it had
    published before stays, as deleted records only if it is no longer configured at all.

    ``workers``: builder processes that make the items' payloads while this process reads the
    records and writes the rows (0: all in this process). Only worth it for a datasource with many
    items to make: they start on a batch with at least ``PARALLEL_MIN`` of them; ``mp_context``
    is the multiprocessing context they start in (default: ``spawn``). The snapshot is the same.
    """
    check_sources(sources)
    started = time.perf_counter()
    report = BuildReport()
    with index.build(now or utcnow()) as writer:
        build = _SnapshotBuild(store, writer, report, on_progress, workers=workers, mp_context=mp_context)
        for source in sources:
            build.add(source)
        build.finish(retention_seconds)
    report.seconds = time.perf_counter() - started
    return report


class _SnapshotBuild:
    """One refresh: the datasources' rows into the writer, then the snapshot's description
    (``writer.info``: datasources, formats, sets, counts). The writer owns the SQL."""

    def __init__(
        self,
        store: MDStore,
        writer: SnapshotWriter,
        report: BuildReport,
        on_progress: Callable[[int, int | None, str], None] | None,
        *,
        workers: int = 0,
        mp_context: Any = None,
    ) -> None:
        self.store = store
        self.workers = workers
        self.mp_context = mp_context
        self.writer = writer
        self.report = report
        self.on_progress = on_progress
        self.done = 0  # records read, for on_progress
        previous = writer.previous
        report.snapshot = writer.id
        report.previous = previous.id if previous else None
        self.prev_info: dict[str, Any] = previous.info if previous else {}
        self.prev_formats: dict[str, dict] = self.prev_info.get("formats", {})
        self.formats: dict[str, dict] = {}
        self.datasources: dict[str, dict[str, Any]] = {}
        self.sets: dict[str, dict[str, str]] = {}

    # --- one datasource -----------------------------------------------------------------------
    def add(self, source: PublishSource) -> None:
        """Publish one datasource: copied when nothing changed, else read and rebuilt."""
        versions = {
            "native": self.store.current_version(source.native_unit),
            "transformed": self.store.current_version(source.transformed_unit)
            if source.transformed_unit
            else None,
        }
        info: dict[str, Any] = {
            "name": source.name,
            "versions": versions,
            "fingerprint": source.config_fingerprint,
            "native_prefix": source.native_prefix_name,
            "transformed_prefix": source.transformed_prefix_name,
        }
        before = self.prev_info.get("datasources", {}).get(source.datasource)
        if versions["native"] is None:
            self.report.error(
                f"{source.datasource}: nothing harvested yet ({source.native_unit}); not published"
            )
            self._keep_previous(source, before)
            return
        if (
            before is not None
            and before.get("versions") == versions
            and before.get("fingerprint") == source.config_fingerprint
        ):
            info.update(self._copy_unchanged(source, before))
        else:
            rebuilt = self._rebuild(source, versions, before)
            if rebuilt is None:
                return
            info.update(rebuilt)
        self.datasources[source.datasource] = info
        self._declare_sets(source)

    def _keep_previous(self, source: PublishSource, before: dict[str, Any] | None) -> None:
        """A datasource that cannot be published now keeps what the previous snapshot had."""
        if before is not None:
            self.writer.copy_datasource(source.datasource)
            self.datasources[source.datasource] = before

    def _copy_unchanged(self, source: PublishSource, before: dict[str, Any]) -> dict[str, Any]:
        copied = self.writer.copy_datasource(source.datasource)
        self.report.unchanged += copied
        self.report.reused += copied
        for prefix in before.get("prefixes", []):
            fmt = self.formats.setdefault(prefix, dict(self.prev_formats.get(prefix, {}), datasources=[]))
            fmt["datasources"].append(source.datasource)
        return {"stats": dict(before.get("stats", {}), reused=copied), "prefixes": before.get("prefixes", [])}

    def _rebuild(
        self, source: PublishSource, versions: dict[str, str | None], before: dict[str, Any] | None
    ) -> dict[str, Any] | None:
        """Read the datasource's records into the snapshot; None when a prefix clash refused it
        (its rows are undone and what it published before is kept)."""
        builder = _DatasourceBuilder(
            source, self.writer, self.report, self.formats, workers=self.workers, mp_context=self.mp_context
        )
        formats_before = json.loads(json.dumps(self.formats))
        try:
            with self.writer.savepoint():
                self._read(source, versions, builder)
        except _PrefixClash as exc:
            self.formats.clear()
            self.formats.update(formats_before)
            self.report.error(f"{source.datasource}: {exc}")
            self._keep_previous(source, before)
            return None
        prefixes = sorted(p for p, f in self.formats.items() if source.datasource in f["datasources"])
        return {"stats": builder.stats, "prefixes": prefixes}

    def _read(
        self, source: PublishSource, versions: dict[str, str | None], builder: _DatasourceBuilder
    ) -> None:
        def progress(n: int) -> None:
            self.done += n
            if self.on_progress:
                self.on_progress(self.done, None, f"publish {source.datasource}")

        with self.store.reader(source.native_unit, versions["native"]) as native_view:
            if versions["transformed"] is not None and source.transformed_unit is not None:
                with self.store.reader(source.transformed_unit, versions["transformed"]) as t_view:
                    builder.build(_merge_by_id(native_view.records(), t_view.records()), progress)
            else:
                builder.build(_merge_by_id(native_view.records(), None), progress)

    def _declare_sets(self, source: PublishSource) -> None:
        """The datasource's set and its query sets (with their ancestors), listed even while empty."""
        for query_set in source.sets:
            for spec in ancestors(query_set.spec):
                entry = self.sets.setdefault(spec, {"spec": spec, "name": spec})
                if spec == query_set.spec:
                    entry["name"] = query_set.name
                    if query_set.description:
                        entry["description"] = query_set.description
        self.sets[source.datasource] = {
            "spec": source.datasource,
            "name": source.name,
            **({"description": source.description} if source.description else {}),
        }

    # --- the whole snapshot -------------------------------------------------------------------
    def finish(self, retention_seconds: int) -> None:
        """Persistent deletion, set memberships, and the snapshot's description."""
        writer, report = self.writer, self.report
        # items of configured datasources that vanished, and whole datasources that are no longer
        # published, stay as deleted records
        report.deleted += writer.tombstone_leftovers(None)
        for ds_id, before in self.prev_info.get("datasources", {}).items():
            if ds_id not in self.datasources:
                self.datasources[ds_id] = dict(before, unpublished=True)
                self.sets.setdefault(ds_id, {"spec": ds_id, "name": before.get("name", ds_id)})
        writer.build_memberships()
        listed = self._listed_sets()
        formats = self._formats_info()
        report.records = sum(v for k, v in writer.counts().items() if k.startswith("|"))
        report.items = writer.item_count()
        writer.info = {
            "datasources": self.datasources,
            "formats": formats,
            "sets": sorted(listed.values(), key=lambda s: s["spec"]),
            "counts": writer.counts(),
            "earliest": writer.earliest(),
            "items": report.items,
            "retention_seconds": retention_seconds,
        }
        report.datasources = self.datasources

    def _listed_sets(self) -> dict[str, dict[str, str]]:
        """Every set with members, and every configured one (even while empty)."""
        known = {entry["spec"]: entry for entry in self.prev_info.get("sets", [])}
        known.update(self.sets)
        listed: dict[str, dict[str, str]] = {}
        for spec in self.writer.set_specs_in_use() | set(self.sets):
            entry = known.get(spec)
            if entry is None:  # an entity-type set
                ds_id, _, entity = spec.partition(":")
                entry = {
                    "spec": spec,
                    "name": f"{self.datasources.get(ds_id, {}).get('name', ds_id)}: {entity}",
                }
            listed[spec] = entry
        return listed

    def _formats_info(self) -> dict[str, dict[str, str]]:
        """Each prefix in use with its namespace and schema (oai_dc always)."""
        prefixes = self.writer.prefixes_in_use() | {"oai_dc"}
        formats_info = {"oai_dc": {"schema": OAI_DC_SCHEMA, "namespace": OAI_DC_NS}}
        for prefix in sorted(prefixes - {"oai_dc"}):
            fmt = self.formats.get(prefix) or self.prev_formats.get(prefix) or {}
            namespace = fmt.get("namespace") or RDF_NS
            formats_info[prefix] = {
                "namespace": namespace,
                "schema": fmt.get("schema") or KNOWN_SCHEMAS.get(namespace) or namespace,
            }
        return formats_info
