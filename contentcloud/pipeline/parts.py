"""Splitting a step's records into parts by id range, so several workers share a large source.

The transform and index steps both plan a run as contiguous id ranges ``(after, upto]`` of one
MDStore version (``None``: an open end), and each part reads only its range. The ranges are cut in
one pass over the version's ids (keyset order), so planning costs one read of the ids, not of the
records.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mdstore import ReadSession

#: records per part when a step is split over workers (profile: ``<step>.records_per_part``), and
#: the most parts
RECORDS_PER_PART = 50_000
MAX_PARTS = 16

IdRange = tuple[str | None, str | None]


def part_count(records: int, *, per_part: int = RECORDS_PER_PART, most: int = MAX_PARTS) -> int:
    """How many parts a run over ``records`` records is split into."""
    return max(1, min(most, math.ceil(records / per_part)))


def id_ranges(view: ReadSession, since: datetime | None, parts: int, total: int) -> tuple[IdRange, ...]:
    """``parts`` contiguous id ranges ``(after, upto]`` of about equal size (one pass over the ids)."""
    if parts <= 1 or total <= parts:
        return ((None, None),)
    step = total / parts
    cuts: list[str] = []
    for index, (record_id, _, _) in enumerate(view.ids(since=since)):
        if len(cuts) < parts - 1 and index + 1 >= step * (len(cuts) + 1):
            cuts.append(record_id)
    edges: list[str | None] = [None, *cuts, None]
    return tuple((edges[i], edges[i + 1]) for i in range(len(edges) - 1))


def up_to(records: Iterator[Any], upto: str | None) -> Iterator[Any]:
    """Records up to and including id ``upto`` (records come in id order)."""
    if upto is None:
        yield from records
        return
    for record in records:
        if record.id > upto:
            return
        yield record
