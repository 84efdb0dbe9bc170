"""Wall-clock deadlines enforced at the socket, for transfers a trickling server could hold forever.

A read timeout bounds one ``recv``; a server that sends one byte a second never trips it, and a
check between 64 KiB chunks never runs because the chunk never fills. Here the deadline lives in
the socket: :func:`deadline` sets it for the calling thread, and every connection made through a
:class:`DeadlineAdapter` wraps its socket (after the TLS handshake) in :class:`DeadlineSocket`,
whose every ``recv``/``send`` first checks the deadline and sets the socket timeout to what is
left of it. So the request, the headers and the body together end by the deadline, within one
``recv`` of slack, whatever the server's pace. Connections are pooled across requests: the socket
reads the deadline of the thread using it at the time of each call.
"""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_local = threading.local()


class DeadlineExceeded(TimeoutError):
    """The thread's deadline passed during a socket call (a ``socket.timeout`` for every layer)."""


@contextmanager
def deadline(seconds: float | None) -> Iterator[None]:
    """Run the block under a deadline ``seconds`` from now (None: no deadline); nesting keeps the
    earlier of the two."""
    previous = getattr(_local, "deadline", None)
    previous_budget = getattr(_local, "budget", None)
    if seconds is not None:
        mine = time.monotonic() + seconds
        if previous is None or mine < previous:
            _local.deadline, _local.budget = mine, seconds
    try:
        yield
    finally:
        _local.deadline, _local.budget = previous, previous_budget


def budget() -> float | None:
    """The seconds the thread's current deadline allowed when it was set (for messages)."""
    return getattr(_local, "budget", None)


def remaining() -> float | None:
    """Seconds left before the thread's deadline (negative once passed), or None without one."""
    due = getattr(_local, "deadline", None)
    return None if due is None else due - time.monotonic()


def expired() -> bool:
    left = remaining()
    return left is not None and left <= 0


class DeadlineSocket:
    """A socket (plain or TLS) whose calls obey the calling thread's deadline; see the module."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._timeout = sock.gettimeout()
        self._applied = self._timeout  #: the timeout the socket has now

    def _arm(self) -> None:
        left = remaining()
        if left is None:
            if self._applied != self._timeout:  # settimeout is a syscall or two: only on change
                self._sock.settimeout(self._timeout)
                self._applied = self._timeout
            return
        if left <= 0:
            raise DeadlineExceeded("the transfer deadline passed")
        self._applied = left if self._timeout is None else min(self._timeout, left)
        self._sock.settimeout(self._applied)

    def _call(self, method: Any, *args: Any) -> Any:
        self._arm()
        try:
            return method(*args)
        except TimeoutError as exc:
            if expired():
                raise DeadlineExceeded("the transfer deadline passed") from exc
            raise

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        return self._call(self._sock.recv_into, buffer, nbytes, flags)

    def recv(self, size: int, flags: int = 0) -> bytes:
        return self._call(self._sock.recv, size, flags)

    def read(self, size: int = 1024, buffer: Any = None) -> Any:  # ssl.SSLSocket's API
        return self._call(self._sock.read, size, *(() if buffer is None else (buffer,)))

    def send(self, data: Any, flags: int = 0) -> int:
        return self._call(self._sock.send, data, flags)

    def sendall(self, data: Any, flags: int = 0) -> None:
        view = memoryview(data).cast("B")
        while view:  # piecewise, so a stalled reader cannot hold a large send past the deadline
            sent = self._call(self._sock.send, view[: 1 << 16], flags)
            view = view[sent:]

    def settimeout(self, value: float | None) -> None:
        self._timeout = self._applied = value
        self._sock.settimeout(value)

    def gettimeout(self) -> float | None:
        return self._timeout

    def makefile(self, mode: str = "r", buffering: int | None = None, **_: Any) -> io.BufferedIOBase:
        """Binary reading only (all http.client asks for); the reads come back through here."""
        if mode not in ("rb", "br"):
            raise ValueError(f"DeadlineSocket.makefile: unsupported mode {mode!r}")
        raw = socket.SocketIO(self, "rb")  # type: ignore[arg-type]
        self._sock._io_refs += 1  # as socket.makefile does: close() waits for the file
        return io.BufferedReader(raw, buffering if buffering and buffering > 0 else io.DEFAULT_BUFFER_SIZE)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class _DeadlineConnectionMixin:
    """Wrap the connected (and, for https, TLS-wrapped) socket in a :class:`DeadlineSocket`."""

    def connect(self) -> None:
        with _connect_bounded(self):
            super().connect()  # type: ignore[misc]
        self.sock = DeadlineSocket(self.sock)  # type: ignore[attr-defined]


@contextmanager
def _connect_bounded(connection: Any) -> Iterator[None]:
    """Connecting and the TLS handshake use at most what is left of the deadline."""
    left = remaining()
    saved = connection.timeout
    if left is not None:
        if left <= 0:
            raise DeadlineExceeded("the transfer deadline passed")
        connection.timeout = left if not isinstance(saved, int | float) else min(saved, left)
    try:
        yield
    finally:
        connection.timeout = saved


def connection_classes(*mixins: type) -> dict[str, type]:
    """Pool classes for ``http``/``https`` whose connections have ``mixins`` and the deadline."""
    plain = type("DeadlineHTTPConnection", (*mixins, _DeadlineConnectionMixin, HTTPConnection), {})
    tls = type("DeadlineHTTPSConnection", (*mixins, _DeadlineConnectionMixin, HTTPSConnection), {})
    return {
        "http": type("DeadlineHTTPConnectionPool", (HTTPConnectionPool,), {"ConnectionCls": plain}),
        "https": type("DeadlineHTTPSConnectionPool", (HTTPSConnectionPool,), {"ConnectionCls": tls}),
    }


class DeadlineAdapter(HTTPAdapter):
    """A requests adapter whose connections obey :func:`deadline` (mounted by the transport)."""

    pool_classes: dict[str, type] = connection_classes()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = self.pool_classes
