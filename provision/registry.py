"""Index backends by URI scheme: ``sqlite:///path`` (embedded, the default) or ``http(s)://…/solr/<name>``.

Built-in names are ``sqlite`` and ``solr``; an outside package adds one through the
``contentcloud.indexes`` entry-point group (its name is also the URI scheme it serves).
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from mdstore.errors import ConfigError
from mdstore.plugins import Registry
from provision.index.base import IndexBackend

#: name → factory(uri, *, name=None) -> IndexBackend
INDEXES: Registry[Callable[..., IndexBackend]] = Registry("index backend", group="contentcloud.indexes")
INDEXES.register("sqlite", "provision.index.sqlite:from_uri")
INDEXES.register("solr", "provision.index.solr:from_uri")

#: URI schemes served by a backend of another name
SCHEME_ALIASES = {"http": "solr", "https": "solr"}


def schemes() -> list[str]:
    """The URI schemes an index can be opened with: each backend's name, or the schemes it serves
    under another name (``solr`` serves ``http`` and ``https``); installed plugins included."""
    return INDEXES.schemes(SCHEME_ALIASES)


def backend_name(uri: str) -> str:
    scheme = urlsplit(uri).scheme.lower()
    if not scheme:
        raise ConfigError(
            f"{uri!r} has no scheme (sqlite:///path or http://host:8983/solr/<core>)",
            field="index",
            rule="scheme",
        )
    return SCHEME_ALIASES.get(scheme, scheme)


def open_index(uri: str, *, name: str | None = None) -> IndexBackend:
    """Open the index at ``uri`` with the backend its scheme names; ``name`` overrides the index name
    (the Solr core/alias, or the embedded index within the file)."""
    return INDEXES.get(backend_name(uri))(uri, name=name)
