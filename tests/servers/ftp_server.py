"""A pyftpdlib FTP server on 127.0.0.1 and a free port, serving a directory, for the FTP tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer


@dataclass(frozen=True)
class FtpSite:
    host: str
    port: int
    user: str
    password: str


@contextmanager
def ftp_server(root: Path, *, user: str = "harvester", password: str = "s3cret") -> Iterator[FtpSite]:
    authorizer = DummyAuthorizer()
    authorizer.add_user(user, password, str(root), perm="elr")
    handler = type("Handler", (FTPHandler,), {"authorizer": authorizer, "banner": "test ftpd"})
    server = FTPServer(("127.0.0.1", 0), handler)
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            server.serve_forever(timeout=0.05, blocking=False, handle_exit=False)
        server.close_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        host, port = server.socket.getsockname()[:2]
        yield FtpSite(host, port, user, password)
    finally:
        stop.set()
        thread.join(timeout=5)
