"""Date normalisation for mappings: the many shapes harvested dates come in → ISO 8601.

D-NET's cleaning rules turn ``16/06/2015``, ``June 2015``, ``ca. 1850`` or ``1850-1860`` into one
form before mapping; this module does the same so mappings (XSLT through ``cc:date``, the
``vocabulary``-style steps, Python code) never parse dates themselves.

The grammar is a short ordered list of anchored regular expressions, written so that the XSLT 2/3
function library ``mappings/lib/cc-functions.xsl`` implements the very same list for Saxon (which
cannot call Python). ``tests/unit/transforms/test_dates_xslt_parity.py`` checks both agree, so
change them together.

Decisions (where sources are ambiguous):

* ``01/02/2015`` is day-first (2015-02-01), as in European usage; ``2015/02/01`` is year-first.
* Qualifiers (``ca.``, ``c.``, ``circa``, ``approx.``, ``about``), surrounding brackets and a
  trailing ``?`` are dropped: the date is kept, its uncertainty is not modelled.
* ``1850s`` is the decade 1850–1859 (``1800s`` too is read as a decade: 1800–1809).
* A time of day after a date is dropped; time zones are not converted.
* Month names are English, full or abbreviated (``Sept`` too). Years have four digits, ≥ 0001.
* Anything else, or an impossible date (``2015-02-30``, a range ending before it starts), is
  not a date: :func:`parse_date` returns ``None`` and :func:`normalise_date` ``""``.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

__all__ = ["DateRange", "normalise_date", "parse_date"]

#: English month names, full or abbreviated, with an optional dot (group: the whole name)
MONTH = (
    r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_MONTH_KEYS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")

_WHITESPACE = re.compile(r"[ \t\r\n]+")
_BRACKETS = re.compile(r"^\[(.*)\]$|^\((.*)\)$")
_QUALIFIER = re.compile(r"^(?:ca\.?|c\.|circa|approx\.?|about)[ ]*")
_DECADE = re.compile(r"^([0-9]{3})0s$")
_YEAR_RANGE = re.compile(r"^([0-9]{4})-([0-9]{4})$")
_BETWEEN = re.compile(r"^between (.+) and (.+)$")
#: range separators: a dash or "to" first, then a single slash (the ISO 8601 interval form)
_RANGE = re.compile(r"^(.+?) ?(?:–|—| - | to ) ?(.+)$")
_SLASH_RANGE = re.compile(r"^([^/]+)/([^/]+)$")


@dataclass(frozen=True)
class DateRange:
    """A normalised date: ``start`` and ``end`` are ISO dates of year, month or day precision.

    A single date has ``start == end``; ``iso`` is then that date, otherwise the ISO 8601
    interval ``start/end``.
    """

    start: str
    end: str

    @property
    def iso(self) -> str:
        return self.start if self.start == self.end else f"{self.start}/{self.end}"

    @property
    def first_day(self) -> str:
        """The earliest ``xsd:date`` the value may mean (``1850`` → ``1850-01-01``)."""
        return _first_day(self.start).isoformat()

    @property
    def last_day(self) -> str:
        """The latest ``xsd:date`` the value may mean (``2016-02`` → ``2016-02-29``)."""
        return _last_day(self.end).isoformat()

    @property
    def year(self) -> str:
        return self.start[:4]


def normalise_date(text: str | None) -> str:
    """``text`` as an ISO 8601 date or interval, or ``""`` when it is not a date we can read."""
    found = parse_date(text)
    return found.iso if found else ""


def parse_date(text: str | None) -> DateRange | None:
    """Read one date or range; ``None`` when ``text`` is none of the shapes in the module doc."""
    if not text:
        return None
    # lower case first: the patterns then need no case-insensitive flag, whose Unicode details differ
    # between Python and XPath regular expressions
    value = _strip_qualifiers(_WHITESPACE.sub(" ", text).strip(" ").lower())
    if not value:
        return None
    single = _single(value)
    if single is not None:
        return DateRange(single, single)
    return _range(value)


def _strip_qualifiers(value: str) -> str:
    match = _BRACKETS.match(value)
    if match:
        value = (match.group(1) if match.group(1) is not None else match.group(2)).strip(" ")
    value = _QUALIFIER.sub("", value)
    if value.endswith("?"):
        value = value[:-1].strip(" ")
    return value


def _range(value: str) -> DateRange | None:
    match = _DECADE.match(value)
    if match:
        return DateRange(f"{match.group(1)}0", f"{match.group(1)}9") if match.group(1) != "000" else None
    match = (
        _YEAR_RANGE.match(value) or _BETWEEN.match(value) or _RANGE.match(value) or _SLASH_RANGE.match(value)
    )
    if not match:
        return None
    start, end = _single(match.group(1).strip(" ")), _single(match.group(2).strip(" "))
    if start is None or end is None or _first_day(start) > _last_day(end):
        return None
    return DateRange(start, end)


def _ymd(year: str, month: str, day: str) -> str | None:
    try:
        return date(int(year), int(month), int(day)).isoformat()
    except ValueError:
        return None


def _ym(year: str, month: str) -> str | None:
    if int(year) < 1 or not 1 <= int(month) <= 12:
        return None
    return f"{year}-{int(month):02d}"


def _year(year: str) -> str | None:
    return year if int(year) >= 1 else None


def _month_number(name: str) -> str:
    return str(_MONTH_KEYS.index(name[:3]) + 1)


_TIME = r"(?:[t ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?(?:z|[+-][0-9]{2}:?[0-9]{2})?)?"

#: single-date shapes, tried in order: (anchored pattern, builder of the ISO value or None)
_SINGLE: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str | None]]] = [
    (re.compile(rf"^([0-9]{{4}})-([0-9]{{2}})-([0-9]{{2}}){_TIME}$"), lambda m: _ymd(m[1], m[2], m[3])),
    (re.compile(r"^([0-9]{4})-([0-9]{2})$"), lambda m: _ym(m[1], m[2])),
    (re.compile(r"^([0-9]{4})$"), lambda m: _year(m[1])),
    (re.compile(r"^([0-9]{4})([0-9]{2})([0-9]{2})$"), lambda m: _ymd(m[1], m[2], m[3])),
    (re.compile(r"^([0-9]{4})[/.]([0-9]{1,2})[/.]([0-9]{1,2})$"), lambda m: _ymd(m[1], m[2], m[3])),
    (re.compile(r"^([0-9]{1,2})[/.-]([0-9]{1,2})[/.-]([0-9]{4})$"), lambda m: _ymd(m[3], m[2], m[1])),
    (
        re.compile(rf"^([0-9]{{1,2}})(?:st|nd|rd|th)?\.? {MONTH},? ([0-9]{{4}})$"),
        lambda m: _ymd(m[3], _month_number(m[2]), m[1]),
    ),
    (
        re.compile(rf"^{MONTH} ([0-9]{{1,2}})(?:st|nd|rd|th)?,? ([0-9]{{4}})$"),
        lambda m: _ymd(m[3], _month_number(m[1]), m[2]),
    ),
    (re.compile(rf"^{MONTH},? ([0-9]{{4}})$"), lambda m: _ym(m[2], _month_number(m[1]))),
]


def _single(value: str) -> str | None:
    for pattern, build in _SINGLE:
        match = pattern.match(value)
        if match:
            return build(match)
    return None


def _first_day(iso: str) -> date:
    parts = [int(p) for p in iso.split("-")]
    return date(parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1)


def _last_day(iso: str) -> date:
    parts = [int(p) for p in iso.split("-")]
    year = parts[0]
    month = parts[1] if len(parts) > 1 else 12
    day = parts[2] if len(parts) > 2 else calendar.monthrange(year, month)[1]
    return date(year, month, day)
