"""The blob codec of the publisher and the embedded index (mdstore/compression.py)."""

from __future__ import annotations

import threading
import zlib

import pytest
import zstandard

from mdstore.compression import ZSTD_MAGIC, BlobError, compress, decompress

ACTORS = "".join(f'<crm:E39_Actor rdf:about="urn:a:{i}"/>' for i in range(300))
PAYLOAD = f"<rdf:RDF>{ACTORS}</rdf:RDF>".encode()


def test_blobs_are_zstandard_frames_with_their_size_and_read_back() -> None:
    blob = compress(PAYLOAD)
    assert blob[:4] == ZSTD_MAGIC
    assert zstandard.get_frame_parameters(blob).content_size == len(PAYLOAD)
    assert len(blob) < len(PAYLOAD) // 5
    assert decompress(blob) == PAYLOAD
    assert compress(b"") != b"" and decompress(compress(b"")) == b""


@pytest.mark.parametrize("level", [1, 6, 9])
def test_zlib_blobs_of_older_files_read_as_they_are(level: int) -> None:
    assert decompress(zlib.compress(PAYLOAD, level)) == PAYLOAD


def test_a_zlib_stream_never_starts_like_a_zstandard_frame() -> None:
    """zlib's header check: (CMF * 256 + FLG) is a multiple of 31, which 0x28B5 is not."""
    assert (ZSTD_MAGIC[0] * 256 + ZSTD_MAGIC[1]) % 31 != 0


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"plain bytes", "not a compressed blob: Error -3 while decompressing data: incorrect header check"),
        # a header that says 16 bytes, then no block
        (ZSTD_MAGIC + bytes([0x20, 16]) + b"garbage", "a damaged compressed blob: "),
        (ZSTD_MAGIC + b"\xe0", "a damaged compressed blob: "),  # a header cut short
    ],
)
def test_what_neither_codec_reads_is_a_blob_error(blob: bytes, message: str) -> None:
    with pytest.raises(BlobError) as caught:
        decompress(blob)
    assert str(caught.value).startswith(message)


def test_a_frame_that_claims_more_than_the_limit_is_refused_before_any_allocation() -> None:
    header = ZSTD_MAGIC + bytes([0xE0]) + (100 << 30).to_bytes(8, "little")  # "100 GB follow"
    with pytest.raises(BlobError, match=r"declares 107374182400 bytes, more than the 1073741824 allowed"):
        decompress(header + b"\x01\x00\x00")


def test_threads_compress_side_by_side() -> None:
    """Each thread has its own context: one shared between threads would corrupt frames."""
    payloads = [PAYLOAD.replace(b"urn:a:", f"urn:t{t}:".encode()) for t in range(4)]
    failures: list[int] = []

    def work(t: int) -> None:
        for _ in range(300):
            if decompress(compress(payloads[t])) != payloads[t]:
                failures.append(t)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
