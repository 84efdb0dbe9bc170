"""Errors of the file download service: what went wrong with one file, and where.

Every one of them is about a single file (or a single record's links): the service catches it,
writes it to the ledger and goes on. They derive from :class:`~mdstore.errors.HarvestError`,
so ``str(err)`` reads "datasource: url: what".
"""

from __future__ import annotations

from mdstore.errors import HarvestError


class DownloadError(HarvestError):
    """A file could not be downloaded or kept, or a download run cannot start as asked."""


class Refused(DownloadError):
    """The profile does not allow this request (scheme, host or address); nothing was sent."""


class AddressRefused(Refused):
    """The host resolves to an address the profile does not allow (checked at connect time).

    Raised from inside the connection pool, so it must not be an ``OSError``: urllib3 and
    requests would wrap it into a retryable connection error.
    """


class FileRejected(DownloadError):
    """The server answered, but the file breaks a profile filter (content type, size)."""

    #: the HTTP status of the answer that was rejected
    status: int | None = None


class FileTooLarge(FileRejected):
    """The file is larger than ``download.filters.max_size`` (announced or while streaming)."""


class TooSlow(FileRejected):
    """The file took longer than ``download.max_time`` to arrive (a trickling server)."""


class ContentTypeRejected(FileRejected):
    """The server's ``Content-Type`` is not one of ``download.filters.content_types``."""
