"""The structural rules the reference engine enforces on mapping files and generator policies.

The reference validates every mapping file against its ``x3ml.xsd`` and every policy against
``generatorPolicy.xsd`` before reading them. The rules are restated here as content models (a
regular expression over the names of an element's children) and attribute lists, which gives
error messages with a line number and keeps the schema files out of the package. The rules
follow the reference schema of engine 2.x: ``<info>`` is optional but complete when present
(``thesaurus_info`` is mandatory since 1.9.0; ``lenient_info`` relaxes that for older
mappings), elements are closed (no unknown children or attributes; ``xsi:`` attributes are always
allowed), and element-only content admits only whitespace text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree

__all__ = ["SchemaViolation", "validate_mapping_tree", "validate_policy_tree"]

_XSI = "{http://www.w3.org/2001/XMLSchema-instance}"
TEXT, EMPTY, ANY = "#text", "#empty", "#any"


@dataclass(frozen=True, slots=True)
class _Rule:
    content: str  # TEXT, EMPTY, ANY or a content model over child names
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    any_attributes: bool = False


def _model(expr: str) -> re.Pattern[str]:
    return re.compile(expr)


_MAPPING_RULES: dict[str, _Rule] = {
    "x3ml": _Rule(
        "(info )?namespaces mappings (comments )?",
        ("version", "source_type"),
        ("editor", "mappings_verion", "language", "namedgraph"),
    ),
    "info": _Rule(
        "title general_description source target mapping_info example_data_info ", any_attributes=True
    ),
    "title": _Rule(TEXT, any_attributes=True),
    "general_description": _Rule(TEXT, any_attributes=True),
    "source": _Rule("(source_info )+(source_collection )?", any_attributes=True),
    "target": _Rule("(target_info )+(target_collection )?", any_attributes=True),
    "source_info": _Rule("source_schema (namespaces )?", any_attributes=True),
    "target_info": _Rule("target_schema (namespaces )?", any_attributes=True),
    "source_schema": _Rule(TEXT, any_attributes=True),
    "target_schema": _Rule(TEXT, any_attributes=True),
    "source_collection": _Rule(TEXT, any_attributes=True),
    "target_collection": _Rule(TEXT, any_attributes=True),
    "mapping_info": _Rule(
        "mapping_created_by_org mapping_created_by_person in_collaboration_with ", any_attributes=True
    ),
    "mapping_created_by_org": _Rule(TEXT, any_attributes=True),
    "mapping_created_by_person": _Rule(TEXT, any_attributes=True),
    "in_collaboration_with": _Rule(TEXT, any_attributes=True),
    "example_data_info": _Rule(
        "example_data_from example_data_contact_person example_data_source_record (generator_policy_info )?"
        "example_data_target_record thesaurus_info ",
        any_attributes=True,
    ),
    "example_data_from": _Rule(TEXT, any_attributes=True),
    "example_data_contact_person": _Rule(TEXT, any_attributes=True),
    "example_data_source_record": _Rule(TEXT, any_attributes=True),
    "generator_policy_info": _Rule(TEXT, any_attributes=True),
    "example_data_target_record": _Rule(TEXT, any_attributes=True),
    "thesaurus_info": _Rule(TEXT, any_attributes=True),
    "namespaces": _Rule("(namespace )*"),
    "namespace": _Rule(EMPTY, ("prefix", "uri")),
    "mappings": _Rule("(mapping )+", (), ("namedgraph",)),
    "mapping": _Rule("domain (link )*", (), ("skip", "namedgraph")),
    "domain": _Rule("source_node target_node (comments )?", (), ("namedgraph", "template")),
    "source_node": _Rule(TEXT, (), ("skip",)),
    "target_node": _Rule("(if )*entity "),
    "link": _Rule("path range ", (), ("skip", "namedgraph", "template")),
    "path": _Rule("source_relation target_relation (comments )?"),
    "source_relation": _Rule("relation (node relation )*"),
    "relation": _Rule(TEXT),
    "node": _Rule(TEXT),
    "target_relation": _Rule("(if )*relationship (entity relationship )*"),
    "range": _Rule("source_node target_node (comments )?"),
    "entity": _Rule(
        "(type )+(instance_info )?(instance_generator )?(label_generator )*(additional )*",
        (),
        ("variable", "global_variable", "variable_deprecated"),
    ),
    "type": _Rule(TEXT),
    "relationship": _Rule(TEXT),
    "instance_info": _Rule("(language )?(constant )?(description )?"),
    "language": _Rule(TEXT),
    "constant": _Rule(TEXT),
    "description": _Rule(TEXT),
    "instance_generator": _Rule("(arg )*", ("name",)),
    "label_generator": _Rule("(arg )*", ("name",)),
    "arg": _Rule(TEXT, (), ("name", "type")),
    "additional": _Rule("(relationship entity )+"),
    "if": _Rule("(exists |equals |broader |exact_match |narrower |not |and |or )"),
    "exists": _Rule(TEXT),
    "equals": _Rule(TEXT, ("value",)),
    "broader": _Rule(TEXT, ("value",)),
    "exact_match": _Rule(TEXT, ("value",)),
    "narrower": _Rule(TEXT, ("value",)),
    "not": _Rule("if "),
    "and": _Rule("(if )+"),
    "or": _Rule("(if )+"),
    "comments": _Rule("(comment )+"),
    "comment": _Rule(ANY, any_attributes=True),
}

#: the same rules with ``thesaurus_info`` optional, as engines before 1.9.0 accepted
_LENIENT_RULES = dict(_MAPPING_RULES)
_LENIENT_RULES["example_data_info"] = _Rule(
    "(example_data_from )?(example_data_contact_person )?(example_data_source_record )?"
    "(generator_policy_info )?(example_data_target_record )?(thesaurus_info )?",
    any_attributes=True,
)

_POLICY_RULES: dict[str, _Rule] = {
    "generator_policy": _Rule("(generator )*"),
    "generator": _Rule("(pattern |custom )(description )?", ("name",), ("prefix", "shorten", "uuid", "type")),
    "pattern": _Rule(TEXT),
    "description": _Rule(TEXT),
    "custom": _Rule("(set-arg )+", ("generatorClass",)),
    "set-arg": _Rule(EMPTY, ("name",), ("type",)),
}

_COMPILED: dict[int, dict[str, re.Pattern[str]]] = {}


class SchemaViolation(ValueError):
    """A document breaks a rule; ``line`` is where, ``path`` the element path."""

    def __init__(self, message: str, line: int | None, path: str) -> None:
        super().__init__(message)
        self.line = line
        self.path = path


def _element_path(el: etree._Element) -> str:
    names = []
    while el is not None:
        names.append(str(el.tag))
        el = el.getparent()
    return "/" + "/".join(reversed(names))


def _validate(root: etree._Element, rules: dict[str, _Rule], root_name: str) -> None:
    models = _COMPILED.setdefault(
        id(rules),
        {
            name: _model(rule.content)
            for name, rule in rules.items()
            if rule.content not in (TEXT, EMPTY, ANY)
        },
    )
    if root.tag != root_name:
        raise SchemaViolation(
            f"the root element is <{root.tag}>, expected <{root_name}>", root.sourceline, "/"
        )
    stack = [root]
    while stack:
        el = stack.pop()
        rule = rules.get(el.tag) if isinstance(el.tag, str) else None
        if rule is None:
            raise SchemaViolation(f"element <{el.tag}> is not allowed here", el.sourceline, _element_path(el))
        _check_attributes(el, rule)
        if rule.content == ANY:
            continue
        children = [c for c in el if isinstance(c.tag, str)]
        if rule.content in (TEXT, EMPTY):
            if children:
                raise SchemaViolation(
                    f"<{el.tag}> may not contain elements (found <{children[0].tag}>)",
                    children[0].sourceline,
                    _element_path(el),
                )
            if rule.content == EMPTY and (el.text or "").strip():
                raise SchemaViolation(f"<{el.tag}> must be empty", el.sourceline, _element_path(el))
            continue
        for piece in [el.text] + [c.tail for c in el]:
            if piece and piece.strip():
                raise SchemaViolation(
                    f"<{el.tag}> may not contain text ({piece.strip()[:30]!r})",
                    el.sourceline,
                    _element_path(el),
                )
        names = "".join(f"{c.tag} " for c in children)
        if not models[el.tag].fullmatch(names):
            expected = _render_model(rule.content)
            found = ", ".join(str(c.tag) for c in children) or "nothing"
            raise SchemaViolation(
                f"<{el.tag}> contains {found}; expected {expected}", el.sourceline, _element_path(el)
            )
        stack.extend(reversed(children))


def _render_model(content: str) -> str:
    text = re.sub(r"\s+\)", ")", content)
    text = re.sub(r"\)([?*+]?)(?=[^\s|)?*+])", r")\1 ", text)
    return text.replace(" |", " |").strip()


def _check_attributes(el: etree._Element, rule: _Rule) -> None:
    if rule.any_attributes:
        return
    for name in el.attrib:
        if name.startswith(_XSI):
            continue
        if name not in rule.required and name not in rule.optional:
            raise SchemaViolation(
                f"attribute {name!r} is not allowed on <{el.tag}>", el.sourceline, _element_path(el)
            )
    for name in rule.required:
        if name not in el.attrib:
            raise SchemaViolation(
                f"<{el.tag}> needs the attribute {name!r}", el.sourceline, _element_path(el)
            )


def validate_mapping_tree(root: etree._Element, *, lenient_info: bool = False) -> None:
    """Raise :class:`SchemaViolation` unless ``root`` is a valid X3ML document."""
    _validate(root, _LENIENT_RULES if lenient_info else _MAPPING_RULES, "x3ml")


def validate_policy_tree(root: etree._Element) -> None:
    """Raise :class:`SchemaViolation` unless ``root`` is a valid generator policy."""
    _validate(root, _POLICY_RULES, "generator_policy")
    seen: dict[str, int | None] = {}
    for generator in root.iterchildren("generator"):
        name = generator.get("name")
        if name in seen:
            raise SchemaViolation(
                f"duplicate generator name {name!r} (first at line {seen[name]})",
                generator.sourceline,
                _element_path(generator),
            )
        seen[name] = generator.sourceline
