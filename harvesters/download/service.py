"""The File Download Service: fetch the files that stored records point to, politely and resumably.

The dispatcher (the calling thread) reads records in id order, takes their URLs with the
profile's extractor, settles what needs no request (filtered extensions, refused schemes or
hosts, a URL already fetched for another record in this run, tombstones) and hands the rest to
a pool of worker threads. A worker waits for one of the ``concurrency`` download slots and a
slot of the host (at most ``per_host`` connections to one host, request starts ``delay`` seconds
apart), streams the file through the shared :class:`~harvesters.transport.Transport` (timeouts,
retries with back-off, ``Retry-After``) into a writer of the content-addressed
:class:`~harvesters.download.filestore.FileStore`, gives both slots back, then commits the file
(fsync, address) and writes the outcome to the :class:`~harvesters.download.ledger.Ledger`. The
pool has more threads than download slots, so a slow disk does not idle the network. A file
already held is re-validated with its ETag / Last-Modified; a 304 is not downloaded again.

Nothing about one file stops the run: every failure becomes a ledger row. At most
``4 × concurrency`` files are in flight and a file is streamed in 64 KiB chunks, so memory stays
flat whatever the number or size of files. The run's cursor is the last record whose files are
all in the ledger; a killed run resumes after it, skipping files this run already settled.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from harvesters.download.config import DownloadConfig
from harvesters.download.errors import ContentTypeRejected, FileRejected, FileTooLarge, Refused, TooSlow
from harvesters.download.extract import UrlExtractor, build_extractor
from harvesters.download.ledger import HELD_STATES, Entry, Ledger, now_text
from harvesters.download.policy import AddressPolicy, guard_session
from harvesters.transport import RetryPolicy, Transport
from mdstore.errors import RecordError, TransportError

if TYPE_CHECKING:
    import requests

    from harvesters.download.filestore import FileStore, StoredFile
    from mdstore.envelope import Record

logger = logging.getLogger(__name__)

CHUNK = 1 << 16
#: statuses that say the file is not there (any more)
GONE_STATUSES = (404, 410)
#: how often the dispatcher saves the cursor and reports progress (seconds)
REPORT_EVERY = 0.5
#: progress callback: (records settled, total records or None, message)
ProgressFn = Callable[[int, "int | None", str], None]


@dataclass
class DownloadCounts:
    """What a run did, file by file; carried in the ledger so a resumed run reports the whole."""

    records: int = 0  #: records settled (present and deleted)
    records_deleted: int = 0  #: tombstones met
    record_errors: int = 0  #: records whose links could not be read
    urls: int = 0  #: (record, URL) pairs settled
    downloaded: int = 0  #: answered 200 and stored
    new: int = 0  #: first copy for this (record, URL)
    changed: int = 0  #: a different file than the copy held before
    unchanged: int = 0  #: same bytes as before, or 304
    not_modified: int = 0  #: answered 304 to a conditional request
    deduplicated: int = 0  #: the bytes were already in the store (another URL or record)
    reused: int = 0  #: the URL was settled for another record in this run: no request
    skipped: int = 0  #: filtered out by extension: no request
    refused: int = 0  #: scheme, host or address not allowed: no request
    failed: int = 0  #: failed (refused included)
    gone: int = 0  #: 404 / 410
    marked_deleted: int = 0  #: ledger rows marked record-deleted
    bytes: int = 0  #: bytes downloaded

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> DownloadCounts:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: int(v) for k, v in (data or {}).items() if k in known})

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass
class _Spooled:
    """A body fully written to a store writer, waiting for its commit (or its discard)."""

    writer: Any
    stack: ExitStack

    def commit(self) -> StoredFile:
        return self.writer.commit()

    def close(self) -> None:
        self.stack.close()


@dataclass(frozen=True)
class Job:
    """One file to request for one record."""

    record_id: str
    original_id: str
    url: str
    previous: Entry | None
    run_id: str


@dataclass
class _Settlement:
    """Records in dispatch order with their unfinished files: the cursor is the last settled one."""

    pending: OrderedDict[str, int] = field(default_factory=OrderedDict)
    cursor: str | None = None
    settled: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, record_id: str, jobs: int) -> int:
        with self.lock:
            self.pending[record_id] = jobs
            return self._advance()

    def done(self, record_id: str) -> int:
        with self.lock:
            self.pending[record_id] -= 1
            return self._advance()

    def _advance(self) -> int:
        newly = 0
        while self.pending:
            record_id, left = next(iter(self.pending.items()))
            if left > 0:
                break
            self.pending.popitem(last=False)
            self.cursor = record_id
            self.settled += 1
            newly += 1
        return newly


class HostGate:
    """At most ``per_host`` requests at once to one host, their starts ``delay`` seconds apart."""

    def __init__(self, per_host: int, delay: float, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.per_host = per_host
        self.delay = delay
        self.sleep = sleep
        self._lock = threading.Lock()
        self._slots: dict[str, threading.Semaphore] = {}
        self._next_start: dict[str, float] = {}

    @contextmanager
    def slot(self, host: str) -> Iterator[None]:
        with self._lock:
            semaphore = self._slots.setdefault(host, threading.Semaphore(self.per_host))
        semaphore.acquire()
        try:
            if self.delay > 0:
                with self._lock:
                    now = time.monotonic()
                    start = max(now, self._next_start.get(host, now))
                    self._next_start[host] = start + self.delay
                if start > now:
                    self.sleep(start - now)
            yield
        finally:
            semaphore.release()


class FileDownloadService:
    """Downloads the files of one datasource's records into a store, keeping a ledger."""

    def __init__(
        self,
        config: DownloadConfig,
        *,
        store: FileStore,
        ledger: Ledger,
        datasource: str,
        retry: RetryPolicy | None = None,
        extractor: UrlExtractor | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.ledger = ledger
        self.datasource = datasource
        self.extractor = extractor or build_extractor(config)
        self.policy = AddressPolicy(config.allow_hosts, config.allow_networks)
        self.gate = HostGate(config.per_host, config.delay)
        #: at most ``concurrency`` downloads on the network at once; the pool has twice as many
        #: threads, so files being fsynced into the store do not hold a download slot
        self.network = threading.BoundedSemaphore(config.concurrency)
        retry = retry or RetryPolicy(
            max_retries=config.max_retries, backoff=config.backoff, max_backoff=config.max_backoff
        )
        self.transport = Transport(
            # files are stored as served: no transfer decoding, and Content-Length is the file size
            headers={"Accept-Encoding": "identity"},
            timeout=config.timeout,
            retry=retry,
            user_agent=config.user_agent,
            datasource=datasource,
            session_setup=lambda session: guard_session(
                session, self.policy, max_redirects=config.max_redirects
            ),
        )
        self._counts = DownloadCounts()
        self._counts_lock = threading.Lock()
        self._settlement = _Settlement()
        #: URL → jobs of other records waiting for its outcome, while it is fetched
        self._in_flight: dict[str, list[Job]] = {}
        self._flight_lock = threading.Lock()
        self.first_errors: list[str] = []

    def close(self) -> None:
        self.transport.close()

    # --- the run ------------------------------------------------------------------------------
    def run(
        self,
        records: Iterable[Record],
        *,
        run_id: str,
        counts: DownloadCounts | None = None,
        total: int | None = None,
        on_progress: ProgressFn | None = None,
    ) -> DownloadCounts:
        """Settle every file of ``records`` (ordered by id) for run ``run_id``; see the module doc.

        ``counts`` continues the tally of a resumed run. Files whose ledger row already carries
        ``run_id`` are settled (a resumed run skips them). Returns the final counts.
        """
        self._counts = counts or DownloadCounts()
        self._settlement = settlement = _Settlement()
        self._in_flight = {}
        slots = threading.BoundedSemaphore(4 * self.config.concurrency)  # files in flight
        last_report = 0.0
        base_records = self._counts.records

        def report(force: bool = False) -> None:
            nonlocal last_report
            now = time.monotonic()
            if not force and now - last_report < REPORT_EVERY:
                return
            last_report = now
            with settlement.lock:  # the cursor and the records before it, taken together
                cursor, settled = settlement.cursor, settlement.settled
            with self._counts_lock:
                snapshot = self._counts.as_dict()
            snapshot["records"] = base_records + settled
            self.ledger.save_progress(run_id, cursor, snapshot)
            if on_progress is not None:
                on_progress(
                    base_records + settlement.settled,
                    total,
                    f"{snapshot['downloaded']} files, {snapshot['failed'] + snapshot['gone']} failed",
                )

        def finished(job: Job) -> Callable[[Any], None]:
            def callback(future: Any) -> None:
                slots.release()
                if not future.cancelled():  # a cancelled file (interrupted run) is not settled
                    self._settle(job.record_id)

            return callback

        with ThreadPoolExecutor(
            4 * self.config.concurrency, thread_name_prefix=f"download-{self.datasource}"
        ) as pool:
            try:
                for record in records:
                    jobs = self._dispatch(record, run_id)
                    self._settle(record.id, add=len(jobs))
                    for job in jobs:
                        if self._joins_same_url(job):
                            continue
                        while not slots.acquire(timeout=REPORT_EVERY):
                            report()
                        pool.submit(self._fetch, job).add_done_callback(finished(job))
                    report()
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                report(force=True)
                raise
        report(force=True)
        return self._counts

    def _settle(self, record_id: str, *, add: int | None = None) -> None:
        """A record enters with ``add`` files to settle, or one of its files is settled."""
        newly = self._settlement.add(record_id, add) if add is not None else self._settlement.done(record_id)
        if newly:
            self._count(records=newly)

    def _joins_same_url(self, job: Job) -> bool:
        """The same URL for another record in this run: no second request.

        Either it is in flight (the job waits for its outcome, written when it ends) or it was
        settled earlier in the run (its outcome is copied now). Otherwise the job's URL is marked
        in flight and the caller fetches it. A worker writes its row before it clears the mark,
        so one of the two always sees the outcome.
        """
        with self._flight_lock:
            waiting = self._in_flight.get(job.url)
            if waiting is not None:
                waiting.append(job)
                return True
            same = self.ledger.fetched_in_run(job.url, job.run_id, exclude_record=job.record_id)
            if same is None:
                self._in_flight[job.url] = []
                return False
        self._reuse(job, same)
        self._settle(job.record_id)
        return True

    def _reuse(self, job: Job, outcome: Entry) -> None:
        self.ledger.put(
            replace(
                outcome,
                record_id=job.record_id,
                original_id=job.original_id,
                run_id=job.run_id,
                checked_at=now_text(),
            )
        )
        extra = {outcome.state: 1} if outcome.state in ("failed", "gone") else {}
        self._count(urls=1, reused=1, **extra)

    def _release_url(self, job: Job, outcome: Entry) -> None:
        with self._flight_lock:
            waiting = self._in_flight.pop(job.url, [])
        for other in waiting:
            self._reuse(other, outcome)
            self._settle(other.record_id)

    def _count(self, **deltas: int) -> None:
        with self._counts_lock:
            for name, delta in deltas.items():
                setattr(self._counts, name, getattr(self._counts, name) + delta)

    def _note_error(self, text: str) -> None:
        with self._counts_lock:
            if len(self.first_errors) < 5:
                self.first_errors.append(text)

    # --- dispatcher: what needs no request ----------------------------------------------------
    def _dispatch(self, record: Record, run_id: str) -> list[Job]:
        # only a tombstone has no body: present records are not asked (that decodes their envelope)
        if record.body is None and record.deleted:
            marked = self.ledger.mark_record_deleted(record.id, run_id)
            self._count(records_deleted=1, marked_deleted=marked)
            return []
        try:
            urls = self.extractor.urls(record.body_bytes(), record_id=record.id)
        except RecordError as exc:
            self.ledger.put(
                Entry(
                    record.id,
                    "",
                    "failed",
                    original_id=record.original_id,
                    error=exc.message,
                    checked_at=now_text(),
                    run_id=run_id,
                )
            )
            self._count(record_errors=1)
            self._note_error(f"{record.id}: {exc.message}")
            return []
        previous = self.ledger.entries(record.id)
        jobs = []
        for url in urls:
            before = previous.get(url)
            if before is not None and before.run_id == run_id:
                continue  # settled by this run before it was interrupted
            job = Job(record.id, record.original_id, url, before, run_id)
            if self._settle_without_request(job):
                continue
            jobs.append(job)
        return jobs

    def _settle_without_request(self, job: Job) -> bool:
        base = Entry(
            job.record_id,
            job.url,
            "failed",
            original_id=job.original_id,
            checked_at=now_text(),
            run_id=job.run_id,
        )
        if not self.config.filters.accepts_url(job.url):
            self.ledger.put(
                replace(base, state="skipped", error="extension not in download.filters.extensions")
            )
            self._count(urls=1, skipped=1)
            return True
        try:
            self.policy.check_url(job.url)
        except Refused as exc:
            self._fail(job, base, exc.message, refused=True)
            return True
        return False

    # --- workers ------------------------------------------------------------------------------
    def _fetch(self, job: Job) -> None:
        """One file, start to ledger row; never raises (a bug is logged and recorded)."""
        base = Entry(
            job.record_id,
            job.url,
            "failed",
            original_id=job.original_id,
            checked_at=now_text(),
            run_id=job.run_id,
            **_kept(job.previous),
        )
        try:
            entry = self._request(job, base)
        except Refused as exc:
            entry = self._fail(job, base, exc.message, refused=True)
        except FileRejected as exc:
            entry = self._fail(job, replace(base, status=exc.status), exc.message)
        except TransportError as exc:
            final = exc.url if exc.url and exc.url != job.url else None
            failed = replace(base, status=exc.status, final_url=final)
            if exc.status in GONE_STATUSES:
                entry = self._gone(job, failed, exc.message)
            else:
                entry = self._fail(job, failed, exc.message)
        except Exception as exc:  # a bug or the disk: this file fails, the run goes on
            logger.exception("%s: %s: unexpected error", self.datasource, job.url)
            entry = self._fail(job, base, f"{type(exc).__name__}: {exc}")
        else:
            self.ledger.put(entry)
        self._release_url(job, entry)

    def _request(self, job: Job, base: Entry) -> Entry:
        headers: dict[str, str] | None = None
        previous = job.previous
        conditional = (
            previous is not None
            and previous.state in HELD_STATES
            and previous.sha256
            and (previous.etag or previous.last_modified)
            and self.store.has(previous.sha256)
        )
        if conditional:
            headers = {}
            if previous.etag:
                headers["If-None-Match"] = previous.etag
            if previous.last_modified:
                headers["If-Modified-Since"] = previous.last_modified
        # the network part holds a download slot and a slot of the host; storing does not
        with self.network, self.gate.slot(urlsplit(job.url).netloc.lower()):
            response, spooled = self.transport.stream(job.url, self._spool_body, headers=headers)
        try:
            stored = spooled.commit() if spooled is not None else None
        finally:
            if spooled is not None:
                spooled.close()
        validators = {
            "etag": response.headers.get("ETag"),
            "last_modified": response.headers.get("Last-Modified"),
        }
        final_url = response.url if response.url != job.url else None
        if response.status_code == 304 and conditional:
            self._count(urls=1, not_modified=1, unchanged=1)
            return replace(
                base,
                state="not-modified",
                status=304,
                final_url=final_url,
                error=None,
                etag=validators["etag"] or base.etag,
                last_modified=validators["last_modified"] or base.last_modified,
            )
        if stored is None:
            raise TransportError(
                f"HTTP {response.status_code} without a file", status=response.status_code, url=response.url
            )
        change = (
            "new"
            if previous is None or not previous.sha256
            else "unchanged"
            if previous.sha256 == stored.sha256
            else "changed"
        )
        self._count(urls=1, downloaded=1, bytes=stored.size, deduplicated=int(stored.existed), **{change: 1})
        return replace(
            base,
            state="ok",
            status=response.status_code,
            final_url=final_url,
            content_type=response.headers.get("Content-Type"),
            size=stored.size,
            sha256=stored.sha256,
            fetched_at=now_text(),
            error=None,
            **validators,
        )

    def _spool_body(self, response: requests.Response) -> _Spooled:
        """Check the announced type and size, then stream the body into a store writer (capped).

        The writer is committed by the caller, after the connection is given back: the fsync of
        a file should not hold one of the ``concurrency`` download slots.
        """
        limit = self.config.filters.max_size
        content_type = response.headers.get("Content-Type")
        rejection: FileRejected | None = None
        announced = response.headers.get("Content-Length", "")
        if not self.config.filters.accepts_content_type(content_type):
            rejection = ContentTypeRejected(
                f"content type {content_type or '(none)'!r} is not one of download.filters.content_types "
                f"({', '.join(self.config.filters.content_types)})",
                url=response.url,
            )
        elif announced.isdigit() and int(announced) > limit:
            rejection = FileTooLarge(
                f"the file announces {int(announced)} bytes, more than the maximum of {limit}",
                url=response.url,
            )
        stack = ExitStack()
        deadline = time.monotonic() + self.config.max_time
        try:
            writer = stack.enter_context(self.store.writer())
            for chunk in [] if rejection else response.iter_content(chunk_size=CHUNK):
                writer.write(chunk)
                if writer.size > limit:
                    rejection = FileTooLarge(
                        f"the file exceeds the maximum of {limit} bytes (stopped while streaming)",
                        url=response.url,
                    )
                    break
                if time.monotonic() > deadline:
                    rejection = TooSlow(
                        f"the file took longer than download.max_time ({self.config.max_time:g} s); "
                        f"stopped after {writer.size} bytes",
                        url=response.url,
                    )
                    break
            if rejection is not None:
                rejection.status = response.status_code
                raise rejection
        except BaseException:
            stack.close()  # the writer is discarded: nothing of this attempt is kept
            raise
        return _Spooled(writer, stack)

    # --- ledger rows of failures -----------------------------------------------------------------
    def _fail(self, job: Job, base: Entry, message: str, *, refused: bool = False) -> Entry:
        entry = replace(base, state="failed", error=message)
        self.ledger.put(entry)
        self._count(urls=1, failed=1, refused=int(refused))
        self._note_error(f"{job.url}: {message}")
        return entry

    def _gone(self, job: Job, base: Entry, message: str) -> Entry:
        entry = replace(base, state="gone", error=message)
        self.ledger.put(entry)
        self._count(urls=1, gone=1)
        self._note_error(f"{job.url}: {message}")
        return entry


def _kept(previous: Entry | None) -> dict[str, Any]:
    """What a new attempt keeps of the previous row: the stored copy and its validators."""
    if previous is None or not previous.sha256:
        return {}
    return {
        "sha256": previous.sha256,
        "size": previous.size,
        "content_type": previous.content_type,
        "fetched_at": previous.fetched_at,
        "etag": previous.etag,
        "last_modified": previous.last_modified,
        "final_url": previous.final_url,
    }
