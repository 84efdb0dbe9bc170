"""``contentcloud index DATASOURCE [--full]`` and ``contentcloud index --check DATASOURCE``."""

from __future__ import annotations

import sys

import click

from contentcloud.cli.exit_codes import exit_code_for
from contentcloud.cli.output import show_step_result
from contentcloud.cli.workers import full_and_check, parted_command, run_or_check


@parted_command(
    *full_and_check(
        full_help="Rebuild: a fresh core/collection (or embedded generation) switched in atomically at "
        "the end.",
        check_help="Feed nothing: compare the index with the current transformed version, id by id.",
    ),
    json_help="Print the summary (or the check report) as JSON.",
)
def index(ctx: click.Context, datasource: str, full: bool, check: bool, workers: int, as_json: bool) -> None:
    """Feed DATASOURCE's current transformed version into the search index (--index / CONTENTCLOUD_INDEX).

    Without --full the step feeds what changed since the version the index last took in (or every
    record, in place, when it cannot tell), then sweeps the datasource's documents of superseded
    versions. With --check it lists the ids that differ (missing, unexpected, stale).

    Exit codes: 0 finished (check: no differences), 3 finished with record errors (check:
    differences), 1 failed, 2 usage or configuration error.
    """
    from contentcloud.pipeline.index import run_index

    summary = run_or_check(ctx, run_index, datasource, full=full, check=check, workers=workers, verb="feeds")
    extra = summary.extra
    show_step_result(
        summary,
        as_json=as_json,
        check_kinds=("missing", "unexpected", "stale") if check else None,
        target=f"index {summary.unit_out}",
        counts=f"documents sent {summary.written}, deleted {summary.deleted} "
        f"(swept {extra.get('swept', 0)}), errors {summary.errors}, warnings {extra.get('warnings', 0)}",
        holds=None
        if extra.get("index_count") is None
        else f"the index now holds {extra['index_count']} documents of {summary.datasource}",
    )
    sys.exit(exit_code_for(summary.outcome))
