"""``contentcloud harvest DATASOURCE [--full | --incremental] [--from D] [--until D]
[--resume | --abort] [--force]``."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from contentcloud.cli.context import settings_from
from contentcloud.cli.exit_codes import (
    RESUMABLE_HARVEST,
    ExitCode,
    error_line,
    exit_code_for,
    exit_code_for_error,
)
from contentcloud.cli.output import print_json, progress_bar

if TYPE_CHECKING:
    from contentcloud.pipeline.summary import RunSummary


def _check_date(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    from harvesters.oai.dates import check_date_argument

    try:
        return check_date_argument(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


@click.command()
@click.argument("datasource")
@click.option(
    "--full",
    "mode",
    flag_value="full",
    help="Harvest everything; records not seen again become tombstones (the default).",
)
@click.option(
    "--incremental",
    "mode",
    flag_value="incremental",
    help="Harvest what changed since the last committed harvest (the server's high-water mark).",
)
@click.option(
    "--from",
    "from_",
    metavar="DATE",
    callback=_check_date,
    help="Only records changed on or after DATE (YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ); implies --incremental.",
)
@click.option(
    "--until",
    metavar="DATE",
    callback=_check_date,
    help="Only records changed on or before DATE; implies --incremental.",
)
@click.option("--resume", is_flag=True, help="Continue an interrupted harvest from its last good page.")
@click.option(
    "--abort", is_flag=True, help="Drop an interrupted harvest; the current version stays as it is."
)
@click.option(
    "--force",
    is_flag=True,
    help="With --resume/--abort: take over the transaction of a writer on another host that stopped "
    "beating (presumed dead). A live writer is never taken over.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def harvest(
    ctx: click.Context,
    datasource: str,
    mode: str | None,
    from_: str | None,
    until: str | None,
    resume: bool,
    abort: bool,
    force: bool,
    as_json: bool,
) -> None:
    """Harvest DATASOURCE into its native MDStore unit, in one transaction committed at the end.

    Exit codes: 0 finished, 3 finished with record errors (stored with the version), 4 failed
    but resumable (--resume), 1 failed (also: another harvest of DATASOURCE is running), 2 usage
    or configuration error.
    """
    from contentcloud.pipeline.collect import run_collect
    from mdstore.errors import TransactionError

    if resume and abort:
        raise click.UsageError("--resume and --abort exclude each other")
    if force and not (resume or abort):
        raise click.UsageError("--force takes over an interrupted harvest: use it with --resume or --abort")
    if (resume or abort) and (mode or from_ or until):
        raise click.UsageError(
            "--resume/--abort continue or drop the open harvest as it was started; "
            "they take no --full/--incremental/--from/--until"
        )
    if mode == "full" and (from_ or until):
        raise click.UsageError(
            "a --full harvest with --from/--until would turn every record outside the "
            "window into a tombstone; use --incremental (the default with a window)"
        )
    if mode is None:
        mode = "incremental" if (from_ or until) else "full"
    settings = settings_from(ctx)
    try:
        with progress_bar(datasource) as on_progress:
            summary = run_collect(
                datasource,
                settings,
                mode=mode,
                from_=from_,
                until=until,
                resume=resume,
                abort=abort,
                force=force,
                on_progress=on_progress,
            )
    except TransactionError as exc:  # another writer has the unit, or an interrupted harvest is open
        click.echo(error_line(exc), err=True)
        sys.exit(exit_code_for_error(exc))
    _print_summary(summary, as_json)
    _announce(settings, summary)
    from contentcloud.pipeline.reports import record_step

    record_step(settings, summary)  # the run history of the datasource pages
    code = exit_code_for(summary.outcome)
    if code in (ExitCode.FAILED, ExitCode.RESUMABLE) and summary.message:
        line = f"error: {summary.message}"
        if code == ExitCode.RESUMABLE:
            line += f"{RESUMABLE_HARVEST}; to continue: {_resume_command(ctx, datasource)}"
        click.echo(line, err=True)
    sys.exit(code)


def _announce(settings, summary: RunSummary) -> None:
    """The commit's asset event to Airflow when its API is configured (a warning if not sent)."""
    from contentcloud.events import emit_commit

    warning = emit_commit(settings, summary)
    if warning:
        click.echo(warning, err=True)


def _resume_command(ctx: click.Context, datasource: str) -> str:
    """The command line that continues the open harvest, with the group's flags this run used
    (another store or registry than the default would otherwise resume nothing)."""
    import shlex

    obj = ctx.find_root().obj or {}
    words = ["contentcloud"]
    for flag, key in (("--mdstore", "mdstore"), ("--registry", "registry")):
        if obj.get(key):
            words += [flag, str(obj[key])]
    return shlex.join([*words, "harvest", datasource, "--resume"])


def _print_summary(summary: RunSummary, as_json: bool) -> None:
    if as_json:
        print_json(summary.as_dict())
        return
    extra = summary.extra
    lines = [
        f"harvest {summary.datasource}: {summary.outcome} in {summary.seconds:.1f}s "
        f"({summary.rate:.0f} records/s)",
        f"  unit {summary.unit_out} version {summary.version_out or '-'} (was {summary.version_in or '-'})",
        f"  records {summary.read} in {summary.pages} pages: added {summary.added}, "
        f"updated {summary.updated}, "
        f"deleted {summary.deleted}, unchanged {summary.unchanged}",
        f"  errors {summary.errors}, discarded {summary.discarded}",
    ]
    if "present" in extra:
        lines.append(f"  the unit now holds {extra['present']} records and {extra['tombstones']} tombstones")
    if summary.message and exit_code_for(summary.outcome) not in (ExitCode.FAILED, ExitCode.RESUMABLE):
        lines.append(f"  {summary.message}")  # a failure's message is the error line on stderr
    lines.extend(f"  ! {e}" for e in summary.first_errors)
    click.echo("\n".join(lines))
