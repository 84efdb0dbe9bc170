"""The ``ontology-check`` step: RDF that breaks the PE/CIDOC-CRM ontology is caught in the pipeline.

Without it a mapping that writes ``crm:P72_has_lang`` (no such property) or hangs a language on
an actor stores the wrong triples with no error: the mistake surfaces months later in a search
facet. The step checks each record's RDF with :func:`transforms.curation.ontology.check_triples`
(the checker of ``contentcloud map check`` and the curator page, so all three agree) and passes
the payload on unchanged.

Profile fields: ``on_error`` is ``fail`` (default: the first error-severity issue makes the
record a record error, stored with the version, its message naming the subject, the property and
the rule, and ``and N more`` when there are more) or ``warn`` (every issue becomes a warning of
the record, counted in the run's summary, and the record is stored); ``strict: true`` treats
warning-severity issues (terms outside the ontology's namespaces) like errors; ``ontology`` names
another digest (relative to the mappings directory, else to the project's ``schemas/``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mdstore.errors import ConfigError, RecordError
from transforms.payload import Payload, RecordContext
from transforms.rdf import parse_rdf, payload_rdf_format
from transforms.registry import BuildContext

ON_ERROR = ("fail", "warn")
DEFAULT_ONTOLOGY = Path("ontology") / "pe-crm.json"


class OntologyCheckStep:
    kind = "ontology-check"

    def __init__(
        self, ontology: Any, *, on_error: str = "fail", strict: bool = False, source: str = ""
    ) -> None:
        self.ontology = ontology
        self.on_error = on_error
        self.strict = strict
        self.label = "ontology-check"
        self.sources = (source,) if source else ()

    @classmethod
    def from_config(cls, config: Mapping[str, Any], context: BuildContext) -> OntologyCheckStep:
        from transforms.curation.ontology import Ontology

        on_error = str(config.get("on_error", "fail"))
        if on_error not in ON_ERROR:
            raise ConfigError(
                f"on_error {on_error!r} is not one of {', '.join(ON_ERROR)}", field="on_error", rule="enum"
            )
        path = _find(str(config.get("ontology") or DEFAULT_ONTOLOGY), context)
        return cls(
            Ontology.load(path), on_error=on_error, strict=bool(config.get("strict", False)), source=str(path)
        )

    def apply(self, payload: Payload, context: RecordContext) -> Payload:
        from transforms.curation.ontology import check_triples

        quads = parse_rdf(
            payload.xml_bytes(), payload_rdf_format(payload), record_id=context.record_id, step=self.label
        )
        issues = check_triples(quads, self.ontology)
        if not issues:
            return payload
        failing = [i for i in issues if i.severity == "error" or self.strict]
        if self.on_error == "fail" and failing:
            first = failing[0]
            more = len(failing) - 1
            raise RecordError(
                describe(first) + (f" (and {more} more)" if more else ""),
                record_id=context.record_id,
                step=self.label,
            )
        context.warnings.extend(f"{self.label}: {describe(issue)}" for issue in issues)
        return payload


def describe(issue: Any) -> str:
    """One issue as a line: ``error: unknown-property: <subject> crm:P72_has_lang: not a property…``."""
    return f"{issue.severity}: {issue.kind}: {issue.subject} {issue.predicate}: {issue.message}"


def _find(name: str, context: BuildContext) -> Path:
    path = Path(name)
    candidates = (
        [path]
        if path.is_absolute()
        else [context.base_dir / path] + ([context.schemas_dir / path] if context.schemas_dir else [])
    )
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    raise ConfigError(
        f"{name!r} does not exist (looked in {', '.join(str(c.parent) for c in candidates)})",
        field="ontology",
        rule="exists",
    )
