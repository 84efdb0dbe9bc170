"""What the commands that run a parted step (transform, index, rdf) declare alike: the DATASOURCE
argument, ``--workers N`` and ``--json`` around each command's own options (:func:`parted_command`),
and for the steps that feed a target, ``--full`` / ``--check`` and the run or check itself."""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

import click

from contentcloud.cli.context import settings_from
from contentcloud.cli.exit_codes import exit_code_for
from contentcloud.cli.output import progress_bar, show_step_result

if TYPE_CHECKING:
    from contentcloud.pipeline.summary import RunSummary

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def default_workers() -> int:
    """One worker per core: a step's parts are CPU-bound (XSLT, document building)."""
    return os.cpu_count() or 1


def workers_option(
    help_text: str = "Run the step's id-range parts (the parts the DAG maps over) in this many worker "
    "processes; 1 runs it in this process, in one part.",
) -> Decorator:
    """The ``--workers`` option (default: the cores) of every command that can use both cores."""
    return click.option(
        "--workers",
        type=click.IntRange(min=1),
        default=default_workers,
        show_default="the number of cores",
        help=help_text,
    )


def parted_command(
    *own: Decorator, json_help: str = "Print the run summary as JSON.", help_end: str = ""
) -> Decorator:
    """``click.command`` of a parted step: ``DATASOURCE``, the command's ``own`` options, then
    ``--workers`` and ``--json`` (``json_help``); the function takes the click context first. Its
    help is its docstring, and ``help_end`` as a last paragraph."""

    def decorate(function: Callable[..., Any]) -> click.Command:
        text = inspect.getdoc(function) or ""
        json_option = click.option("--json", "as_json", is_flag=True, help=json_help)
        function = click.pass_context(function)
        for option in reversed((click.argument("datasource"), *own, workers_option(), json_option)):
            function = option(function)
        return click.command(help=f"{text}\n\n{help_end}" if help_end else text)(function)

    return decorate


#: the last paragraph of the help of a command that feeds a target or checks it
FEED_EXIT_CODES = (
    "Exit codes: 0 finished (check: no differences), 3 finished with record errors (check: "
    "differences), 1 failed, 2 usage or configuration error."
)


def feed_command(full_help: str, check_help: str) -> Decorator:
    """:func:`parted_command` of a step that feeds a target: ``--full`` (rebuild the target) and
    ``--check`` (compare it with the MDStore, write nothing), the summary or the check report as
    JSON, and the exit codes of a feed or a check at the end of the help."""
    return parted_command(
        click.option("--full", is_flag=True, help=full_help),
        click.option("--check", is_flag=True, help=check_help),
        json_help="Print the summary (or the check report) as JSON.",
        help_end=FEED_EXIT_CODES,
    )


@dataclass(frozen=True)
class FeedView:
    """How a command that feeds a target shows its run: what ``--full`` does (``verb``: feeds,
    loads), the kinds of difference its check lists, and ``describe(summary)``: the target, the
    counts and what the target holds now (or None)."""

    verb: str
    kinds: tuple[str, ...]
    describe: Callable[[RunSummary], tuple[str, str, str | None]]


def run_or_check(
    ctx: click.Context,
    run: Callable[..., RunSummary],
    datasource: str,
    view: FeedView,
    *,
    full: bool,
    check: bool,
    workers: int,
    as_json: bool,
) -> NoReturn:
    """The step's ``run`` (``run_index``, ``run_rdf``) with a progress bar, or its check (no bar),
    shown as ``view`` says (:func:`~contentcloud.cli.output.show_step_result`), then the exit code
    of its outcome. ``--full`` and ``--check`` together are a usage error."""
    if full and check:
        raise click.UsageError(f"--check compares, --full {view.verb}: choose one")
    settings = settings_from(ctx)
    with progress_bar(datasource, enabled=not check) as on_progress:
        summary = run(datasource, settings, full=full, check=check, on_progress=on_progress, workers=workers)
    target, counts, holds = view.describe(summary)
    kinds = view.kinds if check else None
    show_step_result(summary, as_json=as_json, check_kinds=kinds, target=target, counts=counts, holds=holds)
    sys.exit(exit_code_for(summary.outcome))
