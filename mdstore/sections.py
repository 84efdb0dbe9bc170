"""Typed profile sections: frozen dataclasses built once from a validated profile mapping.

A datasource profile is checked against ``schemas/datasource.schema.json`` before anything reads it;
after that the code reads typed attributes (``api.max_retries``), not ``.get("max_retries", 5)``
repeated at every use with its own copy of the default. Each layer defines the sections it reads
(the harvesters their ``api`` sections, contentcloud ``transform``, ``index``…), since a lower layer
may not import an upper one; this kernel only gives them one way to be built.

The defaults of a section's fields are the schema's ``default`` values: a unit test
(``tests/unit/contentcloud/test_profile_sections.py``) compares every section with its part of the schema, so
the two cannot drift apart. A field the schema gives no default is ``None`` (or empty): absent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Self


def from_key(name: str, **kwargs: Any) -> Any:
    """A field read from the profile key ``name`` (``from_`` from ``from``); other arguments as
    for :func:`dataclasses.field`."""
    return field(metadata={"key": name}, **kwargs)


def profile_key(section_field: Any) -> str:
    """The profile key a dataclass field is read from."""
    return section_field.metadata.get("key", section_field.name)


def _frozen(value: Any) -> Any:
    """Lists become tuples (a frozen section holds no list to mutate); mappings are copied."""
    if isinstance(value, list | tuple):
        return tuple(_frozen(item) for item in value)
    if isinstance(value, Mapping):
        return dict(value)
    return value


@dataclass(frozen=True)
class Section:
    """Base of the typed sections: :meth:`from_mapping` builds one from a profile mapping."""

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> Self:
        """The section of a validated profile mapping: keys the profile leaves out take the field's
        default; keys that are not fields (``protocol``, the ``*_env`` names) are not read here."""
        if isinstance(data, cls):
            return data
        data = data or {}
        values = {
            f.name: _frozen(data[profile_key(f)]) for f in fields(cls) if f.init and profile_key(f) in data
        }
        return cls(**values)
