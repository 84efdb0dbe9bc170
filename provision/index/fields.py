"""The catalogue schema as the embedded index sees it: ``schemas/solr/conf/schema.xml`` in Python.

Named fields, dynamic suffixes and copy rules mirror the Solr schema one for one, so the embedded
index accepts, refuses, searches, sorts and facets the same documents the same way. A unit test
(``tests/unit/provision/test_fields.py``) parses ``schema.xml`` and fails when the two drift apart.

What this module must not do: know about SQLite or Solr; it only answers "what is field X".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Literal

#: the field kinds of the schema's field types (string, text_general, pint, plong, pdate, boolean,
#: date_range, sort_text, stored_only)
Kind = Literal["string", "text", "int", "long", "date", "boolean", "date_range", "sort_text", "stored_only"]

#: field type name in schema.xml → kind
TYPE_KINDS: dict[str, Kind] = {
    "string": "string",
    "text_general": "text",
    "pint": "int",
    "plong": "long",
    "pdate": "date",
    "boolean": "boolean",
    "date_range": "date_range",
    "sort_text": "sort_text",
    "stored_only": "stored_only",
}
_DOCVALUE_KINDS = frozenset({"string", "int", "long", "date", "boolean", "sort_text"})
_EXACT_KINDS = frozenset({"string", "int", "long", "date", "boolean"})


@dataclass(frozen=True, slots=True)
class FieldDef:
    """One field (or dynamic-field pattern) of the schema.

    ``kind``, ``exact`` (matched on its whole value, no analysis: strings, numbers, dates, booleans)
    and ``sortable`` (Solr sorts on single-valued docValues fields only) are derived once: the
    embedded index asks them for every value it indexes.
    """

    name: str
    type: str  # the schema.xml field type name
    multi: bool = False
    stored: bool = True
    indexed: bool = True
    required: bool = False
    kind: Kind = field(init=False, compare=False)
    exact: bool = field(init=False, compare=False)
    sortable: bool = field(init=False, compare=False)

    def __post_init__(self) -> None:
        kind = TYPE_KINDS[self.type]
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "exact", kind in _EXACT_KINDS and self.indexed)
        object.__setattr__(self, "sortable", not self.multi and kind in _DOCVALUE_KINDS)

    @property
    def facetable(self) -> bool:
        return self.exact

    def named(self, name: str) -> FieldDef:
        """This definition under a concrete name (for dynamic fields)."""
        return FieldDef(name, self.type, self.multi, self.stored, self.indexed, self.required)


def _f(
    name: str,
    type_: str,
    *,
    multi: bool = False,
    stored: bool = True,
    indexed: bool = True,
    required: bool = False,
) -> FieldDef:
    return FieldDef(name, type_, multi, stored, indexed, required)


UNIQUE_KEY = "id"

#: named fields, in schema.xml order
NAMED: dict[str, FieldDef] = {
    f.name: f
    for f in [
        _f("id", "string", required=True),
        _f("_version_", "plong", indexed=False, stored=False),
        _f("datasource", "string", required=True),
        _f("provider", "string"),
        _f("original_id", "string"),
        _f("record_id", "string"),
        _f("mdstore_version", "string"),
        _f("indexed_at", "pdate"),
        _f("landing_url", "string", multi=True),
        _f("uri", "string"),
        _f("doc_type", "string"),
        _f("index_state", "stored_only", indexed=False),
        _f("entity_type", "string", multi=True),
        _f("entity_type_label", "string", multi=True),
        _f("title", "text_general"),
        _f("title_sort", "sort_text", indexed=False, stored=False),
        _f("label", "text_general", multi=True),
        _f("description", "text_general", multi=True),
        _f("subject", "text_general", multi=True),
        _f("keyword", "text_general", multi=True),
        _f("actor", "text_general", multi=True),
        _f("place", "text_general", multi=True),
        _f("subject_facet", "string", multi=True, stored=False),
        _f("actor_facet", "string", multi=True, stored=False),
        _f("place_facet", "string", multi=True, stored=False),
        _f("language", "string", multi=True),
        _f("rights", "string", multi=True),
        _f("time_span", "date_range", multi=True),
        _f("rdf", "stored_only", indexed=False),
        _f("text", "text_general", multi=True, stored=False),
    ]
}

#: dynamic fields: (suffix, definition); like Solr, the longest matching pattern wins
DYNAMIC: tuple[tuple[str, FieldDef], ...] = (
    ("_s", _f("*_s", "string")),
    ("_ss", _f("*_ss", "string", multi=True)),
    ("_t", _f("*_t", "text_general")),
    ("_txt", _f("*_txt", "text_general", multi=True)),
    ("_dt", _f("*_dt", "pdate")),
    ("_i", _f("*_i", "pint")),
    ("_l", _f("*_l", "plong")),
    ("_b", _f("*_b", "boolean")),
    ("_dr", _f("*_dr", "date_range", multi=True)),
)

#: copyField rules (source pattern, destination), in schema.xml order
COPY_FIELDS: tuple[tuple[str, str], ...] = (
    ("title", "title_sort"),
    ("subject", "subject_facet"),
    ("actor", "actor_facet"),
    ("place", "place_facet"),
    ("title", "text"),
    ("label", "text"),
    ("description", "text"),
    ("subject", "text"),
    ("keyword", "text"),
    ("actor", "text"),
    ("place", "text"),
    ("entity_type_label", "text"),
    ("*_t", "text"),
    ("*_txt", "text"),
)

#: the field searched when a query names none (solrconfig.xml: ``df``)
DEFAULT_FIELD = "text"

#: the id prefix and doc_type of the feeder's per-datasource state documents
STATE_ID_PREFIX = "_index_state::"
STATE_DOC_TYPE = "index_state"


@cache
def lookup(name: str) -> FieldDef | None:
    """The definition of field ``name`` (named or dynamic), or None when the schema has none."""
    if name in NAMED:
        return NAMED[name]
    best: FieldDef | None = None
    best_len = -1
    for suffix, definition in DYNAMIC:
        if name.endswith(suffix) and len(name) > len(suffix) and len(suffix) > best_len:
            best, best_len = definition.named(name), len(suffix)
    return best


def _matches(pattern: str, name: str) -> bool:
    if pattern.startswith("*"):
        return name.endswith(pattern[1:])
    return pattern == name


@cache
def copy_targets(name: str) -> tuple[str, ...]:
    """Where a value of field ``name`` is copied (``title`` → ``title_sort``, ``text``)."""
    return tuple(dest for source, dest in COPY_FIELDS if _matches(source, name))
