"""The S3 file store against a local S3 (moto's server on 127.0.0.1), then a whole download run."""

from __future__ import annotations

import hashlib

import pytest

from contentcloud.pipeline.download import download
from harvesters.download import Ledger, open_file_store
from harvesters.transport import RetryPolicy
from tests.integration.harvesters.download_support import profile, record_xml, write_records
from tests.servers.file_server import FileRoute, file_server

pytestmark = pytest.mark.integration
boto3 = pytest.importorskip("boto3")
moto_server = pytest.importorskip("moto.server")


@pytest.fixture(scope="module")
def s3_endpoint():
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_endpoint, monkeypatch, request):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    name = f"files-{request.node.name.replace('_', '-')[:40].lower()}"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket=name)
    return name


def test_s3_store_round_trip_and_dedupe(s3_endpoint, bucket):
    store = open_file_store(f"s3://{bucket}/downloads?endpoint_url={s3_endpoint}&region=us-east-1")
    data = b"an object " * 1000
    digest = hashlib.sha256(data).hexdigest()
    assert not store.has(digest)
    with store.writer() as writer:
        writer.write(data[:5000])
        writer.write(data[5000:])
        first = writer.commit()
    with store.writer() as writer:
        writer.write(data)
        second = writer.commit()
    assert (first.sha256, first.size, first.existed, second.existed) == (digest, len(data), False, True)
    assert first.location == f"s3://{bucket}/downloads/{digest[:2]}/{digest}"
    assert store.has(digest)
    assert store.open(digest).read() == data

    def dropped() -> None:
        with store.writer() as writer:
            writer.write(b"never uploaded")
            raise RuntimeError("dropped")

    with pytest.raises(RuntimeError):
        dropped()
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == [f"downloads/{digest[:2]}/{digest}"]


def test_a_download_run_into_s3(s3_endpoint, bucket, store, tmp_path):
    routes = {
        "/a.pdf": FileRoute(b"pdf " * 3000, "application/pdf", etag='"a"'),
        "/b.pdf": FileRoute(b"pdf " * 3000),
    }
    files = open_file_store(f"s3://{bucket}?endpoint_url={s3_endpoint}&region=us-east-1")
    with file_server(routes) as server, Ledger(tmp_path / "ledger.sqlite") as ledger:
        ds = profile()
        write_records(store, ds, {"r": record_xml(f"{server.url}/a.pdf", f"{server.url}/b.pdf")})
        retry = RetryPolicy(max_retries=1, backoff=0.01, sleep=lambda s: None)
        first = download(store, ds, files=files, ledger=ledger, retry=retry)
        second = download(store, ds, files=files, ledger=ledger, retry=retry)
    assert (first.extra["downloaded"], first.extra["deduplicated"]) == (2, 1)
    assert second.extra["not_modified"] == 1  # the object exists, so the ETag is trusted
    assert first.unit_out == f"s3://{bucket}"


def test_s3_uri_errors():
    with pytest.raises(Exception, match="credentials never go in the URI"):
        open_file_store("s3://key:secret@bucket/x")
    with pytest.raises(Exception, match="unknown parameters"):
        open_file_store("s3://bucket/x?acl=public")
