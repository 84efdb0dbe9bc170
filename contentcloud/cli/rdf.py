"""``contentcloud rdf DATASOURCE [--full]`` and ``contentcloud rdf --check DATASOURCE``."""

from __future__ import annotations

import sys

import click

from contentcloud.cli.exit_codes import exit_code_for
from contentcloud.cli.output import show_step_result
from contentcloud.cli.workers import full_and_check, parted_command, run_or_check


@parted_command(
    *full_and_check(
        full_help="Rebuild the datasource's graph from every present record; it replaces the live one "
        "atomically.",
        check_help="Load nothing: list the records whose triples in the store disagree with the MDStore.",
    ),
    json_help="Print the summary (or the check report) as JSON.",
)
def rdf(ctx: click.Context, datasource: str, full: bool, check: bool, workers: int, as_json: bool) -> None:
    """Load DATASOURCE's current transformed version into its named graph of the RDF store
    (CONTENTCLOUD_RDF; the embedded store under var/rdf by default), served at /sparql.

    Without --full only the records changed since the loaded version are loaded (their triples
    replaced, deleted records' triples removed), or everything when that cannot be done exactly.
    With --check it lists records missing from the store, unexpected in it, or whose triples differ.
    An incremental load is cut into id ranges (the parts the DAG maps over) that --workers share;
    a full one is a single part.

    Exit codes: 0 finished (check: no differences), 3 finished with record errors (check:
    differences), 1 failed, 2 usage or configuration error.
    """
    from contentcloud.pipeline.rdf import run_rdf

    summary = run_or_check(ctx, run_rdf, datasource, full=full, check=check, workers=workers, verb="loads")
    extra = summary.extra
    show_step_result(
        summary,
        as_json=as_json,
        check_kinds=("missing", "unexpected", "different") if check else None,
        target=f"graph <{extra.get('graph', '-')}>",
        counts=f"loaded {summary.written}, deleted {summary.deleted}, errors {summary.errors}",
        holds=None
        if extra.get("triples") is None
        else f"the graph now holds {extra['triples']} triples of {extra['records']} records",
    )
    sys.exit(exit_code_for(summary.outcome))
