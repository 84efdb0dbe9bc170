"""``xml-split``: download one (possibly archived) XML file and split it on an element."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from harvesters.archives import Caps, archive_kind
from harvesters.base import Page
from harvesters.files import PageBuilder, file_items, paged_file_items
from harvesters.http.connector import REQUIRED, ConnectorContext, check_params
from harvesters.xmlsplit import SplitSpec


class XmlSplitConnector:
    PARAMS: Mapping[str, Any] = {
        "element": REQUIRED,
        "id_xpath": None,
        "namespaces": None,
        "archives": True,
        "name": None,
    }

    def __init__(self, context: ConnectorContext, params: Mapping[str, Any]) -> None:
        self.context = context
        self.params = check_params("xml-split", self.PARAMS, params)
        self.spec = SplitSpec(self.params["element"], self.params["id_xpath"], self.params["namespaces"])

    def pages(self, resume: Mapping[str, Any] | None) -> Iterator[Page]:
        ctx = self.context
        name = (
            self.params["name"] or ctx.url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1] or "download.xml"
        )
        if (resume or {}).get("done"):
            return
        skip = int((resume or {}).get("skip", 0)) if not archive_kind(name) else 0
        with ctx.transport.download(ctx.url, max_bytes=ctx.options.max_file_bytes) as stream:
            items = file_items(
                stream,
                name,
                self.spec,
                caps=Caps(ctx.options.max_file_bytes, ctx.options.max_archive_bytes),
                archives=self.params["archives"],
                skip=skip,
                max_record_bytes=ctx.options.max_record_bytes,
            )
            builder = PageBuilder(ctx.options.page_size, name)
            yield from paged_file_items(items, builder, lambda n: {"protocol": "http", "skip": skip + n})
            last = builder.flush({"protocol": "http", "done": True})
            if last is not None:
                yield last
