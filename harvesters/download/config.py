"""The ``download`` section of a datasource profile as a frozen value, with its defaults.

The JSON Schema (``schemas/datasource.schema.json``, ``$defs/download``) has already checked the
section; this module only turns it into typed values and answers the filter questions.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

Layer = Literal["native", "transformed"]

#: largest file accepted when the profile sets no ``filters.max_size`` (as for harvested files)
DEFAULT_MAX_SIZE = 2 * 2**30


@dataclass(frozen=True)
class Filters:
    """Which files are wanted.

    ``content_types`` are media types, ``type/*`` wildcards allowed, compared without parameters
    (``text/xml; charset=utf-8`` is ``text/xml``); ``extensions`` are compared with the end of
    the URL path, case-insensitively (``pdf``, ``tar.gz``). Empty means any.
    """

    content_types: tuple[str, ...] = ()
    extensions: tuple[str, ...] = ()
    max_size: int = DEFAULT_MAX_SIZE

    @classmethod
    def from_profile(cls, section: Mapping[str, Any] | None) -> Filters:
        section = section or {}
        return cls(
            content_types=tuple(t.strip().lower() for t in section.get("content_types") or ()),
            extensions=tuple(e.strip().lower().lstrip(".") for e in section.get("extensions") or ()),
            max_size=int(section.get("max_size") or DEFAULT_MAX_SIZE),
        )

    def accepts_content_type(self, value: str | None) -> bool:
        """A missing ``Content-Type`` is accepted only when no filter is set (we cannot tell)."""
        if not self.content_types:
            return True
        media = (value or "").split(";", 1)[0].strip().lower()
        if not media:
            return False
        major = media.split("/", 1)[0]
        return any(wanted in (media, f"{major}/*", "*/*") for wanted in self.content_types)

    def accepts_url(self, url: str) -> bool:
        """False when the URL path ends in an extension the profile does not want.

        A path without an extension (``/download?id=5``) passes: only the server can tell what
        it is, and the content-type filter judges the answer.
        """
        if not self.extensions:
            return True
        try:
            name = posixpath.basename(urlsplit(url).path).lower()
        except ValueError:  # not a URL at all: the address policy refuses it, with the reason
            return True
        if "." not in name.strip("."):
            return True
        return any(name.endswith("." + ext) for ext in self.extensions)


@dataclass(frozen=True)
class DownloadConfig:
    """Everything the service needs from the profile; the step adds nothing but the RDF syntax."""

    xpath: str | None = None
    property_path: str | None = None
    extractor: str | None = None
    namespaces: Mapping[str, str] = field(default_factory=dict)
    layer: Layer = "native"
    filters: Filters = field(default_factory=Filters)
    allow_hosts: tuple[str, ...] = ()
    allow_networks: tuple[str, ...] = ()
    concurrency: int = 4
    per_host: int = 2
    delay: float = 0.0
    timeout: float = 60.0
    max_retries: int = 3
    backoff: float = 2.0
    max_backoff: float = 60.0
    max_redirects: int = 10
    #: longest one file may take to arrive (``timeout`` bounds each read, not a slow trickle)
    max_time: float = 3600.0
    user_agent: str | None = None
    #: syntax of RDF records (``ntriples``, ``turtle``, ``rdfxml``); None = recognised per record
    rdf_syntax: str | None = None

    @classmethod
    def from_profile(cls, section: Mapping[str, Any], **overrides: Any) -> DownloadConfig:
        allow = section.get("allow") or {}
        values: dict[str, Any] = {
            "xpath": section.get("xpath"),
            "property_path": section.get("property_path"),
            "extractor": section.get("extractor"),
            "namespaces": dict(section.get("namespaces") or {}),
            "filters": Filters.from_profile(section.get("filters")),
            "allow_hosts": tuple(allow.get("hosts") or ()),
            "allow_networks": tuple(allow.get("networks") or ()),
        }
        for name in (
            "layer",
            "concurrency",
            "per_host",
            "delay",
            "timeout",
            "max_retries",
            "backoff",
            "max_backoff",
            "max_redirects",
            "max_time",
            "user_agent",
        ):
            if section.get(name) is not None:
                values[name] = section[name]
        values.update(overrides)
        return cls(**values)
