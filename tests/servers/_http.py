"""A tiny threaded HTTP server on 127.0.0.1 and a free port, for the harvester tests.

Each test server subclasses :class:`Handler` and is started with :func:`serve`, which returns
once the socket listens (no polling race: the socket is bound before the thread starts).
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, handler: type[BaseHTTPRequestHandler], state: Any) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.state = state

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def send_body(
        self,
        status: int,
        body: bytes,
        *,
        content_type: str = "text/xml; charset=utf-8",
        headers: dict[str, str] | None = None,
        gzip_ok: bool = True,
    ) -> None:
        accepts_gzip = "gzip" in (self.headers.get("Accept-Encoding") or "")
        extra = dict(headers or {})
        if extra.get("Content-Encoding") == "gzip":  # recorded as gzip: compress when the client accepts it
            del extra["Content-Encoding"]
            if gzip_ok and accepts_gzip:
                body = gzip.compress(body)
                extra["Content-Encoding"] = "gzip"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


@contextmanager
def serve(handler: type[BaseHTTPRequestHandler], state: Any = None) -> Iterator[Server]:
    server = Server(handler, state)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
