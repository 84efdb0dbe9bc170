"""The OAI-PMH client: sickle's ``Sickle`` with our transport underneath.

``harvest`` (sickle's one network method) goes through :class:`harvesters.transport.Transport`
(retries, back-off, Retry-After, gzip, HTML error pages) and returns a response parsed once with
the hardened parser, so sickle's own ``ListSets``/``ListMetadataFormats`` work unchanged. The
harvester itself uses the page-level methods below, which raise our error classes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from lxml import etree
from sickle import Sickle

from harvesters.oai.errors import NotOAIResponse
from harvesters.oai.models import Identify, ListPage
from harvesters.oai.response import OAIResponse, parse_identify, parse_list_page
from harvesters.transport import ResponseTooLarge, Transport
from mdstore.errors import PageTooLarge, TransportError
from mdstore.redact import mask_url

logger = logging.getLogger(__name__)


class OAIClient(Sickle):
    """One OAI-PMH endpoint over a :class:`Transport`."""

    def __init__(
        self,
        endpoint: str,
        transport: Transport,
        *,
        datasource: str | None = None,
        max_page_bytes: int | None = None,
        max_record_bytes: int | None = None,
    ) -> None:
        super().__init__(endpoint)
        self.transport = transport
        self.datasource = datasource
        self.max_page_bytes = max_page_bytes
        self.max_record_bytes = max_record_bytes

    # sickle's network method
    def harvest(self, **kwargs: Any) -> OAIResponse:
        response = self.transport.get(self.endpoint, kwargs, expect="xml", error_bodies=True)
        return OAIResponse(response, params=kwargs)

    def fetch(self, params: Mapping[str, str], *, page: str | None = None) -> bytes:
        """The body of one request; a truncated document (no closing root tag) is fetched again."""
        attempt = 0
        while True:
            try:
                response = self.transport.get(
                    self.endpoint,
                    params,
                    expect="xml",
                    error_bodies=True,
                    page=page,
                    max_bytes=self.max_page_bytes,
                )
            except ResponseTooLarge as exc:
                raise PageTooLarge(
                    f"the page is larger than api.max_page_bytes ({self.max_page_bytes} bytes) and was not "
                    f"read further; its first {len(exc.raw)} bytes are kept in the discarded store "
                    f"(raise the limit and resume the harvest to fetch it again)",
                    raw=exc.raw,
                    datasource=self.datasource,
                    url=self.endpoint,
                    page=page,
                ) from None
            content = response.content
            if response.status_code >= 400 and b"OAI-PMH" not in content[:4096]:
                # a 4xx without an OAI-PMH <error> document: wrong URL, auth, or a gateway's page
                raise TransportError(
                    f"HTTP {response.status_code} {response.reason or ''}".strip(),
                    status=response.status_code,
                    datasource=self.datasource,
                    url=response.url or self.endpoint,
                    page=page,
                )
            if _looks_complete(content) or attempt >= self.transport.retry.max_retries:
                return content
            logger.warning(
                "%s: %s: truncated response (%d bytes); fetching again",
                mask_url(self.endpoint),
                page,
                len(content),
            )
            self.transport.retries += 1
            self.transport.retry.sleep(self.transport.retry.delay(attempt))
            attempt += 1

    def identify(self) -> Identify:
        where = {"datasource": self.datasource, "url": self.endpoint, "page": "Identify"}
        try:
            return parse_identify(self.fetch({"verb": "Identify"}, page="Identify"), **where)
        except etree.XMLSyntaxError as exc:
            raise NotOAIResponse(f"Identify response is not well-formed XML: {exc}", **where) from exc

    def list_page(self, params: Mapping[str, str], *, page: str) -> ListPage:
        """One page of ListRecords/ListIdentifiers (or a GetRecord answer)."""
        where = {"datasource": self.datasource, "url": self.endpoint, "page": page}
        return parse_list_page(
            self.fetch(params, page=page),
            params["verb"],
            location=page,
            max_record_bytes=self.max_record_bytes,
            **where,
        )


def _looks_complete(content: bytes) -> bool:
    """A document that starts as OAI-PMH must end with its closing root tag."""
    if b"OAI-PMH" not in content[:4096]:
        return True  # not OAI-PMH at all: the parser reports what it is
    return content[-256:].rstrip().endswith(b"OAI-PMH>")
