"""A pyftpdlib FTP (or FTPS) server on 127.0.0.1 and a free port, serving a directory, for the FTP tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer

if TYPE_CHECKING:
    from tests.servers.tls import TestCertificates


@dataclass(frozen=True)
class FtpSite:
    host: str
    port: int
    user: str
    password: str


@contextmanager
def ftp_server(
    root: Path,
    *,
    user: str = "harvester",
    password: str = "s3cret",
    tls: TestCertificates | None = None,
    trickle: int = 0,
    trickle_files: tuple[str, ...] = (),
) -> Iterator[FtpSite]:
    """With ``tls``: FTPS (AUTH TLS) required on the control and the data connections. With
    ``trickle``: downloaded files (those whose names end with one of ``trickle_files``, if
    given) are sent at that many bytes per second (a trickling server); listings are not."""
    authorizer = DummyAuthorizer()
    authorizer.add_user(user, password, str(root), perm="elr")
    attributes: dict[str, object] = {"authorizer": authorizer, "banner": "test ftpd"}
    base: type[FTPHandler] = FTPHandler
    if tls is not None:
        from pyftpdlib.handlers import TLS_FTPHandler  # needs pyOpenSSL

        base = TLS_FTPHandler
        attributes.update(
            certfile=str(tls.cert_file),
            keyfile=str(tls.key_file),
            tls_control_required=True,
            tls_data_required=True,
        )
    if trickle:
        from pyftpdlib.handlers import DTPHandler, ThrottledDTPHandler

        def send(self, data):  # noqa: ANN001, ANN202 - pyftpdlib's signature
            name = str(getattr(self.file_obj, "name", ""))
            if self.cmd == "RETR" and (not trickle_files or name.endswith(trickle_files)):
                return ThrottledDTPHandler.send(self, data)
            return DTPHandler.send(self, data)

        attributes["dtp_handler"] = type(
            "Trickle", (ThrottledDTPHandler,), {"write_limit": trickle, "send": send}
        )
    handler = type("Handler", (base,), attributes)
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
