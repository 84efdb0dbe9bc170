"""Paging through one OAI-PMH list with resumption tokens (OAI-PMH 2.0, section 3.5).

All resumption-token handling lives here (as in sickle's ``BaseOAIIterator``), plus what a
harvester that must finish unattended needs on top:

* the state after each page is a small JSON-friendly :class:`ListState`, so the step can
  checkpoint it and a later run can continue from the last good page;
* a ``badResumptionToken`` (expired token, often after a resume) is first answered by sending the
  same token once more after a pause (many servers accept it again: a busy node, a token store
  that lagged); if it is refused again, the list falls back to a date-windowed re-harvest from
  the last datestamp seen, not to the start of the list. The fallback budget counts one stretch
  of failures: it is spent only by refusals with no progress in between, so a long harvest
  whose tokens expire now and then goes through; once spent, the list stops with a *resumable*
  error (the step keeps the transaction and everything fetched so far);
* a token the server hands out again, leading to the same page again, is a loop: stop with a
  clear error;
* ``noRecordsMatch`` on the first request is an empty list; after a token it ends the list
  (some servers answer the last token that way).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from typing import Any

from harvesters.oai.client import OAIClient
from harvesters.oai.dates import format_datestamp, parse_datestamp
from harvesters.oai.errors import (
    BadResumptionToken,
    NoRecordsMatch,
    ResumptionTokenLoop,
    ResumptionTokensExpired,
)
from harvesters.oai.models import ListPage

logger = logging.getLogger(__name__)

#: how many date-window fallbacks one stretch of token refusals may take (a stretch ends when a
#: token works again and the list has moved past the window's start)
MAX_WINDOW_FALLBACKS = 3


@dataclass(frozen=True)
class ListState:
    """Where one list (one set, or the whole repository) stands. Checkpointed after each page."""

    set: str | None = None
    from_: str | None = None
    until: str | None = None
    token: str | None = None
    pages: int = 0
    records: int = 0
    last_datestamp: str | None = None
    done: bool = False
    #: date-window fallbacks in the current stretch of token refusals (0: tokens work)
    fallbacks: int = 0
    expected_total: int | None = None
    #: every date-window fallback this list took (for logs and the checkpoint; never a limit)
    windows: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ListState:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    @property
    def label(self) -> str:
        return f"set {self.set}" if self.set else "all records"


class ListIterator:
    """Pages of one ListRecords or ListIdentifiers list: yields ``(page, state after the page)``."""

    def __init__(
        self,
        client: OAIClient,
        *,
        verb: str,
        metadata_prefix: str,
        state: ListState,
        granularity: str,
        pause: Callable[[], None] | None = None,
    ) -> None:
        self.client = client
        self.verb = verb
        self.metadata_prefix = metadata_prefix
        self.state = state
        self.granularity = granularity
        #: waits before a refused token is sent again (the harvester passes its back-off)
        self.pause = pause or (lambda: None)
        self._seen_tokens: dict[bytes, tuple] = {}
        self._resent: str | None = None

    def __iter__(self) -> Iterator[tuple[ListPage, ListState]]:
        while not self.state.done:
            state = self.state
            label = f"{state.label}, page {state.pages + 1}"
            try:
                page = self.client.list_page(self._params(state), page=label)
            except NoRecordsMatch:
                if state.token:
                    logger.warning(
                        "%s: resumption token answered noRecordsMatch; taking it as the end of the list",
                        label,
                    )
                self.state = replace(state, token=None, done=True)
                yield ListPage([], None), self.state
                return
            except BadResumptionToken as exc:
                if state.token and self._resent != state.token:
                    logger.warning(
                        "%s: resumption token %r refused (%s); sending it once more after a pause",
                        label,
                        state.token,
                        exc.message,
                    )
                    self._resent = state.token
                    self.pause()
                    continue
                self.state = self._window_fallback(state, exc, label)
                continue
            self.state = self._advance(state, page, label)
            self._resent = None  # the next refusal, even of an equal token, gets its own re-send
            yield page, self.state

    def _params(self, state: ListState) -> dict[str, str]:
        if state.token:
            return {"verb": self.verb, "resumptionToken": state.token}
        params = {"verb": self.verb, "metadataPrefix": self.metadata_prefix}
        for name, value in (("set", state.set), ("from", state.from_), ("until", state.until)):
            if value:
                params[name] = value
        return params

    def _advance(self, state: ListState, page: ListPage, label: str) -> ListState:
        """The state after ``page``; stops when the server sends us round in a circle.

        A loop is a token we already followed answering with the very same page again (same
        first and last identifier, same size): servers that keep the cursor server-side and hand
        out one constant token for every page are not loops, and are still harvested.
        """
        if state.token is not None:
            key = hashlib.sha1(state.token.encode("utf-8"), usedforsecurity=False).digest()
            fingerprint = (
                len(page.records),
                page.records[0].header.identifier if page.records else None,
                page.records[-1].header.identifier if page.records else None,
                page.next_token,
            )
            if self._seen_tokens.get(key) == fingerprint:
                raise ResumptionTokenLoop(
                    f"the server returned resumption token {state.token!r} again and "
                    "following it gives the same page: the list loops",
                    datasource=self.client.datasource,
                    url=self.client.endpoint,
                    page=label,
                )
            self._seen_tokens[key] = fingerprint
        token = page.next_token
        datestamps = [r.header.datestamp for r in page.records if r.header.datestamp]
        last_datestamp = datestamps[-1] if datestamps else state.last_datestamp
        fallbacks = state.fallbacks
        if fallbacks and state.token is not None and _later(last_datestamp, state.from_):
            # a token worked again and the list moved past the window's start: the stretch of
            # failures is over, so the next expiry has the whole budget again
            logger.info("%s: resumption tokens work again; the fallback budget is reset", label)
            fallbacks = 0
        return replace(
            state,
            token=token,
            pages=state.pages + 1,
            records=state.records + len(page.records),
            last_datestamp=last_datestamp,
            done=token is None,
            expected_total=page.complete_list_size or state.expected_total,
            fallbacks=fallbacks,
        )

    def _window_fallback(self, state: ListState, exc: BadResumptionToken, label: str) -> ListState:
        """An expired token: re-harvest the window from the last datestamp seen (idempotent writes make
        the overlap harmless). Assumes the server lists in datestamp order, as DSpace, EPrints and
        most others do; without a datestamp seen yet the list restarts from its own ``from``.

        A refusal of the very first request (no token of ours) is the server's answer, raised as
        it is. A spent budget raises :class:`ResumptionTokensExpired`, which is resumable: the
        state of the last good page is in the checkpoint, and ``--resume`` starts there."""
        if not state.token:
            raise exc
        if state.fallbacks >= MAX_WINDOW_FALLBACKS:
            raise ResumptionTokensExpired(
                f"resumption token refused ({exc.message}) after it was sent twice and after "
                f"{state.fallbacks} date-window fallback(s) in a row; the {state.records} record(s) "
                "read so far are kept",
                datasource=self.client.datasource,
                url=self.client.endpoint,
                page=label,
            )
        start = state.from_
        if state.last_datestamp:
            try:
                start = format_datestamp(parse_datestamp(state.last_datestamp), self.granularity)
            except ValueError:
                logger.warning(
                    "%s: cannot read datestamp %r; restarting the list", state.label, state.last_datestamp
                )
        logger.warning(
            "%s: resumption token %r refused again (%s); re-harvesting from %s",
            state.label,
            state.token,
            exc.message,
            start or "the start of the list",
        )
        self._seen_tokens.clear()
        return replace(
            state, token=None, from_=start, fallbacks=state.fallbacks + 1, windows=state.windows + 1
        )


def _later(datestamp: str | None, start: str | None) -> bool:
    """Whether ``datestamp`` is after a window's ``start`` (no start: any datestamp is progress)."""
    if datestamp is None:
        return False
    if start is None:
        return True
    try:
        return parse_datestamp(datestamp) > parse_datestamp(start)
    except ValueError:
        return False
