"""Fixtures of the harvester integration tests: a fresh SQLite MDStore, profiles, fast retries."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contentcloud.datasources import Datasource, profile_from_dict
from harvesters.base import HarvestOptions
from harvesters.transport import RetryPolicy
from mdstore import MDStore, open_store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MDStore]:
    with open_store(f"sqlite:///{tmp_path / 'mdstore.sqlite'}") as opened:
        yield opened


class SleepLog(list):
    """Records the waits the transport asks for and sleeps only a token amount of each."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> SleepLog:
    return SleepLog()


@pytest.fixture
def fast(sleeps: SleepLog) -> HarvestOptions:
    """Retry timing for tests: real back-off arithmetic, no real waiting."""
    return HarvestOptions(
        retry=RetryPolicy(max_retries=3, backoff=0.01, max_backoff=0.05, sleep=sleeps), page_size=50
    )


def make_profile(ds_id: str, api: dict[str, Any], **extra: Any) -> Datasource:
    return profile_from_dict(
        {"id": ds_id, "name": ds_id, "nsprefix": ds_id.replace("-", "_")[:32], "api": api, **extra}
    )


def present_and_deleted(store: MDStore, datasource: Datasource) -> tuple[dict[str, bytes], set[str]]:
    """original id → body of present records, and the set of tombstoned original ids."""
    present: dict[str, bytes] = {}
    deleted: set[str] = set()
    with store.reader(datasource.native_unit) as view:
        for record in view.records():
            if record.deleted:
                deleted.add(record.original_id)
            else:
                present[record.original_id] = record.body_bytes()
    return present, deleted
