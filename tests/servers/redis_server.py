"""A real Redis (``redis-server`` from the system packages) on a free 127.0.0.1 port, for the
CeleryExecutor test's broker.

Nothing is persisted (no RDB snapshots, no append-only file) and the server runs in a directory of
its own, so a test session leaves nothing behind; ``scripts/install-test-deps`` installs it.
Started by the test, stopped with SIGTERM (SIGKILL after 10 s).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.servers import MissingToolError, ServerError

STARTUP_TIMEOUT = 20.0


@dataclass
class RedisServer:
    port: int
    process: subprocess.Popen

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self, *words: str) -> bytes:
        """One command in the inline protocol; the first line of the answer (``+PONG``)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall(" ".join(words).encode() + b"\r\n")
            return sock.makefile("rb").readline().rstrip(b"\r\n")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def redis_server(directory: Path) -> Iterator[RedisServer]:
    """A running ``redis-server`` bound to 127.0.0.1 only, its log in ``directory/redis.log``."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise MissingToolError("redis-server is not installed (scripts/install-test-deps installs it)")
    directory.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory)]
    args += ["--save", "", "--appendonly", "no", "--logfile", str(directory / "redis.log")]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = RedisServer(port, process)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if process.poll() is not None:
                log = (directory / "redis.log").read_text(errors="replace")[-2000:]
                raise ServerError(f"redis-server exited with {process.returncode}:\n{log}")
            try:
                if server.command("PING") == b"+PONG":
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise ServerError(f"redis-server did not answer PING on port {port} in {STARTUP_TIMEOUT:g} s")
            time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
