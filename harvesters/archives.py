"""Safe unpacking of harvested archives (zip, tar with or without gzip/bzip2/xz, gz, bz2, xz),
streamed, never onto disk.

Members are read one at a time through capped streams. An archive is refused as a whole when a
member name would escape the archive root (absolute path, ``..``, drive letter), when it holds
links or devices, or when a member or the total exceeds the size caps. Every decompression is
streamed through a ratio check (:class:`_RatioGuard`): once more than ``RATIO_FLOOR`` bytes have
come out, more than ``MAX_RATIO`` bytes out per compressed byte in refuses the stream at once, so
a 2 MB ``.gz`` of 2 GiB of spaces is refused after a few MB, in constant memory, whatever its
headers claim. Nested archives are not opened: a member that is itself an archive is one file like
any other.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import posixpath
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO

from mdstore.errors import HarvestError

ARCHIVE_SUFFIXES = (
    ".zip",
    ".tar.gz",
    ".tgz",
    ".tar.bz2",
    ".tbz2",
    ".tbz",
    ".tar.xz",
    ".txz",
    ".tar",
    ".gz",
    ".bz2",
    ".xz",
)
#: largest tolerated compression ratio (output bytes per input byte); XML rarely passes 20:1,
#: a bomb compresses far better (deflate reaches 1032:1, bzip2 and xz much more)
MAX_RATIO = 200
#: output below which the ratio is not checked (tiny, very regular files compress well too)
RATIO_FLOOR = 1 << 20
#: single-file compressions: suffix -> opener of the decompressed stream
_COMPRESSIONS: dict[str, Callable[[IO[bytes]], IO[bytes]]] = {
    ".gz": lambda raw: gzip.GzipFile(fileobj=raw, mode="rb"),
    ".bz2": lambda raw: bz2.BZ2File(raw, mode="rb"),
    ".xz": lambda raw: lzma.LZMAFile(raw, mode="rb"),  # noqa: SIM115 - returned open
}
#: tar compressions by magic number
_MAGIC = ((b"\x1f\x8b", ".gz"), (b"BZh", ".bz2"), (b"\xfd7zXZ\x00", ".xz"))


class UnsafeArchive(HarvestError):
    """An archive that could escape its root, hold links, or blow past the size caps."""


@dataclass(frozen=True)
class Caps:
    max_member_bytes: int = 2 * 2**30
    max_total_bytes: int = 8 * 2**30


def archive_kind(name: str) -> str | None:
    """``zip``, ``tar`` (plain or compressed), ``gz``, ``bz2``, ``xz`` or None, by the file name."""
    lower = name.lower()
    if lower.endswith(".zip"):
        return "zip"
    if lower.endswith((".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tbz", ".tar.xz", ".txz", ".tar")):
        return "tar"
    for suffix in _COMPRESSIONS:
        if lower.endswith(suffix):
            return suffix[1:]
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


class _Counting(io.RawIOBase):
    """The compressed input, counting the bytes the decompressor takes (the ratio's denominator)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._raw.read(len(buffer))
        buffer[: len(data)] = data
        self.count += len(data)
        return len(data)


class _RatioGuard(io.RawIOBase):
    """A decompressed stream that fails as soon as it expands more than ``MAX_RATIO`` to one.

    ``compressed`` gives the input taken so far (a :class:`_Counting`'s count, or a zip member's
    compressed size). Reads are bounded by the caller's buffer, and the stdlib decompressors
    produce at most what is asked, so nothing is buffered beyond one read.
    """

    def __init__(self, raw: IO[bytes], compressed: Callable[[], int], what: str, archive: str) -> None:
        self._raw, self._compressed, self._what, self._archive = raw, compressed, what, archive
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        try:
            data = self._raw.read(len(buffer))
        except (OSError, EOFError, lzma.LZMAError, zipfile.BadZipFile) as exc:
            raise UnsafeArchive(f"{self._what}: corrupt compressed data: {exc}", url=self._archive) from exc
        self.count += len(data)
        taken = max(1, self._compressed())
        if self.count > RATIO_FLOOR and self.count > MAX_RATIO * taken:
            raise UnsafeArchive(
                f"{self._what} expands more than {MAX_RATIO}:1 ({self.count} bytes from {taken} "
                f"compressed), a likely decompression bomb; refused",
                url=self._archive,
            )
        buffer[: len(data)] = data
        return len(data)


def _decompressed(stream: IO[bytes], suffix: str, what: str, archive: str) -> IO[bytes]:
    counting = _Counting(stream)
    opened = _COMPRESSIONS[suffix](io.BufferedReader(counting, 1 << 16))
    return io.BufferedReader(_RatioGuard(opened, lambda: counting.count, what, archive), 1 << 16)


def members(stream: IO[bytes], name: str, caps: Caps = Caps()) -> Iterator[tuple[str, IO[bytes]]]:
    """``(member path, stream)`` of each regular file; the archive is checked before any is read."""
    kind = archive_kind(name)
    total = [0]
    if kind == "zip":
        yield from _zip_members(stream, name, caps, total)
    elif kind == "tar":
        yield from _tar_members(stream, name, caps, total)
    elif kind in ("gz", "bz2", "xz"):
        suffix = f".{kind}"
        member = posixpath.basename(name[: -len(suffix)])
        yield (
            member,
            io.BufferedReader(
                _Capped(
                    _decompressed(stream, suffix, member, name),
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
                guarded = _RatioGuard(raw, lambda i=info: i.compress_size, info.filename, name)
                yield (
                    check_member_name(info.filename, archive=name),
                    io.BufferedReader(
                        _Capped(
                            guarded, caps.max_member_bytes, info.filename, name, total, caps.max_total_bytes
                        )
                    ),
                )


def _tar_stream(stream: IO[bytes], name: str) -> IO[bytes]:
    """The tar bytes from the start of ``stream``: decompressed (by magic number, whatever the
    name says) through the ratio check, or as they are for a plain tar."""
    stream.seek(0)
    head = stream.read(6)
    stream.seek(0)
    for magic, suffix in _MAGIC:
        if head.startswith(magic):
            return _decompressed(stream, suffix, "the archive", name)
    return stream


def _tar_members(
    stream: IO[bytes], name: str, caps: Caps, total: list[int]
) -> Iterator[tuple[str, IO[bytes]]]:
    """Two streamed passes (tarfile's ``r|`` mode: no seeks, every byte through the ratio check):
    the first checks every header, the second yields the files. ``stream`` must be seekable."""
    try:
        with tarfile.open(fileobj=_tar_stream(stream, name), mode="r|") as archive:
            for info in archive:
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
                total[0] += info.size
                if total[0] > caps.max_total_bytes:
                    raise UnsafeArchive(
                        f"the archive is larger than {caps.max_total_bytes} bytes uncompressed", url=name
                    )
        total[0] = 0
        with tarfile.open(fileobj=_tar_stream(stream, name), mode="r|") as archive:
            for info in archive:
                if not info.isfile():
                    continue
                raw = archive.extractfile(info)
                if raw is not None:
                    yield (
                        check_member_name(info.name, archive=name),
                        io.BufferedReader(
                            _Capped(raw, caps.max_member_bytes, info.name, name, total, caps.max_total_bytes)
                        ),
                    )
    except (tarfile.TarError, EOFError, OSError, lzma.LZMAError) as exc:
        raise UnsafeArchive(f"not a readable tar archive: {exc}", url=name) from exc
