"""Pipeline steps: plain functions over MDStore units that return a :class:`RunSummary`.

Each step reads the current version of its source unit under a read lease, writes its target
unit in one write transaction, commits or aborts, and returns the summary. No click, rich or
Airflow in here: progress leaves through an optional ``on_progress`` callback. Beside each step
a thin ``run_<step>(datasource_id, settings, …)`` wrapper resolves store, units and profile; the
CLI command and the Airflow task both call that wrapper, so there is one code path.
"""

from contentcloud.pipeline.summary import Outcome, ProgressFn, RunSummary, new_run_id

__all__ = ["Outcome", "ProgressFn", "RunSummary", "new_run_id"]
