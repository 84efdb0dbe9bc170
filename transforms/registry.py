"""Transform steps by name, and the chain a profile's ``transform.steps`` compiles to.

Built-in steps: ``xslt``, ``x3ml``, ``vocabulary``, ``validate``, ``ontology-check``; outside
packages add steps through the entry-point group ``contentcloud.transforms`` (STYLE.md 2.2). A step
class offers ``from_config(config, context) -> TransformStep``; :func:`build_chain` calls it once per run, so
stylesheets and mappings are compiled once and applied to every record.

A chain never stores anything: :meth:`TransformChain.apply` turns one record body into one output
body, or raises a :class:`~mdstore.errors.RecordError` (``MappingError``, ``RecordParseError``)
that names the record, the step and the place in the mapping. The pipeline step
(``contentcloud.pipeline.transform``) stores those and goes on.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from mdstore.errors import ConfigError
from mdstore.plugins import Registry
from transforms.payload import Payload, RecordContext
from transforms.rdf import OUTPUT_FORMATS, canonical_format, converts_to_ntriples, serialize_payload
from transforms.vocabularies import VocabularySet

logger = logging.getLogger(__name__)

__all__ = [
    "TRANSFORMS",
    "VOLATILE_PARAMS",
    "BuildContext",
    "StepFactory",
    "TransformChain",
    "TransformStep",
    "build_chain",
    "mapping_kind",
    "steps_from_files",
]

#: parameters that change from run to run: kept out of the chain fingerprint (incremental runs)
VOLATILE_PARAMS = frozenset({"transformDate", "transformDateTime", "runId"})


@runtime_checkable
class TransformStep(Protocol):
    """One compiled step: applied to one record at a time, never storing anything."""

    kind: str
    #: how errors name the step, e.g. ``xslt oai_dc2pe.xsl``
    label: str

    def apply(self, payload: Payload, context: RecordContext) -> Payload:
        """Transform one record; raise a ``RecordError`` naming ``context.record_id`` on failure."""
        ...


@dataclass(frozen=True)
class BuildContext:
    """What every step may use while it compiles.

    ``base_dir`` is the mappings directory: relative mapping paths resolve against it, and XSLT may
    read documents inside it only. ``params`` are the stylesheet parameters of the run (datasource
    id, nsprefix, dates; a step's own ``params`` override them). ``vocabularies`` is shared by every
    step of the chain so each file is read once.
    """

    base_dir: Path
    params: Mapping[str, str] = field(default_factory=dict)
    vocabularies: VocabularySet | None = None
    schemas_dir: Path | None = None

    def resolve(self, name: str, *, field_name: str = "mapping") -> Path:
        """A mapping file named in a profile: relative to ``base_dir``; it must exist."""
        path = Path(name)
        if not path.is_absolute():
            path = self.base_dir / path
        if not path.is_file():
            raise ConfigError(
                f"{name!r} does not exist (looked in {path.parent})", field=field_name, rule="exists"
            )
        return path.resolve()


class StepFactory(Protocol):
    def from_config(self, config: Mapping[str, Any], context: BuildContext) -> TransformStep: ...


def _is_step_factory(obj: Any) -> bool:
    return callable(getattr(obj, "from_config", None))


TRANSFORMS: Registry[StepFactory] = Registry(
    "transform step", group="contentcloud.transforms", check=_is_step_factory
)
TRANSFORMS.register("xslt", "transforms.xslt:XsltStep")
TRANSFORMS.register("x3ml", "transforms.x3ml_step:X3mlStep")
TRANSFORMS.register("vocabulary", "transforms.vocabularies:VocabularyStep")
TRANSFORMS.register("validate", "transforms.validate:ValidateStep")
TRANSFORMS.register("ontology-check", "transforms.ontology_check:OntologyCheckStep")


@dataclass(frozen=True, slots=True)
class ChainOutput:
    """A record's output body, and whether it is N-Triples in pyoxigraph's form because the chain
    converted it (:func:`transforms.rdf.ntriples_form`), not as a step wrote it."""

    body: bytes
    converted_ntriples: bool


class TransformChain:
    """Compiled steps plus the output serialization: body in, body out, one record at a time."""

    def __init__(
        self, steps: Sequence[TransformStep], *, output: str = "ntriples", fingerprint: str = ""
    ) -> None:
        output = canonical_format(output)
        if output not in OUTPUT_FORMATS:
            raise ConfigError(
                f"output {output!r} is not one of {', '.join(OUTPUT_FORMATS)}", field="output", rule="enum"
            )
        self.steps = tuple(steps)
        self.output = output
        self.fingerprint = fingerprint

    def __repr__(self) -> str:
        return f"<TransformChain {' | '.join(s.label for s in self.steps)} -> {self.output}>"

    def apply(
        self,
        body: bytes | str,
        *,
        record_id: str | None = None,
        original_id: str | None = None,
        output: str | None = None,
        context: RecordContext | None = None,
    ) -> bytes:
        """The output body for one record body (``output`` overrides the chain's format).

        Pass a ``context`` to collect the steps' warnings.
        """
        return self.apply_record(
            body, context=context or RecordContext(record_id, original_id), output=output
        ).body

    def apply_record(
        self, body: bytes | str, *, context: RecordContext, output: str | None = None
    ) -> ChainOutput:
        """:meth:`apply`, saying too whether the body is N-Triples written by the pyoxigraph
        conversion (what the transform step records for the rdf step)."""
        payload = self.apply_payload(Payload.from_body(body), context)
        output = output or self.output
        data = serialize_payload(payload, output, record_id=context.record_id)
        return ChainOutput(data, converted_ntriples=converts_to_ntriples(payload, output))

    def apply_payload(self, payload: Payload, context: RecordContext) -> Payload:
        for step in self.steps:
            payload = step.apply(payload, context)
        return payload


def build_chain(
    steps_config: Sequence[Mapping[str, Any]],
    *,
    base_dir: str | Path,
    params: Mapping[str, Any] | None = None,
    output: str = "ntriples",
    schemas_dir: str | Path | None = None,
    vocabularies: VocabularySet | None = None,
) -> TransformChain:
    """Compile a profile's ``transform.steps`` once for a whole run.

    Configuration problems raise :class:`ConfigError` naming ``transform.steps[i]``; a mapping
    that does not compile raises ``MappingError`` naming the file and line.
    """
    base = Path(base_dir).resolve()
    context = BuildContext(
        base_dir=base,
        params={str(k): str(v) for k, v in (params or {}).items() if v is not None},
        vocabularies=vocabularies or VocabularySet(base / "vocabularies"),
        schemas_dir=Path(schemas_dir).resolve() if schemas_dir else base.parent / "schemas",
    )
    if not steps_config:
        raise ConfigError(
            "a transform chain needs at least one step", field="transform.steps", rule="minItems"
        )
    steps = [_build_step(index, config, context) for index, config in enumerate(steps_config)]
    chain = TransformChain(
        steps, output=output, fingerprint=_fingerprint(steps_config, steps, context, output)
    )
    logger.info("compiled %r", chain)
    return chain


def _build_step(index: int, config: Mapping[str, Any], context: BuildContext) -> TransformStep:
    where = f"transform.steps[{index}]"
    if not isinstance(config, Mapping) or not config.get("type"):
        raise ConfigError("a step is a mapping with a 'type'", field=where, rule="required")
    factory = TRANSFORMS.get(str(config["type"]))
    step_params = {**context.params, **{str(k): str(v) for k, v in (config.get("params") or {}).items()}}
    step_context = BuildContext(context.base_dir, step_params, context.vocabularies, context.schemas_dir)
    try:
        step = factory.from_config(config, step_context)
    except ConfigError as exc:
        field_path = f"{where}.{exc.field}" if exc.field else where
        raise ConfigError(exc.message, file=exc.file, field=field_path, rule=exc.rule) from exc
    if not isinstance(step, TransformStep):
        raise ConfigError(
            f"{type(step).__name__} is not a transform step (needs kind, label and apply)",
            field=where,
            rule="plugin",
        )
    return step


def _fingerprint(
    steps_config: Sequence[Mapping[str, Any]],
    steps: Iterable[TransformStep],
    context: BuildContext,
    output: str,
) -> str:
    """A hash of everything that decides the output: configuration, parameters and file contents.

    An incremental run is only valid when the chain has not changed since the last run; the
    pipeline compares this value with the one stored in the last version's report.
    """
    digest = hashlib.sha256()
    stable_params = {k: v for k, v in context.params.items() if k not in VOLATILE_PARAMS}
    digest.update(
        json.dumps([list(steps_config), stable_params, output], sort_keys=True, default=str).encode()
    )
    files: set[Path] = set()
    for step in steps:
        files.update(Path(p) for p in getattr(step, "sources", ()))
    vocab_dir = context.base_dir / "vocabularies"
    if vocab_dir.is_dir():
        files.update(p for p in vocab_dir.iterdir() if p.is_file())
    for path in sorted(files):
        digest.update(str(path).encode())
        try:
            digest.update(path.read_bytes())
        except OSError:
            digest.update(b"<unreadable>")
    return digest.hexdigest()


def mapping_kind(path: str | Path) -> str:
    """``xslt`` or ``x3ml`` for a mapping file: by extension, else by its root element."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".xsl", ".xslt"):
        return "xslt"
    if suffix == ".x3ml":
        return "x3ml"
    from lxml import etree

    try:
        for _event, element in etree.iterparse(
            str(path), events=("start",), resolve_entities=False, no_network=True, load_dtd=False
        ):
            if element.tag in (
                "{http://www.w3.org/1999/XSL/Transform}stylesheet",
                "{http://www.w3.org/1999/XSL/Transform}transform",
            ):
                return "xslt"
            if etree.QName(element).localname == "x3ml":
                return "x3ml"
            break
    except (OSError, etree.XMLSyntaxError) as exc:
        raise ConfigError(
            f"cannot read mapping: {exc}", file=str(path), field="mapping", rule="readable"
        ) from exc
    raise ConfigError(
        "neither an XSLT stylesheet nor an X3ML mapping (by extension or root element)",
        file=str(path),
        field="mapping",
        rule="mapping-type",
    )


def steps_from_files(
    paths: Sequence[str | Path],
    *,
    policy: str | Path | None = None,
    terms: str | Path | None = None,
    xslt_version: str | None = None,
    x3ml_options: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Step configurations for mapping files given in order (the ``map`` command, previews).

    Consecutive X3ML files form one ``x3ml`` step (merged, as the engine does with several
    mappings); every stylesheet is its own ``xslt`` step. ``policy``/``terms`` go to the X3ML steps.
    """
    steps: list[dict[str, Any]] = []
    for path in paths:
        kind = mapping_kind(path)
        if kind == "x3ml" and steps and steps[-1]["type"] == "x3ml":
            steps[-1]["mapping"].append(str(path))
            continue
        if kind == "x3ml":
            step: dict[str, Any] = {"type": "x3ml", "mapping": [str(path)], **(x3ml_options or {})}
            if policy:
                step["policy"] = str(policy)
            if terms:
                step["terms"] = str(terms)
        else:
            step = {"type": "xslt", "mapping": str(path)}
            if xslt_version:
                step["version"] = xslt_version
        steps.append(step)
    if (policy or terms) and not any(s["type"] == "x3ml" for s in steps):
        raise ConfigError(
            "--policy/--terms apply to X3ML mappings, and none was given", field="policy", rule="x3ml"
        )
    return steps
