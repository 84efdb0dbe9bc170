"""Highlighting (``hl=true``) for the embedded index, as Solr 9's default unified highlighter answers.

What Solr does, and what is reproduced: the query is run again on each page document's value of
each ``hl.fl`` field alone (``hl.weightMatches``, Solr 9's default), with every term queried on any
field looked for in that field (``hl.requireFieldMatch=false``). If the query does not match that
value — a required clause on another field whose term the value lacks (``+datasource:dans``), a
required range or existence test on another field — nothing is highlighted, even though the document
matched; otherwise each matching term is wrapped in ``hl.tag.pre``/``hl.tag.post`` (or
``hl.simple.pre``/``post``; ``<em>``…``</em>``), a phrase as one span, a prefix's words each, and the
whole value is the snippet.

What is refused with a 400 naming it, because the unified highlighter's passages cannot be given
the same (or Solr fails): multivalued fields (Solr joins the values and cuts passages across
them), a value longer than ``hl.fragsize`` that has several sentences (Solr picks passages by
sentence), every ``hl.*``
parameter but ``hl.fl``, ``hl.snippets``, ``hl.fragsize``, the tag parameters, ``hl.method=unified``,
``hl.requireFieldMatch=false`` and ``hl.highlightMultiTerm=true``, highlighting with
``defType=dismax|edismax``, and queries on a DateRangeField (Solr answers 500).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from provision.index import analysis
from provision.index import query as q
from provision.index.base import BadRequest, Params
from provision.index.fields import lookup

_TRUE = {"true", "on", "yes"}
#: the ``hl.*`` parameters implemented; any other one in a request with ``hl=true`` is refused
HL_PARAMS = frozenset(
    {
        "hl.fl", "hl.snippets", "hl.fragsize", "hl.simple.pre", "hl.simple.post", "hl.tag.pre",
        "hl.tag.post", "hl.method", "hl.requireFieldMatch", "hl.highlightMultiTerm",
    }
)  # fmt: skip
#: a sentence boundary inside a value (Java's sentence BreakIterator, approximately)
_SENTENCE = re.compile(r"[.!?]\s+\S")


@dataclass(frozen=True)
class Highlight:
    fields: tuple[str, ...]
    pre: str
    post: str
    fragsize: int


def parse_highlight(params: Params, *, df: str, def_type: str) -> Highlight | None:
    """``hl=true`` and its parameters, or None when highlighting is off."""
    values: dict[str, list[str]] = {}
    for key, value in params:
        values.setdefault(key, []).append(value)
    if (values.get("hl", ["false"])[0] or "").strip().lower() not in _TRUE:
        return None
    for key in values:
        name = key
        if key.startswith("f.") and ".hl." in key:
            name = key[key.index(".hl.") + 1 :]
            raise BadRequest(
                f"highlighting parameter {key} ({name} per field) is not supported by the embedded index"
            )
        if name.startswith("hl.") and name not in HL_PARAMS:
            raise BadRequest(f"highlighting parameter {key} is not supported by the embedded index")

    def first(key: str, default: str) -> str:
        return values.get(key, [default])[0]

    checks = (("hl.method", "unified"), ("hl.requireFieldMatch", "false"), ("hl.highlightMultiTerm", "true"))
    for key, only in checks:
        if first(key, only).strip().lower() != only:
            raise BadRequest(f"{key}={first(key, only)} is not supported by the embedded index ({only} only)")
    if def_type != "lucene":
        raise BadRequest(f"highlighting (hl) with defType={def_type} is not supported by the embedded index")
    fields: list[str] = []
    for text in values.get("hl.fl", []) or [df]:
        for name in re.split(r"[,\s]+", text.strip()):
            if not name:
                continue
            if "*" in name or "?" in name:
                raise BadRequest(f"hl.fl={name}: globs are not supported by the embedded index")
            definition = lookup(name)
            if definition is None:
                raise BadRequest(f"undefined field {name}")
            if definition.kind != "text":
                raise BadRequest(
                    f"hl.fl={name}: highlighting a {definition.type} field is not supported by the embedded "
                    "index (text fields only)"
                )
            if definition.multi and definition.stored:
                raise BadRequest(
                    f"hl.fl={name}: highlighting a multivalued field is not supported by the embedded index "
                    "(Solr's unified highlighter cuts passages across its values)"
                )
            if name not in fields:
                fields.append(name)
    for key in ("hl.snippets", "hl.fragsize"):
        text = first(key, "1")
        if not re.fullmatch(r"[+-]?\d+", text):
            raise BadRequest(f'For input string: "{text}"')
    pre = first("hl.tag.pre", first("hl.simple.pre", "<em>"))
    post = first("hl.tag.post", first("hl.simple.post", "</em>"))
    return Highlight(tuple(fields), pre, post, int(first("hl.fragsize", "70")))


def highlight(spec: Highlight, query: q.Compiled, doc: dict[str, Any]) -> dict[str, list[str]]:
    """The snippets of one document (stored fields as returned): field → [whole value, tagged]."""
    found: dict[str, list[str]] = {}
    for name in spec.fields:
        value = doc.get(name)
        if not isinstance(value, str) or not value:
            continue  # not stored (text), or absent
        tokens = analysis.token_spans(value)
        spans = _matches(query, name, tokens)
        if not spans or spans is _IGNORED:
            continue
        if 0 < spec.fragsize < len(value) and _SENTENCE.search(value):
            raise BadRequest(
                f"hl.fragsize={spec.fragsize}: highlighting a {name} value of {len(value)} characters with "
                "several sentences is not supported by the embedded index (Solr picks passages by sentence)"
            )
        found[name] = [_tagged(value, tokens, spans, spec)]
    return found


def _tagged(
    value: str, tokens: list[tuple[int, int, str]], spans: set[tuple[int, int]], spec: Highlight
) -> str:
    """The value with each span of tokens (merged where they overlap) between the tags."""
    merged: list[list[int]] = []
    for first, last in sorted(spans):
        if merged and first <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], last)
        else:
            merged.append([first, last])
    out, at = [], 0
    for first, last in merged:
        start, end = tokens[first][0], tokens[last][1]
        out += [value[at:start], spec.pre, value[start:end], spec.post]
        at = end
    out.append(value[at:])
    return "".join(out)


#: a clause the highlighter leaves out: numbers and dates (points, not terms) and existence tests
_IGNORED = frozenset({(-1, -1)})


def _matches(
    node: q.Compiled, field: str, tokens: list[tuple[int, int, str]]
) -> frozenset[tuple[int, int]] | None:
    """The token spans (first, last) ``node`` matches in one value, every term looked for in it;
    None when ``node`` does not match the value (an empty set: it matches, nothing to mark).
    Point queries (numbers, dates) and existence tests are left out of the query wherever they
    are (:data:`_IGNORED`), as the test server showed: ``+pages_i:7`` does not stop highlighting,
    ``+tags_ss:b`` does (``b`` is looked for in the value), and so does ``-tags_ss:zola`` when
    the value has ``zola``."""
    if isinstance(node, q.CBool):
        spans: set[tuple[int, int]] = set()
        required = optional = matched = 0
        for part in node.must:
            found = _matches(part, field, tokens)
            if found is None:
                return None
            if found is not _IGNORED:
                required += 1
                spans |= found
        for part in node.should:
            found = _matches(part, field, tokens)
            if found is _IGNORED:
                continue
            optional += 1
            if found is not None:
                matched += 1
                spans |= found
        if not required and not optional:
            return _IGNORED
        minimum = node.min_should or (0 if required else 1)
        if optional and matched < minimum or (not required and not matched):
            return None
        for part in node.must_not:
            found = _matches(part, field, tokens)
            if found is not None and found is not _IGNORED:
                return None
        return frozenset(spans)
    if isinstance(node, q.CAll):
        return frozenset()
    if isinstance(node, q.CExists):
        return _IGNORED
    if isinstance(node, q.CDateRange):
        # Solr 9 answers 500 (an ArrayIndexOutOfBoundsException in NumberRangePrefixTree)
        raise BadRequest(
            "highlighting (hl) a query on a DateRangeField is not supported by the embedded index"
        )
    if isinstance(node, q.CNone):
        return None
    words = [word for _, _, word in tokens]
    if isinstance(node, q.CText):
        if node.prefix:
            hits = {(i, i) for i, word in enumerate(words) if word.startswith(node.tokens[0])}
        else:
            size = len(node.tokens)
            hits = {
                (i, i + size - 1)
                for i in range(len(words) - size + 1)
                if tuple(words[i : i + size]) == node.tokens
            }
        return frozenset(hits) or None
    kind = (lookup(node.field) or lookup("id")).kind  # type: ignore[union-attr]
    if kind in ("int", "long", "date"):
        return _IGNORED
    if kind != "string":  # booleans: the terms T and F, which no word is
        return None
    if isinstance(node, q.CExact):
        hits = {(i, i) for i, word in enumerate(words) if word == node.value}
    elif isinstance(node, q.CExactPrefix):
        hits = {(i, i) for i, word in enumerate(words) if word.startswith(node.prefix)}
    else:
        hits = {(i, i) for i, word in enumerate(words) if _in_range(node, word)}
    return frozenset(hits) or None


def _in_range(node: q.CExactRange, word: str) -> bool:
    lo, hi = node.lo, node.hi
    if lo is not None and (word < lo or (word == lo and not node.lo_incl)):  # type: ignore[operator]
        return False
    return hi is None or word < hi or (word == hi and node.hi_incl)  # type: ignore[operator]
