"""Date texts to ``xsd:dateTime`` lexical forms, as the reference date generators compute them.

A port of the reference's ``UtilsTime``: a fixed list of patterns (day/month/year with ``-``,
``/`` or ``.``, Swedish and English month names, year-first forms, bare years and year/month)
and a lower or upper bound (start of the first day, end of the last second). The reference sets
the fields on a ``java.util.GregorianCalendar`` in lenient mode, so the calendar is Julian before
15 October 1582, a too-large day rolls into the next month, and years are astronomical (0 is
1 BC); the output keeps no time zone and writes year 0 as ``0000`` and earlier years with a
minus sign.
"""

from __future__ import annotations

import re

__all__ = ["UNKNOWN_FORMAT", "to_xsd_datetime"]

UNKNOWN_FORMAT = "Unknown-Format"

_SWEDISH = [
    "Januari",
    "Februari",
    "Mars",
    "April",
    "Maj",
    "Juni",
    "Juli",
    "Augusti",
    "September",
    "Oktober",
    "November",
    "December",
]
_ENGLISH = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_ENGLISH_ABBR = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

_TIME = r"([\s]([0-9]|0[0-9]|1[0-9]|2[0-3]):([0-5][0-9])(:[0-5][0-9])?)?"
_DAY = r"(0?[1-9]|[12][0-9]|3[01])"
_PATTERNS = [
    re.compile(p, re.ASCII)
    for p in (
        _DAY + r"([-/.])(0?[1-9]|1[012])\2(-?\d{1,4})" + _TIME,
        _DAY + r"([-/.\s])(" + "|".join(_SWEDISH) + r")\2(-?\d{1,4})" + _TIME,
        _DAY + r"([-/.\s])(" + "|".join(_ENGLISH) + r")\2(-?\d{1,4})" + _TIME,
        _DAY + r"([-/.\s])(" + "|".join(_ENGLISH_ABBR) + r")\2(-?\d{1,4})" + _TIME,
        r"(" + "|".join(_SWEDISH) + r")([-/.\s])(-?\d{1,4})",
        r"(" + "|".join(_ENGLISH) + r")([-/.\s])(-?\d{1,4})",
        r"(-?\d{1,4})([-/.])(0?[1-9]|1[012])\2" + _DAY + _TIME + "$",
        r"(-?\d{1,4})",
        r"(-?\d{1,4})([-/.])(0?[1-9]|1[012])",
    )
]


def _java_int(text: str) -> int:
    return int(text)


def _parse(text: str) -> tuple[int, str, str, int, int, int] | None:
    """The fields ``UtilsTime.validate`` extracts: year, month text, day text, h, m, s (-1 = unset)."""
    for i, pattern in enumerate(_PATTERNS):
        m = pattern.fullmatch(text)
        if not m:
            continue
        groups = m.groups()
        g1 = groups[0] or ""
        g2 = groups[2] or "" if len(groups) > 2 else ""
        g3 = groups[3] or "" if len(groups) > 3 else ""
        hour = minute = second = -1
        if len(groups) > 4 and groups[4] is not None:
            hms = re.sub(r"\s+", "", groups[4], flags=re.ASCII).split(":")
            hour, minute = int(hms[0]), int(hms[1])
            if len(hms) == 3:
                second = int(hms[2])
        if i <= 3:
            year, month, day = _java_int(g3), g2, g1
        elif i <= 5:
            year, month, day = _java_int(g2), g1, ""
        else:
            year, month, day = _java_int(g1), g2, g3
        valid = True
        if day == "31" and month in ("4", "6", "9", "11", "04", "06", "09"):
            valid = False
        elif month in ("2", "02"):  # the reference's leap-year test is year % 4 for every year
            valid = day not in (("30", "31") if year % 4 == 0 else ("29", "30", "31"))
        if valid:
            return year, month, day, hour, minute, second
    return None


def _is_leap(year: int) -> bool:
    if year < 1582:
        return year % 4 == 0  # Julian calendar, astronomical years
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        return 29 if _is_leap(year) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _normalise(year: int, month: int, day: int) -> tuple[int, int, int]:
    """Lenient calendar arithmetic: roll a too-large day into the following months."""
    while day > _days_in_month(year, month):
        day -= _days_in_month(year, month)
        month += 1
        if month > 12:
            month, year = 1, year + 1
    if year == 1582 and month == 10 and 5 <= day <= 14:  # the days the Gregorian reform skipped
        day += 10
    return year, month, day


def _month_number(month: str) -> str:
    for names in (_SWEDISH, _ENGLISH, _ENGLISH_ABBR):
        if month in names:
            return "0" + str(names.index(month) + 1)
    return month


def to_xsd_datetime(text: str, bound: str, *, with_time: bool = True) -> str:
    """``xsd:dateTime`` text for ``text`` at the ``"Lower"`` or ``"Upper"`` bound (or only the
    ``xsd:date`` part without ``with_time``), or ``"Unknown-Format"`` when no pattern matches."""
    parsed = _parse(text)
    if parsed is None:
        return UNKNOWN_FORMAT
    year, month_text, day_text, hour, minute, second = parsed
    month_text = _month_number(month_text)
    if bound == "Lower":
        if month_text == "" and day_text == "":
            month_text, day_text = "01", "01"
        elif day_text == "":
            day_text = "01"
        month = int(month_text)
        y, mo, d = _normalise(year, month, int(day_text))
        if hour != -1:
            h, mi, s = hour, minute, (second if second != -1 else 0)
        else:
            h, mi, s = 0, 0, 0
    else:
        if day_text == "" and month_text != "":
            month = int(month_text)
            y, mo, d = _normalise(year, month, 1)
            d = _days_in_month(y, mo)
        else:
            if month_text == "" and day_text == "":
                month_text, day_text = "12", "31"
            y, mo, d = _normalise(year, int(month_text), int(day_text))
        if hour != -1:
            h, mi, s = hour, minute, (second if second != -1 else 59)
        else:
            h, mi, s = 23, 59, 59
    year_text = f"{y:04d}" if y >= 0 else f"-{-y:04d}"
    if not with_time:
        return f"{year_text}-{mo:02d}-{d:02d}"
    return f"{year_text}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}"
