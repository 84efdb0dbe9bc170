"""RDF store backends by URI scheme: ``oxigraph:///dir`` (embedded, the default) or
``sparql+http(s)://host/dataset`` (a SPARQL 1.1 Update + Graph Store Protocol server such as Fuseki).

Built-in names are ``oxigraph`` and ``sparql``; an outside package adds one through the
``contentcloud.rdf_stores`` entry-point group (its name is also the URI scheme it serves), as the
index backends do (:mod:`provision.registry`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from mdstore.errors import ConfigError
from mdstore.plugins import Registry
from provision.rdf.base import RdfBackend

#: name → factory(uri, *, base, name=None, **options) -> RdfBackend
RDF_STORES: Registry[Callable[..., RdfBackend]] = Registry("RDF store", group="contentcloud.rdf_stores")
RDF_STORES.register("oxigraph", "provision.rdf.embedded:from_uri")
RDF_STORES.register("sparql", "provision.rdf.gsp:from_uri")

#: URI schemes served by a backend of another name
SCHEME_ALIASES = {"sparql+http": "sparql", "sparql+https": "sparql"}


def schemes() -> list[str]:
    """The URI schemes an RDF store can be opened with: each backend's name, or the schemes it
    serves under another name (``sparql`` serves ``sparql+http`` and ``sparql+https``)."""
    return RDF_STORES.schemes(SCHEME_ALIASES)


def backend_name(uri: str) -> str:
    scheme = urlsplit(uri).scheme.lower()
    if not scheme:
        raise ConfigError(
            f"{uri!r} has no scheme (oxigraph:///path or sparql+http://host:3030/<dataset>)",
            field="rdf",
            rule="scheme",
        )
    return SCHEME_ALIASES.get(scheme, scheme)


def open_rdf(uri: str, *, base: str, name: str | None = None, **options: Any) -> RdfBackend:
    """Open the RDF store at ``uri``; ``base`` is the IRI base of entities and datasource graphs."""
    return RDF_STORES.get(backend_name(uri))(uri, base=base, name=name, **options)
