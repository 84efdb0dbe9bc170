"""``csv``: one record per row of a CSV file, ``<record><column name="…">value</column>…</record>``."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from typing import Any

from lxml import etree

from harvesters.archives import Caps, archive_kind, members
from harvesters.base import Page, Problem
from harvesters.files import PageBuilder
from harvesters.http.connector import REQUIRED, ConnectorContext, check_params
from harvesters.repair import strip_illegal_xml_text
from mdstore.envelope import RecordInput


class CsvConnector:
    PARAMS: Mapping[str, Any] = {
        "id_column": REQUIRED,
        "delimiter": ",",
        "quotechar": '"',
        "encoding": "utf-8",
        "name": None,
    }

    def __init__(self, context: ConnectorContext, params: Mapping[str, Any]) -> None:
        self.context = context
        self.params = check_params("csv", self.PARAMS, params)

    def pages(self, resume: Mapping[str, Any] | None) -> Iterator[Page]:
        ctx = self.context
        name = (
            self.params["name"] or ctx.url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1] or "download.csv"
        )
        skip = int((resume or {}).get("rows", 0))
        builder = PageBuilder(ctx.options.page_size, name)
        with ctx.transport.download(ctx.url, max_bytes=ctx.options.max_file_bytes) as stream:
            if archive_kind(name):
                sources = members(
                    stream, name, Caps(ctx.options.max_file_bytes, ctx.options.max_archive_bytes)
                )
            else:
                sources = iter([(name, stream)])
            row_number = 0
            for source, raw in sources:
                text = io.TextIOWrapper(raw, encoding=self.params["encoding"], errors="replace", newline="")
                reader = csv.DictReader(
                    text, delimiter=self.params["delimiter"], quotechar=self.params["quotechar"]
                )
                for row in reader:
                    row_number += 1
                    if row_number <= skip:
                        continue
                    if builder.add(self._record(row, f"{source}:{reader.line_num}")):
                        yield builder.flush({"protocol": "http", "rows": row_number})
        last = builder.flush({"protocol": "http", "rows": row_number})
        if last is not None:
            yield last

    def _record(self, row: dict[str | None, Any], location: str) -> RecordInput | Problem:
        record = etree.Element("record")
        for column, value in row.items():
            if column is None:  # more cells than header columns
                return Problem(
                    f"row has {len(value)} more cell(s) than the header",
                    location=location,
                    raw=repr(row).encode(),
                )
            cell = etree.SubElement(record, "column", name=strip_illegal_xml_text(column))
            cell.text = strip_illegal_xml_text(value or "")
        original_id = (row.get(self.params["id_column"]) or "").strip()
        if not original_id:
            return Problem(
                f"no value in the id column {self.params['id_column']!r}",
                location=location,
                raw=etree.tostring(record),
            )
        return RecordInput(
            original_id, etree.tostring(record, encoding="utf-8"), provenance={"source": location}
        )
