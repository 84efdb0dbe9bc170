"""Compressed blobs, one codec for every store that keeps them: the OAI-PMH publisher's payloads, the
embedded index's stored fields and the SQLite MDStore's larger bodies.

Written as Zstandard frames (level 1), read back by their first bytes: a Zstandard frame starts
with its magic number, anything else is a zlib stream (what files written before this module
hold), so an index or a publisher file of either age, or of both, reads as it is.

Why Zstandard: on the 7–9 KB of N-Triples and XML these stores compress, level 1 takes 8.7–10.7 µs
against zlib level 1's 23.5–31.5 µs for blobs of the same size (904–1,140 against 886–1,138
bytes), and reads back in 5.0–5.7 µs against 10.8–14.5 (``bench/blobs.py``; bench/RESULTS.md,
"Blobs and bodies in Zstandard"). A publish refresh compresses two blobs an item and an index
feed one a document, so zlib was a tenth of both steps' CPU.

Why one compressor per thread: a Zstandard context must not be used by two threads at once, and
making one per call costs what zlib does (``zstandard.compress``: ~32 µs for 9 KB).
"""

from __future__ import annotations

import threading
import zlib

import zstandard

#: the first four bytes of every Zstandard frame (a zlib stream cannot start with them: its
#: header 0x28 0xB5 fails zlib's check bits)
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
LEVEL = 1
#: the most a frame may say it holds: a frame's header declares its size, and the decompressor
#: allocates that much before reading on (a hostile frame of a few bytes can claim 100 GB)
MAX_BYTES = 1 << 30

_local = threading.local()


def compress(data: bytes) -> bytes:
    """``data`` as one Zstandard frame (level :data:`LEVEL`, with its size in the header)."""
    compressor = getattr(_local, "compressor", None)
    if compressor is None:
        compressor = _local.compressor = zstandard.ZstdCompressor(level=LEVEL)
    return compressor.compress(data)


class BlobError(ValueError):
    """Bytes that are neither a Zstandard frame nor a zlib stream, or a frame that declares more
    than :data:`MAX_BYTES`."""


def decompress(blob: bytes) -> bytes:
    """What :func:`compress` (or, in older files, ``zlib.compress``) made of some bytes; anything
    else is a :class:`BlobError`."""
    if blob[:4] != ZSTD_MAGIC:
        try:
            return zlib.decompress(blob)
        except zlib.error as exc:
            raise BlobError(f"not a compressed blob: {exc}") from None
    try:
        size = zstandard.get_frame_parameters(blob).content_size
    except zstandard.ZstdError as exc:
        raise BlobError(f"a damaged compressed blob: {exc}") from None
    if size > MAX_BYTES:  # (an unknown size is a huge number too: compress always writes it)
        raise BlobError(f"a compressed blob declares {size} bytes, more than the {MAX_BYTES} allowed")
    decompressor = getattr(_local, "decompressor", None)
    if decompressor is None:
        decompressor = _local.decompressor = zstandard.ZstdDecompressor()
    try:
        return decompressor.decompress(blob)
    except zstandard.ZstdError as exc:
        raise BlobError(f"a damaged compressed blob: {exc}") from None
