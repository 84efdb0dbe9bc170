"""``contentcloud rdf DATASOURCE [--full]`` and ``contentcloud rdf --check DATASOURCE``."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from contentcloud.cli.context import settings_from
from contentcloud.cli.exit_codes import exit_code_for
from contentcloud.cli.output import print_json, progress_bar

if TYPE_CHECKING:
    from contentcloud.pipeline.summary import RunSummary


@click.command()
@click.argument("datasource")
@click.option(
    "--full",
    is_flag=True,
    help="Rebuild the datasource's graph from every present record; it replaces the live one atomically.",
)
@click.option(
    "--check",
    is_flag=True,
    help="Load nothing: list the records whose triples in the store disagree with the MDStore.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary (or the check report) as JSON.")
@click.pass_context
def rdf(ctx: click.Context, datasource: str, full: bool, check: bool, as_json: bool) -> None:
    """Load DATASOURCE's current transformed version into its named graph of the RDF store
    (CONTENTCLOUD_RDF; the embedded store under var/rdf by default), served at /sparql.

    Without --full only the records changed since the loaded version are loaded (their triples
    replaced, deleted records' triples removed), or everything when that cannot be done exactly.
    With --check it lists records missing from the store, unexpected in it, or whose triples differ.

    Exit codes: 0 finished (check: no differences), 3 finished with record errors (check:
    differences), 1 failed, 2 usage or configuration error.
    """
    from contentcloud.pipeline.rdf import run_rdf

    if full and check:
        raise click.UsageError("--check compares, --full loads: choose one")
    settings = settings_from(ctx)
    with progress_bar(datasource, enabled=not check) as on_progress:
        summary = run_rdf(datasource, settings, full=full, check=check, on_progress=on_progress)
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
        f"rdf {summary.datasource}: {summary.outcome} in {summary.seconds:.1f}s "
        f"({summary.rate:.0f} records/s)",
        f"  {summary.unit_in} @ {summary.version_in or '-'} -> graph <{extra.get('graph', '-')}> "
        f"({extra.get('mode', '-')}: {extra.get('reason', summary.message)})",
        f"  records read {summary.read}, loaded {summary.written}, deleted {summary.deleted}, "
        f"errors {summary.errors}",
    ]
    if extra.get("triples") is not None:
        lines.append(f"  the graph now holds {extra['triples']} triples of {extra['records']} records")
    if summary.message and summary.message != extra.get("reason"):
        lines.append(f"  {summary.message}")
    lines.extend(f"  ! {e}" for e in summary.first_errors)
    click.echo("\n".join(lines))


def _print_check(summary: RunSummary) -> None:
    extra = summary.extra
    click.echo(f"check {summary.datasource}: {summary.message}")
    for kind in ("missing", "unexpected", "different"):
        total = extra.get(f"{kind}_total", 0)
        if not total:
            continue
        shown = extra.get(kind, [])
        more = f" (first {len(shown)})" if total > len(shown) else ""
        click.echo(f"{kind} {total}{more}:")
        for item in shown:
            click.echo(f"  {item}")
