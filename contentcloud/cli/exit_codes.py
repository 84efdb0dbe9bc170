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


def exit_code_for_error(exc: BaseException) -> ExitCode:
    """The exit code of a command that stopped on ``exc``, chosen by its class: a configuration
    error is a usage error, a resumable one (``ContentcloudError.resumable``) has its own code."""
    from mdstore.errors import ConfigError

    if isinstance(exc, ConfigError):
        return ExitCode.USAGE
    if getattr(exc, "resumable", False):
        return ExitCode.RESUMABLE
    return ExitCode.FAILED


def remedy(exc: BaseException) -> str:
    """What the user can do about ``exc``, with the flags that do it; empty when nothing to add.

    The layers below the CLI say what happened; the flags are the CLI's, so only it names them."""
    from mdstore.errors import InterruptedTransaction, StoreFull, WriterLockError

    if isinstance(exc, InterruptedTransaction):
        if exc.takeover:
            return (
                "if that process is gone, continue it with --resume --force or drop it with --abort --force"
            )
        return "continue it with --resume or drop it with --abort"
    if isinstance(exc, WriterLockError) and exc.takeover:
        return "take it over with --force if that process is gone"
    if isinstance(exc, StoreFull):
        return "free space, then continue with --resume"
    return ""


def error_line(exc: BaseException) -> str:
    """The one line a command prints on stderr for ``exc``: ``error: where: what; remedy``."""
    hint = remedy(exc)
    return f"error: {exc}; {hint}" if hint else f"error: {exc}"


#: what the CLI adds to the summary of a harvest that stopped but can be continued
RESUMABLE_HARVEST = " and can be continued with --resume (or dropped with --abort)"
