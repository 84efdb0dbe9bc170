"""Builders for small X3ML mappings used by the unit tests."""

from __future__ import annotations

from transforms.x3ml import TransformResult

NAMESPACES = """
    <namespaces>
        <namespace prefix="crm" uri="http://www.cidoc-crm.org/cidoc-crm/"/>
        <namespace prefix="ex" uri="http://example.org/"/>
    </namespaces>"""


def x3ml(mappings: str, *, namespaces: str = NAMESPACES, info: str = "", root_attrs: str = "") -> str:
    """A complete X3ML document around ``<mapping>`` elements."""
    return (
        f'<x3ml version="1.0" source_type="xpath"{root_attrs}>{info}{namespaces}'
        f"<mappings>{mappings}</mappings></x3ml>"
    )


def domain(source: str, entity: str, *, conditions: str = "") -> str:
    return (
        f"<domain><source_node>{source}</source_node><target_node>{conditions}{entity}</target_node></domain>"
    )


def link(
    relation: str,
    relationship: str,
    range_source: str,
    entity: str,
    *,
    conditions: str = "",
    intermediate: str = "",
    attrs: str = "",
) -> str:
    return (
        f"<link{attrs}><path><source_relation><relation>{relation}</relation></source_relation>"
        f"<target_relation>{conditions}<relationship>{relationship}</relationship>{intermediate}"
        f"</target_relation></path><range><source_node>{range_source}</source_node>"
        f"<target_node>{entity}</target_node></range></link>"
    )


def entity(
    type_: str,
    generator: str = '<instance_generator name="UUID"/>',
    labels: str = "",
    attrs: str = "",
    additionals: str = "",
) -> str:
    return f"<entity{attrs}><type>{type_}</type>{generator}{labels}{additionals}</entity>"


def literal_label(xpath: str = "text()") -> str:
    return f'<label_generator name="Literal"><arg name="text" type="xpath">{xpath}</arg></label_generator>'


def nt_lines(result: TransformResult) -> set[str]:
    """The N-Triples lines of a result, as a set (order does not matter in a graph)."""
    return set(result.to_ntriples().splitlines())
