"""Reading mapping files, generator policies and source records into the model.

Everything the reference engine checks when it loads a mapping happens here, in the same order:
XML well-formedness and the schema rules of every file (:mod:`.schema`), the merge of several
files (``Utils.mergeMultipleMappingFiles``: namespaces united, a prefix bound to two URIs is an
error, ``<mapping>`` elements appended in order), the X3ML version, the namespace declarations
(an empty prefix or an empty URI is an error, both empty only a warning), and the variables
(``Utils.parseX3MLAgainstVariables``: an entity that only names a variable borrows the
``instance_generator`` of another entity with that variable). Problems are raised as
:class:`~mdstore.errors.ConfigError` naming the file and line.

XML is parsed with entity resolution, DTD loading and network access off, and without
``huge_tree``.
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from lxml import etree

from mdstore.errors import ConfigError, RecordParseError
from transforms.x3ml.model import (
    SOURCE_TYPES,
    Additional,
    Arg,
    Condition,
    DomainSpec,
    EntitySpec,
    GeneratorCall,
    GeneratorSpec,
    LinkSpec,
    MappingDocument,
    MappingSpec,
    PathSpec,
    Policy,
    RangeSpec,
    Term,
    Where,
)
from transforms.x3ml.schema import SchemaViolation, validate_mapping_tree, validate_policy_tree
from transforms.x3ml.uritemplate import template_variables
from transforms.x3ml.xpath import XPathCompiler

__all__ = [
    "DEFAULT_NAMESPACES",
    "iter_records",
    "load_mapping_document",
    "load_policy",
    "parse_input",
    "parse_inputs",
]

logger = logging.getLogger(__name__)

#: added after the mapping's own declarations, so they win (``X3MLEngine.addDefaultNamespaces``)
DEFAULT_NAMESPACES = {
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "xml": "http://www.w3.org/XML/1998/namespace",
    "skos": "http://www.w3.org/2004/02/skos/core#",
}

_local = threading.local()

Source = str | Path | tuple[str, bytes]

#: bytes fed to the incremental parser at a time when an input file is streamed
_CHUNK = 1 << 16


def _parser() -> etree.XMLParser:
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = etree.XMLParser(
            resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, dtd_validation=False
        )
    return parser


def _read(source: Source) -> tuple[str, bytes]:
    if isinstance(source, tuple):
        return source
    path = Path(source)
    try:
        return str(path), path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", file=str(path)) from exc


def _parse_config(name: str, data: bytes, what: str) -> etree._ElementTree:
    try:
        return etree.ElementTree(etree.fromstring(data, _parser()))
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if getattr(exc, "lineno", None) else None
        raise ConfigError(
            f"not a well-formed XML {what}: {exc.msg}",
            file=name,
            field=f"line {line}" if line else None,
            rule="xml",
        ) from exc


def parse_input(data: bytes, *, record_id: str | None = None, name: str | None = None) -> etree._ElementTree:
    """Parse one source record (bytes) safely."""
    try:
        return etree.ElementTree(etree.fromstring(data, _parser()))
    except etree.XMLSyntaxError as exc:
        raise RecordParseError(
            f"not well-formed XML: {exc.msg}",
            record_id=record_id or name,
            step="x3ml",
            location=f"line {exc.lineno}" if getattr(exc, "lineno", None) else None,
        ) from exc


def parse_inputs(sources: Sequence[Source]) -> etree._ElementTree:
    """Several input files as one document (``Utils.parseMultipleXMLFiles``): the children of
    every further root are appended to the first root; the roots must have the same name."""
    trees = []
    for source in sources:
        name, data = _read(source)
        trees.append((name, parse_input(data, name=name)))
    if not trees:
        raise ConfigError("no input given")
    first_name, master = trees[0]
    root = master.getroot()
    for name, tree in trees[1:]:
        other = tree.getroot()
        if _qualified(other) != _qualified(root):
            raise ConfigError(
                "The given XML input files have different root nodes: "
                f"[{_qualified(other)} , {_qualified(root)}]",
                file=name,
            )
        if other.text and len(root):
            last = root[-1]
            last.tail = (last.tail or "") + other.text
        elif other.text:
            root.text = (root.text or "") + other.text
        for child in list(other):
            root.append(child)
    return master


def iter_records(path: str | Path) -> Iterator[etree._ElementTree]:
    """The top-level elements of one input file, each as a document of its own, read
    incrementally: a record's subtree is copied out and the parsed part of the file is freed
    before the next one is read, so memory holds one record at a time, whatever the file's size.

    Parsing is as safe as :func:`parse_input` (no entities, DTDs, network or ``huge_tree``);
    comments and processing instructions between the records are skipped."""
    name = str(path)
    parser = etree.XMLPullParser(
        events=("start", "end"),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        dtd_validation=False,
    )
    depth = 0
    try:
        stream = open(name, "rb")  # noqa: SIM115 - closed below, also when the consumer stops early
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", file=name) from exc
    with stream:
        while True:
            try:
                chunk = stream.read(_CHUNK)
            except OSError as exc:
                raise ConfigError(f"cannot read: {exc.strerror or exc}", file=name) from exc
            fault = None
            try:
                if chunk:
                    parser.feed(chunk)
                else:
                    parser.close()
            except etree.XMLSyntaxError as exc:
                fault = exc  # the records completed before the fault are still handed out
            for event, element in parser.read_events():
                if event == "start":
                    depth += 1
                    continue
                depth -= 1
                if depth != 1:
                    continue
                record = copy.deepcopy(element)
                record.tail = None
                parent = element.getparent()
                element.clear(keep_tail=False)
                while element.getprevious() is not None:  # the records already read
                    del parent[0]
                yield etree.ElementTree(record)
            if fault is not None:
                raise RecordParseError(
                    f"not well-formed XML: {fault.msg}",
                    record_id=name,
                    step="x3ml",
                    location=f"line {fault.lineno}" if getattr(fault, "lineno", None) else None,
                ) from fault
            if not chunk:
                return


def _qualified(el: etree._Element) -> str:
    qname = etree.QName(el)
    return f"{el.prefix}:{qname.localname}" if el.prefix else qname.localname


# ---------------------------------------------------------------- mapping files


def _text(el: etree._Element | None) -> str:
    if el is None:
        return ""
    return "".join(el.itertext())


def _merge(master: etree._Element, other: etree._Element, other_name: str) -> None:
    existing: dict[str, str] = {}
    for ns in master.iter("namespace"):
        existing[ns.get("prefix", "")] = ns.get("uri", "")
    target = next(master.iter("namespaces"))
    for ns in list(other.iter("namespace")):
        prefix, uri = ns.get("prefix", ""), ns.get("uri", "")
        if prefix in existing:
            if existing[prefix] != uri:
                raise ConfigError(
                    f'The declaration of the namespace with prefix "{prefix}" is not the same in all mapping '
                    f"files. ({existing[prefix]} != {uri})",
                    file=other_name,
                    field=f"line {ns.sourceline}",
                    rule="merge",
                )
        else:
            existing[prefix] = uri
            target.append(ns)
    mappings = next(master.iter("mappings"))
    for mapping in list(other.iter("mapping")):
        mappings.append(mapping)


def _namespace_blocks(root: etree._Element) -> Iterable[tuple[str, list[etree._Element]]]:
    """Namespace declarations in the order the reference reads them: the root block, then the
    source_info blocks, then the target_info blocks of ``<info>``."""
    ns_block = root.find("namespaces")
    yield "namespaces", list(ns_block.iterfind("namespace")) if ns_block is not None else []
    info = root.find("info")
    if info is not None:
        for source_info in info.iterfind("source/source_info"):
            yield "source_info", list(source_info.iterfind("namespaces/namespace"))
        for target_info in info.iterfind("target/target_info"):
            yield "target_info", list(target_info.iterfind("namespaces/namespace"))


class _Builder:
    """Turns a validated (merged) X3ML tree into a :class:`MappingDocument`."""

    def __init__(self, root: etree._Element, origins: dict[etree._Element, str], files: list[str]) -> None:
        self.root = root
        self.origins = origins
        self.files = files
        self.main_file = files[0]
        self.namespaces: dict[str, str] = {}
        self.template_namespaces: dict[str, str] = {}
        self.prefixes: dict[str, str] = {}
        self._read_namespaces()
        self.source_type = root.get("source_type")
        self.compiler = XPathCompiler(self.namespaces)

    def _read_namespaces(self) -> None:
        for block, elements in _namespace_blocks(self.root):
            for ns in elements:
                prefix, uri = ns.get("prefix", ""), ns.get("uri", "")
                where = f"line {ns.sourceline}"
                if not prefix.strip() and not uri.strip():
                    logger.warning(
                        "%s: %s: possible wrong namespace declaration: the prefix and the URI of a "
                        "namespace are empty",
                        self.main_file,
                        where,
                    )
                elif not prefix.strip():
                    raise ConfigError(
                        "Invalid namespace declaration: the prefix of a namespace cannot be empty "
                        f'[Prefix: (empty), URI: "{uri}"]',
                        file=self._file_of(ns),
                        field=where,
                        rule="namespace",
                    )
                elif not uri.strip():
                    raise ConfigError(
                        "Invalid namespace declaration: the URI of a namespace cannot be empty "
                        f'[Prefix: "{prefix}", URI: (empty)]',
                        file=self._file_of(ns),
                        field=where,
                        rule="namespace",
                    )
                else:
                    self.namespaces[prefix] = uri
                    if block != "source_info":
                        self.prefixes[prefix] = uri
                self.template_namespaces[prefix] = uri
        self.namespaces.update(DEFAULT_NAMESPACES)
        self.prefixes.update({k: v for k, v in DEFAULT_NAMESPACES.items() if k != "xml"})

    def _file_of(self, el: etree._Element) -> str:
        node = el
        while node is not None:
            if node in self.origins:
                return self.origins[node]
            node = node.getparent()
        return self.main_file

    def term(self, tag: str, *, relationship: bool = False) -> Term:
        tag = tag.strip()
        if relationship and tag == "MERGE":
            return Term(tag, None, is_merge=True)
        if tag.startswith("http:"):
            return Term(tag, tag)
        colon = tag.find(":")
        if colon <= 0:
            return Term(tag, None, f"Unqualified tag: '{tag}'. The namespace of the resource is missing")
        prefix = tag[:colon]
        uri = self.namespaces.get(prefix)
        if uri is None:
            return Term(
                tag,
                None,
                f'The namespace with prefix "{prefix}" has not been declared (in {tag!r}); '
                "the entity is dropped: declare the prefix in <namespaces>",
            )
        return Term(tag, uri + tag[colon + 1 :])

    def xpath(self, text: str | None):
        if text is None or not text.strip():
            return None
        return self.compiler.compile(text.strip())

    def generator(self, el: etree._Element | None, where: Where, *, label: bool) -> GeneratorCall | None:
        if el is None:
            return None
        args: dict[str, Arg] = {}
        for arg_el in el.iterfind("arg"):
            name = arg_el.get("name") or "text"
            arg_type = arg_el.get("type")
            value = _text(arg_el)
            xp = None
            if (arg_type or self.source_type) == "xpath" and value:
                xp = self.compiler.compile(value)
            args[name] = Arg(name, arg_type, value, xp)
        return GeneratorCall(
            el.get("name", ""), args, Where(where.file, el.sourceline, where.mapping, where.link), label=label
        )

    def conditions(self, parent: etree._Element) -> list[Condition]:
        return [self.condition(if_el) for if_el in parent.iterfind("if")]

    def condition(self, if_el: etree._Element) -> Condition:
        child = next(c for c in if_el if isinstance(c.tag, str))
        kind = child.tag
        if kind in ("and", "or"):
            return Condition(kind, children=[self.condition(c) for c in child.iterfind("if")])
        if kind == "not":
            return Condition(kind, children=[self.condition(child.find("if"))])
        expression = _text(child)
        return Condition(
            kind, value=child.get("value"), xpath=self.xpath(expression) if expression.strip() else None
        )

    def entity(self, el: etree._Element, where: Where) -> EntitySpec:
        ewhere = Where(where.file, el.sourceline, where.mapping, where.link)
        additionals = []
        for add_el in el.iterfind("additional"):
            children = [c for c in add_el if isinstance(c.tag, str)]
            pairs = [
                (self.term(_text(children[i]), relationship=True), self.entity(children[i + 1], where))
                for i in range(0, len(children), 2)
            ]
            additionals.append(Additional(pairs))
        return EntitySpec(
            types=[self.term(_text(t)) for t in el.iterfind("type")],
            variable=el.get("variable"),
            global_variable=el.get("global_variable"),
            variable_deprecated=el.get("variable_deprecated"),
            instance_generator=self.generator(el.find("instance_generator"), ewhere, label=False),
            label_generators=[self.generator(g, ewhere, label=True) for g in el.iterfind("label_generator")],
            additionals=additionals,
            where=ewhere,
        )

    def mapping(self, el: etree._Element, index: int) -> MappingSpec:
        file = self._file_of(el)
        where = Where(file, el.sourceline, index)
        domain_el = el.find("domain")
        source = domain_el.find("source_node")
        target = domain_el.find("target_node")
        domain = DomainSpec(
            source=_text(source),
            source_xpath=self.xpath(_text(source)),
            source_skip=(source.get("skip") or "").lower() == "true",
            conditions=self.conditions(target),
            entity=self.entity(target.find("entity"), where),
            namedgraph=domain_el.get("namedgraph"),
        )
        links = [
            self.link(link_el, Where(file, link_el.sourceline, index, i), i)
            for i, link_el in enumerate(el.iterfind("link"), start=1)
        ]
        return MappingSpec(
            domain, links, (el.get("skip") or "").lower() == "true", el.get("namedgraph"), where, index
        )

    def link(self, el: etree._Element, where: Where, index: int) -> LinkSpec:
        path_el, range_el = el.find("path"), el.find("range")
        source_relation = path_el.find("source_relation")
        relations = [_text(r) for r in source_relation.iterfind("relation")]
        nodes = [_text(n) for n in source_relation.iterfind("node")]
        target_relation = path_el.find("target_relation")
        properties, entities = [], []
        for child in target_relation:
            if child.tag == "relationship":
                properties.append(self.term(_text(child), relationship=True))
            elif child.tag == "entity":
                entities.append(self.entity(child, where))
        first = relations[0]
        path = PathSpec(
            relations=relations,
            relation_xpath=None if "==" in first or nodes else self.xpath(first),
            node=nodes[-1] if nodes else None,
            conditions=self.conditions(target_relation),
            properties=properties,
            entities=entities,
        )
        source = range_el.find("source_node")
        target = range_el.find("target_node")
        range_spec = RangeSpec(
            source=_text(source),
            source_xpath=self.xpath(_text(source)),
            source_skip=(source.get("skip") or "").lower() == "true",
            conditions=self.conditions(target),
            entity=self.entity(target.find("entity"), where),
        )
        return LinkSpec(
            path, range_spec, (el.get("skip") or "").lower() == "true", el.get("namedgraph"), where, index
        )

    def build(self) -> MappingDocument:
        mappings_el = self.root.find("mappings")
        specs = [self.mapping(el, i) for i, el in enumerate(mappings_el.iterfind("mapping"), start=1)]
        _resolve_variables(specs)
        return MappingDocument(
            mappings=specs,
            namespaces=self.namespaces,
            template_namespaces=self.template_namespaces,
            prefixes=self.prefixes,
            source_type=self.source_type,
            language=self.root.get("language"),
            namedgraph=mappings_el.get("namedgraph"),
            files=self.files,
            compiler=self.compiler,
            uses_named_graphs=any(
                el.get("namedgraph") is not None
                for el in self.root.iter("mappings", "mapping", "domain", "link")
            ),
        )


def _resolve_variables(specs: list[MappingSpec]) -> None:
    """``Utils.parseX3MLAgainstVariables``: every variable needs one entity with an instance
    generator, which the others then share. ``variable_deprecated`` is scoped to one mapping,
    ``variable`` and ``global_variable`` to the whole document."""
    typed: dict[str, list[EntitySpec]] = {}
    global_: dict[str, list[EntitySpec]] = {}
    for spec in specs:
        local: dict[str, list[EntitySpec]] = {}
        candidates = [spec.domain.entity]
        for link in spec.links:
            candidates.append(link.range.entity)
            candidates.extend(link.path.entities)
            for additional in link.range.entity.additionals:
                candidates.extend(entity for _, entity in additional.pairs)
        for entity in candidates:
            if entity.variable_deprecated is not None:
                local.setdefault(entity.variable_deprecated, []).append(entity)
            if entity.variable is not None:
                typed.setdefault(entity.variable, []).append(entity)
            if entity.global_variable is not None:
                global_.setdefault(entity.global_variable, []).append(entity)
        _share_generators(local)
    _share_generators(typed)
    _share_generators(global_)


def _share_generators(groups: dict[str, list[EntitySpec]]) -> None:
    for variable, entities in groups.items():
        found = None
        for entity in entities:
            if entity.instance_generator is not None:
                found = entity.instance_generator
        if found is None:
            raise ConfigError(
                f'The variable "{variable}" has been declared however the details of the entity '
                "(i.e.instance_generator, label generators, etc.) are missing",
                file=entities[0].where.file,
                field=f"line {entities[0].where.line}",
                rule="variables",
            )
        for entity in entities:
            if entity.instance_generator is None:
                entity.instance_generator = found


def load_mapping_document(sources: Sequence[Source], *, lenient_info: bool = False) -> MappingDocument:
    """Load, validate and merge mapping files (see the module docstring)."""
    if not sources:
        raise ConfigError("no mapping file given")
    trees: list[tuple[str, etree._Element]] = []
    for source in sources:
        name, data = _read(source)
        root = _parse_config(name, data, "X3ML mapping").getroot()
        try:
            validate_mapping_tree(root, lenient_info=lenient_info)
        except SchemaViolation as exc:
            raise ConfigError(
                f"invalid X3ML mapping: {exc}",
                file=name,
                field=f"line {exc.line}" if exc.line else exc.path,
                rule="x3ml.xsd",
            ) from exc
        trees.append((name, root))
    master_name, master = trees[0]
    origins: dict[etree._Element, str] = {}
    for name, other in trees[1:]:
        for mapping in other.iter("mapping"):
            origins[mapping] = name
        for ns in other.iter("namespace"):
            origins[ns] = name
        _merge(master, other, name)
    version = master.get("version")
    if version != "1.0":
        raise ConfigError(
            f"Incorrect X3ML Version {version}, expected 1.0", file=master_name, field="x3ml/@version"
        )
    if master.get("source_type") not in SOURCE_TYPES:
        raise ConfigError(
            f"unknown source_type {master.get('source_type')!r}; expected one of {', '.join(SOURCE_TYPES)}",
            file=master_name,
            field="x3ml/@source_type",
        )
    return _Builder(master, origins, [name for name, _ in trees]).build()


# ---------------------------------------------------------------- generator policy


def load_policy(source: Source | None) -> Policy:
    """Load and validate a generator policy; ``None`` gives the empty policy (built-in
    generators only)."""
    if source is None:
        return Policy({})
    name, data = _read(source)
    root = _parse_config(name, data, "generator policy").getroot()
    try:
        validate_policy_tree(root)
    except SchemaViolation as exc:
        raise ConfigError(
            f"invalid generator policy: {exc}",
            file=name,
            field=f"line {exc.line}" if exc.line else exc.path,
            rule="generatorPolicy.xsd",
        ) from exc
    generators: dict[str, GeneratorSpec] = {}
    for el in root.iterfind("generator"):
        gen_name = el.get("name")
        gen_type = el.get("type")
        if gen_type is not None and gen_type.lower() not in ("instance", "label", "any"):
            raise ConfigError(
                f'Unknown type for generator: {gen_name}. The declared type is "{gen_type}" which is '
                "unknown. One of the following types are allowed {instance | label | any}",
                file=name,
                field=f"line {el.sourceline}",
                rule="generatorPolicy",
            )
        pattern_el, custom_el = el.find("pattern"), el.find("custom")
        pattern = _text(pattern_el) if pattern_el is not None else None
        generators[gen_name] = GeneratorSpec(
            name=gen_name,
            prefix=el.get("prefix"),
            shorten=_affirmative(el.get("shorten")),
            uuid=_affirmative(el.get("uuid")),
            pattern=pattern,
            custom_class=custom_el.get("generatorClass") if custom_el is not None else None,
            custom_args=[(a.get("name"), a.get("type")) for a in custom_el.iterfind("set-arg")]
            if custom_el is not None
            else [],
            variables=template_variables(pattern) if pattern is not None else [],
            where=Where(name, el.sourceline),
        )
    return Policy(generators, name)


def _affirmative(value: str | None) -> bool:
    return value is not None and value.lower() in ("true", "yes", "1")
