"""Exit codes of every ``contentcloud`` command, defined once."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0  #: finished
    FAILED = 1  #: failed
    USAGE = 2  #: usage or configuration error (click's own code)
    RECORD_ERRORS = 3  #: finished, but some records failed and were stored as errors
    RESUMABLE = 4  #: failed, but the open transaction can be resumed (``--resume``)
