"""Terminal rendering of the curator views: rich panels side by side on a terminal, plain sections
otherwise (pipes, tests, ``less``). ``--json`` bypasses this module."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from contentcloud.cli.output import print_table

if TYPE_CHECKING:
    from transforms.curation.coverage import CoverageReport
    from transforms.curation.preview import PreviewItem, PreviewReport
    from transforms.curation.rdfdiff import DiffReport

MAX_STATEMENTS = 40


def _status(item: PreviewItem) -> str:
    if item.error is not None:
        return "FAILED"
    detail = f"{item.triples} triples" if item.triples is not None else item.output_format
    if item.issues:
        detail += f", {len(item.issues)} ontology issue(s)"
    return f"ok, {detail}"


def show_preview(report: PreviewReport) -> None:
    where = f"{report.unit} @ {report.version}" if report.version else report.unit
    click.echo(f"preview {where}: {len(report.items)} of {report.total} records, {report.failed} failed")
    for missing in report.missing:
        click.echo(f"missing: {missing}: no such record in this version")
    if sys.stdout.isatty():
        _rich_preview(report)
        return
    for item in report.items:
        click.echo(f"\n# {item.record_id} ({item.original_id}): {_status(item)}")
        click.echo("## source")
        click.echo(item.source.rstrip("\n"))
        if item.error is not None:
            click.echo(f"## error\n{item.record_id}: {item.error}")
        else:
            click.echo(f"## output ({item.output_format})")
            click.echo(item.output.rstrip("\n"))
        for warning in item.warnings:
            click.echo(f"warning: {item.record_id}: {warning}")
        for issue in item.issues:
            click.echo(issue_line(item.record_id, issue))
    show_findings(report)


def issue_line(record_id: str, issue: Any) -> str:
    """One ontology issue of one record, on one line (grep-able, the record named first)."""
    return (
        f"ontology: {record_id}: {issue.severity}: {issue.kind}: {issue.subject} {issue.predicate}: "
        f"{issue.message}"
    )


def show_findings(report: PreviewReport) -> None:
    """The mapping's findings over the sample, then one summary line of the checks on stderr."""
    if report.findings:
        click.echo("")
    for finding in report.findings:
        click.echo(f"mapping: {finding}")
    click.echo(
        f"ontology check: {report.ontology_errors} error(s), {report.ontology_warnings} warning(s) in "
        f"{len(report.items)} record(s); mapping check: {len(report.findings)} finding(s)",
        err=True,
    )


def _rich_preview(report: PreviewReport) -> None:
    from rich.console import Console
    from rich.panel import Panel
    from rich.syntax import Syntax
    from rich.table import Table

    console = Console()
    for item in report.items:
        table = Table(title=f"{item.record_id} ({item.original_id}): {_status(item)}", expand=True)
        table.add_column("source")
        table.add_column("output" if item.ok else "error")
        right = (
            Panel(str(item.error), style="red")
            if item.error is not None
            else Syntax(item.output, "turtle" if item.output_format == "turtle" else "xml", word_wrap=True)
        )
        table.add_row(Syntax(item.source, "xml", word_wrap=True), right)
        console.print(table)
        for warning in item.warnings:
            console.print(f"[yellow]warning[/]: {warning}", markup=True, highlight=False)
        for issue in item.issues:
            console.print(issue_line(item.record_id, issue), markup=False, highlight=False)
    show_findings(report)


def show_coverage(report: CoverageReport) -> None:
    click.echo(
        f"coverage {report.unit} @ {report.version}: {report.records} records, {len(report.rows)} paths, "
        f"{len(report.unread)} not read; reads by {report.method}: {report.method_note}"
    )
    if report.parse_errors:
        click.echo(f"{report.parse_errors} records do not parse, e.g. {report.first_errors[0]}")
    rows = [
        (
            row.path,
            row.records,
            f"{row.share:.0%}",
            row.distinct_text,
            {True: "yes", False: "NO", None: "?"}[row.read],
            " | ".join(row.examples),
        )
        for row in report.rows
    ]
    print_table(["path", "records", "share", "distinct", "read", "examples"], rows)


def show_diff(report: DiffReport) -> None:
    counts = report.counts
    click.echo(
        f"diff {report.native_unit} @ {report.native_version} -> {report.transformed_unit} @ "
        f"{report.transformed_version}: {report.total} records in {report.seconds:.1f}s"
    )
    click.echo(
        "  "
        + ", ".join(
            f"{status.replace('_', ' ')} {counts.get(status, 0)}"
            for status in (
                "changed",
                "unchanged",
                "newly_failing",
                "newly_passing",
                "still_failing",
                "not_transformed",
            )
        )
    )
    click.echo(f"  triples added {report.added}, removed {report.removed}")
    if report.by_predicate:
        print_table(
            ["predicate", "added", "removed", "records"],
            [(p, c["added"], c["removed"], c["records"]) for p, c in report.by_predicate.items()],
            title="by predicate",
        )
    for item in report.records:
        click.echo(f"\n# {item.record_id} ({item.original_id}): {item.status.replace('_', ' ')}")
        if item.error:
            click.echo(f"error: {item.error}")
        if item.old_error:
            click.echo(f"stored error: {item.old_error}")
        for statement in item.removed[:MAX_STATEMENTS]:
            click.echo(f"- {statement} .")
        for statement in item.added[:MAX_STATEMENTS]:
            click.echo(f"+ {statement} .")
        hidden = max(0, len(item.removed) - MAX_STATEMENTS) + max(0, len(item.added) - MAX_STATEMENTS)
        if hidden:
            click.echo(f"… {hidden} more")
    if report.details_dropped:
        click.echo(f"\n… and {report.details_dropped} more records with differences (--max-details)")
