"""A local file server whose routes a test scripts, for the download tests.

Each path maps to a :class:`FileRoute`: a body (bytes, or a generator for huge streams), its
type, validators (ETag / Last-Modified, answered with 304 to matching conditional requests), a
redirect, a delay before the answer and a script of answers served first (``[(500, {}, b"")]``
then the file). Every request is logged with its headers, so a test can assert what was asked
(or that nothing was).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from tests.servers._http import Handler, Server, serve


@dataclass
class FileRoute:
    body: bytes | Callable[[], Iterator[bytes]] = b""
    content_type: str = "application/octet-stream"
    etag: str | None = None
    last_modified: str | None = None
    redirect: str | None = None
    redirect_status: int = 302
    delay: float = 0.0
    #: with a generator body: the Content-Length to announce (None: chunked transfer)
    length: int | None = None
    #: answers served before the normal one: (status, headers, body)
    script: list[tuple[int, dict[str, str], bytes]] = field(default_factory=list)
    #: with a script entry: sleep this long before it (a slow first answer)
    script_delay: float = 0.0
    #: trickle mode: seconds between single bytes of the body (0: send at once)
    trickle: float = 0.0
    #: with ``trickle``: the status line and headers trickle too (a server stuck before its answer)
    trickle_headers: bool = False


class FileServerState:
    def __init__(self, routes: dict[str, FileRoute]) -> None:
        self.routes = routes
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.lock = threading.Lock()

    def count(self, path: str) -> int:
        with self.lock:
            return sum(1 for p, _ in self.requests if p == path)

    def headers_of(self, path: str) -> list[dict[str, str]]:
        with self.lock:
            return [h for p, h in self.requests if p == path]


class FileHandler(Handler):
    server: Server

    def do_GET(self) -> None:
        state: FileServerState = self.server.state
        path = self.path.split("?", 1)[0]
        headers = {k.lower(): v for k, v in self.headers.items()}
        with state.lock:
            state.requests.append((path, headers))
            route = state.routes.get(path)
            scripted = route.script.pop(0) if route is not None and route.script else None
        if route is None:
            self.send_body(404, b"not found", content_type="text/plain")
            return
        if scripted is not None:
            if route.script_delay:
                time.sleep(route.script_delay)
            status, extra, body = scripted
            self.send_body(status, body, content_type="text/plain", headers=extra)
            return
        if route.delay:
            time.sleep(route.delay)
        if route.redirect is not None:
            self.send_body(
                route.redirect_status, b"", content_type="text/plain", headers={"Location": route.redirect}
            )
            return
        validators = {}
        if route.etag:
            validators["ETag"] = route.etag
        if route.last_modified:
            validators["Last-Modified"] = route.last_modified
        if (route.etag and headers.get("if-none-match") == route.etag) or (
            route.last_modified and not route.etag and headers.get("if-modified-since") == route.last_modified
        ):
            self.send_response(304)
            for name, value in validators.items():
                self.send_header(name, value)
            self.end_headers()
            return
        if route.trickle:
            self._trickle(route)
            return
        if isinstance(route.body, bytes):
            self.send_body(
                200, route.body, content_type=route.content_type, headers=validators, gzip_ok=False
            )
            return
        self._stream(route, validators)

    def _stream(self, route: FileRoute, validators: dict[str, str]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", route.content_type)
        for name, value in validators.items():
            self.send_header(name, value)
        if route.length is not None:
            self.send_header("Content-Length", str(route.length))
        else:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for chunk in route.body():  # type: ignore[operator]
                if route.length is not None:
                    self.wfile.write(chunk)
                else:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            if route.length is None:
                self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _trickle(self, route: FileRoute) -> None:
        """One byte every ``route.trickle`` seconds (of the headers too with ``trickle_headers``)."""
        body = route.body if isinstance(route.body, bytes) else b"".join(route.body())  # type: ignore[operator]
        head = (
            f"HTTP/1.1 200 OK\r\nContent-Type: {route.content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        self.close_connection = True
        try:
            if not route.trickle_headers:
                self.wfile.write(head)
                self.wfile.flush()
                head = b""
            data = head + body
            for i in range(len(data)):
                self.wfile.write(data[i : i + 1])
                self.wfile.flush()
                time.sleep(route.trickle)
        except (BrokenPipeError, ConnectionResetError):
            pass


def file_server(routes: dict[str, FileRoute]):
    """``with file_server({...}) as server:`` — ``server.url``, ``server.state.requests``."""
    return serve(FileHandler, FileServerState(routes))
