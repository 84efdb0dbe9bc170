"""The FTP harvester against a real pyftpdlib server on 127.0.0.1."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import time
import zipfile
from pathlib import Path

import pytest
from lxml import etree

from contentcloud.pipeline.collect import collect
from contentcloud.pipeline.summary import Outcome
from mdstore.errors import ConfigError
from tests.integration.harvesters.conftest import make_profile, present_and_deleted
from tests.servers.ftp_server import ftp_server

pytestmark = pytest.mark.integration

ENV = {"FTP_USER": "harvester", "FTP_PASSWORD": "s3cret"}


def doc(identifier: str, title: str = "t") -> bytes:
    return f"<doc><id>{identifier}</id><title>{title}</title></doc>".encode()


def put(root: Path, relative: str, data: bytes, mtime: float | None = None) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def ftp_profile(site, **api):
    return make_profile(
        "ftpsrc",
        {
            "protocol": "ftp",
            "host": site.host,
            "port": site.port,
            "path": "/",
            "username_env": "FTP_USER",
            "password_env": "FTP_PASSWORD",
            "id_xpath": "/doc/id",
            **api,
        },
    )


def test_recursive_listing_with_include_and_exclude(tmp_path, store, fast):
    root = tmp_path / "site"
    for relative in ("a.xml", "sub/b.xml", "sub/deep/c.xml", "skip/d.xml"):
        put(root, relative, doc(Path(relative).stem))
    put(root, "notes.txt", b"not a record")
    with ftp_server(root) as site:
        recursive = collect(
            store, ftp_profile(site, include=["*.xml"], exclude=["skip/*"]), options=fast, environ=ENV
        )
        flat = make_profile(
            "flat",
            {
                "protocol": "ftp",
                "host": site.host,
                "port": site.port,
                "username_env": "FTP_USER",
                "password_env": "FTP_PASSWORD",
                "recursive": False,
                "include": ["*.xml"],
            },
        )
        collect(store, flat, options=fast, environ=ENV)
    assert recursive.outcome is Outcome.FINISHED
    present, _ = present_and_deleted(store, ftp_profile(site))
    assert set(present) == {"a", "b", "c"}
    assert etree.fromstring(present["c"]).findtext("title") == "t"
    flat_present, _ = present_and_deleted(store, flat)
    assert set(flat_present) == {"a.xml"}  # no id_xpath: the path is the id


def test_missing_credentials_variable_is_a_config_error(tmp_path, store, fast):
    with ftp_server(tmp_path) as site, pytest.raises(ConfigError) as caught:
        collect(store, ftp_profile(site), options=fast, environ={"FTP_USER": "harvester"})
    assert str(caught.value) == "api.password_env: the environment variable FTP_PASSWORD is not set"


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _targz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_archives_are_unpacked_and_a_traversal_archive_is_refused(tmp_path, store, fast):
    root = tmp_path / "site"
    put(root, "bundle.zip", _zip({"one.xml": doc("z1"), "dir/two.xml": doc("z2")}))
    put(root, "bundle.tar.gz", _targz({"three.xml": doc("t3"), "x/four.xml": doc("t4")}))
    put(root, "single.xml.gz", gzip.compress(doc("g5")))
    put(root, "evil.zip", _zip({"fine.xml": doc("e6"), "../../../etc/passwd.xml": doc("e7")}))
    with ftp_server(root) as site:
        summary = collect(store, ftp_profile(site), options=fast, environ=ENV)
    assert summary.outcome is Outcome.RECORD_ERRORS
    present, _ = present_and_deleted(store, ftp_profile(site))
    assert set(present) == {"z1", "z2", "t3", "t4", "g5"}  # nothing at all from evil.zip
    with store.reader(ftp_profile(site).native_unit) as view:
        errors = view.errors()
    assert [(e.location, e.message) for e in errors] == [
        ("evil.zip", "member '../../../etc/passwd.xml' escapes the archive root; the archive is refused")
    ]


def test_big_xml_is_split_with_iterparse(tmp_path, store, fast):
    ns = "urn:example:records"
    body = "".join(f"<r:rec><r:id>rec-{i}</r:id><r:title>Title {i}</r:title></r:rec>" for i in range(3000))
    put(tmp_path / "site", "dump/all.xml", f'<r:dump xmlns:r="{ns}">{body}</r:dump>'.encode())
    with ftp_server(tmp_path / "site") as site:
        profile = ftp_profile(site, split_element="r:rec", id_xpath="r:id", namespaces={"r": ns})
        summary = collect(store, profile, options=fast, environ=ENV)
    assert (summary.outcome, summary.added, summary.pages) == (Outcome.FINISHED, 3000, 60)
    present, _ = present_and_deleted(store, profile)
    record = etree.fromstring(present["rec-2999"])
    assert record.findtext(f"{{{ns}}}title") == "Title 2999"


def test_incremental_takes_files_changed_since_the_servers_newest_mtime(tmp_path, store, fast):
    root = tmp_path / "site"
    old = 1_600_000_000
    for i in range(4):
        put(root, f"f{i}.xml", doc(f"r{i}"), mtime=old + i)
    with ftp_server(root) as site:
        profile = ftp_profile(site)
        full = collect(store, profile, options=fast, environ=ENV)
        put(root, "f1.xml", doc("r1", "changed"), mtime=old + 100)
        put(root, "f9.xml", doc("r9"), mtime=old + 200)
        incremental = collect(store, profile, mode="incremental", options=fast, environ=ENV)
    assert full.extra["watermark"] == {"modified": "20200913122643"}  # old + 3, as the server lists it
    # the newest file of the last harvest (f3, at the watermark) is read again: at-or-after is safe
    assert (incremental.read, incremental.added, incremental.updated) == (3, 1, 1)
    present, _ = present_and_deleted(store, profile)
    assert set(present) == {"r0", "r1", "r2", "r3", "r9"}
    assert etree.fromstring(present["r1"]).findtext("title") == "changed"


def test_unparsable_file_is_discarded_and_the_rest_goes_on(tmp_path, store, fast):
    root = tmp_path / "site"
    put(root, "good.xml", doc("ok"))
    put(root, "bad.xml", b"<doc><id>bad</id><title>unclosed</doc>")
    put(root, "ctrl.xml", b"<doc><id>ctrl</id><title>a\x0bb\x01c</title></doc>")
    with ftp_server(root) as site:
        summary = collect(store, ftp_profile(site), options=fast, environ=ENV)
    assert (summary.outcome, summary.added, summary.discarded) == (Outcome.RECORD_ERRORS, 2, 1)
    present, _ = present_and_deleted(store, ftp_profile(site))
    assert etree.fromstring(present["ctrl"]).findtext("title") == "abc"
    with store.reader(ftp_profile(site).native_unit) as view:
        (discarded,) = view.discarded()
    assert discarded.raw == b"<doc><id>bad</id><title>unclosed</doc>"
    assert discarded.source == "bad.xml"


# --- FTPS ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    from tests.servers.tls import make_certificates

    return make_certificates(tmp_path_factory.mktemp("tls"))


def test_ftps_harvest_verifies_the_server_against_the_given_ca(tmp_path, store, fast, certificates):
    root = tmp_path / "site"
    put(root, "a.xml", doc("a", "over TLS"))
    put(root, "sub/b.xml", doc("b"))
    with ftp_server(root, tls=certificates) as site:
        profile = ftp_profile(site, tls=True, tls_ca_file=str(certificates.ca_file))
        summary = collect(store, profile, options=fast, environ=ENV)
    assert summary.outcome is Outcome.FINISHED, summary.text()
    present, _ = present_and_deleted(store, ftp_profile(site))
    assert set(present) == {"a", "b"}
    assert etree.fromstring(present["a"]).findtext("title") == "over TLS"


def test_ftps_with_an_untrusted_certificate_fails_at_once_with_the_reason(
    tmp_path, store, fast, sleeps, certificates
):
    put(tmp_path / "site", "a.xml", doc("a"))
    with ftp_server(tmp_path / "site", tls=certificates) as site:
        summary = collect(store, ftp_profile(site, tls=True), options=fast, environ=ENV)
    assert summary.outcome is Outcome.RESUMABLE  # once the CA is configured, --resume goes on
    assert summary.message == (
        f"ftpsrc: ftps://{site.host}:{site.port}/: listing /: the server's TLS certificate was refused:"
        " unable to get local issuer certificate (tls_ca_file names a private CA; tls_verify: false"
        " skips the check); the harvest stopped after page 0"
    )
    assert list(sleeps) == []  # not retried: a certificate does not get better with time
    assert store.current_version(ftp_profile(site).native_unit) is None


def test_ftps_verification_can_be_turned_off_explicitly(tmp_path, store, fast, certificates, caplog):
    put(tmp_path / "site", "a.xml", doc("a"))
    with ftp_server(tmp_path / "site", tls=certificates) as site:
        summary = collect(store, ftp_profile(site, tls=True, tls_verify=False), options=fast, environ=ENV)
    assert summary.outcome is Outcome.FINISHED, summary.text()
    assert "the server's TLS certificate is not verified (tls_verify: false)" in caplog.text


def test_plain_ftp_to_a_server_requiring_tls_is_refused_clearly(tmp_path, store, fast, certificates):
    put(tmp_path / "site", "a.xml", doc("a"))
    with ftp_server(tmp_path / "site", tls=certificates) as site:
        summary = collect(store, ftp_profile(site), options=fast, environ=ENV)
    assert summary.outcome is Outcome.FAILED
    assert summary.message == (
        f"ftpsrc: ftp://{site.host}:{site.port}/: cannot list /: 550 SSL/TLS required on the control"
        " channel.; the harvest was aborted and the current version is unchanged"
    )


def test_a_file_trickling_one_byte_a_second_is_stopped_at_max_time_and_earlier_pages_are_kept(
    tmp_path, store, sleeps
):
    """The deadline is checked on every read of the data socket, not once per 64 KiB block."""
    from harvesters.base import HarvestOptions
    from harvesters.transport import RetryPolicy

    put(tmp_path / "site", "a.xml", doc("a"))
    put(tmp_path / "site", "b.xml", doc("b", "x" * 200))
    options = HarvestOptions(retry=RetryPolicy(max_retries=3, backoff=0.01, sleep=sleeps), page_size=1)
    with ftp_server(tmp_path / "site", trickle=1, trickle_files=("b.xml",)) as site:
        started = time.monotonic()
        summary = collect(store, ftp_profile(site, max_time=2, timeout=10), options=options, environ=ENV)
        elapsed = time.monotonic() - started
    assert 2 <= elapsed < 4, elapsed
    assert summary.outcome is Outcome.RESUMABLE, summary.text()
    assert summary.message.startswith(
        f"ftpsrc: ftp://{site.host}:{site.port}/: downloading b.xml: the file took longer than max_time"
        " (2 s); stopped after "
    ), summary.message
    assert summary.message.endswith(" bytes; the harvest stopped after page 1")
    tx = store.resume(ftp_profile(site).native_unit)  # the page of a.xml is in the open run
    assert tx.get("a") is not None and tx.get("b") is None
    tx.abort()
