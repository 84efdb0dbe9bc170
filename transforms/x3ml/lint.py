"""Mistakes a loaded X3ML mapping shows before any record runs: invalid XPath, missing generators.

The engine follows the reference: an expression is compiled when it is first used, and an entity
whose generator or XPath fails is dropped with a per-record warning. That is right for data
problems (an empty value) and wrong for mapping mistakes, which then look like a record that
happened to yield nothing. The ``x3ml`` step asks this module once per mapping and refuses a
mapping that cannot work (:mod:`transforms.x3ml_step`); the curator workbench shows the same
findings. Pure functions over the model of :mod:`.model`; nothing here runs a record.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from transforms.x3ml.model import Condition, EntitySpec, MappingDocument, Policy, Where
from transforms.x3ml.xpath import XPathExpr

#: generators the engine answers itself; any other name must be defined by the policy
BUILT_IN_GENERATORS = frozenset({"UUID", "namedgraphURI", "Literal", "prefLabel", "Constant"})


@dataclass(frozen=True, slots=True)
class InvalidXPath:
    where: Where
    role: str  # "domain source_node", "link path", "range source_node", "condition", "generator X arg Y"
    expression: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: invalid XPath in the {self.role} {self.expression!r}: {self.reason}"


@dataclass(frozen=True, slots=True)
class GeneratorUse:
    name: str
    where: Where


def expressions(document: MappingDocument) -> Iterator[tuple[Where, str, XPathExpr]]:
    """Every compiled expression of the mappings that run (skipped mappings and links are not)."""
    for mapping in document.mappings:
        if mapping.skip:
            continue
        domain = mapping.domain
        if domain.source_xpath is not None:
            yield mapping.where, "domain source_node", domain.source_xpath
        yield from _conditions(mapping.where, domain.conditions)
        yield from _entity(domain.entity)
        for link in mapping.links:
            if link.skip:
                continue
            if link.path.relation_xpath is not None:
                yield link.where, "link path", link.path.relation_xpath
            yield from _conditions(link.where, link.path.conditions)
            for entity in link.path.entities:
                yield from _entity(entity)
            if link.range.source_xpath is not None and not link.range_on_path_node:
                yield link.where, "range source_node", link.range.source_xpath
            yield from _conditions(link.where, link.range.conditions)
            yield from _entity(link.range.entity)


def _conditions(where: Where, conditions: list[Condition]) -> Iterator[tuple[Where, str, XPathExpr]]:
    for condition in conditions:
        if condition.xpath is not None:
            yield where, f"{condition.kind} condition", condition.xpath
        yield from _conditions(where, condition.children)


def _entity(entity: EntitySpec) -> Iterator[tuple[Where, str, XPathExpr]]:
    for generator in filter(None, [entity.instance_generator, *entity.label_generators]):
        for arg in generator.args.values():
            if arg.xpath is not None:
                yield generator.where, f"generator {generator.name} argument {arg.name}", arg.xpath
    for additional in entity.additionals:
        for _term, extra in additional.pairs:
            yield from _entity(extra)


def invalid_xpaths(document: MappingDocument) -> list[InvalidXPath]:
    """Expressions that do not compile (syntax, an undeclared prefix, an unknown function)."""
    found = []
    for where, role, expr in expressions(document):
        reason = expr.compile_error
        if reason is not None:
            found.append(InvalidXPath(where, role, expr.source, reason))
    return found


def generator_uses(document: MappingDocument) -> Iterator[GeneratorUse]:
    def entity_uses(entity: EntitySpec) -> Iterator[GeneratorUse]:
        for generator in filter(None, [entity.instance_generator, *entity.label_generators]):
            yield GeneratorUse(generator.name, generator.where)
        for additional in entity.additionals:
            for _term, extra in additional.pairs:
                yield from entity_uses(extra)

    for mapping in document.mappings:
        if mapping.skip:
            continue
        yield from entity_uses(mapping.domain.entity)
        for link in mapping.links:
            if not link.skip:
                for entity in [*link.path.entities, link.range.entity]:
                    yield from entity_uses(entity)


def missing_generators(document: MappingDocument, policy: Policy) -> list[GeneratorUse]:
    """Generator calls the engine could not answer: neither built in nor defined by the policy."""
    return [
        use
        for use in generator_uses(document)
        if use.name not in BUILT_IN_GENERATORS and use.name not in policy.generators
    ]
