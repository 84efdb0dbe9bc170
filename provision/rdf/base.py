"""The RDF store contract: what the ``rdf`` step writes and what ``/sparql`` reads, whatever the engine.

Two backends implement it: the embedded pyoxigraph store (:mod:`provision.rdf.embedded`) and any
SPARQL 1.1 Update + Graph Store Protocol server (:mod:`provision.rdf.gsp`, Fuseki in CI). Both

* hold **one named graph per datasource** (``<{base}graph/{datasource}>``) with the triples of its
  current transformed version, and keep an :class:`RdfState` per datasource *in the store*, so a
  wiped store forgets what it held;
* write through an :class:`RdfLoader`: in place (each record's triples replaced, deleted records'
  triples removed, through the :class:`provision.rdf.ledger.Ledger` that remembers which record
  asserted which triple — a triple two records assert stays until both are gone), or as a rebuild
  whose graph replaces the live one atomically at :meth:`RdfLoader.commit`, so a query never sees a
  half-loaded source;
* answer SPARQL 1.1 queries with the standard result formats, under a time and a size limit.

What this module must not do: import pyoxigraph or an HTTP client.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Protocol, runtime_checkable

from mdstore.errors import ProvisionError

#: the graph holding every datasource's state (one JSON literal each); never part of a query's dataset
STATE_GRAPH = "urn:contentcloud:rdf:state"
STATE_PREDICATE = "urn:contentcloud:rdf:stateJson"
#: record errors kept in a state (the count is kept whole)
MAX_KEPT_ERRORS = 1000


class RdfStoreError(ProvisionError):
    """The triple store refused or failed an operation."""


class QueryError(RdfStoreError):
    """A query the endpoint does not answer; ``status`` is the HTTP status the SPARQL protocol uses."""

    status = 500


class QuerySyntaxError(QueryError):
    """The query (or an update) is not SPARQL 1.1: the client's fault, HTTP 400."""

    status = 400


class QueryTimeout(QueryError):
    """The query ran longer than the endpoint allows: HTTP 503, as Fuseki answers (try a narrower query)."""

    status = 503


class ResultTooLarge(QueryError):
    """The serialized result exceeds the endpoint's size limit: HTTP 500 with the limit named."""

    status = 500


class StoreBusy(RdfStoreError):
    """Another loader holds the store (the embedded store has one writer at a time)."""


@dataclass(frozen=True)
class RdfState:
    """What the store holds of one datasource, written with the data at each commit.

    ``version`` is the MDStore version loaded completely; ``records`` how many records contributed
    triples; ``errors`` maps record ids whose body did not parse to the reason (capped at
    :data:`MAX_KEPT_ERRORS`); ``loading`` names the run of an in-place load that has not committed:
    a state still saying so means that load was interrupted, and the next one rebuilds.
    """

    datasource: str
    graph: str
    version: str
    unit: str
    mode: str
    version_committed_at: str | None = None
    records: int = 0
    triples: int = 0
    updated_at: str = ""
    run_id: str | None = None
    loading: str | None = None
    errors: Mapping[str, str] = field(default_factory=dict)
    errors_total: int = 0

    def to_json(self) -> str:
        data = asdict(self)
        data["errors"] = dict(self.errors)
        return json.dumps(data, sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> RdfState:
        data = json.loads(text)
        known = set(cls.__dataclass_fields__)
        data = {k: v for k, v in data.items() if k in known}
        data["errors"] = dict(data.get("errors") or {})
        return cls(**data)


#: one record's canonical N-Triples lines (no trailing newline, no blank nodes), sorted and unique
Lines = Sequence[bytes]


@runtime_checkable
class RdfLoader(Protocol):
    """One load of one datasource. Not thread-safe; one loader per store at a time (embedded) or per
    datasource (server)."""

    datasource: str
    graph: str
    rebuild: bool

    def put(self, records: Mapping[str, Lines]) -> None:
        """Replace the triples of these records (record id → its lines)."""

    def delete(self, record_ids: Sequence[str]) -> None:
        """Remove the triples of these records (unknown ids are fine)."""

    def commit(self, state: RdfState) -> None:
        """Make the load visible (a rebuild: switch the graph in atomically) with ``state``."""

    def close(self) -> None:
        """End an in-place load that succeeded without storing a state: its changes are written but
        become visible only when a later loader commits (the parts of a split load close; its
        finish commits). A rebuild refuses."""

    def abort(self) -> None:
        """Give up: a rebuild's graph is dropped and the live one untouched; an in-place load keeps
        what it wrote and leaves a state that makes the next load a rebuild."""


@dataclass(frozen=True)
class QueryAnswer:
    """A serialized SPARQL result."""

    content_type: str
    body: bytes


@runtime_checkable
class RdfBackend(Protocol):
    """One triple store holding the graphs of every datasource."""

    name: str
    #: where entity IRIs live (``{base}graph/{ds}`` names a datasource's graph)
    base: str

    def graph_iri(self, datasource: str) -> str: ...

    def states(self) -> dict[str, RdfState]: ...

    def state(self, datasource: str) -> RdfState | None: ...

    def open_loader(self, datasource: str, *, rebuild: bool = False, run_id: str = "") -> RdfLoader: ...

    def record_lines(self, datasource: str) -> Iterator[tuple[str, list[bytes]]]:
        """``(record id, lines)`` of what the ledger says each record asserted, ordered by id."""

    def records_about(self, iri: str, limit: int = 20) -> list[tuple[str, str]]:
        """``(datasource, record id)`` of the records whose triples have ``iri`` as a subject."""

    def ledger_count(self, datasource: str) -> int:
        """How many records the ledger holds for the datasource's live graph."""

    def graph_lines(self, datasource: str) -> Iterator[bytes]:
        """Every triple of the datasource's live graph, as N-Triples lines (any order)."""

    def query(
        self, query: str, *, result_format: str, timeout: float | None = None, max_bytes: int | None = None
    ) -> QueryAnswer:
        """Run a SPARQL query over the live datasource graphs (their union is the default graph);
        ``result_format`` is a media type from :mod:`provision.rdf.formats`."""

    def close(self) -> None: ...
