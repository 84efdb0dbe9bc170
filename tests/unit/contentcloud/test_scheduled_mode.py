"""How a run the schedule started chooses between a full and an incremental harvest."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from contentcloud.pipeline.tasks import scheduled_mode

NOW = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)  # a Wednesday


def test_without_a_schedule_section_runs_are_incremental():
    assert scheduled_mode(None, None, now=NOW) == ("incremental", "the default")
    assert scheduled_mode("@daily", None, now=NOW) == ("incremental", "the default")
    assert scheduled_mode({"cron": "@daily"}, None, now=NOW) == ("incremental", "the profile's schedule")


def test_incremental_false_harvests_in_full_every_time():
    mode, reason = scheduled_mode({"cron": "@daily", "incremental": False}, NOW, now=NOW)
    assert (mode, reason) == ("full", "the profile's schedule harvests in full (incremental: false)")


@pytest.mark.parametrize(
    ("every", "last_full", "expected"),
    [
        # weekly fires Sunday 00:00: the last one before NOW is 2026-11-15
        ("@weekly", datetime(2026, 11, 15, 0, 30, tzinfo=UTC), "incremental"),
        ("@weekly", datetime(2026, 11, 14, 23, 0, tzinfo=UTC), "full"),
        ("0 3 * * *", datetime(2026, 11, 18, 2, 0, tzinfo=UTC), "full"),  # before today's 03:00
        ("0 3 * * *", datetime(2026, 11, 18, 3, 5, tzinfo=UTC), "incremental"),
        ("@monthly", datetime(2026, 11, 1, 0, 0, tzinfo=UTC), "incremental"),
        ("@monthly", None, "full"),
    ],
)
def test_full_every_is_full_unless_a_full_harvest_followed_its_last_firing(every, last_full, expected):
    mode, reason = scheduled_mode({"cron": "@daily", "full_every": every}, last_full, now=NOW)
    assert mode == expected, reason
    assert reason.startswith(f"full_every {every}: ")
