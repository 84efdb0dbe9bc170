"""The OAI-PMH harvester: lists (one per set) turned into checkpointed pages of records.

Incremental harvests start from the high-water mark the last committed harvest left: the
server's own ``responseDate`` of the Identify request made when that harvest began, in the
repository's granularity (never the local clock, which may be skewed against the server's).
Sets are harvested one after another or, with ``set_parallelism`` > 1, side by side; a record
in several sets is written once per set with the same body, which the store merges.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from harvesters.base import HarvestOptions, HarvestRequest, Page, Problem, put_unless_stopped
from harvesters.oai.client import OAIClient
from harvesters.oai.dates import DAY, format_datestamp, normalise_granularity, parse_datestamp
from harvesters.oai.errors import IdDoesNotExist
from harvesters.oai.iterator import ListIterator, ListState
from harvesters.oai.models import ListPage, OAIRecord
from harvesters.transport import ConnectFailed, HttpClientApi, Transport
from mdstore.envelope import RecordInput
from mdstore.errors import HarvestError, OAIProtocolError, TransportError
from mdstore.redact import mask_url
from mdstore.sections import from_key

logger = logging.getLogger(__name__)

_DONE = object()


@dataclass(frozen=True, kw_only=True)
class OaiApi(HttpClientApi):
    """The ``api`` section of an OAI-PMH profile (schema ``$defs/oai``)."""

    baseurl: str
    metadata_prefix: str
    sets: tuple[str, ...] | None = None
    set_parallelism: int = 1
    from_: str | None = from_key("from", default=None)
    until: str | None = None
    use_get_record: bool = False
    format: str | None = None


class OaiHarvester:
    """Harvests one OAI-PMH endpoint (profile ``api.protocol: oai``)."""

    def __init__(
        self,
        *,
        baseurl: str,
        metadata_prefix: str,
        datasource: str,
        transport: Transport,
        sets: list[str] | None = None,
        set_parallelism: int = 1,
        from_: str | None = None,
        until: str | None = None,
        use_get_record: bool = False,
        max_page_bytes: int | None = None,
        max_record_bytes: int | None = None,
    ) -> None:
        self.baseurl = baseurl
        self.metadata_prefix = metadata_prefix
        self.datasource = datasource
        self.transport = transport
        self.sets: list[str | None] = list(dict.fromkeys(sets)) if sets else [None]
        self.set_parallelism = max(1, set_parallelism)
        self.default_from = from_
        self.default_until = until
        self.use_get_record = use_get_record
        self.client = OAIClient(
            baseurl,
            transport,
            datasource=datasource,
            max_page_bytes=max_page_bytes,
            max_record_bytes=max_record_bytes,
        )

    @classmethod
    def from_profile(
        cls, api: Mapping[str, Any] | OaiApi, *, datasource: str, options: HarvestOptions | None = None
    ) -> OaiHarvester:
        section = OaiApi.from_mapping(api)
        options = options or HarvestOptions()
        return cls(
            baseurl=section.baseurl,
            metadata_prefix=section.metadata_prefix,
            datasource=datasource,
            transport=Transport.from_profile(section, datasource=datasource, retry=options.retry),
            sets=list(section.sets) if section.sets else None,
            set_parallelism=section.set_parallelism,
            from_=section.from_,
            until=section.until,
            use_get_record=section.use_get_record,
            max_page_bytes=section.max_page_bytes,
            max_record_bytes=section.max_record_bytes,
        )

    def close(self) -> None:
        self.transport.close()

    # --- the harvest --------------------------------------------------------------------------
    def harvest(self, request: HarvestRequest) -> Iterator[Page]:
        if request.resume and request.resume.get("lists"):
            watermark = dict(request.resume.get("watermark") or {})
            # a resume is a new try: each list gets its whole token-expiry budget back
            states = {
                key: replace(ListState.from_dict(value), fallbacks=0)
                for key, value in request.resume["lists"].items()
            }
        else:
            watermark = self._start_watermark()
            start = self._window_start(request, watermark)
            until = request.until or self.default_until
            if until:  # a bounded harvest asked for nothing after ``until``: its mark stops there
                watermark["until"] = until
                watermark["response_date"] = _capped(watermark.get("response_date"), until)
            states = {_key(s): ListState(set=s, from_=start, until=until) for s in self.sets}
        granularity = watermark.get("granularity") or DAY
        pending = [key for key, state in states.items() if not state.done]
        if self.set_parallelism > 1 and len(pending) > 1:
            pages = self._parallel(states, pending, granularity)
        else:
            pages = self._sequential(states, pending, granularity)
        for key, list_page, state in pages:
            states[key] = state
            yield self._page(list_page, state, states, watermark)

    def _start_watermark(self) -> dict[str, Any]:
        """The server's clock and granularity at the start of this harvest (Identify)."""
        try:
            identify = self.client.identify()
        except ConnectFailed:
            raise  # nothing listens there: the list would fail the same way, after as many tries
        except (HarvestError, ValueError) as exc:
            logger.warning(
                "%s: Identify failed (%s); the high-water mark comes from the first list response "
                "and day granularity is assumed",
                mask_url(self.baseurl),
                exc,
            )
            return {"granularity": DAY, "response_date": None, "source": "first-response"}
        return {
            "granularity": normalise_granularity(identify.granularity),
            "response_date": identify.response_date,
            "earliest_datestamp": identify.earliest_datestamp,
            "deleted_record": identify.deleted_record,
            "source": "Identify",
        }

    def _window_start(self, request: HarvestRequest, watermark: Mapping[str, Any]) -> str | None:
        if request.from_:
            return request.from_
        if request.mode == "incremental" and request.watermark and request.watermark.get("response_date"):
            granularity = request.watermark.get("granularity") or watermark.get("granularity") or DAY
            try:
                return format_datestamp(parse_datestamp(request.watermark["response_date"]), granularity)
            except ValueError:
                logger.warning("unreadable high-water mark %r; harvesting everything", request.watermark)
        return self.default_from

    def _sequential(
        self, states: dict[str, ListState], pending: list[str], granularity: str
    ) -> Iterator[tuple[str, ListPage, ListState]]:
        for key in pending:
            for list_page, state in self._iterator(states[key], granularity):
                yield key, list_page, state

    def _parallel(
        self, states: dict[str, ListState], pending: list[str], granularity: str
    ) -> Iterator[tuple[str, ListPage, ListState]]:
        """Sets side by side: workers fetch, this generator hands pages over one at a time, so the
        step still writes from one thread and a checkpoint only covers pages already written."""
        results: queue.Queue = queue.Queue(maxsize=2 * self.set_parallelism)
        stop = threading.Event()

        def work(key: str) -> None:
            try:
                for list_page, state in self._iterator(states[key], granularity):
                    if not put_unless_stopped(results, (key, list_page, state), stop):
                        return
            except BaseException as exc:  # handed to the consumer, which re-raises it
                put_unless_stopped(results, exc, stop)
            finally:
                put_unless_stopped(results, _DONE, stop)

        pool = ThreadPoolExecutor(
            max_workers=min(self.set_parallelism, len(pending)), thread_name_prefix=f"oai-{self.datasource}"
        )
        try:
            for key in pending:
                pool.submit(work, key)
            running = len(pending)
            while running:
                item = results.get()
                if item is _DONE:
                    running -= 1
                elif isinstance(item, BaseException):
                    raise item
                else:
                    yield item
        finally:
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)

    def _iterator(self, state: ListState, granularity: str) -> Iterator[tuple[ListPage, ListState]]:
        verb = "ListIdentifiers" if self.use_get_record else "ListRecords"
        iterator = ListIterator(
            self.client,
            verb=verb,
            metadata_prefix=self.metadata_prefix,
            state=state,
            granularity=granularity,
            pause=self._token_pause,
        )
        for list_page, new_state in iterator:
            if self.use_get_record:
                self._fetch_records(list_page, new_state)
            yield list_page, new_state

    def _token_pause(self) -> None:
        """The wait before a refused resumption token is sent again: the transport's second
        back-off step (a few seconds with the defaults), long enough for a lagging node."""
        retry = self.transport.retry
        retry.sleep(retry.delay(1))

    def _fetch_records(self, list_page: ListPage, state: ListState) -> None:
        """ListIdentifiers + GetRecord, for servers whose ListRecords is broken or too heavy."""
        fetched: list[OAIRecord] = []
        for record in list_page.records:
            if record.header.deleted:
                fetched.append(record)
                continue
            label = f"{state.label}, GetRecord {record.header.identifier}"
            try:
                answer = self.client.list_page(
                    {
                        "verb": "GetRecord",
                        "identifier": record.header.identifier,
                        "metadataPrefix": self.metadata_prefix,
                    },
                    page=label,
                )
            except (IdDoesNotExist, OAIProtocolError) as exc:
                list_page.problems.append(
                    Problem(
                        f"GetRecord failed: {exc.message}", location=label, record_id=record.header.identifier
                    )
                )
                continue
            except TransportError as exc:
                if exc.status is None:
                    raise  # the server is gone, not this record
                list_page.problems.append(
                    Problem(
                        f"GetRecord failed: {exc.message}", location=label, record_id=record.header.identifier
                    )
                )
                continue
            fetched.extend(answer.records)
            list_page.problems.extend(answer.problems)
        list_page.records = fetched

    def _page(
        self, list_page: ListPage, state: ListState, states: dict[str, ListState], watermark: dict[str, Any]
    ) -> Page:
        if watermark.get("response_date") is None and list_page.response_date:
            watermark["response_date"] = _capped(list_page.response_date, watermark.get("until"))
        # no per-record provenance: the stored <record> keeps its header (datestamp, sets), and
        # encoding a provenance document per record costs the store about 40% of its write rate
        items = [(RecordInput(r.header.identifier, r.raw), r.header.deleted) for r in list_page.records]
        if list_page.repaired:
            logger.info(
                "%s, page %d: removed %d illegal character byte(s)",
                state.label,
                state.pages,
                list_page.repaired,
            )
        checkpoint = {
            "protocol": "oai",
            "watermark": dict(watermark),
            "lists": {key: s.as_dict() for key, s in states.items()},
        }
        totals = [s.expected_total for s in states.values()]
        return Page(
            items=items,
            checkpoint=checkpoint,
            label=f"{state.label}, page {state.pages}",
            problems=list_page.problems,
            expected_total=sum(totals) if totals and all(t is not None for t in totals) else None,
        )


def _key(spec: str | None) -> str:
    return spec if spec is not None else ""


def _capped(response_date: str | None, until: str | None) -> str | None:
    """The high-water mark of a harvest bounded by ``until``: the earlier of the server's clock and
    ``until``. The next incremental harvest starts there, so the records after ``until`` that this
    one never asked for are not skipped. (``until`` is inclusive; starting the next harvest at it
    only re-reads records of that instant, or of that day at day granularity.)"""
    if not until or not response_date:
        return response_date
    try:
        return until if parse_datestamp(until) < parse_datestamp(response_date) else response_date
    except ValueError:
        logger.warning("unreadable until %r: the high-water mark is the server's clock", until)
        return response_date
