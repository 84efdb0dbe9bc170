"""The index backend contract: what the feeder writes and what a portal reads, whatever the engine.

Two backends implement it: Solr (``provision.index.solr``, standalone cores or SolrCloud
collections) and the embedded SQLite FTS5 index (``provision.index.sqlite``). Both

* answer Solr's ``/select`` API (the subset portals use) in Solr's JSON shape;
* keep one :class:`IndexState` per datasource *inside the index it describes*, so a rebuild that
  swaps the data swaps the state with it, and a wiped index forgets its state;
* write through an :class:`IndexWriter`: either in place, or (``rebuild=True``) into a fresh
  core/collection/generation that replaces the live one atomically at :meth:`IndexWriter.commit`,
  so readers never see an empty or half-built index.

What this module must not do: import an engine's client library.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

from mdstore.errors import IndexBackendError

#: a Solr request's parameters: pairs, because keys repeat (``fq``, ``facet.field``)
Params = Sequence[tuple[str, str]]
Document = dict[str, Any]


class BadRequest(IndexBackendError):
    """A request the index refuses, as Solr answers HTTP 400: syntax, unknown field, bad parameter."""

    status = 400


class IndexNotFound(IndexBackendError):
    """The named index (core, collection, alias or embedded index) does not exist."""

    status = 404


def as_params(params: Params | Mapping[str, Any]) -> list[tuple[str, str]]:
    """Normalise ``{"fq": ["a", "b"], "rows": 5}`` or pairs into a list of string pairs."""
    if isinstance(params, Mapping):
        pairs: list[tuple[str, str]] = []
        for key, value in params.items():
            values = value if isinstance(value, list | tuple) else [value]
            pairs.extend((key, _param_text(v)) for v in values)
        return pairs
    return [(k, _param_text(v)) for k, v in params]


def _param_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class Rejected:
    """A document the index refused (Solr's 400 for that one document), with the index's reason."""

    id: str
    message: str


@dataclass(frozen=True)
class IndexState:
    """What the index holds of one datasource; written by the feeder after each complete feed.

    ``version`` is the MDStore version last indexed completely; ``live_versions`` the versions whose
    documents may remain (a sweep deletes the datasource's others); ``errors`` maps record ids the
    index does not hold because of a record error to that error (capped at :data:`MAX_KEPT_ERRORS`).
    """

    datasource: str
    version: str
    unit: str
    mode: str
    live_versions: tuple[str, ...] = ()
    version_committed_at: str | None = None
    count: int = 0
    profile_digest: str = ""
    updated_at: str = ""
    run_id: str | None = None
    errors: Mapping[str, str] = field(default_factory=dict)
    errors_total: int = 0

    def to_json(self) -> str:
        data = asdict(self)
        data["live_versions"] = list(self.live_versions)
        data["errors"] = dict(self.errors)
        return json.dumps(data, sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> IndexState:
        data = json.loads(text)
        known = set(cls.__dataclass_fields__)
        data = {k: v for k, v in data.items() if k in known}
        data["live_versions"] = tuple(data.get("live_versions") or ())
        data["errors"] = dict(data.get("errors") or {})
        return cls(**data)


#: record errors kept in an index state (the count is kept whole)
MAX_KEPT_ERRORS = 1000


@runtime_checkable
class IndexWriter(Protocol):
    """One feed of one datasource into an index. Not thread-safe: one writer per datasource.

    Documents become visible when the backend decides (``commitWithin``) and at :meth:`commit` at
    the latest; a rebuild writer's documents become visible all at once, at :meth:`commit`.

    A writer may also offer ``preparer``, a module-level function ``docs -> batch`` (it is pickled
    by name), and ``add_prepared(batch)``, which does what ``add(docs)`` does: the feed then runs the
    preparer in its builder processes, beside the writer, and hands over batches instead of
    documents (the embedded index analyses documents there; see :func:`preparer_of`).
    """

    datasource: str
    rebuild: bool

    def add(self, docs: Sequence[Document]) -> None:
        """Add or replace documents (by ``id``); may send them in the background."""

    def delete(self, ids: Sequence[str]) -> None:
        """Delete documents by id (missing ids are fine)."""

    def flush(self) -> list[Rejected]:
        """Wait until everything added so far is written; return the documents refused since the last call."""

    def sweep(self, keep_versions: Sequence[str]) -> int:
        """Delete the datasource's documents whose ``mdstore_version`` is not in ``keep_versions``.

        Returns how many were deleted.
        """

    def commit(self, state: IndexState) -> None:
        """Make everything visible (a rebuild: switch the live index to the new one atomically) and
        store ``state`` with the data."""

    def abort(self) -> None:
        """Give up: a rebuild's new index is dropped, the live one untouched; an in-place writer stops
        (what it already wrote stays; the old state stays, so the next feed redoes it)."""

    def close(self) -> None:
        """End an in-place feed that succeeded, without storing a state: everything added so far is
        written and visible, the stored state stays as it was. The parts of a split feed close; its
        finish commits the state. Call :meth:`flush` first to collect the refused documents. A
        rebuild writer refuses (its index switches in at :meth:`commit`, by one writer)."""


def preparer_of(writer: IndexWriter) -> Callable[[Sequence[Document]], Any] | None:
    """The writer's ``preparer`` when it also takes its batches (``add_prepared``), else None."""
    preparer = getattr(writer, "preparer", None)
    return preparer if preparer is not None and hasattr(writer, "add_prepared") else None


@runtime_checkable
class IndexBackend(Protocol):
    """One logical index (a Solr core/collection/alias, or an embedded index)."""

    name: str

    def select(self, params: Params | Mapping[str, Any]) -> dict[str, Any]:
        """Answer a Solr ``/select`` request with Solr's JSON response (raises :class:`BadRequest`)."""

    def count(self, datasource: str | None = None) -> int:
        """Documents a portal sees (all, or one datasource's)."""

    def ids(self, datasource: str) -> Iterator[tuple[str, str | None]]:
        """``(id, mdstore_version)`` of the datasource's documents, ordered by id."""

    def states(self) -> dict[str, IndexState]:
        """The state of every datasource the index holds."""

    def state(self, datasource: str) -> IndexState | None: ...

    def open_writer(self, datasource: str, *, rebuild: bool = False) -> IndexWriter:
        """Start a feed; ``rebuild=True`` builds a fresh index holding every other datasource's
        documents as they are plus what this feed adds, and switches to it at commit."""

    def close(self) -> None: ...


def batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
