"""The ``validate`` step: refuse a record before it is stored rather than after it breaks an index.

Checks, in order, each optional but the first:

* **well-formed** XML (for XML payloads; the hardened parser);
* **XSD**: ``schema`` names a schema file (relative to the mappings directory, else to the
  project's ``schemas/``); ``element`` (an XPath, e.g. ``//oai_dc:dc``) picks the element to
  validate inside a wrapper such as an OAI ``<record>``. Schemas load offline: imports resolve
  to local files, through the OASIS ``catalog`` when one is given (``<system>``/``<uri>``
  entries), and never over the network;
* **RDF**: ``rdf: true`` (or a format name) parses the payload as RDF (RDF/XML for XML, else the
  text's own format) with pyoxigraph.

A failure raises a :class:`~mdstore.errors.RecordError` with the first problem and its line.
The payload passes through unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lxml import etree

from mdstore.errors import ConfigError, RecordError
from transforms.payload import Payload, RecordContext
from transforms.rdf import RDF_FORMATS, canonical_format, parse_rdf, payload_rdf_format
from transforms.registry import BuildContext
from transforms.stylesheets import OutsideMappings, resolve_inside
from transforms.vocabularies import DEFAULT_NAMESPACES

CATALOG_NS = "urn:oasis:names:tc:entity:xmlns:xml:catalog"


def read_catalog(path: Path) -> dict[str, Path]:
    """``systemId``/``name`` → local file of an OASIS XML catalog (``system`` and ``uri`` entries)."""
    from transforms.payload import parse_xml

    tree = parse_xml(path.read_bytes(), step="validate", base_url=str(path))
    entries: dict[str, Path] = {}
    for element in tree.getroot().iter(f"{{{CATALOG_NS}}}system", f"{{{CATALOG_NS}}}uri"):
        key = element.get("systemId") or element.get("name")
        target = element.get("uri")
        if key and target:
            entries[key] = (path.parent / target).resolve()
    return entries


class _OfflineSchemaResolver(etree.Resolver):
    """Schema imports: catalog entries, else local files under ``roots``; the network never."""

    def __init__(self, catalog: dict[str, Path], roots: list[Path]) -> None:
        super().__init__()
        self.catalog = catalog
        self.roots = roots
        #: refusals, reported after libxml2 (which swallows a resolver's exception in xs:import)
        self.refused: list[OutsideMappings] = []

    def resolve(self, url: str, pubid: str | None, context: Any) -> Any:
        if url in self.catalog:
            return self.resolve_filename(str(self.catalog[url]), context)
        last: OutsideMappings | None = None
        for root in self.roots:
            try:
                return self.resolve_filename(str(resolve_inside(url, None, root, step="validate")), context)
            except OutsideMappings as exc:
                last = exc
        refusal = last or OutsideMappings(f"{url!r} is refused", step="validate")
        self.refused.append(refusal)
        raise refusal


def load_schema(
    path: Path, *, catalog: Path | None = None, roots: list[Path] | None = None
) -> etree.XMLSchema:
    """Compile an XSD offline (see the module docstring); errors name the schema file."""
    entries = read_catalog(catalog) if catalog else {}
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    resolver = _OfflineSchemaResolver(entries, [path.parent, *(roots or [])])
    parser.resolvers.add(resolver)
    try:
        return etree.XMLSchema(etree.parse(str(path), parser))
    except (OutsideMappings, etree.XMLSchemaParseError, etree.XMLSyntaxError) as exc:
        refused = (
            exc if isinstance(exc, OutsideMappings) else (resolver.refused[0] if resolver.refused else None)
        )
        if refused is not None:
            raise ConfigError(
                f"schema import refused: {refused.message} (give a catalog)",
                file=str(path),
                field="schema",
                rule="offline",
            ) from exc
        raise ConfigError(
            f"not a usable XML Schema: {exc}", file=str(path), field="schema", rule="xsd"
        ) from exc


class ValidateStep:
    kind = "validate"

    def __init__(
        self,
        *,
        schema: etree.XMLSchema | None = None,
        schema_name: str = "",
        element: str | None = None,
        namespaces: Mapping[str, str] | None = None,
        rdf: str | None = None,
        sources: tuple[str, ...] = (),
    ) -> None:
        self.schema = schema
        self.rdf = rdf
        self.sources = sources
        self.label = "validate" + (f" {schema_name}" if schema_name else "") + (f" rdf:{rdf}" if rdf else "")
        self.element = element
        self._select = (
            etree.XPath(element, namespaces={**DEFAULT_NAMESPACES, **(namespaces or {})}) if element else None
        )

    @classmethod
    def from_config(cls, config: Mapping[str, Any], context: BuildContext) -> ValidateStep:
        schema = schema_name = None
        sources: list[str] = []
        if config.get("schema"):
            path = _find(str(config["schema"]), context)
            catalog = _find(str(config["catalog"]), context) if config.get("catalog") else None
            roots = [context.base_dir] + ([context.schemas_dir] if context.schemas_dir else [])
            schema, schema_name = load_schema(path, catalog=catalog, roots=roots), path.name
            sources += [str(path)] + ([str(catalog)] if catalog else [])
        rdf = config.get("rdf")
        rdf_format: str | None = None
        if rdf is True:
            rdf_format = "auto"
        elif isinstance(rdf, str):
            rdf_format = canonical_format(rdf)
            if rdf_format not in RDF_FORMATS:
                raise ConfigError(
                    f"rdf {rdf!r} is not one of {', '.join(RDF_FORMATS)}", field="rdf", rule="enum"
                )
        try:
            return cls(
                schema=schema,
                schema_name=schema_name or "",
                element=config.get("element"),
                namespaces=config.get("namespaces"),
                rdf=rdf_format,
                sources=tuple(sources),
            )
        except etree.XPathSyntaxError as exc:
            raise ConfigError(
                f"invalid XPath {config.get('element')!r}: {exc}", field="element", rule="xpath"
            ) from exc

    def apply(self, payload: Payload, context: RecordContext) -> Payload:
        if payload.is_xml:
            tree = payload.tree(step=self.label, record_id=context.record_id)
            if self.schema is not None:
                self._validate_schema(tree, context)
        if self.rdf:
            fmt = payload_rdf_format(payload) if self.rdf == "auto" else self.rdf
            parse_rdf(payload.xml_bytes(), fmt, record_id=context.record_id, step=self.label)
        return payload

    def _validate_schema(self, tree: etree._ElementTree, context: RecordContext) -> None:
        assert self.schema is not None
        target: Any = tree
        if self._select is not None:
            found = self._select(tree)
            if not found or not isinstance(found, list) or not isinstance(found[0], etree._Element):
                raise RecordError(
                    f"no element matches {self.element!r}", record_id=context.record_id, step=self.label
                )
            target = found[0]
        if not self.schema.validate(target):
            error = self.schema.error_log[0]
            more = len(self.schema.error_log) - 1
            raise RecordError(
                error.message + (f" (and {more} more)" if more > 0 else ""),
                record_id=context.record_id,
                step=self.label,
                location=f"line {error.line}",
            )


def _find(name: str, context: BuildContext) -> Path:
    path = Path(name)
    if path.is_absolute():
        candidates = [path]
    else:
        candidates = [context.base_dir / path] + ([context.schemas_dir / path] if context.schemas_dir else [])
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    raise ConfigError(
        f"{name!r} does not exist (looked in {', '.join(str(c.parent) for c in candidates)})",
        field="schema",
        rule="exists",
    )
