"""The shared HTTP transport of every harvester: one requests session, timeouts and retries.

Retries use capped exponential back-off with jitter on timeouts, dropped connections, HTTP 429
and 5xx, and on HTML error pages served with 200 where XML or JSON was expected. ``Retry-After``
is honoured in seconds or as an HTTP date (measured against the server's own ``Date`` header when
it sends one). gzip and deflate bodies are decoded by requests. Authentication headers arrive as
values: the pipeline step reads them from the environment, never this module.
"""

from __future__ import annotations

import errno
import logging
import random
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import IO, Any, Literal, TypeVar
from urllib.parse import urlsplit

import requests

from harvesters.deadline import DeadlineAdapter, budget, deadline, expired, remaining
from harvesters.repair import html_error_title
from mdstore.errors import TransportError
from mdstore.redact import MaskSecrets, mask_text, mask_url
from mdstore.sections import Section

logger = logging.getLogger(__name__)
# urllib3 logs request lines (path and query) at DEBUG: a token in a query would reach the logs
for _name in ("urllib3.connectionpool", "urllib3.connection", "urllib3.util.retry"):
    logging.getLogger(_name).addFilter(MaskSecrets())

Expect = Literal["any", "xml", "json"]
T = TypeVar("T")

DEFAULT_USER_AGENT = "contentcloud-harvester/0.1 (+https://contentcloud.example)"

#: network failures worth another try: the next attempt may well succeed
RETRYABLE_EXCEPTIONS: tuple[type[BaseException], ...] = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


class HtmlErrorPage(TransportError):
    """An HTML page arrived where XML or JSON was expected (an error page served with 200)."""


class ConnectFailed(TransportError):
    """No connection could be opened (refused, unknown host, unreachable), even after the short
    retry budget of :attr:`RetryPolicy.max_connect_retries`."""


class ResponseTooLarge(TransportError):
    """A body read with ``max_bytes`` is larger; ``raw`` holds its first ``RAW_HEAD`` bytes."""

    def __init__(self, message: str = "", *, raw: bytes = b"", **where: Any) -> None:
        super().__init__(message, **where)
        self.raw = raw


#: bytes of an oversized body kept (for the discarded store: enough to see what it was)
RAW_HEAD = 1 << 20


class DeadlinePassed(TransportError):
    """A request (with its retries) took longer than its ``max_time`` (a trickling server)."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to wait. ``sleep`` and ``rng`` are injectable for tests.

    The n-th retry waits ``min(max_backoff, backoff * 2**n)``, scaled by a random factor in
    ``[1 - jitter, 1]`` so that many harvesters hitting one server do not retry in lockstep. A
    ``Retry-After`` from the server replaces that delay (capped at ``max_retry_after``).

    A connection that cannot even be opened (refused, unknown host, no route) has its own short
    budget, ``max_connect_retries`` tries ``connect_backoff * 2**n`` seconds apart: a server that is
    down is not going to come up during the five minutes of back-off meant for a busy one.
    """

    max_retries: int = 5
    #: a refused connection or an unknown host: nothing listens there, so a few quick tries and
    #: a clear failure instead of minutes of back-off (the next scheduled run tries again)
    max_connect_retries: int = 2
    connect_backoff: float = 0.5
    backoff: float = 2.0
    max_backoff: float = 300.0
    jitter: float = 0.5
    max_retry_after: float = 3600.0
    retry_statuses: frozenset[int] = frozenset(
        {408, 425, 429, 500, 502, 503, 504, 507, 509, 520, 521, 522, 523, 524}
    )
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)
    rng: Callable[[], float] = field(default=random.random, compare=False)

    def is_retryable_status(self, status: int) -> bool:
        return status in self.retry_statuses or 500 <= status < 600

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based)."""
        if retry_after is not None:
            return max(0.0, min(retry_after, self.max_retry_after))
        base = min(self.max_backoff, self.backoff * (2**attempt))
        return base * (1 - self.jitter * self.rng())


@dataclass(frozen=True, kw_only=True)
class RetrySettings(Section):
    """The retry fields of an ``api`` section (defaults: the schema's, checked by a unit test)."""

    max_retries: int = 5
    backoff: float = 2
    max_backoff: float = 300

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            max_retries=self.max_retries, backoff=float(self.backoff), max_backoff=float(self.max_backoff)
        )


@dataclass(frozen=True, kw_only=True)
class HttpClientApi(RetrySettings):
    """What every HTTP-based ``api`` section (``oai``, ``http``) says about the connection.

    ``username``/``password`` and ``headers`` are values: the pipeline step resolves them from the
    ``password_env`` and ``headers_env`` variables before the harvester sees the section.
    """

    timeout: float = 60
    max_time: float = 3600
    max_page_bytes: int = 64 * 2**20
    max_record_bytes: int = 64 * 2**20
    user_agent: str | None = None
    username: str | None = None
    password: str | None = None
    headers: Mapping[str, str] | None = None


def parse_retry_after(
    value: str | None, *, server_date: str | None = None, now: datetime | None = None
) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date (RFC 9110 section 10.2.3).

    An HTTP date is measured against the server's ``Date`` header when given, so a skewed local
    clock does not stretch or cancel the wait; unparsable values are ignored.
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    reference = now or datetime.now(UTC)
    if server_date:
        try:
            reference = parsedate_to_datetime(server_date)
        except (TypeError, ValueError, IndexError):
            pass
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if reference.tzinfo is None:
        reference = reference.replace(tzinfo=UTC)
    return max(0.0, (when - reference).total_seconds())


class Transport:
    """GETs with retries over one requests session per thread (sessions are not thread-safe)."""

    def __init__(
        self,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        user_agent: str | None = None,
        auth: tuple[str, str] | None = None,
        datasource: str | None = None,
        session_setup: Callable[[requests.Session], None] | None = None,
        max_time: float | None = None,
    ) -> None:
        """``session_setup`` adjusts each new per-thread session (adapters, hooks, redirect limit):
        the file download service mounts its address-checking adapter there. ``max_time`` is the
        wall-clock budget of one request with its retries (None: unbounded), enforced at the
        socket (:mod:`harvesters.deadline`): ``timeout`` bounds one read, this bounds a trickle."""
        self.headers = {
            "User-Agent": user_agent or DEFAULT_USER_AGENT,
            "Accept-Encoding": "gzip, deflate",
            **dict(headers or {}),
        }
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.auth = auth
        self.datasource = datasource
        self.session_setup = session_setup
        self.max_time = max_time
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()
        #: counters for the run summary
        self.requests = 0
        self.retries = 0

    @classmethod
    def from_profile(
        cls, api: HttpClientApi, *, datasource: str | None = None, retry: RetryPolicy | None = None
    ) -> Transport:
        """The transport an ``api`` section describes; ``retry`` (the step's) replaces the
        section's retry fields."""
        return cls(
            headers=api.headers,
            timeout=api.timeout,
            max_time=api.max_time,
            retry=retry or api.retry_policy(),
            user_agent=api.user_agent,
            auth=(api.username, api.password or "") if api.username else None,
            datasource=datasource,
        )

    @property
    def session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers.update(self.headers)
            adapter = DeadlineAdapter()
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            if self.auth:
                session.auth = self.auth
            if self.session_setup is not None:
                self.session_setup(session)
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def close(self) -> None:
        with self._lock:
            for session in self._sessions:
                session.close()
            self._sessions.clear()

    # --- requests -----------------------------------------------------------------------------
    def get(
        self,
        url: str,
        params: Mapping[str, Any] | None = None,
        *,
        expect: Expect = "any",
        error_bodies: bool = False,
        page: str | None = None,
        max_time: float | None = None,
        max_bytes: int | None = None,
    ) -> requests.Response:
        """GET ``url`` with retries; the body is read completely inside the retry loop.

        With ``error_bodies`` a non-retryable 4xx response is returned rather than raised (OAI-PMH
        servers such as InvenioRDM send ``<error>`` documents with HTTP 422). ``page`` only
        locates errors ("set x, page 3"). ``max_time`` replaces the transport's for this call.
        With ``max_bytes`` the body is read streamed (decoded) and a longer one raises
        :class:`ResponseTooLarge` as soon as the cap is passed, holding only the cap in memory.
        """

        def fetch() -> requests.Response:
            if max_bytes is None:
                response = self.session.get(url, params=params, timeout=self.timeout)
                _ = response.content  # read now, so a dropped connection is retried here
                return response
            response = self.session.get(url, params=params, timeout=self.timeout, stream=True)
            try:
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_content(chunk_size=1 << 16):
                    size += len(chunk)
                    if size > max_bytes:
                        head = bytearray()  # the head only: joining all would double the cap
                        for piece in chunks:
                            head += piece[: RAW_HEAD - len(head)]
                            if len(head) >= RAW_HEAD:
                                break
                        chunks.clear()
                        raise ResponseTooLarge(
                            f"the response is larger than {max_bytes} bytes",
                            raw=bytes(head),
                            status=response.status_code,
                            datasource=self.datasource,
                            url=url,
                            page=page,
                        )
                    chunks.append(chunk)
                response._content = b"".join(chunks)
            finally:
                response.close()
            return response

        with deadline(max_time or self.max_time):
            return self._with_retries(fetch, url, expect=expect, error_bodies=error_bodies, page=page)

    def stream(
        self,
        url: str,
        consume: Callable[[requests.Response], T],
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        page: str | None = None,
        max_time: float | None = None,
    ) -> tuple[requests.Response, T | None]:
        """A streaming GET whose body ``consume`` reads, inside the retry loop.

        ``consume`` runs only for 2xx answers and again from the start on each retry (a
        connection dropped or timed out mid-body is retried like any other), so it must start a
        fresh sink each time and discard it when it raises. Exceptions that are neither network
        errors nor from requests (a size cap, a refused content type) end the loop at once.
        Other statuses below 400 (304 to a conditional request) come back with ``None`` and an
        unread body; the response is always closed. ``headers`` are added to the session's.
        ``max_time`` (else the transport's) bounds the whole call, retries included: once it has
        passed, :class:`DeadlinePassed` ends the call, from the socket if need be.
        """
        consumed: dict[str, T] = {}

        def fetch() -> requests.Response:
            response = self.session.get(
                url, params=params, headers=headers, timeout=self.timeout, stream=True
            )
            try:
                if 200 <= response.status_code < 300:
                    consumed["value"] = consume(response)
            finally:
                response.close()
            return response

        with deadline(max_time or self.max_time):
            response = self._with_retries(fetch, url, expect="any", error_bodies=False, page=page)
        return response, consumed.get("value")

    def download(
        self,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        page: str | None = None,
        max_bytes: int | None = None,
        max_time: float | None = None,
    ) -> IO[bytes]:
        """Stream ``url`` into a temporary file (big files stay out of memory); rewound for reading."""

        def spool_body(response: requests.Response) -> IO[bytes]:
            spool = tempfile.SpooledTemporaryFile(max_size=8 * 2**20)  # noqa: SIM115 - returned open
            try:
                written = 0
                for chunk in response.iter_content(chunk_size=1 << 16):
                    written += len(chunk)
                    if max_bytes is not None and written > max_bytes:
                        raise TransportError(
                            f"download exceeds the size cap of {max_bytes} bytes",
                            datasource=self.datasource,
                            url=url,
                            page=page,
                        )
                    spool.write(chunk)
            except BaseException:
                spool.close()
                raise
            spool.seek(0)
            return spool

        _, spool = self.stream(url, spool_body, params=params, page=page, max_time=max_time)
        if spool is None:  # a 1xx/3xx answer without a body we could follow
            raise TransportError("the server sent no file", datasource=self.datasource, url=url, page=page)
        return spool

    def _with_retries(
        self,
        fetch: Callable[[], requests.Response],
        url: str,
        *,
        expect: Expect,
        error_bodies: bool,
        page: str | None,
    ) -> requests.Response:
        attempt = 0
        started = time.monotonic()
        while True:
            self.requests += 1
            failure, retry_after, status = None, None, None
            try:
                response = fetch()
            except RETRYABLE_EXCEPTIONS as exc:
                if expired():
                    raise self._deadline_passed(url, page) from exc
                cannot_connect = _connect_failure(exc)
                if cannot_connect is not None:
                    self._retry_connect(url, cannot_connect, attempt, started, page)
                    attempt += 1
                    continue
                failure = f"{type(exc).__name__}: {_short(exc)}"
            except requests.RequestException as exc:
                raise TransportError(
                    f"request failed: {_short(exc)}", datasource=self.datasource, url=url, page=page
                ) from exc
            else:
                status = response.status_code
                if self.retry.is_retryable_status(status):
                    retry_after = parse_retry_after(
                        response.headers.get("Retry-After"), server_date=response.headers.get("Date")
                    )
                    failure = f"HTTP {status} {response.reason or ''}".strip()
                elif status >= 400:
                    if error_bodies and status < 500:
                        return response
                    raise TransportError(
                        f"HTTP {status} {response.reason or ''}".strip(),
                        status=status,
                        datasource=self.datasource,
                        url=response.url or url,
                        page=page,
                    )
                elif expect != "any" and (title := html_error_title(_peek(response))) is not None:
                    failure = (
                        f"an HTML page ({title!r}) with HTTP {status} where {expect.upper()} was expected"
                    )
                    retry_after = parse_retry_after(
                        response.headers.get("Retry-After"), server_date=response.headers.get("Date")
                    )
                    if attempt >= self.retry.max_retries:
                        raise HtmlErrorPage(
                            f"the server answered {failure}",
                            status=status,
                            datasource=self.datasource,
                            url=response.url or url,
                            page=page,
                        )
                else:
                    return response
            if attempt >= self.retry.max_retries:
                raise TransportError(
                    f"{failure}; gave up after {attempt + 1} attempts",
                    status=status,
                    retry_after=retry_after,
                    datasource=self.datasource,
                    url=url,
                    page=page,
                )
            wait = self.retry.delay(attempt, retry_after)
            left = remaining()
            if left is not None and wait >= left:  # the retry could not end in time
                raise self._deadline_passed(url, page, after=failure)
            logger.warning(
                "%s: %s; retry %d of %d in %.2fs",
                mask_url(url),
                mask_text(failure or ""),
                attempt + 1,
                self.retry.max_retries,
                wait,
            )
            self.retries += 1
            self.retry.sleep(wait)
            attempt += 1

    def _deadline_passed(self, url: str, page: str | None, *, after: str | None = None) -> DeadlinePassed:
        allowed = budget()
        limit = f"its time limit of {allowed:g} s" if allowed is not None else "its time limit"
        return DeadlinePassed(
            f"the transfer did not end within {limit}" + (f" (last failure: {after})" if after else ""),
            datasource=self.datasource,
            url=url,
            page=page,
        )

    def _retry_connect(self, url: str, reason: str, attempt: int, started: float, page: str | None) -> None:
        """Wait before the next try of a connection that could not be opened, or give up."""
        if attempt >= min(self.retry.max_connect_retries, self.retry.max_retries):
            raise ConnectFailed(
                f"cannot connect to {_host_port(url)} ({reason}; {attempt + 1} attempt"
                f"{'s' if attempt else ''} in "
                f"{time.monotonic() - started:.0f}s): check that the server is running and that the "
                "profile's address is right",
                datasource=self.datasource,
                url=url,
                page=page,
            )
        wait = self.retry.connect_backoff * (2**attempt)
        logger.info(
            "%s: cannot connect (%s); retry %d of %d in %.2fs",
            mask_url(url),
            reason,
            attempt + 1,
            self.retry.max_connect_retries,
            wait,
        )
        self.retries += 1
        self.retry.sleep(wait)


def _connect_failure(exc: BaseException) -> str | None:
    """Why a connection could not be opened (``connection refused``, ``unknown host``…), or None
    when the failure came later (a timeout, a connection dropped mid-answer) or is not known."""
    if isinstance(exc, requests.exceptions.ConnectTimeout) or not isinstance(exc, requests.ConnectionError):
        return None
    import urllib3.exceptions

    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError):
            return "connection refused"
        if isinstance(current, urllib3.exceptions.NameResolutionError):
            return "unknown host"
        if isinstance(current, OSError) and current.errno in _UNREACHABLE_ERRNOS:
            return current.strerror.lower() if current.strerror else "unreachable"
        pending.extend([getattr(current, "reason", None), current.__cause__, current.__context__])
        pending.extend(arg for arg in current.args if isinstance(arg, BaseException))
    return None


_UNREACHABLE_ERRNOS = frozenset({errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH})


def _host_port(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or {"https": 443, "http": 80}.get(parts.scheme, "")
    return f"{parts.hostname}:{port}" if port else str(parts.hostname)


def _peek(response: requests.Response) -> bytes:
    return response.content[:65536]


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) < 300 else text[:297] + "..."
