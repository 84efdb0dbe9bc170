"""Safe unpacking of harvested archives (zip, tar, tar.gz, gz), streamed, never onto disk.

Members are read one at a time through capped streams. An archive is refused as a whole when a
member name would escape the archive root (absolute path, ``..``, drive letter), when it holds
links or devices, or when a member or the total exceeds the size caps (zip bombs). Nested
archives are not opened: a member that is itself an archive is one file like any other.
"""

from __future__ import annotations

import gzip
import io
import posixpath
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from mdstore.errors import HarvestError

ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz", ".tar", ".gz")
#: largest tolerated compression ratio of one zip member (a bomb compresses far better)
MAX_RATIO = 200


class UnsafeArchive(HarvestError):
    """An archive that could escape its root, hold links, or blow past the size caps."""


@dataclass(frozen=True)
class Caps:
    max_member_bytes: int = 2 * 2**30
    max_total_bytes: int = 8 * 2**30


def archive_kind(name: str) -> str | None:
    """``zip``, ``tar``, ``gz`` or None, by the file name."""
    lower = name.lower()
    if lower.endswith(".zip"):
        return "zip"
    if lower.endswith((".tar.gz", ".tgz", ".tar")):
        return "tar"
    if lower.endswith(".gz"):
        return "gz"
    return None


def check_member_name(name: str, *, archive: str) -> str:
    """The normalised member path; raises :class:`UnsafeArchive` if it would leave the root."""
    cleaned = name.replace("\\", "/")
    normalised = posixpath.normpath(cleaned)
    if (
        cleaned.startswith("/")
        or normalised.startswith("../")
        or normalised == ".."
        or (len(cleaned) > 1 and cleaned[1] == ":")
        or "\x00" in cleaned
    ):
        raise UnsafeArchive(f"member {name!r} escapes the archive root; the archive is refused", url=archive)
    return normalised


class _Capped(io.RawIOBase):
    """A read stream that fails past ``limit`` bytes (sizes in headers are not to be trusted)."""

    def __init__(
        self, raw: IO[bytes], limit: int, what: str, archive: str, total: list[int], total_limit: int
    ) -> None:
        self._raw, self._limit, self._what, self._archive = raw, limit, what, archive
        self._total, self._total_limit = total, total_limit
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._raw.read(len(buffer))
        self.count += len(data)
        self._total[0] += len(data)
        if self.count > self._limit:
            raise UnsafeArchive(
                f"{self._what} is larger than {self._limit} bytes uncompressed", url=self._archive
            )
        if self._total[0] > self._total_limit:
            raise UnsafeArchive(
                f"the archive is larger than {self._total_limit} bytes uncompressed", url=self._archive
            )
        buffer[: len(data)] = data
        return len(data)


def members(stream: IO[bytes], name: str, caps: Caps = Caps()) -> Iterator[tuple[str, IO[bytes]]]:
    """``(member path, stream)`` of each regular file; the archive is checked before any is read."""
    kind = archive_kind(name)
    total = [0]
    if kind == "zip":
        yield from _zip_members(stream, name, caps, total)
    elif kind == "tar":
        yield from _tar_members(stream, name, caps, total)
    elif kind == "gz":
        inner = name[:-3] if name.lower().endswith(".gz") else name
        member = posixpath.basename(inner)
        yield (
            member,
            io.BufferedReader(
                _Capped(
                    gzip.GzipFile(fileobj=stream, mode="rb"),
                    caps.max_member_bytes,
                    member,
                    name,
                    total,
                    caps.max_total_bytes,
                )
            ),
        )
    else:
        raise ValueError(f"{name} is not an archive")


def _zip_members(
    stream: IO[bytes], name: str, caps: Caps, total: list[int]
) -> Iterator[tuple[str, IO[bytes]]]:
    try:
        archive = zipfile.ZipFile(stream)
    except zipfile.BadZipFile as exc:
        raise UnsafeArchive(f"not a readable zip archive: {exc}", url=name) from exc
    with archive:
        infos = [i for i in archive.infolist() if not i.is_dir()]
        for info in infos:
            check_member_name(info.filename, archive=name)
            mode = info.external_attr >> 16
            if mode and (mode & 0o170000) not in (0, 0o100000):
                raise UnsafeArchive(
                    f"member {info.filename!r} is a link or a device; the archive is refused", url=name
                )
            if info.file_size > caps.max_member_bytes:
                raise UnsafeArchive(
                    f"member {info.filename!r} declares {info.file_size} bytes, more than "
                    f"{caps.max_member_bytes}",
                    url=name,
                )
            if info.compress_size and info.file_size / info.compress_size > MAX_RATIO:
                raise UnsafeArchive(
                    f"member {info.filename!r} compresses {info.file_size / info.compress_size:.0f}"
                    f":1, a likely zip bomb",
                    url=name,
                )
        for info in infos:
            with archive.open(info) as raw:
                yield (
                    check_member_name(info.filename, archive=name),
                    io.BufferedReader(
                        _Capped(raw, caps.max_member_bytes, info.filename, name, total, caps.max_total_bytes)
                    ),
                )


def _tar_members(
    stream: IO[bytes], name: str, caps: Caps, total: list[int]
) -> Iterator[tuple[str, IO[bytes]]]:
    try:
        archive = tarfile.open(fileobj=stream, mode="r:*")  # noqa: SIM115 - closed by the with below
    except tarfile.TarError as exc:
        raise UnsafeArchive(f"not a readable tar archive: {exc}", url=name) from exc
    with archive:
        infos = archive.getmembers()
        for info in infos:
            check_member_name(info.name, archive=name)
            if not (info.isfile() or info.isdir()):
                raise UnsafeArchive(
                    f"member {info.name!r} is a link or a device; the archive is refused", url=name
                )
            if info.size > caps.max_member_bytes:
                raise UnsafeArchive(
                    f"member {info.name!r} declares {info.size} bytes, more than {caps.max_member_bytes}",
                    url=name,
                )
        for info in infos:
            if info.isfile():
                raw = archive.extractfile(info)
                if raw is not None:
                    yield (
                        check_member_name(info.name, archive=name),
                        io.BufferedReader(
                            _Capped(raw, caps.max_member_bytes, info.name, name, total, caps.max_total_bytes)
                        ),
                    )
