"""Output helpers shared by the commands: logging set-up, tables, summaries, progress.

Data goes to stdout, progress and logs to stderr; machine output (``--json``, ``--ids-only``)
has no markup.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TextIO

import click

if TYPE_CHECKING:
    from contentcloud.pipeline.summary import ProgressFn, RunSummary


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


def show_step_result(
    summary: RunSummary,
    *,
    as_json: bool = False,
    check_kinds: Sequence[str] | None = None,
    target: str = "",
    counts: str = "",
    holds: str | None = None,
) -> None:
    """What a step command that loads or checks a provision target (``index``, ``rdf``) prints:
    the summary as JSON; with ``check_kinds`` (a ``--check`` run) the comparison's message and,
    per kind of difference, its total and the items the report lists; otherwise the run (its
    rate; the version read into ``target``, with the mode and why; the records read and the step's
    ``counts``; what the target ``holds`` now), the message when it adds to the reason, and the
    first errors."""
    if as_json:
        print_json(summary.as_dict())
        return
    extra = summary.extra
    if check_kinds is not None:
        click.echo(f"check {summary.datasource}: {summary.message}")
        for kind in check_kinds:
            total = extra.get(f"{kind}_total", 0)
            if total:
                shown = extra.get(kind, [])
                more = f" (first {len(shown)})" if total > len(shown) else ""
                click.echo(f"{kind} {total}{more}:")
                click.echo("".join(f"  {item}\n" for item in shown), nl=False)
        return
    lines = [
        f"{summary.step} {summary.datasource}: {summary.outcome} in {summary.seconds:.1f}s "
        f"({summary.rate:.0f} records/s)",
        f"  {summary.unit_in} @ {summary.version_in or '-'} -> {target} "
        f"({extra.get('mode', '-')}: {extra.get('reason', summary.message)})",
        f"  records read {summary.read}, {counts}",
    ]
    if holds is not None:
        lines.append(f"  {holds}")
    if summary.message and summary.message != extra.get("reason"):
        lines.append(f"  {summary.message}")
    lines.extend(f"  ! {e}" for e in summary.first_errors)
    click.echo("\n".join(lines))


@contextmanager
def progress_bar(
    label: str,
    *,
    enabled: bool = True,
    interval: float | None = None,
    stream: TextIO | None = None,
    tty: bool | None = None,
) -> Iterator[ProgressFn | None]:
    """Progress on stderr. On a terminal a rich bar with count, rate and ETA; otherwise (logs,
    cron, CI, Airflow) one plain line every ``interval`` seconds (the ``progress_interval``
    setting, 10 s by default; 0 turns the lines off), so a long run shows it is alive without
    flooding the log. The step's summary says it all at the end either way."""
    stream = stream or sys.stderr
    if tty is None:
        tty = stream.isatty()
    if not enabled:
        yield None
        return
    if not tty:
        every = _progress_interval() if interval is None else interval
        yield ProgressLines(label, every, stream) if every > 0 else None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        TextColumn("{task.description}"),
        console=Console(file=stream),
        transient=True,
    ) as progress:
        task = progress.add_task("starting", total=None, rate="")
        started = time.monotonic()

        def update(done: int, total: int | None, message: str) -> None:
            elapsed = time.monotonic() - started
            progress.update(
                task,
                completed=done,
                total=total if total and total >= done else None,
                description=message,
                rate=f"{done / elapsed:,.0f}/s" if elapsed >= 0.5 else "",  # not from one sample
            )

        yield update


class ProgressLines:
    """The progress of a run without a terminal: at most one line per ``interval`` seconds, with
    the count, the total and percentage when known, the rate since the start and the ETA."""

    def __init__(
        self, label: str, interval: float, stream: TextIO, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.label = label
        self.interval = interval
        self.stream = stream
        self.clock = clock
        self.started = clock()
        self.due = self.started + interval

    def __call__(self, done: int, total: int | None, message: str) -> None:
        now = self.clock()
        if now < self.due:
            return
        self.due = now + self.interval
        self.stream.write(progress_line(self.label, done, total, now - self.started, message) + "\n")
        self.stream.flush()


def progress_line(label: str, done: int, total: int | None, elapsed: float, message: str = "") -> str:
    """``demo: 1,200 of 5,000 (24%), 340/s, ETA 0:00:11, <message>``."""
    known = bool(total) and total >= done
    text = f"{label}: {done:,}" + (f" of {total:,} ({done * 100 // total}%)" if known else "")
    rate = done / elapsed if elapsed > 0 else 0.0
    parts = [text, f"{rate:,.0f}/s"]
    if known and rate > 0:
        parts.append(f"ETA {_clock((total - done) / rate)}")
    if message:
        parts.append(message)
    return ", ".join(parts)


def _clock(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _progress_interval() -> float:
    """The ``progress_interval`` setting of the running command (10 s outside one)."""
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return 10.0
    from contentcloud.cli.context import settings_from

    return settings_from(ctx).progress_interval
