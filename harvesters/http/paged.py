"""``paged``: JSON or XML APIs paged by page number, offset, cursor or next link.

JSON items are converted to XML (:mod:`harvesters.http.jsonxml`); XML items are cut out of the
page with ``items_path`` (an XPath). The state after each page (page number, offset, cursor or
next URL) is the checkpoint. A cursor or next link the API already gave is a loop: stop.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urljoin

from lxml import etree

from harvesters.base import Page, Problem
from harvesters.http.connector import REQUIRED, ConnectorContext, check_params
from harvesters.http.jsonxml import dotted, json_to_xml
from harvesters.repair import parse_xml, strip_illegal_xml_bytes
from harvesters.transport import ResponseTooLarge
from mdstore.envelope import RecordInput
from mdstore.errors import ConfigError, HarvestError, PageTooLarge, UnparsablePage

PAGINATIONS = ("page", "offset", "cursor", "next-link")


class PagedConnector:
    PARAMS: Mapping[str, Any] = {
        "format": "json",
        "pagination": REQUIRED,
        "items_path": REQUIRED,
        "id_path": REQUIRED,
        "deleted_path": None,
        "page_param": "page",
        "first_page": 1,
        "offset_param": "offset",
        "size_param": None,
        "page_size": None,
        "cursor_param": "cursor",
        "cursor_path": None,
        "next_path": None,
        "record_element": "record",
        "query": None,
        "namespaces": None,
        "max_pages": 1_000_000,
    }

    def __init__(self, context: ConnectorContext, params: Mapping[str, Any]) -> None:
        self.context = context
        self.p = check_params("paged", self.PARAMS, params)
        if self.p["pagination"] not in PAGINATIONS:
            raise ConfigError(
                f"pagination {self.p['pagination']!r} is not one of {', '.join(PAGINATIONS)}",
                field="api.params.pagination",
                rule="enum",
            )
        if self.p["format"] not in ("json", "xml"):
            raise ConfigError(
                f"format {self.p['format']!r} is not json or xml", field="api.params.format", rule="enum"
            )
        if self.p["pagination"] == "cursor" and not self.p["cursor_path"]:
            raise ConfigError(
                "cursor pagination needs cursor_path", field="api.params.cursor_path", rule="required"
            )

    def pages(self, resume: Mapping[str, Any] | None) -> Iterator[Page]:
        state = dict((resume or {}).get("state") or self._first_state())
        if state.get("done"):
            return
        seen: set[bytes] = set()
        for number in range(int((resume or {}).get("pages", 0)) + 1, self.p["max_pages"] + 1):
            url, query = self._request(state)
            label = f"page {number}"
            limit = self.context.options.max_page_bytes
            try:
                response = self.context.transport.get(
                    url, query, expect=self.p["format"], page=label, max_bytes=limit
                )
            except ResponseTooLarge as exc:
                raise PageTooLarge(
                    f"the page is larger than api.max_page_bytes ({limit} bytes) and was not read "
                    f"further; its first {len(exc.raw)} bytes are kept in the discarded store "
                    f"(raise the limit and resume the harvest to fetch it again)",
                    raw=exc.raw,
                    datasource=self.context.datasource,
                    url=self.context.url,
                    page=label,
                ) from None
            items, problems, document = self._items(response.content, label)
            state = self._next_state(state, response, document, len(items) + len(problems), label, seen)
            yield Page(
                items=items,
                checkpoint={"protocol": "http", "state": state, "pages": number},
                label=label,
                problems=problems,
            )
            if state.get("done"):
                return
        raise HarvestError(
            f"more than max_pages = {self.p['max_pages']} pages",
            datasource=self.context.datasource,
            url=self.context.url,
        )

    # --- paging -------------------------------------------------------------------------------
    def _first_state(self) -> dict[str, Any]:
        return (
            {"page": self.p["first_page"]}
            if self.p["pagination"] == "page"
            else {"offset": 0}
            if self.p["pagination"] == "offset"
            else {}
        )

    def _request(self, state: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        if state.get("next"):
            return state["next"], {}
        query = dict(self.p["query"] or {})
        if self.p["size_param"] and self.p["page_size"]:
            query[self.p["size_param"]] = self.p["page_size"]
        if "page" in state:
            query[self.p["page_param"]] = state["page"]
        if "offset" in state:
            query[self.p["offset_param"]] = state["offset"]
        if state.get("cursor"):
            query[self.p["cursor_param"]] = state["cursor"]
        return self.context.url, query

    def _next_state(
        self, state: dict[str, Any], response, document: Any, count: int, label: str, seen: set[bytes]
    ) -> dict[str, Any]:
        kind = self.p["pagination"]
        short = self.p["page_size"] is not None and count < int(self.p["page_size"])
        if count == 0 or (short and kind in ("page", "offset")):
            return {**state, "done": True}
        if kind == "page":
            return {"page": state["page"] + 1}
        if kind == "offset":
            return {"offset": state["offset"] + count}
        if kind == "cursor":
            nxt = self._lookup(document, self.p["cursor_path"])
            new = {"cursor": nxt} if nxt else {"done": True}
        else:
            nxt = (
                self._lookup(document, self.p["next_path"])
                if self.p["next_path"]
                else response.links.get("next", {}).get("url")
            )
            new = {"next": urljoin(response.url or self.context.url, nxt)} if nxt else {"done": True}
        if not new.get("done"):
            key = hashlib.sha1(json.dumps(new, sort_keys=True).encode(), usedforsecurity=False).digest()
            if key in seen:
                raise HarvestError(
                    f"the API returned {new} again: the paging loops",
                    datasource=self.context.datasource,
                    url=self.context.url,
                    page=label,
                )
            seen.add(key)
        return new

    def _lookup(self, document: Any, path: str) -> str | None:
        if self.p["format"] == "json":
            value = dotted(document, path)
        else:
            found = document.xpath(path, namespaces=dict(self.p["namespaces"] or {}))
            value = found[0] if isinstance(found, list) and found else (found or None)
            if isinstance(value, etree._Element):
                value = value.text
        return str(value).strip() or None if value not in (None, "") else None

    # --- items --------------------------------------------------------------------------------
    def _items(self, content: bytes, label: str) -> tuple[list[tuple[RecordInput, bool]], list[Problem], Any]:
        if self.p["format"] == "json":
            try:
                document = json.loads(content)
            except ValueError as exc:
                raise UnparsablePage(
                    f"not JSON: {exc}",
                    raw=content,
                    datasource=self.context.datasource,
                    url=self.context.url,
                    page=label,
                ) from exc
            raw_items = dotted(document, self.p["items_path"]) or []
            if not isinstance(raw_items, list):
                raise HarvestError(
                    f"items_path {self.p['items_path']!r} is not a list",
                    url=self.context.url,
                    page=label,
                    datasource=self.context.datasource,
                )
            return (*self._json_records(raw_items, label), document)
        cleaned, _ = strip_illegal_xml_bytes(content)
        try:
            document = parse_xml(cleaned)
        except etree.XMLSyntaxError as exc:
            raise UnparsablePage(
                f"not well-formed XML: {exc}",
                raw=content,
                datasource=self.context.datasource,
                url=self.context.url,
                page=label,
            ) from exc
        return (*self._xml_records(document, label), document)

    def _json_records(self, raw_items: list, label: str):
        items, problems = [], []
        for index, item in enumerate(raw_items, start=1):
            original_id = dotted(item, self.p["id_path"])
            body = json_to_xml(item, self.p["record_element"])
            if original_id in (None, ""):
                problems.append(
                    Problem(
                        f"no id at {self.p['id_path']}",
                        location=f"{label}, item {index}",
                        raw=json.dumps(item).encode(),
                    )
                )
                continue
            deleted = bool(dotted(item, self.p["deleted_path"])) if self.p["deleted_path"] else False
            if not deleted and len(body) > self.context.options.max_record_bytes:
                problems.append(self._too_large(str(original_id), body, f"{label}, item {index}"))
                continue
            items.append((RecordInput(str(original_id), None if deleted else body), deleted))
        return items, problems

    def _xml_records(self, document, label: str):
        namespaces = dict(self.p["namespaces"] or {})
        items, problems = [], []
        for index, element in enumerate(document.xpath(self.p["items_path"], namespaces=namespaces), start=1):
            found = element.xpath(self.p["id_path"], namespaces=namespaces)
            value = found[0] if isinstance(found, list) and found else found
            original_id = (value.text if isinstance(value, etree._Element) else str(value or "")).strip()
            raw = etree.tostring(element)
            if not original_id:
                problems.append(
                    Problem(f"no id at {self.p['id_path']}", location=f"{label}, item {index}", raw=raw)
                )
                continue
            deleted = (
                bool(element.xpath(f"boolean({self.p['deleted_path']})", namespaces=namespaces))
                if self.p["deleted_path"]
                else False
            )
            if not deleted and len(raw) > self.context.options.max_record_bytes:
                problems.append(self._too_large(original_id, raw, f"{label}, item {index}"))
                continue
            items.append((RecordInput(original_id, None if deleted else raw), deleted))
        return items, problems

    def _too_large(self, original_id: str, body: bytes, location: str) -> Problem:
        limit = self.context.options.max_record_bytes
        return Problem(
            f"record is larger than api.max_record_bytes ({limit} bytes): {len(body)} bytes",
            location=location,
            record_id=original_id,
            raw=body[: 64 * 1024],
        )
