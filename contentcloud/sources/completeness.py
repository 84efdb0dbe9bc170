"""Per-field completeness of a datasource's current versions (Metis-style dataset statistics).

For the native and the transformed unit: every field of the records, and how many of the
present records have it (and the share). A field of an XML record is an element or attribute
path, from the coverage scan (:func:`transforms.curation.coverage.coverage`, without a mapping);
a field of an RDF record (the transform's ``output`` is an RDF serialization, N-Triples by
default) is a property of a class, ``crmpe:PE22_Persistent_Dataset crm:P102_has_title``, and the
class itself, ``rdf:type crmpe:PE22_Persistent_Dataset``. Either way one record is in memory at a
time, under a read lease. A result is cached per version (a committed version never changes),
so the page, the CSV and the JSON of one version cost one scan.
"""

from __future__ import annotations

import csv
import io
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from mdstore.errors import ConfigError

if TYPE_CHECKING:
    from contentcloud.settings import Settings

KINDS = ("native", "transformed")
MAX_PATHS = 5000
_cache: OrderedDict[tuple[str, str, str], dict[str, Any]] = OrderedDict()
_cache_lock = threading.Lock()
CACHE_SIZE = 32


def completeness(settings: Settings, datasource_id: str, kind: str) -> dict[str, Any]:
    """``{datasource, kind, unit, version, records, paths: [{path, kind, records, share}]}`` of the
    current version of the datasource's ``kind`` unit (``native`` or ``transformed``); a unit
    without a committed version has ``version: None`` and no paths."""
    from contentcloud.datasources import DatasourceRegistry
    from mdstore import open_store
    from transforms.curation.coverage import coverage

    if kind not in KINDS:
        raise ConfigError(f"{kind!r} is neither native nor transformed", field="kind", rule="enum")
    datasource = DatasourceRegistry(settings.registry).get(datasource_id)
    unit = datasource.native_unit if kind == "native" else datasource.transformed_unit
    with open_store(settings.mdstore, **settings.store_options()) as store:
        version = store.current_version(unit)
        base = {"datasource": datasource_id, "kind": kind, "unit": unit.name, "version": version}
        if version is None:
            return {**base, "records": 0, "parse_errors": 0, "paths": []}
        key = (settings.mdstore, unit.name, version)
        with _cache_lock:
            if key in _cache:
                _cache.move_to_end(key)
                return _cache[key]
        output = datasource.transform.output if kind == "transformed" else "xml"
        if output != "xml":
            result = {**base, **_rdf_fields(store, unit, version, output)}
            with _cache_lock:
                _cache[key] = result
            return result
        report = coverage(store, unit, None, version=version, max_paths=MAX_PATHS, examples=1)
    result = {
        **base,
        "records": report.records,
        "parse_errors": report.parse_errors,
        "paths_dropped": report.paths_dropped,
        "prefixes": report.prefixes,
        "paths": [
            {"path": row.path, "kind": row.kind, "records": row.records, "share": round(row.share, 4)}
            for row in report.rows
        ],
    }
    with _cache_lock:
        _cache[key] = result
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return result


def as_csv(result: dict[str, Any]) -> str:
    """The paths as CSV: ``path,kind,records,total,share`` (the total: records scanned)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["path", "kind", "records", "total", "share"])
    for row in result["paths"]:
        writer.writerow([row["path"], row["kind"], row["records"], result["records"], f"{row['share']:.4f}"])
    return out.getvalue()


RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"


def _qname(iri: str) -> str:
    from transforms.rdf import PREFIXES

    for prefix, namespace in PREFIXES.items():
        if iri.startswith(namespace) and len(iri) > len(namespace):
            return f"{prefix}:{iri[len(namespace) :]}"
    return f"<{iri}>"


def _rdf_fields(store: Any, unit: Any, version: str, fmt: str) -> dict[str, Any]:
    """The classes and class/property pairs of an RDF unit's records, with the records having each."""
    import pyoxigraph as ox

    from mdstore.errors import RecordError
    from transforms.rdf import canonical_format, parse_rdf

    counts: dict[str, int] = {}
    kinds: dict[str, str] = {}
    scanned = parse_errors = 0
    with store.reader(unit, version) as view:
        for record in view.records(deleted=False):
            body = record.body or b""
            try:
                quads = parse_rdf(
                    body if isinstance(body, bytes) else body.encode("utf-8"), canonical_format(fmt)
                )
            except RecordError:
                parse_errors += 1
                continue
            scanned += 1
            classes: dict[Any, list[str]] = {}
            for quad in quads:
                if quad.predicate.value == RDF_TYPE and isinstance(quad.object, ox.NamedNode):
                    classes.setdefault(quad.subject, []).append(_qname(quad.object.value))
            fields: set[str] = set()
            for subject_classes in classes.values():
                for name in subject_classes:
                    fields.add(f"rdf:type {name}")
                    kinds.setdefault(f"rdf:type {name}", "class")
            for quad in quads:
                if quad.predicate.value == RDF_TYPE:
                    continue
                for name in classes.get(quad.subject) or ["(untyped)"]:
                    field = f"{name} {_qname(quad.predicate.value)}"
                    fields.add(field)
                    kinds.setdefault(field, "property")
            for field in fields:
                if field in counts or len(counts) < MAX_PATHS:
                    counts[field] = counts.get(field, 0) + 1
    paths = [
        {
            "path": field,
            "kind": kinds[field],
            "records": n,
            "share": round(n / scanned, 4) if scanned else 0.0,
        }
        for field, n in sorted(counts.items())
    ]
    return {
        "records": scanned,
        "parse_errors": parse_errors,
        "paths_dropped": 0,
        "prefixes": {},
        "paths": paths,
    }
