"""The FTP harvester (D-NET's FTP collector plugin): files under a path, as records.

Lists recursively (MLSD, falling back to NLST + MDTM on old servers), keeps the files that match
``include`` and none of ``exclude`` (shell patterns on the path below ``path`` and on the base
name), and turns each into records: archives unpacked safely, big XML split on ``split_element``,
any other file one record. Incremental runs take the files modified at or after the newest
modification time the last committed harvest saw, as the *server* reported it. Files are handled
in path order, so the checkpoint is "done through this path, n records into the next".

``tls: true`` speaks FTPS (AUTH TLS, then a protected data channel) and verifies the server's
certificate and host name against the system's CAs or ``tls_ca_file``; a refused certificate
fails the harvest at once, without retries.
"""

from __future__ import annotations

import ftplib
import logging
import posixpath
import socket
import ssl
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from fnmatch import fnmatch
from typing import IO, Any

from harvesters.archives import Caps, archive_kind
from harvesters.base import HarvestOptions, HarvestRequest, Page, Problem
from harvesters.files import PageBuilder, file_items, paged_file_items
from harvesters.transport import RetryPolicy, RetrySettings
from harvesters.xmlsplit import SplitSpec
from mdstore.errors import HarvestError, TransportError

logger = logging.getLogger(__name__)

#: failures worth reconnecting for: drops, timeouts, 4xx "try again" replies
RETRYABLE = (ftplib.error_temp, ftplib.error_reply, OSError, EOFError, socket.timeout)


@dataclass(frozen=True)
class RemoteFile:
    path: str  #: relative to the harvest root, '/'-separated
    size: int | None
    modified: str | None  #: YYYYMMDDHHMMSS in the server's UTC (RFC 3659)


@dataclass(frozen=True, kw_only=True)
class FtpApi(RetrySettings):
    """The ``api`` section of an FTP profile (schema ``$defs/ftp``); ``username``/``password`` are
    values the pipeline step resolved from ``username_env``/``password_env``."""

    host: str
    max_retries: int = 3
    port: int = 21
    tls: bool = False
    tls_verify: bool = True
    tls_ca_file: str | None = None
    path: str = "/"
    recursive: bool = True
    include: tuple[str, ...] | None = None
    exclude: tuple[str, ...] | None = None
    username: str | None = None
    password: str | None = None
    split_element: str | None = None
    id_xpath: str | None = None
    namespaces: Mapping[str, str] | None = None
    archives: bool = True
    timeout: float = 60
    max_time: float = 3600
    format: str = "xml"


class FtpHarvester:
    """Harvests the files of one FTP (or FTPS) directory tree (profile ``api.protocol: ftp``)."""

    def __init__(
        self,
        api: FtpApi,
        *,
        datasource: str,
        retry: RetryPolicy | None = None,
        options: HarvestOptions | None = None,
    ) -> None:
        """``retry`` (the step's) replaces the section's retry fields."""
        self.host, self.port, self.tls, self.root = api.host, api.port, api.tls, api.path.rstrip("/") or "/"
        self.tls_verify, self.tls_ca_file = api.tls_verify, api.tls_ca_file
        self.datasource = datasource
        self.recursive = api.recursive
        self.include = list(api.include or ["*"])
        self.exclude = list(api.exclude or [])
        self.username, self.password = api.username or "anonymous", api.password or ""
        namespaces = dict(api.namespaces) if api.namespaces else None
        self.split = SplitSpec(api.split_element, api.id_xpath, namespaces)
        self.archives = api.archives
        self.timeout = api.timeout
        self.max_time = api.max_time
        self.retry = retry or api.retry_policy()
        self.options = options or HarvestOptions()
        self._ftp: ftplib.FTP | None = None

    @classmethod
    def from_profile(
        cls, api: Mapping[str, Any] | FtpApi, *, datasource: str, options: HarvestOptions | None = None
    ) -> FtpHarvester:
        options = options or HarvestOptions()
        return cls(FtpApi.from_mapping(api), datasource=datasource, retry=options.retry, options=options)

    # --- connection ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"{'ftps' if self.tls else 'ftp'}://{self.host}:{self.port}{self.root}"

    def _connect(self) -> ftplib.FTP:
        if self._ftp is None:
            ftp = (
                ftplib.FTP_TLS(context=self._tls_context(), timeout=self.timeout)
                if self.tls
                else ftplib.FTP(timeout=self.timeout)
            )
            try:
                ftp.connect(self.host, self.port)
                ftp.login(self.username, self.password)  # FTPS: the TLS handshake happens here
                if isinstance(ftp, ftplib.FTP_TLS):
                    ftp.prot_p()
            except BaseException:
                ftp.close()
                raise
            self._ftp = ftp
        return self._ftp

    def _tls_context(self) -> ssl.SSLContext:
        """A verifying context: ``ftplib.FTP_TLS`` on its own checks neither the certificate nor
        the host name. ``tls_ca_file`` trusts a private CA; ``tls_verify: false`` is an explicit,
        logged opt-out for servers with self-signed certificates."""
        try:
            context = ssl.create_default_context(cafile=self.tls_ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise HarvestError(
                f"cannot read the CA file {self.tls_ca_file!r}: {exc}", datasource=self.datasource
            ) from exc
        if not self.tls_verify:
            logger.warning("%s: the server's TLS certificate is not verified (tls_verify: false)", self.url)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def close(self) -> None:
        if self._ftp is not None:
            try:
                self._ftp.quit()
            except (*RETRYABLE, ftplib.Error):
                self._ftp.close()
            self._ftp = None

    def _call(self, what: str, action):
        """Run ``action(ftp)`` with reconnects and back-off on transient failures."""
        attempt = 0
        while True:
            try:
                return action(self._connect())
            except ftplib.error_perm:
                raise
            except ssl.SSLCertVerificationError as exc:  # not transient: retrying cannot help
                self.close()
                raise TransportError(
                    f"{what}: the server's TLS certificate was refused: {exc.verify_message}"
                    " (tls_ca_file names a private CA; tls_verify: false skips the check)",
                    datasource=self.datasource,
                    url=self.url,
                ) from exc
            except RETRYABLE as exc:
                self.close()
                if attempt >= self.retry.max_retries:
                    raise TransportError(
                        f"{what}: {type(exc).__name__}: {exc}; gave up after {attempt + 1} attempts",
                        datasource=self.datasource,
                        url=self.url,
                    ) from exc
                wait = self.retry.delay(attempt)
                logger.warning("%s: %s: %s; reconnecting in %.2fs", self.url, what, exc, wait)
                self.retry.sleep(wait)
                attempt += 1

    # --- listing ------------------------------------------------------------------------------
    def list_files(self) -> list[RemoteFile]:
        """Every matching file below the root, sorted by path."""
        found: list[RemoteFile] = []
        pending = [""]
        while pending:
            relative = pending.pop()
            for name, kind, size, modified in self._call(
                f"listing {relative or '/'}", lambda ftp, r=relative: self._entries(ftp, r)
            ):
                child = posixpath.join(relative, name) if relative else name
                if kind == "dir":
                    if self.recursive:
                        pending.append(child)
                elif kind == "file" and self._wanted(child):
                    found.append(RemoteFile(child, size, modified))
        return sorted(found, key=lambda f: f.path)

    def _entries(self, ftp: ftplib.FTP, relative: str) -> list[tuple[str, str, int | None, str | None]]:
        directory = posixpath.join(self.root, relative) if relative else self.root
        try:
            entries = []
            for name, facts in ftp.mlsd(directory, facts=["type", "size", "modify"]):
                kind = facts.get("type", "").lower()
                if kind in ("cdir", "pdir") or name in (".", ".."):
                    continue
                entries.append(
                    (
                        name,
                        "dir" if kind == "dir" else "file" if kind == "file" else kind,
                        int(facts["size"]) if facts.get("size", "").isdigit() else None,
                        (facts.get("modify") or "")[:14] or None,
                    )
                )
            return entries
        except ftplib.error_perm as exc:
            if not str(exc).startswith(("500", "501", "502", "504")):
                raise
        return self._entries_without_mlsd(ftp, directory)

    def _entries_without_mlsd(self, ftp: ftplib.FTP, directory: str):
        """Old servers: NLST, then CWD to tell directories apart and MDTM for the date."""
        entries = []
        for path in ftp.nlst(directory):
            name = posixpath.basename(path.rstrip("/"))
            if name in (".", ".."):
                continue
            full = posixpath.join(directory, name)
            try:
                ftp.cwd(full)
                ftp.cwd("/")
                entries.append((name, "dir", None, None))
                continue
            except ftplib.error_perm:
                pass
            try:
                modified = ftp.sendcmd(f"MDTM {full}").split()[-1][:14]
            except ftplib.error_perm:
                modified = None
            entries.append((name, "file", None, modified))
        return entries

    def _wanted(self, path: str) -> bool:
        base = posixpath.basename(path)
        included = any(fnmatch(path, p) or fnmatch(base, p) for p in self.include)
        excluded = any(fnmatch(path, p) or fnmatch(base, p) for p in self.exclude)
        return included and not excluded

    # --- the harvest --------------------------------------------------------------------------
    def harvest(self, request: HarvestRequest) -> Iterator[Page]:
        resume = dict(request.resume or {})
        try:
            files = self.list_files()
        except ftplib.error_perm as exc:
            raise HarvestError(
                f"cannot list {self.root}: {exc}", datasource=self.datasource, url=self.url
            ) from exc
        watermark = resume.get("watermark") or {
            "modified": max((f.modified for f in files if f.modified), default=None)
        }
        since = (request.watermark or {}).get("modified") if request.mode == "incremental" else None
        if since:
            files = [f for f in files if f.modified is None or f.modified >= since]
        done_through = resume.get("done_through")
        builder = PageBuilder(self.options.page_size, self.host)
        caps = Caps(self.options.max_file_bytes, self.options.max_archive_bytes)
        for file in files:
            if done_through is not None and file.path <= done_through:
                continue
            skip = (
                resume.get("skip", 0)
                if resume.get("current") == file.path and not archive_kind(file.path)
                else 0
            )

            def checkpoint(
                n: int, current: str = file.path, offset: int = skip, through: str | None = done_through
            ) -> dict[str, Any]:
                return {
                    "protocol": "ftp",
                    "watermark": watermark,
                    "done_through": through,
                    "current": current,
                    "skip": offset + n,
                }

            try:
                stream = self._download(file)
            except ftplib.error_perm as exc:
                builder.problems.append(Problem(f"cannot download: {exc}", location=file.path))
            else:
                with stream:
                    items = file_items(
                        stream,
                        file.path,
                        self.split,
                        caps=caps,
                        archives=self.archives,
                        skip=skip,
                        max_record_bytes=self.options.max_record_bytes,
                    )
                    yield from paged_file_items(items, builder, checkpoint)
            done_through = file.path
        final = builder.flush({"protocol": "ftp", "watermark": watermark, "done_through": done_through})
        if final is not None:
            yield final

    def _download(self, file: RemoteFile) -> IO[bytes]:
        """The file in a spool. ``max_time`` is a wall-clock deadline over the whole transfer, its
        retries included, checked on every read of the data socket (whose timeout is what is left of
        it), so a server sending one byte a second is stopped in time, not after a 64 KiB chunk."""
        path = posixpath.join(self.root, file.path)
        limit = self.options.max_file_bytes
        due = time.monotonic() + self.max_time

        def too_slow(written: int) -> TransportError:
            return TransportError(
                f"downloading {file.path}: the file took longer than max_time ({self.max_time:g} s); "
                f"stopped after {written} bytes",
                datasource=self.datasource,
                url=self.url,
            )

        def fetch(ftp: ftplib.FTP) -> IO[bytes]:
            if time.monotonic() >= due:
                raise too_slow(0)
            spool = tempfile.SpooledTemporaryFile(max_size=8 * 2**20)  # noqa: SIM115 - returned open
            written = 0
            try:
                ftp.voidcmd("TYPE I")
                with ftp.transfercmd(f"RETR {path}") as conn:
                    while True:
                        left = due - time.monotonic()
                        if left <= 0:
                            raise too_slow(written)
                        conn.settimeout(min(self.timeout, left))
                        try:
                            chunk = conn.recv(1 << 16)  # returns as soon as any bytes are there
                        except TimeoutError:
                            if time.monotonic() >= due:
                                raise too_slow(written) from None
                            raise
                        if not chunk:
                            break
                        written += len(chunk)
                        if written > limit:
                            raise ftplib.error_perm(f"552 {file.path} is larger than {limit} bytes")
                        spool.write(chunk)
                    if isinstance(conn, ssl.SSLSocket):
                        conn.unwrap()
                ftp.voidresp()
            except BaseException as exc:
                spool.close()
                if isinstance(exc, TransportError) and self._ftp is not None:
                    self._ftp.close()  # mid-transfer, not reusable; quit() would wait for a reply
                    self._ftp = None
                raise
            spool.seek(0)
            return spool

        return self._call(f"downloading {file.path}", fetch)
