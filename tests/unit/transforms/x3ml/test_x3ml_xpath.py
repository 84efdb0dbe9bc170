"""XPath: the lxml / elementpath split, string values as Saxon gives them, node keys and paths."""

from __future__ import annotations

import pytest
from lxml import etree

from transforms.x3ml.xpath import (
    AttrNode,
    DocumentContext,
    TextNode,
    XPathCompiler,
    XPathFailure,
    java_trim,
    jquery_position,
    node_key,
)

DOC = etree.ElementTree(
    etree.fromstring('<r xmlns:p="urn:p"><a k="1" p:z="2">t1<b/>t2</a><a xml:lang="de">x</a><p:c>y</p:c></r>')
)
ROOT = DOC.getroot()
DC = DocumentContext(DOC)
COMPILER = XPathCompiler({"p": "urn:p"})


@pytest.mark.parametrize(
    ("expression", "engine", "value"),
    [
        ("a[2]", "lxml", "x"),
        ("p:c", "lxml", "y"),
        ("count(a)", "lxml", "2"),
        ("a/@p:z", "lxml", "2"),
        ("1 div 4", "lxml", "0.25"),
        ("a = 'x'", "lxml", "true"),
        ("string-join(a/text(), '|')", "elementpath", "t1|t2|x"),
        ("upper-case(p:c)", "elementpath", "Y"),
        ("for $x in a return string($x)", "elementpath", "t1t2"),
        ("x3ml:uuid('627')", "lxml", "185C29DC-2432-3934-AE37-7CFDA20E414C"),
    ],
)
def test_engines_and_string_values(expression, engine, value):
    expr = COMPILER.compile(expression)
    assert expr.engine == engine
    assert expr.string(ROOT, DC) == value


def test_nodes_of_every_kind():
    attr, text, element = COMPILER.compile("a[1]/@k | a[1]/text()[1] | p:c").nodes(ROOT, DC)
    assert isinstance(attr, AttrNode)
    assert (attr.name, attr.value) == ("k", "1")
    assert isinstance(text, TextNode)
    assert text.value == "t1"
    assert element.tag == "{urn:p}c"


def test_attribute_and_text_nodes_as_context():
    attr = COMPILER.compile("a/@p:z").nodes(ROOT, DC)[0]
    assert COMPILER.compile("concat(., '-', name(..))").string(attr, DC) == "2-a"
    tail = COMPILER.compile("a[1]/text()").nodes(ROOT, DC)[1]
    assert tail.pos == 1
    assert COMPILER.compile("string(.)").string(tail, DC) == "t2"


def test_parent_steps_from_attribute_and_text_nodes_run_on_lxml():
    """``../x`` from an attribute or text node is answered by lxml from the node's element, with
    the same nodes and values as the XPath 3.1 engine gives."""
    fresh = DocumentContext(DOC)
    attr = COMPILER.compile("a[1]/@k").nodes(ROOT, fresh)[0]
    tail = COMPILER.compile("a[1]/text()").nodes(ROOT, fresh)[1]
    for context in (attr, tail):
        texts = COMPILER.compile("../text()").nodes(context, fresh)
        assert [(type(t).__name__, t.parent.tag, t.value) for t in texts] == [
            ("TextNode", "a", "t1"),
            ("TextNode", "a", "t2"),
        ]
        assert COMPILER.compile("../b").nodes(context, fresh)[0].tag == "b"
        assert COMPILER.compile("../text()").string(context, fresh) == "t1"
        assert COMPILER.compile("../@p:z").string(context, fresh) == "2"
    assert fresh._ep_root is None  # elementpath's tree was never built
    # a step that leaves the element (an absolute rest, a union) still goes to XPath 3.1
    union = COMPILER.compile("..//b | ../text()").nodes(attr, fresh)
    assert [getattr(n, "value", None) or n.tag for n in union] == ["t1", "b", "t2"]
    assert fresh._ep_root is not None


def test_a_document_as_context():
    assert [n.tag for n in COMPILER.compile("//a").nodes(DOC, DC)] == ["a", "a"]


def test_the_text_shortcut_matches_xpath():
    text = COMPILER.compile("text()")
    for element in ROOT.iter():
        assert text.string(element, DC) == (element.xpath("string(text())") or "")


def test_errors():
    with pytest.raises(XPathFailure, match="not a node list"):
        COMPILER.compile("count(a)").nodes(ROOT, DC)
    with pytest.raises(XPathFailure):
        COMPILER.compile("a[").nodes(ROOT, DC)


def test_positions_and_cache_keys():
    second_a = ROOT[1]
    assert jquery_position(second_a) == "2"
    attr = AttrNode(ROOT[0], "{urn:p}z", "2")
    assert node_key(attr) == ("@", ROOT[0], "{urn:p}z")
    texts = COMPILER.compile("a[1]/text()").nodes(ROOT, DC)
    assert node_key(texts[0]) == node_key(texts[1])  # the reference counts only element siblings


def test_java_trim_keeps_non_breaking_spaces():
    assert java_trim("\t\n x \u00a0") == "x \u00a0"


@pytest.mark.parametrize(
    ("expression", "absolute"),
    [
        ("/r", True),
        ("//p:c/text()", True),
        ('/r/a[@k="]"]/text()', True),
        ("/r/a[2]/..", True),
        ("/r/a/@p:z", True),
        ("a", False),
        ("/r/a | a", False),
        ("/r/a = a", False),
        ("/count(a)", False),
        ("/r/name()", False),
        ("/r[a[b]]", False),
        ("/r/child::a", False),
    ],
)
def test_absolute_paths_are_recognised_conservatively(expression, absolute):
    from transforms.x3ml.xpath import _is_absolute_path

    assert _is_absolute_path(expression) is absolute


def test_a_run_evaluates_an_expression_once_per_context_node():
    dc = DocumentContext(DOC)
    relative, absolute = COMPILER.compile("a"), COMPILER.compile("/r/a/text()")
    first = relative.nodes(ROOT, dc)
    assert [n.get("k") for n in first] == ["1", None]
    assert relative.nodes(ROOT, dc) is first  # from the run's memo
    assert relative.nodes(first[0], dc) == []  # another context node: evaluated again
    assert absolute.string(first[0], dc) == absolute.string(ROOT, dc) == "t1"
    assert sorted(len(k) for k in dc.memo) == [2, 2, 3]  # one string entry for both contexts


def test_prefixes_resolve_when_lxml_gets_only_those_an_expression_names():
    compiler = XPathCompiler({"p": "urn:p", "q": "urn:q", "pq": "urn:pq"})
    assert compiler.compile("p:c/text()").string(ROOT, DocumentContext(DOC)) == "y"
    with pytest.raises(XPathFailure, match="Undefined namespace prefix"):
        compiler.compile("z:c").nodes(ROOT, DocumentContext(DOC))
