"""Regression diff: a draft chain over a native version, compared with the transformed version, as graphs.

Two outputs are compared as RDF graphs, not as text: both are parsed with pyoxigraph (any
serialization) and turned into sets of N-Triples statements. Graphs without blank nodes compare
directly. Blank nodes, and IRIs that only carry a generated UUID (``urn:uuid:…``, ``uuid:…``: the
X3ML ``UUID`` generator in random or test mode), have no identity across runs, so such a graph is
canonicalised first (pyoxigraph's RDF canonicalisation, blank-node labels derived from the graph's
shape) and generated UUID IRIs count as blank nodes; isomorphic graphs then give identical sets.
When two graphs with blank nodes differ, the changed region's labels can differ too, so a changed
blank-node triple may show as one removed and one added. Graphs with more than
:data:`MAX_CANONICAL_BLANKS` blank nodes are compared with every blank-node label erased (the
canonicalisation is exponential in the worst case).

:func:`diff_version` streams both versions in id order (keyset pages, read leases) and never opens
a write transaction: drafts never change committed versions.
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mdstore.errors import RecordError, VersionNotFound

if TYPE_CHECKING:
    from mdstore import MDStore, UnitKey

logger = logging.getLogger(__name__)

GENERATED_IRI = re.compile(r"^(?:urn:uuid:|uuid:)", re.IGNORECASE)
MAX_CANONICAL_BLANKS = 256
PROGRESS_EVERY = 1000
STATUSES = ("changed", "unchanged", "newly_failing", "newly_passing", "still_failing", "not_transformed")


def graph_statements(data: bytes, fmt: str, *, record_id: str | None = None) -> set[str]:
    """The N-Triples statements of a graph, blank nodes and generated UUID IRIs canonicalised."""
    import pyoxigraph as ox

    from transforms.rdf import parse_rdf

    quads = parse_rdf(data, fmt, record_id=record_id, step="diff")
    if not any(_needs_canonical(q) for q in quads):
        return {_statement(q) for q in quads}
    renamed: dict[str, Any] = {}

    def blank(term: Any) -> Any:
        if isinstance(term, ox.NamedNode) and GENERATED_IRI.match(term.value):
            found = renamed.get(term.value)
            if found is None:
                found = renamed[term.value] = ox.BlankNode()
            return found
        return term

    triples = [ox.Quad(blank(q.subject), q.predicate, blank(q.object)) for q in quads]
    blanks = {t for q in triples for t in (q.subject, q.object) if isinstance(t, ox.BlankNode)}
    if len(blanks) > MAX_CANONICAL_BLANKS:
        return {_erase_blanks(q) for q in triples}
    dataset = ox.Dataset(triples)
    dataset.canonicalize(ox.CanonicalizationAlgorithm.UNSTABLE)
    return {str(q) for q in dataset}


def _needs_canonical(quad: Any) -> bool:
    import pyoxigraph as ox

    for term in (quad.subject, quad.object):
        if isinstance(term, ox.BlankNode):
            return True
        if isinstance(term, ox.NamedNode) and GENERATED_IRI.match(term.value):
            return True
    return False


def _statement(quad: Any) -> str:
    return f"{quad.subject} {quad.predicate} {quad.object}"


def _erase_blanks(quad: Any) -> str:
    import pyoxigraph as ox

    def show(term: Any) -> str:
        return "_:b" if isinstance(term, ox.BlankNode) else str(term)

    return f"{show(quad.subject)} {quad.predicate} {show(quad.object)}"


def predicate_of(statement: str) -> str:
    """The predicate IRI of an N-Triples statement (subjects and predicates hold no spaces)."""
    return statement.split(" ", 2)[1].strip("<>")


@dataclass(frozen=True)
class GraphDiff:
    added: tuple[str, ...]
    removed: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed)


def compare(old: set[str], new: set[str]) -> GraphDiff:
    return GraphDiff(tuple(sorted(new - old)), tuple(sorted(old - new)))


@dataclass
class RecordDiff:
    """One record of a diff: its status and the statements added and removed."""

    record_id: str
    original_id: str
    status: str
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    error: str | None = None  # the draft's error (newly/still failing)
    old_error: str | None = None  # the stored error of the current version

    def as_dict(self) -> dict[str, Any]:
        return {
            "record_id": self.record_id,
            "original_id": self.original_id,
            "status": self.status,
            "added": list(self.added),
            "removed": list(self.removed),
            "error": self.error,
            "old_error": self.old_error,
        }


@dataclass
class DiffReport:
    native_unit: str
    native_version: str
    transformed_unit: str
    transformed_version: str
    counts: Counter[str] = field(default_factory=Counter)
    added: int = 0
    removed: int = 0
    by_predicate: dict[str, dict[str, int]] = field(default_factory=dict)
    records: list[RecordDiff] = field(default_factory=list)
    details_dropped: int = 0
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "native_unit": self.native_unit,
            "native_version": self.native_version,
            "transformed_unit": self.transformed_unit,
            "transformed_version": self.transformed_version,
            "records": self.total,
            "counts": {status: self.counts.get(status, 0) for status in STATUSES},
            "triples_added": self.added,
            "triples_removed": self.removed,
            "by_predicate": self.by_predicate,
            "details": [r.as_dict() for r in self.records],
            "details_dropped": self.details_dropped,
            "seconds": round(self.seconds, 3),
        }


class _Run:
    def __init__(self, chain: Any, current_format: str, max_details: int) -> None:
        self.chain = chain
        self.current_format = current_format
        self.max_details = max_details

    def new_graph(self, record: Any) -> tuple[set[str] | None, str | None]:
        """The draft's statements for a native record, or its error."""
        from transforms.payload import Payload, RecordContext
        from transforms.rdf import payload_rdf_format

        context = RecordContext(record.id, record.original_id)
        try:
            payload = self.chain.apply_payload(Payload.from_body(record.body or b""), context)
            return graph_statements(
                payload.xml_bytes(), payload_rdf_format(payload), record_id=record.id
            ), None
        except RecordError as exc:
            if exc.record_id is None:
                exc.record_id = record.id
            return None, str(exc)

    def old_graph(self, record: Any) -> set[str] | None:
        try:
            return graph_statements(record.body_bytes(), self.current_format, record_id=record.id)
        except RecordError as exc:
            logger.warning("diff: the stored output of %s does not parse: %s", record.id, exc)
            return None


def diff_version(
    store: MDStore,
    native: UnitKey,
    transformed: UnitKey,
    chain: Any,
    *,
    current_format: str = "ntriples",
    native_version: str | None = None,
    transformed_version: str | None = None,
    max_details: int = 50,
    limit: int | None = None,
    on_progress: Callable[[int, int, str], None] | None = None,
    ids: Sequence[str] | None = None,
) -> DiffReport:
    """Run ``chain`` over the native version and compare each record with the transformed version
    (or only the records ``ids``, as the editor's live preview does for its sample).

    Statuses: ``changed``/``unchanged`` (both pass), ``newly_failing`` (the current version has an
    output and no stored error, the draft fails), ``newly_passing`` (the current version stored an
    error for the record, the draft passes), ``still_failing``, ``not_transformed`` (no output and
    no error: collected after the last transform). Deleted records are left out.
    """
    started = time.perf_counter()
    transformed_version = transformed_version or store.current_version(transformed)
    if transformed_version is None:
        raise VersionNotFound(
            "no transformed version to compare with; run the transform first", unit=transformed.name
        )
    run = _Run(chain, current_format, max_details)
    added_by: Counter[str] = Counter()
    removed_by: Counter[str] = Counter()
    records_by: Counter[str] = Counter()
    with (
        store.reader(native, native_version) as source,
        store.reader(transformed, transformed_version) as target,
    ):
        report = DiffReport(native.name, source.version_id, transformed.name, target.version_id)
        old_errors = {e.record_id: e.message for e in target.errors() if e.record_id}
        total = source.count(deleted=False)
        if ids is not None:
            found, stored = source.get_many(list(ids)), target.get_many(list(ids))
            chosen = sorted(i for i in found if found[i].body is not None)
            present = {i: r for i, r in stored.items() if r.body is not None}
            pairs: Iterator[tuple[Any, Any]] = iter([(found[i], present.get(i)) for i in chosen])
            total = len(chosen)
        else:
            pairs = _join(source.records(deleted=False, limit=limit), target.records(deleted=False))
        for seen, (record, old) in enumerate(pairs, start=1):
            item = _diff_record(run, record, old, old_errors.get(record.id))
            report.counts[item.status] += 1
            report.added += len(item.added)
            report.removed += len(item.removed)
            for statement in item.added:
                added_by[predicate_of(statement)] += 1
            for statement in item.removed:
                removed_by[predicate_of(statement)] += 1
            for predicate in {predicate_of(s) for s in (*item.added, *item.removed)}:
                records_by[predicate] += 1
            if item.status not in ("unchanged",):
                if len(report.records) < max_details:
                    report.records.append(item)
                else:
                    report.details_dropped += 1
            if on_progress and seen % PROGRESS_EVERY == 0:
                on_progress(seen, total, "diff")
    report.by_predicate = {
        predicate: {
            "added": added_by[predicate],
            "removed": removed_by[predicate],
            "records": records_by[predicate],
        }
        for predicate in sorted(records_by, key=lambda p: (-records_by[p], p))
    }
    report.seconds = time.perf_counter() - started
    logger.info("diff %s: %s in %.1fs", native, dict(report.counts), report.seconds)
    return report


def _diff_record(run: _Run, record: Any, old: Any, old_error: str | None) -> RecordDiff:
    new_graph, error = run.new_graph(record)
    old_graph = run.old_graph(old) if old is not None else None
    old_failed = old_error is not None or (old is not None and old_graph is None)
    base = {"record_id": record.id, "original_id": record.original_id, "old_error": old_error}
    if new_graph is None:
        if old_failed:
            return RecordDiff(status="still_failing", error=error, **base)
        if old is None:
            return RecordDiff(status="not_transformed", error=error, **base)
        return RecordDiff(status="newly_failing", error=error, removed=tuple(sorted(old_graph or ())), **base)
    if old_failed:  # a carried-over body (the last run failed on the record) is compared as well
        diff = compare(old_graph or set(), new_graph)
        return RecordDiff(status="newly_passing", added=diff.added, removed=diff.removed, **base)
    if old is None:
        return RecordDiff(status="not_transformed", added=tuple(sorted(new_graph)), **base)
    diff = compare(old_graph or set(), new_graph)
    return RecordDiff(
        status="changed" if diff.changed else "unchanged", added=diff.added, removed=diff.removed, **base
    )


def _join(native: Iterator[Any], transformed: Iterator[Any]) -> Iterator[tuple[Any, Any]]:
    """Pairs (native record, transformed record or None), merged by id (both streams are id-ordered)."""
    other = next(transformed, None)
    for record in native:
        while other is not None and other.id < record.id:
            other = next(transformed, None)
        if other is not None and other.id == record.id:
            yield record, other
            other = next(transformed, None)
        else:
            yield record, None
