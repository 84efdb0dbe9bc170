"""OAI-PMH error conditions (spec section 3.6), one class per code, as the publisher emits them.

Each class's docstring is the spec's meaning. ``CODES`` maps every legal code to its class, so
the list of valid codes is written down once. They derive from :class:`PublisherError` (the
provision branch of the kernel hierarchy) because provision may import only ``mdstore``.
"""

from __future__ import annotations

from mdstore.errors import PublisherError


class OAIError(PublisherError):
    """An OAI-PMH error condition; ``code`` is what goes into ``<error code=…>``."""

    code = "badArgument"


class BadArgument(OAIError):
    """The request includes illegal arguments, is missing required arguments, includes a repeated
    argument, or values for arguments have an illegal syntax."""

    code = "badArgument"


class BadResumptionToken(OAIError):
    """The value of the resumptionToken argument is invalid or expired."""

    code = "badResumptionToken"


class BadVerb(OAIError):
    """Value of the verb argument is not a legal OAI-PMH verb, the verb argument is missing, or the
    verb argument is repeated."""

    code = "badVerb"


class CannotDisseminateFormat(OAIError):
    """The metadata format identified by the value given for the metadataPrefix argument is not
    supported by the item or by the repository."""

    code = "cannotDisseminateFormat"


class IdDoesNotExist(OAIError):
    """The value of the identifier argument is unknown or illegal in this repository."""

    code = "idDoesNotExist"


class NoRecordsMatch(OAIError):
    """The combination of the values of the from, until, set and metadataPrefix arguments results
    in an empty list."""

    code = "noRecordsMatch"


class NoMetadataFormats(OAIError):
    """There are no metadata formats available for the specified item."""

    code = "noMetadataFormats"


class NoSetHierarchy(OAIError):
    """The repository does not support sets."""

    code = "noSetHierarchy"


#: every error code of OAI-PMH 2.0 and its class
CODES: dict[str, type[OAIError]] = {
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

#: codes after which ``<request>`` carries no attributes (spec 3.2: only the base URL)
NO_ECHO_CODES = frozenset({"badVerb", "badArgument"})
