"""``contentcloud transform DATASOURCE [--full|--incremental]``: one call of the pipeline step."""

from __future__ import annotations

import click

from contentcloud.cli.context import settings_from
from contentcloud.cli.exit_codes import ExitCode, exit_code_for
from contentcloud.cli.output import print_json, progress_bar
from contentcloud.cli.workers import parted_command


@parted_command(
    click.option(
        "--full",
        "mode",
        flag_value="full",
        default=True,
        help="Transform every record of the current native version (the default).",
    ),
    click.option(
        "--incremental",
        "mode",
        flag_value="incremental",
        help="Only records changed since the source version the last run read; falls back to a full "
        "run when the chain changed or the source was rolled back.",
    ),
    click.option("--run-id", help="Run id to record (default: transform-<time>-<random>)."),
)
def transform(
    ctx: click.Context, datasource: str, mode: str, run_id: str | None, workers: int, as_json: bool
) -> None:
    """Apply DATASOURCE's transform chain to its current native version, record by record, and write a new
    version of its transformed unit. Exit 3 when some records failed (stored as errors), 1 when the error
    rate was exceeded (nothing committed)."""
    from contentcloud.pipeline.transform import run_transform

    settings = settings_from(ctx)
    with progress_bar(f"transform {datasource}") as on_progress:
        summary = run_transform(
            datasource,
            settings,
            mode=mode,
            run_id=run_id,  # type: ignore[arg-type]
            on_progress=on_progress,
            workers=workers,
        )
    if as_json:
        print_json(summary.as_dict())
    else:
        click.echo(summary.text())
    from contentcloud.events import emit_commit

    warning = emit_commit(settings, summary)  # the commit's asset event, when Airflow's API is set
    if warning:
        click.echo(warning, err=True)
    from contentcloud.pipeline.reports import record_step

    record_step(settings, summary)  # the run history of the datasource pages
    code = exit_code_for(summary.outcome)
    if code != ExitCode.OK:
        raise SystemExit(code)
