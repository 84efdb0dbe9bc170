"""The one summary type every pipeline step returns.

Logged once at INFO, shown as a table or JSON by the CLI, returned as the Airflow task's XCom
value, and stored with the MDStore version it produced (scrapy's stats dump and rikolti's
status dataclass as one type).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from mdstore.redact import mask_text

logger = logging.getLogger(__name__)


class Outcome(StrEnum):
    FINISHED = "finished"
    RECORD_ERRORS = "finished_with_record_errors"
    FAILED = "failed"
    RESUMABLE = "failed_resumable"
    NOTHING_TO_DO = "nothing_to_do"


#: progress callback: (done, total or None, message)
ProgressFn = Callable[[int, int | None, str], None]


def new_run_id(step: str) -> str:
    """A sortable, unique run id: ``<step>-YYYYmmddTHHMMSSZ-<6 hex>``."""
    return f"{step}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def summary_base(
    step: str, datasource: str, run_id: str, unit_in: str | None, unit_out: str | None, **more: Any
) -> dict[str, Any]:
    """The fields every summary of one run starts from: the step, the datasource, the run, the
    units it reads and writes (and ``more``, e.g. ``version_in``)."""
    return {
        "step": step,
        "datasource": datasource,
        "run_id": run_id,
        "unit_in": unit_in,
        "unit_out": unit_out,
        **more,
    }


@dataclass(frozen=True)
class RunSummary:
    """What one step did. Counts are relative to the previous version of the target unit."""

    step: str
    datasource: str
    run_id: str
    outcome: Outcome
    unit_in: str | None = None
    version_in: str | None = None
    unit_out: str | None = None
    version_out: str | None = None
    read: int = 0
    written: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    errors: int = 0
    discarded: int = 0
    pages: int = 0
    seconds: float = 0.0
    message: str = ""
    first_errors: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Mask URLs with credentials or tokens (:mod:`mdstore.redact`): summaries are printed,
        logged, stored with the version's report and shown in Airflow."""
        object.__setattr__(self, "message", mask_text(self.message))
        object.__setattr__(self, "first_errors", tuple(mask_text(e) for e in self.first_errors))

    @property
    def rate(self) -> float:
        """Records per second over the step's wall time."""
        count = self.read or self.written
        return count / self.seconds if self.seconds > 0 else 0.0

    @property
    def changed(self) -> bool:
        """Did the step change its target (downstream steps may skip when not)?"""
        return bool(self.added or self.updated or self.deleted)

    @property
    def ok(self) -> bool:
        return self.outcome in (Outcome.FINISHED, Outcome.RECORD_ERRORS, Outcome.NOTHING_TO_DO)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["outcome"] = str(self.outcome)
        data["first_errors"] = list(self.first_errors)
        data["rate"] = round(self.rate, 1)
        data["changed"] = self.changed
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSummary:
        """The summary :meth:`as_dict` made (derived keys ignored), e.g. back from a worker's XCom."""
        known = set(cls.__dataclass_fields__)
        values = {key: value for key, value in data.items() if key in known}
        values["outcome"] = Outcome(values["outcome"])
        values["first_errors"] = tuple(values.get("first_errors") or ())
        values["extra"] = dict(values.get("extra") or {})
        return cls(**values)

    def text(self) -> str:
        """A human-readable multi-line summary (task logs, terminals)."""
        lines = [
            f"{self.step} {self.datasource}: {self.outcome} in {self.seconds:.1f}s "
            f"({self.rate:.0f} records/s)",
            f"  in:  {self.unit_in or '-'} @ {self.version_in or '-'}  read {self.read}",
            f"  out: {self.unit_out or '-'} @ {self.version_out or '-'}  written {self.written} "
            f"(added {self.added}, updated {self.updated}, unchanged {self.unchanged}, "
            f"deleted {self.deleted})",
            f"  errors {self.errors}, discarded {self.discarded}, pages {self.pages}",
        ]
        if self.message:
            lines.append(f"  {self.message}")
        lines.extend(f"  ! {e}" for e in self.first_errors)
        return "\n".join(lines)

    def log(self) -> None:
        logger.info("%s", self.text(), extra={"summary": self.as_dict()})
