"""Harvest failures around OAI-PMH that are not protocol error codes.

The protocol's own error codes (badArgument, noRecordsMatch, …) are one class each in
:mod:`mdstore.oai_errors`, shared with the publisher; they are re-exported here so harvester code
has one place to import its errors from.
"""

from __future__ import annotations

from mdstore.errors import HarvestError, UnparsablePage  # noqa: F401  (UnparsablePage re-exported)
from mdstore.oai_errors import (  # noqa: F401  (re-exported)
    ERRORS_BY_CODE,
    BadArgument,
    BadResumptionToken,
    BadVerb,
    CannotDisseminateFormat,
    IdDoesNotExist,
    NoMetadataFormats,
    NoRecordsMatch,
    NoSetHierarchy,
    UnknownOAIError,
    error_for,
)

# --- harvest failures that are not OAI error codes -------------------------------------------------


class NotOAIResponse(HarvestError):
    """The response is XML but not an OAI-PMH document (wrong root, wrong namespace)."""


class ResumptionTokenLoop(HarvestError):
    """The server handed out a resumption token it had already given in this list: following it
    would loop forever."""


class ResumptionTokensExpired(HarvestError):
    """The server kept refusing resumption tokens: the token was sent twice and the date-window
    fallbacks of one stretch of failures were all refused too. Resumable: everything fetched is
    in the open transaction, and a later ``--resume`` (when the server behaves) continues from
    the last good page."""

    resumable = True
