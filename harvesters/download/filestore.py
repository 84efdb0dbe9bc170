"""The content-addressed file store: a downloaded file is kept once, under its sha256.

:class:`FileStore` is the small interface a backend implements; backends are chosen by the
scheme of the store URI (``file:///var/files``, ``s3://bucket/prefix``) through the
``FILE_STORES`` registry, which outside packages extend with the ``contentcloud.filestores``
entry-point group.

A file enters a store through a :class:`FileWriter`: bytes are hashed while they are written
to a temporary file, and only :meth:`FileWriter.commit` moves the complete, flushed file to its
final name. A writer that is not committed (an exception, a size cap, a killed process) leaves
nothing in the store: a half-written temporary file never has a content address. When
``commit`` returns, the file is durable (unless the store was opened without syncing): a caller
may record it as stored.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import secrets
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal, Protocol, runtime_checkable
from urllib.parse import parse_qs, unquote, urlsplit

from harvesters.download.groupcommit import GroupCommit, Then
from harvesters.download.sync import FsyncSyncer, NoSyncer, Syncer, default_syncer
from mdstore.errors import ConfigError, StoreError
from mdstore.plugins import Registry

logger = logging.getLogger(__name__)

TEMP_DIR = ".tmp"
TEMP_SUFFIX = ".part"
HEX_DIGITS = frozenset("0123456789abcdef")

#: how a local store makes files durable: see :class:`LocalFileStore`
FsyncMode = Literal["group", "each", "none"]
#: the ``fsync`` parameter of a ``file://`` URI → mode (``true`` was the durable default before
#: group commit existed, and still means the durable default)
FSYNC_PARAMETER: dict[str, FsyncMode] = {"group": "group", "true": "group", "each": "each", "false": "none"}
#: the most files one group commit takes (more wait for the next)
MAX_BATCH = 256
#: how long a group commit waits for more files when its batch is not full (seconds)
LINGER = 0.02
QUIET = 0.005


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


def commit_later(writer: Any, then: Then) -> None:
    """Commit ``writer`` and give ``then`` the outcome: a :class:`StoredFile`, or the exception.

    A writer that can hand its file over (``commit_later``, as the local store's writers in
    ``fsync=group`` mode) calls ``then`` later from its store's committer thread; any other
    writer is committed now, in this thread. Either way ``then`` is called exactly once, unless
    this function raises (the file could not even be handed over).
    """
    hand_over = getattr(writer, "commit_later", None)
    if hand_over is not None:
        hand_over(then)
        return
    try:
        stored = writer.commit()
    except Exception as exc:
        then(exc)
        return
    then(stored)


def check_sha256(sha256: str) -> str:
    """Content addresses come from our own hashing, but a ledger row is data: never a path part."""
    if len(sha256) != 64 or not HEX_DIGITS.issuperset(sha256):
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

    A file is written to a temporary file under ``root/.tmp`` (same file system), hashed as it
    goes. Its commit follows one order, whatever the mode: (1) the temporary file's bytes are made
    durable, (2) it is hard-linked to its address, (3) the shard directory's entry is made durable,
    (4) only then does :meth:`LocalFileWriter.commit` return. So a file under an address is always
    complete, even after a power cut, and a caller that records "stored" after the commit never
    records a file that a power cut could take away. A crash before (2) leaves only temporary files,
    which :meth:`cleanup` removes; a crash between (2) and (4) leaves a complete file at its
    address, which the caller has not recorded and fetches again.

    The link fails when the address exists: an atomic check, so identical bytes are stored once
    even when two writers race, and exactly one of them reports a new file.

    ``fsync`` chooses how (1) and (3) are done:

    - ``group`` (the default): writers hand their files to a :class:`GroupCommit`; one sync of the
      pending files, their links, one sync of the directories, for the whole batch. fsyncs of
      small files top out at a few hundred a second on a busy disk; a batch costs about as much
      as one of them.
    - ``each``: every writer syncs its own file and directory (fsync), as durable but slower.
    - ``none`` (``?fsync=false``): no sync; faster, but a power cut may leave a torn or empty file
      under an address, or lose files recorded as stored.
    """

    def __init__(
        self,
        root: str | Path,
        *,
        fsync: FsyncMode = "group",
        syncer: Syncer | None = None,
        max_batch: int = MAX_BATCH,
        linger: float | None = None,
    ) -> None:
        if fsync not in ("group", "each", "none"):
            raise ConfigError(f"unknown fsync mode {fsync!r} (group, each, none)", field="files", rule="file")
        self.root = Path(root)
        self.fsync: FsyncMode = fsync
        self.uri = f"file://{self.root}" + {"group": "", "each": "?fsync=each", "none": "?fsync=false"}[fsync]
        try:
            (self.root / TEMP_DIR).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"cannot create the file store directory: {exc}", field="files", file=str(self.root)
            ) from exc
        self.syncer = syncer or _syncer_for(fsync, self.root)
        #: shard directories whose entry in the root this store has synced
        self._synced_shards: set[Path] = set()
        self._shards_lock = threading.Lock()
        self._batches: GroupCommit[PendingFile, StoredFile] = GroupCommit(
            self._commit_batch,
            name=f"file store {self.root}",
            max_batch=max_batch,
            linger=LINGER if linger is None else linger,
            quiet=QUIET or None,
        )

    @property
    def durable(self) -> bool:
        """Whether a committed file survives a power cut."""
        return self.fsync != "none"

    @property
    def quick_commits(self) -> bool:
        """Whether a writer's thread is free at once after :func:`commit_later`: a group commit
        runs in the background, and without fsync there is nothing to wait for."""
        return self.fsync != "each"

    @classmethod
    def from_uri(cls, uri: str) -> LocalFileStore:
        """``file:///var/files`` or a bare path; ``?fsync=each|false`` (see the class docstring)."""
        if "://" not in uri:
            return cls(uri)
        parts = urlsplit(uri)
        if parts.netloc not in ("", "localhost"):
            raise ConfigError(
                f"{uri!r}: a file store URI names no host (file:///path)", field="files", rule="scheme"
            )
        options = {key: values[-1].lower() for key, values in parse_qs(parts.query).items()}
        unknown = set(options) - {"fsync"}
        mode = FSYNC_PARAMETER.get(options.get("fsync", "group"))
        if unknown or mode is None:
            raise ConfigError(
                f"{uri!r}: the only parameter is fsync=group|each|false", field="files", rule="file"
            )
        return cls(unquote(parts.path), fsync=mode)

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
        """Commit the files handed over, then release the syncer."""
        self._batches.close()
        self.syncer.close()

    def commit(self, pending: PendingFile) -> StoredFile:
        """Give a written file its address, durably (see the class docstring); called by writers."""
        if self.fsync == "group":
            return self._batches.submit(pending)
        outcome = self._commit_batch([pending])[0]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def commit_later(self, pending: PendingFile, then: Then) -> None:
        """Like :meth:`commit`, but ``then`` gets the outcome (a ``StoredFile`` or the exception):
        from the committer thread with ``fsync=group``, before returning otherwise."""
        if self.fsync == "group":
            self._batches.submit_later(pending, then)
            return
        try:
            outcome: StoredFile | Exception = self.commit(pending)
        except StoreError as exc:
            outcome = exc
        then(outcome)

    def _commit_batch(self, batch: list[PendingFile]) -> list[StoredFile | StoreError]:
        """Steps (1) to (3) of the class docstring for a batch; one outcome per file, in order.

        Bytes already at their address need no sync of their own, but their directory entry is
        synced all the same: another process may have linked them a moment ago and not synced yet.
        Likewise the root, whose entry for a shard may be as young, is synced the first time this
        store commits into each shard.
        """
        fresh = [not p.final.exists() for p in batch]
        if any(fresh):
            try:
                self.syncer.sync_files([p.file for p, new in zip(batch, fresh, strict=True) if new])
            except OSError as exc:
                raise StoreError(f"{self.root}: cannot make the downloaded files durable: {exc}") from exc
        outcomes: list[StoredFile | StoreError] = []
        shards: set[Path] = set()
        for pending, new in zip(batch, fresh, strict=True):
            shards.add(pending.final.parent)
            if not new:
                outcomes.append(pending.stored(existed=True))
                continue
            try:
                linked = _link_once(pending.temp, pending.final)
            except OSError as exc:
                outcomes.append(StoreError(f"{pending.final}: cannot store the file: {exc}"))
                continue
            outcomes.append(pending.stored(existed=not linked))
        with self._shards_lock:  # writers commit concurrently with fsync=each
            young = shards - self._synced_shards
        try:
            self.syncer.sync_directories(shards | {self.root} if young else shards)
        except OSError as exc:
            raise StoreError(f"{self.root}: cannot make the stored files' names durable: {exc}") from exc
        with self._shards_lock:
            self._synced_shards |= young
        return outcomes


def _syncer_for(mode: FsyncMode, root: Path) -> Syncer:
    if mode == "group":
        return default_syncer(root)
    return FsyncSyncer() if mode == "each" else NoSyncer()


@dataclass(frozen=True, eq=False)
class PendingFile:
    """A written, flushed temporary file and the address its bytes call for."""

    file: IO[bytes]
    temp: Path
    final: Path
    sha256: str
    size: int

    def stored(self, *, existed: bool) -> StoredFile:
        return StoredFile(self.sha256, self.size, str(self.final), existed=existed)


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
        if self._file is None:
            raise ValueError("the writer is closed")
        self._file.write(chunk)
        self._hash.update(chunk)
        self.size += len(chunk)

    def commit(self) -> StoredFile:
        """Give the file its address, durably; ``existed`` when those bytes were there already."""
        pending = self._pending()
        try:
            return self.store.commit(pending)
        finally:
            self.discard()  # the temporary name goes once the address (if any) is durable

    def commit_later(self, then: Then) -> None:
        """:meth:`commit` without waiting for it: ``then`` gets the outcome (see
        :meth:`LocalFileStore.commit_later`), after the writer is discarded."""
        pending = self._pending()

        def discard_then(outcome: StoredFile | Exception) -> None:
            self.discard()
            then(outcome)

        self.store.commit_later(pending, discard_then)

    def _pending(self) -> PendingFile:
        if self._file is None:
            raise ValueError("the writer is closed")
        sha256 = self._hash.hexdigest()
        self._file.flush()
        os.fchmod(self._file.fileno(), 0o644)
        return PendingFile(self._file, self.temp, self.store.path(sha256), sha256, self.size)

    def discard(self) -> None:
        """Close and drop the temporary file (idempotent): after a commit only its name goes."""
        if self._file is None:
            return
        self._file.close()
        self._file = None
        try:
            self.temp.unlink()
        except FileNotFoundError:
            pass
