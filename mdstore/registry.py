"""MDStore backends by URI scheme: ``sqlite:///path`` (embedded default) or ``mongodb://…``."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from mdstore.api import HEARTBEAT, Backend, MDStore
from mdstore.errors import ConfigError
from mdstore.plugins import Registry

#: scheme → factory(uri) -> Backend
BACKENDS: Registry[Callable[[str], Backend]] = Registry("mdstore backend", group="contentcloud.mdstores")
BACKENDS.register("sqlite", "mdstore.sqlite:from_uri")
BACKENDS.register("mongodb", "mdstore.mongodb:from_uri")
BACKENDS.register("mongodb+srv", "mdstore.mongodb:from_uri")


def schemes() -> list[str]:
    """The URI schemes a store can be opened with: the built-ins, then those of backends installed
    through the ``contentcloud.mdstores`` entry points (the name is the scheme)."""
    return BACKENDS.names(in_order=True)


def open_store(
    uri: str,
    *,
    keep: int = 3,
    lease_ttl: float = 3600,
    heartbeat: float = HEARTBEAT,
    writer_timeout: float | None = None,
) -> MDStore:
    """Open the MDStore at ``uri`` with the backend its scheme names.

    ``heartbeat``: seconds between two heartbeats of a writer; ``writer_timeout``: when a writer of
    another host is presumed dead (default three heartbeats)."""
    scheme = urlsplit(uri).scheme.lower()
    if not scheme:
        raise ConfigError(
            f"{uri!r} has no scheme (sqlite:///path or mongodb://host/db)", field="mdstore", rule="scheme"
        )
    factory = BACKENDS.get(scheme)
    return MDStore(
        factory(uri),
        uri=uri,
        keep=keep,
        lease_ttl=lease_ttl,
        heartbeat=heartbeat,
        writer_timeout=writer_timeout,
    )
