"""Date normalisation: the shapes of the module docstring, impossible dates, and properties."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from transforms.dates import DateRange, normalise_date, parse_date

MONTHS = [
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


SHAPES = [
    ("2015-06-16", "2015-06-16"),
    ("2015-06-16T10:22:01Z", "2015-06-16"),
    ("2015-06-16 10:22", "2015-06-16"),
    ("2015-06-16T10:22:01.123+02:00", "2015-06-16"),
    ("2015-06", "2015-06"),
    ("2015", "2015"),
    ("20150616", "2015-06-16"),
    ("2015/6/16", "2015-06-16"),
    ("2015.06.16", "2015-06-16"),
    ("16/06/2015", "2015-06-16"),
    ("01/02/2015", "2015-02-01"),  # day first
    ("16.6.2015", "2015-06-16"),
    ("16-06-2015", "2015-06-16"),
    ("2 March 2015", "2015-03-02"),
    ("2nd March, 2015", "2015-03-02"),
    ("2. Mar. 2015", "2015-03-02"),
    ("March 2, 2015", "2015-03-02"),
    ("Sept 3rd 2015", "2015-09-03"),
    ("June 2015", "2015-06"),
    ("DEC, 1999", "1999-12"),
    ("  ca.   1850 ", "1850"),
    ("c. 1850", "1850"),
    ("circa 1850", "1850"),
    ("about 1850", "1850"),
    ("[1850]", "1850"),
    ("(1850?)", "1850"),
    ("[ca. 1850?]", "1850"),
    ("1850?", "1850"),
    ("1850s", "1850/1859"),
    ("1850-1860", "1850/1860"),
    ("1850 - 1860", "1850/1860"),
    ("1850–1860", "1850/1860"),
    ("1850 to 1860", "1850/1860"),
    ("between 1850 and 1860", "1850/1860"),
    ("2015-01-01/2015-12-31", "2015-01-01/2015-12-31"),
    ("June 1850 to May 1860", "1850-06/1860-05"),
    ("16/06/2015 - 17/06/2015", "2015-06-16/2015-06-17"),
    ("1850-1850", "1850"),
]
NOT_DATES = [
    "",
    None,
    "hello",
    "2015-02-30",
    "2015-13",
    "2015-00",
    "0000",
    "32/01/2015",
    "1860-1850",
    "1850s-ish",
    "2015-06-16/2015-06-15",
    "Smarch 2015",
    "12345",
    "15",
    "2015-6-16",
    "between 1850",
    "000s",
    "2016-02-30",
    "1900-02-29",
]


@pytest.mark.parametrize(("text", "iso"), SHAPES)
def test_shapes(text, iso):
    assert normalise_date(text) == iso


@pytest.mark.parametrize("text", NOT_DATES)
def test_not_dates(text):
    assert parse_date(text) is None
    assert normalise_date(text) == ""


def test_range_bounds_are_calendar_aware():
    assert parse_date("2016-02") == DateRange("2016-02", "2016-02")
    assert parse_date("2016-02").last_day == "2016-02-29"
    assert parse_date("2015-02").last_day == "2015-02-28"
    assert parse_date("1850s").first_day == "1850-01-01"
    assert parse_date("1850s").last_day == "1859-12-31"
    assert parse_date("June 1850 to May 1860").last_day == "1860-05-31"
    assert parse_date("between 1850 and 1860").year == "1850"


@given(st.dates(min_value=date(1, 1, 1)))
def test_any_real_date_in_every_numeric_shape(day):
    y, m, d = f"{day.year:04d}", day.month, day.day
    expected = day.isoformat()
    for text in (
        expected,
        f"{y}{m:02d}{d:02d}",
        f"{y}/{m}/{d}",
        f"{d}/{m}/{y}",
        f"{d}.{m:02d}.{y}",
        f"{d} {MONTHS[m - 1]} {y}",
        f"{MONTHS[m - 1][:3].upper()} {d}, {y}",
    ):
        assert normalise_date(text) == expected, text


@given(st.dates(min_value=date(1, 1, 1), max_value=date(9998, 1, 1)), st.integers(0, 4000))
@example(date(2015, 6, 16), 0)
def test_ranges_keep_their_order(start, length):
    end = start + timedelta(days=length)
    found = parse_date(f"{start.isoformat()}/{end.isoformat()}")
    assert found is not None
    assert (found.first_day, found.last_day) == (start.isoformat(), end.isoformat())
    backwards = parse_date(f"{end.isoformat()}/{start.isoformat()}")
    assert (backwards is None) == (length > 0)


@given(st.text(max_size=40))
def test_normalising_twice_changes_nothing(text):
    once = normalise_date(text)
    assert normalise_date(once) == once
