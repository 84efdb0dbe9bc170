"""``url-list``: fetch an index of URLs (lines, XML or JSON), then each URL's XML document as a record."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urljoin

from lxml import etree

from harvesters.base import Page, Problem
from harvesters.files import PageBuilder
from harvesters.http.connector import ConnectorContext, check_params
from harvesters.http.jsonxml import dotted
from harvesters.repair import parse_xml
from harvesters.transport import HtmlErrorPage
from harvesters.xmlsplit import SplitSpec, whole_file
from mdstore.errors import ConfigError, HarvestError, TransportError


class UrlListConnector:
    PARAMS: Mapping[str, Any] = {
        "index_format": "lines",
        "url_xpath": None,
        "urls_path": None,
        "namespaces": None,
        "id_xpath": None,
    }

    def __init__(self, context: ConnectorContext, params: Mapping[str, Any]) -> None:
        self.context = context
        self.params = check_params("url-list", self.PARAMS, params)
        if self.params["index_format"] not in ("lines", "xml", "json"):
            raise ConfigError(
                f"index_format {self.params['index_format']!r} is not lines, xml or json",
                field="api.params.index_format",
                rule="enum",
            )
        if self.params["index_format"] == "xml" and not self.params["url_xpath"]:
            raise ConfigError("an xml index needs url_xpath", field="api.params.url_xpath", rule="required")
        self.spec = SplitSpec(None, self.params["id_xpath"], self.params["namespaces"])

    def urls(self) -> list[str]:
        ctx = self.context
        kind = self.params["index_format"]
        response = ctx.transport.get(ctx.url, expect="any" if kind == "lines" else kind, page="index")
        base = response.url or ctx.url
        if kind == "lines":
            found = [line.strip() for line in response.text.splitlines()]
            found = [u for u in found if u and not u.startswith("#")]
        elif kind == "xml":
            try:
                root = parse_xml(response.content)
            except etree.XMLSyntaxError as exc:
                raise HarvestError(
                    f"the URL index is not well-formed XML: {exc}", datasource=ctx.datasource, url=ctx.url
                ) from exc
            found = [
                str(v).strip()
                for v in root.xpath(
                    self.params["url_xpath"], namespaces=dict(self.params["namespaces"] or {})
                )
            ]
        else:
            try:
                found = [str(u) for u in dotted(json.loads(response.content), self.params["urls_path"]) or []]
            except ValueError as exc:
                raise HarvestError(
                    f"the URL index is not JSON: {exc}", datasource=ctx.datasource, url=ctx.url
                ) from exc
        return [urljoin(base, u) for u in dict.fromkeys(found)]

    def pages(self, resume: Mapping[str, Any] | None) -> Iterator[Page]:
        ctx = self.context
        urls = self.urls()
        done = int((resume or {}).get("done", 0))
        builder = PageBuilder(ctx.options.page_size, "url-list")
        for number, url in enumerate(urls[done:], start=done + 1):
            for item in self._fetch(url):
                builder.add(item)
            if len(builder.items) + len(builder.problems) >= ctx.options.page_size:
                yield builder.flush({"protocol": "http", "done": number, "total": len(urls)})
        last = builder.flush({"protocol": "http", "done": len(urls), "total": len(urls)})
        if last is not None:
            yield last

    def _fetch(self, url: str) -> Iterator[Any]:
        try:
            response = self.context.transport.get(url, expect="xml", page=url)
        except HtmlErrorPage as exc:
            yield Problem(f"an HTML page, not an XML document: {exc.message}", location=url, record_id=url)
            return
        except TransportError as exc:
            if exc.status is None or exc.status >= 500 or exc.status == 429:
                raise  # the server is failing, not this document: resumable
            yield Problem(exc.message, location=url, record_id=url)
            return
        items = list(whole_file(response.content, url, self.spec))
        yield from items
