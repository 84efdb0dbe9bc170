"""Named graphs: quads as the reference writes them (TriG), triples unchanged."""

from __future__ import annotations

import pyoxigraph

from tests.unit.transforms.x3ml.x3ml_helpers import domain, entity, link, literal_label, x3ml

RECORD = "<r><book><id>b1</id><title>T</title></book></r>"


def quads(result) -> set[tuple[str, str, str, str]]:
    parsed = pyoxigraph.parse(result.serialize("trig"), format=pyoxigraph.RdfFormat.TRIG)
    return {(q.graph_name.value, q.subject.value, q.predicate.value, str(q.object)) for q in parsed}


def test_domain_and_link_graphs(run):
    mapping = x3ml(
        '<mapping><domain namedgraph="http://graphDomain"><source_node>book</source_node><target_node>'
        + entity("crm:E22", labels=literal_label("id/text()"))
        + "</target_node></domain>"
        + link("title", "crm:P102", "title", entity("crm:E35"), attrs=' namedgraph="http://graphLink"')
        + "</mapping>"
    )
    result = run(mapping, RECORD)
    graphs = {}
    for graph, s, p, o in quads(result):
        graphs.setdefault(graph, set()).add((s, p.rsplit("/", 1)[-1].rsplit("#", 1)[-1], o))
    assert graphs["http://graphDomain_A"] == {
        ("uuid:A", "type", "<http://www.cidoc-crm.org/cidoc-crm/E22>"),
        ("uuid:A", "label", '"b1"'),
    }
    assert graphs["http://graphLink_A"] == {
        ("uuid:A", "P102", "<uuid:B>"),
        ("uuid:B", "type", "<http://www.cidoc-crm.org/cidoc-crm/E35>"),
    }
    # every triple also sits in the default graph of the output, and N-Triples has them all
    assert len(graphs["http://default"]) == len(result) == 4


def test_mappings_namedgraph_names_the_default_graph(run):
    mapping = x3ml("<mapping>" + domain("book", entity("crm:E22")) + "</mapping>").replace(
        "<mappings>", '<mappings namedgraph="http://all">'
    )
    assert {graph for graph, *_ in quads(run(mapping, RECORD))} == {"http://all"}
