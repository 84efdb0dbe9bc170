"""The publish step: refresh the OAI-PMH publisher index from the MDStore.

``refresh_publisher`` turns datasource profiles into :class:`provision.oai.PublishSource` values
(formats, prefixes, oai_dc stylesheet, query sets) and builds the next publisher snapshot; the
endpoint serves it as soon as the step commits. One snapshot covers every published datasource:
those whose units did not change are copied, so refreshing after one datasource's harvest costs
little more than that datasource. ``run_publish`` is the wrapper the CLI and the DAG task call.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from contentcloud.pipeline.summary import Outcome, ProgressFn, RunSummary, new_run_id
from contentcloud.sections import ALL_PUBLISH_FORMATS
from mdstore.errors import ConfigError
from mdstore.redact import mask_url

if TYPE_CHECKING:
    from contentcloud.datasources import Datasource
    from contentcloud.settings import Settings
    from mdstore import MDStore
    from provision.oai import OaiDcDeriver, PublisherIndex, PublishSource

logger = logging.getLogger(__name__)

DEFAULT_OAI_DC_XSLT = "pe2oai_dc.xsl"
INDEX_FILE = "oai.sqlite"


def publisher_index_path(settings: Settings) -> Path:
    """Where the publisher index lives: ``<var_dir>/oai.sqlite``."""
    return Path(settings.var_dir) / INDEX_FILE


def publish_source(
    ds: Datasource, *, mappings_dir: str | Path | None = None, oai_dc_deriver: OaiDcDeriver | None = None
) -> PublishSource:
    """A datasource profile as the publisher sees it (plain values; errors name profile fields)."""
    from provision.oai import PublishSource, QuerySet, XsltDeriver, default_deriver
    from provision.oai.builder import fingerprint
    from provision.oai.sets import BUILTIN_FIELDS, FieldExtractor, parse_query

    section = ds.section("publish")  # as written: its fingerprint tells a changed configuration
    publish = ds.publish
    where = str(ds.path or ds.id)
    rdf_syntax = ds.transform.output
    formats = frozenset(publish.formats or ALL_PUBLISH_FORMATS) | {"oai_dc"}
    fields = None
    if publish.fields:
        try:
            fields = FieldExtractor(dict(publish.fields), dict(publish.namespaces))
        except ConfigError as exc:
            raise ConfigError(exc.message, file=where, field=exc.field, rule=exc.rule) from exc
    known_fields = BUILTIN_FIELDS | (fields.names if fields else frozenset())
    sets = []
    for n, entry in enumerate(publish.sets):
        query = None
        if entry.get("query"):
            try:
                query = parse_query(entry["query"], known_fields, where=f"publish.sets.{n}.query")
            except ConfigError as exc:
                raise ConfigError(exc.message, file=where, field=exc.field, rule=exc.rule) from exc
        sets.append(QuerySet(entry["spec"], entry["name"], query, entry.get("description")))
    xslt_path = _oai_dc_xslt(section, mappings_dir, where)
    deriver = oai_dc_deriver
    if deriver is None:
        xslt = XsltDeriver(xslt_path, rdf_syntax=rdf_syntax) if xslt_path is not None else None
        deriver = default_deriver(xslt, rdf_syntax=rdf_syntax)
    xslt_digest = None
    if xslt_path is not None:
        import hashlib

        xslt_digest = hashlib.md5(xslt_path.read_bytes(), usedforsecurity=False).hexdigest()
    has_transform = bool(ds.section("transform"))
    # never a password or token in the published provenance, whatever an older profile held
    base_url = mask_url(publish.base_url or ds.api.get("baseurl") or ds.api.get("url") or "") or ""
    return PublishSource(
        datasource=ds.id,
        name=ds.name,
        native_unit=ds.native_unit,
        transformed_unit=ds.transformed_unit if has_transform else None,
        formats=formats,
        native_prefix=publish.native_prefix,
        transformed_prefix=publish.transformed_prefix,
        rdf_syntax=rdf_syntax,
        base_url=base_url,
        description=ds.raw.get("description"),
        sets=tuple(sets),
        fields=fields,
        deriver=deriver,
        config_fingerprint=fingerprint(
            section,
            rdf_syntax,
            xslt_digest,
            base_url,
            "custom-deriver" if oai_dc_deriver is not None else "default",
        ),
    )


def _oai_dc_xslt(section: dict, mappings_dir: str | Path | None, where: str) -> Path | None:
    if "oai_dc_xslt" in section and section["oai_dc_xslt"] is None:
        return None
    name = section.get("oai_dc_xslt") or DEFAULT_OAI_DC_XSLT
    base = Path(mappings_dir) if mappings_dir is not None else None
    path = Path(name) if Path(name).is_absolute() or base is None else base / name
    if path.is_file():
        return path
    if section.get("oai_dc_xslt"):
        raise ConfigError(
            f"the oai_dc stylesheet {str(path)!r} does not exist",
            file=where,
            field="publish.oai_dc_xslt",
            rule="exists",
        )
    return None


def refresh_publisher(
    store: MDStore,
    datasources: Sequence[Datasource],
    *,
    index: PublisherIndex,
    mappings_dir: str | Path | None = None,
    oai_dc_deriver: OaiDcDeriver | None = None,
    run_id: str | None = None,
    on_progress: ProgressFn | None = None,
    label: str = "*",
    workers: int = 0,
) -> RunSummary:
    """Build and publish the next snapshot for ``datasources`` (those with publish.enabled).

    Datasources that were published before and are no longer in ``datasources`` (removed or
    disabled) keep their records, as deleted ones (``deletedRecord`` is ``persistent``).
    ``workers``: builder processes making the items' payloads while this process writes the
    snapshot (0: all in this process; see :func:`provision.oai.build_snapshot`).
    """
    from contentcloud.pipeline.processes import BareMainContext
    from provision.oai import build_snapshot

    run_id = run_id or new_run_id("publish")
    published = [ds for ds in datasources if ds.enabled and ds.publish.enabled]
    sources = [
        publish_source(ds, mappings_dir=mappings_dir, oai_dc_deriver=oai_dc_deriver) for ds in published
    ]
    report = build_snapshot(
        store,
        index,
        sources,
        on_progress=on_progress,
        workers=workers,
        mp_context=BareMainContext() if workers > 0 else None,
    )
    outcome = Outcome.RECORD_ERRORS if report.errors else Outcome.FINISHED
    summary = RunSummary(
        step="publish",
        datasource=label,
        run_id=run_id,
        outcome=outcome,
        unit_out=index.path,
        version_in=",".join(
            f"{ds}:{info.get('versions', {}).get('native')}"
            for ds, info in sorted(report.datasources.items())
        ),
        version_out=str(report.snapshot),
        read=report.read,
        written=report.records,
        added=report.added,
        updated=report.updated,
        unchanged=report.unchanged,
        deleted=report.deleted,
        errors=report.errors,
        seconds=report.seconds,
        first_errors=tuple(report.first_errors),
        message=f"snapshot {report.snapshot} live: {report.items} items, {report.records} OAI records "
        f"({report.reused} reused from snapshot {report.previous})",
        extra={
            "snapshot": report.snapshot,
            "previous": report.previous,
            "items": report.items,
            "datasources": report.datasources,
        },
    )
    summary.log()
    return summary


#: builder processes at most: the one process writing the snapshot keeps up with about four (a
#: builder makes an item in ~4 times the writer's time), so more only cost start-up and memory
MAX_BUILDERS = 4


def _builders(workers: int | None) -> int:
    """Builder processes for ``workers`` (None: one per core, at most :data:`MAX_BUILDERS`): none
    for 1 (all in this process)."""
    count = (os.cpu_count() or 1) if workers is None else workers
    return min(count, MAX_BUILDERS) if count > 1 else 0


def run_publish(
    datasource_id: str | None,
    settings: Settings,
    *,
    run_id: str | None = None,
    on_progress: ProgressFn | None = None,
    oai_dc_deriver: OaiDcDeriver | None = None,
    workers: int | None = None,
) -> RunSummary:
    """Refresh the publisher from the registry (``datasource_id``: the one that changed, or None).

    The snapshot always covers every registered datasource (unchanged ones are copied); naming one
    checks that it exists and labels the summary. ``workers`` (default: the number of cores):
    builder processes making the payloads, at most :data:`MAX_BUILDERS`; 1 does it all in this
    process. The snapshot is one SQLite write transaction, so it is not cut into parts as transform
    and index are: this process reads the records and writes the rows while the builders make the
    payloads.
    """
    from contentcloud.datasources import DatasourceRegistry
    from mdstore import open_store
    from provision.oai import PublisherIndex

    registry = DatasourceRegistry(settings.registry)
    datasources = registry.all()
    if datasource_id is not None:
        registry.get(datasource_id)  # raises ConfigError naming the known ids
    index = PublisherIndex(publisher_index_path(settings))
    try:
        with open_store(settings.mdstore, **settings.store_options()) as store:
            return refresh_publisher(
                store,
                datasources,
                index=index,
                mappings_dir=settings.mappings,
                oai_dc_deriver=oai_dc_deriver,
                run_id=run_id,
                on_progress=on_progress,
                label=datasource_id or "*",
                workers=_builders(workers),
            )
    finally:
        index.close()
