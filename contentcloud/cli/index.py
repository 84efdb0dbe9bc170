"""``contentcloud index DATASOURCE [--full]`` and ``contentcloud index --check DATASOURCE``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from contentcloud.cli.workers import FeedView, feed_command, run_or_check

if TYPE_CHECKING:
    from contentcloud.pipeline.summary import RunSummary


@feed_command(
    full_help="Rebuild: a fresh core/collection (or embedded generation) switched in atomically at the end.",
    check_help="Feed nothing: compare the index with the current transformed version, id by id.",
)
def index(ctx: click.Context, datasource: str, **flags: Any) -> None:
    """Feed DATASOURCE's current transformed version into the search index (--index / CONTENTCLOUD_INDEX).

    Without --full the step feeds what changed since the version the index last took in (or every
    record, in place, when it cannot tell), then sweeps the datasource's documents of superseded
    versions. With --check it lists the ids that differ (missing, unexpected, stale).
    """
    from contentcloud.pipeline.index import run_index

    run_or_check(ctx, run_index, datasource, VIEW, **flags)


def _described(summary: RunSummary) -> tuple[str, str, str | None]:
    """The index a feed went to, its counts, and what the index holds now."""
    extra = summary.extra
    count = extra.get("index_count")
    holds = None if count is None else f"the index now holds {count} documents of {summary.datasource}"
    counts = (
        f"documents sent {summary.written}, deleted {summary.deleted} (swept {extra.get('swept', 0)}), "
        f"errors {summary.errors}, warnings {extra.get('warnings', 0)}"
    )
    return f"index {summary.unit_out}", counts, holds


VIEW = FeedView("feeds", ("missing", "unexpected", "stale"), _described)
