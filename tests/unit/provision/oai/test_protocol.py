"""Request syntax: datestamps at both granularities and argument rules."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provision.oai.errors import BadArgument, BadVerb
from provision.oai.protocol import format_datestamp, parse_date_arg, parse_request

moments = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 30), timezones=st.just(UTC))


@given(moments)
def test_datestamps_round_trip_at_both_granularities(moment):
    seconds = format_datestamp(moment)
    assert parse_date_arg("from", seconds).bound == seconds
    day = seconds[:10]
    assert parse_date_arg("from", day).bound == f"{day}T00:00:00Z"
    assert parse_date_arg("until", day).bound == f"{day}T23:59:59Z"
    assert parse_date_arg("from", day).day
    assert not parse_date_arg("from", seconds).day


@pytest.mark.parametrize(
    "text",
    [
        "2024-02-30",
        "2024-1-01",
        "2024-01-01T00:00",
        "2024-01-01T00:00:00+00:00",
        "2024-01-01t00:00:00z",
        " 2024-01-01",
        "2024-01-01T00:00:00.1Z",
        "٢٠٢٤-01-01",
    ],
)
def test_bad_dates(text):
    with pytest.raises(BadArgument):
        parse_date_arg("from", text)


def test_precedence_badverb_before_badargument():
    with pytest.raises(BadVerb, match="repeated"):
        parse_request([("verb", "Identify"), ("verb", "Identify"), ("x", "1")])
    with pytest.raises(BadVerb, match="missing"):
        parse_request([("metadataPrefix", "oai_dc")])
    with pytest.raises(BadArgument, match="exclusive"):
        parse_request([("verb", "ListRecords"), ("resumptionToken", "t"), ("set", "a")])
    with pytest.raises(BadArgument, match="granularity"):
        parse_request(
            [
                ("verb", "ListRecords"),
                ("metadataPrefix", "x"),
                ("from", "2024-01-01"),
                ("until", "2024-01-02T00:00:00Z"),
            ]
        )
    request = parse_request(
        [("verb", "ListRecords"), ("metadataPrefix", "x"), ("from", "2024-01-01"), ("until", "2024-01-01")]
    )
    assert request.from_.bound == "2024-01-01T00:00:00Z"
    assert request.until.bound == "2024-01-01T23:59:59Z"
