"""``contentcloud publish [DATASOURCE]``: refresh the OAI-PMH publisher index."""

from __future__ import annotations

import sys

import click

from contentcloud.cli.context import settings_from
from contentcloud.cli.exit_codes import ExitCode
from contentcloud.cli.output import print_json
from contentcloud.cli.workers import workers_option


@click.command()
@click.argument("datasource", required=False)
@workers_option(
    "Builder processes making the records' payloads (at most 4) while this process writes the "
    "snapshot; 1 does everything in this process."
)
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON.")
@click.pass_context
def publish(ctx: click.Context, datasource: str | None, workers: int, as_json: bool) -> None:
    """Build the next publisher snapshot from the MDStore (every published datasource; naming
    DATASOURCE labels the run and checks that it exists).

    The snapshot is written by this process in one transaction; with --workers N (N > 1), N builder
    processes make the records' payloads meanwhile (the snapshot is the same)."""
    from contentcloud.pipeline.publish import run_publish

    summary = run_publish(datasource, settings_from(ctx), workers=workers)
    if as_json:
        print_json(summary.as_dict())
    else:
        click.echo(summary.text())
    if summary.outcome == "finished_with_record_errors":
        sys.exit(ExitCode.RECORD_ERRORS)
