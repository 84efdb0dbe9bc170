"""``contentcloud index DATASOURCE [--full]`` and ``contentcloud index --check DATASOURCE``."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from contentcloud.cli.context import settings_from
from contentcloud.cli.exit_codes import exit_code_for
from contentcloud.cli.output import print_json, progress_bar
from contentcloud.cli.workers import workers_option

if TYPE_CHECKING:
    from contentcloud.pipeline.summary import RunSummary


@click.command()
@click.argument("datasource")
@click.option(
    "--full",
    is_flag=True,
    help="Rebuild: a fresh core/collection (or embedded generation) switched in atomically at the end.",
)
@click.option(
    "--check",
    is_flag=True,
    help="Feed nothing: compare the index with the current transformed version, id by id.",
)
@workers_option
@click.option("--json", "as_json", is_flag=True, help="Print the summary (or the check report) as JSON.")
@click.pass_context
def index(ctx: click.Context, datasource: str, full: bool, check: bool, workers: int, as_json: bool) -> None:
    """Feed DATASOURCE's current transformed version into the search index (--index / CONTENTCLOUD_INDEX).

    Without --full the step feeds what changed since the version the index last took in (or every
    record, in place, when it cannot tell), then sweeps the datasource's documents of superseded
    versions. With --check it lists the ids that differ (missing, unexpected, stale).

    Exit codes: 0 finished (check: no differences), 3 finished with record errors (check:
    differences), 1 failed, 2 usage or configuration error.
    """
    from contentcloud.pipeline.index import run_index

    if full and check:
        raise click.UsageError("--check compares, --full feeds: choose one")
    settings = settings_from(ctx)
    with progress_bar(datasource, enabled=not check) as on_progress:
        summary = run_index(
            datasource, settings, full=full, check=check, on_progress=on_progress, workers=workers
        )
    if as_json:
        print_json(summary.as_dict())
    elif check:
        _print_check(summary)
    else:
        _print_summary(summary)
    sys.exit(exit_code_for(summary.outcome))


def _print_summary(summary: RunSummary) -> None:
    extra = summary.extra
    lines = [
        f"index {summary.datasource}: {summary.outcome} in {summary.seconds:.1f}s "
        f"({summary.rate:.0f} records/s)",
        f"  {summary.unit_in} @ {summary.version_in or '-'} -> index {summary.unit_out} "
        f"({extra.get('mode', '-')}: {extra.get('reason', summary.message)})",
        f"  records read {summary.read}, documents sent {summary.written}, deleted {summary.deleted} "
        f"(swept {extra.get('swept', 0)}), errors {summary.errors}, warnings {extra.get('warnings', 0)}",
    ]
    if extra.get("index_count") is not None:
        lines.append(f"  the index now holds {extra['index_count']} documents of {summary.datasource}")
    if summary.message and summary.message != extra.get("reason"):
        lines.append(f"  {summary.message}")
    lines.extend(f"  ! {e}" for e in summary.first_errors)
    click.echo("\n".join(lines))


def _print_check(summary: RunSummary) -> None:
    extra = summary.extra
    click.echo(f"check {summary.datasource}: {summary.message}")
    for kind in ("missing", "unexpected", "stale"):
        total = extra.get(f"{kind}_total", 0)
        if not total:
            continue
        shown = extra.get(kind, [])
        more = f" (first {len(shown)})" if total > len(shown) else ""
        click.echo(f"{kind} {total}{more}:")
        for item in shown:
            click.echo(f"  {item}")
