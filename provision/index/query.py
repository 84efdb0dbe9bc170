"""A parser for the subset of Solr's standard (Lucene) query syntax that portals use.

Supported: terms and fielded terms (``title:bronze``), phrases (``"bronze age"``), ``*:*``, ``*``
and ``field:*``, trailing-``*`` prefixes (``bron*``), ranges (``[a TO b]``, ``{a TO *]``), ``AND``
``OR`` ``NOT`` ``&&`` ``||`` ``!`` ``+`` ``-``, parentheses and field groups (``title:(a b)``),
boosts (``^2`` on terms, phrases and groups: they multiply the clause's score; on other clauses,
which score a constant, they are ignored), backslash escapes, and the
local parameters ``{!lucene}``, ``{!tag=…}`` and ``{!field f=… op=…}``. Anything else (fuzzy
``~``, proximity ``"…"~2``, inner wildcards ``b?onze``, regular expressions, other query parsers)
is refused with a :class:`~provision.index.base.BadRequest` naming the construct and its position.

Boolean semantics are Lucene's, not textbook precedence: each clause is MUST, SHOULD or MUST_NOT
by the rules of Lucene's ``QueryParserBase.addClause`` (so ``a OR b AND c`` means ``a +b +c``), a
clause list without MUST matches any SHOULD, and a purely negative clause list matches nothing
unless it is the whole query (Solr then adds ``*:*``), exactly as Solr 9 answers.

:func:`parse` builds a schema-free syntax tree; :func:`compile_query` resolves fields against
:mod:`provision.index.fields`, analyses text like ``text_general`` and returns the tree the
embedded index executes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Literal

from provision.index import analysis
from provision.index.analysis import InvalidValue
from provision.index.base import BadRequest
from provision.index.fields import DEFAULT_FIELD, NAMED, FieldDef, copy_targets, lookup

Occur = Literal["must", "should", "must_not"]

# ------------------------------------------------------------------------------- syntax tree


@dataclass(frozen=True)
class MatchAll:
    pass


@dataclass(frozen=True)
class Term:
    field: str
    text: str
    quoted: bool = False
    prefix: bool = False  # ``text`` is the part before a trailing ``*``
    boost: float = 1.0


@dataclass(frozen=True)
class Range:
    field: str
    lo: str | None  # None: open (``*``)
    hi: str | None
    lo_incl: bool = True
    hi_incl: bool = True
    op: str = "Intersects"  # date ranges only: Intersects | Within | Contains


@dataclass(frozen=True)
class Exists:
    field: str


@dataclass(frozen=True)
class Bool:
    clauses: tuple[tuple[Occur, Node], ...]
    boost: float = 1.0


Node = MatchAll | Term | Range | Exists | Bool


@dataclass(frozen=True)
class LocalParams:
    """``{!type key=value …}`` in front of a query."""

    type: str | None
    params: dict[str, str]

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.params.get(key, default)


# ------------------------------------------------------------------------------- local params

_LP_PAIR = re.compile(r"""\s*([A-Za-z_.][\w.]*)\s*(?:=\s*('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[^\s}]+))?""")


def split_local_params(text: str, *, where: str) -> tuple[LocalParams | None, str]:
    """Split ``{!tag=x}rest`` into its local parameters and the rest; plain text gives ``(None, text)``."""
    if not text.startswith("{!"):
        return None, text
    end = text.find("}")
    if end < 0:
        raise BadRequest(f"{where}: unterminated local parameters in {text!r}")
    body = text[2:end]
    position = 0
    kind: str | None = None
    params: dict[str, str] = {}
    while position < len(body):
        match = _LP_PAIR.match(body, position)
        if match is None or match.end() == position:
            if body[position:].strip() == "":
                break
            raise BadRequest(f"{where}: cannot read local parameters {text[: end + 1]!r}")
        key, value = match[1], match[2]
        if value is None:
            if position != 0 or kind is not None:
                raise BadRequest(f"{where}: local parameter {key!r} has no value")
            kind = key
        else:
            if value[:1] in "'\"":
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            if key == "type":
                kind = value
            else:
                params[key] = value
        position = match.end()
    return LocalParams(kind, params), text[end + 1 :]


# ------------------------------------------------------------------------------- lexer

_SPECIAL = set('+-!():^[]"{}~\\/')
_WS = " \t\r\n\u3000"


@dataclass
class _Tok:
    kind: str  # TERM QUOTED RANGE LPAREN RPAREN PLUS MINUS NOT AND OR COLON CARAT TILDE EOF
    value: str
    pos: int
    wild: tuple[int, ...] = ()  # positions of unescaped * and ? in a TERM's value
    range_parts: tuple | None = None


class _Lexer:
    def __init__(self, text: str, where: str) -> None:
        self.text = text
        self.where = where
        self.pos = 0

    def error(self, message: str, pos: int | None = None) -> BadRequest:
        at = self.pos if pos is None else pos
        return BadRequest(f"{self.where}: {message} at position {at} of {self.text!r}")

    def tokens(self) -> list[_Tok]:
        result = []
        while True:
            tok = self.next()
            result.append(tok)
            if tok.kind == "EOF":
                return result

    def next(self) -> _Tok:
        text = self.text
        while self.pos < len(text) and text[self.pos] in _WS:
            self.pos += 1
        if self.pos >= len(text):
            return _Tok("EOF", "", self.pos)
        start = self.pos
        char = text[start]
        two = text[start : start + 2]
        if two in ("&&", "||"):
            self.pos += 2
            return _Tok("AND" if two == "&&" else "OR", two, start)
        simple = {"(": "LPAREN", ")": "RPAREN", "+": "PLUS", "-": "MINUS", "!": "NOT", ":": "COLON"}
        if char in simple:
            self.pos += 1
            return _Tok(simple[char], char, start)
        if char == "^":
            self.pos += 1
            match = re.compile(r"\d+(?:\.\d+)?").match(text, self.pos)
            if match is None:
                raise self.error("a boost '^' needs a number")
            self.pos = match.end()
            return _Tok("CARAT", match[0], start)
        if char == "~":
            raise self.error("fuzzy and proximity searches ('~') are not supported by the embedded index")
        if char == '"':
            return self._quoted()
        if char in "[{":
            return self._range()
        if char == "/":
            raise self.error("regular expression queries ('/…/') are not supported by the embedded index")
        if char in "]}":
            raise self.error(f"unexpected {char!r}")
        return self._term()

    def _quoted(self) -> _Tok:
        start = self.pos
        self.pos += 1
        out = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "\\" and self.pos + 1 < len(self.text):
                out.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            if char == '"':
                self.pos += 1
                if self.pos < len(self.text) and self.text[self.pos] == "~":
                    raise self.error("proximity searches ('\"…\"~N') are not supported by the embedded index")
                return _Tok("QUOTED", "".join(out), start)
            out.append(char)
            self.pos += 1
        raise self.error("unterminated phrase", start)

    def _term(self) -> _Tok:
        start = self.pos
        out: list[str] = []
        wild: list[int] = []
        text = self.text
        while self.pos < len(text):
            char = text[self.pos]
            if char == "\\":
                if self.pos + 1 >= len(text):
                    raise self.error("a query cannot end with a lone backslash")
                out.append(text[self.pos + 1])
                self.pos += 2
                continue
            if char in _WS or (char in _SPECIAL and not (char in "+-" and out)):
                break
            if text.startswith(("&&", "||"), self.pos):
                break
            if char in "*?":
                wild.append(len(out))
            out.append(char)
            self.pos += 1
        value = "".join(out)
        if not value:
            raise self.error(f"unexpected {text[start]!r}")
        if not wild and value in ("AND", "OR", "NOT"):
            return _Tok(value, value, start)
        return _Tok("TERM", value, start, tuple(wild))

    def _range(self) -> _Tok:
        """``[lo TO hi]``, ``{lo TO hi}`` or mixed; inside, a bound runs to the next blank, ``]`` or ``}``
        (Lucene's RANGE_GOOP: colons need no escaping in ``[2024-01-01T00:00:00Z TO NOW]``)."""
        start = self.pos
        lo_incl = self.text[start] == "["
        self.pos += 1
        lo, lo_quoted = self._range_bound(start)
        to, _ = self._range_bound(start)
        if to != "TO":
            raise self.error("a range is '[from TO to]'", start)
        hi, hi_quoted = self._range_bound(start)
        self._skip_blanks()
        if self.pos >= len(self.text) or self.text[self.pos] not in "]}":
            raise self.error("a range is '[from TO to]'", start)
        hi_incl = self.text[self.pos] == "]"
        self.pos += 1
        parts = (
            None if lo == "*" and not lo_quoted else lo,
            None if hi == "*" and not hi_quoted else hi,
            lo_incl,
            hi_incl,
        )
        return _Tok("RANGE", "", start, range_parts=parts)

    def _skip_blanks(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in _WS:
            self.pos += 1

    def _range_bound(self, start: int) -> tuple[str, bool]:
        self._skip_blanks()
        if self.pos >= len(self.text):
            raise self.error("unterminated range", start)
        if self.text[self.pos] == '"':
            return self._quoted().value, True
        out = []
        while (
            self.pos < len(self.text) and self.text[self.pos] not in _WS and self.text[self.pos] not in "]}"
        ):
            char = self.text[self.pos]
            if char == "\\" and self.pos + 1 < len(self.text):
                out.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            out.append(char)
            self.pos += 1
        if not out:
            raise self.error("a range is '[from TO to]'", start)
        return "".join(out), False


# ------------------------------------------------------------------------------- parser

#: Solr's ``maxBooleanClauses`` (Lucene's ``IndexSearcher.maxClauseCount``): the most clauses one
#: boolean query may have, and the most leaf queries a whole query may hold
MAX_BOOLEAN_CLAUSES = 1024
#: the deepest nesting of parentheses a query may have. Solr has no such limit and fails with a
#: StackOverflowError (HTTP 500) somewhere past 600 levels; this parser and the executor recurse
#: once or twice per level, so the limit keeps them far from Python's recursion limit.
MAX_NESTING = 256

_MOD_NONE, _MOD_REQ, _MOD_NOT = 0, 1, 2
_CONJ_NONE, _CONJ_AND, _CONJ_OR = 0, 1, 2


class _Parser:
    """Recursive descent over Lucene's grammar (``QueryParser.jj``: Query, Modifiers, Clause, Term)."""

    def __init__(self, text: str, *, default_field: str, default_and: bool, where: str) -> None:
        self.lexer = _Lexer(text, where)
        self.toks = self.lexer.tokens()
        self.i = 0
        self.default_field = default_field
        self.default_and = default_and
        self.depth = 0

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def parse(self) -> Node | None:
        if self.peek().kind == "EOF":
            return None
        node = self.query(self.default_field)
        tok = self.peek()
        if tok.kind != "EOF":
            raise self.lexer.error(f"unexpected {tok.value or tok.kind!r}", tok.pos)
        return node

    def query(self, field: str) -> Node | None:
        clauses: list[tuple[Occur, Node]] = []
        mods = self.modifiers()
        node = self.clause(field)
        first = node if mods == _MOD_NONE else None
        self.add_clause(clauses, _CONJ_NONE, mods, node)
        while self.peek().kind not in ("EOF", "RPAREN"):
            conj = self.conjunction()
            mods = self.modifiers()
            node = self.clause(field)
            self.add_clause(clauses, conj, mods, node)
        if len(clauses) == 1 and first is not None:
            return first
        if not clauses:
            return None
        return Bool(tuple(clauses))

    def conjunction(self) -> int:
        kind = self.peek().kind
        if kind == "AND":
            self.take()
            return _CONJ_AND
        if kind == "OR":
            self.take()
            return _CONJ_OR
        return _CONJ_NONE

    def modifiers(self) -> int:
        kind = self.peek().kind
        if kind == "PLUS":
            self.take()
            return _MOD_REQ
        if kind in ("MINUS", "NOT"):
            self.take()
            return _MOD_NOT
        return _MOD_NONE

    def add_clause(self, clauses: list[tuple[Occur, Node]], conj: int, mods: int, node: Node | None) -> None:
        """Lucene's ``QueryParserBase.addClause``, rule for rule."""
        if clauses and conj == _CONJ_AND and clauses[-1][0] != "must_not":
            clauses[-1] = ("must", clauses[-1][1])
        if clauses and self.default_and and conj == _CONJ_OR and clauses[-1][0] != "must_not":
            clauses[-1] = ("should", clauses[-1][1])
        if node is None:
            return
        prohibited = mods == _MOD_NOT
        if not self.default_and:
            required = mods == _MOD_REQ or (conj == _CONJ_AND and not prohibited)
        else:
            required = not prohibited and conj != _CONJ_OR
        if prohibited:
            clauses.append(("must_not", node))
        elif required:
            clauses.append(("must", node))
        else:
            clauses.append(("should", node))

    def clause(self, field: str) -> Node | None:
        tok = self.peek()
        if tok.kind in ("AND", "OR", "EOF", "RPAREN", "CARAT"):
            raise self.lexer.error(f"expected a term, found {tok.value or tok.kind!r}", tok.pos)
        if tok.kind == "TERM" and self.toks[self.i + 1].kind == "COLON":
            name_tok = self.take()
            self.take()
            if name_tok.wild and name_tok.value != "*":
                raise self.lexer.error("wildcards are not allowed in field names", name_tok.pos)
            field = name_tok.value
            tok = self.peek()
            if tok.kind == "EOF":
                raise self.lexer.error(f"field {field!r} has no value", tok.pos)
        if tok.kind == "LPAREN":
            self.take()
            self.depth += 1
            if self.depth > MAX_NESTING:
                raise self.lexer.error(
                    f"too deeply nested (more than {MAX_NESTING} levels of parentheses)", tok.pos
                )
            node = self.query(field)
            self.depth -= 1
            close = self.take()
            if close.kind != "RPAREN":
                raise self.lexer.error("missing ')'", close.pos)
            return self.boost(node)
        return self.boost(self.term(field))

    def boost(self, node: Node | None) -> Node | None:
        """``clause^2``: kept on terms and groups (they score), dropped elsewhere (constant scores)."""
        if self.peek().kind != "CARAT":
            return node
        factor = float(self.take().value)
        if isinstance(node, Term | Bool):
            return replace(node, boost=node.boost * factor)
        return node

    def term(self, field: str) -> Node | None:
        tok = self.take()
        if tok.kind == "QUOTED":
            return Term(field, tok.value, quoted=True)
        if tok.kind == "RANGE":
            lo, hi, lo_incl, hi_incl = tok.range_parts  # type: ignore[misc]
            return Range(field, lo, hi, lo_incl, hi_incl)
        if tok.kind != "TERM":
            raise self.lexer.error(f"expected a term, found {tok.value or tok.kind!r}", tok.pos)
        value = tok.value
        if tok.wild:
            if value == "*":
                return MatchAll() if field == "*" else Exists(field)
            if tok.wild == (len(value) - 1,) and value.endswith("*"):
                return Term(field, value[:-1], prefix=True)
            raise self.lexer.error(
                f"wildcard query {value!r} is not supported by the embedded index (only a trailing '*')",
                tok.pos,
            )
        if field == "*":
            raise self.lexer.error("'*' as a field name needs '*' as the value ('*:*')", tok.pos)
        return Term(field, value)


def parse(
    text: str, *, default_field: str = DEFAULT_FIELD, default_and: bool = False, where: str = "q"
) -> Node | None:
    """Parse ``text`` (without local parameters) into a syntax tree; None for an empty query."""
    return _Parser(text, default_field=default_field, default_and=default_and, where=where).parse()


# ------------------------------------------------------------------------------- compiled tree


@dataclass(frozen=True)
class CAll:
    pass


@dataclass(frozen=True)
class CNone:
    pass


@dataclass(frozen=True)
class CText:
    """Terms of an analysed field: ``fields`` are the stored source fields whose analysed values count."""

    fields: tuple[str, ...]
    tokens: tuple[str, ...]
    phrase: bool = False
    prefix: bool = False
    boost: float = 1.0


@dataclass(frozen=True)
class CExact:
    field: str
    value: str | int


@dataclass(frozen=True)
class CExactPrefix:
    field: str
    prefix: str


@dataclass(frozen=True)
class CExactRange:
    field: str
    lo: str | int | None
    hi: str | int | None
    lo_incl: bool
    hi_incl: bool


@dataclass(frozen=True)
class CDateRange:
    field: str
    lo: int
    hi: int
    op: str  # Intersects | Within | Contains


@dataclass(frozen=True)
class CExists:
    fields: tuple[str, ...]  # stored fields; any of them present


@dataclass(frozen=True)
class CBool:
    must: tuple[Compiled, ...]
    should: tuple[Compiled, ...]
    must_not: tuple[Compiled, ...]
    boost: float = 1.0  # multiplies the summed score
    #: Lucene's minimumNumberShouldMatch: how many ``should`` clauses a match needs (0: the usual
    #: rule, at least one when there is no ``must``)
    min_should: int = 0
    #: a DisjunctionMaxQuery (dismax's per-term query over its fields) when set: the score is the
    #: best clause's plus ``tie`` times the others'
    tie: float | None = None


Compiled = CAll | CNone | CText | CExact | CExactPrefix | CExactRange | CDateRange | CExists | CBool


def text_sources(name: str, known_fields: frozenset[str] | set[str] = frozenset()) -> tuple[str, ...]:
    """The fields whose analysed values a search on text field ``name`` looks at: itself and every
    field copied into it (named, or dynamic ones among ``known_fields``)."""
    sources = [name]
    for candidate in list(NAMED) + sorted(known_fields):
        if candidate != name and name in copy_targets(candidate) and candidate not in sources:
            sources.append(candidate)
    return tuple(sources)


def _source_of_copy(name: str) -> str | None:
    """``subject_facet`` → ``subject``: the stored field an exact copy comes from."""
    for candidate in NAMED:
        if name in copy_targets(candidate) and lookup(name).exact:  # type: ignore[union-attr]
            return candidate
    return None


class Compiler:
    """Resolves a syntax tree against the schema. ``known_fields`` are the dynamic fields the index holds."""

    def __init__(
        self, *, default_and: bool = False, known_fields: frozenset[str] = frozenset(), where: str = "q"
    ) -> None:
        self.default_and = default_and
        self.known_fields = known_fields
        self.where = where
        #: what a nested ``_query_:"…"`` is parsed with: the request's ``df`` and ``q.op``, not the
        #: local parameters of the query around it (Solr gives the sub-parser the request's params)
        self.nested_df = DEFAULT_FIELD
        self.nested_and = default_and
        self.nesting = 0

    def field(self, name: str) -> FieldDef:
        definition = lookup(name)
        if definition is None:
            raise BadRequest(f"undefined field {name}")
        return definition

    def top(self, node: Node | None) -> Compiled:
        """The whole query: a purely negative one matches everything but its exclusions (Solr's rule)."""
        if node is None:
            return CNone()
        if isinstance(node, Bool):
            return self._bool(node, top=True)
        if isinstance(node, Term) and node.field == NESTED_QUERY_FIELD:
            return self._nested(node, top=True)
        return self.compile(node)

    def compile(self, node: Node) -> Compiled:
        if isinstance(node, MatchAll):
            return CAll()
        if isinstance(node, Bool):
            return self._bool(node)
        if isinstance(node, Exists):
            return self._exists(node.field)
        if isinstance(node, Range):
            return self._range(node)
        return self._term(node)

    def _bool(self, node: Bool, *, top: bool = False) -> Compiled:
        must: list[Compiled] = []
        should: list[Compiled] = []
        must_not: list[Compiled] = []
        for occur, child in node.clauses:
            compiled = self.compile(child)
            {"must": must, "should": should, "must_not": must_not}[occur].append(compiled)
        if not must and not should:
            if top:
                must.append(CAll())
            else:
                return CNone()  # Lucene: a nested purely negative clause list matches nothing
        return CBool(tuple(must), tuple(should), tuple(must_not), node.boost)

    def _exists(self, name: str) -> Compiled:
        definition = self.field(name)
        if definition.stored:
            return CExists((name,))
        if definition.kind == "text":
            return CExists(text_sources(name, self.known_fields)[1:] or (name,))
        source = _source_of_copy(name)
        return CExists((source,)) if source else CNone()

    def _range(self, node: Range) -> Compiled:
        definition = self.field(node.field)
        kind = definition.kind
        if kind == "date_range":
            lo, hi = self._date_range_bounds(node)
            if lo > hi:  # Solr answers 500 with this message; it is the request's fault, so 400 here
                raise BadRequest(f"Wrong order: {node.lo} TO {node.hi}")
            return CDateRange(node.field, lo, hi, node.op)
        if not definition.exact:
            raise BadRequest(
                f"range queries on field {node.field} ({definition.type}) are not supported "
                "by the embedded index"
            )
        lo = None if node.lo is None else self._exact_value(definition, node.lo)
        hi = None if node.hi is None else self._exact_value(definition, node.hi)
        return CExactRange(node.field, lo, hi, node.lo_incl, node.hi_incl)

    def _date_range_bounds(self, node: Range) -> tuple[int, int]:
        """The instants a date range query covers, as Solr's ``DateRangeField.getRangeQuery``: an
        inclusive bound takes the whole period it names (``[2010 TO 2015]`` is 2010-01-01 to the end
        of 2015); an exclusive one moves one millisecond off the *start* of its period, so
        ``{2010 TO 2015}`` is 2010-01-01T00:00:00.001 to 2014-12-31T23:59:59.999 and leaves out
        all of 2015 (but keeps all of 2010 but its first millisecond)."""
        if node.lo is None:
            lo = analysis.MIN_MS
        else:
            lo = self._date_bounds(node.lo)[0] + (0 if node.lo_incl else 1)
        if node.hi is None:
            hi = analysis.MAX_MS
        elif node.hi_incl:
            hi = self._date_bounds(node.hi)[1]
        else:
            hi = self._date_bounds(node.hi)[0] - 1
        return lo, hi

    def _date_bounds(self, text: str) -> tuple[int, int]:
        try:
            return analysis.date_range_bounds(text)
        except InvalidValue as exc:
            raise BadRequest(str(exc)) from exc

    def _exact_value(self, definition: FieldDef, text: str) -> str | int:
        kind = definition.kind
        try:
            if kind in ("int", "long"):
                return int(text)
            if kind == "date":
                return analysis.parse_instant(text)
        except (ValueError, InvalidValue) as exc:
            message = (
                str(exc)
                if isinstance(exc, InvalidValue)
                else f"Invalid Number: {text} for field {definition.name}"
            )
            raise BadRequest(message) from exc
        if kind == "boolean":
            return "true" if text[:1] in ("t", "T", "1") else "false"
        return text

    def _nested(self, node: Term, *, top: bool = False) -> Compiled:
        """``_query_:"{!lucene q.op=AND}bronze age"``: the value is a query of its own, parsed with
        its local parameters and the request's ``df``/``q.op``. As in Solr, a purely negative nested
        query matches everything but its exclusions only when it is the whole query; inside a
        boolean query it matches nothing. A prefix, wildcard or range on ``_query_`` is a query on
        an undefined field (Solr's 400)."""
        if node.prefix:
            raise BadRequest(f"undefined field {NESTED_QUERY_FIELD}")
        if self.nesting >= MAX_NESTING:
            raise BadRequest(f"{self.where}: too deeply nested (more than {MAX_NESTING} _query_ levels)")
        self.nesting += 1
        try:
            _, compiled = _compile(
                node.text,
                default_field=self.nested_df,
                default_and=self.nested_and,
                known_fields=self.known_fields,
                where=self.where,
                nesting=self.nesting,
                top=top,
            )
        finally:
            self.nesting -= 1
        if node.boost != 1.0:
            return CBool((compiled,), (), (), node.boost)
        return compiled

    def _term(self, node: Term) -> Compiled:
        if node.field == NESTED_QUERY_FIELD:
            return self._nested(node)
        definition = self.field(node.field)
        kind = definition.kind
        if kind == "text":
            return self._text(node, text_sources(node.field, self.known_fields))
        if kind == "date_range":
            lo, hi = self._date_bounds(node.text)
            return CDateRange(node.field, lo, hi, "Intersects")
        if kind in ("stored_only", "sort_text") or not definition.indexed:
            return CNone()  # as Solr: a field that is not indexed matches nothing
        if node.prefix:
            if kind != "string":
                raise BadRequest(
                    f"prefix queries on field {node.field} ({definition.type}) are not supported"
                )
            return CExactPrefix(node.field, node.text)
        return CExact(node.field, self._exact_value(definition, node.text))

    def _text(self, node: Term, sources: tuple[str, ...]) -> Compiled:
        if node.prefix:
            return CText(sources, (analysis.fold(node.text),), prefix=True)
        terms = analysis.tokens(node.text)
        if not terms:
            return CNone()
        if node.quoted or len(terms) == 1:
            return CText(sources, tuple(terms), phrase=len(terms) > 1, boost=node.boost)
        parts = tuple(CText(sources, (t,)) for t in terms)
        if self.default_and:
            return CBool(parts, (), (), node.boost)
        return CBool((), parts, (), node.boost)


def compile_query(
    text: str,
    *,
    default_field: str = DEFAULT_FIELD,
    default_and: bool = False,
    known_fields: frozenset[str] = frozenset(),
    where: str = "q",
) -> tuple[LocalParams | None, Compiled]:
    """Parse and compile one ``q`` or ``fq`` value, local parameters included."""
    return _compile(
        text, default_field=default_field, default_and=default_and, known_fields=known_fields, where=where
    )


#: the pseudo-field of nested queries (``_query_:"{!…}…"``)
NESTED_QUERY_FIELD = "_query_"
#: local parameters that tune how Solr runs a query but not what it matches: accepted, no effect
#: (``cache=false`` and ``cost`` on filters)
NO_EFFECT_LOCAL_PARAMS = frozenset({"cache", "cost"})


def _compile(
    text: str,
    *,
    default_field: str,
    default_and: bool,
    known_fields: frozenset[str],
    where: str,
    nesting: int = 0,
    top: bool = True,
) -> tuple[LocalParams | None, Compiled]:
    local, rest = split_local_params(text, where=where)
    compiler = Compiler(default_and=default_and, known_fields=known_fields, where=where)
    compiler.nested_df, compiler.nested_and, compiler.nesting = default_field, default_and, nesting
    if local is not None:
        unknown = set(local.params) - {"tag", "f", "op", "df", "q.op", "v"} - NO_EFFECT_LOCAL_PARAMS
        if where == "facet.query":
            unknown -= {"key", "ex"}  # read by the facet component (select.FacetQuery)
        if local.type not in (None, "lucene", "field") or unknown:
            what = (
                f"query parser {local.type!r}"
                if local.type not in (None, "lucene", "field")
                else f"local parameter(s) {', '.join(sorted(unknown))}"
            )
            raise BadRequest(
                f"{where}: {what} is not supported by the embedded index "
                "(supported: {!lucene}, {!tag=…}, {!field f=… op=…})"
            )
        rest = local.get("v", rest) or ""
        if local.type == "field":
            return local, _field_query(compiler, local, rest)
        default_field = local.get("df", default_field) or default_field
        if local.get("q.op"):
            compiler.default_and = local.get("q.op") == "AND"
    node = parse(rest, default_field=default_field, default_and=compiler.default_and, where=where)
    compiled = compiler.top(node) if top or node is None else compiler.compile(node)
    check_clauses(compiled, rest)
    return local, compiled


def check_clauses(node: Compiled, text: str) -> None:
    """Refuse a query over Solr's ``maxBooleanClauses`` as Solr does: a boolean query with more than
    1,024 clauses is a syntax error (Solr's 400 and message); a query with more than 1,024 leaf
    queries in all is refused with Lucene's message (Solr answers it with 500; it is the request's
    fault, so 400 here). Clauses that analyse to nothing are not clauses (Lucene drops them)."""
    leaves = 0
    stack: list[Compiled] = [node]
    nested_error = False
    while stack:
        current = stack.pop()
        if isinstance(current, CBool):
            parts = [
                p for p in (*current.must, *current.should, *current.must_not) if not isinstance(p, CNone)
            ]
            if len(parts) > MAX_BOOLEAN_CLAUSES:
                raise BadRequest(
                    f"org.apache.solr.search.SyntaxError: Cannot parse '{text}': too many boolean clauses"
                )
            stack.extend(parts)
        elif not isinstance(current, CNone):
            leaves += 1
            nested_error = nested_error or leaves > MAX_BOOLEAN_CLAUSES
    if nested_error:
        raise BadRequest(
            f"Query contains too many nested clauses; maxClauseCount is set to {MAX_BOOLEAN_CLAUSES}"
        )


def _field_query(compiler: Compiler, local: LocalParams, value: str) -> Compiled:
    """``{!field f=time_span op=Within}[1200 TO 1300]``: the whole value, unparsed, for one field."""
    name = local.get("f")
    if not name:
        raise BadRequest(f"{compiler.where}: {{!field}} needs f=<field>")
    definition = compiler.field(name)
    op = local.get("op", "Intersects") or "Intersects"
    if definition.kind == "date_range":
        if op not in ("Intersects", "Within", "Contains"):
            raise BadRequest(f"{compiler.where}: unknown op {op!r} (Intersects, Within or Contains)")
        lo, hi = compiler._date_bounds(value)
        return CDateRange(name, lo, hi, op)
    return compiler.top(Term(name, value, quoted=True))


# ------------------------------------------------------------------------------- dismax / edismax

#: the dismax and edismax parameters the embedded index implements; the others are refused
DISMAX_PARAMS = ("qf", "mm", "pf", "tie", "q.alt")
DISMAX_UNSUPPORTED = ("bq", "bf", "boost", "pf2", "pf3", "ps", "ps2", "ps3", "qs", "uf", "mm.autoRelax",
                      "lowercaseOperators", "stopwords")  # fmt: skip
_DISMAX_CLAUSE = re.compile(r'([+-]?)(?:"([^"]*)"|([^\s"]+))(?=\s|$)')
_DISMAX_SPECIAL = set('+-!():^[]"{}~*?\\/&|')


@dataclass(frozen=True)
class DismaxParams:
    """``defType=dismax|edismax`` with ``qf`` (``title^2 subject``), ``mm``, ``pf``, ``tie``, ``q.alt``."""

    qf: str | None = None
    mm: str | None = None
    pf: str | None = None
    tie: str | None = None


def _field_boosts(text: str, where: str, known_fields: frozenset[str]) -> list[tuple[str, float]]:
    """``title^2 subject`` → [(title, 2.0), (subject, 1.0)]; text fields only (the fields whose
    analysis the embedded index shares with Solr's term-centric dismax)."""
    result = []
    for part in text.split():
        name, _, boost = part.partition("^")
        try:
            factor = float(boost) if boost else 1.0
        except ValueError:
            raise BadRequest(f"{where}: bad boost in {part!r}") from None
        definition = lookup(name)
        if definition is None:
            raise BadRequest(f"undefined field {name}")
        if definition.kind != "text":
            raise BadRequest(
                f"{where}={text}: field {name} ({definition.type}) is not supported in {where} by the "
                "embedded index (text fields only)"
            )
        result.append((name, factor))
    return result


def min_should_match(spec: str, optional: int) -> int:
    """Solr's ``SolrPluginUtils.calculateMinShouldMatch`` for the forms ``3``, ``-1``, ``75%``,
    ``-25%`` (conditional specs such as ``2<75%`` are refused)."""
    text = spec.strip()
    try:
        if text.endswith("%"):
            percent = int(text[:-1])
            calc = int(optional * percent / 100)  # Java's (int) truncates toward zero
            result = optional + calc if percent < 0 else calc
        else:
            number = int(text)
            result = optional + number if number < 0 else number
    except ValueError:
        raise BadRequest(
            f"mm={spec} is not supported by the embedded index (an integer or a percentage, such as 2, "
            "-1, 75% or -25%)"
        ) from None
    return optional if optional < result else max(result, 0)


def compile_dismax(
    text: str,
    params: DismaxParams,
    *,
    variant: str,
    default_field: str = DEFAULT_FIELD,
    default_and: bool = False,
    known_fields: frozenset[str] = frozenset(),
) -> Compiled:
    """``q`` under ``defType=dismax`` or ``edismax``, for the queries both parsers read the same
    way and the embedded index can answer as Solr does: bare words (each analysing to one token),
    quoted phrases, ``+``/``-`` in front of either. Each clause matches if it matches in any ``qf``
    field (a DisjunctionMaxQuery, ``tie`` for its score); optional clauses obey ``mm`` (default 0%,
    or 100% with ``q.op=AND``), and ``pf`` adds a phrase boost that changes scores only. Anything
    else (operators, fields, wildcards, fuzzy, words that split into several tokens…) is refused
    with a 400 naming it, rather than read differently from Solr."""
    where = f"q (defType={variant})"
    fields = _field_boosts(params.qf or default_field, "qf", known_fields)
    if not fields:
        raise BadRequest(f"{where}: qf names no field")
    try:
        tie = float(params.tie) if params.tie not in (None, "") else 0.0
    except ValueError:
        raise BadRequest(f"tie={params.tie}: not a number") from None
    must: list[Compiled] = []
    should: list[Compiled] = []
    must_not: list[Compiled] = []
    words: list[str] = []
    position = 0
    stripped = text.strip()
    while position < len(stripped):
        match = _DISMAX_CLAUSE.match(stripped, position)
        if match is None:
            raise BadRequest(
                f"{where}: {stripped[position : position + 40]!r} is not supported by the embedded index's "
                f"{variant} (bare words, quoted phrases and +/- in front of them)"
            )
        sign, phrase, word = match[1], match[2], match[3]
        if word is not None:
            if word in ("AND", "OR", "NOT") or _DISMAX_SPECIAL & set(word):
                raise BadRequest(
                    f"{where}: {word!r} is not supported by the embedded index's {variant} (bare words, "
                    "quoted phrases and +/- in front of them; no operators, fields or wildcards)"
                )
            tokens = analysis.tokens(word)
            if len(tokens) != 1:
                raise BadRequest(
                    f"{where}: {word!r} analyses to {len(tokens)} terms; the embedded index's {variant} "
                    "takes words that analyse to one"
                )
            words.extend(tokens)
        else:
            tokens = analysis.tokens(phrase or "")
            if not tokens:
                raise BadRequest(f"{where}: the phrase {phrase!r} has no words")
        clause = CBool(
            (),
            tuple(
                CText(text_sources(name, known_fields), tuple(tokens), phrase=len(tokens) > 1, boost=boost)
                for name, boost in fields
            ),
            (),
            tie=tie,
        )
        {"+": must, "-": must_not, "": should}[sign].append(clause)
        position = match.end()
        while position < len(stripped) and stripped[position] in _WS:
            position += 1
    if not must and not should:
        raise BadRequest(f"{where}: a query of only excluded words is not supported by the embedded index")
    # what Solr 9.10 answered on the test server: edismax with q.op=AND requires every clause not
    # excluded, whatever mm says; dismax takes mm (100% by default with q.op=AND, operators or not)
    if variant == "edismax" and default_and:
        must, should = must + should, []
    spec = params.mm if params.mm is not None else ("100%" if default_and else "0%")
    query: Compiled = CBool(
        tuple(must), tuple(should), tuple(must_not), min_should=min_should_match(spec, len(should))
    )
    if params.pf and len(words) > 1:
        boosts = _field_boosts(params.pf, "pf", known_fields)
        phrase = CBool(
            (),
            tuple(
                CText(text_sources(name, known_fields), tuple(words), phrase=True, boost=b)
                for name, b in boosts
            ),
            (),
            tie=tie,
        )
        query = CBool((query,), (phrase,), ())
    check_clauses(query, text)
    return query
