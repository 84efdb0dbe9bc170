"""The embedded index: SQLite FTS5 behind Solr's ``/select`` contract (the default on a fresh machine).

One SQLite file (``sqlite:///var/index.sqlite``) holds any number of named indexes. Each index is a
*generation* of tables (``g<token>_docs``, ``_terms``, ``_singles``, ``_ranges``, ``_fts``,
``_state``); ``cc_indexes`` points each name at its live generation. A full rebuild
writes a new generation beside the live one and flips the pointer in one transaction, then drops
the old tables: in WAL mode a reader runs each request inside one read transaction, so it sees the
old generation or the new one, never an empty or half-built index.

Storage per generation:

* ``docs``: one row per document (rid, id, datasource, mdstore version, stored fields as
  compressed JSON: :func:`pack`);
* ``terms``: (field, value, rid) for every exact-valued field (strings, numbers, dates as epoch ms,
  booleans), the source of filters and facet counts (a covering primary key: counting a facet is
  an index scan);
* ``singles``: (field, rid, value) of sort keys that are not terms (``title_sort``'s collation
  keys); an exact single-valued field sorts by its ``terms`` rows, already in value order
  (generations written before kept them here too: never read, gone at the next rebuild);
* ``ranges``: (field, lo, hi, rid) of DateRangeField values, in epoch ms;
* ``fts``: a contentless FTS5 table, one row per document (rowid = rid), one column per analysed
  field (:data:`TEXT_COLUMNS`) holding its analysed tokens joined by blanks
  (:mod:`provision.index.analysis` does Solr's analysis; FTS5 only splits on blanks); a field's
  values are separated by a token no query can contain, so a phrase never spans two values (Solr's
  positionIncrementGap). Dynamic text fields share two columns: ``dyn`` (plain tokens, searched by
  ``text``) and ``dynf`` (tokens marked with their field name, searched by ``period_txt:…``);

* ``state``: the feeder's :class:`~provision.index.base.IndexState` per datasource;
* ``leaders``: per term in at least :data:`LEADERS_MIN_MATCHES` documents, their number and its best
  :data:`LEADERS_DEPTH` documents by score with their scores (:func:`_write_leaders`), made at every
  commit and cleared by every write in place before it.

Matching sets are computed per leaf query in SQL and combined as Python sets (as rid → score
dictionaries when the query is ranked); facet counts and sorts read per-generation columns kept in
memory (:class:`_Columns`). Like Solr's filterCache and queryResultCache, the matching sets, scores
and sorted tops of queries already answered are kept with those columns (bounded; dropped with them
at the next write), and a facet field with few values counts a large hit set by bitmaps.

Documents are checked like Solr checks them (unknown field, missing id or datasource, several values
in a single-valued field, a bad number or date) and refused with Solr's message.

Relevance: a query with text clauses is ranked when asked: ``score asc|desc`` among the ``sort``
fields, or ``score`` in ``fl`` (then the order is by score). Unlike Solr, a text query without
``sort`` keeps index order: ranking every match the first time costs ~15 ms on a common term at
100,000 documents (later requests read the cache), so a portal asks for it (``sort=score desc``,
which Solr accepts too) where it wants it. Each text clause scores with FTS5's ``bm25()`` (negated:
FTS5 gives better matches more negative values; a one-term clause's bm25 is computed in Python
from the term's instances and per-row lengths read once per generation, bit for bit the value
``bm25()`` gives, at a third of its cost: :meth:`_Select._term_scores`; a ranked one-term query on
a frequent term whose page ends within its leaders list reads the list instead: :meth:`_Select._led`),
other clauses (exact values, ranges, prefixes, ``*:*``) a constant 1.0, and boolean queries add the
scores of their matching MUST and SHOULD clauses as Lucene's BooleanQuery does (MUST_NOT and ``fq``
never score); boosts (``^n`` on terms, phrases, groups) multiply. Equal scores keep index order, so
pages are stable. Scores are close to Solr's, not equal (FTS5's BM25 sees all the columns searched as one
document; Lucene's per-field norms are coarser), so the top hit of a clear-cut query is the same, a
full order may differ. Queries that do not ask for the score keep plain sets: ranking costs them
nothing.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import json
import logging
import math
import operator
import os
import re
import socket
import sqlite3
import struct
import threading
import time
import uuid
from array import array
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cache, lru_cache, partial
from itertools import accumulate, chain
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qs, unquote

from mdstore import compression
from mdstore.errors import ConfigError, IndexBackendError
from mdstore.sqlitedb import Generations, Sql, Tables, connect, marks, transaction
from mdstore.sqlitefile import check_sqlite_file
from provision.index import analysis
from provision.index.analysis import InvalidValue
from provision.index.base import (
    BadRequest,
    Document,
    IndexNotFound,
    IndexState,
    Params,
    Rejected,
    as_params,
    batched,
)
from provision.index.fields import NAMED, FieldDef, copy_targets, lookup
from provision.index.highlight import highlight
from provision.index.query import (
    DISMAX_UNSUPPORTED,
    NO_EFFECT_LOCAL_PARAMS,
    CAll,
    CBool,
    CDateRange,
    CExact,
    CExactPrefix,
    CExactRange,
    CExists,
    CNone,
    Compiled,
    CText,
    DismaxParams,
    LocalParams,
    compile_dismax,
    compile_query,
    split_local_params,
)
from provision.index.select import (
    SORT_FUNCTION,
    STATS_DEFAULT,
    FacetField,
    JsonFacet,
    PivotFacet,
    RangeFacet,
    SelectRequest,
    StatsField,
    docvalues_only,
    encode_cursor,
    parse_request,
    range_text,
    response,
)

logger = logging.getLogger(__name__)

DEFAULT_INDEX_NAME = "contentcloud"
#: the most time one /select may take unless the index is opened with another budget (``?timeAllowed=``
#: in its URI): past it the answer is partial and flagged, so no request can hold a reader for long
DEFAULT_TIME_ALLOWED_MS = 10_000
#: bump when analysis changes: tokens of a generation must be re-derivable to delete them
ANALYZER_VERSION = 3  # 3: title_sort keys ignore spaces and dashes, as the JDK collator
_NAME = re.compile(r"^[A-Za-z0-9_]{1,64}$")
_TOKENIZE = (
    "unicode61 remove_diacritics 0 categories 'L* N* Co M*' tokenchars '"
    + analysis.TOKEN_PUNCTUATION.replace("'", "''")
    + "'"
)
#: FTS5 columns: the named analysed fields, ``dyn`` (every dynamic text field's tokens, for ``text``
#: searches) and ``dynf`` (the same tokens prefixed with their field, for ``period_txt:x`` searches)
TEXT_COLUMNS = (
    "title",
    "label",
    "description",
    "subject",
    "keyword",
    "actor",
    "place",
    "entity_type_label",
    "text",
    "dyn",
    "dynf",
)
#: a token between two values of a field: a phrase never spans them (Solr's positionIncrementGap).
#: A private-use character: FTS5 keeps it as a token, the analyser never produces it.
VALUE_GAP = "\ue000"
#: joins a dynamic field's name to each of its tokens in ``dynf``
FIELD_MARK = "\ue001"
_COLUMN_LIST = Sql(", ".join(TEXT_COLUMNS))
_COLUMN_MARKS = Sql(", ".join("?" * len(TEXT_COLUMNS)))
#: the FTS5 table's columns and as many ``?``: the ``{columns}`` and ``{values}`` slots
_FTS_COLUMNS = {"columns": _COLUMN_LIST, "values": _COLUMN_MARKS}
_UNSTORED = "\x00unstored"  # stored-JSON key for non-stored fields sent directly (needed to delete them)
#: a rebuild whose builder went away this long ago is abandoned and may be replaced
STALE_BUILD_SECONDS = 6 * 3600
#: documents a rebuild writer inserts per transaction. Its generation is invisible until the switch,
#: so a transaction per page only wrote the same B-tree pages to the WAL again at every commit
#: (~22 us of ~80 us per document); ten pages take ~25 MB of page cache at most
REBUILD_TRANSACTION_DOCS = 10_000


class InvalidDocument(ValueError):
    """A document the index refuses; the message is Solr's for the same document."""


# ----------------------------------------------------------------------------------- documents


@dataclass(slots=True)
class Prepared:
    """A document turned into the rows that index it."""

    id: str
    datasource: str
    version: str | None
    stored: dict[str, Any]
    terms: list[tuple[str, Any]] = field(default_factory=list)
    singles: list[tuple[str, Any]] = field(default_factory=list)
    ranges: list[tuple[str, int, int]] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)  # FTS column → analysed tokens


def _normalize(definition: FieldDef, name: str, value: Any, doc_id: str) -> Any:
    kind = definition.kind
    if kind in ("string", "text", "stored_only", "sort_text"):
        if isinstance(value, bool):
            return "true" if value else "false"
        return value if isinstance(value, str) else str(value)
    if kind in ("int", "long"):
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        else:
            try:
                number = int(str(value).strip())
            except ValueError:
                raise InvalidDocument(
                    f"ERROR: [doc={doc_id}] Error adding field '{name}'='{value}' "
                    f'msg=For input string: "{value}"'
                ) from None
        limit = 2**31 if kind == "int" else 2**63
        if not -limit <= number < limit:
            raise InvalidDocument(
                f"ERROR: [doc={doc_id}] Error adding field '{name}'='{value}' "
                f'msg=For input string: "{value}"'
            )
        return number
    if kind == "date":
        try:
            return analysis.normalize_instant(value)
        except InvalidValue:
            raise InvalidDocument(
                f"ERROR: [doc={doc_id}] Error adding field '{name}'='{value}' "
                f"msg=Invalid Date String:'{value}'"
            ) from None
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        return str(value)[:1] in ("t", "T", "1")
    if kind == "date_range":
        text = str(value)
        try:
            analysis.date_range_bounds(text)
        except InvalidValue as exc:
            raise InvalidDocument(
                f"ERROR: [doc={doc_id}] Error adding field '{name}'='{text}' msg={exc}"
            ) from None
        return text
    raise AssertionError(kind)


def _term_value(definition: FieldDef, value: Any) -> Any:
    kind = definition.kind
    if kind == "date":
        return analysis.parse_instant(value)
    if kind == "boolean":
        return "true" if value else "false"
    return value


def _display_value(definition: FieldDef, value: Any) -> str:
    if definition.kind == "date":
        return analysis.format_instant(value)
    return str(value)


def _facet_term(definition: FieldDef, value: Any) -> str:
    """A facet value as Solr's index holds it, which facet.prefix/contains/matches/excludeTerms
    look at: booleans are ``T``/``F`` there (``facet.contains=t`` matches nothing in Solr 9)."""
    if definition.kind == "boolean":
        return "T" if str(value) == "true" else "F"
    return _display_value(definition, value)


#: a stored string at least this long is kept after the JSON rather than in it (:func:`pack`)
OUTSIDE_JSON_CHARS = 1024


def pack(stored: Mapping[str, Any]) -> bytes:
    """The stored fields as the ``docs`` table keeps them: compact JSON, compressed
    (:mod:`mdstore.compression`, as the publisher's blobs). A PE document's stored fields are ~4-8 KB
    of JSON, three quarters of it its N-Triples; compressed they take ~1 KB, which is most of what
    keeps the index under 4 KB per document.

    The longest top-level string (when it has :data:`OUTSIDE_JSON_CHARS`) goes after the JSON, as its
    UTF-8 bytes, with an empty string in its place: ``JSON NUL "name" NUL value``. Escaping the
    quotes and line ends of N-Triples as JSON was a fifth of a document's analysis, and a reader that
    does not want the value does not decode it. JSON text never holds a raw NUL (it escapes every
    control character), so the first NUL ends it; blobs without one are whole JSON, as older
    generations wrote them (and zlib or plain text before that)."""
    longest, size = None, OUTSIDE_JSON_CHARS - 1
    for name, value in stored.items():
        if type(value) is str and len(value) > size:
            longest, size = name, len(value)
    if longest is None:
        return compression.compress(_json_bytes(stored))
    outside = stored[longest]
    head = _json_bytes({**stored, longest: ""})
    return compression.compress(b"".join((head, b"\0", _json_bytes(longest), b"\0", outside.encode())))


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def unpack(stored: bytes | str) -> dict[str, Any]:
    """Stored fields from the ``docs`` table (see :func:`pack`; plain JSON text in generations
    written before compression)."""
    if not isinstance(stored, bytes):
        return json.loads(stored)
    head, nul, rest = compression.decompress(stored).partition(b"\0")
    data = json.loads(head)
    if nul:
        name, _, outside = rest.partition(b"\0")
        data[json.loads(name)] = outside.decode()
    return data


def _stored_json(stored: bytes | str | None) -> str | None:
    """SQL function ``cc_stored(stored)``: the stored JSON as text, for ``json_type`` (``field:*``).
    A value kept after the JSON (:func:`pack`) is the empty string in it: of the same JSON type, so
    ``json_type`` answers as for the value itself."""
    if stored is None:
        return None
    if not isinstance(stored, bytes):
        return stored
    return compression.decompress(stored).partition(b"\0")[0].decode()


def restore(stored: bytes | str) -> dict[str, Any]:
    """A document as it was sent, from its stored JSON (non-stored fields sent directly included)."""
    data = unpack(stored)
    data.update(data.pop(_UNSTORED, {}))
    return data


#: kinds whose values are kept as text: a ``str`` value is its own normal form
_TEXT_KINDS = frozenset({"string", "text", "stored_only", "sort_text"})


@dataclass(frozen=True, slots=True)
class _FieldPlan:
    """What :func:`prepare` does with a value of one field name, worked out once per name."""

    definition: FieldDef
    kind: str
    #: values are text (``str`` values need no normalising), and their terms are the values
    text_kind: bool
    #: (target, its kind, whether it takes terms) of each copyField rule from this field
    targets: tuple[tuple[str, str, bool], ...]


@cache
def _field_plan(name: str) -> _FieldPlan | None:
    definition = lookup(name)
    if definition is None:
        return None
    targets = []
    for target in copy_targets(name):
        target_def = lookup(target)
        assert target_def is not None
        targets.append((target, target_def.kind, target_def.exact))
    kind = definition.kind
    return _FieldPlan(definition, kind, kind in _TEXT_KINDS, tuple(targets))


#: values longer than this are analysed without the caches: they seldom repeat, and 65,536 cached
#: descriptions of 50 KB would hold gigabytes in the writer and in every builder process
CACHED_VALUE_CHARS = 256
#: entries of each analysis cache: the values that repeat (subjects, actors, places, type labels)
#: stay in it, the unique ones (titles) pass through; 16,384 values of up to 256 characters, with
#: their analysed forms, hold up to ~20 MB per cache in each feed process (65,536 held ~80 MB)
ANALYSIS_CACHE_ENTRIES = 16384


def _analysed(text: str) -> str:
    """The analysed tokens of ``text`` joined by blanks ("" when it has none). Short values are
    cached: most values of a feed's facet-like text fields (subjects, actors, places, type labels)
    repeat, and a title is analysed twice (``title`` and ``label``)."""
    if len(text) <= CACHED_VALUE_CHARS:
        return _analysed_short(text)
    return " ".join(analysis.tokens(text))


@lru_cache(maxsize=ANALYSIS_CACHE_ENTRIES)
def _analysed_short(text: str) -> str:
    return " ".join(analysis.tokens(text))


def _cached_sort_key(text: str) -> str:
    """:func:`analysis.sort_key`, cached for short values as :func:`_analysed`."""
    return _sort_key_short(text) if len(text) <= CACHED_VALUE_CHARS else analysis.sort_key(text)


@lru_cache(maxsize=ANALYSIS_CACHE_ENTRIES)
def _sort_key_short(text: str) -> str:
    return analysis.sort_key(text)


def prepare(doc: Mapping[str, Any]) -> Prepared:
    """Check ``doc`` as Solr would and derive its index rows; raises :class:`InvalidDocument`."""
    raw_id = doc.get("id")
    if isinstance(raw_id, list):
        if len(raw_id) > 1:
            raise InvalidDocument(
                f"ERROR: [doc={raw_id[0]}] multiple values encountered for non multiValued "
                f"field id: [{', '.join(map(str, raw_id))}]"
            )
        raw_id = raw_id[0] if raw_id else None
    if raw_id is None or raw_id == "":
        raise InvalidDocument("Document is missing mandatory uniqueKey field: id")
    doc_id = str(raw_id)
    prepared = Prepared(doc_id, "", None, {})
    stored = prepared.stored
    text_fields: set[str] = set()
    for name, raw in doc.items():
        if raw is None:
            continue
        plan = _field_plan(name)
        if plan is None:
            raise InvalidDocument(f"ERROR: [doc={doc_id}] unknown field '{name}'")
        definition = plan.definition
        if isinstance(raw, dict):
            operation = next(iter(raw), "")
            raise InvalidDocument(
                f"Error:[doc={doc_id}]  Unknown operation for the an atomic update: {operation}"
            )
        if isinstance(raw, list | tuple):
            values = [v for v in raw if v is not None]
            if not values:
                continue
            if not definition.multi and len(values) > 1:
                shown = ", ".join("true" if v is True else "false" if v is False else str(v) for v in values)
                raise InvalidDocument(
                    f"ERROR: [doc={doc_id}] multiple values encountered for non multiValued "
                    f"field {name}: [{shown}]"
                )
        else:
            values = [raw]
        if plan.text_kind:
            normalized = [v if type(v) is str else _normalize(definition, name, v, doc_id) for v in values]
        else:
            normalized = [_normalize(definition, name, v, doc_id) for v in values]
        if definition.stored:
            stored[name] = normalized if definition.multi else normalized[0]
        else:
            stored.setdefault(_UNSTORED, {})[name] = normalized
        _index_values(prepared, plan, name, normalized, text_fields)
    if not prepared.datasource:
        raise InvalidDocument(f"[doc={doc_id}] missing required field: datasource")
    stored.setdefault("id", doc_id)
    return prepared


class PreparedBatch(NamedTuple):
    """Documents turned into the rows that index them, ready for :meth:`SqliteWriter.add_prepared`.

    The analysis (:func:`prepare`) and the compression of the stored fields are most of a feed's
    cost in the writer; a batch is what a builder process hands over instead of the documents, so
    that work runs beside the one writer (on another core) and the writer only inserts. It is plain
    tuples of strings, numbers and bytes: cheap to pickle. ``pos`` in the row tuples is a document's
    position in ``docs``; the writer turns it into the rid it assigns.
    """

    #: (id, datasource, version, packed stored fields), one per accepted document, in order
    docs: list[tuple[str, str, str | None, bytes]]
    #: (field, value, pos)
    terms: list[tuple[str, Any, int]]
    #: (field, pos, sort key)
    singles: list[tuple[str, int, Any]]
    #: (field, lo, hi, pos)
    ranges: list[tuple[str, int, int, int]]
    #: (pos, tokens of each of :data:`TEXT_COLUMNS`)
    texts: list[tuple[Any, ...]]
    #: (id, Solr's message) of the documents refused
    rejected: list[tuple[str, str]]


def prepare_batch(docs: Sequence[Document]) -> PreparedBatch:
    """Check and analyse ``docs`` (:func:`prepare`) into one :class:`PreparedBatch`: a refused document
    is listed with its message, and of several documents with one id the last wins, in its position
    (as Solr's update does). A pure function of the documents, so it runs in any process."""
    prepared: dict[str, Prepared] = {}
    rejected: list[tuple[str, str]] = []
    for doc in docs:
        try:
            item = prepare(doc)
        except InvalidDocument as exc:
            rejected.append((str(doc.get("id", "")), str(exc)))
            continue
        prepared.pop(item.id, None)
        prepared[item.id] = item
    batch = PreparedBatch([], [], [], [], [], rejected)
    for pos, item in enumerate(prepared.values()):
        batch.docs.append((item.id, item.datasource, item.version, pack(item.stored)))
        batch.terms.extend([(f, v, pos) for f, v in item.terms])
        batch.singles.extend([(f, pos, v) for f, v in item.singles])
        batch.ranges.extend([(f, lo, hi, pos) for f, lo, hi in item.ranges])
        texts = item.texts
        if texts:
            batch.texts.append((pos, *[texts.get(column, "") for column in TEXT_COLUMNS]))
    return batch


def _index_values(
    prepared: Prepared, plan: _FieldPlan, name: str, values: list[Any], text_fields: set[str]
) -> None:
    kind = plan.kind
    if name == "datasource":
        prepared.datasource = values[0]
    elif name == "mdstore_version":
        prepared.version = values[0]
    if plan.definition.exact:  # sorted by its terms rows too: no singles row (see _Columns.ranks)
        if plan.text_kind:
            prepared.terms.extend([(name, v) for v in values])
        else:
            definition = plan.definition
            prepared.terms.extend([(name, _term_value(definition, v)) for v in values])
    elif kind == "text":
        _add_texts(prepared, name, values, text_fields)
    elif kind == "date_range":
        for value in values:
            lo, hi = analysis.date_range_bounds(value)
            prepared.ranges.append((name, lo, hi))
    elif kind == "sort_text":
        prepared.singles.append((name, _cached_sort_key(values[0])))
    for target, target_kind, target_exact in plan.targets:
        if target_kind == "text":
            _add_texts(prepared, name, values, text_fields)
        elif target_kind == "sort_text":
            prepared.singles.append((target, _cached_sort_key(str(values[0]))))
        elif target_exact:
            prepared.terms.extend([(target, str(v)) for v in values])


def _add_texts(prepared: Prepared, name: str, values: list[Any], text_fields: set[str]) -> None:
    """The analysed tokens of a field's values, in its FTS column (dynamic fields: ``dyn`` and ``dynf``)."""
    if name in text_fields:
        return
    text_fields.add(name)
    analysed = [joined for joined in [_analysed(v if type(v) is str else str(v)) for v in values] if joined]
    if not analysed:
        return
    joined = f" {VALUE_GAP} ".join(analysed)
    if name in TEXT_COLUMNS:
        prepared.texts[name] = joined
        return
    mark = f"{name}{FIELD_MARK}"
    fielded = f" {VALUE_GAP} ".join(" ".join(mark + token for token in value.split()) for value in analysed)
    for column, content in (("dyn", joined), ("dynf", fielded)):
        previous = prepared.texts.get(column)
        prepared.texts[column] = f"{previous} {VALUE_GAP} {content}" if previous else content


# ----------------------------------------------------------------------------------- schema


def _catalog_ddl() -> list[str]:
    return [
        "CREATE TABLE IF NOT EXISTS cc_meta(key TEXT PRIMARY KEY, value TEXT)",
        "CREATE TABLE IF NOT EXISTS cc_indexes(name TEXT PRIMARY KEY, generation TEXT NOT NULL, "
        "analyzer INTEGER NOT NULL, switched_at TEXT NOT NULL, changes INTEGER NOT NULL DEFAULT 0)",
        "CREATE TABLE IF NOT EXISTS cc_builds(generation TEXT PRIMARY KEY, name TEXT NOT NULL, "
        "datasource TEXT NOT NULL, started_at REAL NOT NULL, holder TEXT NOT NULL)",
    ]


#: per frequent term, its best documents by score (:func:`_write_leaders`); ``IF NOT EXISTS``: a
#: generation made before it gains it at its next commit
LEADERS_DDL = (
    "CREATE TABLE IF NOT EXISTS {leaders}(term TEXT PRIMARY KEY, matches INTEGER NOT NULL, "
    "top BLOB NOT NULL) WITHOUT ROWID"
)

#: the tables of generation ``<g>``: ``g<g>_docs``, ``g<g>_terms``… (see the module docstring)
GENERATIONS = Generations(
    "g{key}_{kind}",
    ("docs", "terms", "singles", "ranges", "fts", "state", "leaders"),
    key=r"[0-9a-f]+",
    error=IndexBackendError,
    field="target",
)
GENERATION_DDL = (
    "CREATE TABLE {docs}(rid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, datasource TEXT NOT NULL, "
    "version TEXT, stored TEXT NOT NULL)",
    "CREATE INDEX {docs_ds} ON {docs}(datasource, id, version)",
    "CREATE TABLE {terms}(field TEXT NOT NULL, value NOT NULL, rid INTEGER NOT NULL, "
    "PRIMARY KEY(field, value, rid)) WITHOUT ROWID",
    "CREATE TABLE {singles}(field TEXT NOT NULL, rid INTEGER NOT NULL, value, "
    "PRIMARY KEY(field, rid)) WITHOUT ROWID",
    "CREATE TABLE {ranges}(field TEXT NOT NULL, lo INTEGER NOT NULL, hi INTEGER NOT NULL, "
    "rid INTEGER NOT NULL, PRIMARY KEY(field, lo, hi, rid)) WITHOUT ROWID",
    "CREATE VIRTUAL TABLE {fts} USING fts5({columns}, content='', detail=full, tokenize=\"{tokenize}\")",
    "CREATE TABLE {state}(datasource TEXT PRIMARY KEY, state TEXT NOT NULL)",
    LEADERS_DDL,
)


def _create_generation(conn: sqlite3.Connection, generation: str) -> Tables:
    return GENERATIONS.create(
        conn,
        generation,
        GENERATION_DDL,
        docs_ds=f"g{generation}_docs_ds",
        columns=_COLUMN_LIST,
        tokenize=Sql(_TOKENIZE),
    )


def _tables(generation: str) -> Tables:
    """A generation's tables, as the ``{docs}``, ``{terms}``… slots of statements (checked names)."""
    return GENERATIONS.tables(generation)


#: the page cache (KiB) of a connection answering requests, and of a feed's writer: the writer
#: appends to the full-text index and the tables' B-trees near their ends, and measured the same
#: CPU with half the cache (bench/RESULTS.md, issue 18), while each of the feed's side-by-side
#: part processes holds its own
READER_CACHE_KIB = 65536
WRITER_CACHE_KIB = 32768


def _connect(path: Path, cache_kib: int = READER_CACHE_KIB) -> sqlite3.Connection:
    return connect(path, timeout=60, temp_store_memory=True, cache_kib=cache_kib)


def _now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


# ----------------------------------------------------------------------------------- the index


class SqliteIndex:
    """One named embedded index in one SQLite file (see the module docstring)."""

    def __init__(
        self,
        path: str | Path,
        name: str = DEFAULT_INDEX_NAME,
        *,
        create: bool = True,
        time_allowed_ms: int | None = DEFAULT_TIME_ALLOWED_MS,
    ) -> None:
        if not _NAME.match(name):
            raise ConfigError(
                f"index name {name!r} is not valid (letters, digits, '_'; at most 64)",
                field="index",
                rule="name",
            )
        self.path = Path(path)
        self.name = name
        #: the most time one /select may take, in ms (None: no limit); a request's timeAllowed
        #: can only shorten it
        self.time_allowed_ms = time_allowed_ms
        self.uri = f"sqlite:///{self.path}"
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        elif not self.path.exists():
            raise IndexNotFound(f"no embedded index {name!r} (file {self.path} does not exist)", target=name)
        check_sqlite_file(self.path, "index", error=IndexBackendError)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._columns: tuple[tuple[str, int], _Columns] | None = None
        try:
            conn = self._conn()
            with _write(conn):
                for ddl in _catalog_ddl():
                    conn.execute(ddl)
                conn.execute("INSERT OR IGNORE INTO cc_meta VALUES ('schema', '1')")
        except sqlite3.DatabaseError as exc:
            self.close()
            raise IndexBackendError(f"{self.path}: the index file is damaged ({exc})", target=name) from exc
        if self._generation(conn) is None:
            if not create:
                raise IndexNotFound(f"no embedded index {name!r} in {self.path}", target=name)
            self._create_empty()

    # --- connections ---------------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = _connect(self.path)
            conn.create_function("cc_stored", 1, _stored_json, deterministic=True)
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
            self._connections.clear()
        self._local = threading.local()

    def __enter__(self) -> SqliteIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _generation(self, conn: sqlite3.Connection) -> tuple[str, int] | None:
        row = conn.execute(
            "SELECT generation, analyzer FROM cc_indexes WHERE name = ?", (self.name,)
        ).fetchone()
        return (row[0], row[1]) if row else None

    def _live_tables(self, conn: sqlite3.Connection) -> Tables:
        generation = self._generation(conn)
        if generation is None:
            raise IndexNotFound(f"no embedded index {self.name!r} in {self.path}", target=self.name)
        return _tables(generation[0])

    def _create_empty(self) -> None:
        conn = self._conn()
        generation = uuid.uuid4().hex[:12]
        with _write(conn):
            if self._generation(conn) is not None:
                return
            _create_generation(conn, generation)
            conn.execute(
                "INSERT INTO cc_indexes VALUES (?, ?, ?, ?, 0)",
                (self.name, generation, ANALYZER_VERSION, _now_text()),
            )

    # --- reading -------------------------------------------------------------------------------
    def select(self, params: Params | Mapping[str, Any]) -> dict[str, Any]:
        """``/select``. Work is bounded by a time budget: the request's ``timeAllowed`` (ms), capped
        by the index's ``time_allowed_ms``; when it runs out the answer is partial and says so
        (``partialResults: true`` in the header), as Solr's."""
        started = time.perf_counter()
        request = parse_request(as_params(params))
        budgets = [b for b in (request.time_allowed_ms, self.time_allowed_ms) if b is not None]
        deadline = time.monotonic() + min(budgets) / 1000 if budgets else None
        conn = self._conn()
        conn.execute("BEGIN")
        try:
            p, columns = self._columns_for(conn)
            selection = _Select(conn, p, request, columns, deadline)
            answer = selection.run()
        finally:
            conn.set_progress_handler(None, 0)
            if conn.in_transaction:
                conn.execute("COMMIT")
        num_found, max_score, docs, facets, facet_queries, partial = answer
        return response(
            request,
            num_found=num_found,
            max_score=max_score,
            docs=docs,
            facet_fields=facets,
            facet_queries=facet_queries,
            qtime_ms=int((time.perf_counter() - started) * 1000),
            partial=partial,
            **selection.more,
        )

    def _columns_for(self, conn: sqlite3.Connection) -> tuple[Tables, _Columns]:
        """The live generation's tables and its in-memory columns (rebuilt when anything was written)."""
        row = conn.execute(
            "SELECT generation, changes FROM cc_indexes WHERE name = ?", (self.name,)
        ).fetchone()
        if row is None:
            raise IndexNotFound(f"no embedded index {self.name!r} in {self.path}", target=self.name)
        key = (row[0], row[1])
        with self._lock:
            cached = self._columns
            if cached is None or cached[0] != key:
                cached = self._columns = (key, _Columns(conn, _tables(row[0])))
        return _tables(row[0]), cached[1]

    def count(self, datasource: str | None = None) -> int:
        conn = self._conn()
        t = self._live_tables(conn)
        if datasource is None:
            return conn.execute(t.sql("SELECT count(*) FROM {docs}")).fetchone()[0]
        return conn.execute(
            t.sql("SELECT count(*) FROM {docs} WHERE datasource = ?"), (datasource,)
        ).fetchone()[0]

    def ids(self, datasource: str) -> Iterator[tuple[str, str | None]]:
        conn = self._conn()
        t = self._live_tables(conn)
        after = ""
        while True:
            rows = conn.execute(
                t.sql(
                    "SELECT id, version FROM {docs} WHERE datasource = ? AND id > ? ORDER BY id LIMIT 5000"
                ),
                (datasource, after),
            ).fetchall()
            yield from rows
            if len(rows) < 5000:
                return
            after = rows[-1][0]

    def states(self) -> dict[str, IndexState]:
        conn = self._conn()
        t = self._live_tables(conn)
        return {
            ds: IndexState.from_json(text)
            for ds, text in conn.execute(t.sql("SELECT datasource, state FROM {state}"))
        }

    def state(self, datasource: str) -> IndexState | None:
        conn = self._conn()
        t = self._live_tables(conn)
        row = conn.execute(t.sql("SELECT state FROM {state} WHERE datasource = ?"), (datasource,)).fetchone()
        return IndexState.from_json(row[0]) if row else None

    # --- writing -------------------------------------------------------------------------------
    def open_writer(self, datasource: str, *, rebuild: bool = False) -> SqliteWriter:
        return SqliteWriter(self, datasource, rebuild=rebuild)

    def builds(self) -> list[tuple[str, str, float, str]]:
        """Rebuilds in progress: (generation, datasource, started_at epoch s, holder)."""
        return (
            self._conn()
            .execute(
                "SELECT generation, datasource, started_at, holder FROM cc_builds WHERE name = ?",
                (self.name,),
            )
            .fetchall()
        )

    def __repr__(self) -> str:
        return f"<SqliteIndex {self.name} in {self.path}>"


#: ``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on error) on an autocommit connection
_write = transaction


# ----------------------------------------------------------------------------------- writer


class SqliteWriter:
    """A feed of one datasource into the embedded index (in place, or into a new generation)."""

    def __init__(self, index: SqliteIndex, datasource: str, *, rebuild: bool) -> None:
        self.index = index
        self.datasource = datasource
        self.rebuild = rebuild
        self._conn = _connect(index.path, WRITER_CACHE_KIB)
        self._rejected: list[Rejected] = []
        self._closed = False
        #: documents inserted in the rebuild's open transaction (see :meth:`_settle`)
        self._open_docs = 0
        self._failed = False
        self._holder = f"{socket.gethostname()}:{os.getpid()}"
        if rebuild:
            self._generation = uuid.uuid4().hex[:12]
            self._t = _tables(self._generation)
            self._start_rebuild()
        else:
            self._refuse_during_rebuild()
            generation = index._generation(self._conn)
            assert generation is not None
            if generation[1] != ANALYZER_VERSION:
                raise IndexBackendError(
                    f"the embedded index was built with analyzer version {generation[1]}, this program uses "
                    f"{ANALYZER_VERSION}: rebuild it (contentcloud index <datasource> --full)",
                    target=index.name,
                )
            self._generation = generation[0]
            self._t = _tables(self._generation)

    # --- set-up --------------------------------------------------------------------------------
    def _refuse_during_rebuild(self) -> None:
        for generation, datasource, started_at, holder in self.index.builds():
            if time.time() - started_at < STALE_BUILD_SECONDS:
                raise IndexBackendError(
                    f"a full rebuild (for {datasource}, by {holder}, generation {generation}) is running; "
                    "feed again when it has finished",
                    target=self.index.name,
                )

    def _start_rebuild(self) -> None:
        conn = self._conn
        with _write(conn):
            for generation, datasource, started_at, holder in conn.execute(
                "SELECT generation, datasource, started_at, holder FROM cc_builds WHERE name = ?",
                (self.index.name,),
            ).fetchall():
                if time.time() - started_at < STALE_BUILD_SECONDS:
                    raise IndexBackendError(
                        f"another full rebuild (for {datasource}, by {holder}, generation {generation}) is "
                        "running",
                        target=self.index.name,
                    )
                logger.warning(
                    "dropping abandoned rebuild %s of %s (started by %s)", generation, self.index.name, holder
                )
                GENERATIONS.drop(conn, generation)
                conn.execute("DELETE FROM cc_builds WHERE generation = ?", (generation,))
            conn.execute(
                "INSERT INTO cc_builds VALUES (?, ?, ?, ?, ?)",
                (self._generation, self.index.name, self.datasource, time.time(), self._holder),
            )
            _create_generation(conn, self._generation)
        self._copy_others()

    def _copy_others(self) -> None:
        """Every other datasource's documents and state, as they are now, into the new generation."""
        conn = self._conn
        live = self.index._live_tables(conn)
        reader = _connect(self.index.path)
        try:
            reader.execute("BEGIN")  # one snapshot: documents and states agree
            # the usual index holds one datasource: look in the (datasource, …) index first rather
            # than read every stored document of the live generation to find none
            others = reader.execute(
                live.sql(
                    "SELECT EXISTS(SELECT 1 FROM {docs} WHERE datasource < ?) "
                    "OR EXISTS(SELECT 1 FROM {docs} WHERE datasource > ?)"
                ),
                (self.datasource, self.datasource),
            ).fetchone()[0]
            rows = (
                reader.execute(
                    live.sql("SELECT stored FROM {docs} WHERE datasource != ? ORDER BY rid"),
                    (self.datasource,),
                )
                if others
                else iter(())
            )
            copied = 0
            for batch in batched(rows, 1000):
                self._write_docs([restore(stored) for (stored,) in batch])
                copied += len(batch)
            self._settle()
            states = reader.execute(
                live.sql("SELECT datasource, state FROM {state} WHERE datasource != ?"), (self.datasource,)
            ).fetchall()
            reader.execute("COMMIT")
        finally:
            reader.close()
        with _write(conn):
            conn.executemany(self._t.sql("INSERT OR REPLACE INTO {state} VALUES (?, ?)"), states)
        if self._rejected:
            raise IndexBackendError(
                f"copying the live index failed: {self._rejected[0].message}", target=self.index.name
            )
        logger.info("rebuild of %s: copied %d documents of other datasources", self.index.name, copied)

    # --- the IndexWriter contract --------------------------------------------------------------
    def add(self, docs: Sequence[Document]) -> None:
        self._check_open()
        self._write_docs(docs)

    def add_prepared(self, batch: PreparedBatch) -> None:
        """:meth:`add` of documents already analysed (:func:`prepare_batch`, in a builder process)."""
        self._check_open()
        self._insert(batch)

    #: what turns documents into what :meth:`add_prepared` takes; a module-level function, so a feed's
    #: builder processes can run it (pickled by name) and hand over rows instead of documents
    preparer = staticmethod(prepare_batch)

    def _write_docs(self, docs: Sequence[Document]) -> None:
        self._insert(prepare_batch(docs))

    def _insert(self, batch: PreparedBatch) -> None:
        self._rejected.extend(Rejected(doc_id, message) for doc_id, message in batch.rejected)
        if not batch.docs:
            return
        if not self.rebuild:
            with _write(self._conn) as conn:
                self._insert_rows(conn, batch)
            return
        # a rebuild: pages share a transaction, committed every REBUILD_TRANSACTION_DOCS documents
        # and before anything else the writer does (_settle); a failure rolls back the pages not yet
        # committed, so the writer refuses everything but abort from then on
        conn = self._conn
        try:
            if not conn.in_transaction:
                conn.execute("BEGIN IMMEDIATE")
            self._insert_rows(conn, batch)
        except BaseException:
            self._failed = True
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        self._open_docs += len(batch.docs)
        if self._open_docs >= REBUILD_TRANSACTION_DOCS:
            self._settle()

    def _settle(self) -> None:
        """Commit a rebuild's open transaction of pages (nothing to do in place: each write commits)."""
        if self._conn.in_transaction:
            try:
                self._conn.execute("COMMIT")
            except BaseException:
                self._failed = True
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
        self._open_docs = 0

    def _insert_rows(self, conn: sqlite3.Connection, batch: PreparedBatch) -> None:
        self._delete_rows(conn, self._existing(conn, "id", [row[0] for row in batch.docs]))
        base = conn.execute(self._t.sql("SELECT coalesce(max(rid), 0) + 1 FROM {docs}")).fetchone()[0]
        t = self._t
        conn.executemany(
            t.sql("INSERT INTO {docs} VALUES (?, ?, ?, ?, ?)"),
            [(base + pos, *row) for pos, row in enumerate(batch.docs)],
        )
        conn.executemany(
            t.sql("INSERT OR IGNORE INTO {terms} VALUES (?, ?, ?)"),
            [(f, v, base + pos) for f, v, pos in batch.terms],
        )
        conn.executemany(
            t.sql("INSERT OR REPLACE INTO {singles} VALUES (?, ?, ?)"),
            [(f, base + pos, v) for f, pos, v in batch.singles],
        )
        conn.executemany(
            t.sql("INSERT OR IGNORE INTO {ranges} VALUES (?, ?, ?, ?)"),
            [(f, lo, hi, base + pos) for f, lo, hi, pos in batch.ranges],
        )
        conn.executemany(
            t.sql("INSERT INTO {fts}(rowid, {columns}) VALUES (?, {values})", **_FTS_COLUMNS),
            [(base + row[0], *row[1:]) for row in batch.texts],
        )
        self._changed(conn)

    def _changed(self, conn: sqlite3.Connection) -> None:
        """Readers' in-memory columns of the live generation are stale after this transaction, and
        so are its leaders lists (their scores depend on every row): gone until :meth:`commit`."""
        if not self.rebuild:
            conn.execute("UPDATE cc_indexes SET changes = changes + 1 WHERE name = ?", (self.index.name,))
            # asked each time: another writer's commit may have made the table since (a few µs)
            if conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (self._t["leaders"],)).fetchone():
                conn.execute(self._t.sql("DELETE FROM {leaders}"))

    def _existing(self, conn: sqlite3.Connection, column: str, keys: Sequence[str]) -> list[tuple[int, str]]:
        found: list[tuple[int, str]] = []
        for chunk in batched(keys, 500):
            sql = self._t.sql(
                "SELECT rid, stored FROM {docs} WHERE {column} IN ({keys})",
                column=column,
                keys=marks(len(chunk)),
            )
            found.extend(conn.execute(sql, chunk))
        return found

    def _delete_rows(self, conn: sqlite3.Connection, rows: Sequence[tuple[int, str]]) -> None:
        """Remove documents and every row that indexes them (re-derived from their stored fields)."""
        t = self._t
        for rid, stored in rows:
            item = prepare(restore(stored))
            conn.executemany(
                t.sql("DELETE FROM {terms} WHERE field = ? AND value = ? AND rid = ?"),
                [(f, v, rid) for f, v in item.terms],
            )
            conn.executemany(
                t.sql("DELETE FROM {singles} WHERE field = ? AND rid = ?"),
                [(f, rid) for f, _ in item.singles],
            )
            conn.executemany(
                t.sql("DELETE FROM {ranges} WHERE field = ? AND lo = ? AND hi = ? AND rid = ?"),
                [(f, lo, hi, rid) for f, lo, hi in item.ranges],
            )
            if item.texts:  # a contentless table forgets a row given the very content it indexed
                conn.execute(
                    t.sql(
                        "INSERT INTO {fts}({fts}, rowid, {columns}) VALUES ('delete', ?, {values})",
                        **_FTS_COLUMNS,
                    ),
                    (rid, *(item.texts.get(column, "") for column in TEXT_COLUMNS)),
                )
            conn.execute(t.sql("DELETE FROM {docs} WHERE rid = ?"), (rid,))

    def delete(self, ids: Sequence[str]) -> None:
        self._check_open()
        if not ids:
            return
        self._settle()
        with _write(self._conn) as conn:
            self._delete_rows(conn, self._existing(conn, "id", list(ids)))
            self._changed(conn)

    def flush(self) -> list[Rejected]:
        self._settle()
        rejected, self._rejected = self._rejected, []
        return rejected

    def sweep(self, keep_versions: Sequence[str]) -> int:
        self._check_open()
        self._settle()
        keep = list(keep_versions)
        sql = self._t.sql(
            "SELECT rid, stored FROM {docs} WHERE datasource = ? AND "
            "(version IS NULL OR version NOT IN ({keep})) LIMIT 1000",
            keep=marks(len(keep)) if keep else Sql("''"),
        )
        removed = 0
        while True:
            with _write(self._conn) as conn:
                rows = conn.execute(
                    sql,
                    (self.datasource, *keep),
                ).fetchall()
                self._delete_rows(conn, rows)
                self._changed(conn)
            removed += len(rows)
            if len(rows) < 1000:
                return removed

    def commit(self, state: IndexState) -> None:
        self._check_open()
        self._settle()
        conn = self._conn
        if self.rebuild:
            self._leaders()
            old = GENERATIONS.flip(conn, partial(self._switch, state))
            if old is not None:
                logger.info(
                    "switched %s to generation %s; dropped %s", self.index.name, self._generation, old
                )
        else:
            with _write(conn):
                self._save_state(conn, state)
            self._leaders()
        self._close()

    def _leaders(self) -> None:
        """The generation's leaders lists, made again from what it holds now (one transaction).
        They read the whole full-text index once, in order: with a page cache of
        :data:`LEADERS_CACHE_KIB` meanwhile (the connection's 64 MB would fill up for nothing)."""
        started = time.perf_counter()
        (cache,) = self._conn.execute("PRAGMA cache_size").fetchone()
        self._conn.execute(f"PRAGMA cache_size = {-LEADERS_CACHE_KIB:d}")
        try:
            with _write(self._conn) as conn:
                conn.execute(self._t.sql(LEADERS_DDL))
                listed = _write_leaders(conn, self._t, path=self.index.path)
        finally:
            self._conn.execute(f"PRAGMA cache_size = {int(cache):d}")
        logger.info(
            "%s: leaders lists of %d frequent terms in %.2f s",
            self.index.name,
            listed,
            time.perf_counter() - started,
        )

    def _save_state(self, conn: sqlite3.Connection, state: IndexState) -> None:
        conn.execute(
            self._t.sql("INSERT OR REPLACE INTO {state} VALUES (?, ?)"), (state.datasource, state.to_json())
        )
        self._changed(conn)

    def _switch(self, state: IndexState, conn: sqlite3.Connection) -> str | None:
        """The rebuilt generation goes live with its state, in the flip's one transaction;
        returns the generation it replaced (None: the index had none)."""
        self._save_state(conn, state)
        old = self.index._generation(conn)
        if old is None:
            conn.execute(
                "INSERT INTO cc_indexes VALUES (?, ?, ?, ?, 0)",
                (self.index.name, self._generation, ANALYZER_VERSION, _now_text()),
            )
        else:
            conn.execute(
                "UPDATE cc_indexes SET generation = ?, analyzer = ?, switched_at = ? WHERE name = ?",
                (self._generation, ANALYZER_VERSION, _now_text(), self.index.name),
            )
        conn.execute("DELETE FROM cc_builds WHERE generation = ?", (self._generation,))
        return old[0] if old is not None else None

    def close(self) -> None:
        self._check_open()
        if self.rebuild:
            raise IndexBackendError(
                "a rebuild writer ends with commit (switch) or abort (drop), not close",
                target=self.index.name,
            )
        self._close()  # every write was its own transaction: all of it is in the index already

    def abort(self) -> None:
        if self._closed:
            return
        if self._conn.in_transaction:  # a rebuild's pages not yet committed
            self._conn.execute("ROLLBACK")
        if self.rebuild:
            # tables first, each in its own transaction (see Generations.drop), then the build's
            # record: a crash between leaves a record the next rebuild cleans up, not orphan tables
            GENERATIONS.drop(self._conn, self._generation)
            with _write(self._conn) as conn:
                conn.execute("DELETE FROM cc_builds WHERE generation = ?", (self._generation,))
        self._close()

    def _close(self) -> None:
        self._closed = True
        self._conn.close()

    def _check_open(self) -> None:
        if self._closed:
            raise IndexBackendError("the writer is closed", target=self.index.name)
        if self._failed:
            raise IndexBackendError(
                "a write of this rebuild failed and was rolled back; abort the rebuild",
                target=self.index.name,
            )


# ----------------------------------------------------------------------------------- queries


class _Columns:
    """Per-generation columns in memory, Solr's docValues in spirit: what facet counting and sorting read.

    Built lazily per field from the ``terms`` and ``singles`` tables and kept until the generation or
    its change counter moves (every write transaction bumps it). Lists are indexed by rid, so a set
    of matching rids is counted or ranked with C-level builtins (``map``, ``Counter``, ``heapq``),
    not a Python loop and not a SQL ``GROUP BY`` over every value of the field.
    """

    def __init__(self, conn: sqlite3.Connection, p: Tables) -> None:
        self.p = p
        self.size = conn.execute(p.sql("SELECT coalesce(max(rid), 0) + 1 FROM {docs}")).fetchone()[0]
        self._facets: dict[str, tuple[list[Any], list[tuple[int, ...]], Counter[int]]] = {}
        self._ranks: dict[str, list[int | None]] = {}
        self._rank_values: dict[str, list[Any]] = {}
        self._ranges: dict[str, tuple[list[int], list[int], list[int]]] = {}
        self._all: list[int] | None = None
        self._lock = threading.Lock()
        self._bitmaps: dict[str, list[int]] = {}
        #: per field whose value bitmaps are built: string value → (its holders' rids, its bitmap)
        self._holders: dict[str, dict[str, tuple[list[int], int]]] = {}
        self._norms: tuple[Sequence[int], int, float] | None = None
        self._leaders = False
        #: Solr's filterCache and queryResultCache in one: matching sets and scores of queries and
        #: filters already evaluated on this generation, least recently used first, bounded by the
        #: number of rids they hold (:data:`RESULT_CACHE_RIDS`)
        self._results: OrderedDict[Any, HitList | dict[int, float]] = OrderedDict()
        self._result_rids = 0

    def remember(self, key: Any, compute: Callable[[], Any]) -> Any:
        """``compute()``'s result (a :class:`HitList` or a scores dict), cached under ``key``. Only a
        finished computation is kept: one cut short by the time budget raises before it is stored."""
        try:
            hash(key)
        except TypeError:  # a compiled query with an unhashable part: not cached
            return compute()
        with self._lock:
            found = self._results.get(key)
            if found is not None:
                self._results.move_to_end(key)
                return found
        value = compute()
        with self._lock:
            if key not in self._results and len(value) <= RESULT_CACHE_RIDS // 4:
                self._results[key] = value
                self._result_rids += len(value) + 1
                while self._result_rids > RESULT_CACHE_RIDS or len(self._results) > RESULT_CACHE_ENTRIES:
                    _, dropped = self._results.popitem(last=False)
                    self._result_rids -= len(dropped) + 1
        return value

    def value_bitmaps(self, conn: sqlite3.Connection, name: str) -> list[int]:
        """Per value ordinal of a facet field, the set of rids holding it as a bitmap (a Python int):
        a field with few values counts a large hit set by ``&`` and ``bit_count()`` per value."""
        cached = self._bitmaps.get(name)
        if cached is None:
            values, ordinals, _ = self.facet(conn, name)
            holders: list[list[int]] = [[] for _ in values]
            for rid, found in enumerate(ordinals):
                for ordinal in found:
                    holders[ordinal].append(rid)
            cached = [_bitmap(rids, self.size) for rids in holders]
            self._holders[name] = {
                value: (rids, bits)
                for value, rids, bits in zip(values, holders, cached, strict=True)
                if isinstance(value, str)
            }
            self._bitmaps[name] = cached
        return cached

    def holders(self, name: str, value: str) -> tuple[list[int], int] | None:
        """The rids holding ``value`` in field ``name`` (ascending) and their bitmap, when the
        field's value bitmaps are built (it was counted as a facet on this generation): an ``fq``
        on a facet value then reads no SQL and its hits' bitmap is ready for the facet counts.
        None when they are not built (the caller asks SQL); ``([], 0)`` for a value no one holds.
        Strings only: equal in Python exactly when equal in SQLite (no numeric conversions)."""
        found = self._holders.get(name)
        if found is None:
            return None
        return found.get(value, ([], 0))

    def bm25_norms(self, conn: sqlite3.Connection) -> tuple[Sequence[int], int, float]:
        """What FTS5's ``bm25()`` reads besides a term's instances, read once per generation: per rid
        the row's length in tokens over every column (its ``docsize`` record, ``xColumnSize(-1)``),
        the number of rows and the average row length (the ``averages`` record). With them a
        one-term clause is scored here from its instances (:meth:`_Select._term_scores`).

        The lengths are an unsigned 32-bit array: 4 bytes a document, where a list held 8 for the
        pointer and 32 for each length over 256 (~40 MB at 1,000,000 documents, in every process
        serving the generation and in the commit making its leaders lists)."""
        if self._norms is None:
            with self._lock:
                if self._norms is None:
                    fts = self.p["fts"]
                    lengths = array("I", bytes(4 * self.size))
                    for rid, sizes in conn.execute(self.p.sql("SELECT id, sz FROM {t}", t=f"{fts}_docsize")):
                        # one byte per column while every column is under 128 tokens (the usual case)
                        lengths[rid] = sum(sizes) if max(sizes, default=0) < 0x80 else sum(_varints(sizes))
                    row = conn.execute(
                        self.p.sql("SELECT block FROM {t} WHERE id = 1", t=f"{fts}_data")
                    ).fetchone()
                    averages = _varints(row[0]) if row else [0]
                    rows = averages[0]
                    self._norms = (lengths, rows, sum(averages[1:]) / rows if rows else 0.0)
        return self._norms

    def has_leaders(self, conn: sqlite3.Connection) -> bool:
        """Whether the generation has a leaders table (one made before them gains it at its next
        commit, without a change the columns would notice: asked again until it has)."""
        if not self._leaders:
            self._leaders = (
                conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (self.p["leaders"],)).fetchone()
                is not None
            )
        return self._leaders

    def all_rids(self, conn: sqlite3.Connection) -> list[int]:
        if self._all is None:
            self._all = [rid for (rid,) in conn.execute(self.p.sql("SELECT rid FROM {docs} ORDER BY rid"))]
        return self._all

    def facet(
        self, conn: sqlite3.Connection, name: str
    ) -> tuple[list[Any], list[tuple[int, ...]], Counter[int]]:
        """(values in index order, value ordinals per rid, counts over every document)."""
        cached = self._facets.get(name)
        if cached is None:
            with self._lock:
                values: list[Any] = []
                per_rid: list[list[int]] = [[] for _ in range(self.size)]
                last = object()
                for value, rid in conn.execute(
                    self.p.sql("SELECT value, rid FROM {terms} WHERE field = ? ORDER BY value, rid"), (name,)
                ):
                    if value != last:
                        values.append(value)
                        last = value
                    per_rid[rid].append(len(values) - 1)
                ordinals = [tuple(o) for o in per_rid]
                counts = Counter(chain.from_iterable(ordinals))
                cached = self._facets[name] = (values, ordinals, counts)
        return cached

    def date_ranges(self, conn: sqlite3.Connection, name: str) -> tuple[list[int], list[int], list[int]]:
        """A DateRangeField's values as (starts, ends, rids), ordered by start: a range query is a
        bisection plus one pass over the candidates."""
        cached = self._ranges.get(name)
        if cached is None:
            with self._lock:
                rows = conn.execute(
                    self.p.sql("SELECT lo, hi, rid FROM {ranges} WHERE field = ? ORDER BY lo"), (name,)
                ).fetchall()
                cached = self._ranges[name] = (
                    [r[0] for r in rows],
                    [r[1] for r in rows],
                    [r[2] for r in rows],
                )
        return cached

    def ranks(self, conn: sqlite3.Connection, name: str) -> list[int | None]:
        """Sort rank per rid (equal values share a rank; None: no value). ``field\x00min`` and
        ``field\x00max`` rank a multivalued field by each document's least or greatest value."""
        cached = self._ranks.get(name)
        if cached is None and _MULTI_SORT in name:
            field, which, *function = name.split(_MULTI_SORT)
            values, ordinals, _ = self.facet(conn, field)  # ordinals follow the values' order
            pick = min if which == "min" else max
            self._rank_values[name] = values
            missing: float | None = None
            if function:  # a sort function: no value is a value (0, false, or below every string)
                none = {"int": 0, "long": 0, "date": 0, "boolean": "false"}.get(function[0])
                at = bisect.bisect_left(values, none) if none is not None else 0
                missing = at if none is not None and at < len(values) and values[at] == none else at - 0.5
            cached = self._ranks[name] = [pick(o) if o else missing for o in ordinals]  # type: ignore[misc]
        if cached is None:
            with self._lock:
                ranks: list[int | None] = [None] * self.size
                distinct: list[Any] = []
                rank, last = -1, object()
                definition = lookup(name)
                # an exact field's (field, value, rid) terms rows are its sort keys already, in order;
                # only sort keys that are not terms (title_sort's collation keys) have singles rows
                table = "terms" if definition is not None and definition.exact else "singles"
                for rid, value in conn.execute(
                    self.p.sql("SELECT rid, value FROM {terms} WHERE field = ? ORDER BY value")
                    if table == "terms"
                    else self.p.sql("SELECT rid, value FROM {singles} WHERE field = ? ORDER BY value"),
                    (name,),
                ):
                    if value != last:
                        rank += 1
                        last = value
                        distinct.append(value)
                    ranks[rid] = rank
                self._rank_values[name] = distinct
                cached = self._ranks[name] = ranks
        return cached

    def rank_values(self, conn: sqlite3.Connection, name: str) -> list[Any]:
        """The distinct values of a sort field in rank order (rank ``i`` is value ``i``)."""
        self.ranks(conn, name)
        return self._rank_values[name]


#: joins a multivalued sort field to min or max in the sort keys _Columns.ranks reads
_MULTI_SORT = "\x00"
#: the most rids the per-generation result cache holds, over all its entries (~40 MB at most)
RESULT_CACHE_RIDS = 1_000_000
RESULT_CACHE_ENTRIES = 256
#: a facet field with at most this many values is counted by value bitmaps, not per hit
BITMAP_FACET_VALUES = 512


def _varints(data: bytes) -> list[int]:
    """SQLite's varints, as FTS5 writes its ``docsize`` and ``averages`` records: 7 bits a byte,
    the high bit set on every byte but the last (counts of tokens never need the 9-byte form)."""
    values: list[int] = []
    value = 0
    for byte in data:
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            values.append(value)
            value = 0
    return values


def _top_by_score(rids: Sequence[int], scores: dict[int, float], k: int, *, ascending: bool) -> list[int]:
    """The first ``k`` of ``rids`` by score, then rid: ``heapq.nsmallest`` with the keys ``(±score,
    rid)`` made by ``map``/``zip`` (C loops), not by a Python key function called per hit."""
    values: Iterator[float] = map(scores.__getitem__, rids)
    if not ascending:
        values = map(operator.neg, values)
    return [rid for _, rid in heapq.nsmallest(k, zip(values, rids))]


#: FTS5's bm25() constants (fts5_aux.c), used where a one-term clause is scored in Python
BM25_K1 = 1.2
BM25_B = 0.75

#: a term in at least this many documents gets a leaders list (:func:`_write_leaders`): rarer ones
#: are scored in full in ~1 ms
LEADERS_MIN_MATCHES = 1_000
#: how many of a frequent term's best documents its leaders list keeps: a ranked page ending past it
#: scores every match
LEADERS_DEPTH = 100


def _instance_vocab(conn: sqlite3.Connection, p: Tables) -> str:
    """The name of this connection's ``fts5vocab(…, instance)`` table over generation ``p``'s FTS
    table (one row per occurrence of a term: term, doc, col, offset), made when missing; the
    connection's vocab tables of replaced generations are dropped first."""
    fts = p["fts"]
    vocab = f"{fts}_instances"
    if not conn.execute("SELECT 1 FROM temp.sqlite_master WHERE name = ?", (vocab,)).fetchone():
        for (stale,) in conn.execute(
            "SELECT name FROM temp.sqlite_master WHERE type = 'table' AND name LIKE ? ESCAPE '!'",
            ("%!_fts!_instances",),
        ).fetchall():
            conn.execute(p.sql("DROP TABLE temp.{stale}", stale=stale))
        conn.execute(
            p.sql("CREATE VIRTUAL TABLE temp.{vocab} USING fts5vocab(main, {fts}, instance)", vocab=vocab)
        )
    return vocab


def _all_columns(term: str, columns: Sequence[str]) -> bool:
    """Whether searching ``term`` in ``columns`` finds every instance of it: a marked token is only
    ever in ``dynf``, any other in every column but ``dynf``."""
    possible = {"dynf"} if FIELD_MARK in term else set(TEXT_COLUMNS) - {"dynf"}
    return possible <= set(columns)


def _bm25_scores(found: str, norms: tuple[Sequence[int], int, float]) -> dict[int, float]:
    """rid → ``-bm25()`` of a one-term clause from its instances (``found``: their rids joined by
    commas, one per occurrence) and the generation's norms (:meth:`_Columns.bm25_norms`)."""
    frequencies = Counter(found.split(","))  # an instance per occurrence (str keys count faster)
    return _bm25_of(frequencies, len(frequencies), norms)


def _bm25_of(
    frequencies: Counter[Any], matches: int, norms: tuple[Sequence[int], int, float]
) -> dict[int, float]:
    """rid → ``-bm25()`` of the rids of ``frequencies`` (their instances) in a clause matching
    ``matches`` documents, by FTS5's formula with the same floating-point operations in the same
    order as fts5_aux.c, computed once per distinct (frequency, length)."""
    lengths, rows, average = norms
    rids = list(map(int, frequencies))
    idf = math.log((rows - matches + 0.5) / (matches + 0.5))
    if idf <= 0.0:
        idf = 1e-6
    k1, b = BM25_K1, BM25_B

    @cache
    def score(frequency: int, length: int) -> float:
        return idf * ((frequency * (k1 + 1.0)) / (frequency + k1 * (1 - b + b * length / average)))

    return dict(zip(rids, map(score, frequencies.values(), map(lengths.__getitem__, rids))))


def _write_leaders(conn: sqlite3.Connection, p: Tables, *, path: Path | None = None) -> int:
    """Fill generation ``p``'s ``leaders`` table, inside the caller's write transaction: per term
    in at least :data:`LEADERS_MIN_MATCHES` documents, the number of documents holding it and its
    best :data:`LEADERS_DEPTH` documents in ranked order (score descending, then rid), with their
    scores, for a query of the term on all the columns it is in. A ranked one-term query whose
    page ends within them reads one row instead of scoring every match (an impact-ordered posting
    list cut at its head: the scores depend on the whole generation, its row count and average
    length, so the lists are made again at every commit that changed it, and cleared by every
    write before it). The scores are made by the very code a query would run
    (:func:`_bm25_scores`, :func:`_top_by_score`): equal to the bit, ties in the same order.

    With the file's ``path``, lists of more than :data:`LEADERS_SPLIT_MIN` instances in all are
    made half here and half in a second process reading the same committed generation (the lists
    are made on one core after the parts that fed it on two: at 1,000,000 documents, ~35 s).
    Returns the number of terms listed."""
    conn.execute(p.sql("DELETE FROM {leaders}"))
    rows_vocab = f"{p['fts']}_rows"
    conn.execute(p.sql("DROP TABLE IF EXISTS temp.{vocab}", vocab=rows_vocab))
    conn.execute(
        p.sql("CREATE VIRTUAL TABLE temp.{vocab} USING fts5vocab(main, {fts}, row)", vocab=rows_vocab)
    )
    try:
        terms = [
            (term, documents, instances)
            for (term, documents, instances) in conn.execute(
                p.sql("SELECT term, doc, cnt FROM temp.{vocab} WHERE doc >= ?", vocab=rows_vocab),
                (LEADERS_MIN_MATCHES,),
            ).fetchall()
            if VALUE_GAP not in term
        ]
    finally:
        conn.execute(p.sql("DROP TABLE temp.{vocab}", vocab=rows_vocab))
    if not terms:
        return 0
    # the module's settings as read here (a new process would import its own)
    settings = {"depth": LEADERS_DEPTH, "join_max": LEADERS_JOIN_MAX}
    if path is None or sum(count for _, _, count in terms) <= LEADERS_SPLIT_MIN:
        listed = _leaders_rows(conn, p, terms, **settings)
    else:
        here, there = _halves(terms)
        mine, theirs = _leaders_rows_beside(
            path, p, there, settings, lambda: _leaders_rows(conn, p, here, **settings)
        )
        listed = mine + (theirs if theirs is not None else _leaders_rows(conn, p, there, **settings))
    conn.executemany(p.sql("INSERT INTO {leaders} VALUES (?, ?, ?)"), listed)
    return len(listed)


def _leaders_rows_beside(
    path: Path,
    p: Tables,
    terms: list[tuple[str, int, int]],
    settings: dict[str, int],
    meanwhile: Callable[[], list[tuple[str, int, bytes]]],
) -> tuple[list[tuple[str, int, bytes]], list[tuple[str, int, bytes]] | None]:
    """``meanwhile()``'s rows, and those of ``terms`` made in a new process at the same time; None
    for the latter when that process could not start (a daemon process may not have children) or
    failed: logged, and the caller makes them itself."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    try:
        try:
            theirs = pool.submit(_leaders_rows_of_file, str(path), dict(p), terms, settings)
        except Exception as exc:  # noqa: BLE001 - any reason to make them here instead
            logger.warning("%s: leaders lists made in one process (no second one: %s)", path, exc)
            return meanwhile(), None
        mine = meanwhile()
        try:
            return mine, theirs.result()
        except Exception as exc:  # noqa: BLE001
            logger.warning("%s: leaders lists made in one process (the second one failed: %s)", path, exc)
            return mine, None
    finally:
        pool.shutdown(cancel_futures=True)


def _halves(
    terms: list[tuple[str, int, int]],
) -> tuple[list[tuple[str, int, int]], list[tuple[str, int, int]]]:
    """The terms in two lists of about as many instances each (the largest first, each to the
    lighter list)."""
    halves: tuple[list[tuple[str, int, int]], list[tuple[str, int, int]]] = ([], [])
    weights = [0, 0]
    for term in sorted(terms, key=lambda t: -t[2]):
        lighter = 0 if weights[0] <= weights[1] else 1
        halves[lighter].append(term)
        weights[lighter] += term[2]
    return halves


def _leaders_rows_of_file(
    path: str, tables: dict[str, str], terms: list[tuple[str, int, int]], settings: dict[str, int]
) -> list[tuple[str, int, bytes]]:
    """:func:`_leaders_rows` in a second process: its own read-only connection to the file, which
    sees the generation as last committed (the lists' writer holds its write transaction open)."""
    conn = sqlite3.connect(f"{Path(path).as_uri()}?mode=ro", uri=True)
    try:
        conn.execute(f"PRAGMA cache_size = {-LEADERS_CACHE_KIB:d}")
        return _leaders_rows(conn, Tables(path, tables), terms, **settings)
    finally:
        conn.close()


def _leaders_rows(
    conn: sqlite3.Connection, p: Tables, terms: list[tuple[str, int, int]], *, depth: int, join_max: int
) -> list[tuple[str, int, bytes]]:
    """``(term, documents matched, packed best rids and scores)`` of each ``(term, documents,
    instances)``, read through ``conn``: the best ``depth``, a term's instances joined by SQLite
    up to ``join_max`` of them."""
    norms = _Columns(conn, p).bm25_norms(conn)
    vocab = _instance_vocab(conn, p)
    joined = p.sql("SELECT group_concat(doc) FROM temp.{vocab} WHERE term = ?", vocab=vocab)
    rows = p.sql("SELECT doc FROM temp.{vocab} WHERE term = ?", vocab=vocab)

    def instances(term: str, count: int) -> Callable[[], Iterator[Sequence[str | int]]]:
        """The term's instances (rids in order, one per occurrence), a batch at a time: joined by
        SQLite in one string when they are few (C all the way), else read as rows."""
        if count <= join_max:
            return lambda: _slices_of(conn.execute(joined, (term,)).fetchone()[0] or "", LEADERS_SLICE)
        return lambda: _batches_of(conn.execute(rows, (term,)), LEADERS_BATCH)

    listed = []
    for term, documents, count in terms:
        matches, top, scores = _leaders_of(instances(term, count), documents, norms, depth=depth)
        listed.append((term, matches, _pack_leaders(top, scores)))
    return listed


#: characters of a joined instance list scored at once when a leaders list is made
LEADERS_SLICE = 1 << 18
#: a term with more instances than this has them read as rows, :data:`LEADERS_BATCH` at a time,
#: not joined into one string: a word in every one of 1,000,000 documents has ~5 million instances,
#: ~40 MB of text that SQLite's doubling buffer, the copy into Python and the string held ~200 MB
#: for; rows cost more CPU per instance than a joined string (all the lists of 1,000,000
#: documents read as rows from 2^19 instances took 40 s instead of 25), so only the largest go so
LEADERS_JOIN_MAX = 1 << 21
LEADERS_BATCH = 1 << 15
#: instances of all the frequent terms above which their lists are made in two processes
#: (:func:`_write_leaders`): at 1,000,000 bench documents, 80 million instances took 35.0 s in one
#: process and 18.8 s in two; at 100,000, ~8 million take ~2 s, which a new process (~1 s to start
#: and read the row lengths) would hardly shorten
LEADERS_SPLIT_MIN = 1 << 24
#: the page cache (KiB) of the connection while it makes the leaders lists
LEADERS_CACHE_KIB = 8192


def _slices_of(found: str, size: int) -> Iterator[list[str]]:
    """A joined instance list (``1,1,4,…``) cut at commas into slices of about ``size`` characters."""
    start = 0
    while start < len(found):
        cut = found.rfind(",", start, start + size) if start + size < len(found) else -1
        end = cut + 1 if cut > start else len(found)
        yield found[start:end].rstrip(",").split(",")
        start = end


def _batches_of(cursor: sqlite3.Cursor, size: int) -> Iterator[list[int]]:
    """Instance rows (one rid each) ``size`` at a time."""
    while batch := cursor.fetchmany(size):
        yield [rid for (rid,) in batch]


def _leaders_of(
    instances: Callable[[], Iterable[Sequence[str | int]]],
    documents: int,
    norms: tuple[Sequence[int], int, float],
    *,
    depth: int,
) -> tuple[int, list[int], list[float]]:
    """(documents matched, the best ``depth`` rids, their scores) of a one-term clause whose
    instances ``instances()`` gives in batches (rids in rid order, as strings or integers: what
    :func:`_bm25_scores` parses) and which FTS5 counts in ``documents`` rows, scored a batch at a
    time: what :func:`_bm25_scores` and :func:`_top_by_score` give, to the bit. A rid's instances
    are never scored apart (the last rid of a batch goes on with the next); the keys
    ``(-score, rid)`` are unique, so the best of the batches' best are the best of all. Should the
    rids counted differ from ``documents`` (the idf of every score depends on it), the list is made
    again with the count (``instances`` is called again)."""
    best: list[tuple[float, int]] = []
    counted = 0

    def take(tokens: Sequence[str | int]) -> None:
        nonlocal best, counted
        frequencies = Counter(tokens)
        counted += len(frequencies)
        scores = _bm25_of(frequencies, documents, norms)
        best = heapq.nsmallest(depth, itertools.chain(best, zip(map(operator.neg, scores.values()), scores)))

    carry: list[str | int] = []
    for batch in instances():
        tokens = carry + list(batch) if carry else batch
        if not tokens:
            continue
        cut = len(tokens)
        while cut > 0 and tokens[cut - 1] == tokens[-1]:
            cut -= 1
        if cut:
            take(tokens[:cut])
        carry = list(tokens[cut:])
    if carry:
        take(carry)
    if counted != documents:
        return _leaders_of(instances, counted, norms, depth=depth)
    return documents, [rid for _, rid in best], [-score for score, _ in best]


def _pack_leaders(rids: Sequence[int], scores: Sequence[float]) -> bytes:
    return struct.pack(f"<{len(rids)}q{len(scores)}d", *rids, *scores)


def _unpack_leaders(data: bytes) -> tuple[tuple[int, ...], tuple[float, ...]]:
    count = len(data) // 16
    values = struct.unpack(f"<{count}q{count}d", data)
    return values[:count], values[count:]  # type: ignore[return-value]


def _bitmap(rids: Sequence[int], size: int) -> int:
    """The rids as the bits of one Python int (bit ``rid`` set)."""
    bits = bytearray((size >> 3) + 1)
    for rid in rids:
        bits[rid >> 3] |= 1 << (rid & 7)
    return int.from_bytes(bits, "little")


class HitList(list[int]):
    """Matching rids in index order, as cached by :meth:`_Columns.remember`, with what requests
    derive from them kept beside them: their bitmap (facet counting) and the top of each sort order
    asked for (Solr's queryResultCache keeps the same: a page of ordered ids per query and sort)."""

    __slots__ = ("_bits", "tops")

    def __init__(self, rids: Sequence[int] = ()) -> None:
        super().__init__(rids)
        self._bits: int | None = None
        self.tops: dict[Any, list[int]] = {}

    def bits(self, size: int) -> int:
        if self._bits is None:
            self._bits = _bitmap(self, size)
        return self._bits


class _TimeUp(Exception):
    """The request's time budget ran out."""


class _Select:
    """One ``/select`` over one generation, inside the caller's read transaction. ``deadline``
    (``time.monotonic()``) bounds its work: SQLite statements are interrupted by a progress
    handler, and the Python steps between them check it."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        p: Tables,
        request: SelectRequest,
        columns: _Columns,
        deadline: float | None = None,
    ) -> None:
        self.conn = conn
        self.p = p
        self.request = request
        self.columns = columns
        self.deadline = deadline
        self.main: Compiled = CNone()
        #: the tags of the main query (``q={!tag=…}…``), which ``{!ex=…}`` may exclude too
        self.main_tags: tuple[str, ...] = ()
        #: facet ranges, pivots and stats, once computed (keys of :func:`select.response`)
        self.more: dict[str, Any] = {}
        if deadline is not None:
            conn.set_progress_handler(lambda: time.monotonic() > deadline, 20_000)

    def check_time(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise _TimeUp

    def _timed_out(self, exc: Exception) -> bool:
        """Whether ``exc`` is the budget running out (an interrupted statement, or :class:`_TimeUp`)."""
        if isinstance(exc, _TimeUp):
            return True
        return self.deadline is not None and "interrupt" in str(exc) and time.monotonic() > self.deadline

    def compile(self, text: str, where: str) -> tuple[tuple[str, ...], Compiled]:
        local, compiled = compile_query(
            text,
            default_field=self.request.df,
            default_and=self.request.default_and,
            where=where,
        )
        tags = tuple(t for t in re.split(r"[,\s]+", (local.get("tag") or "") if local else "") if t)
        return tags, compiled

    def _main(self) -> Compiled:
        """``q``, read by ``defType``: the Lucene parser, or dismax/edismax (``q.alt`` by the Lucene
        parser when ``q`` is blank; local parameters in ``q`` choose their own parser, as in Solr)."""
        request = self.request
        blank = request.q is None or not request.q.strip()
        if not blank and request.q.startswith("{!"):  # type: ignore[union-attr]
            local, rest = split_local_params(request.q, where="q")  # type: ignore[arg-type]
            if local is not None and local.type in ("dismax", "edismax"):
                return self._local_dismax(local, rest)
        if request.def_type == "lucene" or (not blank and request.q.lstrip().startswith("{!")):  # type: ignore[union-attr]
            if blank:
                return CNone()
            self.main_tags, compiled = self.compile(request.q, "q")  # type: ignore[arg-type]
            return compiled
        if blank:
            # q.alt's tags are not the main query's: Solr 9 does not exclude it (the test server)
            return self.compile(request.q_alt, "q.alt")[1] if request.q_alt else CNone()
        return compile_dismax(
            request.q,  # type: ignore[arg-type]
            request.dismax,
            variant=request.def_type,
            default_field=request.df,
            default_and=request.default_and,
        )

    def _local_dismax(self, local: LocalParams, rest: str) -> Compiled:
        """``q={!edismax qf=title mm=2}…``: the parser chosen by local params, whose ``qf``, ``mm``,
        ``pf``, ``tie``, ``q.op`` and ``df`` override the request's (Solr's rule); ``v`` is the query."""
        request = self.request
        if request.highlight is not None:
            raise BadRequest(
                f"highlighting (hl) with {{!{local.type}}} is not supported by the embedded index"
            )
        for name in DISMAX_UNSUPPORTED:
            if name in local.params or any(key == name for key, _ in request.params):
                raise BadRequest(f"{local.type}'s {name} ({name}) is not supported by the embedded index")
        unknown = (
            set(local.params) - {"qf", "mm", "pf", "tie", "q.op", "df", "v", "tag"} - NO_EFFECT_LOCAL_PARAMS
        )
        if unknown:
            raise BadRequest(
                f"q: local parameter(s) {', '.join(sorted(unknown))} of {{!{local.type}}} are not supported "
                "by the embedded index"
            )
        self.main_tags = tuple(t for t in re.split(r"[,\s]+", local.get("tag") or "") if t)
        base = request.dismax
        params = DismaxParams(
            qf=local.get("qf", base.qf),
            mm=local.get("mm", base.mm),
            pf=local.get("pf", base.pf),
            tie=local.get("tie", base.tie),
        )
        q_op = local.get("q.op")
        return compile_dismax(
            local.get("v", rest) or "",
            params,
            variant=local.type,  # type: ignore[arg-type]
            default_field=local.get("df", request.df) or request.df,
            default_and=request.default_and if q_op is None else q_op == "AND",
        )

    def run(
        self,
    ) -> tuple[
        int,
        float | None,
        list[dict[str, Any]],
        dict[str, list[tuple[str, int]]] | None,
        dict[str, int] | None,
        str | None,
    ]:
        """numFound, maxScore (when ``fl`` asks for scores), the page, facet fields, facet queries,
        and the phase (``query``, ``facet``) the time budget ran out in, if it did: a query cut
        short counts nothing, facets cut short are left out (Solr 9's partial results)."""
        request = self.request
        main = self.main = self._main()
        filters = [self.compile(text, "fq") for text in request.filters]
        sort = self._sort_fields()
        try:
            self.check_time()
            led = None if filters else self._led(main, sort)
            if led is not None:
                return *led, None, None, None
            scores = (
                self.columns.remember(("scores", main), partial(self.scored, main))
                if self._ranked(main, sort)
                else None
            )
            hits = self._hits(main, [f for _, f in filters], scores)
            num_found = self._count(hits)
            max_score = self._max_score(scores, hits, num_found)
            self.check_time()
            docs = self._docs(hits, sort, scores) if request.rows > 0 else []
        except (_TimeUp, sqlite3.OperationalError) as exc:
            if not self._timed_out(exc):
                raise
            return 0, None, [], None, None, "query"
        if not request.facet and request.stats is None and request.json_facets is None:
            return num_found, max_score, docs, None, None, None
        try:
            facets, facet_queries = self._facets(main, filters, scores, hits) if request.facet else ({}, {})
            self.more |= {
                "facet_ranges": {
                    facet.key: self._range(
                        facet, self._excluding(facet.exclude_tags, main, filters, scores, hits)
                    )
                    for facet in request.facet_ranges
                },
                "facet_pivot": {
                    pivot.key: self._pivot(
                        pivot, self._excluding(pivot.exclude_tags, main, filters, scores, hits)
                    )
                    for pivot in request.facet_pivots
                },
                "facets": {
                    facet.name: self._json_facet(
                        facet, self._excluding(facet.exclude_tags, main, filters, scores, hits)
                    )
                    for facet in request.json_facets or ()
                },
                "stats": {
                    stats.key: self._stats(
                        stats, self._excluding(stats.exclude_tags, main, filters, scores, hits)
                    )
                    for stats in request.stats or ()
                },
            }
        except (_TimeUp, sqlite3.OperationalError) as exc:
            if not self._timed_out(exc):
                raise
            return num_found, max_score, docs, None, None, "facet"
        return num_found, max_score, docs, facets, facet_queries, None

    def _max_score(
        self, scores: dict[int, float] | None, hits: list[int] | None, num_found: int
    ) -> float | None:
        """Solr's ``maxScore``, given whenever ``fl`` asks for scores: the best score among all hits
        (0.0 when none); queries that do not rank score a constant 1.0."""
        if not self.request.fl.score:
            return None
        if scores is None:
            return 1.0 if num_found else 0.0
        if hits is None:
            return float(max(scores.values(), default=0.0))
        return float(max((scores[rid] for rid in hits), default=0.0))

    def _facets(
        self,
        main: Compiled,
        filters: list[tuple[tuple[str, ...], Compiled]],
        scores: dict[int, float] | None,
        hits: list[int] | None,
    ) -> tuple[dict[str, list[tuple[str, int]]], dict[str, int]]:
        request = self.request
        facets: dict[str, list[tuple[str, int]]] = {}
        for facet in request.facet_fields:
            self.check_time()
            facets[facet.key] = self._facet(
                facet, self._excluding(facet.exclude_tags, main, filters, scores, hits)
            )
        facet_queries: dict[str, int] = {}
        for query in request.facet_queries:
            self.check_time()
            _, compiled = self.compile(query.text, "facet.query")
            facet_queries[query.key] = self._count_within(
                self._excluding(query.exclude_tags, main, filters, scores, hits), compiled
            )
        return facets, facet_queries

    def _excluding(
        self,
        exclude_tags: Sequence[str],
        main: Compiled,
        filters: list[tuple[tuple[str, ...], Compiled]],
        scores: dict[int, float] | None,
        hits: list[int] | None,
    ) -> list[int] | None:
        """The hits without the filters tagged with one of ``exclude_tags`` (``{!ex=…}``), and without
        the main query when its tag is excluded (Solr's ``SimpleFacets.computeDocSet``)."""
        excluded = set(exclude_tags)
        if excluded & set(self.main_tags):
            kept = [f for tags, f in filters if not set(tags) & excluded]
            return self._hits(CAll(), kept, None)
        if excluded and any(set(tags) & excluded for tags, _ in filters):
            kept = [f for tags, f in filters if not set(tags) & excluded]
            return self._hits(main, kept, scores)
        return hits

    # --- the matching set ----------------------------------------------------------------------
    def _hits(
        self, main: Compiled, filters: list[Compiled], scores: dict[int, float] | None = None
    ) -> list[int] | None:
        """The matching rids in index order, or None when every document matches. ``scores``: the
        main query's scored matches when it was ranked (its matching set, already computed)."""
        parts = [c for c in filters if not isinstance(c, CAll)]
        if isinstance(main, CAll) and not parts and scores is None:
            return None

        def compute() -> HitList:
            if isinstance(main, CAll) and scores is None and len(parts) == 1:
                held = self._held(parts[0])
                if held is not None:  # one fq on a facet value: its rids and bitmap as they are
                    result = HitList(held[0])
                    result._bits = held[1]
                    return result
            rest = list(parts)
            if scores is not None:
                if not rest:  # the scored matches as they are (no set between: ~1 ms at 30,000)
                    return HitList(sorted(scores))
                matching = set(scores)
            elif isinstance(main, CAll):
                matching = self.matching(rest.pop(0))
            else:
                matching = self.matching(main)
            for part in rest:
                matching &= self.matching(part)
            return HitList(sorted(matching))

        return self.columns.remember(("hits", main, tuple(parts), scores is not None), compute)

    def _held(self, node: Compiled) -> tuple[list[int], int] | None:
        if isinstance(node, CExact) and isinstance(node.value, str):
            return self.columns.holders(node.field, node.value)
        return None

    # --- relevance -----------------------------------------------------------------------------
    def _led(
        self, main: Compiled, sort: list[tuple[str, bool]]
    ) -> tuple[int, float | None, list[dict[str, Any]]] | None:
        """numFound, maxScore and the page of a ranked one-term query from the term's leaders list
        (:func:`_write_leaders`), without scoring its matches: when the query is one term searched on
        every column it is in, unboosted, sorted by score descending only, without ``fq``, facets,
        stats or a cursor, and its page ends within the list. None otherwise (scored in full)."""
        request = self.request
        if (
            not isinstance(main, CText)
            or main.prefix
            or main.boost != 1.0
            or request.rows <= 0
            or request.facet
            or request.stats is not None
            or request.json_facets is not None
            or request.cursor is not None
            or sort not in ([], [("score", False)])
            or not self._ranked(main, sort)
        ):
            return None
        columns, tokens = self._text_target(main)
        if len(tokens) != 1 or not tokens[0] or not _all_columns(tokens[0], columns):
            return None
        if not self.columns.has_leaders(self.conn):
            return None
        row = self.conn.execute(
            self.p.sql("SELECT matches, top FROM {leaders} WHERE term = ?"), (tokens[0],)
        ).fetchone()
        if row is None:
            return None
        matches, data = row
        rids, values = _unpack_leaders(data)
        end = request.start + request.rows
        if end > len(rids) and matches > len(rids):
            return None
        scores = dict(zip(rids, values))
        max_score = (float(values[0]) if values else 0.0) if request.fl.score else None
        return matches, max_score, self._fetch(list(rids[request.start : end]), scores)

    def _ranked(self, main: Compiled, sort: list[tuple[str, bool]]) -> bool:
        """Scores are computed only when asked for: the main query has a scoring text clause,
        documents or ``maxScore`` are asked for (facet counts need no order) and ``sort`` names
        ``score`` or ``fl`` asks for it. Otherwise the order is the index order and the matching
        sets stay plain sets. Unlike Solr, an unsorted text query is not ranked by default:
        scoring every match of a common term costs ~15 ms at 100,000 documents (more for
        phrases), which the facet browsing portals do most need not pay."""
        wanted = self.request.fl.score or any(name == "score" for name, _ in sort)
        return (self.request.rows > 0 or self.request.fl.score) and wanted and _scores_text(main)

    def scored(self, node: Compiled) -> dict[int, float]:
        """rid → score of the documents matching ``node``, combined like Lucene's BooleanQuery: the
        sum of the scores of the matching MUST and SHOULD clauses; MUST_NOT clauses only exclude.
        A text leaf scores with FTS5's ``bm25()`` (negated: FTS5 gives better matches more negative
        values); any other leaf (exact values, ranges, prefixes, ``*:*``) scores a constant 1.0,
        as Solr's constant-score queries do. Boosts (``^n`` on text clauses and groups) multiply.
        Leaves are evaluated by :meth:`matching`'s SQL."""
        self.check_time()
        if isinstance(node, CBool):
            must = [self.scored(part) for part in node.must]
            should = [self.scored(part) for part in node.should]
            if must:
                keys = set(must[0])
                for part in must[1:]:
                    keys &= part.keys()
            else:
                keys = set().union(*should)
            if node.min_should > 0:
                keys = {rid for rid in keys if sum(rid in part for part in should) >= node.min_should}
            for part in node.must_not:
                if not keys:
                    break
                keys -= self.matching(part)
            if node.tie is not None:  # a DisjunctionMaxQuery (no must clauses)
                tie = node.tie
                result = {}
                for rid in keys:
                    found = [part[rid] for part in should if rid in part]
                    best = max(found)
                    result[rid] = node.boost * (best + tie * (sum(found) - best))
                return result
            return {
                rid: node.boost
                * (sum(part[rid] for part in must) + sum(part.get(rid, 0.0) for part in should))
                for rid in keys
            }
        if isinstance(node, CText) and not node.prefix:
            found = self._term_scores(node)
            if found is None:
                statement, args = self._text_sql(node, scored=True)
                found = dict(self.conn.execute(statement, args))
            if node.boost == 1.0:
                return found
            return {rid: node.boost * score for rid, score in found.items()}
        return dict.fromkeys(self.matching(node), 1.0)

    def _term_scores(self, node: CText) -> dict[int, float] | None:
        """``-bm25()`` of every match of a one-term text clause, as FTS5 computes it, without calling
        ``bm25()`` per match (~1.3 µs each: a docsize lookup and the term's IDF scan per query): the
        term's instances come from an ``fts5vocab`` table in one string, and each match's score
        is FTS5's formula on its frequency in the columns searched and its row length
        (:meth:`_Columns.bm25_norms`), computed once per distinct (frequency, length). The same
        floating-point operations in the same order as fts5_aux.c: equal to ``bm25()`` to the bit
        (tests/unit/provision/test_ranking.py checks it). None for phrases and for a term not in
        the index (``bm25()`` answers those: FTS5's own tokenizer then decides what matches)."""
        columns, tokens = self._text_target(node)
        if len(tokens) != 1 or not tokens[0]:
            return None
        term = tokens[0]
        vocab = _instance_vocab(self.conn, self.p)
        # a marked token is only ever in dynf, any other in every column but dynf: filter on the
        # columns only when the clause searches fewer than those
        if _all_columns(term, columns):
            statement = self.p.sql("SELECT group_concat(doc) FROM temp.{vocab} WHERE term = ?", vocab=vocab)
            args = [term]
        else:
            statement = self.p.sql(
                "SELECT group_concat(doc) FROM temp.{vocab} WHERE term = ? AND col IN ({columns})",
                vocab=vocab,
                columns=marks(len(columns)),
            )
            args = [term, *columns]
        found = self.conn.execute(statement, args).fetchone()[0]
        if not found:
            return None
        return _bm25_scores(found, self.columns.bm25_norms(self.conn))

    def matching(self, node: Compiled) -> set[int]:
        """The rids matching ``node``: each leaf is one SQL query; boolean structure is set algebra
        here, cheaper than SQLite's compound SELECTs (a temporary B-tree each) for large sets."""
        self.check_time()
        if isinstance(node, CBool):
            if node.must:
                result = self.matching(node.must[0])
                for part in node.must[1:]:
                    if not result:
                        break
                    result &= self.matching(part)
            else:
                result = set()
                if node.min_should <= 1:
                    for part in node.should:
                        result |= self.matching(part)
            if node.min_should > (0 if node.must else 1):  # Lucene's minimumNumberShouldMatch
                counts: Counter[int] = Counter()
                for part in node.should:
                    counts.update(self.matching(part))
                enough = {rid for rid, n in counts.items() if n >= node.min_should}
                result = result & enough if node.must else enough
            for part in node.must_not:
                if not result:
                    break
                result -= self.matching(part)
            return result
        if isinstance(node, CAll):
            return set(self.columns.all_rids(self.conn))
        if isinstance(node, CNone):
            return set()
        if isinstance(node, CDateRange):
            return self._date_range(node)
        if isinstance(node, CExact) and isinstance(node.value, str):
            held = self.columns.holders(node.field, node.value)
            if held is not None:
                return set(held[0])
        sql, args = self.sql(node)
        return {rid for (rid,) in self.conn.execute(sql, args)}

    def _date_range(self, node: CDateRange) -> set[int]:
        starts, ends, rids = self.columns.date_ranges(self.conn, node.field)
        if node.op == "Within":  # node.lo <= start and end <= node.hi
            first, last = bisect.bisect_left(starts, node.lo), bisect.bisect_right(starts, node.hi)
            return {rids[i] for i in range(first, last) if ends[i] <= node.hi}
        if node.op == "Contains":  # start <= node.lo and end >= node.hi
            last = bisect.bisect_right(starts, node.lo)
            return {rid for end, rid in zip(ends[:last], rids[:last], strict=True) if end >= node.hi}
        last = bisect.bisect_right(starts, node.hi)  # Intersects: start <= node.hi and end >= node.lo
        return {rid for end, rid in zip(ends[:last], rids[:last], strict=True) if end >= node.lo}

    def _count(self, hits: list[int] | None) -> int:
        if hits is not None:
            return len(hits)
        return self.conn.execute(self.p.sql("SELECT count(*) FROM {docs}")).fetchone()[0]

    def _count_within(self, hits: list[int] | None, compiled: Compiled) -> int:
        matching = self.matching(compiled)
        if hits is None:
            return len(matching)
        return len(matching.intersection(hits))

    def sql(self, node: Compiled) -> tuple[str, list[Any]]:
        """A SELECT of the rids matching a leaf ``node`` (boolean nodes go through :meth:`matching`)."""
        p = self.p
        if isinstance(node, CAll):
            return p.sql("SELECT rid FROM {docs}"), []
        if isinstance(node, CNone):
            return p.sql("SELECT rid FROM {docs} WHERE 0"), []
        if isinstance(node, CExact):
            return p.sql("SELECT rid FROM {terms} WHERE field = ? AND value = ?"), [node.field, node.value]
        if isinstance(node, CExactPrefix):
            return (
                p.sql("SELECT rid FROM {terms} WHERE field = ? AND value >= ? AND value < ?"),
                [node.field, node.prefix, node.prefix + "\U0010ffff"],
            )
        if isinstance(node, CExactRange):
            return self._range_sql(node)
        if isinstance(node, CDateRange):
            condition = {
                "Intersects": Sql("lo <= ? AND hi >= ?"),
                "Within": Sql("lo >= ? AND hi <= ?"),
                "Contains": Sql("lo <= ? AND hi >= ?"),
            }[node.op]
            bounds = {
                "Intersects": [node.hi, node.lo],
                "Within": [node.lo, node.hi],
                "Contains": [node.lo, node.hi],
            }[node.op]
            sql = p.sql("SELECT rid FROM {ranges} WHERE field = ? AND {condition}", condition=condition)
            return sql, [node.field, *bounds]
        if isinstance(node, CExists):
            condition = Sql(" OR ").join(
                Sql("json_type(cc_stored(stored), ?) IS NOT NULL") for _ in node.fields
            )
            sql = p.sql("SELECT rid FROM {docs} WHERE {condition}", condition=condition)
            return sql, [f'$."{name}"' for name in node.fields]
        if isinstance(node, CText):
            return self._text_sql(node)
        raise AssertionError(node)

    def _range_sql(self, node: CExactRange) -> tuple[str, list[Any]]:
        conditions, args = [Sql("field = ?")], [node.field]
        if node.lo is not None:
            conditions.append(Sql("value >= ?" if node.lo_incl else "value > ?"))
            args.append(node.lo)
        if node.hi is not None:
            conditions.append(Sql("value <= ?" if node.hi_incl else "value < ?"))
            args.append(node.hi)
        return self.p.sql(
            "SELECT rid FROM {terms} WHERE {conditions}", conditions=Sql(" AND ").join(conditions)
        ), args

    _SAFE_PREFIX = re.compile(r"^[\w'.,:;\u00b7\u0300-\u036f]+$")

    @staticmethod
    def _text_target(node: CText) -> tuple[list[str], list[str]]:
        """The FTS5 columns a text clause searches (its field's and those copied into it) and its
        tokens as they are in the index."""
        queried = node.fields[0]
        if queried in TEXT_COLUMNS:
            columns = [f for f in node.fields if f in TEXT_COLUMNS]
            if queried == "text":
                columns.append("dyn")  # every dynamic text field is copied into text
            return columns, list(node.tokens)
        # a dynamic field: its own, field-marked tokens
        return ["dynf"], [f"{queried}{FIELD_MARK}{token}" for token in node.tokens]

    def _text_sql(self, node: CText, *, scored: bool = False) -> tuple[str, list[Any]]:
        """An FTS5 match on the columns of the field searched and of the fields copied into it;
        ``scored`` (not for prefixes) adds each row's relevance, ``-bm25()``, as a second column."""
        columns, tokens = self._text_target(node)
        if node.prefix:
            if not tokens[0] or tokens[0].endswith(FIELD_MARK):
                stored = tuple(n for n in node.fields if (lookup(n) or NAMED["text"]).stored)
                return self.sql(CExists(stored)) if stored else self.sql(CNone())
            if not self._SAFE_PREFIX.match(node.tokens[0]):
                return self.sql(CNone())
            phrase = f'"{tokens[0]}" *'
        else:
            phrase = '"' + " ".join(tokens) + '"'
        match = f"{{{' '.join(columns)}}} : {phrase}"
        if scored:
            return self.p.sql("SELECT rowid AS rid, -bm25({fts}) FROM {fts} WHERE {fts} MATCH ?"), [match]
        return self.p.sql("SELECT rowid AS rid FROM {fts} WHERE {fts} MATCH ?"), [match]

    # --- documents -----------------------------------------------------------------------------
    def _sort_fields(self) -> list[tuple[str, bool]]:
        """(field, ascending) pairs after checking them as Solr does; ``score`` is kept as a field."""
        result = []
        for spec in self.request.sort:
            if spec.field == "score":
                result.append((spec.field, spec.ascending))
                continue
            function = SORT_FUNCTION.fullmatch(spec.field)
            if function is not None:
                result.append((self._function_sort(spec.field, function[1], function[2]), spec.ascending))
                continue
            if "(" in spec.field:
                raise BadRequest(
                    f"sort={spec.field}: sorting by functions is not supported by the embedded index "
                    "(field(name) and field(name,min|max) only)"
                )
            definition = lookup(spec.field)
            if definition is None:
                raise BadRequest(f"sort param field can't be found: {spec.field}")
            if definition.kind == "date_range":
                raise BadRequest(
                    f"Sorting not supported on SpatialField: {spec.field}, instead try sorting by query."
                )
            if definition.multi and definition.exact:
                # Solr 9 sorts a multivalued docValues field by its least value ascending and its
                # greatest descending (SortedSetSelector MIN/MAX); missing values still sort last
                which = "min" if spec.ascending else "max"
                result.append((f"{spec.field}{_MULTI_SORT}{which}", spec.ascending))
                continue
            if definition.multi:
                raise BadRequest(
                    f"can not sort on multivalued field: {spec.field} of type: {definition.type}"
                )
            if not definition.sortable:
                raise BadRequest(
                    "can not sort on a field w/o docValues unless it is indexed=true "
                    f"uninvertible=true and the type supports Uninversion: {spec.field}"
                )
            result.append((spec.field, spec.ascending))
        return result

    def _function_sort(self, text: str, name: str, which: str | None) -> str:
        """``field(name)`` (single-valued) and ``field(name,min|max)`` (multivalued) as Solr 9 sorts
        them: by the chosen value, a document without one taking the function's value for "none"
        (0 for numbers and dates, false, or below every string) instead of sorting last."""
        definition = lookup(name)
        if definition is None or (definition.multi and which is None) or not definition.exact:
            raise BadRequest(
                "sort param could not be parsed as a query, and is not a field that exists in the index: "
                + text
            )
        if not definition.multi and definition.kind == "string":  # Solr 9 answers 500
            raise BadRequest(f"sort={text} is not supported by the embedded index")
        return f"{name}{_MULTI_SORT}{which or 'min'}{_MULTI_SORT}{definition.kind}"

    def _docs(
        self, hits: list[int] | None, sort: list[tuple[str, bool]], scores: dict[int, float] | None
    ) -> list[dict[str, Any]]:
        """The page: by ``sort`` (``score`` among its fields), by score descending when the query is
        ranked and unsorted, else in index order; every order ends with index order (stable pages)."""
        request = self.request
        end = request.start + request.rows
        if scores is None:  # constant score: sorting on it changes nothing
            sort = [(name, ascending) for name, ascending in sort if name != "score"]
        elif not sort:
            sort = [("score", False)]
        if request.cursor is not None:
            page = self._cursor_page(hits, sort, scores)
        elif not sort:
            if hits is None:
                rows = self.conn.execute(
                    self.p.sql("SELECT rid, stored FROM {docs} ORDER BY rid LIMIT ? OFFSET ?"),
                    (request.rows, request.start),
                ).fetchall()
                return self._render([(rid, stored) for rid, stored in rows], scores)
            page = hits[request.start : end]
        else:
            candidates = hits if hits is not None else self.columns.all_rids(self.conn)
            tops = candidates.tops if isinstance(candidates, HitList) else {}
            top = tops.get((tuple(sort), end))
            if top is None:
                if len(sort) == 1 and sort[0][0] == "score" and scores is not None:
                    top = _top_by_score(candidates, scores, end, ascending=sort[0][1])
                else:
                    top = heapq.nsmallest(end, candidates, key=self._sort_key(sort, scores))
                if len(tops) < 16:
                    tops[(tuple(sort), end)] = top
            page = top[request.start :]
        return self._fetch(page, scores)

    def _fetch(self, page: list[int], scores: dict[int, float] | None) -> list[dict[str, Any]]:
        """The page's documents, read and rendered in its order."""
        if not page:
            return []
        by_rid: dict[int, bytes] = {}
        for chunk in batched(page, 500):
            sql = self.p.sql("SELECT rid, stored FROM {docs} WHERE rid IN ({rids})", rids=marks(len(chunk)))
            by_rid.update(self.conn.execute(sql, chunk))
        return self._render([(rid, by_rid[rid]) for rid in page], scores)

    def _cursor_page(
        self, hits: list[int] | None, sort: list[tuple[str, bool]], scores: dict[int, float] | None
    ) -> list[int]:
        """``cursorMark``: the ``rows`` hits that sort after the mark's values (the sort ends on the
        unique id, so no two documents tie), and the next mark, the page's last sort values (the
        same mark when the page is empty, as Solr)."""
        request = self.request
        if any(name.count(_MULTI_SORT) > 1 for name, _ in sort):
            raise BadRequest("cursorMark with a sort by field() is not supported by the embedded index")
        candidates = hits if hits is not None else self.columns.all_rids(self.conn)
        key = self._sort_key(sort, scores)
        if request.cursor:
            if len(request.cursor) != len(sort):
                raise BadRequest(
                    "Unable to parse 'cursorMark' after totem: value must either be '*' or the "
                    f"'nextCursorMark' returned by a previous search: {request.cursor_text}"
                )
            threshold: list[Any] = []
            for (name, ascending), value in zip(sort, request.cursor, strict=True):
                if value is None:
                    threshold += [True, 0]
                    continue
                if name == "score":
                    position = float(value)
                else:
                    values = self.columns.rank_values(self.conn, name)
                    try:
                        index = bisect.bisect_left(values, value)
                    except TypeError:
                        raise BadRequest(f"cursorMark does not fit sort field {name}") from None
                    position = index if index < len(values) and values[index] == value else index - 0.5
                threshold += [False, position if ascending else -position]
            after = (*threshold, float("inf"))
            candidates = [rid for rid in candidates if key(rid) > after]
        page = heapq.nsmallest(request.rows, candidates, key=key)
        if page:
            last = page[-1]
            marks = []
            for name, _ in sort:
                if name == "score":
                    marks.append(scores[last] if scores is not None else 1.0)
                    continue
                rank = self.columns.ranks(self.conn, name)[last]
                marks.append(None if rank is None else self.columns.rank_values(self.conn, name)[rank])
            self.more["next_cursor_mark"] = encode_cursor(marks)
        return page

    def _sort_key(
        self, sort: list[tuple[str, bool]], scores: dict[int, float] | None = None
    ) -> Callable[[int], Any]:
        """Missing values last in both directions (sortMissingLast), then index order. ``score``
        reads ``scores`` (every hit has one)."""
        if len(sort) == 1 and sort[0][0] == "score" and scores is not None:
            sign = 1 if sort[0][1] else -1
            return lambda rid: (sign * scores[rid], rid)
        columns = [
            (scores if name == "score" else self.columns.ranks(self.conn, name), ascending)
            for name, ascending in sort
        ]
        if len(columns) == 1:
            ranks, ascending = columns[0]
            sign = 1 if ascending else -1
            return lambda rid: (ranks[rid] is None, sign * (ranks[rid] or 0), rid)

        def key(rid: int) -> tuple[Any, ...]:
            parts: list[Any] = []
            for ranks, ascending in columns:
                rank = ranks[rid]
                parts.append(rank is None)
                parts.append(0 if rank is None else (rank if ascending else -rank))
            parts.append(rid)
            return tuple(parts)

        return key

    def _render(
        self, stored_docs: list[tuple[int, bytes]], scores: dict[int, float] | None
    ) -> list[dict[str, Any]]:
        """Stored fields ``fl`` asks for; ``score`` last when asked (1.0 for unranked queries)."""
        fl = self.request.fl
        docs = []
        extra = [(name, lookup(name)) for name in docvalues_only(fl)]
        spec = self.request.highlight
        if spec is not None:
            self.more["highlighting"] = {}
        for rid, stored in stored_docs:
            data = unpack(stored)
            data.pop(_UNSTORED, None)
            if spec is not None:
                self.more["highlighting"][data["id"]] = highlight(spec, self.main, data)
            for name, definition in extra:
                values, ordinals, _ = self.columns.facet(self.conn, name)
                found = [_typed_value(definition, values[o]) for o in ordinals[rid]]  # type: ignore[arg-type]
                if found:
                    data[name] = found if definition.multi else found[0]  # type: ignore[union-attr]
            score = (float(scores[rid]) if scores is not None else 1.0) if fl.score else None
            docs.append(fl.shape(data, score))
        return docs

    # --- facets --------------------------------------------------------------------------------
    def _facet(self, facet: FacetField, hits: list[int] | None) -> list[tuple[str, int]]:
        definition = lookup(facet.field)
        if definition is None:
            raise BadRequest(f"undefined field {facet.field}")
        if not definition.facetable:
            if facet.missing:
                raise BadRequest(
                    f"facet.missing on {facet.field} ({definition.type}) is not supported by the embedded "
                    "index"
                )
            return []
        values, ordinals, _ = self.columns.facet(self.conn, facet.field)
        found: list[tuple[str | None, int]] = [
            (_display_value(definition, values[o]), c) for o, c in self._facet_items(facet, hits)
        ]
        if facet.missing:  # after the limit, whatever the mincount, as Solr
            pool = hits if hits is not None else self.columns.all_rids(self.conn)
            found.append((None, sum(1 for rid in pool if not ordinals[rid])))
        return found  # type: ignore[return-value]

    def _counts(self, name: str, hits: list[int] | None) -> Counter[int] | dict[int, int]:
        """Value ordinal → number of ``hits`` holding it (values no hit holds may be left out). A
        field with few values and a large hit set is counted by bitmaps, else hit by hit."""
        values, ordinals, all_counts = self.columns.facet(self.conn, name)
        if hits is None:
            return all_counts
        if isinstance(hits, HitList) and len(values) <= BITMAP_FACET_VALUES and len(hits) > 4 * len(values):
            bits = hits.bits(self.columns.size)
            return {
                ordinal: count
                for ordinal, holders in enumerate(self.columns.value_bitmaps(self.conn, name))
                if (count := (holders & bits).bit_count())
            }
        return Counter(chain.from_iterable(map(ordinals.__getitem__, hits)))

    def _facet_items(self, facet: FacetField, hits: list[int] | None) -> list[tuple[int, int]]:
        """The (value ordinal, count) pairs a facet gives, in its order, after its offset and limit."""
        definition = lookup(facet.field)
        assert definition is not None
        values, ordinals, all_counts = self.columns.facet(self.conn, facet.field)
        counts = self._counts(facet.field, hits)
        minimum = max(facet.mincount, 1)
        items = [(o, c) for o, c in counts.items() if c >= minimum]
        term_filters = bool(facet.contains or facet.matches is not None or facet.exclude_terms)
        if definition.kind in ("int", "long", "date") and (facet.prefix or term_filters):
            raise BadRequest(  # Solr's words
                "facet.prefix is not supported on numeric types"
                if facet.prefix
                else "BytesRef term filters (facet.matches, facet.contains, facet.excludeTerms) are not "
                "supported on numeric types"
            )
        filtered = bool(facet.prefix or term_filters)
        term = partial(_facet_term, definition)
        if definition.kind == "boolean" and facet.prefix:  # Solr reads the prefix as a boolean: T or F
            facet = replace(facet, prefix="T" if facet.prefix[:1] in ("t", "T", "1") else "F")
        timeout = None if self.deadline is None else max(self.deadline - time.monotonic(), 0.001)

        def accepts(value: str) -> bool:
            try:
                return facet.accepts(value, timeout=timeout)
            except TimeoutError:  # facet.matches ran out of the request's time
                raise _TimeUp from None

        if filtered:
            items = [(o, c) for o, c in items if accepts(term(values[o]))]
        if facet.sort == "count":
            items.sort(key=lambda item: (-item[1], item[0]))
        else:
            items.sort()
        if facet.mincount <= 0:
            zeros = [(o, 0) for o in range(len(values)) if not counts.get(o)]
            if filtered:
                zeros = [(o, c) for o, c in zeros if accepts(term(values[o]))]
            items = items + zeros if facet.sort == "count" else sorted(items + zeros)
        end = None if facet.limit < 0 else facet.offset + facet.limit
        return items[facet.offset : end]

    def _pivot(self, pivot: PivotFacet, hits: list[int] | None, level: int = 0) -> list[dict[str, Any]]:
        """One level of a pivot: each value with its count and, below it, the next level counted
        within that value's documents (left out when it has no values, as Solr)."""
        facet = pivot.levels[level]
        definition = lookup(facet.field)
        assert definition is not None
        values, ordinals, _ = self.columns.facet(self.conn, facet.field)
        result = []
        items = self._facet_items(facet, hits)
        deeper = level + 1 < len(pivot.levels)
        groups = self._groups(ordinals, hits, [o for o, _ in items]) if deeper else {}
        for ordinal, count in items:
            self.check_time()
            entry: dict[str, Any] = {
                "field": facet.field,
                "value": _typed_value(definition, values[ordinal]),
                "count": count,
            }
            if deeper:
                inner = groups[ordinal]
                below = self._pivot(pivot, inner, level + 1)
                if below:
                    entry["pivot"] = below
            result.append(entry)
        return result

    def _groups(
        self, ordinals: list[tuple[int, ...]], hits: list[int] | None, wanted: list[int]
    ) -> dict[int, list[int]]:
        """The hits holding each of the ``wanted`` values (by ordinal), in one pass over the hits:
        the documents a pivot's or a nested facet's next level is counted in."""
        groups: dict[int, list[int]] = {o: [] for o in wanted}
        pool = hits if hits is not None else self.columns.all_rids(self.conn)
        for rid in pool:
            for ordinal in ordinals[rid]:
                group = groups.get(ordinal)
                if group is not None:
                    group.append(rid)
        return groups

    def _range(self, facet: RangeFacet, hits: list[int] | None) -> dict[str, Any]:
        """``facet.range``: each bucket's count, then ``before``/``after``/``between`` when asked
        (their bounds included by Solr's ``include`` rules), in Solr's shape."""
        count = self._range_counter(facet, hits)
        counts = []
        for low, high, lower, upper in facet.buckets:
            self.check_time()
            n = count(low, high, lower, upper)
            if n >= facet.mincount:
                counts.append((range_text(facet, low), n))
        numeric = facet.kind in ("int", "long")
        answer: dict[str, Any] = {"counts": counts, "gap": int(facet.gap) if numeric else facet.gap}
        include, start, end = facet.include, facet.start, facet.reached
        if "before" in facet.other:
            upper = "outer" in include or not ("lower" in include or "edge" in include)
            answer["before"] = count(None, start, False, upper)
        if "after" in facet.other:
            lower = "outer" in include or not ("upper" in include or "edge" in include)
            answer["after"] = count(end, None, lower, False)
        if "between" in facet.other:
            lower = "lower" in include or "edge" in include
            upper = "upper" in include or "edge" in include
            answer["between"] = count(start, end, lower, upper)
        answer["start"] = start if numeric else range_text(facet, start)
        answer["end"] = end if numeric else range_text(facet, end)
        return answer

    def _range_counter(
        self, facet: RangeFacet, hits: list[int] | None
    ) -> Callable[[int | None, int | None, bool, bool], int]:
        """How many hits have a value in a range (None: open). Single-valued points: a bisection over
        the field's sorted values and running counts; a DateRangeField: the hits whose ranges
        intersect it (counted once per document)."""
        if facet.kind == "date_range":
            starts, ends, rids = self.columns.date_ranges(self.conn, facet.field)
            wanted = None if hits is None else set(hits)

            def intersecting(lo: int | None, hi: int | None, lower: bool, upper: bool) -> int:
                lo_ms = analysis.MIN_MS if lo is None else lo + (0 if lower else 1)
                hi_ms = analysis.MAX_MS if hi is None else hi - (0 if upper else 1)
                last = bisect.bisect_right(starts, hi_ms)
                found = {rids[i] for i in range(last) if ends[i] >= lo_ms}
                return len(found if wanted is None else found & wanted)

            return intersecting
        values, ordinals, all_counts = self.columns.facet(self.conn, facet.field)
        if hits is None:
            per_value = [all_counts.get(o, 0) for o in range(len(values))]
        else:
            counted = Counter(chain.from_iterable(map(ordinals.__getitem__, hits)))
            per_value = [counted.get(o, 0) for o in range(len(values))]
        running = [0, *accumulate(per_value)]

        def within(lo: int | None, hi: int | None, lower: bool, upper: bool) -> int:
            first = 0 if lo is None else (bisect.bisect_left if lower else bisect.bisect_right)(values, lo)
            last = (
                len(values)
                if hi is None
                else (bisect.bisect_right if upper else bisect.bisect_left)(values, hi)
            )
            return running[last] - running[first] if last > first else 0

        return within

    def _json_facet(self, facet: JsonFacet, hits: list[int] | None) -> dict[str, Any]:
        """A ``json.facet`` terms or range facet over ``hits``, in Solr's bucket shape."""
        if facet.range is not None:
            answer = self._range(facet.range, hits)
            numeric = facet.range.kind in ("int", "long")
            counts = answer["counts"]
            buckets = [{"val": int(low) if numeric else low, "count": n} for low, n in counts]
            result: dict[str, Any] = {"buckets": buckets}
            for name in ("before", "after", "between"):
                if name in answer:
                    result[name] = {"count": answer[name]}
            return result
        definition = lookup(facet.field)
        assert definition is not None
        values, ordinals, all_counts = self.columns.facet(self.conn, facet.field)
        counts = all_counts if hits is None else Counter(chain.from_iterable(map(ordinals.__getitem__, hits)))
        items = [(o, counts.get(o, 0)) for o in range(len(values))]
        items = [(o, c) for o, c in items if c >= facet.mincount]
        if facet.prefix is not None:
            items = [(o, c) for o, c in items if _facet_term(definition, values[o]).startswith(facet.prefix)]
        by, ascending = facet.sort
        if by == "count":
            items.sort(key=lambda item: (item[1] if ascending else -item[1], item[0]))
        elif not ascending:
            items.reverse()
        end = None if facet.limit < 0 else facet.offset + facet.limit
        buckets = []
        page = items[facet.offset : end]
        groups = self._groups(ordinals, hits, [o for o, _ in page]) if facet.children else {}
        for ordinal, count in page:
            self.check_time()
            bucket: dict[str, Any] = {"val": _typed_value(definition, values[ordinal]), "count": count}
            if facet.children:
                inner = groups[ordinal]
                for child in facet.children:
                    bucket[child.name] = self._json_facet(child, inner)
            buckets.append(bucket)
        return {"buckets": buckets}

    def _stats(self, stats: StatsField, hits: list[int] | None) -> dict[str, Any]:
        """``stats.field``: min, max, count (values), missing (documents without one), and for numbers
        and dates sum, sumOfSquares, mean and stddev accumulated in index order as doubles, as
        Solr's ``StatsValuesFactory`` does."""
        definition = lookup(stats.field)
        if definition is None:
            raise BadRequest(f'undefined field: "{stats.field}"')
        kind = definition.kind
        if kind not in ("string", "int", "long", "date") or not definition.indexed:
            raise BadRequest(f"Field type {definition.type} is not currently supported")
        family = "number" if kind in ("int", "long") else ("date" if kind == "date" else "string")
        values, ordinals, _ = self.columns.facet(self.conn, stats.field)
        pool = hits if hits is not None else self.columns.all_rids(self.conn)
        count = missing = 0
        least = greatest = None
        total = squares = magnitude = 0  # exact: see below
        total_f = squares_f = 0.0  # as Solr adds them: doubles
        for rid in pool:
            found = ordinals[rid]
            if not found:
                missing += 1
                continue
            count += len(found)
            low, high = found[0], found[-1]
            least = low if least is None or low < least else least
            greatest = high if greatest is None or high > greatest else greatest
            if family != "string":
                for ordinal in found:
                    number = values[ordinal]
                    total += number
                    magnitude += abs(number)
                    squares += number * number
                    total_f += float(number)
                    squares_f += float(number) * float(number)
        self.check_time()
        chosen = stats.stats if stats.stats is not None else STATS_DEFAULT[family]
        # Solr adds doubles in its own document order: past 2**53 the rounding depends on that order,
        # so such a sum over more than two values is refused rather than given with other last digits.
        # Below it every partial sum is exact in any order, and the answer is Solr's to the bit.
        for name, exact in (
            ("sum", magnitude),
            ("mean", magnitude),
            ("sumOfSquares", squares),
            ("stddev", squares),
        ):
            if name in chosen and exact > _EXACT_DOUBLE and count > 2:  # two doubles add alike either way
                raise BadRequest(
                    f"stats.field={stats.field}: {name} is not supported by the embedded index when its sums "
                    "pass 2^53 (Solr's rounding then depends on its document order); ask for "
                    "{!min=true max=true count=true missing=true}"
                )

        def shown(ordinal: int | None) -> Any:
            if ordinal is None:
                return None
            value = values[ordinal]
            if family == "number":
                return float(value)
            return analysis.format_instant(value) if family == "date" else value

        every: dict[str, Any] = {
            "min": shown(least),
            "max": shown(greatest),
            "count": count,
            "missing": missing,
        }
        if family != "string":
            every["sum"] = total_f
            every["sumOfSquares"] = squares_f
            if family == "number":
                every["mean"] = total_f / count if count else "NaN"
            else:
                every["mean"] = analysis.format_instant(int(total_f / count)) if count else None
            every["stddev"] = (
                0.0
                if count <= 1
                else math.sqrt(((count * squares_f) - (total_f * total_f)) / (count * (count - 1.0)))
            )
        return {name: every[name] for name in chosen if name in every}


#: the largest integer up to which every integer is exact in a double
_EXACT_DOUBLE = 2**53


def _typed_value(definition: FieldDef, value: Any) -> Any:
    """A value as Solr's pivots give it: numbers as numbers, booleans as booleans, dates as text."""
    if definition.kind == "boolean":
        return value == "true"
    if definition.kind == "date":
        return analysis.format_instant(value)
    return value


def _scores_text(node: Compiled) -> bool:
    """Whether ``node`` has a text clause that scores (not a prefix; not under MUST_NOT)."""
    if isinstance(node, CBool):
        return any(_scores_text(part) for part in chain(node.must, node.should))
    return isinstance(node, CText) and not node.prefix


# ----------------------------------------------------------------------------------- plugin entry


def from_uri(uri: str, *, name: str | None = None, create: bool = True) -> SqliteIndex:
    """``sqlite:///relative/index.sqlite`` or ``sqlite:////absolute/index.sqlite`` (SQLAlchemy's convention,
    as for the MDStore); ``?name=`` or ``name`` picks the index within the file (default ``contentcloud``);
    ``?timeAllowed=`` is the server's time budget per /select in ms (default 10,000; 0: no limit)."""
    rest = uri.split("://", 1)[1] if "://" in uri else ""
    path, _, query = rest.partition("?")
    if not uri.lower().startswith("sqlite://") or not path.startswith("/") or len(path) < 2:
        raise ConfigError(
            f"{uri!r} names no file (sqlite:///relative.sqlite or sqlite:////abs.sqlite)",
            field="index",
            rule="sqlite-path",
        )
    options = parse_qs(query)
    index_name = name or (options.get("name") or [DEFAULT_INDEX_NAME])[0]
    budget_text = (options.get("timeAllowed") or [str(DEFAULT_TIME_ALLOWED_MS)])[0]
    if not budget_text.isdigit():
        raise ConfigError(
            f"{uri!r}: timeAllowed={budget_text} is not a number of milliseconds (0: no limit)",
            field="index",
            rule="sqlite-time-allowed",
        )
    budget = int(budget_text) or None
    return SqliteIndex(unquote(path[1:]), index_name, create=create, time_allowed_ms=budget)
