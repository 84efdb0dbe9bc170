"""What the commands that run a parted step (transform, index, rdf) declare alike: the DATASOURCE
argument, ``--workers N`` and ``--json`` around each command's own options (:func:`parted_command`),
and for the steps that feed a target, ``--full`` / ``--check`` and the run or check itself."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from contentcloud.cli.context import settings_from
from contentcloud.cli.output import progress_bar

if TYPE_CHECKING:
    from contentcloud.pipeline.summary import RunSummary

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def default_workers() -> int:
    """One worker per core: a step's parts are CPU-bound (XSLT, document building)."""
    return os.cpu_count() or 1


workers_option = click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=default_workers,
    show_default="the number of cores",
    help="Run the step's id-range parts (the parts the DAG maps over) in this many worker processes; "
    "1 runs it in this process, in one part.",
)


def parted_command(*own: Decorator, json_help: str = "Print the run summary as JSON.") -> Decorator:
    """``click.command`` of a parted step: ``DATASOURCE``, the command's ``own`` options, then
    ``--workers`` and ``--json`` (``json_help``); the function takes the click context first."""

    def decorate(function: Callable[..., Any]) -> click.Command:
        json_option = click.option("--json", "as_json", is_flag=True, help=json_help)
        function = click.pass_context(function)
        for option in reversed((click.argument("datasource"), *own, workers_option, json_option)):
            function = option(function)
        return click.command()(function)

    return decorate


def full_and_check(full_help: str, check_help: str) -> tuple[Decorator, Decorator]:
    """``--full`` (rebuild the target) and ``--check`` (compare it with the MDStore, write nothing)."""
    return (
        click.option("--full", is_flag=True, help=full_help),
        click.option("--check", is_flag=True, help=check_help),
    )


def run_or_check(
    ctx: click.Context,
    run: Callable[..., RunSummary],
    datasource: str,
    *,
    full: bool,
    check: bool,
    workers: int,
    verb: str,
) -> RunSummary:
    """The step's ``run`` (``run_index``, ``run_rdf``) with a progress bar, or its check (no bar);
    ``--full`` and ``--check`` together are a usage error (``--full`` ``verb``: feeds, loads)."""
    if full and check:
        raise click.UsageError(f"--check compares, --full {verb}: choose one")
    settings = settings_from(ctx)
    with progress_bar(datasource, enabled=not check) as on_progress:
        return run(datasource, settings, full=full, check=check, on_progress=on_progress, workers=workers)
