"""A scripted OAI-PMH 2.0 repository on 127.0.0.1 that misbehaves on request.

Records live in memory (``repo.items``) and are listed in datestamp order, ``page_size`` per
page, with opaque resumption tokens bound to an *epoch* (bumping it expires every token, as a
restarted server does). Faults are scheduled per page number and consumed one per request of
that page, so a test knows exactly what the harvester met:

* transient: ``503`` (Retry-After in seconds), ``503-date`` (Retry-After as an HTTP date),
  ``500``, ``429``, ``drop`` (connection closed without an answer), ``truncate`` (half a body),
  ``html`` (an HTML error page with 200), ``slow`` (answers after ``slow_seconds``), ``expire``
  (this one request is refused with badResumptionToken, but the token stays good: sent again, it
  works, as on servers whose token store lags or whose nodes do not share tokens), ``expire-all``
  (every token handed out so far expires for good before answering, as on a restarted server);
* permanent page properties (``repo.page_traits``): ``badchars`` (control characters in a
  title), ``broken-record`` (one record that is not well-formed), ``loop`` (the page hands out
  the token it was asked with).

``expire_every`` = N makes every token expire after N pages of its list: the token of page N + 1
is refused for good (also when sent again), so each list, and each date window a harvester falls
back to, yields N pages and then fails; 1 refuses every token ever handed out.

``repo.huge_records`` makes the first record of a page hostile: its title is that many bytes,
generated while the page is streamed (gzip-compressed when the client accepts it, chunked), so
a test can serve a 200 MB record without holding it.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

from tests.servers._http import Handler, serve

SECONDS = "YYYY-MM-DDThh:mm:ssZ"
DAY = "YYYY-MM-DD"


@dataclass
class Item:
    identifier: str
    datestamp: datetime
    title: str
    deleted: bool = False
    sets: tuple[str, ...] = ()


@dataclass
class FaultyRepository:
    page_size: int = 10
    granularity: str = SECONDS
    now: datetime = datetime(2021, 6, 1, 12, 0, 0, tzinfo=UTC)
    slow_seconds: float = 1.0
    items: dict[str, Item] = field(default_factory=dict)
    faults: dict[int, list[str]] = field(default_factory=dict)
    page_traits: dict[int, set[str]] = field(default_factory=dict)
    epoch: int = 1
    requests: list[dict[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: seconds every list page takes (to have time to kill a harvester mid-run)
    page_delay: float = 0.0
    #: identifiers that are listed but answer idDoesNotExist to GetRecord (dspace-mit does that)
    unreachable: set[str] = field(default_factory=set)
    #: tokens die after this many pages of their list (0: tokens live as long as the epoch)
    expire_every: int = 0
    #: page number -> size in bytes of the title of the page's first record (streamed)
    huge_records: dict[int, int] = field(default_factory=dict)

    @classmethod
    def with_records(
        cls,
        n: int,
        *,
        deleted: set[int] = frozenset(),
        sets: dict[int, tuple[str, ...]] | None = None,
        start: datetime = datetime(2020, 1, 1, tzinfo=UTC),
        **kwargs,
    ) -> FaultyRepository:
        repo = cls(**kwargs)
        for i in range(n):
            repo.add(
                f"oai:test:{i:05d}",
                start + timedelta(minutes=i),
                f"Title {i}",
                deleted=i in deleted,
                sets=(sets or {}).get(i, ()),
            )
        return repo

    def add(
        self,
        identifier: str,
        datestamp: datetime,
        title: str,
        *,
        deleted: bool = False,
        sets: tuple[str, ...] = (),
    ) -> None:
        self.items[identifier] = Item(identifier, datestamp, title, deleted, sets)

    def schedule(self, page: int, *faults: str) -> None:
        self.faults.setdefault(page, []).extend(faults)

    def list_requests(self) -> list[dict[str, str]]:
        return [r for r in self.requests if r.get("verb") in ("ListRecords", "ListIdentifiers")]

    # --- listing ------------------------------------------------------------------------------
    def select(self, spec: str | None, from_: str | None, until: str | None) -> list[Item]:
        chosen = sorted(self.items.values(), key=lambda it: (it.datestamp, it.identifier))
        if spec:
            chosen = [it for it in chosen if spec in it.sets]
        if from_:
            start = _parse(from_)
            chosen = [it for it in chosen if it.datestamp >= start]
        if until:
            end = _parse(until, end=True)
            chosen = [it for it in chosen if it.datestamp <= end]
        return chosen

    def stamp(self, value: datetime) -> str:
        return value.strftime("%Y-%m-%d" if self.granularity == DAY else "%Y-%m-%dT%H:%M:%SZ")


def _parse(text: str, *, end: bool = False) -> datetime:
    if len(text) == 10:
        day = datetime.fromisoformat(text).replace(tzinfo=UTC)
        return day + timedelta(days=1, microseconds=-1) if end else day
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _encode_token(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, sort_keys=True).encode()).decode()


def _decode_token(token: str) -> dict | None:
    try:
        return json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, UnicodeDecodeError):
        return None


class FaultHandler(Handler):
    server_version = "FaultyOAI/1.0"

    @property
    def repo(self) -> FaultyRepository:
        return self.server.state

    def do_GET(self) -> None:
        params = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query, keep_blank_values=True).items()}
        with self.repo.lock:
            self.repo.requests.append(params)
        verb = params.get("verb")
        if verb == "Identify":
            self.reply(self.identify())
        elif verb in ("ListRecords", "ListIdentifiers"):
            self.list(verb, params)
        elif verb == "GetRecord":
            self.get_record(params)
        else:
            self.reply(self.error("badVerb", f"illegal verb {verb!r}", params))

    # --- answers ------------------------------------------------------------------------------
    def envelope(self, inner: str, params: dict[str, str]) -> str:
        attrs = "".join(f' {k}="{escape(v, {chr(34): "&quot;"})}"' for k, v in params.items())
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            f"<responseDate>{self.repo.now.strftime('%Y-%m-%dT%H:%M:%SZ')}</responseDate>"
            f"<request{attrs}>http://127.0.0.1/oai</request>{inner}</OAI-PMH>"
        )

    def error(self, code: str, message: str, params: dict[str, str]) -> str:
        return self.envelope(f'<error code="{code}">{escape(message)}</error>', params)

    def identify(self) -> str:
        return self.envelope(
            "<Identify><repositoryName>Faulty</repositoryName><baseURL>http://127.0.0.1/oai</baseURL>"
            "<protocolVersion>2.0</protocolVersion><adminEmail>a@b.c</adminEmail>"
            "<earliestDatestamp>2000-01-01T00:00:00Z</earliestDatestamp><deletedRecord>persistent</deletedRecord>"
            f"<granularity>{self.repo.granularity}</granularity></Identify>",
            {"verb": "Identify"},
        )

    def record_xml(
        self, item: Item, *, header_only: bool = False, broken: bool = False, badchars: bool = False
    ) -> str:
        status = ' status="deleted"' if item.deleted else ""
        sets = "".join(f"<setSpec>{s}</setSpec>" for s in item.sets)
        header = (
            f"<header{status}><identifier>{item.identifier}</identifier>"
            f"<datestamp>{self.repo.stamp(item.datestamp)}</datestamp>{sets}</header>"
        )
        if header_only:
            return header
        if item.deleted:
            return f"<record>{header}</record>"
        title = escape(item.title)
        if badchars:
            title = title.replace(" ", "\x0b \x01", 1) + "&#x1;"
        if broken:
            title = item.title + " <unclosed & broken"
        return (
            f"<record>{header}<metadata><oai_dc:dc "
            'xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" '
            f'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>{title}</dc:title>'
            f"<dc:identifier>{item.identifier}</dc:identifier></oai_dc:dc></metadata></record>"
        )

    def list(self, verb: str, params: dict[str, str]) -> None:
        repo = self.repo
        token = params.get("resumptionToken")
        if token is not None:
            state = _decode_token(token)
            page_no = (state or {}).get("o", 0) // repo.page_size + 1
        else:
            state, page_no = None, 1
        fault = self.take_fault(page_no)
        if fault and self.apply_fault(fault):
            return
        if fault == "expire" or (
            token is not None
            and (
                state is None
                or state.get("e") != repo.epoch
                or (repo.expire_every and state.get("n", 0) >= repo.expire_every)
            )
        ):
            self.reply(
                self.error("badResumptionToken", "the token is invalid or expired", params), status=200
            )
            return
        if token is None:
            if params.get("metadataPrefix") != "oai_dc":
                self.reply(self.error("cannotDisseminateFormat", "only oai_dc", params))
                return
            state = {
                "e": repo.epoch,
                "o": 0,
                "s": params.get("set"),
                "f": params.get("from"),
                "u": params.get("until"),
                "n": 0,
            }
        chosen = repo.select(state["s"], state["f"], state["u"])
        if not chosen:
            self.reply(self.error("noRecordsMatch", "no records", params))
            return
        offset = state["o"]
        page = chosen[offset : offset + repo.page_size]
        traits = repo.page_traits.get(page_no, set())
        if repo.page_delay:
            time.sleep(repo.page_delay)
        body = []
        huge = repo.huge_records.get(page_no, 0)
        for index, item in enumerate(page):
            body.append(
                self.record_xml(
                    item,
                    header_only=verb == "ListIdentifiers",
                    broken="broken-record" in traits and index == 1 and not item.deleted,
                    badchars="badchars" in traits and index == 0,
                )
            )
            if huge and index == 0:
                body[0] = body[0].replace(f"<dc:title>{escape(item.title)}", "<dc:title>\0", 1)
        if "loop" in traits and token is not None:
            next_token = token
        elif offset + repo.page_size < len(chosen):
            next_token = _encode_token({**state, "o": offset + repo.page_size, "n": state.get("n", 0) + 1})
        else:
            next_token = ""
        body.append(
            f'<resumptionToken completeListSize="{len(chosen)}" cursor="{offset}">{next_token}'
            "</resumptionToken>"
        )
        text = self.envelope(f"<{verb}>{''.join(body)}</{verb}>", params)
        if huge:
            head, tail = text.split("\0", 1)
            self.stream_reply(head.encode(), huge, tail.encode())
            return
        self.reply(text)

    def stream_reply(self, head: bytes, filler: int, tail: bytes) -> None:
        """``head``, ``filler`` bytes of ``x`` made 1 MiB at a time, ``tail``: never held whole."""
        compress = "gzip" in (self.headers.get("Accept-Encoding") or "")
        encoder = zlib.compressobj(1, zlib.DEFLATED, 31) if compress else None
        self.send_response(200)
        self.send_header("Content-Type", "text/xml; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        if compress:
            self.send_header("Content-Encoding", "gzip")
        self.end_headers()

        def send(data: bytes) -> None:
            if encoder is not None:
                data = encoder.compress(data)
            if data:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

        block = b"x" * (1 << 20)
        try:
            send(head)
            for start in range(0, filler, len(block)):
                send(block[: min(len(block), filler - start)])
            send(tail)
            if encoder is not None:
                rest = encoder.flush()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(rest), rest))
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def get_record(self, params: dict[str, str]) -> None:
        item = self.repo.items.get(params.get("identifier", ""))
        if item is None or item.identifier in self.repo.unreachable:
            self.reply(self.error("idDoesNotExist", "no such identifier", params))
            return
        self.reply(self.envelope(f"<GetRecord>{self.record_xml(item)}</GetRecord>", params))

    # --- faults -------------------------------------------------------------------------------
    def take_fault(self, page_no: int) -> str | None:
        with self.repo.lock:
            queue = self.repo.faults.get(page_no)
            return queue.pop(0) if queue else None

    def apply_fault(self, fault: str) -> bool:
        """Play one fault; True when the request has been answered (or dropped) by it."""
        repo = self.repo
        if fault == "503":
            self.send_body(503, b"busy", content_type="text/plain", headers={"Retry-After": "1"})
        elif fault == "503-date":
            server_now = datetime.now(UTC).replace(microsecond=0)
            self.send_body(
                503,
                b"busy",
                content_type="text/plain",
                headers={
                    "Retry-After": format_datetime(server_now + timedelta(seconds=2), usegmt=True),
                    "Date": format_datetime(server_now, usegmt=True),
                },
            )
        elif fault in ("500", "429"):
            self.send_body(int(fault), b"", content_type="text/plain")
        elif fault == "html":
            self.send_body(
                200,
                b"<!DOCTYPE html><html><head><title>Down for maintenance</title></head>"
                b"<body>back soon</body></html>",
                content_type="text/html",
            )
        elif fault == "drop":
            self.close_connection = True
            self.connection.close()
        elif fault == "truncate":
            body = (
                b'<?xml version="1.0"?><OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><responseDate>'
            )
            self.send_response(200)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(body) * 4))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
            self.close_connection = True
            self.connection.close()
        elif fault == "slow":
            time.sleep(repo.slow_seconds)
            return False
        elif fault == "expire":
            return False  # refused by ``list``, which keeps the token good
        elif fault == "expire-all":
            with repo.lock:
                repo.epoch += 1
            return False
        else:
            raise ValueError(f"unknown fault {fault!r}")
        return True

    def reply(self, text: str, status: int = 200) -> None:
        self.send_body(status, text.encode("utf-8"), headers={"Content-Encoding": "gzip"})


def fault_server(repo: FaultyRepository):
    """Context manager: a running faulty repository (``.url``, ``.state`` is ``repo``)."""
    return serve(FaultHandler, repo)
