"""The OAI-PMH error conditions the publisher emits: the kernel's classes (:mod:`mdstore.oai_errors`),
shared with the harvester, so one class per code exists in the whole project.
"""

from __future__ import annotations

from mdstore.errors import OAIProtocolError as OAIError
from mdstore.oai_errors import (
    ERRORS_BY_CODE as CODES,
)
from mdstore.oai_errors import (
    BadArgument,
    BadResumptionToken,
    BadVerb,
    CannotDisseminateFormat,
    IdDoesNotExist,
    NoMetadataFormats,
    NoRecordsMatch,
    NoSetHierarchy,
)

#: codes after which ``<request>`` carries no attributes (spec 3.2: only the base URL)
NO_ECHO_CODES = frozenset({"badVerb", "badArgument"})

__all__ = [
    "CODES", "NO_ECHO_CODES", "BadArgument", "BadResumptionToken", "BadVerb", "CannotDisseminateFormat",
    "IdDoesNotExist", "NoMetadataFormats", "NoRecordsMatch", "NoSetHierarchy", "OAIError",
]
