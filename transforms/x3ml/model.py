"""The parsed form of an X3ML mapping and a generator policy.

Plain objects built once by :mod:`.loader` and read by :mod:`.engine`; they hold compiled XPath
expressions and resolved IRIs so that nothing is parsed while records are transformed. Names
follow the X3ML elements (``domain``, ``link``, ``path``, ``range``, ``entity``…). Every object
that can be named in an error message carries a :class:`Where`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from transforms.x3ml.xpath import XPathExpr

__all__ = [
    "Additional",
    "Arg",
    "Condition",
    "DomainSpec",
    "EntitySpec",
    "GeneratorCall",
    "GeneratorSpec",
    "LinkSpec",
    "MappingDocument",
    "MappingSpec",
    "PathSpec",
    "Policy",
    "RangeSpec",
    "Term",
    "Where",
]

SOURCE_TYPES = ("xpath", "constant", "position", "entireInput", "xpathPosition")


@dataclass(frozen=True, slots=True)
class Where:
    """Where something is declared: file, line, and the mapping/link numbers (1-based)."""

    file: str
    line: int | None = None
    mapping: int | None = None
    link: int | None = None

    def __str__(self) -> str:
        parts = [self.file + (f":{self.line}" if self.line else "")]
        if self.mapping is not None:
            parts.append(f"mapping {self.mapping}")
        if self.link is not None:
            parts.append(f"link {self.link}")
        return ", ".join(parts)


@dataclass(slots=True)
class Term:
    """A ``<type>`` or ``<relationship>`` tag with its IRI, or the error the reference raises
    when the entity or property is created (an unqualified tag, or a prefix that is not declared:
    the reference drops that entity, or the rest of that link, and so do we)."""

    tag: str
    iri: str | None
    error: str | None = None
    is_merge: bool = False


@dataclass(slots=True)
class Arg:
    name: str
    type: str | None
    value: str
    xpath: XPathExpr | None = None  # compiled when the value is used as an expression


@dataclass(slots=True)
class GeneratorCall:
    """An ``<instance_generator>`` or ``<label_generator>`` of the mapping."""

    name: str
    args: dict[str, Arg]  # by name, the last one winning as in the reference
    where: Where
    label: bool = False

    def describe(self) -> str:
        kind = "LabelGenerator" if self.label else "InstanceGenerator"
        args = ", ".join(f"(Name: {a.name} Type: {a.type} Value: {a.value})" for a in self.args.values())
        return f"{kind}(Name: {self.name} Args: [{args}])"


@dataclass(slots=True)
class Condition:
    """One ``<if>``: ``kind`` is exists, equals, broader, exact_match, narrower, and, or, not."""

    kind: str
    value: str | None = None
    xpath: XPathExpr | None = None
    children: list[Condition] = field(default_factory=list)


@dataclass(slots=True)
class Additional:
    pairs: list[tuple[Term, EntitySpec]]


@dataclass(slots=True)
class EntitySpec:
    types: list[Term]
    variable: str | None
    global_variable: str | None
    variable_deprecated: str | None
    instance_generator: GeneratorCall | None
    label_generators: list[GeneratorCall]
    additionals: list[Additional]
    where: Where
    unique: str = ""  # "-" + each distinct type tag, sorted (the reference's key suffix)
    literal_unique: str | None = None  # rdfs:Literal / xsd:dateTime override of the key suffix

    def __post_init__(self) -> None:
        tags = sorted({t.tag for t in self.types})
        self.unique = "".join("-" + tag for tag in tags)
        if "http://www.w3.org/2000/01/rdf-schema#Literal" in self.unique or "rdfs:Literal" in self.unique:
            self.literal_unique = "http://www.w3.org/2000/01/rdf-schema#Literal"
        elif "http://www.w3.org/2001/XMLSchema#dateTime" in self.unique or "xsd:dateTime" in self.unique:
            self.literal_unique = "http://www.w3.org/2001/XMLSchema#dateTime"


@dataclass(slots=True)
class DomainSpec:
    source: str | None
    source_xpath: XPathExpr | None
    source_skip: bool
    conditions: list[Condition]
    entity: EntitySpec
    namedgraph: str | None


@dataclass(slots=True)
class PathSpec:
    relations: list[str]
    relation_xpath: XPathExpr | None
    node: str | None
    conditions: list[Condition]
    properties: list[Term]
    entities: list[EntitySpec]


@dataclass(slots=True)
class RangeSpec:
    source: str | None
    source_xpath: XPathExpr | None
    source_skip: bool
    conditions: list[Condition]
    entity: EntitySpec


@dataclass(slots=True, eq=False)  # hashed by identity: the engine counts triples per link object
class LinkSpec:
    path: PathSpec
    range: RangeSpec
    skip: bool
    namedgraph: str | None
    where: Where
    index: int
    #: the range source equals the path relation (or is skipped): the path node is the range node
    range_on_path_node: bool = False

    def __post_init__(self) -> None:
        source = self.range.source
        self.range_on_path_node = self.range.source_skip or (
            source is not None and source.strip() == self.path.relations[0].strip()
        )


@dataclass(slots=True)
class MappingSpec:
    domain: DomainSpec
    links: list[LinkSpec]
    skip: bool
    namedgraph: str | None
    where: Where
    index: int


@dataclass(slots=True)
class GeneratorSpec:
    """A ``<generator>`` of the policy."""

    name: str
    prefix: str | None
    shorten: bool
    uuid: bool
    pattern: str | None
    custom_class: str | None
    custom_args: list[tuple[str, str | None]]
    variables: list[str]  # argument names of the pattern, in order
    where: Where


@dataclass(slots=True)
class Policy:
    generators: dict[str, GeneratorSpec]
    file: str | None = None


@dataclass(slots=True)
class MappingDocument:
    """A loaded (and, for several files, merged) mapping, ready to run."""

    mappings: list[MappingSpec]
    namespaces: dict[str, str]  # the XPath/IRI namespace context (reference XPathContext)
    template_namespaces: dict[str, str]  # what URI template prefixes resolve to
    prefixes: dict[str, str]  # for serialisations that use prefixes
    source_type: str
    language: str | None
    namedgraph: str | None
    files: list[str]
    compiler: Any = None  # the XPathCompiler of the namespace context, for expressions built at run time
    uses_named_graphs: bool = False
