"""Making files and directory entries durable: the syncers of the local file store.

A :class:`Syncer` answers two questions of :class:`~harvesters.download.filestore.LocalFileStore`:
"are these files' bytes on disk?" (before they get a content address) and "are these directory
entries on disk?" (before a file is reported stored). Two ways, chosen by
:func:`default_syncer`:

- :class:`SyncfsSyncer`: one ``syncfs(2)`` flushes the whole file system, so a batch of a hundred
  files costs one journal commit instead of a hundred. Linux only (through libc: Python has no
  ``os.syncfs``), and only from kernel 5.8, the first to report write-back errors from
  ``syncfs``; before that an I/O error would pass silently. The descriptor it syncs through is
  opened when the store opens: ``syncfs`` reports only the errors that happened since its
  descriptor was opened.
- :class:`FsyncSyncer`: ``fsync`` of each file and each directory; portable.

:class:`NoSyncer` is the explicit opt-out (``?fsync=false``). Tests inject their own syncer to
count or block the calls.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import platform
import sys
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import IO, Protocol, runtime_checkable

logger = logging.getLogger(__name__)

#: the first Linux release whose syncfs reports write-back errors (errseq on the super block)
SYNCFS_REPORTS_ERRORS = (5, 8)


@runtime_checkable
class Syncer(Protocol):
    """Makes the contents of files, or the entries of directories, durable; raises ``OSError``."""

    def sync_files(self, files: Sequence[IO[bytes]]) -> None: ...

    def sync_directories(self, directories: Collection[Path]) -> None: ...

    def close(self) -> None: ...


class FsyncSyncer:
    """``fsync`` each file and each directory: portable, one journal commit per call."""

    def sync_files(self, files: Sequence[IO[bytes]]) -> None:
        for file in files:
            os.fsync(file.fileno())

    def sync_directories(self, directories: Collection[Path]) -> None:
        for directory in directories:
            fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def close(self) -> None:
        pass


class SyncfsSyncer:
    """One ``syncfs`` of the file system holding ``root`` per call, whatever the number of files.

    It also flushes what other programs wrote to that file system, so its cost follows their
    writes too; on a file system shared with heavy writers ``?fsync=each`` may be the better
    choice.
    """

    def __init__(self, root: str | Path) -> None:
        call = _libc_syncfs()
        if call is None:
            raise OSError("syncfs is not available here")
        self._syncfs = call
        self._root = root
        self._fd: int | None = self._open()

    def _open(self) -> int:
        return os.open(self._root, os.O_RDONLY | os.O_DIRECTORY)

    def sync_files(self, files: Sequence[IO[bytes]]) -> None:
        self._sync()

    def sync_directories(self, directories: Collection[Path]) -> None:
        self._sync()

    def _sync(self) -> None:
        if self._fd is None:  # closed with its store, which is used again
            self._fd = self._open()
        if self._syncfs(self._fd) != 0:  # ctypes releases the GIL for the call
            errno = ctypes.get_errno()
            raise OSError(errno, f"syncfs: {os.strerror(errno)}")

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class NoSyncer:
    """Syncs nothing (``?fsync=false``): files reach the disk when the kernel writes them back."""

    def sync_files(self, files: Sequence[IO[bytes]]) -> None:
        pass

    def sync_directories(self, directories: Collection[Path]) -> None:
        pass

    def close(self) -> None:
        pass


def default_syncer(root: str | Path) -> Syncer:
    """A :class:`SyncfsSyncer` where syncfs exists and reports errors, else :class:`FsyncSyncer`."""
    if _libc_syncfs() is not None and _kernel_at_least(SYNCFS_REPORTS_ERRORS):
        return SyncfsSyncer(root)
    return FsyncSyncer()


@functools.cache
def _libc_syncfs():  # -> ctypes function or None
    if not sys.platform.startswith("linux"):
        return None
    try:
        call = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None
    call.argtypes = [ctypes.c_int]
    call.restype = ctypes.c_int
    return call


def _kernel_at_least(version: tuple[int, int]) -> bool:
    """``platform.release()`` like ``6.1.0-18-amd64``; an unreadable one counts as too old."""
    parts = platform.release().split(".")
    try:
        major, minor = int(parts[0]), int("".join(c for c in parts[1] if c.isdigit()) or "0")
    except (IndexError, ValueError):
        return False
    return (major, minor) >= version
