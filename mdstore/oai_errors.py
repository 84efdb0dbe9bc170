"""OAI-PMH error conditions (OAI-PMH 2.0, section 3.6), one class per code, shared by the
harvester (which raises them from a server's ``<error code=…>``) and the publisher (which emits
``<error code=…>`` from them).

They live in the kernel because both sides import them and neither may import the other. Each
class derives from :class:`mdstore.errors.OAIProtocolError`, so callers catch one base for any
protocol error. The code → class table is an explicit dict (:data:`ERRORS_BY_CODE`): the list of
valid codes is written down once.
"""

from __future__ import annotations

from typing import Any

from mdstore.errors import OAIProtocolError


class BadArgument(OAIProtocolError):
    """The request includes illegal arguments, is missing required arguments, includes a repeated
    argument, or values for arguments have an illegal syntax."""

    code = "badArgument"


class BadResumptionToken(OAIProtocolError):
    """The value of the resumptionToken argument is invalid or expired."""

    code = "badResumptionToken"


class BadVerb(OAIProtocolError):
    """Value of the verb argument is not a legal OAI-PMH verb, the verb argument is missing, or the
    verb argument is repeated."""

    code = "badVerb"


class CannotDisseminateFormat(OAIProtocolError):
    """The metadata format identified by the value given for the metadataPrefix argument is not
    supported by the item or by the repository."""

    code = "cannotDisseminateFormat"


class IdDoesNotExist(OAIProtocolError):
    """The value of the identifier argument is unknown or illegal in this repository."""

    code = "idDoesNotExist"


class NoRecordsMatch(OAIProtocolError):
    """The combination of the values of the from, until, set and metadataPrefix arguments results
    in an empty list."""

    code = "noRecordsMatch"


class NoMetadataFormats(OAIProtocolError):
    """There are no metadata formats available for the specified item."""

    code = "noMetadataFormats"


class NoSetHierarchy(OAIProtocolError):
    """The repository does not support sets."""

    code = "noSetHierarchy"


class UnknownOAIError(OAIProtocolError):
    """An ``<error>`` whose code is not one of the eight the protocol defines."""

    code = "unknown"


#: every code OAI-PMH 2.0 defines, and its class
ERRORS_BY_CODE: dict[str, type[OAIProtocolError]] = {
    cls.code: cls
    for cls in (
        BadArgument,
        BadResumptionToken,
        BadVerb,
        CannotDisseminateFormat,
        IdDoesNotExist,
        NoRecordsMatch,
        NoMetadataFormats,
        NoSetHierarchy,
    )
}


def error_for(code: str, message: str, **where: Any) -> OAIProtocolError:
    """The exception for an ``<error code=…>``; unknown codes keep their code in the message."""
    cls = ERRORS_BY_CODE.get(code)
    if cls is None:
        return UnknownOAIError(f"{code}: {message}".strip(": "), **where)
    return cls(message or (cls.__doc__ or "").split(".")[0].replace("\n", " "), **where)
