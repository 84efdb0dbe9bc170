"""The collect step: harvest one datasource into its native MDStore unit.

One write transaction per run. Each page the harvester yields is written, then its checkpoint is
saved in the open transaction, so an interrupted run (crash, kill, dead server) can be resumed
from the last good page with ``resume=True``, or thrown away with ``abort=True``. The pages that
arrive while the ones before are written go together, with the last one's checkpoint, as one
MDStore group (see :data:`PREFETCH_PAGES`). The current
version is never touched until the final commit. Incremental runs start from the high-water mark
the last committed harvest stored in its version report (the server's clock, not ours).

The open transaction is the datasource's writer lock: while a harvest runs (its process alive,
or its heartbeat fresh when it runs on another host), a second harvest, ``resume`` or ``abort``
is refused with who runs it; ``force=True`` takes over only a transaction whose writer on
another host stopped beating (see :meth:`mdstore.MDStore.resume`).

Outcomes: ``finished``; ``finished_with_record_errors`` (records or pages discarded, stored with
the version); ``failed_resumable`` (the source failed mid-way: the transaction stays open);
``failed`` (the run cannot succeed as configured: the transaction is aborted).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from contentcloud.pipeline.summary import Outcome, ProgressFn, RunSummary, new_run_id
from mdstore.errors import ConfigError, HarvestError, InterruptedTransaction, WriterLockError

if TYPE_CHECKING:
    from contentcloud.datasources import Datasource
    from contentcloud.settings import Settings
    from harvesters.base import HarvestOptions, Page
    from mdstore import MDStore, WriteTransaction

logger = logging.getLogger(__name__)

STEP = "collect"
#: how many error messages a summary carries
FIRST_ERRORS = 5
#: How far the fetcher may run ahead of the writer: pages, and bytes of record bodies. The pages
#: that arrive while the writer stores the ones before are stored together next, as one MDStore
#: group (one SQLite commit): a slow source's pages are each written as they come, as before, and a
#: fast one stops paying a commit per page (at 1,000,000 records those commits made collect grow
#: 14x for 10x the records). A crash loses what was fetched and not written, as many pages at most,
#: which a resumed run fetches again from the last checkpoint written.
PREFETCH_PAGES = 32
PREFETCH_BYTES = 64 << 20


class CollectFailed(HarvestError):
    """The harvest finished but broke a profile limit (error rate, minimum records, drop ratio)."""


@dataclass
class _Tally:
    """Counters carried in the checkpoint, so a resumed run reports the whole harvest."""

    pages: int = 0
    records: int = 0
    errors: int = 0
    discarded: int = 0
    #: records lost to errors (a problem naming a record or carrying its raw bytes): the error rate
    lost: int = 0

    @classmethod
    def from_checkpoint(cls, data: Mapping[str, Any]) -> _Tally:
        counts = data.get("counts") or {}
        return cls(**{k: int(counts.get(k, 0)) for k in ("pages", "records", "errors", "discarded", "lost")})

    def as_dict(self) -> dict[str, int]:
        return {
            "pages": self.pages,
            "records": self.records,
            "errors": self.errors,
            "discarded": self.discarded,
            "lost": self.lost,
        }


def resolve_secrets(
    api: Mapping[str, Any], environ: Mapping[str, str], *, file: str | None = None
) -> dict[str, Any]:
    """Replace ``*_env`` fields by the values of the variables they name (``headers_env`` → ``headers``,
    ``password_env`` → ``password``). Harvesters get values; profiles and logs never hold secrets."""
    resolved: dict[str, Any] = {}
    for key, value in api.items():
        if key == "headers_env" and isinstance(value, Mapping):
            resolved["headers"] = {
                header: _env(environ, name, file, f"api.headers_env.{header}")
                for header, name in value.items()
            }
        elif key.endswith("_env") and isinstance(value, str):
            resolved[key[:-4]] = _env(environ, value, file, f"api.{key}")
        else:
            resolved[key] = value
    return resolved


def _env(environ: Mapping[str, str], name: str, file: str | None, field: str) -> str:
    value = environ.get(name)
    if value is None:
        raise ConfigError(f"the environment variable {name} is not set", file=file, field=field, rule="env")
    return value


def collect(
    store: MDStore,
    datasource: Datasource,
    *,
    mode: str = "full",
    from_: str | None = None,
    until: str | None = None,
    resume: bool = False,
    abort: bool = False,
    force: bool = False,
    run_id: str | None = None,
    on_progress: ProgressFn | None = None,
    environ: Mapping[str, str] | None = None,
    options: HarvestOptions | None = None,
    max_error_rate: float | None = None,
) -> RunSummary:
    """Harvest ``datasource`` into its native unit; see the module docstring for the outcomes."""
    from harvesters.registry import HARVESTERS

    unit = datasource.native_unit
    run_id = run_id or new_run_id(STEP)
    started = time.monotonic()
    base = {"step": STEP, "datasource": datasource.id, "run_id": run_id, "unit_out": unit.name}
    if abort:
        version = store.abort_open(unit, force=force)
        return RunSummary(
            **base,
            outcome=Outcome.NOTHING_TO_DO,
            version_out=version,
            message=f"aborted the open transaction {version}",
        )
    if mode not in ("full", "incremental"):
        raise ConfigError(f"unknown mode {mode!r} (full or incremental)", field="mode", rule="enum")
    api = resolve_secrets(
        datasource.api,
        environ if environ is not None else {},
        file=str(datasource.path) if datasource.path else None,
    )
    # built before any transaction is opened: a bad profile must not leave one behind
    harvester = HARVESTERS.get(datasource.protocol).from_profile(
        api, datasource=datasource.id, options=options
    )
    try:
        return _run(
            store,
            datasource,
            harvester,
            mode=mode,
            from_=from_,
            until=until,
            resume=resume,
            force=force,
            run_id=run_id,
            on_progress=on_progress,
            max_error_rate=max_error_rate,
            base=base,
            started=started,
        )
    finally:
        harvester.close()


def _run(
    store: MDStore,
    datasource: Datasource,
    harvester: Any,
    *,
    mode: str,
    from_: str | None,
    until: str | None,
    resume: bool,
    force: bool,
    run_id: str,
    on_progress: ProgressFn | None,
    max_error_rate: float | None,
    base: dict[str, Any],
    started: float,
) -> RunSummary:
    from harvesters.base import HarvestRequest

    unit = datasource.native_unit
    if resume:
        tx = store.resume(unit, force=force, run_id=run_id)
        checkpoint = tx.checkpoint_data
        request_args = dict(checkpoint.get("request") or {})
        request = HarvestRequest(
            mode=tx.mode,
            from_=request_args.get("from"),
            until=request_args.get("until"),
            watermark=request_args.get("watermark"),
            resume=checkpoint.get("harvester"),
        )
        tally = _Tally.from_checkpoint(checkpoint)
        logger.info(
            "%s: resuming %s harvest %s after page %d", datasource.id, tx.mode, tx.version_id, tally.pages
        )
    else:
        open_tx = store.open_transaction(unit)
        if open_tx is not None:
            _refuse_open(store, unit, open_tx.id)
        watermark = _last_watermark(store, unit) if mode == "incremental" else None
        if mode == "incremental" and store.current_version(unit) is None:
            logger.info(
                "%s: no committed harvest yet; the incremental harvest collects everything", datasource.id
            )
        request = HarvestRequest(mode=mode, from_=from_, until=until, watermark=watermark)
        tx = store.begin(unit, mode, run_id=run_id, stamp="collected", nsprefix=datasource.nsprefix)
        request_args = {"from": from_, "until": until, "watermark": watermark}
        tally = _Tally()
        tx.checkpoint({"request": request_args, "harvester": None, "counts": tally.as_dict()})

    base.update(version_in=tx.parent, version_out=tx.version_id)
    first_errors: list[str] = []
    last_checkpoint: dict[str, Any] | None = tx.checkpoint_data.get("harvester") if resume else None
    pages = prefetch(harvester.harvest(request), depth=PREFETCH_PAGES, max_bytes=PREFETCH_BYTES)
    try:
        for page in pages:
            # a slow source's pages are written one by one as they come; a fast one's in groups of
            # those that came while the group before was written (see PREFETCH_PAGES)
            group = [page, *pages.take_ready()]
            _write_group(tx, group, tally, first_errors, request_args)
            last_checkpoint = group[-1].checkpoint
            if on_progress is not None:
                on_progress(tally.records, group[-1].expected_total, group[-1].label)
    except HarvestError as exc:
        return _failed(tx, exc, base, tally, first_errors, started, datasource, resumable=exc.resumable)

    limit_error = _check_limits(tx, datasource, tally, max_error_rate)
    if limit_error is not None:
        return _failed(tx, limit_error, base, tally, first_errors, started, datasource, resumable=False)
    report = {
        "harvest": {
            "protocol": datasource.protocol,
            "mode": tx.mode,
            "run_id": run_id,
            "request": request_args,
            "watermark": (last_checkpoint or {}).get("watermark"),
            "checkpoint": last_checkpoint,
            "counts": tally.as_dict(),
            "last_full_at": _last_full_at(store, tx),
        }
    }
    info = tx.commit(report=report)
    stats = info.stats
    outcome = Outcome.RECORD_ERRORS if (tally.errors or tally.discarded) else Outcome.FINISHED
    return RunSummary(
        **base,
        outcome=outcome,
        read=tally.records,
        written=tally.records,
        added=stats.get("added", 0),
        updated=stats.get("updated", 0),
        unchanged=stats.get("unchanged", 0),
        deleted=stats.get("newly_deleted", 0),
        errors=tally.errors,
        discarded=tally.discarded,
        pages=tally.pages,
        seconds=time.monotonic() - started,
        first_errors=tuple(first_errors),
        extra={
            "present": stats.get("present", 0),
            "tombstones": stats.get("deleted", 0),
            "mode": tx.mode,
            "watermark": report["harvest"]["watermark"],
        },
    )


def _refuse_open(store: MDStore, unit: Any, version: str) -> None:
    """A new harvest while one is open: say whether it is running (and who runs it) or was
    interrupted (and how to continue or drop it)."""
    writers = store.writers(unit)
    live = [w for w in writers if w.state == "alive"]
    if live:
        raise WriterLockError(
            f"a harvest is running ({live[0].describe()}); wait for it to finish or stop it first",
            unit=unit.name,
            version=version,
        )
    stale = [w for w in writers if w.state == "stale"]
    if stale:
        raise InterruptedTransaction(
            f"an interrupted harvest ({version}) is open; its writer on another host stopped beating "
            f"({stale[0].describe()})",
            takeover=True,
            unit=unit.name,
            version=version,
        )
    raise InterruptedTransaction(
        f"an interrupted harvest ({version}) is open", unit=unit.name, version=version
    )


class prefetch:  # noqa: N801 (used like a generator: ``for page in prefetch(pages)``)
    """Fetch and parse the next pages in a thread while this one writes the pages before.

    Network waits, parsing (lxml releases the GIL) and SQLite writes overlap, so storing and
    checkpointing cost little next to fetching. Pages still arrive in order and a page is
    checkpointed only after it was written; an error of the harvester is re-raised here, in
    order, after the pages before it. The fetcher runs ahead by at most ``depth`` pages and
    ``max_bytes`` of record bodies (one page always), so memory stays bounded when the writer is
    slower; :meth:`take_ready` hands the writer every page that came while it wrote the last.
    """

    _END = object()

    def __init__(self, pages: Iterator[Page], depth: int = 2, max_bytes: int = 1 << 62) -> None:
        self._pages = pages
        self.depth = depth
        self.max_bytes = max_bytes
        self._queued: deque[tuple[object, int]] = deque()
        self._bytes = 0
        self._changed = threading.Condition()
        self._stopped = False

    def take_ready(self) -> list[Page]:
        """The pages that have arrived already, without waiting (an error or the end stays queued:
        iterating reaches it after them)."""
        taken: list[Page] = []
        with self._changed:
            while self._queued and self._is_page(self._queued[0][0]):
                page, size = self._queued.popleft()
                self._bytes -= size
                taken.append(page)  # type: ignore[arg-type]
            self._changed.notify_all()
        return taken

    def _is_page(self, item: object) -> bool:
        return item is not self._END and not isinstance(item, BaseException)

    def _put(self, item: object, size: int, *, wait: bool) -> bool:
        with self._changed:
            while (
                wait
                and not self._stopped
                and self._queued
                and (len(self._queued) >= self.depth or self._bytes + size > self.max_bytes)
            ):
                self._changed.wait()
            if self._stopped:
                return False
            self._queued.append((item, size))
            self._bytes += size
            self._changed.notify_all()
            return True

    def _produce(self) -> None:
        try:
            for page in self._pages:
                if not self._put(page, _body_bytes(page), wait=True):
                    break
        except BaseException as exc:  # handed to the consumer, which re-raises it
            self._put(exc, 0, wait=False)
        else:
            self._put(self._END, 0, wait=False)
        finally:
            close = getattr(self._pages, "close", None)
            if close is not None:
                close()

    def __iter__(self) -> Iterator[Page]:
        thread = threading.Thread(target=self._produce, name="harvest-prefetch", daemon=True)
        thread.start()
        try:
            while True:
                with self._changed:
                    while not self._queued:
                        self._changed.wait()
                    item, size = self._queued.popleft()
                    self._bytes -= size
                    self._changed.notify_all()
                if item is self._END:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item  # type: ignore[misc]
        finally:
            with self._changed:
                self._stopped = True
                self._changed.notify_all()
            thread.join(timeout=5)  # a producer stuck in a request ends with its timeout; it is a daemon


def _body_bytes(page: Page) -> int:
    return sum(len(record.body or "") for record, _deleted in page.items)


def _write_group(
    tx: WriteTransaction,
    group: list[Page],
    tally: _Tally,
    first_errors: list[str],
    request_args: dict[str, Any],
) -> None:
    """The pages in one MDStore group, with the last one's checkpoint: on an error the group is
    lost whole (SQLite), and the checkpoint before it says where a resumed run fetches again."""
    with tx.grouped():
        for page in group:
            _write_page(tx, page, tally, first_errors)
        tx.checkpoint({"request": request_args, "harvester": group[-1].checkpoint, "counts": tally.as_dict()})


def _write_page(tx: WriteTransaction, page: Page, tally: _Tally, first_errors: list[str]) -> None:
    if page.items:
        tx.write(page.items)
    for problem in page.problems:
        where = problem.location or page.label
        tx.add_error(problem.message, record_id=problem.record_id, step=STEP, location=where)
        tally.errors += 1
        if problem.raw is not None or problem.record_id is not None:
            tally.lost += 1
        if problem.raw is not None:
            tx.add_discarded(problem.raw, problem.message, source=where)
            tally.discarded += 1
        if len(first_errors) < FIRST_ERRORS:
            first_errors.append(f"{where}: {problem.message}")
    tally.pages += 1
    tally.records += len(page.items)


def _last_full_at(store: MDStore, tx: WriteTransaction) -> str | None:
    """When the unit was last harvested in full: now for a full harvest (or a first one), else
    what the parent version says. Kept in every version's report, so it survives the GC of the
    full version itself (a profile's ``schedule.full_every`` reads it)."""
    if tx.mode == "full" or tx.parent is None:
        return datetime.now(UTC).isoformat(timespec="seconds")
    return (store.version(tx.parent).report.get("harvest") or {}).get("last_full_at")


def last_full_harvest(store: MDStore, unit) -> datetime | None:
    """The time of the unit's last full harvest, from its current version's report."""
    text = _current_harvest_report(store, unit).get("last_full_at")
    return datetime.fromisoformat(text) if text else None


def _last_watermark(store: MDStore, unit) -> dict[str, Any] | None:
    return _current_harvest_report(store, unit).get("watermark")


def _current_harvest_report(store: MDStore, unit) -> dict[str, Any]:
    """The ``harvest`` section of the unit's current version's report (empty: no version yet)."""
    current = store.current_version(unit)
    if current is None:
        return {}
    return store.version(current).report.get("harvest") or {}


def _failed(
    tx: WriteTransaction,
    exc: HarvestError,
    base: dict[str, Any],
    tally: _Tally,
    first_errors: list[str],
    started: float,
    datasource: Datasource,
    *,
    resumable: bool,
) -> RunSummary:
    raw = getattr(exc, "raw", None)
    if raw is not None:
        tx.add_discarded(raw, exc.message, source=str(exc.page or exc.url or ""))
        tally.discarded += 1
    tx.add_error(str(exc), step=STEP, location=str(exc.page or exc.url or ""))
    if resumable:
        if raw is not None:  # the resumed run's summary counts the page kept as discarded
            tx.checkpoint({**tx.checkpoint_data, "counts": tally.as_dict()})
        # how to continue is the caller's to say (a CLI flag, an Airflow retry)
        message = f"{exc}; the harvest stopped after page {tally.pages}"
        outcome = Outcome.RESUMABLE
        tx.release()  # open to be resumed at once, by any process on any host
    else:
        tx.abort()
        message = f"{exc}; the harvest was aborted and the current version is unchanged"
        outcome = Outcome.FAILED
    # the message names the datasource already; the CLI prints it itself (one line, not twice)
    logger.error("%s", message, extra={"summarised": True})
    return RunSummary(
        **base,
        outcome=outcome,
        read=tally.records,
        errors=tally.errors + 1,
        discarded=tally.discarded,
        pages=tally.pages,
        seconds=time.monotonic() - started,
        message=message,
        first_errors=tuple(first_errors),
    )


def _check_limits(
    tx: WriteTransaction, datasource: Datasource, tally: _Tally, max_error_rate: float | None
) -> CollectFailed | None:
    """The profile's ``limits``: a harvest that broke one is not committed."""
    limits = datasource.limits
    rate_limit = limits.max_error_rate if limits.max_error_rate is not None else max_error_rate
    where = {"datasource": datasource.id}
    attempted = tally.records + tally.lost
    if rate_limit is not None and attempted and tally.lost / attempted > rate_limit:
        return CollectFailed(
            f"{tally.lost} of {attempted} records failed ({tally.lost / attempted:.1%}), "
            f"above the limit of {rate_limit:.1%}",
            **where,
        )
    # in a full harvest, records not written again become tombstones at commit: present is final
    present = tx.stats().get("present", 0)
    if limits.min_records is not None and present < limits.min_records:
        return CollectFailed(
            f"only {present} present records, fewer than limits.min_records = {limits.min_records}",
            **where,
        )
    ratio = limits.max_drop_ratio
    if ratio is not None and tx.parent is not None:
        before = tx.store.version(tx.parent).stats.get("present", 0)
        if before and (before - present) / before > ratio:
            return CollectFailed(
                f"present records would drop from {before} to {present} "
                f"({(before - present) / before:.0%}), more than limits.max_drop_ratio = "
                f"{ratio:.0%}",
                **where,
            )
    return None


def run_collect(
    datasource_id: str, settings: Settings, *, environ: Mapping[str, str] | None = None, **kwargs: Any
) -> RunSummary:
    """Resolve the profile and the store from settings, collect, log the summary once."""
    from contentcloud.datasources import DatasourceRegistry
    from contentcloud.settings import secret_environment
    from mdstore import open_store

    datasource = DatasourceRegistry(settings.registry).get(datasource_id)
    kwargs.setdefault("max_error_rate", settings.error_rate)
    with open_store(settings.mdstore, **settings.store_options()) as store:
        summary = collect(store, datasource, environ=secret_environment(environ), **kwargs)
    summary.log()
    return summary
