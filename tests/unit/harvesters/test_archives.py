"""Safe archive unpacking and streaming XML splitting (in memory, no server)."""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile

import pytest

from harvesters.archives import Caps, UnsafeArchive, archive_kind, check_member_name, members
from harvesters.base import Problem
from harvesters.repair import FEED_BYTES
from harvesters.xmlsplit import SplitSpec, split_stream


def zipped(entries: dict[str, bytes]) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    buffer.seek(0)
    return buffer


@pytest.mark.parametrize(
    "name", ["../x.xml", "a/../../x.xml", "/etc/passwd", "C:/x.xml", "..\\..\\x.xml", ".."]
)
def test_names_that_leave_the_root_are_refused(name):
    with pytest.raises(UnsafeArchive, match="escapes the archive root"):
        check_member_name(name, archive="a.zip")


def test_inner_dotdot_that_stays_inside_is_fine():
    assert check_member_name("a/b/../c.xml", archive="a.zip") == "a/c.xml"


def test_zip_is_checked_as_a_whole_before_anything_is_read():
    with pytest.raises(UnsafeArchive) as caught:
        list(members(zipped({"ok.xml": b"<a/>", "../../evil.xml": b"<a/>"}), "x.zip"))
    assert caught.value.url == "x.zip"


def test_zip_bomb_ratio_is_refused():
    with pytest.raises(UnsafeArchive, match="likely zip bomb"):
        list(members(zipped({"bomb.xml": b"0" * 5_000_000}), "bomb.zip"))


def test_declared_member_size_is_checked_first():
    archive = zipped({"big.xml": bytes(range(256)) * 100})
    with pytest.raises(UnsafeArchive, match="member 'big.xml' declares 25600 bytes, more than 1000"):
        list(members(archive, "big.zip", Caps(max_member_bytes=1000)))


def test_size_cap_is_enforced_while_streaming_whatever_the_headers_say():
    archive = io.BytesIO(gzip.compress(bytes(range(256)) * 100))
    ((_, stream),) = list(members(archive, "rec.xml.gz", Caps(max_member_bytes=1000)))
    with pytest.raises(UnsafeArchive, match="rec.xml is larger than 1000 bytes uncompressed"):
        stream.read()


def test_tar_links_are_refused_and_regular_files_streamed():
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("data/a.xml")
        info.size = 4
        archive.addfile(info, io.BytesIO(b"<a/>"))
        link = tarfile.TarInfo("data/link.xml")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        archive.addfile(link)
    buffer.seek(0)
    with pytest.raises(UnsafeArchive, match="is a link or a device"):
        list(members(buffer, "x.tar.gz"))


def test_gz_single_file():
    ((name, stream),) = list(members(io.BytesIO(gzip.compress(b"<a/>")), "dir/rec.xml.gz"))
    assert (name, stream.read()) == ("rec.xml", b"<a/>")


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("a.zip", "zip"),
        ("a.TAR.GZ", "tar"),
        ("a.tgz", "tar"),
        ("a.tar", "tar"),
        ("a.xml.gz", "gz"),
        ("a.xml", None),
    ],
)
def test_archive_kind(name, kind):
    assert archive_kind(name) == kind


def test_split_stream_skips_frees_and_reports_a_broken_tail():
    xml = b"<r>" + b"".join(b"<i><id>%d</id></i>" % n for n in range(5)) + b"<i><id>5</id></r>"
    items = list(split_stream(io.BytesIO(xml), "f.xml", SplitSpec("i", "id"), skip=2))
    assert [i.original_id for i in items if not isinstance(i, Problem)] == ["2", "3", "4"]
    assert isinstance(items[-1], Problem)
    assert items[-1].message.startswith("not well-formed XML after record 5")


@pytest.mark.parametrize(
    "records",
    [
        3,  # the whole file in one parser feed
        FEED_BYTES // 100,  # about one feed: the break lands near the first feed's end
        FEED_BYTES // 100 + 1,
        12 * FEED_BYTES // 100,  # many feeds
    ],
)
@pytest.mark.parametrize(
    "tail",
    [b"<i><id>x</id></r>", b"<i><id>x</i", b"<i><id>x</id><t>\xff\xfe", b"<i><id>x</id><t>", b"</r></r>"],
)
def test_split_stream_keeps_every_record_before_a_broken_tail(records, tail):
    """A truncated or garbled end loses no good record before it, however the file falls into
    parser chunks (libxml2 2.14 raised before any event when the break was in the first chunk)."""
    body = b"".join(b"<i><id>%d</id><t>%s</t></i>" % (n, b"x" * 70) for n in range(records))
    xml = b"<?xml version='1.0'?><r>" + body + tail
    items = list(split_stream(io.BytesIO(xml), "dump.xml", SplitSpec("i", "id")))
    good = [i.original_id for i in items if not isinstance(i, Problem)]
    assert good == [str(n) for n in range(records)]
    assert isinstance(items[-1], Problem)
    assert items[-1].message.startswith(f"not well-formed XML after record {records}")
    assert items[-1].location == "dump.xml"


def test_split_refuses_entities_and_dtds():
    xml = (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<r><i><id>a</id><t>&x;</t></i></r>"
    )
    items = list(split_stream(io.BytesIO(xml), "f.xml", SplitSpec("i", "id")))
    assert all(b"root:" not in (getattr(i, "body", b"") or b"") for i in items)
    # the reference is left unexpanded: a record error with its bytes, not a record that fails later
    assert items == [
        Problem(
            "record holds unexpanded entity reference(s) &x; (entities are never resolved)",
            location="f.xml#1",
            raw=b"<i><id>a</id><t>&x;</t></i>",
        )
    ]


def test_split_element_prefix_must_be_declared():
    with pytest.raises(ValueError, match="prefix 'x' is not in namespaces"):
        SplitSpec("x:rec").clark()


@pytest.mark.parametrize(
    ("suffix", "compress"),
    [(".gz", gzip.compress), (".bz2", __import__("bz2").compress), (".xz", __import__("lzma").compress)],
)
def test_single_compressed_files_stream_and_a_bomb_is_refused_by_ratio(suffix, compress):
    ((name, stream),) = list(members(io.BytesIO(compress(b"<a/>")), f"dir/rec.xml{suffix}"))
    assert (name, stream.read()) == ("rec.xml", b"<a/>")
    bomb = compress(b" " * (8 << 20))
    ((_, stream),) = list(members(io.BytesIO(bomb), f"bomb.xml{suffix}"))
    with pytest.raises(
        UnsafeArchive,
        match=(
            r": bomb\.xml expands more than 200:1 \(\d+ bytes from \d+ compressed\),"
            r" a likely decompression bomb; refused$"
        ),
    ):
        stream.read()  # BufferedReader.read() reads through in bounded pieces


@pytest.mark.parametrize("mode", ["w:gz", "w:bz2", "w:xz", "w:"])
def test_tars_of_every_compression_are_read_in_two_streamed_passes(mode):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:
        for name, data in (("d/a.xml", b"<a/>"), ("b.xml", b"<b/>")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    assert [(n, s.read()) for n, s in members(buffer, "x.tar")] == [("d/a.xml", b"<a/>"), ("b.xml", b"<b/>")]


def test_a_compressed_tar_bomb_is_refused_before_any_member_is_read():
    info = tarfile.TarInfo("big.xml")
    info.size = 64 << 20
    body = gzip.compress(info.tobuf(format=tarfile.USTAR_FORMAT) + b" " * (64 << 20) + b"\0" * 1024)
    with pytest.raises(UnsafeArchive, match="^bomb.tgz: the archive expands more than 200:1"):
        list(members(io.BytesIO(body), "bomb.tgz"))


def test_a_whole_file_record_is_read_only_up_to_the_cap():
    items = list(
        split_stream(io.BytesIO(b"<a>" + b" " * 5000 + b"</a>"), "f.xml", SplitSpec(), max_record_bytes=1000)
    )
    assert [(i.message, i.location, len(i.raw)) for i in items] == [
        ("record is larger than 1000 bytes (the whole file is one record)", "f.xml", 1001)
    ]


def test_a_split_record_larger_than_the_cap_stops_the_file_with_a_clear_problem():
    xml = b"<r><i><id>1</id></i><i><id>2</id><t>" + b"x" * 300_000 + b"</t></i><i><id>3</id></i></r>"
    items = list(split_stream(io.BytesIO(xml), "f.xml", SplitSpec("i", "id"), max_record_bytes=100_000))
    assert [getattr(i, "original_id", None) for i in items] == ["1", None]
    assert items[-1].message == "record 2 is larger than 100000 bytes; the rest of the file is not read"
