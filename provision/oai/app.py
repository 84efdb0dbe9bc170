"""The OAI-PMH 2.0 endpoint as a plain WSGI application (PEP 3333; no framework).

Why plain WSGI: six verbs over one URL need no routing or templating, and a WSGI callable runs
unchanged under ``contentcloud serve`` (waitress), gunicorn (``gunicorn
'contentcloud.web:app_from_environment()'``) or any other WSGI server, and is tested by calling it
directly. Responses are written by lxml's incremental writer (``etree.xmlfile``), so every value
from the store, the request or the settings is escaped by construction; the payloads (and
provenance origins) that the refresh stored already serialized by lxml are copied in as they are.

Protocol behaviour (section numbers of the OAI-PMH 2.0 specification):

* GET and POST (``application/x-www-form-urlencoded``) (3.1.1); HEAD answers as GET without a body.
* Errors (3.6) are HTTP 200 OAI responses; ``<request>`` echoes the arguments, except after
  badVerb/badArgument where it carries the base URL only (3.2). Oversized arguments (a query
  string or a POST body over ``MAX_ARGUMENT_BYTES``) are such a badArgument too, and the app never
  reads more of a body than that bound.
* responseDate and datestamps are UTC with ``Z``, granularity seconds; day-granularity from/until
  are accepted (3.3).
* Flow control (3.5): signed stateless resumption tokens (see :mod:`provision.oai.tokens`),
  completeListSize, cursor and an expirationDate a day and an hour away; the last page carries
  an empty token. Overload answers 503 with Retry-After (3.1.2.2).
* Compression (gzip, deflate) when the client asks with Accept-Encoding, listed in Identify.
* Any unexpected failure is a plain-text 500 whose traceback goes to the log, never the client.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import re
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl
from wsgiref.util import request_uri

from lxml import etree

from mdstore.redact import mask_url
from provision.oai.errors import (
    NO_ECHO_CODES,
    BadArgument,
    BadResumptionToken,
    CannotDisseminateFormat,
    IdDoesNotExist,
    NoMetadataFormats,
    NoRecordsMatch,
    NoSetHierarchy,
    OAIError,
)
from provision.oai.formats import OAI_NS, PROVENANCE_NS, XSI_NS
from provision.oai.index import ListedRecord, PublisherIndex, Snapshot, SnapshotGone
from provision.oai.limiter import ConcurrencyLimiter
from provision.oai.protocol import (
    GRANULARITY,
    OAIRequest,
    format_datestamp,
    parse_date_arg,
    parse_request,
)
from provision.oai.tokens import TokenCodec, TokenState

logger = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict, StartResponse], Iterable[bytes]]

#: the most bytes of arguments (query string or POST body) a request may carry: a verb, a prefix,
#: dates, a set, an identifier or a token fit in a few hundred; more is refused as badArgument
MAX_ARGUMENT_BYTES = 65536
OAI_SCHEMA = "http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd"
IDENTIFIER_NS = "http://www.openarchives.org/OAI/2.0/oai-identifier"
_XML_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?)?\Z")
OAI_DC_NS = "http://www.openarchives.org/OAI/2.0/oai_dc/"
DC_NS = "http://purl.org/dc/elements/1.1/"
_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
_SCHEMA_LOCATION = f"{{{XSI_NS}}}schemaLocation"


class _Writer:
    """lxml's incremental writer over a buffer: elements of the OAI namespace unless named with a
    ``{namespace}``; text and attribute values are escaped by lxml."""

    def __init__(self, xf: Any, buffer: io.BytesIO) -> None:
        self.xf = xf
        self.buffer = buffer

    def element(
        self, name: str, attrib: Mapping[str, str] | None = None, nsmap: dict[str | None, str] | None = None
    ) -> AbstractContextManager[Any]:
        return self.xf.element(
            name if name.startswith("{") else f"{{{OAI_NS}}}{name}", attrib or {}, nsmap=nsmap
        )

    def leaf(self, name: str, text: str = "", attrib: Mapping[str, str] | None = None) -> None:
        with self.element(name, attrib):
            if text:
                self.xf.write(text)

    def serialized(self, xml: bytes | str) -> None:
        """Copy in XML the refresh serialized (a payload, a provenance origin) as it is."""
        self.xf.flush()
        self.buffer.write(xml.encode() if isinstance(xml, str) else xml)


#: what a verb answers once its queries have succeeded: it writes its element into the response
Content = Callable[[_Writer], None]


@contextmanager
def _written() -> Iterator[tuple[_Writer, io.BytesIO]]:
    buffer = io.BytesIO()
    buffer.write(_DECLARATION)
    with etree.xmlfile(buffer, encoding="utf-8") as xf:
        yield _Writer(xf, buffer), buffer


@dataclass(frozen=True)
class OAIConfig:
    """Repository description and limits of the endpoint (built from settings by the app layer)."""

    repository_name: str = "contentcloud"
    admin_emails: tuple[str, ...] = ("oai-admin@contentcloud.local",)
    repository_identifier: str = "contentcloud.local"
    base_url: str | None = None  # the public URL; None: the URL of each request
    records_per_page: int = 100
    identifiers_per_page: int = 500
    sets_per_page: int = 100
    token_lifetime: timedelta = timedelta(hours=25)
    max_in_flight: int = 8
    max_waiting: int = 64
    wait_timeout: float = 20.0
    retry_after: int = 10


class _HttpError(Exception):
    def __init__(self, status: str, message: str, headers: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or []


class OAIApp:
    """The WSGI callable. Thread-safe; one instance serves every request of a process."""

    def __init__(
        self,
        index: PublisherIndex,
        secret: bytes,
        config: OAIConfig | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.index = index
        self.config = config or OAIConfig()
        self.codec = TokenCodec(secret, self.config.token_lifetime)
        self.limiter = ConcurrencyLimiter(
            self.config.max_in_flight, self.config.max_waiting, self.config.wait_timeout
        )
        self.clock = clock or (lambda: datetime.now(UTC))
        self.id_prefix = f"oai:{self.config.repository_identifier}:"

    # --- WSGI ---------------------------------------------------------------------------------
    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        if method not in ("GET", "HEAD", "POST"):
            return _plain(
                start_response,
                "405 Method Not Allowed",
                "OAI-PMH answers GET and POST only.\n",
                [("Allow", "GET, HEAD, POST")],
            )
        if environ.get("PATH_INFO", "") not in ("", "/"):
            return _plain(
                start_response, "404 Not Found", "Not found: the OAI-PMH endpoint is the base URL itself.\n"
            )
        if not self.limiter.acquire():
            return _plain(
                start_response,
                "503 Service Unavailable",
                "The repository is busy; retry after the number of seconds in Retry-After.\n",
                [("Retry-After", str(self.config.retry_after))],
            )
        try:
            body = self.respond(environ)
        except _HttpError as exc:
            return _plain(start_response, exc.status, f"{exc}\n", exc.headers)
        except Exception:
            ref = uuid.uuid4().hex[:12]
            logger.exception(
                "OAI-PMH request failed (ref %s): %s %s", ref, method, environ.get("QUERY_STRING", "")
            )
            return _plain(
                start_response,
                "500 Internal Server Error",
                f"The repository failed to answer this request; the error was logged (ref {ref}).\n",
            )
        finally:
            self.limiter.release()
        headers = [("Content-Type", "text/xml; charset=utf-8"), ("Vary", "Accept-Encoding")]
        coding = choose_encoding(environ.get("HTTP_ACCEPT_ENCODING", ""))
        if coding == "gzip":
            body = gzip.compress(body, compresslevel=6, mtime=0)
        elif coding == "deflate":
            body = zlib.compress(body, 6)
        if coding:
            headers.append(("Content-Encoding", coding))
        headers.append(("Content-Length", str(len(body))))
        start_response("200 OK", headers)
        return [] if method == "HEAD" else [body]

    def respond(self, environ: dict) -> bytes:
        """The OAI-PMH response document for one request (OAI errors included)."""
        now = self.clock()
        base_url = self.base_url(environ)
        request: OAIRequest | None = None
        try:
            pairs = self._arguments(environ)
            if pairs is None:
                raise BadArgument("the arguments are not valid UTF-8 form encoding")
            request = parse_request(pairs)
            content = self._dispatch(request, now, base_url)
            echo = {"verb": request.verb, **request.args}
        except OAIError as exc:
            echo = (
                {} if exc.code in NO_ECHO_CODES or request is None else {"verb": request.verb, **request.args}
            )
            content = _error(exc)
        with (
            _written() as (out, buffer),
            out.element(
                "OAI-PMH", {_SCHEMA_LOCATION: f"{OAI_NS} {OAI_SCHEMA}"}, nsmap={None: OAI_NS, "xsi": XSI_NS}
            ),
        ):
            out.leaf("responseDate", format_datestamp(now))
            out.leaf("request", base_url, echo)
            content(out)
        buffer.write(b"\n")
        return buffer.getvalue()

    def base_url(self, environ: dict) -> str:
        if self.config.base_url:
            return self.config.base_url
        return request_uri(environ, include_query=False)

    @staticmethod
    def _arguments(environ: dict) -> list[tuple[str, str]] | None:
        """The request's arguments with repetitions kept; None when they are not decodable."""
        if environ.get("REQUEST_METHOD", "GET").upper() == "POST":
            ctype = environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
            if ctype != "application/x-www-form-urlencoded":
                raise _HttpError(
                    "415 Unsupported Media Type",
                    "OAI-PMH POST requests must be application/x-www-form-urlencoded.",
                )
            try:
                text = _read_body(environ).decode("ascii")
            except UnicodeDecodeError:
                return None
        else:
            # WSGI hands the query string over as latin-1 decoded bytes
            text = environ.get("QUERY_STRING", "")
            if len(text) > MAX_ARGUMENT_BYTES:
                raise _too_long(len(text))
            try:
                text.encode("ascii")
            except UnicodeEncodeError:
                return None
        try:
            return parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
        except (UnicodeDecodeError, ValueError):
            return None

    # --- verbs --------------------------------------------------------------------------------
    def _dispatch(self, request: OAIRequest, now: datetime, base_url: str) -> Content:
        verb = request.verb
        if verb == "Identify":
            return self._identify(base_url)
        if verb == "ListMetadataFormats":
            return self._list_metadata_formats(request)
        if verb == "ListSets":
            return self._list_sets(request, now)
        if verb == "GetRecord":
            return self._get_record(request)
        return self._list(request, now)

    def _identify(self, base_url: str) -> Content:
        snapshot = self.index.current()
        earliest = (snapshot.info.get("earliest") if snapshot else None) or "1970-01-01T00:00:00Z"
        sample = (self.index.sample_id(snapshot) if snapshot else None) or "demo::0123456789abcdef"
        config = self.config

        def identify(out: _Writer) -> None:
            with out.element("Identify"):
                out.leaf("repositoryName", config.repository_name)
                out.leaf("baseURL", base_url)
                out.leaf("protocolVersion", "2.0")
                for email in config.admin_emails:
                    out.leaf("adminEmail", email)
                out.leaf("earliestDatestamp", earliest)
                out.leaf("deletedRecord", "persistent")
                out.leaf("granularity", GRANULARITY)
                out.leaf("compression", "gzip")
                out.leaf("compression", "deflate")
                with out.element("description"):
                    ns = f"{{{IDENTIFIER_NS}}}"
                    with out.element(
                        f"{ns}oai-identifier",
                        {
                            _SCHEMA_LOCATION: f"{IDENTIFIER_NS} http://www.openarchives.org/OAI/2.0/oai-identifier.xsd"
                        },
                        nsmap={None: IDENTIFIER_NS, "xsi": XSI_NS},
                    ):
                        out.leaf(f"{ns}scheme", "oai")
                        out.leaf(f"{ns}repositoryIdentifier", config.repository_identifier)
                        out.leaf(f"{ns}delimiter", ":")
                        out.leaf(f"{ns}sampleIdentifier", self.id_prefix + sample)

        return identify

    def _record_id(self, identifier: str) -> str:
        if not identifier.startswith(self.id_prefix) or len(identifier) == len(self.id_prefix):
            raise IdDoesNotExist(
                f"{identifier!r} is not an identifier of this repository "
                f"(they read {self.id_prefix}<datasource>::<md5>)"
            )
        return identifier[len(self.id_prefix) :]

    def _list_metadata_formats(self, request: OAIRequest) -> Content:
        snapshot = self.index.current()
        formats = dict(snapshot.formats) if snapshot else {}
        formats.setdefault(
            "oai_dc",
            {
                "schema": "http://www.openarchives.org/OAI/2.0/oai_dc.xsd",
                "namespace": "http://www.openarchives.org/OAI/2.0/oai_dc/",
            },
        )
        identifier = request.args.get("identifier")
        prefixes = sorted(formats)
        if identifier is not None:
            record_id = self._record_id(identifier)
            item = self.index.item(snapshot, record_id) if snapshot else None
            if item is None:
                raise IdDoesNotExist(f"no item {identifier!r} in this repository")
            prefixes = [p for p in item.prefixes if p in formats]
            if not prefixes:
                raise NoMetadataFormats(f"item {identifier!r} has no metadata formats")

        def list_metadata_formats(out: _Writer) -> None:
            with out.element("ListMetadataFormats"):
                for prefix in prefixes:
                    with out.element("metadataFormat"):
                        out.leaf("metadataPrefix", prefix)
                        out.leaf("schema", formats[prefix]["schema"])
                        out.leaf("metadataNamespace", formats[prefix]["namespace"])

        return list_metadata_formats

    def _list_sets(self, request: OAIRequest, now: datetime) -> Content:
        if request.token:
            state = self._state(request, now)
            snapshot = self._token_snapshot(state)
            after, cursor, total = state.after[0] if state.after else "", state.cursor, state.total
        else:
            snapshot = self.index.current()
            after, cursor, total = "", 0, len(snapshot.sets) if snapshot else 0
        sets = snapshot.sets if snapshot else []
        if not sets:
            raise NoSetHierarchy("this repository has no sets yet")
        page = [s for s in sets if s["spec"] > after][: self.config.sets_per_page + 1]
        more = len(page) > self.config.sets_per_page
        page = page[: self.config.sets_per_page]
        token: Content | None = None
        if more:
            state = TokenState(
                "ListSets",
                None,
                None,
                None,
                None,
                snapshot.id,
                snapshot.nonce,
                (page[-1]["spec"],),
                cursor + len(page),
                total,
                self.codec.expiry(now),
            )
            token = self._token_element(state, cursor, snapshot, now)
        elif request.token:
            token = _last_token(total, cursor)

        def list_sets(out: _Writer) -> None:
            with out.element("ListSets"):
                for entry in page:
                    with out.element("set"):
                        out.leaf("setSpec", entry["spec"])
                        out.leaf("setName", entry["name"])
                        if entry.get("description"):
                            _set_description(out, entry["description"])
                if token:
                    token(out)

        return list_sets

    def _get_record(self, request: OAIRequest) -> Content:
        prefix = request.args["metadataPrefix"]
        record_id = self._record_id(request.args["identifier"])
        snapshot = self.index.current()
        item = self.index.item(snapshot, record_id) if snapshot else None
        if item is None:
            raise IdDoesNotExist(f"no item {request.args['identifier']!r} in this repository")
        row = self.index.record(snapshot, prefix, record_id) if prefix in item.prefixes else None
        if row is None:
            raise CannotDisseminateFormat(
                f"item {request.args['identifier']!r} is not available as {prefix!r}"
            )

        def get_record(out: _Writer) -> None:
            with out.element("GetRecord"):
                self._record(out, row, prefix, with_metadata=True)

        return get_record

    def _list(self, request: OAIRequest, now: datetime) -> Content:
        with_metadata = request.verb == "ListRecords"
        size = self.config.records_per_page if with_metadata else self.config.identifiers_per_page
        if request.token:
            state = self._state(request, now)
            snapshot = self._token_snapshot(state)
            prefix, set_spec = state.prefix or "", state.set_spec
            from_ = parse_date_arg("from", state.from_) if state.from_ else None
            until = parse_date_arg("until", state.until) if state.until else None
            after: tuple[str, str] | None = (
                (state.after[0], state.after[1]) if len(state.after) == 2 else None
            )
            cursor, total = state.cursor, state.total
        else:
            prefix, set_spec = request.args["metadataPrefix"], request.args.get("set")
            from_, until = request.from_, request.until
            snapshot = self.index.current()
            if snapshot is None:
                if prefix == "oai_dc":
                    raise NoRecordsMatch("the repository holds no records yet")
                raise CannotDisseminateFormat(
                    f"metadataPrefix {prefix!r} is not supported by this repository"
                )
            if prefix not in snapshot.formats:
                raise CannotDisseminateFormat(
                    f"metadataPrefix {prefix!r} is not supported by this repository "
                    f"(supported: {', '.join(sorted(snapshot.formats))})"
                )
            if set_spec is not None and not snapshot.sets:
                raise NoSetHierarchy("this repository has no sets")
            after, cursor = None, 0
            total = self.index.count(
                snapshot, prefix, set_spec, from_.bound if from_ else None, until.bound if until else None
            )
            if total == 0:
                raise NoRecordsMatch("no records match these arguments")
        try:
            rows = self.index.page(
                snapshot,
                prefix,
                set_spec,
                after,
                from_.bound if from_ else None,
                until.bound if until else None,
                size + 1,
                with_payload=with_metadata,
            )
        except SnapshotGone as exc:
            raise BadResumptionToken(
                "the list this token belongs to is no longer kept; start the harvest again"
            ) from exc
        if not rows:
            raise NoRecordsMatch("no records match these arguments")
        more = len(rows) > size
        rows = rows[:size]
        token: Content | None = None
        if more:
            state = TokenState(
                request.verb,
                prefix,
                set_spec,
                from_.text if from_ else None,
                until.text if until else None,
                snapshot.id,
                snapshot.nonce,
                (rows[-1].datestamp, rows[-1].id),
                cursor + len(rows),
                total,
                self.codec.expiry(now),
            )
            token = self._token_element(state, cursor, snapshot, now)
        elif request.token:
            token = _last_token(total, cursor)

        def list_items(out: _Writer) -> None:
            with out.element(request.verb):
                for row in rows:
                    if with_metadata:
                        self._record(out, row, prefix, with_metadata=True)
                    else:
                        self._header(out, row)
                if token:
                    token(out)

        return list_items

    # --- tokens -------------------------------------------------------------------------------
    def _state(self, request: OAIRequest, now: datetime) -> TokenState:
        state = self.codec.decode(request.token or "", now)
        if state.verb != request.verb:
            raise BadResumptionToken(
                f"this resumptionToken continues a {state.verb} list, not {request.verb}"
            )
        return state

    def _token_snapshot(self, state: TokenState) -> Snapshot:
        snapshot = self.index.snapshot(state.snapshot)
        if snapshot is None or snapshot.nonce != state.nonce:
            raise BadResumptionToken(
                "the list this token belongs to is no longer kept; start the harvest again"
            )
        return snapshot

    def _token_element(self, state: TokenState, cursor: int, snapshot: Snapshot, now: datetime) -> Content:
        # a retired snapshot must outlive every token that names it
        self.index.keep_alive(snapshot, state.expiration + timedelta(hours=1))
        attrib = {
            "completeListSize": str(state.total),
            "cursor": str(cursor),
            "expirationDate": format_datestamp(state.expiration),
        }
        token = self.codec.encode(state)
        return lambda out: out.leaf("resumptionToken", token, attrib)

    # --- records ------------------------------------------------------------------------------
    def _header(self, out: _Writer, row: ListedRecord) -> None:
        with out.element("header", {"status": "deleted"} if row.deleted else None):
            out.leaf("identifier", self.id_prefix + row.id)
            out.leaf("datestamp", row.datestamp)
            for spec in json.loads(row.sets):
                out.leaf("setSpec", spec)

    def _record(self, out: _Writer, row: ListedRecord, prefix: str, *, with_metadata: bool) -> None:
        with out.element("record"):
            self._header(out, row)
            if row.deleted or not with_metadata or row.payload is None:
                return
            with out.element("metadata"):
                out.serialized(row.payload)
            if row.about:
                _provenance(out, row.about, prefix)


def _error(exc: OAIError) -> Content:
    return lambda out: out.leaf("error", exc.message, {"code": exc.code})


def _last_token(total: int, cursor: int) -> Content:
    """The empty token of a list's last page."""
    return lambda out: out.leaf(
        "resumptionToken", "", {"completeListSize": str(total), "cursor": str(cursor)}
    )


def _set_description(out: _Writer, description: str) -> None:
    with (
        out.element("setDescription"),
        out.element(
            f"{{{OAI_DC_NS}}}dc",
            {_SCHEMA_LOCATION: f"{OAI_DC_NS} http://www.openarchives.org/OAI/2.0/oai_dc.xsd"},
            nsmap={"oai_dc": OAI_DC_NS, "dc": DC_NS},
        ),
    ):
        out.leaf(f"{{{DC_NS}}}description", description)


def _provenance(out: _Writer, about_json: str, prefix: str) -> None:
    """The provenance ``<about>`` (OAI-PMH provenance guidelines) of a re-exposed record; its
    ``origin`` is the harvested record's own provenance, stored serialized by the refresh."""
    about = json.loads(about_json)
    harvested = about.get("harvestDate") or "1970-01-01T00:00:00Z"
    datestamp = str(about.get("datestamp") or "")
    if not _XML_DATE.match(datestamp):
        datestamp = harvested
    altered = "false" if prefix == about.get("nativePrefix") else "true"
    origin = about.get("origin") or ""
    ns = f"{{{PROVENANCE_NS}}}"
    with (
        out.element("about"),
        out.element(
            f"{ns}provenance",
            {_SCHEMA_LOCATION: f"{PROVENANCE_NS} http://www.openarchives.org/OAI/2.0/provenance.xsd"},
            nsmap={None: PROVENANCE_NS, "xsi": XSI_NS},
        ),
        out.element(f"{ns}originDescription", {"harvestDate": harvested, "altered": altered}),
    ):
        out.leaf(f"{ns}baseURL", mask_url(str(about.get("baseURL") or "")) or "")
        out.leaf(f"{ns}identifier", str(about.get("identifier") or ""))
        out.leaf(f"{ns}datestamp", datestamp)
        out.leaf(f"{ns}metadataNamespace", str(about.get("metadataNamespace") or ""))
        if origin:
            out.serialized(origin)


def choose_encoding(accept: str) -> str | None:
    """gzip or deflate when the client accepts it (q > 0), gzip preferred; None for identity."""
    accepted: dict[str, float] = {}
    for part in accept.split(","):
        name, _, params = part.strip().partition(";")
        q = 1.0
        match = re.search(r"q\s*=\s*([0-9.]+)", params)
        if match:
            try:
                q = float(match.group(1))
            except ValueError:
                q = 0.0
        if name.strip():
            accepted[name.strip().lower()] = q
    for coding in ("gzip", "deflate"):
        q = accepted.get(coding, accepted.get("*", 0.0) if coding == "gzip" else 0.0)
        if q > 0:
            return coding
    return None


def _read_body(environ: dict) -> bytes:
    """A POST body of at most ``MAX_ARGUMENT_BYTES``, read no further than that: a declared
    length over the bound is refused before reading, and a body without a length (chunked, where
    the server says the input is terminated) is read up to one byte past the bound."""
    stream = environ["wsgi.input"]
    declared = environ.get("CONTENT_LENGTH")
    if declared:
        try:
            length = int(declared)
        except ValueError:
            raise _HttpError("400 Bad Request", "Malformed Content-Length.") from None
        if length > MAX_ARGUMENT_BYTES:
            raise _too_long(length)
        return stream.read(length) if length > 0 else b""
    if environ.get("wsgi.input_terminated"):
        raw = stream.read(MAX_ARGUMENT_BYTES + 1)
        if len(raw) > MAX_ARGUMENT_BYTES:
            raise _too_long(None)
        return raw
    return b""


def _too_long(size: int | None) -> BadArgument:
    limit = f"the {MAX_ARGUMENT_BYTES} bytes an OAI-PMH request may carry"
    if size is None:
        return BadArgument(f"the request's arguments are longer than {limit}")
    return BadArgument(f"the request's arguments are {size} bytes long, more than {limit}")


def _plain(
    start_response: StartResponse, status: str, text: str, headers: list[tuple[str, str]] | None = None
) -> list[bytes]:
    body = text.encode("utf-8")
    start_response(
        status,
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))), *(headers or [])],
    )
    return [body]
