"""The contentcloud web application: one WSGI callable that dispatches by path prefix.

``create_app(settings)`` mounts the OAI-PMH publisher at ``/oai``, the search API (Solr's
``/select`` over the configured index) at ``/solr``, the curator pages at ``/curator``, and the
RDF store (:func:`rdf_routes`): the SPARQL endpoint at ``/sparql``, its VoID description at
``/.well-known/void`` and the entity URIs at ``/resource``, ``/page`` and ``/data``. Other
parts mount theirs beside them without touching this module::

    app = create_app(settings, extra_routes={"/api": other_app})
    app.mount("/api", other_app)          # or later, on the returned dispatcher

A mounted app receives the request with ``SCRIPT_NAME`` extended by its prefix and ``PATH_INFO``
holding the rest (PEP 3333 mounting), so ``/solr/<index>/select`` reaches the search app as
``PATH_INFO = "/<index>/select"`` and the app builds its own URLs from ``SCRIPT_NAME``. The
longest matching prefix wins; ``/`` lists the mounts; anything else is a plain 404.

Servers: ``contentcloud serve`` runs it under waitress; under gunicorn use the factory
``gunicorn -w 4 --threads 8 'contentcloud.web:app_from_environment()'`` (settings from the
environment, as everywhere else).
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from contentcloud.auth import Authenticator
    from contentcloud.settings import Settings
    from provision.oai import OAIConfig

logger = logging.getLogger(__name__)

WSGIApp = Callable[[dict, Callable[..., Any]], Iterable[bytes]]
SECRET_FILE = "oai_secret"  # noqa: S105 (a file name, not a secret)


class PrefixDispatcher:
    """Routes requests to the app mounted at the longest matching path prefix."""

    def __init__(self, routes: Mapping[str, WSGIApp] | None = None) -> None:
        self._routes: dict[str, WSGIApp] = {}
        for prefix, app in (routes or {}).items():
            self.mount(prefix, app)

    def mount(self, prefix: str, app: WSGIApp) -> None:
        """Serve ``app`` under ``prefix`` (``/oai``, ``/solr``…); mounting a prefix twice is an error."""
        normalized = "/" + prefix.strip("/")
        if normalized == "/":
            raise ValueError("mount apps under a named prefix, not at /")
        if normalized in self._routes:
            raise ValueError(f"{normalized} is already mounted")
        self._routes[normalized] = app

    @property
    def prefixes(self) -> list[str]:
        return sorted(self._routes)

    def __call__(self, environ: dict, start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        for prefix in sorted(self._routes, key=len, reverse=True):
            if path == prefix or path.startswith(prefix + "/"):
                inner = dict(environ)
                inner["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "").rstrip("/") + prefix
                inner["PATH_INFO"] = path[len(prefix) :]
                return self._routes[prefix](inner, start_response)
        if path == "/":
            body = ("contentcloud\n" + "".join(f"  {p}\n" for p in self.prefixes)).encode("utf-8")
            status = "200 OK"
        else:
            body, status = b"Not found.\n", "404 Not Found"
        start_response(
            status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
        )
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]


def oai_secret(settings: Settings) -> bytes:
    """The resumption-token key: the ``oai_secret`` setting, else one generated once under var/."""
    if settings.oai_secret:
        return settings.oai_secret.encode("utf-8")
    return generated_secret(Path(settings.var_dir) / SECRET_FILE, "CONTENTCLOUD_OAI_SECRET")


def generated_secret(path: Path, env_name: str) -> bytes:
    """A key generated once into ``path`` (mode 0600) and read back by every later process.

    Every worker and process must sign with the same key, so the generated key is created
    atomically (written aside, then hard-linked into place; the loser of a race reads the winner's).
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32) + "\n")
        try:
            os.link(temp, path)
            logger.info("generated the key %s", path)
        except FileExistsError:
            pass
        finally:
            temp.unlink()
    secret = path.read_text(encoding="utf-8").strip()
    if not secret:
        from mdstore.errors import ConfigError

        raise ConfigError(
            f"the key file is empty; delete it or set {env_name}",
            file=str(path),
            field=env_name.removeprefix("CONTENTCLOUD_").lower(),
            rule="non-empty",
        )
    return secret.encode("utf-8")


def oai_config(settings: Settings, **overrides: Any) -> OAIConfig:
    """The publisher's repository description from the settings (public URL, name, admins)."""
    from provision.oai import OAIConfig

    base_url = settings.public_url.rstrip("/") + "/oai" if settings.public_url else None
    emails = tuple(e.strip() for e in settings.oai_admin_email.split(",") if e.strip())
    return OAIConfig(
        repository_name=settings.oai_repository_name,
        admin_emails=emails,
        repository_identifier=settings.oai_repository_identifier,
        base_url=base_url,
        **overrides,
    )


def create_app(
    settings: Settings,
    extra_routes: Mapping[str, WSGIApp] | None = None,
    *,
    standard_routes: bool = True,
    curator: bool = True,
    authenticator: Authenticator | None = None,
    **oai_overrides: Any,
) -> PrefixDispatcher:
    """The WSGI app: the OAI-PMH publisher at ``/oai``, Solr's ``/select`` over the configured
    index at ``/solr/<index>/select`` and the curator pages at ``/curator`` (unless
    ``standard_routes`` is false; ``curator=False`` leaves out only the curator pages), plus
    ``extra_routes`` (prefix → WSGI app).

    The curator pages need a login: ``authenticator`` checks it (default: the accounts and tokens
    of the settings; with none configured nobody can log in). The publisher and the search API are
    public and read-only.

    ``oai_overrides`` adjust :class:`provision.oai.OAIConfig` (page sizes, concurrency limits).
    """
    from contentcloud.pipeline.publish import publisher_index_path
    from provision.oai import OAIApp, PublisherIndex

    index = PublisherIndex(publisher_index_path(settings))
    app = PrefixDispatcher(
        {"/oai": OAIApp(index, oai_secret(settings), oai_config(settings, **oai_overrides))}
    )
    if standard_routes:
        from contentcloud.curator.web import CuratorApp
        from contentcloud.sources.web import SourcesApp
        from provision.index.http import SelectApp, index_factory

        app.mount("/solr", SelectApp(index_factory(settings.index)))
        if curator:
            app.mount("/curator", CuratorApp(settings, authenticator))
            app.mount("/curator/sources", SourcesApp(settings, authenticator))
        for prefix, rdf_app in rdf_routes(settings).items():
            app.mount(prefix, rdf_app)
    for prefix, extra in (extra_routes or {}).items():
        app.mount(prefix, extra)
    return app


def rdf_routes(settings: Settings) -> dict[str, WSGIApp]:
    """The RDF store's apps by prefix; the store is opened on the first request."""
    from contentcloud.pipeline.rdf import open_rdf_store
    from provision.rdf.http import LazyBackend, ResourceApp, SparqlApp, VoidApp

    backend = LazyBackend(lambda: open_rdf_store(settings))
    record_links = _record_links(settings)
    return {
        "/sparql": SparqlApp(backend, timeout=settings.sparql_timeout, max_bytes=settings.sparql_max_bytes),
        "/.well-known/void": VoidApp(backend, titles=_datasource_title(settings)),
        "/resource": ResourceApp(backend, "resource", timeout=settings.sparql_timeout),
        "/page": ResourceApp(backend, "page", record_links=record_links, timeout=settings.sparql_timeout),
        "/data": ResourceApp(backend, "data", timeout=settings.sparql_timeout),
    }


def _datasource_title(settings: Settings) -> Callable[[str], str]:
    def title(datasource_id: str) -> str:
        from contentcloud.datasources import DatasourceRegistry
        from mdstore.errors import ContentcloudError

        try:
            return DatasourceRegistry(settings.registry).get(datasource_id).name or datasource_id
        except ContentcloudError:
            return datasource_id

    return title


def _record_links(settings: Settings) -> Callable[[str, str], list[tuple[str, str]]]:
    """A source record's OAI-PMH GetRecord, in the transformed format the publisher serves."""
    from urllib.parse import urlencode

    def links(datasource_id: str, record_id: str) -> list[tuple[str, str]]:
        from contentcloud.datasources import DatasourceRegistry
        from mdstore.errors import ContentcloudError

        base = settings.public_url.rstrip("/") + "/oai" if settings.public_url else "/oai"
        identifier = f"oai:{settings.oai_repository_identifier}:{record_id}"
        try:
            datasource = DatasourceRegistry(settings.registry).get(datasource_id)
            section = datasource.section("publish")
            prefix = section.get("transformed_prefix") or datasource.transformed_unit.format
        except ContentcloudError:
            prefix = None
        dc_query = urlencode({"verb": "GetRecord", "identifier": identifier, "metadataPrefix": "oai_dc"})
        found = [("OAI-PMH GetRecord (oai_dc)", f"{base}?{dc_query}")]
        if prefix:
            query = urlencode({"verb": "GetRecord", "identifier": identifier, "metadataPrefix": prefix})
            found.insert(0, (f"OAI-PMH GetRecord ({prefix})", f"{base}?{query}"))
        return found

    return links


def app_from_environment() -> PrefixDispatcher:
    """Factory for WSGI servers (gunicorn): settings from the environment."""
    from contentcloud.settings import load_settings

    return create_app(load_settings())
