"""Harvested files to pages of records: archives unpacked safely, XML split or taken whole.

Shared by the FTP harvester and the HTTP ``xml-split`` connector. A page holds at most
``page_size`` records; its checkpoint says which file is done and how far into the current file
the harvest got, so a resumed run skips both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import IO, Any

from harvesters.archives import Caps, UnsafeArchive, archive_kind, members
from harvesters.base import Page, Problem
from harvesters.xmlsplit import SplitSpec, split_stream
from mdstore.envelope import RecordInput


def file_items(
    stream: IO[bytes],
    name: str,
    spec: SplitSpec,
    *,
    caps: Caps,
    archives: bool = True,
    skip: int = 0,
    max_record_bytes: int = 64 * 2**20,
) -> Iterator[RecordInput | Problem]:
    """Records and problems of one downloaded file (an archive's members in order)."""
    if archives and archive_kind(name):
        try:
            for member, member_stream in members(stream, name, caps):
                yield from split_stream(
                    member_stream, f"{name}!{member}", spec, max_record_bytes=max_record_bytes
                )
        except UnsafeArchive as exc:
            yield Problem(exc.message, location=name)
        return
    yield from split_stream(stream, name, spec, skip=skip, max_record_bytes=max_record_bytes)


class PageBuilder:
    """Collects items into pages of ``page_size`` records with a caller-made checkpoint."""

    def __init__(self, page_size: int, label: str) -> None:
        self.page_size = page_size
        self.label = label
        self.items: list[tuple[RecordInput, bool]] = []
        self.problems: list[Problem] = []
        self.count = 0

    def add(self, item: RecordInput | Problem) -> bool:
        """Add one item; True when the page is full."""
        if isinstance(item, Problem):
            self.problems.append(item)
        else:
            self.items.append((item, False))
        return len(self.items) + len(self.problems) >= self.page_size

    def flush(self, checkpoint: dict[str, Any], *, force: bool = False) -> Page | None:
        if not (self.items or self.problems or force):
            return None
        self.count += 1
        page = Page(
            items=self.items,
            checkpoint=checkpoint,
            label=f"{self.label}, page {self.count}",
            problems=self.problems,
        )
        self.items, self.problems = [], []
        return page


def paged_file_items(
    items: Iterator[RecordInput | Problem],
    builder: PageBuilder,
    checkpoint: Callable[[int], dict[str, Any]],
    start: int = 0,
) -> Iterator[Page]:
    """Pages of one file's items; ``checkpoint(n)`` describes "n items of this file done"."""
    done = start
    for item in items:
        done += 1
        if builder.add(item):
            page = builder.flush(checkpoint(done))
            if page is not None:
                yield page
