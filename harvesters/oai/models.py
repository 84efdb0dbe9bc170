"""What an OAI-PMH response holds, as small values: headers, records, tokens, pages, Identify.

Records keep their source: ``raw`` is the serialized ``<record>`` element (header and metadata),
which is what the MDStore stores as the native body (D-NET's OAI collector does the same).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sickle.models import ResumptionToken  # sickle's token model: token, cursor, size, expiry

from harvesters.base import Problem

OAI_NS = "http://www.openarchives.org/OAI/2.0/"

__all__ = ["OAI_NS", "Header", "Identify", "ListPage", "OAIRecord", "ResumptionToken", "token_value"]


@dataclass(frozen=True, slots=True)
class Header:
    """An OAI ``<header>``: identifier, datestamp, deletion status, set memberships."""

    identifier: str
    datestamp: str
    deleted: bool = False
    set_specs: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class OAIRecord:
    """A header and the serialized record (None for deleted records and ListIdentifiers)."""

    header: Header
    raw: bytes | None


@dataclass
class ListPage:
    """One parsed ListRecords/ListIdentifiers response."""

    records: list[OAIRecord]
    token: ResumptionToken | None
    response_date: str | None = None
    problems: list[Problem] = field(default_factory=list)
    #: bytes of illegal characters removed before parsing
    repaired: int = 0
    #: the page was not well-formed; records were salvaged one by one
    salvaged: bool = False

    @property
    def next_token(self) -> str | None:
        return token_value(self.token)

    @property
    def complete_list_size(self) -> int | None:
        size = getattr(self.token, "complete_list_size", None)
        try:
            return int(size) if size not in (None, "") else None
        except ValueError:
            return None


def token_value(token: ResumptionToken | None) -> str | None:
    """The token to send next, or None at the end of the list (absent, empty or blank token)."""
    if token is None or token.token is None:
        return None
    value = token.token.strip()
    return value or None


@dataclass(frozen=True)
class Identify:
    """The parts of an Identify response a harvester needs."""

    repository_name: str | None
    base_url: str | None
    granularity: str
    earliest_datestamp: str | None
    deleted_record: str | None
    response_date: str | None
