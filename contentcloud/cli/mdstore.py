"""``contentcloud mdstore list|versions|export|errors|gc|rollback|abort``."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import click

from contentcloud.cli.context import open_store_from, registry_from
from contentcloud.cli.output import print_json, print_table
from mdstore.errors import ConfigError

if TYPE_CHECKING:
    from mdstore import MDStore, UnitKey

LAYERS = click.Choice(["native", "transformed"])


@click.group()
def mdstore() -> None:
    """Inspect, export, garbage-collect and roll back MDStore units."""


def resolve_unit(ctx: click.Context, store: MDStore, datasource: str, layer: str) -> UnitKey:
    """The unit of DATASOURCE for a layer: from its profile when registered, else from the store.

    A unit name (``ds/format/layout/interpretation``) is accepted as is.
    """
    from mdstore import UnitKey

    if datasource.count("/") == 3:
        return UnitKey.parse(datasource)
    registry = registry_from(ctx)
    try:
        ds = registry.get(datasource)
        return ds.native_unit if layer == "native" else ds.transformed_unit
    except ConfigError:
        pass
    matches = [
        u.key for u in store.units() if u.key.datasource == datasource and u.key.interpretation == layer
    ]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise ConfigError(
            f"no {layer} unit for datasource {datasource!r} in the store or the registry",
            field="datasource",
            rule="exists",
        )
    names = ", ".join(m.name for m in matches)
    raise ConfigError(
        f"several {layer} units for {datasource!r} ({names}); pass the unit name",
        field="datasource",
        rule="unique",
    )


@mdstore.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """Units with their current version and record counts."""
    with open_store_from(ctx) as store:
        units = store.units()
    if as_json:
        print_json(
            [
                {"unit": u.key.name, "current": u.current, "open": u.open_version, "stats": u.stats}
                for u in units
            ]
        )
        return
    print_table(
        ["unit", "current", "open", "present", "deleted", "errors", "bytes"],
        [
            (
                u.key.name,
                u.current or "-",
                u.open_version or "-",
                u.stats.get("present", 0),
                u.stats.get("deleted", 0),
                u.stats.get("errors", 0),
                u.stats.get("bytes", 0),
            )
            for u in units
        ],
    )


@mdstore.command()
@click.argument("datasource")
@click.option("--layer", type=LAYERS, default="native", show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def versions(ctx: click.Context, datasource: str, layer: str, as_json: bool) -> None:
    """Versions of a unit (open, committed, aborted, collected), oldest first."""
    with open_store_from(ctx) as store:
        unit = resolve_unit(ctx, store, datasource, layer)
        infos = store.versions(unit)
        current = store.current_version(unit)
        writers = store.writers(unit)
        info = store.unit(unit)
        open_version = info.open_version if info else None
    if as_json:
        print_json([v.as_dict() for v in infos])
        return
    print_table(
        ["version", "state", "mode", "parent", "created", "committed", "present", "deleted", "current"],
        [
            (
                v.id,
                v.state,
                v.mode,
                v.parent or "-",
                v.created_at,
                v.committed_at or "-",
                v.stats.get("present", ""),
                v.stats.get("deleted", ""),
                "*" if v.id == current else "",
            )
            for v in infos
        ],
        title=unit.name,
    )
    for writer in writers:  # who holds the open transaction, and is it still there?
        click.echo(f"{open_version} is held by {writer.describe()} ({writer.state})")


@mdstore.command()
@click.argument("datasource")
@click.option("--layer", type=LAYERS, default="native", show_default=True)
@click.option("--version", "version_id", help="A kept version (default: current).")
@click.option("--ids-only", is_flag=True, help="One line per record: originalId<TAB>present|deleted.")
@click.option("--include-deleted/--no-deleted", default=True, show_default=True)
@click.pass_context
def export(
    ctx: click.Context,
    datasource: str,
    layer: str,
    version_id: str | None,
    ids_only: bool,
    include_deleted: bool,
) -> None:
    """Stream a unit's records to stdout: JSON Lines (envelope and body), or ids only."""
    deleted = None if include_deleted else False
    with open_store_from(ctx) as store:
        unit = resolve_unit(ctx, store, datasource, layer)
        out = sys.stdout
        with store.reader(unit, version_id) as view:
            if ids_only:
                for _, original_id, is_deleted in view.ids(deleted=deleted):
                    out.write(f"{original_id}\t{'deleted' if is_deleted else 'present'}\n")
                return
            for record in view.records(deleted=deleted):
                body = record.body
                entry = {
                    "id": record.id,
                    "originalId": record.original_id,
                    "datasource": record.datasource,
                    "format": record.format,
                    "deleted": record.deleted,
                    "checksum": record.checksum,
                    "datestamp": record.datestamp.isoformat(),
                    "collectedAt": record.collected_at.isoformat() if record.collected_at else None,
                    "transformedAt": record.transformed_at.isoformat() if record.transformed_at else None,
                    "provenance": record.provenance,
                    "body": body.decode("utf-8", "replace") if isinstance(body, bytes) else body,
                }
                out.write(json.dumps(entry, ensure_ascii=False, default=str) + "\n")


@mdstore.command()
@click.argument("datasource")
@click.option("--layer", type=LAYERS, default="native", show_default=True)
@click.option("--version", "version_id")
@click.option("--limit", type=int, default=50, show_default=True)
@click.pass_context
def errors(ctx: click.Context, datasource: str, layer: str, version_id: str | None, limit: int) -> None:
    """Per-record errors and discarded inputs kept with a version."""
    with open_store_from(ctx) as store:
        unit = resolve_unit(ctx, store, datasource, layer)
        with store.reader(unit, version_id) as view:
            errs, discarded = view.errors(limit), view.discarded(limit)
    print_table(
        ["record", "step", "location", "message"],
        [(e.record_id or "-", e.step, e.location or "-", e.message) for e in errs],
        title="errors",
    )
    print_table(
        ["source", "error", "bytes"],
        [(d.source or "-", d.error, len(d.raw)) for d in discarded],
        title="discarded",
    )


@mdstore.command()
@click.option(
    "--keep",
    type=click.IntRange(min=0),
    help="Committed versions kept per unit besides current and leased ones.",
)
@click.pass_context
def gc(ctx: click.Context, keep: int | None) -> None:
    """Remove versions that are not current, open, leased, nor among the last K."""
    with open_store_from(ctx) as store:
        report = store.gc(keep)
    click.echo(f"removed {len(report.removed)} version(s): {' '.join(report.removed) or '-'}")
    click.echo(f"kept {len(report.kept)} version(s); expired leases cleared: {report.leases_expired}")


@mdstore.command()
@click.argument("datasource")
@click.option("--layer", type=LAYERS, default="native", show_default=True)
@click.option("--to", "version_id", help="Version to make current (default: the previous committed one).")
@click.pass_context
def rollback(ctx: click.Context, datasource: str, layer: str, version_id: str | None) -> None:
    """Make an earlier kept version current."""
    with open_store_from(ctx) as store:
        unit = resolve_unit(ctx, store, datasource, layer)
        before = store.current_version(unit)
        after = store.rollback(unit, version_id)
    click.echo(f"{unit}: current {before} -> {after}")


@mdstore.command()
@click.argument("datasource")
@click.option("--layer", type=LAYERS, default="native", show_default=True)
@click.option(
    "--force",
    is_flag=True,
    help="Take over from a writer on another host that stopped beating (presumed dead); "
    "a live writer is never taken over.",
)
@click.pass_context
def abort(ctx: click.Context, datasource: str, layer: str, force: bool) -> None:
    """Abort the unit's open transaction (one left by a crashed writer); refused while its
    writer is alive (exit 1, naming its host, pid and run)."""
    with open_store_from(ctx) as store:
        unit = resolve_unit(ctx, store, datasource, layer)
        version = store.abort_open(unit, force=force)
    click.echo(f"{unit}: aborted {version}")
