"""The record envelope: what every layer passes around and the MDStore keeps.

A record's id is stable across harvests and machines: ``nsprefix::md5(originalId)``.
Its datestamp changes only when its body or its deletion status changes, so downstream
consumers (incremental transforms, the OAI-PMH publisher) never see churn.
"""

from __future__ import annotations

import hashlib
import sys
import types
from dataclasses import dataclass, field
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


_META_FIELDS = (
    "checksum",
    "datestamp",
    "deleted",
    "deleted_at",
    "collected_at",
    "transformed_at",
    "provenance",
)


class Record:
    """A stored record (treat as immutable).

    ``body`` is kept as given (bytes or str). ``datestamp`` is the last time the body or the
    deletion status changed; ``collected_at``/``transformed_at`` say when a step last wrote it.

    Why not a dataclass: a store streams hundreds of thousands of records a second, and most
    readers touch only the id and the body. A backend may therefore hand over the envelope fields
    still encoded, and the body still packed as stored (``Record.lazy``): each is decoded on first
    access, so a record shipped to another process (a publish refresh's builders) travels packed
    and is unpacked by the process that uses it.
    """

    __slots__ = ("id", "original_id", "datasource", "format", "_body", "_unpack", "_meta", "_decode")

    def __init__(
        self,
        id: str,
        original_id: str,
        datasource: str,
        format: str,
        body: Body | None,
        checksum: str,
        datestamp: datetime,
        deleted: bool = False,
        deleted_at: datetime | None = None,
        collected_at: datetime | None = None,
        transformed_at: datetime | None = None,
        provenance: dict[str, Any] | None = None,
    ) -> None:
        self.id = id
        self.original_id = original_id
        self.datasource = datasource
        self.format = format
        self._body = body
        self._unpack: Any = None
        self._meta: Any = {
            "checksum": checksum,
            "datestamp": datestamp,
            "deleted": deleted,
            "deleted_at": deleted_at,
            "collected_at": collected_at,
            "transformed_at": transformed_at,
            "provenance": provenance or {},
        }
        self._decode = None

    @classmethod
    def lazy(
        cls,
        id: str,
        original_id: str,
        datasource: str,
        format: str,
        body: Body | None,
        meta: Any,
        decode: Any,
        unpack: Any = None,
    ) -> Record:
        """A record whose envelope fields are decoded by ``decode(meta) -> dict`` on first access,
        and its body by ``unpack(body, record_id) -> body`` (when given) on first access."""
        obj = cls.__new__(cls)
        obj.id, obj.original_id, obj.datasource, obj.format, obj._body = (
            id,
            original_id,
            datasource,
            format,
            body,
        )
        obj._meta, obj._decode, obj._unpack = meta, decode, unpack
        return obj

    @property
    def body(self) -> Body | None:
        if self._unpack is not None:
            self._body = self._unpack(self._body, self.id)
            self._unpack = None
        return self._body

    @body.setter
    def body(self, value: Body | None) -> None:
        self._body, self._unpack = value, None

    def _fields(self) -> dict[str, Any]:
        if self._decode is not None:
            self._meta = self._decode(self._meta)
            self._decode = None
        return self._meta

    checksum = property(lambda self: self._fields()["checksum"])
    datestamp = property(lambda self: self._fields()["datestamp"])
    deleted = property(lambda self: self._fields()["deleted"])
    deleted_at = property(lambda self: self._fields()["deleted_at"])
    collected_at = property(lambda self: self._fields()["collected_at"])
    transformed_at = property(lambda self: self._fields()["transformed_at"])
    provenance = property(lambda self: self._fields()["provenance"])

    def __reduce__(self) -> tuple:
        """Pickled still encoded and packed when its decoder and unpacker pickle by name (a publish
        refresh ships records to its builder processes: the receiver decodes and unpacks, not the
        sender)."""
        body, unpack = self._body, self._unpack
        if unpack is not None and not _pickles_by_name(unpack):
            body, unpack = self.body, None
        decode = self._decode
        if decode is not None and _pickles_by_name(decode):
            return (
                Record.lazy,
                (self.id, self.original_id, self.datasource, self.format, body, self._meta, decode, unpack),
            )
        fields = self._fields()
        return (_record, (self.id, self.original_id, self.datasource, self.format, body, fields, unpack))

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "original_id": self.original_id,
            "datasource": self.datasource,
            "format": self.format,
            "body": self.body,
            **self._fields(),
        }

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Record) and self.as_dict() == other.as_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        fields = self._fields()
        return (
            f"Record(id={self.id!r}, original_id={self.original_id!r}, datasource={self.datasource!r}, "
            f"format={self.format!r}, deleted={fields['deleted']!r}, datestamp={fields['datestamp']!r}, "
            f"body={_preview(self.body)})"
        )

    def body_bytes(self) -> bytes:
        """The body as bytes whatever form it was stored in."""
        if self.body is None:
            return b""
        return self.body.encode("utf-8") if isinstance(self.body, str) else self.body

    def body_text(self) -> str:
        if self.body is None:
            return ""
        return self.body if isinstance(self.body, str) else self.body.decode("utf-8")


def _record(
    id: str,
    original_id: str,
    datasource: str,
    format: str,
    body: Body | None,
    fields: dict[str, Any],
    unpack: Any = None,
) -> Record:
    return Record.lazy(id, original_id, datasource, format, body, fields, None, unpack)


def _pickles_by_name(fn: Any) -> bool:
    """Whether pickle finds ``fn`` again by name: a module-level function (a module-level lambda
    has a name, but not its own), or an instance of a plain module-level class (its state is
    pickled with it; classes with a ``__reduce__`` of their own, such as ``functools.partial``,
    may hold anything)."""
    if isinstance(fn, types.FunctionType):
        target = fn
    elif type(fn).__reduce__ is object.__reduce__:
        target = type(fn)
    else:
        return False
    module = sys.modules.get(getattr(target, "__module__", None) or "")
    return getattr(module, getattr(target, "__qualname__", "<"), None) is target


def _preview(body: Body | None) -> str:
    if body is None:
        return "None"
    text = repr(body[:60])
    return text + ("…" if len(body) > 60 else "")


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
