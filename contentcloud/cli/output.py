"""Output helpers shared by the commands: logging set-up, tables, summaries, progress.

Data goes to stdout, progress and logs to stderr; machine output (``--json``, ``--ids-only``)
has no markup.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from contentcloud.pipeline.summary import ProgressFn


def configure_logging(level: str) -> None:
    """Configure the root logger once: rich's handler on a terminal, plain lines otherwise."""
    root = logging.getLogger()
    if getattr(root, "_contentcloud_configured", False):
        root.setLevel(level.upper())
        return
    if sys.stderr.isatty():
        from rich.logging import RichHandler

        handler: logging.Handler = RichHandler(show_path=False, rich_tracebacks=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_not_summarised)
    root.addHandler(handler)
    root.setLevel(level.upper())
    root._contentcloud_configured = True  # type: ignore[attr-defined]


def _not_summarised(record: logging.LogRecord) -> bool:
    """Drop the log line of a failure the command prints itself (``extra={"summarised": True}``):
    logs elsewhere (Airflow) keep it, the terminal shows it once, as the command's ``error:`` line."""
    return not getattr(record, "summarised", False)


def print_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None) -> None:
    """A table on stdout: rich on a terminal, tab-separated text otherwise (pipes, tests)."""
    rows = [[("" if v is None else str(v)) for v in row] for row in rows]
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(*headers, title=title)
        for row in rows:
            table.add_row(*row)
        Console().print(table)
        return
    if title:
        click.echo(f"# {title}")
    click.echo("\t".join(headers))
    for row in rows:
        click.echo("\t".join(row))


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


@contextmanager
def progress_bar(label: str, *, enabled: bool = True) -> Iterator[ProgressFn | None]:
    """A rich progress bar on stderr when it is a terminal; nothing otherwise (logs, pipes,
    Airflow, tests), where the step's summary says it all at the end."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=Console(stderr=True),
        transient=True,
    ) as progress:
        task = progress.add_task("starting", total=None)

        def update(done: int, total: int | None, message: str) -> None:
            progress.update(
                task, completed=done, total=total if total and total >= done else None, description=message
            )

        yield update
