"""Solr's ``/select`` request parameters and JSON response shape, for the embedded index.

A portal written against Solr talks to the embedded index unchanged: the same parameters
(``q``, ``fq``, ``rows``, ``start``, ``sort``, ``fl``, ``df``, ``q.op``, ``facet``, ``facet.field``
with ``{!ex=… key=…}``, ``facet.limit``, ``facet.mincount``, ``facet.sort``, ``facet.offset``,
``facet.prefix``, ``facet.query``, per-field ``f.<field>.facet.*``, ``wt=json``, ``json.nl``,
``omitHeader``, ``echoParams``), the same response keys, and the same error shape and messages
where Solr's are known. Parameters Solr ignores are ignored; features the embedded index lacks
(``facet.range``, ``facet.pivot``, ``stats``, ``group``, ``hl``, other ``wt``) are refused with
HTTP 400 rather than silently answered differently.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from typing import Any

from provision.index.base import BadRequest, Params
from provision.index.query import split_local_params

_TRUE = {"true", "on", "yes"}
_REFUSED = {
    "facet.range": "facet.range",
    "facet.pivot": "facet.pivot",
    "facet.interval": "facet.interval",
    "facet.heatmap": "facet.heatmap",
    "stats": "stats",
    "group": "grouping",
    "hl": "highlighting",
    "spellcheck": "spellcheck",
    "mlt": "more-like-this",
    "cursorMark": "cursorMark",
    "expand": "expand",
    "json.facet": "JSON facets",
}
_REFUSED_ONLY_IF_TRUE = {"stats", "group", "hl", "spellcheck", "mlt", "expand"}


@dataclass(frozen=True)
class FacetField:
    field: str
    key: str
    exclude_tags: tuple[str, ...]
    limit: int
    mincount: int
    sort: str  # count | index
    offset: int
    prefix: str | None


@dataclass(frozen=True)
class SortSpec:
    field: str
    ascending: bool


@dataclass(frozen=True)
class FieldList:
    """``fl``: names and globs; ``score`` asks for each document's relevance score (``score``, a float)."""

    patterns: tuple[str, ...] = ("*",)
    score: bool = False

    def wants(self, name: str) -> bool:
        return any(
            p == "*" or p == name or (("*" in p or "?" in p) and fnmatch.fnmatchcase(name, p))
            for p in self.patterns
        )


@dataclass
class SelectRequest:
    params: list[tuple[str, str]]
    q: str | None
    filters: list[str]
    rows: int
    start: int
    sort: list[SortSpec]
    fl: FieldList
    df: str
    default_and: bool
    facet: bool
    facet_fields: list[FacetField] = field(default_factory=list)
    facet_queries: list[str] = field(default_factory=list)
    omit_header: bool = False
    echo: str = "explicit"
    json_nl: str = "flat"


def _values(params: Params, key: str) -> list[str]:
    return [v for k, v in params if k == key]


def _first(params: Params, key: str, default: str | None = None) -> str | None:
    values = _values(params, key)
    return values[0] if values else default


def _int(params: Params, key: str, default: int) -> int:
    text = _first(params, key)
    if text is None or text == "":
        return default
    try:
        return int(text.strip())
    except ValueError:
        raise BadRequest(f'For input string: "{text}"') from None


def parse_request(params: Params) -> SelectRequest:
    """Read a ``/select`` request; raises :class:`BadRequest` with Solr's message where Solr has one."""
    params = list(params)
    wt = _first(params, "wt", "json")
    if wt not in ("json", ""):
        raise BadRequest(f"wt={wt} is not supported by the embedded index (json only)")
    for key, what in _REFUSED.items():
        value = _first(params, key)
        if value is None or (key in _REFUSED_ONLY_IF_TRUE and value.lower() not in _TRUE):
            continue
        if key.startswith("facet.") and (_first(params, "facet", "false") or "").lower() not in _TRUE:
            continue
        raise BadRequest(f"{what} ({key}) is not supported by the embedded index")
    rows = _int(params, "rows", 10)
    start = _int(params, "start", 0)
    if rows < 0:
        raise BadRequest("'rows' parameter cannot be negative")
    if start < 0:
        raise BadRequest("'start' parameter cannot be negative")
    q_op = _first(params, "q.op", "OR")
    if q_op not in ("AND", "OR"):
        raise BadRequest(f"q.op={q_op}: expected AND or OR")
    json_nl = _first(params, "json.nl", "flat") or "flat"
    if json_nl not in ("flat", "map"):
        raise BadRequest(f"json.nl={json_nl} is not supported by the embedded index (flat or map)")
    facet = (_first(params, "facet", "false") or "").lower() in _TRUE
    request = SelectRequest(
        params=params,
        q=_first(params, "q"),
        filters=[v for v in _values(params, "fq") if v.strip()],
        rows=rows,
        start=start,
        sort=parse_sort(_first(params, "sort", "") or ""),
        fl=parse_fl(_values(params, "fl")),
        df=_first(params, "df", "text") or "text",
        default_and=q_op == "AND",
        facet=facet,
        omit_header=(_first(params, "omitHeader", "false") or "").lower() in _TRUE,
        echo=_first(params, "echoParams", "explicit") or "explicit",
        json_nl=json_nl,
    )
    if facet:
        request.facet_fields = [_facet_field(params, value) for value in _values(params, "facet.field")]
        request.facet_queries = _values(params, "facet.query")
    return request


def _facet_field(params: Params, value: str) -> FacetField:
    local, name = split_local_params(value, where="facet.field")
    name = name.strip()
    options = local.params if local is not None else {}
    unknown = set(options) - {"ex", "key"}
    if (local is not None and local.type not in (None,)) or unknown:
        raise BadRequest(
            f"facet.field: local parameter(s) {', '.join(sorted(unknown)) or local.type} "
            "are not supported by the embedded index (ex, key)"
        )

    def option(key: str, default: str | None) -> str | None:
        return _first(params, f"f.{name}.facet.{key}", _first(params, f"facet.{key}", default))

    def int_option(key: str, default: int) -> int:
        text = option(key, None)
        try:
            return default if text in (None, "") else int(text)  # type: ignore[arg-type]
        except ValueError:
            raise BadRequest(f'For input string: "{text}"') from None

    limit = int_option("limit", 100)
    sort = option("sort", "count" if limit > 0 else "index") or "count"
    if sort in ("true",):
        sort = "count"
    if sort in ("false",):
        sort = "index"
    if sort not in ("count", "index"):
        raise BadRequest(f"facet.sort={sort}: expected count or index")
    if (option("missing", "false") or "").lower() in _TRUE:
        raise BadRequest("facet.missing is not supported by the embedded index")
    return FacetField(
        field=name,
        key=options.get("key", name),
        exclude_tags=tuple(t for t in re.split(r"[,\s]+", options.get("ex", "")) if t),
        limit=limit,
        mincount=int_option("mincount", 0),
        sort=sort,
        offset=int_option("offset", 0),
        prefix=option("prefix", None),
    )


def parse_sort(text: str) -> list[SortSpec]:
    """``title_sort asc, id desc`` → specs; Solr's message when a direction is missing or wrong."""
    specs: list[SortSpec] = []
    offset = 0
    for clause in text.split(","):
        parts = clause.split()
        if parts:
            name_end = offset + (len(clause) - len(clause.lstrip())) + len(parts[0])
            if len(parts) != 2 or parts[1].lower() not in ("asc", "desc"):
                raise BadRequest(
                    f"Can't determine a Sort Order (asc or desc) in sort spec '{text}', pos={name_end}"
                )
            specs.append(SortSpec(parts[0], parts[1].lower() == "asc"))
        offset += len(clause) + 1
    return specs


def parse_fl(values: list[str]) -> FieldList:
    """``fl``: ``*``, names and globs, comma- or blank-separated; blank or absent means ``*``."""
    patterns: list[str] = []
    asked = score = False
    for value in values:
        for part in re.split(r"[,\s]+", value.strip()):
            if not part:
                continue
            asked = True
            if part == "score":
                score = True
                continue
            if any(c in part for c in "([:") or part.startswith("$"):
                raise BadRequest(
                    f"fl={part}: functions, transformers and aliases are not supported by the "
                    "embedded index (field names and globs only)"
                )
            patterns.append(part)
    return FieldList(tuple(patterns), score) if asked else FieldList()


# ------------------------------------------------------------------------------- responses


def echoed_params(request: SelectRequest) -> dict[str, Any]:
    """``responseHeader.params`` as Solr's ``echoParams=explicit`` gives it."""
    if request.echo == "none":
        return {}
    echoed: dict[str, Any] = {}
    for key, value in request.params:
        if key in echoed:
            previous = echoed[key]
            echoed[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            echoed[key] = value
    return echoed


def response(
    request: SelectRequest,
    *,
    num_found: int,
    docs: list[dict[str, Any]],
    facet_fields: dict[str, list[tuple[str, int]]] | None,
    facet_queries: dict[str, int] | None,
    qtime_ms: int,
) -> dict[str, Any]:
    """A ``/select`` answer in Solr's JSON shape."""
    body: dict[str, Any] = {}
    if not request.omit_header:
        header: dict[str, Any] = {"status": 0, "QTime": qtime_ms}
        params = echoed_params(request)
        if params or request.echo != "none":
            header["params"] = params
        body["responseHeader"] = header
    body["response"] = {"numFound": num_found, "start": request.start, "numFoundExact": True, "docs": docs}
    if request.facet:
        fields: dict[str, Any] = {}
        for key, counts in (facet_fields or {}).items():
            if request.json_nl == "map":
                fields[key] = dict(counts)
            else:
                fields[key] = [item for pair in counts for item in pair]
        body["facet_counts"] = {
            "facet_queries": facet_queries or {},
            "facet_fields": fields,
            "facet_ranges": {},
            "facet_intervals": {},
            "facet_heatmaps": {},
        }
    return body


def error_response(
    status: int, message: str, *, params: Params = (), error_class: str | None = None
) -> dict[str, Any]:
    """An error in Solr's JSON shape (``responseHeader`` with the status, ``error`` with msg and code)."""
    error_class = error_class or "org.apache.solr.common.SolrException"
    echoed: dict[str, Any] = {}
    for key, value in params:
        echoed[key] = (
            [*echoed[key], value]
            if isinstance(echoed.get(key), list)
            else ([echoed[key], value] if key in echoed else value)
        )
    return {
        "responseHeader": {"status": status, "QTime": 0, "params": echoed},
        "error": {
            "metadata": ["error-class", error_class, "root-error-class", error_class],
            "msg": message,
            "code": status,
        },
    }
