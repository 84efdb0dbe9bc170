"""The content-addressed file store: a downloaded file is kept once, under its sha256.

:class:`FileStore` is the small interface a backend implements; backends are chosen by the
scheme of the store URI (``file:///var/files``, ``s3://bucket/prefix``) through the
``FILE_STORES`` registry, which outside packages extend with the ``contentcloud.filestores``
entry-point group.

A file enters a store through a :class:`FileWriter`: bytes are hashed while they are written
to a temporary file, and only :meth:`FileWriter.commit` moves the complete, flushed file to its
final name. A writer that is not committed (an exception, a size cap, a killed process) leaves
nothing in the store: a half-written temporary file never has a content address.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol, runtime_checkable
from urllib.parse import parse_qs, unquote, urlsplit

from mdstore.errors import ConfigError, StoreError
from mdstore.plugins import Registry

logger = logging.getLogger(__name__)

TEMP_DIR = ".tmp"
TEMP_SUFFIX = ".part"


@dataclass(frozen=True)
class StoredFile:
    """Where a committed file lives; ``existed`` when identical bytes were stored before."""

    sha256: str
    size: int
    location: str
    existed: bool


@runtime_checkable
class FileWriter(Protocol):
    """Receives one file's bytes; see the module docstring."""

    size: int

    def write(self, chunk: bytes) -> None: ...

    def commit(self) -> StoredFile: ...


@runtime_checkable
class FileStore(Protocol):
    """A content-addressed store of files (local directory, object store…)."""

    uri: str

    @classmethod
    def from_uri(cls, uri: str) -> FileStore: ...

    def writer(self) -> Any:
        """A context manager yielding a :class:`FileWriter`, discarded unless committed."""
        ...

    def has(self, sha256: str) -> bool: ...

    def open(self, sha256: str) -> IO[bytes]: ...

    def location(self, sha256: str) -> str: ...

    def cleanup(self) -> int:
        """Remove temporary files left by writers that died; returns how many."""
        ...

    def close(self) -> None: ...


def _is_file_store(obj: Any) -> bool:
    return isinstance(obj, type) and all(
        callable(getattr(obj, name, None)) for name in ("from_uri", "writer", "has", "open")
    )


FILE_STORES: Registry[type[FileStore]] = Registry(
    "file store", group="contentcloud.filestores", check=_is_file_store
)
FILE_STORES.register("file", "harvesters.download.filestore:LocalFileStore")
FILE_STORES.register("s3", "harvesters.download.s3:S3FileStore")


def open_file_store(uri: str) -> FileStore:
    """The store for ``uri``, by its scheme (a bare path is a local directory)."""
    scheme = urlsplit(uri).scheme.lower() if "://" in uri else "file"
    return FILE_STORES.get(scheme).from_uri(uri)


def check_sha256(sha256: str) -> str:
    """Content addresses come from our own hashing, but a ledger row is data: never a path part."""
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise StoreError(f"{sha256!r} is not a sha256 hex digest")
    return sha256


def temp_name() -> str:
    """``<host>-<pid>-<random>.part``: :meth:`LocalFileStore.cleanup` knows whose it is."""
    return f"{_hostname()}-{os.getpid()}-{secrets.token_hex(8)}{TEMP_SUFFIX}"


@functools.cache
def _hostname() -> str:
    return socket.gethostname()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class LocalFileStore:
    """Files under ``root/ab/<sha256>``: 256 shard directories, created as needed.

    One level, not two: with ``ab/cd/`` nearly every new file of a young store needed a new
    directory (65,536 of them), which cost more than writing a 100 KB file; ext4 and XFS index
    large directories, so a few thousand files per shard stay cheap.

    Writes are atomic: a temporary file under ``root/.tmp`` (same file system) is fsynced, then
    linked to its address (and its temporary name dropped), so a file under an address is always
    complete, even after a power loss. The directory is not fsynced after the link (that doubled
    the cost of a small file): a link lost to a power cut only loses the file, and the service, which checks
    :meth:`has` before trusting a ledger row, downloads it again. Identical content found at
    commit is not written again.
    """

    def __init__(self, root: str | Path, *, durable: bool = True) -> None:
        self.root = Path(root)
        self.durable = durable
        self.uri = f"file://{self.root}" + ("" if durable else "?fsync=false")
        try:
            (self.root / TEMP_DIR).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"cannot create the file store directory: {exc}", field="files", file=str(self.root)
            ) from exc

    @classmethod
    def from_uri(cls, uri: str) -> LocalFileStore:
        """``file:///var/files`` or a bare path; ``?fsync=false`` trades power-loss safety for speed."""
        if "://" not in uri:
            return cls(uri)
        parts = urlsplit(uri)
        if parts.netloc not in ("", "localhost"):
            raise ConfigError(
                f"{uri!r}: a file store URI names no host (file:///path)", field="files", rule="scheme"
            )
        options = {key: values[-1].lower() for key, values in parse_qs(parts.query).items()}
        unknown = set(options) - {"fsync"}
        if unknown or options.get("fsync", "true") not in ("true", "false"):
            raise ConfigError(f"{uri!r}: the only parameter is fsync=true|false", field="files", rule="file")
        return cls(unquote(parts.path), durable=options.get("fsync", "true") == "true")

    def path(self, sha256: str) -> Path:
        check_sha256(sha256)
        return self.root / sha256[:2] / sha256

    def location(self, sha256: str) -> str:
        return str(self.path(sha256))

    def has(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def open(self, sha256: str) -> IO[bytes]:
        return self.path(sha256).open("rb")

    @contextmanager
    def writer(self) -> Iterator[LocalFileWriter]:
        writer = LocalFileWriter(self)
        try:
            yield writer
        finally:
            writer.discard()

    def cleanup(self) -> int:
        """Temporary files of this host's writers whose process is gone (a kill or a crash)."""
        host = socket.gethostname()
        removed = 0
        for temp in (self.root / TEMP_DIR).glob(f"*{TEMP_SUFFIX}"):
            owner, _, rest = temp.name.rpartition("-")[0].rpartition("-")
            if owner != host or not rest.isdigit() or _pid_alive(int(rest)):
                continue
            try:
                temp.unlink()
                removed += 1
            except FileNotFoundError:
                pass
        if removed:
            logger.info("%s: removed %d temporary files of interrupted downloads", self.root, removed)
        return removed

    def close(self) -> None:
        pass


def _link_once(source: Path, target: Path) -> bool:
    """Hard-link ``source`` to ``target`` unless it exists (creating its shard); True if linked."""
    try:
        os.link(source, target)
    except FileExistsError:
        return False
    except FileNotFoundError:  # the shard's first file
        target.parent.mkdir(exist_ok=True)
        return _link_once(source, target)
    return True


class LocalFileWriter:
    """One temporary file, hashed as it is written."""

    def __init__(self, store: LocalFileStore) -> None:
        self.store = store
        self.temp = store.root / TEMP_DIR / temp_name()
        self._file: IO[bytes] | None = self.temp.open("xb")
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        assert self._file is not None, "the writer is closed"
        self._file.write(chunk)
        self._hash.update(chunk)
        self.size += len(chunk)

    def commit(self) -> StoredFile:
        """Give the file its address; ``existed`` when those bytes were there already.

        The temporary file is hard-linked to its address, which fails when the address exists:
        an atomic check, so two writers racing with the same bytes store them once and exactly
        one of them reports a new file.
        """
        assert self._file is not None, "the writer is closed"
        sha256 = self._hash.hexdigest()
        final = self.store.path(sha256)
        if final.exists():
            self.discard()
            return StoredFile(sha256, self.size, str(final), existed=True)
        self._file.flush()
        os.fchmod(self._file.fileno(), 0o644)
        if self.store.durable:
            os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        existed = not _link_once(self.temp, final)
        self.discard()
        return StoredFile(sha256, self.size, str(final), existed=existed)

    def discard(self) -> None:
        """Drop the temporary file unless committed (idempotent)."""
        if self._file is not None:
            self._file.close()
            self._file = None
        try:
            self.temp.unlink()
        except FileNotFoundError:
            pass
