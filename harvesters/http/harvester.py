"""The HTTP harvester: picks the connector the profile names and gives it the shared transport."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any

from harvesters.base import HarvestOptions, HarvestRequest, Page
from harvesters.http.connector import ConnectorContext
from harvesters.http.registry import CONNECTORS
from harvesters.transport import RetryPolicy, Transport


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
        cls, api: Mapping[str, Any], *, datasource: str, options: HarvestOptions | None = None
    ) -> HttpHarvester:
        options = options or HarvestOptions()
        retry = options.retry or RetryPolicy(
            max_retries=api.get("max_retries", 5),
            backoff=api.get("backoff", 2),
            max_backoff=api.get("max_backoff", 300),
        )
        options = replace(
            options,
            max_page_bytes=api.get("max_page_bytes", options.max_page_bytes),
            max_record_bytes=api.get("max_record_bytes", options.max_record_bytes),
        )
        transport = Transport(
            headers=api.get("headers"),
            timeout=api.get("timeout", 60),
            max_time=api.get("max_time", 3600),
            retry=retry,
            user_agent=api.get("user_agent"),
            auth=(api["username"], api.get("password") or "") if api.get("username") else None,
            datasource=datasource,
        )
        connector_cls = CONNECTORS.get(api["connector"])
        context = ConnectorContext(
            url=api["url"], transport=transport, datasource=datasource, options=options
        )
        return cls(connector_cls(context, api.get("params") or {}), transport)

    def harvest(self, request: HarvestRequest) -> Iterator[Page]:
        yield from self.connector.pages(request.resume)

    def close(self) -> None:
        self.transport.close()
