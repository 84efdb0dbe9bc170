"""A local HTTP server whose routes a test scripts: path → function(query, headers) → response.

with http_api({"/items": lambda q, h: (200, "application/json", b"[]", {})}) as server: ...
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

from tests.servers._http import Handler, serve

Route = Callable[[dict[str, str], dict[str, str]], tuple[int, str, bytes, dict[str, str]]]


class ApiState:
    def __init__(self, routes: dict[str, Route]) -> None:
        self.routes = routes
        self.requests: list[tuple[str, dict[str, str], dict[str, str]]] = []


class ApiHandler(Handler):
    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.server.state.requests.append((parts.path, query, headers))
        route = self.server.state.routes.get(parts.path)
        if route is None:
            self.send_body(404, b"not found", content_type="text/plain")
            return
        status, content_type, body, extra = route(query, headers)
        self.send_body(status, body, content_type=content_type, headers=extra)


def http_api(routes: dict[str, Route]):
    return serve(ApiHandler, ApiState(routes))
