"""Coverage of a native version: every source path, how often it occurs, and whether the mapping reads it.

The version is streamed one record at a time under a read lease; memory holds one record and one
entry per distinct path. Distinct values are counted exactly up to ``distinct_cap`` (by a 64-bit
hash of each value) and reported as "≥cap" beyond; a few example values are kept per path.

Whether the mapping reads a path comes from one of two methods (:func:`read_method`):

* ``static`` (an X3ML mapping first in the chain): the mapping's XPaths, see :mod:`.x3ml_reads`;
* ``trace`` (XSLT, or any chain): the chain run on altered records, see :mod:`.trace`.

A container element counts as read when the mapping reads it or anything below it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from mdstore.errors import ConfigError, RecordParseError
from transforms.curation.paths import Path, Prefixes, is_attribute, iter_nodes, parse_record

if TYPE_CHECKING:
    from mdstore import MDStore, UnitKey

logger = logging.getLogger(__name__)

Method = Literal["auto", "static", "trace"]
EXAMPLE_LENGTH = 80
PROGRESS_EVERY = 1000


@dataclass(slots=True)
class _PathStats:
    records: int = 0
    occurrences: int = 0
    hashes: set[int] | None = field(default_factory=set)
    examples: list[str] = field(default_factory=list)
    has_values: bool = False
    last_record: int = -1
    capped_at: int = 0  # the cap, once more distinct values than it were seen


@dataclass(frozen=True)
class PathRow:
    """One line of the coverage table."""

    path: str
    kind: str  # element | attribute
    records: int
    share: float  # of the records scanned
    occurrences: int
    distinct: int | None  # None for containers (no values)
    distinct_capped: bool
    examples: tuple[str, ...]
    read: bool | None  # None: no mapping to ask

    @property
    def distinct_text(self) -> str:
        if self.distinct is None:
            return "-"
        return f"≥{self.distinct}" if self.distinct_capped else str(self.distinct)

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "kind": self.kind,
            "records": self.records,
            "share": round(self.share, 4),
            "occurrences": self.occurrences,
            "distinct": self.distinct,
            "distinct_capped": self.distinct_capped,
            "examples": list(self.examples),
            "read": self.read,
        }


@dataclass
class CoverageReport:
    unit: str
    version: str
    records: int
    rows: list[PathRow]
    method: str
    method_note: str
    prefixes: dict[str, str]
    parse_errors: int = 0
    first_errors: list[str] = field(default_factory=list)
    paths_dropped: int = 0
    seconds: float = 0.0

    @property
    def unread(self) -> list[PathRow]:
        return [row for row in self.rows if row.read is False]

    def as_dict(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "version": self.version,
            "records": self.records,
            "parse_errors": self.parse_errors,
            "first_errors": self.first_errors,
            "method": self.method,
            "method_note": self.method_note,
            "prefixes": self.prefixes,
            "paths_dropped": self.paths_dropped,
            "seconds": round(self.seconds, 3),
            "paths": [row.as_dict() for row in self.rows],
        }


def read_method(chain: Any, method: Method = "auto") -> tuple[str, Any]:
    """(method name, reader) for a chain: an X3ML-first chain is read statically, anything else traced.

    The reader answers ``reads(path)``; a tracer also learns from records (``trace``).
    """
    if chain is None:
        return "none", None
    first = next((s for s in chain.steps if getattr(s, "kind", "") in ("xslt", "x3ml")), None)
    if method == "static" or (method == "auto" and first is not None and first.kind == "x3ml"):
        if first is None or first.kind != "x3ml":
            raise ConfigError(
                "static read analysis needs an X3ML mapping as the chain's first mapping step",
                field="method",
                rule="x3ml",
            )
        from transforms.curation.x3ml_reads import mapping_reads

        return "static", mapping_reads(first.mapping.document)
    from transforms.curation.trace import ChainTracer

    return "trace", ChainTracer(chain)


def coverage(
    store: MDStore,
    unit: UnitKey,
    chain: Any = None,
    *,
    version: str | None = None,
    method: Method = "auto",
    distinct_cap: int = 1000,
    examples: int = 3,
    max_paths: int = 5000,
    limit: int | None = None,
    on_progress: Callable[[int, int, str], None] | None = None,
    ids: Sequence[str] | None = None,
) -> CoverageReport:
    """The path table of one native version (the current one unless ``version`` is given), or of
    its records ``ids`` only (the editor's live preview: the same sample as the preview's)."""
    started = time.perf_counter()
    method_name, reader = read_method(chain, method)
    tracing = method_name == "trace"
    prefixes = Prefixes()
    stats: dict[Path, _PathStats] = {}
    scanned = parse_errors = dropped = 0
    first_errors: list[str] = []
    with store.reader(unit, version) as view:
        total = view.count(deleted=False)
        if ids is not None:
            found = view.get_many(list(ids))
            chosen: Iterable[Any] = [found[i] for i in sorted(found) if found[i].body is not None]
        else:
            chosen = view.records(deleted=False, limit=limit)
        for record in chosen:
            body = record.body or b""
            try:
                root = parse_record(body, record_id=record.id)
            except RecordParseError as exc:
                parse_errors += 1
                if len(first_errors) < 5:
                    first_errors.append(str(exc))
                continue
            seen: list[Path] = []
            for path, element, _attribute, value in iter_nodes(root):
                entry = stats.get(path)
                if entry is None:
                    if len(stats) >= max_paths:
                        dropped += 1
                        continue
                    entry = stats[path] = _PathStats()
                    prefixes.learn(element.nsmap)
                if entry.last_record != scanned:
                    seen.append(path)
                _count(entry, scanned, value, distinct_cap, examples)
            if tracing and reader.pending(seen):
                reader.trace(body, record_id=record.id, original_id=record.original_id)
            scanned += 1
            if on_progress and scanned % PROGRESS_EVERY == 0:
                on_progress(scanned, total, "coverage")
        version_id = view.version_id
    rows = _rows(stats, scanned, reader, prefixes)
    note = reader.describe() if reader is not None else "no mapping given"
    report = CoverageReport(
        unit=unit.name,
        version=version_id,
        records=scanned,
        rows=rows,
        method=method_name,
        method_note=note,
        prefixes=prefixes.as_dict(),
        parse_errors=parse_errors,
        first_errors=first_errors,
        paths_dropped=dropped,
        seconds=time.perf_counter() - started,
    )
    logger.info("coverage %s: %d records, %d paths in %.1fs", unit, scanned, len(rows), report.seconds)
    return report


def _count(entry: _PathStats, record_index: int, value: str | None, cap: int, examples: int) -> None:
    entry.occurrences += 1
    if entry.last_record != record_index:
        entry.last_record = record_index
        entry.records += 1
    if value is None:
        return
    entry.has_values = True
    if entry.hashes is not None:
        digest = hash(value)
        if digest not in entry.hashes:
            if len(entry.hashes) >= cap:
                entry.hashes = None  # capped: stop counting, keep the cap as the figure
                entry.capped_at = cap
            else:
                entry.hashes.add(digest)
                if len(entry.examples) < examples:
                    entry.examples.append(
                        value if len(value) <= EXAMPLE_LENGTH else value[: EXAMPLE_LENGTH - 1] + "…"
                    )


def _rows(stats: dict[Path, _PathStats], scanned: int, reader: Any, prefixes: Prefixes) -> list[PathRow]:
    direct = {path: reader.reads(path) for path in stats} if reader is not None else {}
    read_paths = {path for path, read in direct.items() if read}
    rows = []
    for path, entry in stats.items():
        if reader is None:
            read: bool | None = None
        else:
            read = direct[path] or (
                not is_attribute(path)
                and any(len(p) > len(path) and p[: len(path)] == path for p in read_paths)
            )
        capped = entry.hashes is None
        rows.append(
            PathRow(
                path=prefixes.text(path),
                kind="attribute" if is_attribute(path) else "element",
                records=entry.records,
                share=entry.records / scanned if scanned else 0.0,
                occurrences=entry.occurrences,
                distinct=None
                if not entry.has_values
                else (entry.capped_at if capped else len(entry.hashes or ())),
                distinct_capped=capped,
                examples=tuple(entry.examples),
                read=read,
            )
        )
    rows.sort(key=lambda row: (row.read is True, -row.records, row.path))
    return rows
