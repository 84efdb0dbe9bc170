"""The record envelope: what every layer passes around and the MDStore keeps.

A record's id is stable across harvests and machines: ``nsprefix::md5(originalId)``.
Its datestamp changes only when its body or its deletion status changes, so downstream
consumers (incremental transforms, the OAI-PMH publisher) never see churn.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

Layout = Literal["store"]
Interpretation = Literal["native", "transformed", "cleaned"]
Body = bytes | str


def utcnow() -> datetime:
    """Timezone-aware UTC now, truncated to milliseconds (what both backends can store)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=(now.microsecond // 1000) * 1000)


def make_record_id(nsprefix: str, original_id: str) -> str:
    """``nsprefix::md5(originalId)``: stable for any Unicode id (UTF-8 encoded before hashing)."""
    return f"{nsprefix}::{hashlib.md5(original_id.encode('utf-8'), usedforsecurity=False).hexdigest()}"


def body_checksum(body: Body | None) -> str:
    """md5 hex of the body bytes (str bodies are UTF-8 encoded); tombstones hash the empty body."""
    if body is None:
        body = b""
    if isinstance(body, str):
        body = body.encode("utf-8")
    return hashlib.md5(body, usedforsecurity=False).hexdigest()


@dataclass(frozen=True, slots=True)
class UnitKey:
    """One MDStore unit: (datasource, format, layout, interpretation)."""

    datasource: str
    format: str
    layout: str = "store"
    interpretation: str = "native"

    @property
    def name(self) -> str:
        """Canonical text form, ``ds/format/layout/interpretation``; used as the unit's key."""
        return f"{self.datasource}/{self.format}/{self.layout}/{self.interpretation}"

    @classmethod
    def parse(cls, text: str) -> UnitKey:
        parts = text.split("/")
        if len(parts) != 4 or not all(parts):
            raise ValueError(f"unit {text!r} is not of the form datasource/format/layout/interpretation")
        return cls(*parts)

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class Record:
    """A stored record.

    ``body`` is kept as given (bytes or str). ``datestamp`` is the last time the body or the
    deletion status changed; ``collected_at``/``transformed_at`` say when a step last wrote it.
    """

    id: str
    original_id: str
    datasource: str
    format: str
    body: Body | None
    checksum: str
    datestamp: datetime
    deleted: bool = False
    deleted_at: datetime | None = None
    collected_at: datetime | None = None
    transformed_at: datetime | None = None
    provenance: dict[str, Any] = field(default_factory=dict)

    def body_bytes(self) -> bytes:
        """The body as bytes whatever form it was stored in."""
        if self.body is None:
            return b""
        return self.body.encode("utf-8") if isinstance(self.body, str) else self.body

    def body_text(self) -> str:
        if self.body is None:
            return ""
        return self.body if isinstance(self.body, str) else self.body.decode("utf-8")

    def with_changes(self, **changes: Any) -> Record:
        return replace(self, **changes)


@dataclass(frozen=True, slots=True)
class RecordInput:
    """What a writer hands to a transaction: the store fills in id, checksum and dates.

    ``record_date`` is the date a step stamps (collection date for harvests, transformation date
    for transforms), chosen by the transaction's ``stamp`` argument.
    """

    original_id: str
    body: Body | None
    provenance: dict[str, Any] = field(default_factory=dict)
    id: str | None = None  # precomputed id (e.g. a transformed record keeps its source id)
