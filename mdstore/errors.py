"""The single error hierarchy shared by every layer.

Every package may import :mod:`mdstore`, so the base error lives here and ``contentcloud``
re-exports it. Each class carries *what* went wrong and *where* as attributes; ``str(err)``
reads ``"where: what"``. Errors stay picklable (message first to ``Exception.__init__``,
defaults on every extra field) because Airflow and worker processes ship them around.
"""

from __future__ import annotations

from typing import Any

from mdstore.redact import mask_text


class ContentcloudError(Exception):
    """Base of every error the project raises on purpose.

    The CLI prints these as one line on stderr; anything else is a bug and keeps its traceback.
    The message and the text where-fields are masked (:mod:`mdstore.redact`) as the error is
    made, so a URL with a password or a token never reaches a log, a report or the store.
    """

    #: attributes that locate the error; subclasses extend this tuple
    where_fields: tuple[str, ...] = ()
    #: the outcome: True when what failed can be continued where it stopped (its checkpoint is
    #: kept), which the CLI reports with its own exit code and the flag that continues it; the
    #: class says so, never the message text, and no layer below the CLI names a flag
    resumable: bool = False

    def __init__(self, message: str = "", **where: Any) -> None:
        message = mask_text(message) if isinstance(message, str) else message
        super().__init__(message)
        self.message = message
        for name in self.where_fields:
            value = where.pop(name, None)
            setattr(self, name, mask_text(value) if isinstance(value, str) else value)
        if where:
            raise TypeError(f"{type(self).__name__} got unknown fields: {sorted(where)}")

    def where(self) -> str:
        """The location part of the message, built from the non-empty ``where_fields``."""
        parts = [
            str(getattr(self, name))
            for name in self.where_fields
            if getattr(self, name, None) not in (None, "")
        ]
        return ": ".join(parts)

    def __str__(self) -> str:
        where = self.where()
        return f"{where}: {self.message}" if where else self.message

    def __reduce__(self):  # keep the where-fields through pickling
        fields = {name: getattr(self, name, None) for name in self.where_fields}
        return (_rebuild, (type(self), self.message, fields))

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly view (error stores, run summaries, XCom)."""
        data = {name: getattr(self, name, None) for name in self.where_fields}
        return {"type": type(self).__name__, "message": self.message, **data}


def _rebuild(cls: type[ContentcloudError], message: str, fields: dict[str, Any]) -> ContentcloudError:
    return cls(message, **fields)


def _rebuild_with(cls, message: str, fields: dict[str, Any], extra: dict[str, Any]) -> ContentcloudError:
    return cls(message, **fields, **extra)


# --- configuration -------------------------------------------------------------------------------


class ConfigError(ContentcloudError):
    """Settings, datasource profiles or schema failures: names the file, the field and the rule."""

    where_fields = ("file", "field")

    def __init__(
        self, message: str = "", *, file: Any = None, field: Any = None, rule: str | None = None
    ) -> None:
        super().__init__(message, file=file, field=field)
        self.rule = rule

    def __reduce__(self):
        return (_rebuild_config, (type(self), self.message, self.file, self.field, self.rule))


def _rebuild_config(cls, message, file, field, rule):
    return cls(message, file=file, field=field, rule=rule)


# --- plugins -------------------------------------------------------------------------------------


class PluginError(ContentcloudError):
    """A plugin could not be found or loaded."""

    where_fields = ("kind", "name")


class UnknownPlugin(PluginError):
    """No plugin of this kind is registered under that name; the message lists the valid names."""


class PluginUnavailable(PluginError):
    """The plugin exists but a package it needs is not installed."""


# --- storage -------------------------------------------------------------------------------------


class StoreError(ContentcloudError):
    """MDStore failures, located by unit and version."""

    where_fields = ("unit", "version")


class TransactionError(StoreError):
    """A write transaction cannot be opened, resumed, committed or aborted as asked."""


class WriterLockError(TransactionError):
    """Another writer holds the unit's open transaction (or may still hold it): the message says
    who (host, pid, run id), since when and its last heartbeat. Nothing was changed.

    ``takeover``: the writer is on another host and stopped beating, so it is presumed dead but
    this host cannot check; the user may take the transaction over (the CLI says how)."""

    def __init__(self, message: str = "", *, takeover: bool = False, **where: Any) -> None:
        super().__init__(message, **where)
        self.takeover = takeover

    def __reduce__(self):
        fields = {name: getattr(self, name, None) for name in self.where_fields}
        return (_rebuild_with, (type(self), self.message, fields, {"takeover": self.takeover}))


class InterruptedTransaction(TransactionError):
    """The unit has an interrupted transaction open, so a new one cannot start: it can be
    continued or dropped first (the CLI names the flags). ``takeover``: its writer on another host
    stopped beating; continuing or dropping it takes it over from a writer presumed dead."""

    resumable = True

    def __init__(self, message: str = "", *, takeover: bool = False, **where: Any) -> None:
        super().__init__(message, **where)
        self.takeover = takeover

    def __reduce__(self):
        fields = {name: getattr(self, name, None) for name in self.where_fields}
        return (_rebuild_with, (type(self), self.message, fields, {"takeover": self.takeover}))


class LeaseError(StoreError):
    """A read lease is missing, expired or refers to a version that is gone."""


class VersionNotFound(StoreError):
    """The unit or version asked for does not exist (or was garbage-collected)."""


class StoreFull(StoreError):
    """The store's disk (or quota) is full. What was checkpointed stays; the open transaction can
    be continued once there is space: a resumable failure."""

    resumable = True


# --- collection ----------------------------------------------------------------------------------


class HarvestError(ContentcloudError):
    """Collection failures, located by datasource, URL and page."""

    where_fields = ("datasource", "url", "page")


class UnparsablePage(HarvestError):
    """A page of a list (OAI-PMH, a paged API) cannot be parsed even after repairs, so the list
    cannot be continued past it. Resumable: a server's glitch may be gone on the next try, which
    fetches that page again. ``raw`` holds the page, which the collect step keeps as discarded."""

    resumable = True

    def __init__(self, message: str = "", *, raw: bytes | None = None, **where: Any) -> None:
        super().__init__(message, **where)
        self.raw = raw


class PageTooLarge(UnparsablePage):
    """A page (an OAI-PMH response, a page of a paged API) is larger than the profile's
    ``max_page_bytes``; it was read streamed up to the cap and its head is in ``raw``."""


class TransportError(HarvestError):
    """The server could not be reached or answered with an HTTP error after all retries.

    Resumable when another try may get past it: no answer, a server error (5xx), a timeout (408),
    throttling (429) or a broken body (200); a client error (404, 401…) will not go away."""

    def __init__(
        self, message: str = "", *, status: int | None = None, retry_after: float | None = None, **where: Any
    ) -> None:
        super().__init__(message, **where)
        self.status = status
        self.retry_after = retry_after

    @property
    def resumable(self) -> bool:  # type: ignore[override]
        return self.status is None or self.status >= 500 or self.status in (200, 408, 429)

    def __reduce__(self):
        fields = {name: getattr(self, name, None) for name in self.where_fields}
        return (_rebuild_transport, (type(self), self.message, fields, self.status, self.retry_after))


def _rebuild_transport(cls, message, fields, status, retry_after):
    return cls(message, status=status, retry_after=retry_after, **fields)


class OAIProtocolError(HarvestError):
    """An OAI-PMH ``<error code=...>``; subclasses (in ``harvesters.oai.errors``) per code."""

    code: str = "unknown"


# --- records -------------------------------------------------------------------------------------


class RecordError(ContentcloudError):
    """One record failed one step. Data more than control flow: stored, counted, the run goes on."""

    where_fields = ("record_id", "step", "location")


class RecordParseError(RecordError):
    """A record (or page) is not parseable; its raw bytes go to the discarded store."""


class MappingError(RecordError):
    """A mapping could not be applied to a record, or is itself invalid."""


# --- provision -----------------------------------------------------------------------------------


class ProvisionError(ContentcloudError):
    """Index and publisher failures, located by target (core, URL, endpoint)."""

    where_fields = ("target",)


class IndexBackendError(ProvisionError):
    """The search index refused or failed an operation."""


class PublisherError(ProvisionError):
    """The OAI-PMH publisher cannot answer a request."""


class OrchestratorError(ContentcloudError):
    """The orchestrator (Airflow's REST API) refused or missed a request, e.g. an asset event a
    CLI commit sends; the commit itself stands."""
