"""Preview: a chain applied to a few records of a native version, each input beside its output.

The sample is deterministic, so two previews of the same version show the same records: ``n``
records spread evenly over the id order (the first, the last and evenly in between), or the ids
asked for. Each item carries the source (indented), the output (Turtle for RDF, the XML
otherwise), the chain's warnings, the error of a failing record split into step, location and
XPath, and, when an ontology is given, the ontology issues of the output.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lxml import etree

from mdstore.errors import RecordError
from transforms.payload import Payload, RecordContext

if TYPE_CHECKING:
    from mdstore import MDStore, ReadSession, UnitKey
    from transforms.curation.ontology import Issue, Ontology
    from transforms.curation.x3ml_check import Finding

_XPATH_IN_LOCATION = re.compile(r"""(?:,\s*)?(?:xpath|domain source_node)\s+(['"])(?P<xpath>.*)\1\s*$""")


@dataclass
class ErrorInfo:
    """A failing record's error, split for display: what, which step, where in the mapping, which XPath."""

    message: str
    step: str | None
    location: str | None
    xpath: str | None

    @classmethod
    def from_exception(cls, exc: RecordError) -> ErrorInfo:
        location, xpath = split_xpath(exc.location)
        return cls(exc.message, exc.step, location, xpath)

    def as_dict(self) -> dict[str, Any]:
        return {"message": self.message, "step": self.step, "location": self.location, "xpath": self.xpath}

    def __str__(self) -> str:
        parts = [p for p in (self.step, self.location) if p]
        where = ": ".join(parts)
        xpath = f" [xpath {self.xpath}]" if self.xpath else ""
        return f"{where}: {self.message}{xpath}" if where else f"{self.message}{xpath}"


def split_xpath(location: str | None) -> tuple[str | None, str | None]:
    """``("oai_dc2pe.x3ml:40, mapping 1, link 2", "dc:title/text()")`` from an engine location."""
    if not location:
        return location, None
    match = _XPATH_IN_LOCATION.search(location)
    if match is None:
        return location, None
    return location[: match.start()].rstrip(", ") or None, match.group("xpath")


@dataclass
class PreviewItem:
    record_id: str
    original_id: str
    source: str
    output: str = ""
    output_format: str = ""
    triples: int | None = None
    error: ErrorInfo | None = None
    warnings: list[ErrorInfo] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "record_id": self.record_id,
            "original_id": self.original_id,
            "source": self.source,
            "output": self.output,
            "output_format": self.output_format,
            "triples": self.triples,
            "error": self.error.as_dict() if self.error else None,
            "warnings": [w.as_dict() for w in self.warnings],
            "issues": [i.as_dict() for i in self.issues],
        }


@dataclass
class PreviewReport:
    unit: str
    version: str
    total: int
    items: list[PreviewItem]
    missing: list[str] = field(default_factory=list)
    #: problems of the mapping over the whole sample (X3ML paths matching nothing, silent links)
    findings: list[Finding] = field(default_factory=list)

    @property
    def ontology_errors(self) -> int:
        return sum(1 for item in self.items for i in item.issues if i.severity == "error")

    @property
    def ontology_warnings(self) -> int:
        return sum(1 for item in self.items for i in item.issues if i.severity != "error")

    @property
    def failed(self) -> int:
        return sum(1 for item in self.items if not item.ok)

    def as_dict(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "version": self.version,
            "records_in_version": self.total,
            "failed": self.failed,
            "missing": self.missing,
            "ontology_errors": self.ontology_errors,
            "ontology_warnings": self.ontology_warnings,
            "findings": [f.as_dict() for f in self.findings],
            "records": [item.as_dict() for item in self.items],
        }


def spread(count: int, wanted: int) -> list[int]:
    """``wanted`` indexes out of ``range(count)``, evenly spread, first and last included."""
    if wanted <= 0 or count <= 0:
        return []
    if wanted >= count:
        return list(range(count))
    if wanted == 1:
        return [0]
    return sorted({round(i * (count - 1) / (wanted - 1)) for i in range(wanted)})


def sample_ids(view: ReadSession, wanted: int) -> list[str]:
    """Ids of ``wanted`` present records spread over the id order (one pass over the ids, no bodies)."""
    total = view.count(deleted=False)
    chosen = set(spread(total, wanted))
    return [
        record_id
        for index, (record_id, _oid, _deleted) in enumerate(view.ids(deleted=False))
        if index in chosen
    ]


def preview(
    store: MDStore,
    unit: UnitKey,
    chain: Any,
    *,
    sample: int = 5,
    ids: Sequence[str] | None = None,
    version: str | None = None,
    ontology: Ontology | None = None,
    output: str = "turtle",
) -> PreviewReport:
    """Apply ``chain`` to the sampled (or named) records of a native version; nothing is written."""
    with store.reader(unit, version) as view:
        total = view.count(deleted=False)
        wanted = list(ids) if ids else sample_ids(view, sample)
        found = view.get_many(wanted)
        records = [found[i] for i in wanted if i in found]
        missing = [i for i in wanted if i not in found]
        return preview_records(
            chain,
            records,
            ontology=ontology,
            output=output,
            unit=unit.name,
            version=view.version_id,
            total=total,
            missing=missing,
        )


def preview_records(
    chain: Any,
    records: Sequence[Any],
    *,
    ontology: Ontology | None = None,
    output: str = "turtle",
    unit: str = "",
    version: str = "",
    total: int | None = None,
    missing: Sequence[str] = (),
) -> PreviewReport:
    """The preview of given records (from a version, or the curator's own), with the findings of
    the mapping over all of them (:mod:`transforms.curation.x3ml_check`)."""
    from transforms.curation.x3ml_check import sample_findings

    traces: list[Any] = []
    items = [preview_record(chain, r, ontology=ontology, output=output, traces=traces) for r in records]
    report = PreviewReport(unit, version, len(records) if total is None else total, items, list(missing))
    report.findings = sample_findings(traces)
    return report


def preview_record(
    chain: Any,
    record: Any,
    *,
    ontology: Ontology | None = None,
    output: str = "turtle",
    traces: list[Any] | None = None,
) -> PreviewItem:
    from transforms.rdf import parse_rdf, payload_rdf_format, serialize_payload

    body = record.body_bytes() if record.body is not None else b""
    item = PreviewItem(record.id, record.original_id, pretty_xml(body))
    context = RecordContext(record.id, record.original_id, trace={} if traces is not None else None)
    try:
        payload = chain.apply_payload(Payload.from_body(body), context)
        if _is_rdf(payload):
            item.output_format = output
            item.output = serialize_payload(payload, output, record_id=record.id).decode("utf-8")
            quads = parse_rdf(payload.xml_bytes(), payload_rdf_format(payload), record_id=record.id)
            item.triples = len(quads)
            if ontology is not None:
                from transforms.curation.ontology import check_triples

                item.issues = check_triples(quads, ontology, file=record.id)
        else:
            item.output_format = "xml"
            item.output = pretty_xml(payload.xml_bytes())
    except RecordError as exc:
        item.error = ErrorInfo.from_exception(exc)
    # an engine may report one problem twice (X3ML resolves a domain twice): once is enough
    item.warnings = [_warning(text, record.id) for text in dict.fromkeys(context.warnings)]
    if traces is not None and context.trace:
        traces.extend(context.trace.get("x3ml", ()))
    return item


_WARNING = re.compile(
    r"""^(?P<location>[^'"]*?(?:xpath (?P<quote>['"])(?P<xpath>.*?)(?P=quote))?): (?P<message>.*)$""",
    re.DOTALL,
)


def _warning(text: str, record_id: str | None) -> ErrorInfo:
    """A chain warning (``"x3ml m.x3ml: <record>: x3ml: m.x3ml:40, mapping 1, link 2, xpath '…': what"``)
    split into step, location, XPath and message."""
    step, _, rest = text.partition(": ")
    for prefix in (f"{record_id}: ", "x3ml: "):
        if rest.startswith(prefix):
            rest = rest[len(prefix) :]
    match = _WARNING.match(rest)
    if match is None:
        return ErrorInfo(rest or text, step or None, None, None)
    location = match.group("location")
    if match.group("xpath") is not None:
        location = location[: location.rfind("xpath")].rstrip(", ")
    return ErrorInfo(match.group("message"), step or None, location or None, match.group("xpath"))


def _is_rdf(payload: Payload) -> bool:
    if not payload.is_xml:
        return True
    return payload.tree().getroot().tag == "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}RDF"


def pretty_xml(data: bytes) -> str:
    """The XML indented for reading; the text as it is when it does not parse."""
    from transforms.payload import safe_parser

    try:
        root = etree.fromstring(data, safe_parser())
    except (etree.XMLSyntaxError, ValueError):
        return data.decode("utf-8", errors="replace")
    etree.indent(root, space="  ")
    return etree.tostring(root, encoding="unicode")
