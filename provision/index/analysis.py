"""Text analysis and value parsing shared by the embedded index, its query parser and the profile.

The embedded index must find what Solr finds, so text goes through the same chain as the Solr
schema's ``text_general`` (StandardTokenizer → LowerCaseFilter → ASCIIFoldingFilter), dates through
the same parsers as ``pdate`` and ``DateRangeField``, and titles sort like ``sort_text`` (a
primary-strength collator: case and accents ignored).

The tokenizer is a close approximation of Unicode word segmentation (UAX #29) as Lucene applies it:
letters and digits join; ``' . : ·`` join two letters (``u.s.a``, ``o'neil``, ``x:y``);
``, . ; '`` join two digits (``1,000.50``); ``_`` joins anything; every ideograph and hiragana is
a token of its own. Known differences from Lucene: emoji and some rare scripts' rules (Thai,
Myanmar dictionary segmentation) are not reproduced.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, timedelta
from functools import lru_cache

# --------------------------------------------------------------------------------------- text

_SINGLE = "\u3040-\u309f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
_WORD_CHAR = rf"[^\W{_SINGLE}]|[\u0300-\u036f]"
_LETTER = r"[^\W\d_]"
_TOKEN = re.compile(
    rf"(?=\w)[{_SINGLE}]"
    rf"|(?:{_WORD_CHAR})+"
    rf"(?:(?:(?<={_LETTER})['\u2019.:\u00b7](?={_LETTER})|(?<=\d)[,.;'\u2019](?=\d))(?:{_WORD_CHAR})+)*"
)
#: :data:`_TOKEN` on lower-cased ASCII text, where it means the same: no ideographs, no combining
#: marks, and lower-casing ASCII letters keeps every class the pattern tests. Character classes instead
#: of the alternations take a quarter of the time, and the tokens need no folding one by one
_ASCII_TOKEN = re.compile(r"[a-z0-9_]+(?:(?:(?<=[a-z])['.:](?=[a-z])|(?<=[0-9])[,.;'](?=[0-9]))[a-z0-9_]+)*")

#: characters a token may hold besides letters, digits and marks (the FTS5 tokenizer's tokenchars)
TOKEN_PUNCTUATION = "'.,:;_\u00b7"  # noqa: S105 (text tokens, not a credential)

#: ASCIIFoldingFilter's mappings that Unicode decomposition does not give
_SPECIAL_FOLDS = {
    "ß": "ss",
    "æ": "ae",
    "œ": "oe",
    "ø": "o",
    "ł": "l",
    "đ": "d",
    "ð": "d",
    "þ": "th",
    "ı": "i",
    "ħ": "h",
    "ŧ": "t",
    "ŋ": "n",
    "ŀ": "l",
    "ɐ": "a",
    "ƀ": "b",
    "ɓ": "b",
    "ƈ": "c",
    "ɗ": "d",
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u201b": "'",
    "\u2032": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u2033": '"',
    "\u2010": "-",
    "\u2011": "-",
    "\u2012": "-",
    "\u2013": "-",
    "\u2014": "-",
}


@lru_cache(maxsize=8192)
def _fold_char(char: str) -> str:
    special = _SPECIAL_FOLDS.get(char)
    if special is not None:
        return special
    decomposed = unicodedata.normalize("NFKD", char)
    if decomposed.isascii():
        return decomposed
    base = decomposed[0]
    if base.isascii() and all(unicodedata.combining(c) for c in decomposed[1:]):
        return base
    return char


def fold(text: str) -> str:
    """Lower-case and fold to ASCII where Lucene's ASCIIFoldingFilter would (``Émile`` → ``emile``)."""
    text = text.replace("İ", "i").lower()
    if text.isascii():
        return text
    return "".join(c if c < "\x80" else _fold_char(c) for c in text)


def tokens(text: str) -> list[str]:
    """The terms ``text_general`` indexes for ``text``, in order."""
    if text.isascii():  # most values: 4x faster (the index feed's analysis spent ~12 % of it here)
        return _ASCII_TOKEN.findall(text.lower())
    return [fold(token) for token in _TOKEN.findall(text)]


def token_spans(text: str) -> list[tuple[int, int, str]]:
    """:func:`tokens` with where each one is in ``text`` (start, end, term): what highlighting marks."""
    return [(match.start(), match.end(), fold(match.group())) for match in _TOKEN.finditer(text)]


#: characters the JDK's root-locale collator ignores at primary strength (spaces, hyphens and dashes,
#: controls, soft hyphen, combining marks), dumped from the JDK Solr runs on: ``Data hosting`` sorts
#: after ``Database`` in Solr, as ``datahosting`` after ``database``
_COLLATION_IGNORABLE = [
    *range(0x00, 0x21),
    0x2D,
    *range(0x7F, 0xA1),
    0xAD,
    *range(0x300, 0x346),
    0x360,
    0x361,
] + [*range(0x483, 0x487), *range(0x2000, 0x2016), *range(0x20D0, 0x20E2), 0x2212]
#: punctuation and symbols the JDK's collator orders before digits, in its order (not code points)
_COLLATION_PUNCTUATION = (
    "_\u00af,;:!\u00a1?\u00bf/.\u00b4`^\u00a8~\u00b7\u00b8'\"\u00ab\u00bb()[]{}\u00a7\u00b6\u00a9\u00ae@\u00a4\u00a2"
    "\u20a1\u20a2$\u20ab\u20ac\u20a3\u20a4\u20a5\u20a6\u20a7\u00a3\u20a8\u20aa\u20a9\u00a5*\\&#%+\u00b1\u00f7\u00d7<=>\u00ac|\u00a6\u00b0"
)
#: each such character becomes "\x01" and its rank (a private-use character, which neither NFKD nor
#: casefolding touch): before every digit and letter, in the JDK's order
_COLLATION_TABLE: dict[int, str | None] = {
    **dict.fromkeys(_COLLATION_IGNORABLE),
    **{ord(char): base for char, base in zip("æÆœŒ", ["ae", "ae", "oe", "oe"], strict=True)},
    **{ord(char): "\x01" + chr(0xE000 + rank) for rank, char in enumerate(_COLLATION_PUNCTUATION)},
}


def sort_key(text: str) -> str:
    """A key that orders like ``sort_text`` (the JDK's root-locale collator at primary strength, as
    Solr's CollationField uses it): case and accents ignored, spaces, hyphens and dashes ignored,
    punctuation before digits before letters in the JDK's order. Other symbols order by code point."""
    translated = text.translate(_COLLATION_TABLE)
    decomposed = unicodedata.normalize("NFKD", translated)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return stripped.casefold()


# --------------------------------------------------------------------------------------- dates

#: open ends of date ranges, in epoch milliseconds
MIN_MS = -(2**62)
MAX_MS = 2**62


class InvalidValue(ValueError):
    """A value a Solr field type would refuse; the message is Solr's."""


_DATE_PARTS = re.compile(
    r"^(?P<year>[+-]?\d{1,9})"
    r"(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<hour>\d{2})(?::(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.(?P<fraction>\d{1,9}))?)?)?)?)?)?"
    r"(?P<zulu>Z)?$"
)
_FULL_DATE = re.compile(r"^[+-]?\d{4,9}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?Z$")
_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 in the proleptic Gregorian calendar, for any year (H. Hinnant)."""
    year -= month <= 2
    era = year // 400  # Python's // floors, so no adjustment for negative years
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _month_length(year: int, month: int) -> int:
    return 29 if month == 2 and _is_leap(year) else _MONTH_DAYS[month - 1]


def _bounds(match: re.Match[str], text: str) -> tuple[int, int]:
    """(first, last) epoch milliseconds covered by a possibly truncated date."""
    year = int(match["year"])
    parts = [match[name] for name in ("month", "day", "hour", "minute", "second")]
    month, day, hour, minute, second = (int(p) if p is not None else None for p in parts)
    fraction = match["fraction"]
    if (
        (month is not None and not 1 <= month <= 12)
        or (hour is not None and hour > 23)
        or (minute is not None and minute > 59)
        or (second is not None and second > 59)
    ):
        raise InvalidValue(f"Couldn't parse date because: Improperly formatted datetime: {text}")
    if day is not None and (month is None or not 1 <= day <= _month_length(year, month)):
        raise InvalidValue(f"Couldn't parse date because: Improperly formatted datetime: {text}")
    lo_month, hi_month = (month, month) if month is not None else (1, 12)
    lo_day, hi_day = (day, day) if day is not None else (1, _month_length(year, hi_month))
    lo_hour, hi_hour = (hour, hour) if hour is not None else (0, 23)
    lo_min, hi_min = (minute, minute) if minute is not None else (0, 59)
    lo_sec, hi_sec = (second, second) if second is not None else (0, 59)
    if fraction is not None:
        lo_ms = hi_ms = int(fraction[:3].ljust(3, "0"))
    else:
        lo_ms, hi_ms = 0, 999
    lo = (
        ((_days_from_civil(year, lo_month, lo_day) * 24 + lo_hour) * 60 + lo_min) * 60 + lo_sec
    ) * 1000 + lo_ms
    hi = (
        ((_days_from_civil(year, hi_month, hi_day) * 24 + hi_hour) * 60 + hi_min) * 60 + hi_sec
    ) * 1000 + hi_ms
    return lo, hi


def date_bounds(text: str) -> tuple[int, int]:
    """A DateRangeField value's extent in epoch ms: ``1890``, ``2001-05``, ``-0800``, ``2014-11-04T10``."""
    text = text.strip()
    if text == "*":
        return MIN_MS, MAX_MS
    match = _DATE_PARTS.match(text)
    if match is None:
        raise InvalidValue(f"Couldn't parse date because: Improperly formatted datetime: {text}")
    return _bounds(match, text)


@lru_cache(maxsize=65536)
def date_range_bounds(text: str) -> tuple[int, int]:
    """``[a TO b]`` or a single (truncated) date → (first, last) epoch ms, as DateRangeField parses it."""
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        inner = text[1:-1].strip()
        parts = re.split(r"\s+TO\s+", inner)
        if len(parts) != 2:
            raise InvalidValue(f"Couldn't parse date because: Improperly formatted datetime: {text}")
        lo, _ = date_bounds(parts[0])
        _, hi = date_bounds(parts[1])
        if lo > hi:
            raise InvalidValue(f"Wrong order: {parts[0]} TO {parts[1]}")
        return lo, hi
    return date_bounds(text)


@lru_cache(maxsize=65536)
def _instant_ms(text: str) -> int | None:
    """A full ``YYYY-MM-DDThh:mm:ss[.fff]Z`` in epoch ms (a pure function of the text: cached)."""
    if not _FULL_DATE.match(text):
        return None
    return _bounds(_DATE_PARTS.match(text), text)[0]  # type: ignore[arg-type]


def parse_instant(text: str, *, now: datetime | None = None) -> int:
    """A ``pdate`` value in epoch ms: ``YYYY-MM-DDThh:mm:ss[.fff]Z``, ``NOW`` and simple date math."""
    text = text.strip()
    ms = _instant_ms(text)
    if ms is not None:
        return ms
    if text.startswith("NOW") or re.match(r"^\d{4}-\d{2}-\d{2}T[^+/]*Z[+\-/]", text):
        return _date_math(text, now)
    raise InvalidValue(f"Invalid Date String:'{text}'")


_MATH_UNITS = {
    "YEAR": "years",
    "YEARS": "years",
    "MONTH": "months",
    "MONTHS": "months",
    "DAY": "days",
    "DAYS": "days",
    "DATE": "days",
    "HOUR": "hours",
    "HOURS": "hours",
    "MINUTE": "minutes",
    "MINUTES": "minutes",
    "SECOND": "seconds",
    "SECONDS": "seconds",
    "MILLI": "ms",
    "MILLIS": "ms",
    "MILLISECOND": "ms",
    "MILLISECONDS": "ms",
}
_MATH_STEP = re.compile(r"([+-]\d+|/)([A-Z]+)")


def _date_math(text: str, now: datetime | None) -> int:
    """``NOW-1DAY``, ``NOW/DAY``, ``2024-01-01T00:00:00Z+1MONTH`` (Solr DateMathParser, years 1–9999)."""
    if text.startswith("NOW"):
        base = now or datetime.now(UTC)
        rest = text[3:]
    else:
        stamp, _, _ = text.partition("Z")
        base = datetime.fromisoformat(stamp).replace(tzinfo=UTC)
        rest = text[len(stamp) + 1 :]
    position = 0
    value = base
    for match in _MATH_STEP.finditer(rest):
        if match.start() != position or match[2] not in _MATH_UNITS:
            raise InvalidValue(f"Invalid Date Math String:'{text}'")
        position = match.end()
        unit = _MATH_UNITS[match[2]]
        value = _round(value, unit) if match[1] == "/" else _add(value, int(match[1]), unit)
    if position != len(rest):
        raise InvalidValue(f"Invalid Date Math String:'{text}'")
    return int(value.timestamp() * 1000)


def _add(value: datetime, amount: int, unit: str) -> datetime:
    if unit in ("years", "months"):
        months = value.year * 12 + value.month - 1 + (amount * 12 if unit == "years" else amount)
        year, month = divmod(months, 12)
        day = min(value.day, _month_length(year, month + 1))
        return value.replace(year=year, month=month + 1, day=day)
    if unit == "ms":
        return value + timedelta(milliseconds=amount)
    return value + timedelta(**{unit: amount})


def _round(value: datetime, unit: str) -> datetime:
    order = ["years", "months", "days", "hours", "minutes", "seconds", "ms"]
    fields = {
        "months": {"month": 1},
        "days": {"day": 1},
        "hours": {"hour": 0},
        "minutes": {"minute": 0},
        "seconds": {"second": 0},
        "ms": {"microsecond": 0},
    }
    keep = order.index(unit)
    for name in order[keep + 1 :]:
        value = value.replace(**fields[name])
    return value.replace(microsecond=(value.microsecond // 1000) * 1000)


def _civil_from_days(days: int) -> tuple[int, int, int]:
    """The inverse of :func:`_days_from_civil` (H. Hinnant), for any year."""
    days += 719468
    era = days // 146097
    doe = days - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + (3 if mp < 10 else -9)
    return yoe + era * 400 + (month <= 2), month, day


def format_instant(ms: int) -> str:
    """Epoch ms → Solr's date form (``2024-05-01T10:00:00Z``, millis only when not zero; 4-digit years)."""
    seconds, millis = divmod(ms, 1000)
    days, seconds = divmod(seconds, 86400)
    year, month, day = _civil_from_days(days)
    hour, rest = divmod(seconds, 3600)
    minute, second = divmod(rest, 60)
    sign = "-" if year < 0 else ""
    stamp = f"{sign}{abs(year):04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}"
    return f"{stamp}.{millis:03d}Z" if millis else f"{stamp}Z"


def normalize_instant(value: str | datetime) -> str:
    """A value for a ``pdate`` field in Solr's canonical form (raises :class:`InvalidValue`)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return format_instant(int(value.timestamp() * 1000))
    return format_instant(parse_instant(value))


_LITERAL_DATE = re.compile(
    r"^(?P<date>[+-]?\d{4,9}(?:-\d{2}(?:-\d{2})?)?)"
    r"(?:T(?P<time>\d{2}(?::\d{2}(?::\d{2}(?:\.\d+)?)?)?))?"
    r"(?P<zone>Z|[+-]\d{2}:?\d{2})?$"
)


@lru_cache(maxsize=65536)
def range_endpoint(literal: str) -> tuple[str, int, int] | None:
    """An RDF date literal (xsd:date, xsd:dateTime, xsd:gYear, ``1890``, ``-0800``) as a DateRangeField
    endpoint with its extent in epoch ms, or None when it is not a date. Time zones are dropped: a
    catalogue's time spans are days and years, and DateRangeField has no zones."""
    match = _LITERAL_DATE.match(literal.strip())
    if match is None:
        return None
    text = match["date"]
    if match["time"]:
        text = f"{text}T{match['time']}"
    try:
        lo, hi = date_bounds(text)
    except InvalidValue:
        return None
    return text, lo, hi
