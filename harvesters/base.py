"""The contract between a harvester and the collect step.

A harvester turns its profile's ``api`` parameters into a stream of :class:`Page` objects: the
records of the page as ``(RecordInput, deleted)`` pairs, the problems met on it, and a JSON
checkpoint from which a later run continues *after* this page. A harvester never writes to the
MDStore: the step writes each page, then saves its checkpoint in the open transaction, so a
crash between the two only makes a resumed run redo one idempotent page.

Harvesters get plain values: secrets are already resolved from the environment by the step.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from mdstore.envelope import RecordInput

Mode = Literal["full", "incremental"]


@dataclass(frozen=True)
class HarvestRequest:
    """What the step asks for.

    ``watermark`` is the state the last committed harvest left for incremental runs (e.g. the
    server's ``responseDate`` at its start); ``resume`` is the checkpoint of the last page of an
    interrupted run. ``from_``/``until`` are explicit windows given by the operator.
    """

    mode: Mode = "full"
    from_: str | None = None
    until: str | None = None
    watermark: Mapping[str, Any] | None = None
    resume: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Problem:
    """Something on a page that could not be turned into a record.

    With ``raw`` it also goes to the discarded store (the bytes we could not parse).
    """

    message: str
    location: str | None = None
    record_id: str | None = None
    raw: bytes | None = None


@dataclass
class Page:
    """One unit of progress: written, then checkpointed, by the step."""

    items: list[tuple[RecordInput, bool]]
    checkpoint: dict[str, Any]
    label: str = ""
    problems: list[Problem] = field(default_factory=list)
    #: the number of records the source announces in total, if it does (progress bars)
    expected_total: int | None = None


@runtime_checkable
class Harvester(Protocol):
    """A collection plugin (``oai``, ``ftp``, ``http`` or an outside one).

    ``from_profile`` builds one from the profile's ``api`` section (already checked by the JSON
    Schema, secrets resolved); ``harvest`` streams pages; ``close`` frees connections.
    """

    @classmethod
    def from_profile(
        cls, api: Mapping[str, Any], *, datasource: str, options: HarvestOptions | None = None
    ) -> Harvester: ...

    def harvest(self, request: HarvestRequest) -> Iterator[Page]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class HarvestOptions:
    """Knobs the step (not the profile) controls: retry timing, size caps, page sizes."""

    retry: Any = None  #: a :class:`harvesters.transport.RetryPolicy`; None = from the profile
    page_size: int = 500  #: records per page for sources without their own paging (files)
    max_file_bytes: int = 2 * 2**30  #: largest single file or archive member accepted
    max_archive_bytes: int = 8 * 2**30  #: largest total uncompressed size of one archive
    max_record_bytes: int = 64 * 2**20  #: largest single record
    max_page_bytes: int = 64 * 2**20  #: largest response of a paged source (OAI-PMH, paged API)


def is_harvester(obj: Any) -> bool:
    """Registry check: a class with ``from_profile`` and ``harvest``."""
    return (
        isinstance(obj, type)
        and callable(getattr(obj, "from_profile", None))
        and callable(getattr(obj, "harvest", None))
    )


def put_unless_stopped(results: queue.Queue, item: object, stop: threading.Event) -> bool:
    """Put ``item`` on a bounded queue, waiting while it is full, until ``stop`` is set.

    Pages are handed between a producer thread and the writer through a bounded queue (memory
    stays bounded when the writer is slower); a plain blocking ``put`` would hang the producer for
    ever once the consumer has stopped, so this one gives up when ``stop`` is set. True when put.
    """
    while not stop.is_set():
        try:
            results.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False
