"""Solr's ``/select`` request parameters and JSON response shape, for the embedded index.

A portal written against Solr talks to the embedded index unchanged: the same parameters
(``q``, ``fq``, ``rows``, ``start``, ``sort``, ``fl``, ``df``, ``q.op``, ``facet``, ``facet.field``
with ``{!ex=… key=…}``, ``facet.limit``, ``facet.mincount``, ``facet.sort``, ``facet.offset``,
``facet.prefix``, ``facet.contains``, ``facet.matches``, ``facet.excludeTerms``, ``facet.query``,
``facet.range``, ``facet.pivot``, ``stats``, ``cursorMark``, ``hl``, ``json.facet``, per-field
``f.<field>.facet.*``, ``timeAllowed``, ``wt=json``, ``json.nl``, ``omitHeader``, ``echoParams``),
the same response keys, and the same error shape and messages where Solr's are known.

The rule: every parameter is either implemented with Solr's meaning (:data:`SUPPORTED`), has no
effect on Solr's answer either (:data:`NO_EFFECT`: tuning hints), or is refused with HTTP 400
naming it (:data:`UNSUPPORTED`: ``hl``, ``debug``, ``group``, JSON facets, other query
parsers…), so that the embedded index never answers a request differently from
Solr while saying 200. Names in none of these lists are ignored, as Solr ignores names it does not
know.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import json
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import regex

from provision.index.analysis import InvalidValue, format_instant, parse_instant
from provision.index.base import BadRequest, Params
from provision.index.fields import lookup
from provision.index.highlight import HL_PARAMS, Highlight, parse_highlight
from provision.index.query import DISMAX_UNSUPPORTED, DismaxParams, split_local_params

_TRUE = {"true", "on", "yes"}
_FALSE = {"false", "off", "no"}

#: Every ``/select`` parameter the embedded index implements with Solr's meaning. ``facet.*`` ones
#: (and their per-field ``f.<field>.facet.*`` forms) only count when ``facet`` is true, as in Solr.
SUPPORTED = frozenset(
    {
        "q", "fq", "rows", "start", "sort", "fl", "df", "q.op", "defType", "wt", "json.nl",
        "omitHeader", "echoParams", "indent", "timeAllowed", "json",
        "facet", "facet.field", "facet.query", "facet.limit", "facet.mincount", "facet.sort",
        "facet.offset", "facet.prefix", "facet.missing", "facet.contains", "facet.contains.ignoreCase",
        "facet.matches", "facet.excludeTerms",
        "facet.range", "facet.range.start", "facet.range.end", "facet.range.gap", "facet.range.hardend",
        "facet.range.other", "facet.range.include", "facet.pivot", "facet.pivot.mincount",
        "stats", "stats.field", "cursorMark", "hl", *HL_PARAMS, "json.facet",
        "debug", "debugQuery",  # false only: see UNSUPPORTED
    }
)  # fmt: skip

#: Parameters that tune how Solr computes an answer but not the answer itself: accepted, no effect.
NO_EFFECT = frozenset(
    {
        "facet.method", "facet.threads", "facet.enum.cache.minDf", "facet.overrequest.count",
        "facet.overrequest.ratio", "cache", "distrib", "preferLocalShards", "qt", "_", "sow",
        "logParamsList", "facet.range.method",
    }
)  # fmt: skip


@dataclass(frozen=True)
class _Refused:
    what: str
    #: refused only when the value is true (Solr's switches: ``hl=false`` is Solr's default anyway)
    when_true: bool = False


#: Solr parameters the embedded index does not implement: a request that uses one is refused with
#: HTTP 400 naming it, never answered as if it were absent. Sub-parameters of a refused component
#: (``hl.fl``, ``group.field``…) change nothing while the component is off, as in Solr.
UNSUPPORTED: dict[str, _Refused] = {
    "facet.interval": _Refused("facet.interval"),
    "facet.heatmap": _Refused("facet.heatmap"),
    "facet.exists": _Refused("facet.exists", when_true=True),
    "stats.facet": _Refused("stats.facet"),
    "stats.calcdistinct": _Refused("stats.calcdistinct", when_true=True),
    "facet.pivot.ranges": _Refused("facet.pivot ranges"),
    "group": _Refused("grouping", when_true=True),
    "spellcheck": _Refused("spellcheck", when_true=True),
    "mlt": _Refused("more-like-this", when_true=True),
    "expand": _Refused("expand", when_true=True),
    "terms": _Refused("the terms component", when_true=True),
    "tv": _Refused("term vectors", when_true=True),
    "debugQuery": _Refused("debugging", when_true=True),
    "debug": _Refused("debugging"),
    "explainOther": _Refused("debugging"),
    "json.wrf": _Refused("JSONP"),
    "rq": _Refused("re-ranking"),
    "NOW": _Refused("a fixed NOW"),
    "TZ": _Refused("time zones in date math"),
    "minExactCount": _Refused("minExactCount"),
    "cpuAllowed": _Refused("cpuAllowed"),
    "memAllowed": _Refused("memAllowed"),
    "partialResults": _Refused("partialResults"),
    "segmentTerminateEarly": _Refused("segmentTerminateEarly", when_true=True),
    "shards": _Refused("distributed search"),
    "collection": _Refused("distributed search"),
    "_route_": _Refused("distributed search"),
    "elevateIds": _Refused("query elevation"),
    "excludeIds": _Refused("query elevation"),
    "forceElevation": _Refused("query elevation", when_true=True),
    "enableElevation": _Refused("query elevation", when_true=True),
}
#: query parsers (``defType``) and what their own parameters are; only ``lucene`` is implemented
QUERY_PARSERS = ("lucene", "dismax", "edismax")
KNOWN_QUERY_PARSERS = frozenset(
    {
        "lucene", "dismax", "edismax", "func", "frange", "field", "prefix", "raw", "term", "terms",
        "boost", "complexphrase", "surround", "switch", "xmlparser", "join", "graph", "geofilt",
        "bbox", "collapse", "rerank", "ltr", "mlt", "knn", "child", "parent", "simple", "maxscore",
        "payload_score", "payload_check", "minhash", "significantTerms", "hash", "filters",
        "bool", "vectorSimilarity",
    }
)  # fmt: skip
_INT_TEXT = re.compile(r"[+-]?[0-9]+")
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1


def check_params(params: Params) -> None:
    """Refuse, with a 400 that names it, every parameter :data:`UNSUPPORTED` lists, and ``defType``
    values other than ``lucene``. Parameters neither supported nor listed are ignored, as Solr
    ignores parameters it does not know."""
    facet = (_first(params, "facet", "false") or "").lower() in _TRUE
    for key, value in params:
        name = key
        if key.startswith("f.") and ".facet." in key:
            name = key[key.index(".facet.") + 1 :]  # f.<field>.facet.contains → facet.contains
        if name.startswith("facet.") and not facet:
            continue
        refused = UNSUPPORTED.get(name)
        if refused is None and name.startswith("json.") and name not in ("json.nl", "json.facet"):
            refused = _Refused("JSON request parameters (json.<key>)")
        if refused is None:
            continue
        if refused.when_true and value.strip().lower() in _FALSE | {""}:
            continue
        raise BadRequest(f"{refused.what} ({key}) is not supported by the embedded index")
    def_type = _first(params, "defType", "lucene") or "lucene"
    if def_type not in QUERY_PARSERS:
        if def_type in KNOWN_QUERY_PARSERS:
            raise BadRequest(
                f"defType={def_type}: the {def_type} query parser is not supported by the embedded "
                "index (lucene, dismax, edismax)"
            )
        raise BadRequest(f"defType={def_type}: invalid query parser '{def_type}'")
    if def_type != "lucene":
        for name in DISMAX_UNSUPPORTED:
            if _first(params, name) is not None:
                raise BadRequest(f"{def_type}'s {name} ({name}) is not supported by the embedded index")


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
    #: ``facet.contains`` (with ``facet.contains.ignoreCase``), ``facet.matches`` (a whole-value
    #: regular expression) and ``facet.excludeTerms``: which values may be counted at all
    contains: str | None = None
    contains_ignore_case: bool = False
    matches: regex.Pattern[str] | None = None
    exclude_terms: frozenset[str] = frozenset()
    #: ``facet.missing``: the count of hits without a value, last, under a null name
    missing: bool = False

    def accepts(self, value: str, *, timeout: float | None = None) -> bool:
        """Whether a facet value passes ``facet.prefix``/``contains``/``matches``/``excludeTerms``.
        ``facet.matches`` runs on the ``regex`` engine, which can stop a pattern that backtracks
        without end (``(a|aa)+$``): past ``timeout`` seconds it raises :class:`TimeoutError`."""
        if self.prefix and not value.startswith(self.prefix):
            return False
        if self.contains:
            if self.contains_ignore_case:
                if self.contains.lower() not in value.lower():
                    return False
            elif self.contains not in value:
                return False
        if self.matches is not None and self.matches.fullmatch(value, timeout=timeout) is None:
            return False
        return value not in self.exclude_terms


def _split_terms(text: str) -> frozenset[str]:
    """``facet.excludeTerms``: comma-separated, ``\\,`` for a comma inside a term (Solr's splitSmart)."""
    terms, current, escaped = [], [], False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ",":
            terms.append("".join(current))
            current = []
        else:
            current.append(char)
    terms.append("".join(current))
    return frozenset(t for t in terms if t)


@dataclass(frozen=True)
class FacetQuery:
    """``facet.query``, with ``{!key=…}`` (its name in the answer; else the whole text, local
    parameters included, as Solr) and ``{!ex=…}`` (filters whose tags it ignores)."""

    text: str
    key: str
    exclude_tags: tuple[str, ...] = ()


def _facet_query(text: str) -> FacetQuery:
    local, _ = split_local_params(text, where="facet.query")
    options = local.params if local is not None else {}
    return FacetQuery(text, options.get("key", text), _tags(options.get("ex", "")))


def _tags(text: str) -> tuple[str, ...]:
    return tuple(t for t in re.split(r"[,\s]+", text) if t)


@dataclass(frozen=True)
class SortSpec:
    field: str
    ascending: bool


@dataclass(frozen=True)
class FieldList:
    """``fl``: names and globs; ``score`` asks for each document's relevance score (``score``, a float).
    ``renames``: ``alias:field`` pairs (``t:title``), in request order; ``score`` may be renamed too."""

    patterns: tuple[str, ...] = ("*",)
    score: bool = False
    renames: tuple[tuple[str, str], ...] = ()
    #: ``score`` is asked for under its own name (not only through an alias)
    plain_score: bool = True

    def wants(self, name: str) -> bool:
        return any(
            p == "*" or p == name or (("*" in p or "?" in p) and fnmatch.fnmatchcase(name, p))
            for p in self.patterns
        )

    def shape(self, doc: dict[str, Any], score: float | None) -> dict[str, Any]:
        """A stored document as ``fl`` returns it, Solr's ``SolrReturnFields`` rule for aliases: the
        value of ``field`` goes under ``alias``; the field itself stays only when ``fl`` names it
        plainly (a glob or ``*`` does not keep it: ``fl=*,t:title`` has ``t`` and no ``title``)."""
        shaped = {k: v for k, v in doc.items() if self.wants(k)}
        if self.score and self.plain_score and score is not None:
            shaped["score"] = score
        if not self.renames:
            return shaped
        values = {**doc, "score": score} if score is not None else doc
        for _alias, name in self.renames:
            if name in self.patterns or (name == "score" and self.plain_score):
                continue
            shaped.pop(name, None)
        for alias, name in self.renames:
            if name in values and values[name] is not None:
                shaped[alias] = values[name]
        return shaped


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
    facet_queries: list[FacetQuery] = field(default_factory=list)
    facet_ranges: list[RangeFacet] = field(default_factory=list)
    facet_pivots: list[PivotFacet] = field(default_factory=list)
    #: ``stats=true``: the ``stats.field`` values (None: stats off)
    stats: list[StatsField] | None = None
    omit_header: bool = False
    echo: str = "explicit"
    json_nl: str = "flat"
    #: ``defType`` (lucene, dismax or edismax) and, for the latter two, their parameters and ``q.alt``
    def_type: str = "lucene"
    dismax: DismaxParams = field(default_factory=DismaxParams)
    q_alt: str | None = None
    #: ``timeAllowed``: the request's time budget in ms (None: only the index's own budget)
    time_allowed_ms: int | None = None
    #: ``cursorMark``: None when not asked; ``()`` for ``*``; else the sort values of the last
    #: document of the previous page (decoded from the mark this index gave)
    cursor: tuple[Any, ...] | None = None
    cursor_text: str | None = None
    #: ``hl=true``: what to highlight and how (None: off)
    highlight: Highlight | None = None
    #: ``json.facet`` (or the JSON request API's ``facet``): the facets, None when not asked
    json_facets: list[JsonFacet] | None = None


def _values(params: Params, key: str) -> list[str]:
    return [v for k, v in params if k == key]


def _first(params: Params, key: str, default: str | None = None) -> str | None:
    values = _values(params, key)
    return values[0] if values else default


def _int(params: Params, key: str, default: int) -> int:
    text = _first(params, key)
    if text is None or text == "":
        return default
    return _int_value(text)


def _int_value(text: str) -> int:
    """A Java ``int`` as ``Integer.parseInt`` reads it: digits with an optional sign, in 32 bits
    (Solr answers 400 for ``rows=2147483648`` or ``rows= 5``, so the embedded index does too)."""
    if not _INT_TEXT.fullmatch(text) or not _INT_MIN <= int(text) <= _INT_MAX:
        raise BadRequest(f'For input string: "{text}"')
    return int(text)


def parse_request(params: Params) -> SelectRequest:
    """Read a ``/select`` request; raises :class:`BadRequest` with Solr's message where Solr has one."""
    params = list(params)
    wt = _first(params, "wt", "json")
    if wt not in ("json", ""):
        raise BadRequest(f"wt={wt} is not supported by the embedded index (json only)")
    check_params(params)
    explicit = params
    params = with_json_request(params)
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
    echo = _first(params, "echoParams", "explicit") or "explicit"
    if echo not in ("explicit", "none"):
        raise BadRequest(f"echoParams={echo} is not supported by the embedded index (explicit or none)")
    time_allowed = None
    text = _first(params, "timeAllowed")
    if text not in (None, ""):
        if not _INT_TEXT.fullmatch(text) or not -(2**63) <= int(text) < 2**63:  # type: ignore[arg-type]
            raise BadRequest(f'For input string: "{text}"')
        # Solr 9: a negative budget means none; 0 is spent before the query starts
        time_allowed = int(text) if int(text) >= 0 else None  # type: ignore[arg-type]
    request = SelectRequest(
        params=explicit,
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
        echo=echo,
        time_allowed_ms=time_allowed,
        json_nl=json_nl,
        def_type=_first(params, "defType", "lucene") or "lucene",
        dismax=DismaxParams(
            qf=_first(params, "qf"),
            mm=_first(params, "mm"),
            pf=_first(params, "pf"),
            tie=_first(params, "tie"),
        ),
        q_alt=_first(params, "q.alt"),
    )
    request.highlight = parse_highlight(params, df=request.df, def_type=request.def_type)
    json_facet = _first(params, "json.facet")
    if json_facet is not None:
        request.json_facets = parse_json_facets(json_facet)
    cursor = _first(params, "cursorMark")
    if cursor is not None:
        if not any(spec.field == "id" for spec in request.sort):
            raise BadRequest("Cursor functionality requires a sort containing a uniqueKey field tie breaker")
        if start != 0:
            raise BadRequest("Cursor functionality requires start=0")
        request.cursor, request.cursor_text = decode_cursor(cursor), cursor
    if facet:
        request.facet_fields = [_facet_field(params, value) for value in _values(params, "facet.field")]
        request.facet_queries = [_facet_query(text) for text in _values(params, "facet.query")]
        request.facet_ranges = [_range_facet(params, text) for text in _values(params, "facet.range")]
        request.facet_pivots = [_pivot_facet(params, text) for text in _values(params, "facet.pivot")]
    if (_first(params, "stats", "false") or "").lower() in _TRUE:
        request.stats = [_stats_field(text) for text in _values(params, "stats.field")]
    return request


def encode_cursor(values: list[Any]) -> str:
    """A ``nextCursorMark``: the sort values of a page's last document. Not Solr's bytes (Solr's
    marks are its own serialisation), but used the same way: opaque, given back as ``cursorMark``,
    still valid after the index changes (values, not positions)."""
    return base64.urlsafe_b64encode(json.dumps(values, separators=(",", ":")).encode()).decode()


def decode_cursor(text: str) -> tuple[Any, ...]:
    if text == "*":
        return ()
    try:
        values = json.loads(base64.urlsafe_b64decode(text.encode("ascii")).decode())
        if not isinstance(values, list) or not values:
            raise ValueError(text)
        return tuple(values)
    except (ValueError, UnicodeError, binascii.Error):
        raise BadRequest(
            "Unable to parse 'cursorMark' after totem: value must either be '*' or the 'nextCursorMark' "
            f"returned by a previous search: {text}"
        ) from None


#: the JSON request API's keys the embedded index implements, and the parameters they stand for
JSON_KEYS = {"query": "q", "filter": "fq", "limit": "rows", "offset": "start", "sort": "sort", "fields": "fl"}
#: the JSON request API's other keys (Solr's ``JsonQueryConverter``/``RequestUtil``): refused by name
JSON_KEYS_UNSUPPORTED = frozenset({"params", "queries", "debug", "cursorMark"})


def with_json_request(params: Params) -> list[tuple[str, str]]:
    """The parameters with the JSON request API's (``json=``, or a JSON body) folded in as Solr 9
    folds them: ``query`` replaces ``q``, ``limit`` ``rows``, ``offset`` ``start``, ``sort`` ``sort``;
    ``filter`` adds ``fq`` values and ``fields`` adds ``fl`` values. Only plain strings are
    taken as queries (the JSON query DSL is refused), and only these six keys (others are refused
    by name, unknown ones with Solr's message)."""
    bodies = _values(params, "json")
    if not bodies:
        return list(params)
    if len(bodies) > 1:
        raise BadRequest("the JSON request API (json) is supported by the embedded index once per request")
    try:
        request = json.loads(bodies[0])
    except ValueError as exc:
        raise BadRequest(f"json: not JSON ({exc})") from None
    if not isinstance(request, dict):
        raise BadRequest(f"Expected JSON Object but got {type(request).__name__}={bodies[0]}")
    replaced: dict[str, list[str]] = {}
    added: list[tuple[str, str]] = []
    for key, value in request.items():
        if key in JSON_KEYS_UNSUPPORTED:
            raise BadRequest(f"the JSON request API's {key!r} (json) is not supported by the embedded index")
        if key == "facet":
            replaced["json.facet"] = [json.dumps(value)]
            continue
        if key not in JSON_KEYS:
            raise BadRequest(f"Unknown top-level key in JSON request : {key}")
        name = JSON_KEYS[key]
        values = value if isinstance(value, list) and key in ("filter", "fields") else [value]
        texts = [_json_scalar(key, v) for v in values]
        if key in ("filter", "fields"):
            added.extend((name, text) for text in texts)
        else:
            replaced[name] = texts
    merged = [(k, v) for k, v in params if k not in replaced]
    merged.extend((name, text) for name, texts in replaced.items() for text in texts)
    return merged + added


def _json_scalar(key: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    if key in ("limit", "offset") and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)  # checked as a Java int later, as Solr does (2.5 and 2147483648 are 400s)
    raise BadRequest(
        f"the JSON request API's {key!r}: {json.dumps(value)} is not supported by the embedded index "
        "(strings only; no JSON query DSL)"
    )


def _local(value: str, where: str, allowed: set[str]) -> tuple[dict[str, str], str]:
    """Local parameters of a facet or stats value (only ``allowed`` ones) and the field name."""
    local, name = split_local_params(value, where=where)
    options = local.params if local is not None else {}
    unknown = set(options) - allowed
    if (local is not None and local.type not in (None,)) or unknown:
        raise BadRequest(
            f"{where}: local parameter(s) {', '.join(sorted(unknown)) or local.type} "  # type: ignore[union-attr]
            f"are not supported by the embedded index ({', '.join(sorted(allowed))})"
        )
    return options, name.strip()


def _facet_field(params: Params, value: str, *, mincount: int | None = None) -> FacetField:
    options, name = _local(value, "facet.field", {"ex", "key"})

    def option(key: str, default: str | None) -> str | None:
        return _first(params, f"f.{name}.facet.{key}", _first(params, f"facet.{key}", default))

    def int_option(key: str, default: int) -> int:
        text = option(key, None)
        return default if text in (None, "") else _int_value(text)  # type: ignore[arg-type]

    limit = int_option("limit", 100)
    # Solr 9's SimpleFacets: "count" (or the legacy "true") sorts by count, any other value by index
    # ascending (``index desc``, ``count desc`` and typos included, as the test server answered)
    sort = option("sort", "count" if limit > 0 else "index") or "count"
    sort = "count" if sort in ("count", "true") else "index"
    matches = option("matches", None)
    pattern = None
    if matches:
        try:
            pattern = regex.compile(matches)
        except regex.error as exc:
            raise BadRequest(f"facet.matches={matches}: not a regular expression ({exc})") from None
    return FacetField(
        field=name,
        key=options.get("key", name),
        exclude_tags=tuple(t for t in re.split(r"[,\s]+", options.get("ex", "")) if t),
        limit=limit,
        mincount=int_option("mincount", 0) if mincount is None else mincount,
        sort=sort,
        offset=int_option("offset", 0),
        prefix=option("prefix", None),
        contains=option("contains", None) or None,
        contains_ignore_case=(option("contains.ignoreCase", "false") or "").lower() in _TRUE,
        matches=pattern,
        exclude_terms=_split_terms(option("excludeTerms", "") or ""),
        missing=(option("missing", "false") or "").lower() in _TRUE,
    )


@dataclass(frozen=True)
class RangeFacet:
    """``facet.range`` on a date, number or DateRangeField: buckets from ``start`` by ``gap`` to
    ``end`` (:func:`range_buckets`), with Solr's ``hardend``, ``other`` and ``include``."""

    field: str
    key: str
    exclude_tags: tuple[str, ...]
    kind: str  # int | long | date | date_range
    start: int
    end: int
    gap: str  # as given (``+1MONTH``, ``25``)
    hardend: bool
    other: frozenset[str]  # before | after | between
    include: frozenset[str]  # lower | upper | edge | outer
    mincount: int
    #: the buckets (low, high, low included, high included), and the end they reach
    buckets: tuple[tuple[int, int, bool, bool], ...] = ()
    reached: int = 0


#: the most buckets one facet.range may have (Solr has no limit; each bucket is counted)
MAX_RANGE_BUCKETS = 10_000
_RANGE_OTHER = ("before", "after", "between", "none", "all")
_RANGE_INCLUDE = ("lower", "upper", "edge", "outer", "all")


def _range_facet(params: Params, value: str) -> RangeFacet:
    options, name = _local(value, "facet.range", {"ex", "key", "tag"})
    definition = lookup(name)
    if definition is None:
        raise BadRequest(f"undefined field {name}")
    kind = definition.kind
    if kind not in ("int", "long", "date", "date_range") or (definition.multi and kind != "date_range"):
        raise BadRequest(f"Unable to range facet on field:{name}")

    def option(key: str) -> str | None:
        return _first(params, f"f.{name}.facet.range.{key}", _first(params, f"facet.range.{key}"))

    def required(key: str) -> str:
        text = option(key)
        if text is None:
            raise BadRequest(
                f"Missing required parameter: f.{name}.facet.range.{key} (or default: facet.range.{key})"
            )
        return text

    def all_values(key: str) -> list[str]:
        per_field = _values(params, f"f.{name}.facet.range.{key}")
        return per_field or _values(params, f"facet.range.{key}")

    now = datetime.now(UTC)

    def value_of(text: str) -> int:
        if kind in ("date", "date_range"):
            try:
                if text != text.strip():
                    raise InvalidValue(text)
                return parse_instant(text, now=now)
            except InvalidValue:
                raise BadRequest(f"Can't parse value {text} for field: {name}") from None
        if not _INT_TEXT.fullmatch(text) or not _java_range(kind)[0] <= int(text) <= _java_range(kind)[1]:
            raise BadRequest(f"Can't parse value {text} for field: {name}")
        return int(text)

    start, end, gap = value_of(required("start")), value_of(required("end")), required("gap")
    if kind in ("int", "long") and (
        not _INT_TEXT.fullmatch(gap) or not _java_range(kind)[0] <= int(gap) <= _java_range(kind)[1]
    ):
        raise BadRequest(f"Can't parse gap {gap} for field: {name}")
    other: set[str] = set()
    for text in all_values("other"):
        if text.lower() not in _RANGE_OTHER:
            raise BadRequest(f"{text} is not a valid type of 'other' range facet information")
        other.add(text.lower())
    other = set() if "none" in other else ({"before", "after", "between"} if "all" in other else other)
    include: set[str] = set()
    for text in all_values("include"):
        if text.lower() not in _RANGE_INCLUDE:
            raise BadRequest(f"{text} is not a valid type of for range 'include' information")
        include.add(text.lower())
    include = {"lower", "upper", "edge", "outer"} if "all" in include else (include or {"lower"})
    mincount_text = _first(params, f"f.{name}.facet.mincount", _first(params, "facet.mincount", "0"))
    facet = RangeFacet(
        field=name,
        key=options.get("key", name),
        exclude_tags=_tags(options.get("ex", "")),
        kind=kind,
        start=start,
        end=end,
        gap=gap,
        hardend=(option("hardend") or "false").lower() in _TRUE,
        other=frozenset(other),
        include=frozenset(include),
        mincount=_int_value(mincount_text or "0"),
    )
    buckets, reached = range_buckets(facet, now)
    return replace(facet, buckets=tuple(buckets), reached=reached)


def _java_range(kind: str) -> tuple[int, int]:
    return (_INT_MIN, _INT_MAX) if kind == "int" else (-(2**63), 2**63 - 1)


def _add_gap(facet: RangeFacet, low: int, now: datetime) -> int:
    """``low`` plus the gap: date math on dates (``+1MONTH/DAY``), Java arithmetic on numbers (an
    overflow wraps, and Solr then reports a negative gap)."""
    if facet.kind in ("int", "long"):
        bits = 32 if facet.kind == "int" else 64
        total = (low + int(facet.gap)) & ((1 << bits) - 1)
        return total - (1 << bits) if total >= 1 << (bits - 1) else total
    try:
        if facet.gap[:1] not in ("+", "-", "/"):
            raise InvalidValue(facet.gap)
        return parse_instant(format_instant(low) + facet.gap, now=now)
    except (InvalidValue, ValueError):
        raise BadRequest(
            f"Can't add gap {facet.gap} to value {format_instant(low)} for field: {facet.field}"
        ) from None


def range_buckets(facet: RangeFacet, now: datetime) -> tuple[list[tuple[int, int, bool, bool]], int]:
    """Solr's ``RangeFacetRequest.createRanges``: buckets from start by gap while below end; the
    last one ends at ``end`` with ``hardend``, else it moves ``end`` (the reached end is what
    ``after`` and ``between`` use, and what the answer gives as ``end``)."""
    if facet.end < facet.start:
        end, start = range_text(facet, facet.end), range_text(facet, facet.start)
        raise BadRequest(f"range facet 'end' comes before 'start': {end} < {start}")
    include = facet.include
    buckets = []
    low, end = facet.start, facet.end
    while low < end:
        high = _add_gap(facet, low, now)
        if end < high:
            if facet.hardend:
                high = end
            else:
                end = high
        if high < low:
            raise BadRequest("range facet infinite loop (is gap negative? did the math overflow?)")
        if high == low:
            raise BadRequest(
                "range facet infinite loop: gap is either zero, or too small relative start/end and "
                f"caused underflow: {range_text(facet, low)} + {facet.gap} = {range_text(facet, high)}"
            )
        if len(buckets) >= MAX_RANGE_BUCKETS:
            raise BadRequest(
                f"facet.range on {facet.field}: more than {MAX_RANGE_BUCKETS} ranges are not supported by "
                "the embedded index"
            )
        lower = "lower" in include or ("edge" in include and low == facet.start)
        upper = "upper" in include or ("edge" in include and high == end)
        buckets.append((low, high, lower, upper))
        low = high
    return buckets, end


def range_text(facet: RangeFacet, value: int) -> str:
    return format_instant(value) if facet.kind in ("date", "date_range") else str(value)


@dataclass(frozen=True)
class PivotFacet:
    """``facet.pivot=datasource,language``: each level's values counted within its parent value's
    documents; per-level options as ``facet.field`` (``f.<field>.facet.limit``…), minimum count
    ``facet.pivot.mincount`` (default 1; ``facet.mincount`` does not apply, as in Solr)."""

    key: str
    exclude_tags: tuple[str, ...]
    levels: tuple[FacetField, ...]


def _pivot_facet(params: Params, value: str) -> PivotFacet:
    options, names = _local(value, "facet.pivot", {"ex", "key"})
    fields = [n.strip() for n in names.split(",")]
    mincount = _int(params, "facet.pivot.mincount", 1)
    levels = []
    for name in fields:
        definition = lookup(name)
        if definition is None:
            raise BadRequest(f"undefined field {name}")
        if not definition.facetable:
            raise BadRequest(
                f"facet.pivot on field {name} ({definition.type}) is not supported by the embedded index "
                "(fields of exact values only)"
            )
        level = _facet_field(params, name, mincount=mincount)
        if level.missing:
            raise BadRequest("facet.missing with facet.pivot is not supported by the embedded index")
        levels.append(level)
    return PivotFacet(options.get("key", names), _tags(options.get("ex", "")), tuple(levels))


#: the statistics ``stats.field`` gives by default, per kind of field, in Solr's order
STATS_DEFAULT = {
    "number": ("min", "max", "count", "missing", "sum", "sumOfSquares", "mean", "stddev"),
    "date": ("min", "max", "count", "missing", "sum", "mean", "sumOfSquares", "stddev"),
    "string": ("min", "max", "count", "missing"),
}
STATS_SUPPORTED = frozenset({"min", "max", "count", "missing", "sum", "sumOfSquares", "mean", "stddev"})


@dataclass(frozen=True)
class StatsField:
    """``stats.field``: a field's statistics over the hits; ``{!min=true max=true …}`` picks some
    (else Solr's default set for the field's kind), ``{!key=…}`` names it, ``{!ex=…}`` drops tagged
    filters."""

    field: str
    key: str
    exclude_tags: tuple[str, ...]
    stats: tuple[str, ...] | None


def _stats_field(value: str) -> StatsField:
    options, name = _local(
        value,
        "stats.field",
        {
            "ex",
            "key",
            "tag",
            *STATS_SUPPORTED,
            "countDistinct",
            "distinctValues",
            "percentiles",
            "cardinality",
        },
    )
    unsupported = sorted(
        k for k in options if k in ("countDistinct", "distinctValues", "percentiles", "cardinality")
    )
    if unsupported:
        raise BadRequest(f"stats.field: {', '.join(unsupported)} is not supported by the embedded index")
    chosen = tuple(k for k in options if k in STATS_SUPPORTED and options[k].lower() in _TRUE)
    asked = any(k in STATS_SUPPORTED for k in options)
    return StatsField(name, options.get("key", name), _tags(options.get("ex", "")), chosen if asked else None)


#: ``field(name)`` and ``field(name,min|max)`` in a sort: the one sort function the embedded index has
_SORT_FIELD_FUNCTION = re.compile(r"field\(\s*([A-Za-z_][\w.]*)\s*(?:,\s*(min|max)\s*)?\)")
SORT_FUNCTION = re.compile(r"field\(([A-Za-z_][\w.]*)(?:,(min|max))?\)")


def _field_function(match: re.Match[str]) -> str:
    return f"field({match[1]};{match[2]})" if match[2] else f"field({match[1]})"


@dataclass(frozen=True)
class JsonFacet:
    """One ``json.facet`` entry: a ``terms`` facet (``field``, ``limit`` 10, ``offset``, ``mincount``
    1, ``sort`` count or index asc/desc, ``prefix``, nested ``facet``s counted in each bucket) or a
    ``range`` facet (as ``facet.range``: start, end, gap, hardend, other, include; ``mincount`` 0),
    with ``domain.excludeTags``. Other types, aggregations and options are refused by name."""

    name: str
    type: str  # terms | range
    field: str
    exclude_tags: tuple[str, ...] = ()
    limit: int = 10
    offset: int = 0
    mincount: int = 1
    sort: tuple[str, bool] = ("count", False)  # (count | index, ascending)
    prefix: str | None = None
    children: tuple[JsonFacet, ...] = ()
    range: RangeFacet | None = None


_JSON_TERMS_KEYS = {"type", "field", "limit", "offset", "mincount", "sort", "prefix", "facet", "domain"}
_JSON_RANGE_KEYS = {
    "type",
    "field",
    "start",
    "end",
    "gap",
    "hardend",
    "other",
    "include",
    "mincount",
    "domain",
}


def parse_json_facets(text: str) -> list[JsonFacet]:
    try:
        spec = json.loads(text)
    except ValueError as exc:
        raise BadRequest(f"json.facet: not JSON ({exc})") from None
    if not isinstance(spec, dict):
        raise BadRequest(f"json.facet: expected a JSON object, got {text}")
    return [_json_facet(name, value) for name, value in spec.items()]


def _json_facet(name: str, value: Any) -> JsonFacet:
    if not isinstance(value, dict) or value.get("type") not in ("terms", "range"):
        shown = json.dumps(value)
        raise BadRequest(
            f"json.facet {name}: {shown} is not supported by the embedded index (terms and range facets "
            "given as objects; no aggregations, query facets or short forms)"
        )
    kind = value["type"]
    unknown = set(value) - (_JSON_TERMS_KEYS if kind == "terms" else _JSON_RANGE_KEYS)
    if unknown:
        raise BadRequest(
            f"json.facet {name}: {', '.join(sorted(unknown))} is not supported by the embedded index"
        )
    field_name = value.get("field")
    if not isinstance(field_name, str) or lookup(field_name) is None:
        raise BadRequest(f"json.facet {name}: undefined field {field_name}")
    domain = value.get("domain", {})
    if not isinstance(domain, dict) or set(domain) - {"excludeTags"}:
        raise BadRequest(
            f"json.facet {name}: domain {json.dumps(domain)} is not supported (excludeTags only)"
        )
    tags = domain.get("excludeTags", [])
    tags = [tags] if isinstance(tags, str) else tags
    exclude = tuple(t for tag in tags for t in _tags(str(tag)))

    def number(key: str, default: int) -> int:
        raw = value.get(key, default)
        if isinstance(raw, bool) or not isinstance(raw, int | str):
            raise BadRequest(f"json.facet {name}: {key}={json.dumps(raw)} is not an integer")
        return _int_value(str(raw))

    if kind == "range":
        params: list[tuple[str, str]] = [
            ("facet.range", field_name),
            ("facet.mincount", str(number("mincount", 0))),
        ]
        for key in ("start", "end", "gap", "hardend", "other", "include"):
            raw = value.get(key)
            for item in raw if isinstance(raw, list) else ([] if raw is None else [raw]):
                if isinstance(item, bool):
                    item = "true" if item else "false"
                params.append((f"facet.range.{key}", str(item)))
        return JsonFacet(name, kind, field_name, exclude, range=_range_facet(params, field_name))
    definition = lookup(field_name)
    if not definition.facetable:  # type: ignore[union-attr]
        raise BadRequest(f"json.facet {name}: terms of {field_name} are not supported by the embedded index")
    sort_text = value.get("sort", "count desc")
    if isinstance(sort_text, dict) and len(sort_text) == 1:
        sort_text = " ".join(*sort_text.items())
    parts = str(sort_text).split()
    if len(parts) == 1:
        parts.append("desc" if parts[0] == "count" else "asc")
    if len(parts) != 2 or parts[0] not in ("count", "index") or parts[1] not in ("asc", "desc"):
        raise BadRequest(f"json.facet {name}: sort {json.dumps(sort_text)} is not supported (count or index)")
    children = value.get("facet", {})
    if not isinstance(children, dict):
        raise BadRequest(f"json.facet {name}: facet must be an object")
    prefix = value.get("prefix")
    if prefix is not None and definition.kind != "string":  # type: ignore[union-attr]
        raise BadRequest(f"json.facet {name}: prefix on {field_name} is not supported (string fields only)")
    nested = tuple(_json_facet(k, v) for k, v in children.items())
    if any(child.exclude_tags for child in nested):
        raise BadRequest(
            f"json.facet {name}: a domain in a nested facet is not supported by the embedded index"
        )
    return JsonFacet(
        name,
        kind,
        field_name,
        exclude,
        limit=number("limit", 10),
        offset=number("offset", 0),
        mincount=number("mincount", 1),
        sort=(parts[0], parts[1] == "asc"),
        prefix=None if prefix is None else str(prefix),
        children=nested,
    )


def parse_sort(text: str) -> list[SortSpec]:
    """``title_sort asc, id desc`` → specs; Solr's message when a direction is missing or wrong."""
    specs: list[SortSpec] = []
    offset = 0
    original, text = text, _SORT_FIELD_FUNCTION.sub(_field_function, text)
    for clause in text.split(","):
        parts = [part.replace(";", ",") for part in clause.split()]
        if parts:
            name_end = offset + (len(clause) - len(clause.lstrip())) + len(parts[0])
            if len(parts) != 2 or parts[1].lower() not in ("asc", "desc"):
                raise BadRequest(
                    f"Can't determine a Sort Order (asc or desc) in sort spec '{original}', pos={name_end}"
                )
            specs.append(SortSpec(parts[0], parts[1].lower() == "asc"))
        offset += len(clause) + 1
    return specs


def _check_docvalues_only(name: str) -> None:
    """Solr returns a field that is not stored from its docValues when ``fl`` names it; for
    ``_version_`` (Solr's own numbers) and ``title_sort`` (collation keys in bytes) the embedded
    index cannot give the same values, so naming them is refused."""
    definition = lookup(name)
    if (
        definition is not None
        and not definition.stored
        and (name == "_version_" or definition.kind == "sort_text")
    ):
        raise BadRequest(f"fl={name}: this field's docValues are not returned by the embedded index")


def docvalues_only(fl: FieldList) -> list[str]:
    """The fields ``fl`` names plainly (or renames) that are not stored but have docValues: Solr
    returns their values (sorted, without repeats, as docValues keep them)."""
    names = [p for p in fl.patterns if not any(c in p for c in "*?")] + [n for _, n in fl.renames]
    found = []
    for name in names:
        definition = lookup(name)
        if definition is not None and not definition.stored and definition.exact and name not in found:
            found.append(name)
    return found


_FL_ALIAS = re.compile(r"([A-Za-z_][A-Za-z0-9_.\-]*):([A-Za-z_][A-Za-z0-9_]*)")


def parse_fl(values: list[str]) -> FieldList:
    """``fl``: ``*``, names and globs, comma- or blank-separated; blank or absent means ``*``;
    ``alias:field`` renames a field (or ``score``) in the answer. Aliases of globs, aliases that
    are themselves schema fields (whose meaning Solr then gives by the order of its transformers)
    and one alias used twice are refused."""
    patterns: list[str] = []
    renames: list[tuple[str, str]] = []
    asked = score = plain_score = False
    for value in values:
        for part in re.split(r"[,\s]+", value.strip()):
            if not part:
                continue
            asked = True
            if part == "score":
                score = plain_score = True
                continue
            alias = _FL_ALIAS.fullmatch(part)
            if alias is not None:
                key, name = alias[1], alias[2]
                if lookup(key) is not None or key == "score" or any(key == k for k, _ in renames):
                    raise BadRequest(
                        f"fl={part}: an alias that is a field name or used twice is not supported by "
                        "the embedded index"
                    )
                if name != "score" and lookup(name) is None:
                    continue  # Solr: an alias of an unknown field returns nothing
                _check_docvalues_only(name)
                if name == "score":
                    score = True
                renames.append((key, name))
                continue
            if any(c in part for c in "([:") or part.startswith("$"):
                raise BadRequest(
                    f"fl={part}: functions, transformers and aliases of globs are not supported by "
                    "the embedded index (field names, globs and alias:field only)"
                )
            if not any(c in part for c in "*?"):
                _check_docvalues_only(part)
            patterns.append(part)
    if not asked:
        return FieldList()
    return FieldList(tuple(patterns), score, tuple(renames), plain_score or not score)


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
    max_score: float | None = None,
    docs: list[dict[str, Any]],
    facet_fields: dict[str, list[tuple[str, int]]] | None,
    facet_queries: dict[str, int] | None,
    qtime_ms: int,
    partial: str | None = None,
    facet_ranges: dict[str, dict[str, Any]] | None = None,
    facet_pivot: dict[str, list[dict[str, Any]]] | None = None,
    stats: dict[str, dict[str, Any]] | None = None,
    next_cursor_mark: str | None = None,
    highlighting: dict[str, dict[str, list[str]]] | None = None,
    facets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A ``/select`` answer in Solr's JSON shape. ``partial`` names the phase (``query`` or ``facet``)
    during which the time budget ran out: as Solr 9, the header says ``partialResults: true``, a
    query cut short counts nothing and facets cut short are left out."""
    body: dict[str, Any] = {}
    if not request.omit_header:
        header: dict[str, Any] = {}
        if partial is not None:
            header["partialResults"] = True
            header["partialResultsDetails"] = (
                f"Limits exceeded! (Limit(s) exceeded during {partial}): Query limits: "
                "[TimeAllowedLimit:LIMIT EXCEEDED]"
            )
        header.update({"status": 0, "QTime": qtime_ms})
        params = echoed_params(request)
        if params or request.echo != "none":
            header["params"] = params
        body["responseHeader"] = header
    # a query cut short before it ran starts nowhere: Solr 9 answers start 0 then
    result: dict[str, Any] = {"numFound": num_found, "start": 0 if partial == "query" else request.start}
    if max_score is not None:
        result["maxScore"] = max_score
    body["response"] = {**result, "numFoundExact": True, "docs": docs}
    if request.cursor is not None:
        body["nextCursorMark"] = next_cursor_mark or request.cursor_text
    if request.facet and facet_fields is not None:
        fields: dict[str, Any] = {}
        for key, counts in (facet_fields or {}).items():
            if request.json_nl == "map":
                fields[key] = {("" if name is None else name): count for name, count in counts}
            else:
                fields[key] = [item for pair in counts for item in pair]
        ranges: dict[str, Any] = {}
        for key, facet in (facet_ranges or {}).items():
            counts = facet["counts"]
            shown = dict(counts) if request.json_nl == "map" else [item for pair in counts for item in pair]
            ranges[key] = {**facet, "counts": shown}
        body["facet_counts"] = {
            "facet_queries": facet_queries or {},
            "facet_fields": fields,
            "facet_ranges": ranges,
            "facet_intervals": {},
            "facet_heatmaps": {},
        }
        if request.facet_pivots:
            body["facet_counts"]["facet_pivot"] = facet_pivot or {}
    if request.json_facets is not None and facets is not None:
        body["facets"] = {"count": num_found, **facets}
    if request.highlight is not None and partial is None:
        body["highlighting"] = highlighting or {}
    if request.stats is not None and stats is not None:
        body["stats"] = {"stats_fields": stats}
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
