"""An S3-compatible object store for downloaded files (optional extra ``s3``: boto3).

``s3://bucket/prefix?endpoint_url=http://minio:9000&region=eu-west-1`` keeps a file under the
key ``prefix/ab/<sha256>``. Bytes are hashed while they are spooled to an anonymous local
temporary file; only at commit, when the address is known, is the object uploaded (a PUT, or a
multipart upload for files over 5 GiB, is atomic: an object is visible whole or not at all).
Content already there is not uploaded again: a ``HEAD`` first, then a conditional PUT
(``If-None-Match: *``), so two writers racing with the same bytes store and count it once.

Credentials come from boto3's own chain (its environment variables, shared config, instance
role): they never appear in the store URI, profiles or logs.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any
from urllib.parse import parse_qs, urlsplit

# at module level: the plugin registry imports this module on first use of ``s3://``, and turns a
# missing boto3 into PluginUnavailable ("pip install boto3") instead of a crash at first call
import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from harvesters.download.filestore import StoredFile, check_sha256
from mdstore.errors import ConfigError, StoreError

#: spooled in memory up to this size, then on local disk
SPOOL_BYTES = 8 * 2**20
#: the largest object one PUT may create (S3's limit); bigger files go up in parts
SINGLE_PUT_BYTES = 5 * 2**30


class S3FileStore:
    """Content-addressed files in one bucket under a key prefix."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        client: Any = None,
        endpoint_url: str | None = None,
        region: str | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = client or boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            config=Config(retries={"max_attempts": 5, "mode": "standard"}, max_pool_connections=32),
        )
        self.uri = f"s3://{bucket}/{self.prefix}".rstrip("/")

    @classmethod
    def from_uri(cls, uri: str) -> S3FileStore:
        parts = urlsplit(uri)
        if not parts.netloc or "@" in parts.netloc:
            raise ConfigError(
                f"{uri!r}: expected s3://bucket/prefix (credentials never go in the URI)",
                field="files",
                rule="s3",
            )
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        unknown = set(query) - {"endpoint_url", "region"}
        if unknown:
            raise ConfigError(
                f"{uri!r}: unknown parameters {sorted(unknown)} (endpoint_url, region)",
                field="files",
                rule="s3",
            )
        return cls(
            parts.netloc, parts.path, endpoint_url=query.get("endpoint_url"), region=query.get("region")
        )

    def key(self, sha256: str) -> str:
        check_sha256(sha256)
        return f"{self.prefix}/{sha256[:2]}/{sha256}" if self.prefix else f"{sha256[:2]}/{sha256}"

    def location(self, sha256: str) -> str:
        return f"s3://{self.bucket}/{self.key(sha256)}"

    def has(self, sha256: str) -> bool:

        try:
            self.client.head_object(Bucket=self.bucket, Key=self.key(sha256))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise StoreError(f"{self.location(sha256)}: {exc}") from exc
        return True

    def open(self, sha256: str) -> IO[bytes]:
        return self.client.get_object(Bucket=self.bucket, Key=self.key(sha256))["Body"]

    @contextmanager
    def writer(self) -> Iterator[S3FileWriter]:
        writer = S3FileWriter(self)
        try:
            yield writer
        finally:
            writer.discard()

    def cleanup(self) -> int:
        """Nothing to clean: spools are anonymous files and an unfinished upload is no object."""
        return 0

    def close(self) -> None:
        self.client.close()


class S3FileWriter:
    """Spools and hashes one file; uploads it at commit unless the object exists."""

    def __init__(self, store: S3FileStore) -> None:
        self.store = store
        self._spool: IO[bytes] | None = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        if self._spool is None:
            raise ValueError("the writer is closed")
        self._spool.write(chunk)
        self._hash.update(chunk)
        self.size += len(chunk)

    def commit(self) -> StoredFile:
        if self._spool is None:
            raise ValueError("the writer is closed")
        sha256 = self._hash.hexdigest()
        location = self.store.location(sha256)
        if self.store.has(sha256):
            return StoredFile(sha256, self.size, location, existed=True)
        self._spool.seek(0)
        key = self.store.key(sha256)
        if self.size > SINGLE_PUT_BYTES:  # multipart: no conditional write, the HEAD above decides
            self.store.client.upload_fileobj(self._spool, self.store.bucket, key)
            return StoredFile(sha256, self.size, location, existed=False)

        try:  # If-None-Match: *: two writers racing with the same bytes create the object once
            self.store.client.put_object(Bucket=self.store.bucket, Key=key, Body=self._spool, IfNoneMatch="*")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in (
                "PreconditionFailed",
                "ConditionalRequestConflict",
            ):
                return StoredFile(sha256, self.size, location, existed=True)
            raise StoreError(f"{location}: {exc}") from exc
        return StoredFile(sha256, self.size, location, existed=False)

    def discard(self) -> None:
        if self._spool is not None:
            self._spool.close()
            self._spool = None
