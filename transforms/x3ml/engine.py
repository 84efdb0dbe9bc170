"""Running a loaded mapping over one source document: a port of the reference engine's core.

The control flow is the reference's (``X3ML.Mapping.apply``, ``Root``, ``Domain``, ``Path``,
``Range``, ``EntityResolver``, ``GeneratorContext``, ``X3MLGeneratorPolicy.generate``) because
the order of calls decides which test UUID each entity gets, and the cache keys decide which
entities share a URI:

* per mapping, pass 1 resolves the domain entity of every domain node; pass 2 resolves each
  domain again, links its labels and additionals, and runs its links in order;
* in a link, all path nodes are resolved (with their intermediate entities) before the range
  nodes of each path node are resolved and linked; joins (``a == b``, and double joins with
  ``<node>``) find range nodes by key instead;
* a generated URI is cached under the source node and a suffix (empty for domain and range
  entities, the sorted types plus a position for intermediates and additionals, the variable
  name for ``variable``); ``global_variable`` values live for the run, ``variable_deprecated``
  values per domain node;
* a problem with one entity (an empty value, an unknown generator, an undeclared prefix) is
  recorded as a warning and drops that entity, or the rest of that link, as the reference does.

Nothing here reads files or writes output; :mod:`.api` drives it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lxml import etree

from mdstore.errors import MappingError, UnknownPlugin
from transforms.x3ml.generators.custom import CustomGeneratorError, TextualContent
from transforms.x3ml.model import (
    SOURCE_TYPES,
    Condition,
    EntitySpec,
    GeneratorCall,
    GeneratorSpec,
    LinkSpec,
    MappingSpec,
    Term,
    Where,
)
from transforms.x3ml.output import DEFAULT_GRAPH, Graph, Literal, valid_language
from transforms.x3ml.uritemplate import TemplateError, expand, post_process, shorten_current, shorten_legacy
from transforms.x3ml.urivalidator import UriRepairError, is_valid_uri
from transforms.x3ml.uuids import TooManyTestUUIDs, UUIDSource
from transforms.x3ml.xpath import (
    AttrNode,
    DocumentContext,
    TextNode,
    XPathFailure,
    java_trim,
    jquery_position,
    node_key,
    node_value,
)

if TYPE_CHECKING:
    from transforms.x3ml.api import X3MLMapping

__all__ = ["ItemError", "Run"]

RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
RDFS_LABEL = "http://www.w3.org/2000/01/rdf-schema#label"
SKOS_PREF_LABEL = "http://www.w3.org/2004/02/skos/core#prefLabel"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
SAME_MERGING_DELIMITER = "<SAME_DELIM>"
_ANY_LANGUAGE = etree.XPath("boolean(//@xml:lang)")

URI, LITERAL, TYPED = "URI", "LITERAL", "TYPED_LITERAL"

#: kinds of generator call (see :meth:`Run._plan`)
_G_UUID, _G_BUILTIN, _G_TEMPLATE, _G_SIMPLE, _G_CUSTOM, _G_ERROR = range(6)
#: bound of the URI template memo shared by the runs of a mapping (entries of ~200 bytes)
_TEMPLATE_MEMO_SIZE = 20_000


class ItemError(Exception):
    """One entity or link cannot be produced (the reference's ``X3MLException``); the run goes on."""

    def __init__(self, message: str, xpath: str | None = None) -> None:
        super().__init__(message)
        self.xpath = xpath


class _Value:
    """A generated value (``X3ML.GeneratedValue``): kind URI, LITERAL or TYPED_LITERAL."""

    __slots__ = ("kind", "language", "text")

    def __init__(self, kind: str, text: str, language: str | None = None) -> None:
        self.kind = kind
        self.text = text
        self.language = language


class _ArgValue:
    """An argument value and its language; for XPath arguments the language (``xml:lang`` of the
    node, else the mapping's) is looked up only when a generator asks for it."""

    __slots__ = ("_language", "_node", "_run", "string")

    def __init__(self, string: str, language: str | None, node: Any = None, run: Run | None = None) -> None:
        self.string = string
        self._language = language
        self._node = node
        self._run = run

    @property
    def language(self) -> str | None:
        if self._run is not None:
            language = self._run.language_of(self._node)
            self._language = language if language is not None else self._run.language_from_mapping
            self._run = None
        return self._language


class _Env:
    """What a custom generator may use: per-run state of its class and random UUID text."""

    __slots__ = ("_key", "_source", "state")

    def __init__(self, state: dict[str, Any], source: UUIDSource, key: Any) -> None:
        self.state = state
        self._source = source
        self._key = key

    def random_uuid(self) -> str:
        return self._source.random_text(self._key)


# ---------------------------------------------------------------- generator contexts


class _Context:
    """``GeneratorContext``: a source node, its position, the domain it belongs to."""

    __slots__ = ("domain", "index", "node")

    def __init__(self, node: Any, index: int, domain: _DomainCtx | None) -> None:
        self.node = node
        self.index = index
        self.domain = domain


class _DomainCtx(_Context):
    __slots__ = ("mapping", "resolved", "variables")

    def __init__(self, node: Any, index: int, mapping: MappingSpec) -> None:
        self.node = node  # the base's fields, set here: one call less per context
        self.index = index
        self.domain = self
        self.mapping = mapping
        self.variables: dict[str, _Value] = {}
        self.resolved: _Resolved | None = None


class _PathCtx(_Context):
    __slots__ = ("intermediates", "last_property", "last_resources", "property")

    def __init__(self, node: Any, index: int, domain: _DomainCtx) -> None:
        self.node = node  # the base's fields, set here: one call less per context
        self.index = index
        self.domain = domain
        self.property: str | None = None
        self.intermediates: list[tuple[_Resolved, str | None]] = []
        self.last_resources: list[str] = []
        self.last_property: str | None = None


class _RangeCtx(_Context):
    __slots__ = ("path", "resolved")

    def __init__(self, node: Any, index: int, path: _PathCtx) -> None:
        self.node = node  # the base's fields, set here: one call less per context
        self.index = index
        self.domain = path.domain
        self.path = path
        self.resolved: _Resolved | None = None


class _Resolved:
    """What ``EntityResolver.resolve`` leaves: a URI (typed), or a literal, with labels and
    additional chains still to be linked."""

    __slots__ = ("additionals", "iri", "labels", "literal")

    def __init__(self) -> None:
        self.iri: str | None = None
        self.literal: Literal | None = None
        self.labels: list[tuple[str, Literal]] = []
        self.additionals: list[list[tuple[str | None, _Resolved]]] = []


# ---------------------------------------------------------------- the run


class Run:
    """One execution of a mapping over one document; holds every per-run cache."""

    def __init__(
        self, mapping: X3MLMapping, tree: etree._ElementTree, uuid_source: UUIDSource, record_id: str | None
    ) -> None:
        self.mapping = mapping
        self.doc = mapping.document
        self.policy = mapping.policy
        self.terminology = mapping.terminology
        self.legacy_shorten = mapping.compat.legacy_shorten
        self.shorten_enabled = mapping.compat.shorten
        self.post_process = mapping.compat.post_process
        self.compiler = mapping.compiler
        self.tree = tree
        self.root = tree.getroot()
        self.dc = DocumentContext(tree)
        self.uuids = uuid_source
        self.record_id = record_id
        self.graph = Graph(self.doc.prefixes, default_graph=self.doc.namedgraph or DEFAULT_GRAPH)
        self.warnings: list[MappingError] = []
        #: triples written per link: the curator's "link gave nothing" check (counted by the
        #: link object, whose hash is its identity; :attr:`link_triples` keys them by declaration)
        self.link_counts: dict[LinkSpec, int] = {}
        self.generated: dict[tuple[Any, str], _Value] = {}
        self.global_variables: dict[str, _Value] = {}
        self.range_maps: dict[str, dict[str, list[Any]]] = {}
        #: values of deterministic generator calls by (call, source node key, position, fallback)
        self.generator_memo: dict[tuple[int, Any, int, bool], _Value] = {}
        self.custom_state: dict[str, dict[str, Any]] = {}
        self.languages: dict[Any, str | None] = {}
        self.any_language: bool | None = None
        self.mapping_counter = 0
        self.link_counter = 0
        self.additional_counter = 1
        self.domain_node: Any = None
        self.where: Where | None = None
        self.language_from_mapping = self.doc.language
        self.default_source_type = self.doc.source_type
        # named graphs (the reference keeps these in static fields)
        self.ng_mapping: str | None = None
        self.ng_domain: str | None = None
        self.ng_link: str | None = None
        self.named_graphs = mapping.document.uses_named_graphs

    @property
    def link_triples(self) -> dict[Where, int]:
        """Triples written per link, keyed by the link's declaration."""
        out: dict[Where, int] = {}
        for link, count in self.link_counts.items():
            out[link.where] = out.get(link.where, 0) + count
        return out

    # ------------------------------------------------------------ diagnostics

    def warn(self, message: str, *, where: Where | None = None, xpath: str | None = None) -> None:
        location = str(where or self.where or "")
        if xpath:
            location += f", xpath {xpath!r}"
        self.warnings.append(MappingError(message, record_id=self.record_id, step="x3ml", location=location))

    # ------------------------------------------------------------ XPath helpers

    def nodes(self, node: Any, source: str | None, xpath: Any = None) -> list[Any]:
        if xpath is not None:
            return xpath.nodes(node, self.dc)
        if not source or not source.strip():
            return [node]
        return self.compiler.compile(source.strip()).nodes(node, self.dc)

    def value_at(self, node: Any, source: str, xpath: Any = None) -> str:
        expr = xpath if xpath is not None else self.compiler.compile(source.strip())
        return java_trim(expr.string(node, self.dc))

    # ------------------------------------------------------------ top level

    def execute(self) -> Graph:
        for mapping in self.doc.mappings:
            self.mapping_counter += 1
            self.link_counter = 0
            if not mapping.skip:
                self.apply_mapping(mapping)
        return self.graph

    def apply_mapping(self, mapping: MappingSpec) -> None:
        self.where = mapping.where
        self.ng_mapping = mapping.namedgraph
        domains = self.create_domain_contexts(mapping)
        self.ng_domain = None
        for domain in domains:
            self.link_counter = 0
            self.where = mapping.where
            try:  # the second resolution repeats the first, which succeeded
                self.resolve_domain(domain, mapping)
                self.link_entity(domain.resolved, "Domain")
            except ItemError as exc:
                self.warn(str(exc), xpath=exc.xpath)
                continue
            for link in mapping.links:
                self.ng_link = None
                self.link_counter += 1
                if link.skip:
                    continue
                self.where = link.where
                try:
                    self.apply_link(domain, link)
                except (ItemError, XPathFailure) as exc:
                    self.warn(str(exc), xpath=getattr(exc, "expression", None) or getattr(exc, "xpath", None))

    def create_domain_contexts(self, mapping: MappingSpec) -> list[_DomainCtx]:
        spec = mapping.domain
        try:
            nodes = self.nodes(self.root, spec.source, spec.source_xpath)
        except XPathFailure as exc:
            raise MappingError(
                str(exc),
                record_id=self.record_id,
                step="x3ml",
                location=f"{mapping.where}, domain source_node {spec.source!r}",
            ) from exc
        domains = []
        for index, node in enumerate(nodes, start=1):
            domain = _DomainCtx(node, index, mapping)
            try:
                if self.resolve_domain(domain, mapping):
                    domains.append(domain)
            except ItemError as exc:
                self.warn(str(exc), where=mapping.where, xpath=exc.xpath)
        return domains

    def resolve_domain(self, domain: _DomainCtx, mapping: MappingSpec) -> bool:
        self.domain_node = domain.node
        spec = mapping.domain
        if spec.conditions and self.conditions_fail(spec.conditions, domain):
            return False
        resolved = self.resolve_entity(
            spec.entity,
            domain,
            0,
            0,
            spec.source_skip,
            "Domain",
            spec.namedgraph,
            mapping.namedgraph,
            None,
            "domain",
        )
        domain.resolved = resolved
        return resolved is not None and (resolved.iri is not None or resolved.literal is not None)

    # ------------------------------------------------------------ links

    def apply_link(self, domain: _DomainCtx, link: LinkSpec) -> None:
        path = link.path
        first = path.relations[0]
        if path.node is not None:
            if "==" in first:
                second = path.relations[1].strip() if len(path.relations) > 1 else ""
                left, _, inter_first = first.strip().partition("==")
                inter_second, _, right = second.partition("==")
                links = self.create_double_join_links(
                    domain,
                    link,
                    left.strip(),
                    right.strip(),
                    inter_first.strip(),
                    inter_second.strip(),
                    path.node,
                )
                for range_ctx in links:
                    self.link_range(range_ctx, link)
        elif "==" in first:
            left, _, right = first.partition("==")
            for range_ctx in self.create_join_links(domain, link, left.strip(), right.strip()):
                self.link_range(range_ctx, link)
        else:
            for path_ctx in self.create_path_contexts(domain, link):
                for range_ctx in self.create_range_contexts(path_ctx, link):
                    self.link_range(range_ctx, link)

    def create_path_contexts(self, domain: _DomainCtx, link: LinkSpec) -> list[_PathCtx]:
        paths = []
        for index, node in enumerate(
            self.nodes(domain.node, link.path.relations[0], link.path.relation_xpath), start=1
        ):
            path = _PathCtx(node, index, domain)
            if self.resolve_path(path, link):
                paths.append(path)
        return paths

    def create_range_contexts(self, path: _PathCtx, link: LinkSpec) -> list[_RangeCtx]:
        spec = link.range
        if spec.source is None:
            raise ItemError("Range source absent")
        if link.range_on_path_node:
            nodes = [path.node]
        else:
            nodes = self.nodes(path.node, spec.source, spec.source_xpath)
        ranges = []
        for index, node in enumerate(nodes, start=1):
            range_ctx = _RangeCtx(node, index, path)
            if self.resolve_range(range_ctx, link):
                ranges.append(range_ctx)
        return ranges

    def _range_map(
        self, domain_expr: str, path_expr: str, range_expr: str, key_path: str
    ) -> dict[str, list[Any]]:
        name = f"{domain_expr}|{path_expr}|{range_expr}"
        table = self.range_maps.get(name)
        if table is None:
            table = self.range_maps[name] = {}
            for node in self.nodes(self.root, range_expr):
                key = self.value_at(node, key_path)
                if not key:
                    self.warn(f'Empty value for "{range_expr}/{key_path}"')
                table.setdefault(key, []).append(node)
        return table

    def root_node_list(
        self, domain: _DomainCtx, path_expr: str, value: str, link: LinkSpec, key_path: str
    ) -> list[Any]:
        range_expr = link.range.source
        if not range_expr or not range_expr.strip():
            raise ItemError("Range expression missing")
        table = self._range_map(domain.mapping.domain.source or "", path_expr, range_expr, key_path)
        return table.get(value, [])

    def create_join_links(
        self, domain: _DomainCtx, link: LinkSpec, foreign_key: str, primary_key: str
    ) -> list[_RangeCtx]:
        value = self.value_at(domain.node, foreign_key + "/text()")
        range_nodes = self.root_node_list(
            domain, link.path.relations[0], value, link, primary_key + "/text()"
        )
        links = []
        for index, range_node in enumerate(range_nodes, start=1):
            path = _PathCtx(domain.node, index, domain)
            range_ctx = _RangeCtx(range_node, index, path)
            if self.resolve_path(path, link):
                self.resolve_range(range_ctx, link)
                links.append(range_ctx)
        return links

    def create_double_join_links(
        self,
        domain: _DomainCtx,
        link: LinkSpec,
        foreign_key: str,
        primary_key: str,
        inter_first: str,
        inter_second: str,
        node_inside: str,
    ) -> list[_RangeCtx]:
        node = domain.node
        parent = node.getparent() if isinstance(node, etree._Element) else node.parent
        if parent is None:
            parent = self.tree
        node_inside = node_inside.strip()
        size = len(self.nodes(parent, f"{node_inside}//{inter_first}/text()"))
        own_value = self.value_at(node, foreign_key + "/text()")
        links = []
        index = 1
        for count in range(1, size + 1):
            if self.value_at(parent, f"{node_inside}[{count}]//{inter_first}/text()") != own_value:
                continue
            inter_value = self.value_at(node, f"{node_inside}[{count}]//{inter_second}/text()")
            if not inter_value:
                self.warn(f"Empty value for {node_inside}/{inter_second}")
            range_nodes = self.root_node_list(
                domain, link.path.relations[0], inter_value, link, primary_key + "/text()"
            )
            for range_node in range_nodes:
                path = _PathCtx(node, index, domain)
                range_ctx = _RangeCtx(range_node, index, path)
                if self.resolve_path(path, link):
                    self.resolve_range(range_ctx, link)
                    links.append(range_ctx)
                index += 1
        return links

    def resolve_path(self, path: _PathCtx, link: LinkSpec) -> bool:
        spec = link.path
        if spec.conditions and self.conditions_fail(spec.conditions, path):
            return False
        if not spec.properties:
            raise ItemError("Target relation must have at least one property")
        if len(spec.entities) + 1 != len(spec.properties):
            raise ItemError("Target relation must have one more property than entity")
        path.property = self.property_iri(spec.properties[0])
        path.intermediates = []
        for index, entity in enumerate(spec.entities, start=1):
            resolved = self.resolve_entity(
                entity, path, 0, index, False, "Path", "", "", None, f"intermediate{index}"
            )
            if resolved is not None and (resolved.iri is not None or resolved.literal is not None):
                path.intermediates.append((resolved, self.property_iri(spec.properties[index])))
        return True

    def resolve_range(self, range_ctx: _RangeCtx, link: LinkSpec) -> bool:
        spec = link.range
        if spec.conditions and self.conditions_fail(spec.conditions, range_ctx):
            return False
        merge = self.domain_node if range_ctx.path.property is None else None
        resolved = self.resolve_entity(spec.entity, range_ctx, 0, 0, False, "Range", "", "", merge, "range")
        range_ctx.resolved = resolved
        return resolved is not None and (resolved.iri is not None or resolved.literal is not None)

    def link_path(self, path: _PathCtx) -> None:
        domain = path.domain
        self.link_entity(domain.resolved, "Domain")
        if domain.resolved is None or domain.resolved.iri is None:
            raise ItemError("Domain node has no resource")
        path.last_resources = [domain.resolved.iri]
        path.last_property = path.property
        if path.property is None:
            return
        for resolved, prop in path.intermediates:
            self.link_entity(resolved, "Path")
            if resolved.iri is None:
                raise ItemError("Intermediate node has no resources")
            for last in path.last_resources:
                self.graph.triples[(last, path.last_property, resolved.iri)] = None
                if self.ng_mapping:
                    self.graph.add_quad(self.ng_mapping, last, path.last_property, resolved.iri)
            path.last_resources = [resolved.iri]
            path.last_property = prop

    def link_range(self, range_ctx: _RangeCtx, link: LinkSpec) -> None:
        path = range_ctx.path
        self.link_path(path)
        resolved = range_ctx.resolved
        if resolved is None:
            return
        prop = path.last_property
        if prop is not None and path.last_resources:
            counts = self.link_counts
            counts[link] = counts.get(link, 0) + len(path.last_resources)
        if resolved.iri is not None:
            self.link_entity(resolved, "Range")
            for last in path.last_resources:
                if prop is None:
                    break
                self.graph.triples[(last, prop, resolved.iri)] = None
                self._link_quads(link, range_ctx, last, prop, resolved.iri, typed=True)
        elif resolved.literal is not None:
            for last in path.last_resources:
                if prop is None:
                    break
                self.graph.triples[(last, prop, resolved.literal)] = None
                self._link_quads(link, range_ctx, last, prop, resolved.literal, typed=False)

    # ------------------------------------------------------------ named graphs

    @staticmethod
    def _graph_name(declared: str, iri: str, *, plain_prefix: str = "http://") -> str:
        if declared == "":
            return iri
        if declared.startswith(("http://", "https://", "uuid:", "urn:")):
            return declared + iri.replace("http://", "_").replace("https://", "_").replace(
                "uuid:", "_"
            ).replace("urn:", "_")
        return (
            plain_prefix
            + declared
            + iri.replace("http://", "_").replace("https://", "_").replace("uuid:", "_").replace("urn:", "_")
        )

    def _link_quads(
        self, link: LinkSpec, range_ctx: _RangeCtx, subject: str, prop: str, obj: Any, *, typed: bool
    ) -> None:
        mapping_ng = range_ctx.domain.mapping.namedgraph
        type_iri = None
        if typed and range_ctx.resolved is not None:
            first_type = link.range.entity.types[0] if link.range.entity.types else None
            type_iri = first_type.iri if first_type is not None else None
        if link.namedgraph is not None:
            graph = self._graph_name(link.namedgraph, subject)
            self.ng_link = graph
            self.graph.add_quad(graph, subject, prop, obj)
            if type_iri:
                self.graph.add_quad(graph, obj, RDF_TYPE, type_iri)
                self.link_entity(range_ctx.resolved, "Range")
        if mapping_ng is not None and self.ng_mapping:
            self.graph.add_quad(self.ng_mapping, subject, prop, obj)
            if type_iri:
                self.graph.add_quad(self.ng_mapping, obj, RDF_TYPE, type_iri)

    # ------------------------------------------------------------ conditions

    def conditions_fail(self, conditions: list[Condition], ctx: _Context) -> bool:
        return any(not self.holds(condition, ctx) for condition in conditions)

    def holds(self, condition: Condition, ctx: _Context) -> bool:
        kind = condition.kind
        if kind == "exists":
            # a node list must not be empty; other results count by their boolean value
            # (the reference only takes node lists and stops on anything else)
            return condition.xpath is None or condition.xpath.boolean(ctx.node, self.dc)
        if kind == "equals":
            value = self._condition_value(condition, ctx)
            expected = condition.value or ""
            if "||" in expected:
                parts = expected.split("||")
                while parts and parts[-1] == "":
                    parts.pop()
                return any(part.strip() == value for part in parts)
            return expected == value
        if kind in ("broader", "exact_match"):
            if self.terminology is None:
                raise ItemError(
                    f"Trying to retrieve skos:{'broader' if kind == 'broader' else 'exactMatch'} terms, "
                    "however the terminology is missing (SKOS terms were not loaded)"
                )
            value = self._condition_value(condition, ctx)
            expected = condition.value or ""
            terms = (
                self.terminology.broader_terms(expected)
                if kind == "broader"
                else self.terminology.exact_match_terms(expected)
            )
            return value in terms or expected == value
        if kind == "narrower":
            return True
        if kind == "and":
            results = [self.holds(child, ctx) for child in condition.children]
            return all(results)
        if kind == "or":
            results = [self.holds(child, ctx) for child in condition.children]
            return any(results)
        if kind == "not":
            return not self.holds(condition.children[0], ctx)
        raise ItemError(f"unknown condition {kind!r}")

    def _condition_value(self, condition: Condition, ctx: _Context) -> str:
        if condition.xpath is None:
            raise XPathFailure("", "empty expression")
        return java_trim(condition.xpath.string(ctx.node, self.dc))

    # ------------------------------------------------------------ entities

    def type_iri(self, term: Term) -> str:
        if term.error is not None:
            raise ItemError(term.error)
        return term.iri  # type: ignore[return-value]

    def property_iri(self, term: Term) -> str | None:
        if term.is_merge:
            return None
        return self.type_iri(term)

    def resolve_entity(
        self,
        entity: EntitySpec,
        ctx: _Context,
        additional_index: int,
        intermediate_index: int,
        skip: bool,
        derived: str,
        domain_ng: str | None,
        mapping_ng: str | None,
        merge_node: Any,
        role: str,
    ) -> _Resolved | None:
        unique = ""
        if additional_index > 0 and entity.variable is None:
            unique = f"{entity.unique}-additional-{self.link_counter}-{additional_index}"
        elif intermediate_index > 0 and additional_index == 0 and entity.variable is None:
            unique = f"{entity.unique}-intermediate-{self.link_counter}-{intermediate_index}"
        if entity.literal_unique is not None:
            unique = entity.literal_unique
        if skip:
            unique = "NAMEDGRAPH_URI"
        if merge_node is not None:
            value = self.get_instance_merge(entity, ctx, unique, merge_node, role)
        else:
            try:
                value = self.get_instance(entity, ctx, unique, role)
            except ItemError as exc:
                self.warn(str(exc), where=entity.where, xpath=exc.xpath)
                value = None
            except XPathFailure as exc:
                self.warn(str(exc), where=entity.where, xpath=exc.expression)
                value = None
        if value is None:
            return None
        resolved = _Resolved()
        if value.kind == URI:
            iri = value.text
            triples = self.graph.triples
            for term in entity.types:
                type_iri = term.iri if term.error is None else self.type_iri(term)
                triples[(iri, RDF_TYPE, type_iri)] = None
                if self.named_graphs:
                    self._entity_quads(derived, domain_ng, mapping_ng, iri, type_iri)
            resolved.iri = iri
            if entity.label_generators:
                resolved.labels = self.create_labels(entity, ctx, role)
            if entity.additionals:
                resolved.additionals = self.create_additionals(entity, ctx, role)
        elif value.kind == LITERAL:
            resolved.literal = Literal(value.text, valid_language(value.language))
        else:
            if len(entity.types) != 1:
                raise ItemError(f"Expected one type in entity {[t.tag for t in entity.types]}")
            resolved.literal = Literal(value.text, None, self._datatype(entity.types[0]))
        return resolved

    def _datatype(self, term: Term) -> str:
        return self.type_iri(term)

    def _entity_quads(
        self, derived: str, domain_ng: str | None, mapping_ng: str | None, iri: str, type_iri: str
    ) -> None:
        graph = None
        if derived == "Domain":
            if mapping_ng is not None:
                if mapping_ng == "":
                    graph = iri
                elif mapping_ng.startswith(("http://", "https://", "uuid:", "urn:")):
                    graph = self._graph_name(mapping_ng, iri)
                else:
                    graph = iri + "/" + mapping_ng
                self.ng_mapping = graph
        else:
            graph = self.ng_mapping
        if domain_ng:
            if domain_ng.startswith(("http://", "https://", "uuid:", "urn:")):
                self.ng_domain = self._graph_name(domain_ng, iri)
            else:
                self.ng_domain = iri + domain_ng
            self.graph.add_quad(self.ng_domain, iri, RDF_TYPE, type_iri)
        if graph is not None:
            self.graph.add_quad(graph, iri, RDF_TYPE, type_iri)

    def create_labels(self, entity: EntitySpec, ctx: _Context, role: str) -> list[tuple[str, Literal]]:
        labels = []
        for generator in entity.label_generators:
            prop = SKOS_PREF_LABEL if generator.name == "prefLabel" else RDFS_LABEL
            try:
                value = self.get_label_instance(generator, ctx, f"{role}/label:{generator.name}")
                if value is None:
                    continue
                if value.kind == URI:
                    raise ItemError("Label node must produce a literal")
                labels.append((prop, Literal(value.text, valid_language(value.language))))
            except ItemError as exc:
                self.warn(
                    f'label generator "{generator.name}" gives no value: {exc}',
                    where=generator.where,
                    xpath=exc.xpath,
                )
            except XPathFailure as exc:
                self.warn(
                    f'label generator "{generator.name}" gives no value: {exc}',
                    where=generator.where,
                    xpath=exc.expression,
                )
        return labels

    def create_additionals(
        self, entity: EntitySpec, ctx: _Context, role: str
    ) -> list[list[tuple[str | None, _Resolved]]]:
        chains = []
        for position, additional in enumerate(entity.additionals, start=1):
            index = self.additional_counter
            self.additional_counter += 1
            chain = []
            ok = True
            for step, (relationship, additional_entity) in enumerate(additional.pairs, start=1):
                prop = self.property_iri(relationship)
                resolved = self.resolve_entity(
                    additional_entity,
                    ctx,
                    index,
                    0,
                    False,
                    "Additional",
                    "",
                    "",
                    None,
                    f"{role}/additional{position}.{step}",
                )
                if resolved is None or (resolved.iri is None and resolved.literal is None):
                    ok = False
                    break
                chain.append((prop, resolved))
            if ok:
                chains.append(chain)
        return chains

    def link_entity(self, resolved: _Resolved | None, derived: str) -> None:
        """``EntityResolver.link``: labels and additional chains from the entity's URI."""
        if resolved is None or resolved.iri is None:
            return
        iri = resolved.iri
        for prop, literal in resolved.labels:
            self.graph.triples[(iri, prop, literal)] = None
            if self.ng_mapping:
                self.graph.add_quad(self.ng_mapping, iri, prop, literal)
            if self.ng_domain and derived == "Domain":
                self.graph.add_quad(self.ng_domain, iri, prop, literal)
            if derived in ("Path", "Range") and self.ng_link:
                self.graph.add_quad(self.ng_link, iri, prop, literal)
        for chain in resolved.additionals:
            last = iri
            for prop, step in chain:
                self.link_entity(step, "Additional")
                if step.iri is not None:
                    self.graph.triples[(last, prop, step.iri)] = None
                    if self.ng_mapping:
                        self.graph.add_quad(self.ng_mapping, iri, prop, step.iri)
                    last = step.iri
                elif step.literal is not None:
                    self.graph.triples[(last, prop, step.literal)] = None
                    if self.ng_mapping:
                        self.graph.add_quad(self.ng_mapping, iri, prop, step.literal)
                else:
                    raise ItemError("Cannot link without property or literal")

    # ------------------------------------------------------------ instances (GeneratorContext)

    def _key_fn(self, key: tuple[_Context, str, str]) -> Any:
        """The text a reproducible UUID is derived from, as a function (built only when a UUID
        is drawn): mapping and link position, the entity's role, the node paths, the suffix."""
        ctx, role, unique = key

        def key_text() -> str:
            # the additional counter is a run-wide sequence number: leave it out of the key, so
            # that an additional resolved twice (pass 1 and pass 2 of a mapping) is one entity
            stable = unique.split("-additional-")[0] if "-additional-" in unique else unique
            return "|".join(
                (
                    str(self.mapping_counter),
                    str(self.link_counter),
                    role,
                    self.node_path(ctx.node),
                    self.node_path(self.domain_node),
                    stable,
                )
            )

        return key_text

    def node_path(self, node: Any) -> str:
        """A positional path of the node in the record, as reproducible UUIDs need it: unique per
        element and attribute, one for all text children of an element (like the cache keys)."""
        if node is None:
            return ""
        if isinstance(node, etree._Element):
            return self.tree.getpath(node)
        if isinstance(node, AttrNode):
            return f"{self.tree.getpath(node.parent)}/@{node.name}"
        return f"{self.tree.getpath(node.parent)}/text()" if node.parent is not None else "/"

    def get_instance(self, entity: EntitySpec, ctx: _Context, unique: str, role: str) -> _Value | None:
        generator = entity.instance_generator
        if generator is None:
            raise ItemError("Value generator missing")
        key = (ctx, role, unique)
        value: _Value | None
        if entity.global_variable is not None:
            value = self.global_variables.get(entity.global_variable)
            if value is None:
                value = self.generate(generator, ctx, key, fallback=True)
                self.global_variables[entity.global_variable] = value
                ctx.domain.variables[entity.global_variable] = value
        elif entity.variable is not None:
            if entity.variable_deprecated is not None:
                value = ctx.domain.variables.get(entity.variable_deprecated)
                if value is None:
                    value = self.generate(generator, ctx, key, fallback=True)
                    ctx.domain.variables[entity.variable_deprecated] = value
                    self._cache(node_key(ctx.node), unique + "-" + entity.variable, value)
            else:
                cache_key = (node_key(self.domain_node), unique + "-" + entity.variable)
                value = self.generated.get(cache_key)
                if value is None:
                    value = self.generate(generator, ctx, key, fallback=True)
                    self._cache(*cache_key, value)
        elif entity.variable_deprecated is not None:
            value = ctx.domain.variables.get(entity.variable_deprecated)
            if value is None:
                value = self.generate(generator, ctx, key, fallback=False)
                ctx.domain.variables[entity.variable_deprecated] = value
                self._cache(node_key(ctx.node), unique, value)
        else:
            cache_key = (node_key(ctx.node), unique)
            value = self.generated.get(cache_key)
            if value is None:
                value = self.generate(generator, ctx, key, fallback=True)
                self._cache(*cache_key, value)
        if value is None:
            raise ItemError("Empty value produced")
        return value

    def get_label_instance(self, generator: GeneratorCall, ctx: _Context, role: str) -> _Value | None:
        # the reference caches label values under node + "-" + name like instances, but only
        # URIs are cached and a URI label is an error anyway: nothing to look up
        return self.generate(generator, ctx, (ctx, role, "-" + generator.name), fallback=True)

    def get_instance_merge(
        self, entity: EntitySpec, ctx: _Context, unique: str, domain_node: Any, role: str
    ) -> _Value:
        generator = entity.instance_generator
        if generator is None:
            raise ItemError("Value generator missing")
        value = self.generated.get((node_key(domain_node), unique))
        if value is None:
            value = self.generate(generator, ctx, (ctx, role, unique), fallback=True)
        self._cache(node_key(ctx.node), unique, value)
        if value is None:
            raise ItemError("Empty value produced")
        return value

    def _cache(self, node: Any, unique: str, value: _Value | None) -> None:
        if value is not None and value.kind == URI:
            self.generated[(node, unique)] = value

    # ------------------------------------------------------------ arguments (XPathInput)

    @staticmethod
    def _argument_failed(generator: GeneratorCall, exc: Exception, fallback: bool) -> _ArgValue:
        # the reference makes a UUID for URIorUUID when its argument is missing (issue #72)
        if fallback and generator.name == "URIorUUID":
            return _ArgValue("X", "en")
        if isinstance(exc, ItemError):
            raise exc
        raise ItemError(str(exc), xpath=getattr(exc, "expression", None)) from exc

    def evaluate_argument(
        self, generator: GeneratorCall, ctx: _Context, name: str, default_type: str, merge: bool
    ) -> _ArgValue | None:
        arg = generator.args.get(name)
        arg_type = default_type
        if arg is not None and arg.type is not None:
            if arg.type not in SOURCE_TYPES:
                raise ItemError(
                    f"No enum constant SourceType.{arg.type} (argument {name!r} of {generator.name})"
                )
            arg_type = arg.type
        node = ctx.node
        if arg_type == "xpath":
            if arg is None:
                return None
            if not arg.value:
                return None
            expr = arg.xpath if arg.xpath is not None else self.compiler.compile(arg.value)
            if merge:
                found = expr.nodes(node, self.dc)
                if not found:
                    return None
                text = SAME_MERGING_DELIMITER.join(node_value(n) for n in found)
                return _ArgValue(text, None, node, self) if text else _ArgValue("", "en")
            text = java_trim(expr.string(node, self.dc))
            if not text:
                if name.lower() == "language":
                    return _ArgValue("en", "en")
                raise ItemError(
                    f"Empty result for arg {name} at node {_node_name(node)} in generator {generator.name}",
                    xpath=arg.value,
                )
            return _ArgValue(text, None, node, self)
        if arg_type == "constant":
            if arg is None:
                return None
            return _ArgValue(arg.value, self.language_from_mapping)
        if arg_type == "position":
            return _ArgValue(str(ctx.index), None)
        if arg_type == "xpathPosition":
            return _ArgValue(jquery_position(node), self.language_from_mapping)
        if arg_type == "entireInput":
            text = etree.tostring(self.root, encoding="unicode", pretty_print=True)
            return _ArgValue(f'"{text}"', self.language_from_mapping)
        raise ItemError(f"argument type {arg_type!r} not implemented")

    def language_of(self, node: Any) -> str | None:
        """``xml:lang`` of the node or its nearest ancestor (none for attribute nodes); kept per
        element for the run, as labels of one record ask for the same few elements."""
        if isinstance(node, AttrNode):
            return None
        el = node.parent if isinstance(node, TextNode) else node
        if el is None or not isinstance(el, etree._Element):
            return None
        if self.any_language is None:  # most records have no xml:lang at all: one look in C
            self.any_language = bool(_ANY_LANGUAGE(self.root))
        if not self.any_language:
            return None
        languages = self.languages
        if el in languages:
            return languages[el]
        lang = el.get(XML_LANG)
        if lang is None:
            for ancestor in el.iterancestors():
                lang = ancestor.get(XML_LANG)
                if lang is not None:
                    break
        languages[el] = lang
        return lang

    # ------------------------------------------------------------ generators (X3MLGeneratorPolicy)

    def _plan(self, generator: GeneratorCall) -> tuple[int, Any, Any]:
        """What :meth:`generate` does with this call, decided once per mapping: the kind of
        generator, its policy entry and the namespace of its prefix (or an error message)."""
        plans = self.mapping.generator_plans
        plan = plans.get(id(generator))
        if plan is None:
            name = generator.name
            spec = self.policy.generators.get(name)
            if name == "UUID":
                plan = (_G_UUID, None, None)
            elif name in ("namedgraphURI", "Literal", "prefLabel", "Constant"):
                plan = (_G_BUILTIN, None, None)
            elif spec is None:
                plan = (_G_ERROR, f"No generator for {name}", None)
            elif spec.custom_class is not None:
                plan = (_G_CUSTOM, spec, None)
            elif spec.prefix is not None:
                namespace = self.doc.template_namespaces.get(spec.prefix)
                if namespace is None:
                    plan = (_G_ERROR, f"No namespace for prefix {spec.prefix} in generator policy", None)
                else:
                    plan = (_G_TEMPLATE, spec, namespace)
            else:
                plan = (_G_SIMPLE, spec, None)
            plans[id(generator)] = plan
        return plan

    def generate(self, generator: GeneratorCall, ctx: _Context, key: Any, *, fallback: bool) -> _Value:
        plan = self.mapping.generator_plans.get(id(generator)) or self._plan(generator)
        kind, spec, namespace = plan
        if kind == _G_UUID:
            return _Value(URI, self._uuid(key))
        if kind == _G_ERROR:
            raise ItemError(spec)
        if kind == _G_CUSTOM or (kind == _G_TEMPLATE and spec.uuid):
            return self._generate(generator, plan, ctx, key, fallback)
        # the others depend on the source node and position alone: one value per run (labels are
        # asked for again in the second pass over a domain, and for each link of an entity)
        memo_key = (id(generator), node_key(ctx.node), ctx.index, fallback)
        value = self.generator_memo.get(memo_key)
        if value is None:
            value = self.generator_memo[memo_key] = self._generate(generator, plan, ctx, key, fallback)
        return value

    def _generate(
        self, generator: GeneratorCall, plan: tuple[int, Any, Any], ctx: _Context, key: Any, fallback: bool
    ) -> _Value:
        kind, spec, namespace = plan

        def args(arg_name: str, default_type: str, merge: bool = False) -> _ArgValue | None:
            try:
                return self.evaluate_argument(generator, ctx, arg_name, default_type, merge)
            except (ItemError, XPathFailure, ValueError) as exc:
                return self._argument_failed(generator, exc, fallback)

        if kind == _G_TEMPLATE:
            return self._uri_template(spec, namespace, args, key)
        if kind == _G_SIMPLE:
            return self._simple_template(spec, generator, args)
        if kind == _G_CUSTOM:
            return self._custom(spec, args, key)
        name = generator.name
        if name == "namedgraphURI":
            value = args("text", "constant")
            return _Value(URI, value.string if value is not None else "")
        if name in ("Literal", "prefLabel"):
            value = args("text", "xpath")
            if value is None:
                raise ItemError(f'the generator {name} has no "text" argument')
            if not value.string:
                raise ItemError(f'the "text" argument of the generator {name} is empty')
            return _Value(LITERAL, value.string, self._language(generator, args, (value,)))
        if name == "Constant":
            value = args("text", "constant")
            if value is None:
                raise ItemError(f'the generator {name} has no "text" argument')
            return _Value(LITERAL, value.string, self._language(generator, args, (value,)))
        raise AssertionError(name)  # pragma: no cover - every built-in name is handled above

    def _uuid(self, key: Any) -> str:
        try:
            return self.uuids.generate(self._key_fn(key))
        except TooManyTestUUIDs as exc:
            raise ItemError(str(exc)) from exc

    def _language(self, generator: GeneratorCall, args: Any, values: Any) -> str | None:
        """``getLanguage``: a ``language`` argument wins (empty strips the tag), else the first
        language of the values (``xml:lang`` in the source, or the mapping's language)."""
        if "language" in generator.args or self.default_source_type not in ("xpath", "constant"):
            value = args("language", self.default_source_type)
            if value is not None:
                return value.string or None
        for value in values:
            language = value.language
            if language is not None:
                return language
        return None

    def _uri_template(self, spec: GeneratorSpec, namespace: str, args: Any, key: Any) -> _Value:
        values = {}
        for name in spec.variables:
            value = args(name, self.default_source_type)
            if value is None or value.string is None:
                raise ItemError(f"Argument failure in generator {spec.name}: {name}")
            values[name] = value.string
        if not spec.uuid:  # the result depends on the values alone: one expansion for all runs
            memo = self.mapping.template_memo
            memo_key = (spec.name, *values.values())
            uri = memo.get(memo_key)
            if uri is None:
                uri = self._expand_template(spec, namespace, values, key).text
                if len(memo) >= _TEMPLATE_MEMO_SIZE:
                    memo.clear()
                memo[memo_key] = uri
            return _Value(URI, uri)
        return self._expand_template(spec, namespace, values, key)

    def _expand_template(
        self, spec: GeneratorSpec, namespace: str, values: dict[str, str], key: Any
    ) -> _Value:
        try:
            expansion = expand(spec.pattern or "", values)
        except TemplateError as exc:
            raise ItemError(f"Malformed URI template in generator {spec.name}: {exc}") from exc
        if spec.uuid:
            return _Value(URI, namespace + expansion + self.uuids.random_text(self._key_fn(key)).upper())
        if spec.shorten and self.shorten_enabled:
            short = shorten_legacy(expansion) if self.legacy_shorten else shorten_current(expansion)
            return _Value(URI, namespace + short)
        return _Value(URI, namespace + (post_process(expansion) if self.post_process else expansion))

    def _simple_template(self, spec: GeneratorSpec, generator: GeneratorCall, args: Any) -> _Value:
        result = spec.pattern or ""
        values = []
        for name in spec.variables:
            value = args(name, self.default_source_type)
            if value is None or value.string is None:
                raise ItemError(f"Argument failure in simple template {spec.name}: {name}")
            result = result.replace("{" + name + "}", value.string)
            values.append(value)
        language = self._language(generator, args, values)
        return _Value(LITERAL, result, language if language is not None else self.language_from_mapping)

    def _custom(self, spec: GeneratorSpec, args: Any, key: Any) -> _Value:
        class_name = spec.custom_class or ""
        try:
            cls = self.mapping.custom_generators.get(class_name)
        except UnknownPlugin as exc:
            raise ItemError(f"Custom generator class not found: {class_name}") from exc
        state = self.custom_state.setdefault(class_name, {})
        try:
            instance = cls(_Env(state, self.uuids, self._key_fn(key)))
            if spec.prefix is not None:
                instance.uses_namespace_prefix()
            merge = bool(getattr(instance, "merge_multiple_values", False))
            for arg_name, arg_type in spec.custom_args:
                source_type = self.default_source_type if arg_type is None else arg_type
                if source_type not in SOURCE_TYPES:
                    raise ItemError(
                        f"No enum constant SourceType.{source_type} (set-arg {arg_name!r} of {spec.name})"
                    )
                value = args(arg_name, source_type, merge)
                if value is None:
                    if merge:
                        value = _ArgValue("", "en")
                    else:
                        raise ItemError(
                            f'Cannot find arg with name "{arg_name}" in generator with name '
                            f'"{spec.name}"[Mapping: {self.mapping_counter}, Link: {self.link_counter}]'
                        )
                instance.set_arg(arg_name, value.string)
            text = instance.get_value()
            value_type = instance.get_value_type()
        except (CustomGeneratorError, UriRepairError, ValueError, TypeError) as exc:
            raise ItemError(f"Custom generator failure: {class_name}: {exc}") from exc
        if value_type == "URI":
            if spec.prefix is not None:
                if is_valid_uri(text):
                    return _Value(URI, text)
                namespace = self.doc.template_namespaces.get(spec.prefix)
                if namespace is None:
                    raise ItemError(f"No namespace for prefix {spec.prefix} in generator policy")
                return _Value(URI, namespace + text)
            if cls is TextualContent:
                return _Value(URI, "URN:UUID:" + text)
            return _Value(URI, text)
        if value_type == "UUID":
            return _Value(URI, self._uuid(key))
        return _Value(TYPED, text)


def _node_name(node: Any) -> str:
    if isinstance(node, etree._Element):
        return str(etree.QName(node).localname) if isinstance(node.tag, str) else "#comment"
    if isinstance(node, AttrNode):
        return node.name
    return "#text"
