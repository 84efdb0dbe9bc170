"""Solr's ``/select`` over HTTP for any index backend: a WSGI app portals can talk to as to Solr.

Mount it so that requests reach it as ``/solr/<index>/select`` (``SelectApp`` also accepts
``/<index>/select`` when the server strips the ``/solr`` prefix before calling it). GET with a
query string, or POST with ``application/x-www-form-urlencoded`` parameters, as Solr takes them.
Answers are Solr's JSON; errors are Solr's error JSON with the HTTP status (400 bad request, 404
unknown index, 503 backend unavailable).

What this module must not do: know the application's settings or routing; the caller passes a
backend factory (``index_factory(uri)`` builds the usual one).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from mdstore.errors import ConfigError, IndexBackendError
from provision.index.base import BadRequest, IndexBackend, IndexNotFound
from provision.index.select import error_response

logger = logging.getLogger(__name__)

#: the largest form body a POST may carry
MAX_BODY = 1 << 20
_STATUS_TEXT = {
    200: "200 OK",
    400: "400 Bad Request",
    404: "404 Not Found",
    405: "405 Method Not Allowed",
    413: "413 Payload Too Large",
    500: "500 Internal Server Error",
    503: "503 Service Unavailable",
}

BackendFactory = Callable[[str], IndexBackend]


def index_factory(uri: str) -> BackendFactory:
    """Backends by index name for the configured index URI. A read never creates an embedded index:
    an unknown name is a 404, as an unknown core is in Solr."""
    scheme = urlsplit(uri).scheme.lower()
    if scheme == "sqlite":
        from provision.index.sqlite import from_uri as sqlite_from_uri

        return lambda name: sqlite_from_uri(uri, name=name, create=False)
    from provision.registry import open_index

    return lambda name: open_index(uri, name=name)


class SelectApp:
    """WSGI callable serving ``[/solr]/<index>/select`` from ``backend_factory(index)``."""

    def __init__(self, backend_factory: BackendFactory, *, prefix: str = "/solr") -> None:
        self.backend_factory = backend_factory
        self.prefix = prefix.rstrip("/")
        self._backends: dict[str, IndexBackend] = {}
        self._lock = threading.Lock()

    def backend(self, name: str) -> IndexBackend:
        with self._lock:
            backend = self._backends.get(name)
        if backend is None:
            backend = self.backend_factory(name)
            with self._lock:
                backend = self._backends.setdefault(name, backend)
        return backend

    def close(self) -> None:
        with self._lock:
            backends, self._backends = list(self._backends.values()), {}
        for backend in backends:
            backend.close()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        if self.prefix and path.startswith(self.prefix + "/"):
            path = path[len(self.prefix) :]
        parts = [p for p in path.split("/") if p]
        if len(parts) != 2 or parts[1] != "select":
            return self._reply(
                start_response,
                404,
                error_response(404, f"no such endpoint: {path} (expected /solr/<index>/select)"),
            )
        method = environ.get("REQUEST_METHOD", "GET").upper()
        if method not in ("GET", "POST"):
            return self._reply(
                start_response, 405, error_response(405, f"{method} is not allowed (GET or POST)")
            )
        try:
            params = self._params(environ, method)
        except BadRequest as exc:
            return self._reply(start_response, exc.status, error_response(exc.status, exc.message))
        try:
            backend = self.backend(parts[0])
            answer = backend.select(params)
        except BadRequest as exc:
            return self._reply(start_response, 400, error_response(400, exc.message, params=params))
        except (IndexNotFound, ConfigError) as exc:
            message = exc.message if isinstance(exc, IndexNotFound) else f"no such index: {parts[0]}"
            return self._reply(start_response, 404, error_response(404, message, params=params))
        except IndexBackendError as exc:
            logger.warning("select on %s failed: %s", parts[0], exc)
            return self._reply(start_response, 503, error_response(503, exc.message, params=params))
        indent = any(k == "indent" and v.lower() in ("true", "on", "yes") for k, v in params)
        return self._reply(start_response, 200, answer, indent=indent)

    @staticmethod
    def _params(environ: dict[str, Any], method: str) -> list[tuple[str, str]]:
        params = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        if method == "POST":
            content_type = (environ.get("CONTENT_TYPE") or "").split(";")[0].strip().lower()
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > MAX_BODY:
                raise BadRequest(f"the request body is larger than {MAX_BODY} bytes")
            body = environ["wsgi.input"].read(length) if length > 0 else b""
            if body and content_type == "application/json":  # the JSON request API, as Solr takes it
                params.append(("json", body.decode("utf-8", "replace")))
                return params
            if body and content_type not in ("application/x-www-form-urlencoded", ""):
                raise BadRequest(
                    "POST bodies must be application/x-www-form-urlencoded or application/json, "
                    f"not {content_type}"
                )
            params += parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        return params

    @staticmethod
    def _reply(
        start_response: Callable[..., Any], status: int, body: dict[str, Any], *, indent: bool = False
    ) -> list[bytes]:
        data = json.dumps(body, ensure_ascii=False, indent=2 if indent else None).encode("utf-8")
        start_response(
            _STATUS_TEXT.get(status, f"{status} Error"),
            [("Content-Type", "application/json; charset=utf-8"), ("Content-Length", str(len(data)))],
        )
        return [data]
