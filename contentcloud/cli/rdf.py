"""``contentcloud rdf DATASOURCE [--full]`` and ``contentcloud rdf --check DATASOURCE``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from contentcloud.cli.workers import FeedView, feed_command, run_or_check

if TYPE_CHECKING:
    from contentcloud.pipeline.summary import RunSummary


@feed_command(
    full_help="Rebuild the datasource's graph from every present record; it replaces the live one "
    "atomically.",
    check_help="Load nothing: list the records whose triples in the store disagree with the MDStore.",
)
def rdf(ctx: click.Context, datasource: str, **flags: Any) -> None:
    """Load DATASOURCE's current transformed version into its named graph of the RDF store
    (CONTENTCLOUD_RDF; the embedded store under var/rdf by default), served at /sparql.

    Without --full only the records changed since the loaded version are loaded (their triples
    replaced, deleted records' triples removed), or everything when that cannot be done exactly.
    With --check it lists records missing from the store, unexpected in it, or whose triples differ.
    An incremental load is cut into id ranges (the parts the DAG maps over) that --workers share;
    a full one is a single part.
    """
    from contentcloud.pipeline.rdf import run_rdf

    run_or_check(ctx, run_rdf, datasource, VIEW, **flags)


def _described(summary: RunSummary) -> tuple[str, str, str | None]:
    """The graph a load went to, its counts, and what the graph holds now."""
    extra = summary.extra
    triples = extra.get("triples")
    records = extra.get("records")
    holds = None if triples is None else f"the graph now holds {triples} triples of {records} records"
    counts = f"loaded {summary.written}, deleted {summary.deleted}, errors {summary.errors}"
    return f"graph <{extra.get('graph', '-')}>", counts, holds


VIEW = FeedView("loads", ("missing", "unexpected", "different"), _described)
