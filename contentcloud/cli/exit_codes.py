"""Exit codes of every ``contentcloud`` command, defined once."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0  #: finished
    FAILED = 1  #: failed
    USAGE = 2  #: usage or configuration error (click's own code)
    RECORD_ERRORS = 3  #: finished, but some records failed and were stored as errors
    RESUMABLE = 4  #: failed, but the open transaction can be resumed (``--resume``)


#: a pipeline run's outcome (``RunSummary.outcome``) → the exit code of the command that ran it
OUTCOME_CODES = {
    "finished": ExitCode.OK,
    "nothing_to_do": ExitCode.OK,
    "finished_with_record_errors": ExitCode.RECORD_ERRORS,
    "failed_resumable": ExitCode.RESUMABLE,
    "failed": ExitCode.FAILED,
}


def exit_code_for(outcome: object) -> ExitCode:
    """The exit code of a run's outcome; an outcome this table does not know is a failure."""
    return OUTCOME_CODES.get(str(outcome), ExitCode.FAILED)
