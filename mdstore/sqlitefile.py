"""Checks of an SQLite file before it is opened, shared by the MDStore and the embedded index.

SQLite itself reports a damaged file late and vaguely: a truncated file opens fine and fails at the
first query that reaches a missing page ("database disk image is malformed"), and an empty file is
silently taken for a new database. These checks read the 100-byte header (no scan, whatever the
size) so that the command that opens the file can say at once which file is wrong and what to do.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from mdstore.errors import ContentcloudError, StoreError, StoreFull

MAGIC = b"SQLite format 3\x00"
#: how long an empty file may stay empty: another process may have just created it (between
#: ``sqlite3.connect`` and its first write there are microseconds of a 0-byte file)
EMPTY_GRACE = 1.0

RESTORE = "restore it from a backup, or move it away to start an empty one"

#: files this process has checked: (path, device, inode). Checked once per process, because
#: closing *any* descriptor of a file drops every POSIX lock the process holds on it, SQLite's
#: included (https://sqlite.org/howtocorrupt.html, 2.2): reading the header again while another
#: connection of this process is open (a writer's heartbeat thread, a second store on the same
#: file) let another process take the database for unused, checkpoint and reset its WAL under
#: that connection. Seen as "database disk image is malformed", "disk I/O error" and lost writes
#: when parts of one run wrote from several processes.
_CHECKED: set[tuple[str, int, int]] = set()


def check_sqlite_file(
    path: str | Path, what: str = "store", *, error: type[ContentcloudError] = StoreError
) -> None:
    """Raise ``error`` if ``path`` exists and is not a whole SQLite database: empty (0 bytes), not
    SQLite at all, or shorter than its header says (truncated). A missing file is fine (it will be
    created). ``what`` names the file's role in the message (``MDStore``, ``index``)."""
    path = Path(path)
    try:
        stat = path.stat()
    except OSError:
        stat = None
    key = (str(path.resolve()), stat.st_dev, stat.st_ino) if stat is not None and stat.st_size else None
    if key is not None and key in _CHECKED:
        return
    deadline = time.monotonic() + EMPTY_GRACE
    while True:
        try:
            size = path.stat().st_size
            with path.open("rb") as handle:
                header = handle.read(100)
        except FileNotFoundError:
            return
        except IsADirectoryError:
            raise error(f"{path}: the {what} path is a directory, not a file") from None
        except OSError as exc:
            raise error(f"{path}: cannot read the {what} file: {exc.strerror or exc}") from exc
        if size or time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    if size == 0:
        raise error(
            f"{path}: the {what} file is empty (0 bytes), so it holds no {what}: delete it to start an"
            f" empty one, or restore it from a backup"
        )
    if not header.startswith(MAGIC):
        raise error(f"{path}: not an SQLite database, so not an {what}: {RESTORE}")
    if len(header) < 100:
        raise error(f"{path}: the {what} file is truncated ({size} bytes): {RESTORE}")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    header_valid = header[24:28] == header[92:96]  # the size field is current (SQLite's own rule)
    if header_valid and pages and size < pages * page_size:
        raise error(f"{path}: the {what} file is truncated ({size} bytes of {pages * page_size}): {RESTORE}")
    if key is not None:
        _CHECKED.add(key)


def store_error(exc: sqlite3.Error, path: str | Path, what: str = "store", **where) -> StoreError:
    """The :class:`StoreError` for an SQLite failure: a full disk is resumable
    (:class:`StoreFull`), a damaged file names the file and what to do."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and code & 0xFF == sqlite3.SQLITE_FULL:
        free = _free_space(path)
        return StoreFull(
            f"the disk is full ({path}{free}): what was written up to the last checkpoint is kept",
            **where,
        )
    if code is not None and code & 0xFF in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return StoreError(f"{path}: the {what} file is damaged ({exc}): {RESTORE}", **where)
    name = getattr(exc, "sqlite_errorname", None)
    if code is not None and code & 0xFF == sqlite3.SQLITE_IOERR and name:
        # "disk I/O error" alone does not say which call failed (a read, the -shm file's map or
        # size, a lock, fsync); SQLite's extended code does (SQLITE_IOERR_SHMMAP, _SHORT_READ…)
        return StoreError(f"{path}: {exc} ({name})", **where)
    return StoreError(f"{path}: {exc}", **where)


def _free_space(path: str | Path) -> str:
    try:
        stats = os.statvfs(Path(path).parent)
    except OSError:
        return ""
    return f", {stats.f_bavail * stats.f_frsize // 1024} KiB free"
