"""The HTTP harvester: picks the connector the profile names and gives it the shared transport."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from harvesters.base import HarvestOptions, HarvestRequest, Page
from harvesters.http.connector import ConnectorContext
from harvesters.http.registry import CONNECTORS
from harvesters.transport import HttpClientApi, Transport


@dataclass(frozen=True, kw_only=True)
class HttpApi(HttpClientApi):
    """The ``api`` section of an HTTP profile (schema ``$defs/http``); ``params`` are the
    connector's, which checks them."""

    connector: str
    url: str
    format: str = "xml"
    params: Mapping[str, Any] | None = None


class HttpHarvester:
    """Harvests one HTTP source through a connector (profile ``api.protocol: http``).

    HTTP sources have no standard change feed, so an incremental run re-reads the source into an
    incremental transaction (new and changed records are written; none are tombstoned).
    """

    def __init__(self, connector: Any, transport: Transport) -> None:
        self.connector = connector
        self.transport = transport

    @classmethod
    def from_profile(
        cls, api: Mapping[str, Any] | HttpApi, *, datasource: str, options: HarvestOptions | None = None
    ) -> HttpHarvester:
        section = HttpApi.from_mapping(api)
        options = replace(
            options or HarvestOptions(),
            max_page_bytes=section.max_page_bytes,
            max_record_bytes=section.max_record_bytes,
        )
        transport = Transport.from_profile(section, datasource=datasource, retry=options.retry)
        connector_cls = CONNECTORS.get(section.connector)
        context = ConnectorContext(
            url=section.url, transport=transport, datasource=datasource, options=options
        )
        return cls(connector_cls(context, dict(section.params or {})), transport)

    def harvest(self, request: HarvestRequest) -> Iterator[Page]:
        yield from self.connector.pages(request.resume)

    def close(self) -> None:
        self.transport.close()
