"""The mapping language as the reference engine runs it: URI reuse, variables, intermediates,
additionals, MERGE, skip, joins, language tags, XPath 2.0, attribute nodes."""

from __future__ import annotations

from tests.unit.transforms.x3ml.x3ml_helpers import domain, entity, link, literal_label, nt_lines, x3ml

TYPE = "<http://www.w3.org/1999/02/22-rdf-syntax-ns#type>"
LABEL = "<http://www.w3.org/2000/01/rdf-schema#label>"
CRM = "http://www.cidoc-crm.org/cidoc-crm/"

RECORD = """<r>
  <coin id="c1" xml:lang="de"><name>Münze</name><mint>Rome</mint></coin>
  <coin id="c2"><name>coin two</name><mint>Rome</mint></coin>
</r>"""


def test_test_uuids_follow_the_reference_order(run):
    # pass 1 gives the domains their URIs, pass 2 the ranges
    mapping = x3ml(
        "<mapping>"
        + domain("coin", entity("crm:E22"))
        + link("name", "crm:P1", "name", entity("crm:E41"))
        + "</mapping>"
    )
    lines = nt_lines(run(mapping, RECORD))
    assert f"<uuid:A> {TYPE} <{CRM}E22> ." in lines
    assert f"<uuid:B> {TYPE} <{CRM}E22> ." in lines
    assert f"<uuid:A> <{CRM}P1> <uuid:C> ." in lines
    assert f"<uuid:B> <{CRM}P1> <uuid:D> ." in lines


def test_the_same_source_node_keeps_its_uri_across_mappings(run):
    mapping = x3ml(
        "<mapping>" + domain("coin", entity("crm:E22")) + "</mapping>"
        "<mapping>" + domain("coin", entity("crm:E19")) + "</mapping>"
    )
    lines = nt_lines(run(mapping, RECORD))
    assert {f"<uuid:A> {TYPE} <{CRM}E22> .", f"<uuid:A> {TYPE} <{CRM}E19> ."} <= lines
    assert not any("uuid:C" in line for line in lines)


def test_variables_share_a_uri_within_a_domain_node(run):
    production = '<entity variable="p"><type>crm:E12</type><instance_generator name="UUID"/></entity>'
    bare_production = '<entity variable="p"><type>crm:E12</type></entity>'  # borrows the generator
    mapping = x3ml(
        "<mapping>"
        + domain("coin", entity("crm:E22"))
        + link(
            "name",
            "crm:P108i",
            "name",
            entity("crm:E41"),
            intermediate=production + "<relationship>crm:P1</relationship>",
        )
        + link(
            "mint",
            "crm:P108i",
            "mint",
            entity("crm:E53"),
            intermediate=bare_production + "<relationship>crm:P7</relationship>",
        )
        + "</mapping>"
    )
    lines = nt_lines(run(mapping, RECORD, uuid_size=2))
    productions = {line.split()[2] for line in lines if "P108i" in line}
    assert len(productions) == 2  # one per coin, shared by both links
    for production_iri in productions:
        assert (
            sum(line.startswith(production_iri) and ("P1>" in line or "P7>" in line) for line in lines) == 2
        )


def test_global_variable_is_one_value_per_run(run):
    museum = '<entity global_variable="m"><type>crm:E40</type><instance_generator name="UUID"/></entity>'
    mapping = x3ml(
        "<mapping>"
        + domain("coin", entity("crm:E22"))
        + link("mint", "crm:P50", "mint", museum)
        + "</mapping>"
    )
    lines = nt_lines(run(mapping, RECORD))
    keepers = {line.split()[2] for line in lines if "P50" in line}
    assert keepers == {"<uuid:C>"}


def test_additionals_chain_from_the_entity(run):
    additional = (
        "<additional><relationship>crm:P2</relationship><entity><type>crm:E55</type>"
        '<instance_generator name="UUID"/></entity><relationship>crm:P127</relationship>'
        '<entity><type>crm:E55</type><instance_generator name="UUID"/></entity></additional>'
    )
    mapping = x3ml(
        "<mapping>"
        + domain("/r", entity("crm:E78"))
        + link("coin", "crm:P46", "coin", entity("crm:E22", additionals=additional))
        + "</mapping>"
    )
    lines = nt_lines(run(mapping, RECORD, uuid_size=2))
    p2 = [line for line in lines if "P2>" in line]
    p127 = [line for line in lines if "P127>" in line]
    assert len(p2) == len(p127) == 2
    assert {line.split()[2] for line in p2} == {line.split()[0] for line in p127}


def test_merge_reuses_the_domain_uri(run):
    mapping = x3ml(
        "<mapping>"
        + domain("coin", entity("crm:E22"))
        + link("name", "MERGE", "name", entity("crm:E19", labels=literal_label()))
        + "</mapping>"
    )
    lines = nt_lines(run(mapping, RECORD))
    assert f"<uuid:A> {TYPE} <{CRM}E19> ." in lines
    assert f'<uuid:A> {LABEL} "Münze"@de .' in lines
    assert not any("MERGE" in line for line in lines)


def test_skip_mapping_and_link(run):
    mapping = x3ml(
        '<mapping skip="true">' + domain("coin", entity("crm:E22")) + "</mapping>"
        "<mapping>"
        + domain("coin", entity("crm:E19"))
        + link("name", "crm:P1", "name", entity("crm:E41"), attrs=' skip="true"')
        + "</mapping>"
    )
    lines = nt_lines(run(mapping, RECORD))
    assert lines == {f"<uuid:A> {TYPE} <{CRM}E19> .", f"<uuid:B> {TYPE} <{CRM}E19> ."}


def test_join(run):
    record = (
        "<r><coin><mint_id>m1</mint_id></coin><mint><id>m1</id><city>Rome</city></mint>"
        "<mint><id>m2</id></mint></r>"
    )
    mapping = x3ml(
        "<mapping>"
        + domain("coin", entity("crm:E22"))
        + link("mint_id == id", "crm:P108i", "//mint", entity("crm:E12", labels=literal_label("city/text()")))
        + "</mapping>"
    )
    lines = nt_lines(run(mapping, record))
    assert f"<uuid:A> <{CRM}P108i> <uuid:B> ." in lines
    assert f'<uuid:B> {LABEL} "Rome" .' in lines
    assert len([line for line in lines if "E12" in line]) == 1


def test_language_tags(run):
    # xml:lang of the generator's context node (or an ancestor), else the mapping's language;
    # a language argument overrides both, an empty one strips the tag
    def label_generator(args: str) -> str:
        return f'<label_generator name="Literal"><arg name="text">name/text()</arg>{args}</label_generator>'

    mapping = x3ml(
        "<mapping>" + domain("coin", entity("crm:E22", labels=label_generator(""))) + "</mapping>"
        "<mapping>"
        + domain(
            "coin", entity("crm:E22", labels=label_generator('<arg name="language" type="constant">it</arg>'))
        )
        + "</mapping>"
        "<mapping>"
        + domain(
            "coin", entity("crm:E22", labels=label_generator('<arg name="language" type="constant"></arg>'))
        )
        + "</mapping>",
        root_attrs=' language="en"',
    )
    labels = {line.split(" ", 2)[2] for line in nt_lines(run(mapping, RECORD)) if LABEL in line}
    assert labels == {
        '"Münze"@de .',
        '"coin two"@en .',
        '"Münze"@it .',
        '"coin two"@it .',
        '"Münze" .',
        '"coin two" .',
    }


def test_xpath_2_functions_and_attribute_nodes(run):
    mapping = x3ml(
        "<mapping>"
        + domain("/r", entity("crm:E78", labels=literal_label("string-join(coin/upper-case(mint), '+')")))
        + "</mapping>"
        "<mapping>"
        + domain("coin/@id", entity("crm:E42", labels=literal_label("concat('#', .)")))
        + "</mapping>"
    )
    labels = {line.split(" ", 2)[2] for line in nt_lines(run(mapping, RECORD, uuid_size=2)) if LABEL in line}
    assert labels == {'"ROME+ROME" .', '"#c1" .', '"#c2" .'}


def test_position_arguments(run):
    policy = (
        '<generator_policy><generator name="Pos" prefix="ex"><pattern>coin/{n}/{p}</pattern></generator>'
        "</generator_policy>"
    )
    generator = (
        '<instance_generator name="Pos"><arg name="n" type="position"/>'
        '<arg name="p" type="xpathPosition"/></instance_generator>'
    )
    mapping = x3ml("<mapping>" + domain("coin", entity("crm:E22", generator)) + "</mapping>")
    subjects = {line.split()[0] for line in nt_lines(run(mapping, RECORD, policy=policy))}
    assert subjects == {"<http://example.org/coin/1/1>", "<http://example.org/coin/2/2>"}


def test_the_x3ml_uuid_xpath_function(run):
    # the reference's extension function x3ml:uuid(text): upper-case name-based UUID of the text
    policy = (
        '<generator_policy><generator name="Term" prefix="ex"><pattern>{term}</pattern></generator>'
        "</generator_policy>"
    )
    generator = (
        '<instance_generator name="Term"><arg name="term" type="xpath">x3ml:uuid(text())</arg>'
        "</instance_generator>"
    )
    mapping = x3ml("<mapping>" + domain("coin/mint", entity("crm:E53", generator)) + "</mapping>")
    subjects = {line.split()[0] for line in nt_lines(run(mapping, RECORD, policy=policy))}
    assert subjects == {"<http://example.org/1F49F770-ADC6-3846-A9F5-0CE3CA2A2109>"}


def test_double_join(run):
    record = (
        "<r><actor><id>MT</id></actor><actor><id>MD</id></actor>"
        "<link><actor_id>MT</actor_id><project_id>CB</project_id></link>"
        "<link><actor_id>MD</actor_id><project_id>AR</project_id></link>"
        "<project><id>CB</id><name>Culture Brokers</name></project>"
        "<project><id>AR</id><name>Ariadne</name></project>"
        "</r>"
    )
    double = (
        "<link><path><source_relation><relation>id == actor_id</relation><node>//link</node>"
        "<relation>project_id == id</relation></source_relation><target_relation>"
        "<relationship>crm:P14i</relationship></target_relation></path><range><source_node>//project</source_node>"
        "<target_node>"
        + entity("crm:E7", labels=literal_label("name/text()"))
        + "</target_node></range></link>"
    )
    lines = nt_lines(
        run(x3ml("<mapping>" + domain("actor", entity("crm:E39")) + double + "</mapping>"), record)
    )
    assert f"<uuid:A> <{CRM}P14i> <uuid:C> ." in lines
    assert f'<uuid:C> {LABEL} "Culture Brokers" .' in lines
    assert f"<uuid:B> <{CRM}P14i> <uuid:D> ." in lines
    assert f'<uuid:D> {LABEL} "Ariadne" .' in lines


def test_a_generator_value_kept_for_a_node_is_kept_per_position(run):
    # a run keeps label values by call, node and position: coin 2 is range node 2 from coin 1
    # and range node 1 from itself, and gets both labels (on the one URI its node keeps)
    policy = '<generator_policy><generator name="Pos"><pattern>n{p}</pattern></generator></generator_policy>'
    label = '<label_generator name="Pos"><arg name="p" type="position"/></label_generator>'
    mapping = x3ml(
        "<mapping>"
        + domain("/r", entity("crm:E1"))
        + link("coin", "crm:P1", ". | following-sibling::coin", entity("crm:E22", labels=label))
        + "</mapping>"
    )
    lines = nt_lines(run(mapping, RECORD, policy=policy))
    assert {line for line in lines if LABEL in line} == {
        f'<uuid:B> {LABEL} "n1" .',
        f'<uuid:C> {LABEL} "n2" .',
        f'<uuid:C> {LABEL} "n1" .',
    }
