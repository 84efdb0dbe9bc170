"""The File Download Service: fetch the files that stored records point to, politely and resumably.

The dispatcher (the calling thread) reads records in id order, takes their URLs with the
profile's extractor, settles what needs no request (filtered extensions, refused schemes or
hosts, a URL already fetched for another record in this run, tombstones) and hands the rest to
a pool of worker threads. A worker waits for one of the ``concurrency`` download slots and a
slot of the host (at most ``per_host`` connections to one host, request starts ``delay`` seconds
apart), streams the file through the shared :class:`~harvesters.transport.Transport` (timeouts,
retries with back-off, ``Retry-After``) into a writer of the content-addressed
:class:`~harvesters.download.filestore.FileStore`, gives both slots back, then commits the file
(durably: the local store syncs the files of many workers together) and only then writes the
outcome to the :class:`~harvesters.download.ledger.Ledger`, so an ``ok`` row always names a file
that is safely stored. The pool has more threads than download slots, so files waiting for their
commit do not idle the network. A file already held is re-validated with its ETag /
Last-Modified; a 304 is not downloaded again.

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
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from harvesters.deadline import expired
from harvesters.download.config import DownloadConfig
from harvesters.download.errors import ContentTypeRejected, FileRejected, FileTooLarge, Refused, TooSlow
from harvesters.download.extract import UrlExtractor, build_extractor
from harvesters.download.filestore import commit_later
from harvesters.download.ledger import HELD_STATES, Entry, Ledger, now_text
from harvesters.download.policy import AddressPolicy, guard_session
from harvesters.transport import DeadlinePassed, RetryPolicy, Transport
from mdstore.errors import RecordError, StoreError, TransportError
from mdstore.redact import mask_text, mask_url

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
#: files in flight (requested, spooled or being committed, not yet in the ledger) per download slot
IN_FLIGHT = 4
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

    def close(self) -> None:
        self.stack.close()


@dataclass(frozen=True)
class _Answer:
    """What the server answered: its response, the body spooled into a writer (2xx), and
    whether the request was conditional."""

    response: requests.Response
    spooled: _Spooled | None
    conditional: bool


class _Counter:
    """Files handed out and not yet settled; a run ends when none is left."""

    def __init__(self) -> None:
        self._count = 0
        self._cond = threading.Condition()

    def add(self) -> None:
        with self._cond:
            self._count += 1

    def remove(self) -> None:
        with self._cond:
            self._count -= 1
            if not self._count:
                self._cond.notify_all()

    def wait_empty(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: not self._count, timeout)


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

    def __init__(
        self,
        per_host: int,
        delay: float,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_host = per_host
        self.delay = delay
        self.sleep = sleep
        self.clock = clock
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
                    now = self.clock()
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
        #: at most ``concurrency`` downloads on the network at once, whatever the pool size
        self.network = threading.BoundedSemaphore(config.concurrency)
        #: a store with quick commits (the local one's group commit runs in the background) frees
        #: a thread as soon as its file is handed over, so ``concurrency`` threads keep the network
        #: busy (more only cost CPU); a store whose commit holds the thread (fsync per file, an
        #: upload) gets 4 times as many, so files being committed do not idle the download slots
        quick = bool(getattr(store, "quick_commits", False))
        self.threads = config.concurrency * (1 if quick else IN_FLIGHT)
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
        self._pool: ThreadPoolExecutor | None = None
        self.first_errors: list[str] = []
        self._unwritten: list[str] = []

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
        self._unwritten: list[str] = []
        slots = threading.BoundedSemaphore(IN_FLIGHT * self.config.concurrency)
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

        def settled(job: Job) -> Callable[[], None]:
            """Called once the file's row is written."""

            def done() -> None:
                slots.release()
                self._settle(job.record_id)
                in_flight.remove()

            return done

        def release_if_cancelled(future: Future) -> None:
            if future.cancelled():  # an interrupted run: never started, never settled
                slots.release()
                in_flight.remove()

        def drain() -> None:
            """Wait for every file handed out to be settled (rows of committed files included)."""
            while not in_flight.wait_empty(REPORT_EVERY):
                report()

        in_flight = _Counter()
        with ThreadPoolExecutor(self.threads, thread_name_prefix=f"download-{self.datasource}") as pool:
            self._pool = pool
            try:
                for record in records:
                    jobs = self._dispatch(record, run_id)
                    self._settle(record.id, add=len(jobs))
                    for job in jobs:
                        if self._joins_same_url(job):
                            continue
                        while not slots.acquire(timeout=REPORT_EVERY):
                            report()
                        in_flight.add()
                        pool.submit(self._fetch, job, settled(job)).add_done_callback(release_if_cancelled)
                    report()
                drain()
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                drain()  # files handed to the store are written, as committed files should be
                report(force=True)
                raise
            finally:
                self._pool = None
        report(force=True)
        if self._unwritten:
            raise StoreError(
                f"{len(self._unwritten)} ledger rows could not be written (first: {self._unwritten[0]});"
                " their files are fetched again by the next run"
            )
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
                self.first_errors.append(mask_text(text))

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
    def _fetch(self, job: Job, settled: Callable[[], None]) -> None:
        """One file, start to ledger row; never raises (a bug is logged and recorded), and
        the file is always settled, here or by :meth:`_stored`: a run waits for every file.

        The request runs here. A downloaded file is then handed to the store for its commit
        and this thread goes on to the next file: the row is written by :meth:`_stored` once the
        file is durably stored, from the store's committer thread when it commits in groups.
        """
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
            answer = self._request(job)
            if answer.spooled is not None:
                self._commit(job, base, answer, settled)
                return
            entry = self._answer_without_file(job, base, answer)
        except Exception as exc:
            entry = self._failure(job, base, exc)
        else:
            self._put(job, entry)
        self._finish(job, entry, settled)

    def _request(self, job: Job) -> _Answer:
        """The request (conditional when a stored copy can be re-validated) and the body spooled."""
        headers: dict[str, str] | None = None
        previous = job.previous
        conditional = bool(
            previous is not None
            and previous.state in HELD_STATES
            and previous.sha256
            and (previous.etag or previous.last_modified)
            and self.store.has(previous.sha256)
        )
        if conditional:
            assert previous is not None
            headers = {}
            if previous.etag:
                headers["If-None-Match"] = previous.etag
            if previous.last_modified:
                headers["If-Modified-Since"] = previous.last_modified
        # the network part holds a download slot and a slot of the host; storing does not
        with self.network, self.gate.slot(urlsplit(job.url).netloc.lower()):
            response, spooled = self.transport.stream(
                job.url, self._spool_body, headers=headers, max_time=self.config.max_time
            )
        return _Answer(response, spooled, conditional)

    def _commit(self, job: Job, base: Entry, answer: _Answer, settled: Callable[[], None]) -> None:
        """Hand the spooled file to the store; :meth:`_stored` gets the outcome."""
        assert answer.spooled is not None

        def then(outcome: StoredFile | Exception) -> None:
            """From the store's committer thread: the row is written by a worker, so the next
            batch does not wait for this one's rows (once the pool is shut down, here)."""
            pool = self._pool
            try:
                if pool is not None:
                    pool.submit(self._stored, job, base, answer, outcome, settled)
                    return
            except RuntimeError:  # the pool is shutting down
                pass
            self._stored(job, base, answer, outcome, settled)

        try:
            commit_later(answer.spooled.writer, then)
        except BaseException:
            answer.spooled.close()
            raise

    def _stored(
        self,
        job: Job,
        base: Entry,
        answer: _Answer,
        outcome: StoredFile | Exception,
        settled: Callable[[], None],
    ) -> None:
        """The file's commit is over: write its row (``ok`` only now: the file is durable)."""
        try:
            assert answer.spooled is not None
            answer.spooled.close()
            if isinstance(outcome, Exception):
                raise outcome
            entry = self._stored_entry(job, base, answer, outcome)
        except Exception as exc:
            entry = self._failure(job, base, exc)
        else:
            self._put(job, entry)
        self._finish(job, entry, settled)

    def _put(self, job: Job, entry: Entry) -> None:
        """Write a row. A row that cannot be written is logged and noted, not raised: the file
        is settled all the same (the run must end), and :meth:`run` fails once all are settled."""
        try:
            self.ledger.put(entry)
        except Exception as exc:
            logger.error(
                "%s: %s: the ledger row could not be written: %s", self.datasource, mask_url(job.url), exc
            )
            with self._counts_lock:
                self._unwritten.append(f"{job.url}: {exc}")

    def _finish(self, job: Job, entry: Entry, settled: Callable[[], None]) -> None:
        try:
            self._release_url(job, entry)
        except Exception:
            logger.exception("%s: %s: the rows of the records sharing it failed", self.datasource, job.url)
        finally:
            settled()

    def _answer_without_file(self, job: Job, base: Entry, answer: _Answer) -> Entry:
        """A 304 to a conditional request; any other answer without a body is an error."""
        response = answer.response
        if response.status_code == 304 and answer.conditional:
            self._count(urls=1, not_modified=1, unchanged=1)
            validators = _validators(response)
            return replace(
                base,
                state="not-modified",
                status=304,
                final_url=_final_url(job, response),
                error=None,
                etag=validators["etag"] or base.etag,
                last_modified=validators["last_modified"] or base.last_modified,
            )
        raise TransportError(
            f"HTTP {response.status_code} without a file", status=response.status_code, url=response.url
        )

    def _stored_entry(self, job: Job, base: Entry, answer: _Answer, stored: StoredFile) -> Entry:
        previous = job.previous
        change = (
            "new"
            if previous is None or not previous.sha256
            else "unchanged"
            if previous.sha256 == stored.sha256
            else "changed"
        )
        self._count(urls=1, downloaded=1, bytes=stored.size, deduplicated=int(stored.existed), **{change: 1})
        response = answer.response
        return replace(
            base,
            state="ok",
            status=response.status_code,
            final_url=_final_url(job, response),
            content_type=response.headers.get("Content-Type"),
            size=stored.size,
            sha256=stored.sha256,
            fetched_at=now_text(),
            error=None,
            **_validators(response),
        )

    def _failure(self, job: Job, base: Entry, exc: Exception) -> Entry:
        """The failed (or gone) row for what stopped the file; written to the ledger."""
        if isinstance(exc, Refused):
            return self._fail(job, base, exc.message, refused=True)
        if isinstance(exc, FileRejected):
            return self._fail(job, replace(base, status=exc.status), exc.message)
        if isinstance(exc, DeadlinePassed):  # before or between answers: no bytes kept
            return self._fail(
                job,
                base,
                f"the file took longer than download.max_time ({self.config.max_time:g} s); {exc.message}",
            )
        if isinstance(exc, TransportError):
            final = exc.url if exc.url and exc.url != job.url else None
            failed = replace(base, status=exc.status, final_url=final)
            if exc.status in GONE_STATUSES:
                return self._gone(job, failed, exc.message)
            return self._fail(job, failed, exc.message)
        if isinstance(exc, StoreError):  # the disk, not a bug: no traceback
            logger.error("%s: %s: %s", self.datasource, mask_url(job.url), exc)
            return self._fail(job, base, f"not stored: {exc}")
        # a bug: this file fails, the run goes on
        logger.error("%s: %s: unexpected error", self.datasource, mask_url(job.url), exc_info=exc)
        return self._fail(job, base, f"{type(exc).__name__}: {exc}")

    def _spool_body(self, response: requests.Response) -> _Spooled:
        """Check the announced type and size, then stream the body into a store writer (capped).

        The writer is committed by the caller, after the connection is given back: syncing
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
        try:
            writer = stack.enter_context(self.store.writer())
            try:
                for chunk in [] if rejection else response.iter_content(chunk_size=CHUNK):
                    writer.write(chunk)
                    if writer.size > limit:
                        rejection = FileTooLarge(
                            f"the file exceeds the maximum of {limit} bytes (stopped while streaming)",
                            url=response.url,
                        )
                        break
                    if expired():
                        break
            except Exception:
                if not expired():  # a dropped connection or a read timeout: retried by the caller
                    raise
            if rejection is None and expired():
                # the deadline of the whole transfer (set by the transport's stream), enforced at
                # the socket: a trickle ends here, whatever the size of the last read
                rejection = TooSlow(
                    f"the file took longer than download.max_time ({self.config.max_time:g} s); "
                    f"stopped after {writer.size} bytes",
                    url=response.url,
                )
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
        self._put(job, entry)
        self._count(urls=1, failed=1, refused=int(refused))
        self._note_error(f"{job.url}: {message}")
        return entry

    def _gone(self, job: Job, base: Entry, message: str) -> Entry:
        entry = replace(base, state="gone", error=message)
        self._put(job, entry)
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


def _validators(response: requests.Response) -> dict[str, str | None]:
    return {"etag": response.headers.get("ETag"), "last_modified": response.headers.get("Last-Modified")}


def _final_url(job: Job, response: requests.Response) -> str | None:
    return response.url if response.url != job.url else None
