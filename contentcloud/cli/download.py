"""``contentcloud download DATASOURCE [--layer native|transformed] [--resume] [--failures] [--json]``."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from contentcloud.cli.context import settings_from
from contentcloud.cli.exit_codes import exit_code_for
from contentcloud.cli.output import print_json, print_table, progress_bar

if TYPE_CHECKING:
    from contentcloud.pipeline.summary import RunSummary


@click.command()
@click.argument("datasource")
@click.option(
    "--layer",
    type=click.Choice(["native", "transformed"]),
    default=None,
    help="Which records to take the URLs from (default: the profile's download.layer, else native).",
)
@click.option("--resume", is_flag=True, help="Continue an interrupted download run where it stopped.")
@click.option(
    "--failures",
    is_flag=True,
    help="Only list the files whose last attempt failed or found them gone; download nothing.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary (or the failures) as JSON.")
@click.pass_context
def download(
    ctx: click.Context, datasource: str, layer: str | None, resume: bool, failures: bool, as_json: bool
) -> None:
    """Download the files DATASOURCE's records point to into the file store.

    URLs come from the current version of the native (or transformed) unit through the
    profile's download section. Every file's outcome is kept in the download ledger; files
    already held are re-validated with conditional requests. Exit codes: 0 finished, 3 finished
    but some files failed (see --failures), 1 failed, 2 usage or configuration error.
    """
    settings = settings_from(ctx)
    if failures:
        if resume or layer:
            raise click.UsageError("--failures only lists; it takes no --resume or --layer")
        _list_failures(datasource, settings, as_json)
        return
    from contentcloud.pipeline.download import run_download

    with progress_bar(datasource) as on_progress:
        summary = run_download(datasource, settings, layer=layer, resume=resume, on_progress=on_progress)
    _print_summary(summary, as_json)
    sys.exit(exit_code_for(summary.outcome))


def _list_failures(datasource: str, settings, as_json: bool) -> None:
    from contentcloud.pipeline.download import download_failures
    from mdstore.redact import mask_url

    entries = download_failures(datasource, settings)
    if as_json:  # URLs come from harvested records: a token in one is not printed
        print_json(
            [
                {**entry.as_dict(), "url": mask_url(entry.url), "final_url": mask_url(entry.final_url)}
                for entry in entries
            ]
        )
        return
    print_table(
        ["record", "url", "state", "status", "error", "checked"],
        [
            (e.record_id, mask_url(e.url) or "(record)", e.state, e.status, e.error, e.checked_at)
            for e in entries
        ],
        title=f"{len(entries)} failed downloads of {datasource}",
    )


def _print_summary(summary: RunSummary, as_json: bool) -> None:
    if as_json:
        print_json(summary.as_dict())
        return
    x = summary.extra
    lines = [
        f"download {summary.datasource}: {summary.outcome} in {summary.seconds:.1f}s "
        f"({x['downloaded'] / summary.seconds if summary.seconds else 0:.0f} files/s, "
        f"{x['bytes'] / 2**20 / summary.seconds if summary.seconds else 0:.1f} MB/s)",
        f"  from {summary.unit_in} version {summary.version_in}{' (resumed)' if x['resumed'] else ''}",
        f"  records {summary.read} ({x['records_deleted']} deleted upstream), links {x['urls']}",
        f"  downloaded {x['downloaded']} ({x['bytes']} bytes): new {x['new']}, changed {x['changed']}, "
        f"unchanged {x['unchanged']} ({x['not_modified']} not modified), already stored {x['deduplicated']}",
        f"  skipped {x['skipped']}, reused {x['reused']}, failed {x['failed']} (refused {x['refused']}), "
        f"gone {x['gone']}, unreadable records {x['record_errors']}",
        f"  marked record-deleted {x['marked_deleted']}, unreferenced {x['unreferenced']}",
        f"  files in {summary.unit_out}; ledger {x['ledger']}",
    ]
    if summary.message:
        lines.append(f"  {summary.message}")
    lines.extend(f"  ! {e}" for e in summary.first_errors)
    click.echo("\n".join(lines))
