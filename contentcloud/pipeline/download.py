"""The download step: fetch the files a datasource's records point to, into the file store.

Reads the current version of the native or transformed unit under a read lease, hands its
records to the File Download Service (:mod:`harvesters.download`) and returns a
:class:`RunSummary`. The MDStore is only read: the outcome of each file is kept in the
datasource's download ledger (``<var>/downloads/<datasource>.sqlite``) and the files in the
content-addressed store (``CONTENTCLOUD_FILES``, default ``<var>/files``).

A run that is killed leaves its ledger run open: ``resume=True`` continues it on the same
version after the last record whose files were all settled. A new run supersedes an
interrupted one (marked ``abandoned``): it re-validates every file, cheaply with conditional
requests. Outcomes: ``finished``, or ``finished_with_record_errors`` when files failed, were
gone, or records could not be read (listed by :func:`download_failures`).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from contentcloud.pipeline.summary import Outcome, ProgressFn, RunSummary, new_run_id
from mdstore.errors import ConfigError, VersionNotFound

if TYPE_CHECKING:
    from contentcloud.datasources import Datasource
    from contentcloud.settings import Settings
    from harvesters.download import Entry, FileStore, Ledger
    from harvesters.transport import RetryPolicy
    from mdstore import MDStore, UnitKey

logger = logging.getLogger(__name__)

STEP = "download"
LAYERS = ("native", "transformed")


class NothingToResume(VersionNotFound):
    """Resuming without an interrupted run, or its version is gone."""


def download(
    store: MDStore,
    datasource: Datasource,
    *,
    files: FileStore,
    ledger: Ledger,
    layer: str | None = None,
    resume: bool = False,
    run_id: str | None = None,
    on_progress: ProgressFn | None = None,
    retry: RetryPolicy | None = None,
) -> RunSummary:
    """Download the files of ``datasource``'s records; see the module docstring."""
    from harvesters.download import DownloadConfig, DownloadCounts, FileDownloadService

    started = time.monotonic()
    section = datasource.section("download")
    if not section:
        raise ConfigError(
            "the profile has no download section", file=_file(datasource), field="download", rule="required"
        )
    open_run = ledger.open_run()
    if resume:
        if open_run is None:
            raise NothingToResume("no interrupted download run to resume", unit=datasource.id)
        layer = open_run.layer or "native"
    layer = layer or DownloadConfig.from_profile(section).layer
    if layer not in LAYERS:
        raise ConfigError(f"unknown layer {layer!r} (native or transformed)", field="layer", rule="enum")
    unit = datasource.native_unit if layer == "native" else datasource.transformed_unit
    config = DownloadConfig.from_profile(section, layer=layer, rdf_syntax=_rdf_syntax(datasource, layer))
    # built before the ledger run starts: a bad profile leaves nothing behind
    service = FileDownloadService(config, store=files, ledger=ledger, datasource=datasource.id, retry=retry)
    try:
        if resume:
            assert open_run is not None
            run_id, version, after_id = open_run.run_id, open_run.version, open_run.cursor
            counts = DownloadCounts.from_dict(open_run.counts)
            logger.info(
                "%s: resuming download run %s on %s after %s",
                datasource.id,
                run_id,
                version,
                after_id or "the start",
            )
        else:
            run_id = run_id or new_run_id(STEP)
            version = store.current_version(unit)
            if version is None:
                raise VersionNotFound(
                    "nothing to download from: the unit has no committed version", unit=unit.name
                )
            if open_run is not None:
                ledger.end_run(open_run.run_id, "abandoned", open_run.counts, f"superseded by {run_id}")
                logger.warning(
                    "%s: the interrupted download run %s is superseded by %s",
                    datasource.id,
                    open_run.run_id,
                    run_id,
                )
            ledger.start_run(run_id, layer=layer, unit=unit.name, version=version)
            after_id, counts = None, DownloadCounts()
        files.cleanup()
        counts = _read_and_download(
            store,
            unit,
            version,
            service,
            run_id=run_id,
            after_id=after_id,
            counts=counts,
            on_progress=on_progress,
            resume=resume,
        )
        unreferenced = ledger.mark_unreferenced(run_id)
        ledger.end_run(run_id, "finished", counts.as_dict())
        first_errors = tuple(service.first_errors)
    finally:
        service.close()
    return _summary(
        datasource,
        unit,
        version,
        run_id,
        counts,
        first_errors,
        ledger,
        files,
        unreferenced,
        time.monotonic() - started,
        resumed=resume,
    )


def _read_and_download(
    store: MDStore,
    unit: UnitKey,
    version: str,
    service: Any,
    *,
    run_id: str,
    after_id: str | None,
    counts: Any,
    on_progress: ProgressFn | None,
    resume: bool,
) -> Any:
    try:
        view = store.reader(unit, version)
    except VersionNotFound as exc:
        if resume:
            raise NothingToResume(
                f"the version the interrupted run read is gone ({exc.message}); start a new run",
                unit=unit.name,
                version=version,
            ) from exc
        raise
    with view:
        total = view.count()
        return service.run(
            view.records(after_id=after_id),
            run_id=run_id,
            counts=counts,
            total=total,
            on_progress=on_progress,
        )


def _summary(
    datasource: Datasource,
    unit: UnitKey,
    version: str,
    run_id: str,
    counts: Any,
    first_errors: tuple[str, ...],
    ledger: Ledger,
    files: FileStore,
    unreferenced: int,
    seconds: float,
    *,
    resumed: bool,
) -> RunSummary:
    problems = counts.failed + counts.gone + counts.record_errors
    message = ""
    if problems:
        message = (
            f"{counts.failed} files failed ({counts.refused} refused), {counts.gone} gone, "
            f"{counts.record_errors} records unreadable; list them with --failures"
        )
    return RunSummary(
        step=STEP,
        datasource=datasource.id,
        run_id=run_id,
        outcome=Outcome.RECORD_ERRORS if problems else Outcome.FINISHED,
        unit_in=unit.name,
        version_in=version,
        unit_out=files.uri,
        read=counts.records,
        written=counts.downloaded,
        added=counts.new,
        updated=counts.changed,
        unchanged=counts.unchanged,
        deleted=counts.marked_deleted,
        errors=problems,
        seconds=seconds,
        message=message,
        first_errors=first_errors,
        extra={
            **counts.as_dict(),
            "unreferenced": unreferenced,
            "resumed": resumed,
            "ledger": str(ledger.path),
            "files": files.uri,
            "states": ledger.counts_by_state(),
        },
    )


def _rdf_syntax(datasource: Datasource, layer: str) -> str | None:
    """Transformed records are in the profile's ``transform.output`` syntax; native ones are sniffed."""
    if layer != "transformed":
        return None
    from harvesters.download.extract import SYNTAXES

    output = datasource.transform.output
    return output if output in SYNTAXES else None


def _file(datasource: Datasource) -> str | None:
    return str(datasource.path) if datasource.path else None


def ledger_path(settings: Settings, datasource_id: str) -> Path:
    """Where a datasource's download ledger lives: beside the other local state, under var/."""
    return Path(settings.var_dir) / "downloads" / f"{datasource_id}.sqlite"


def run_download(datasource_id: str, settings: Settings, **kwargs: Any) -> RunSummary:
    """Resolve profile, MDStore, file store and ledger from settings, download, log the summary once."""
    from contentcloud.datasources import DatasourceRegistry
    from harvesters.download import Ledger, open_file_store
    from mdstore import open_store

    datasource = DatasourceRegistry(settings.registry).get(datasource_id)
    files = open_file_store(settings.files)
    try:
        with (
            Ledger(ledger_path(settings, datasource_id)) as ledger,
            open_store(settings.mdstore, **settings.store_options()) as store,
        ):
            summary = download(store, datasource, files=files, ledger=ledger, **kwargs)
    finally:
        files.close()
    summary.log()
    return summary


def download_failures(datasource_id: str, settings: Settings, *, limit: int | None = None) -> list[Entry]:
    """The files of a datasource whose last attempt failed or found them gone (no download)."""
    from contentcloud.datasources import DatasourceRegistry
    from harvesters.download import Ledger

    DatasourceRegistry(settings.registry).get(datasource_id)  # an unknown id is a clear error
    path = ledger_path(settings, datasource_id)
    if not path.exists():
        return []
    with Ledger(path) as ledger:
        return ledger.failures(limit=limit)
