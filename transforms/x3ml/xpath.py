"""XPath over the source record: compile once, evaluate many times.

The reference engine evaluates every expression with Saxon (XPath 3.1) over a DOM. Here an
expression that libxml2 accepts as XPath 1.0 and that calls only XPath 1.0 functions runs on
``lxml.etree.XPath`` (about a microsecond per call); anything else (``string-join``,
``if … then``, ``for``, ``upper-case``…) runs on elementpath's XPath 3.1 parser, which is far
slower but complete enough. Context nodes that lxml cannot take (attribute and text nodes,
reached through source nodes such as ``ID/@key``) also go through elementpath.

Nodes are lxml elements, or :class:`AttrNode`/:class:`TextNode` for attributes and text. This
module knows nothing of X3ML beyond the DOM conventions the engine relies on: the string value
Saxon hands back (first item, trimmed later by the caller), the node identity the reference
engine keys its URI cache on (:func:`node_key`), and the ``xpathPosition`` of a node.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from lxml import etree

__all__ = [
    "CUSTOM_FUNCTIONS_NAMESPACE",
    "AttrNode",
    "DocumentContext",
    "Node",
    "TextNode",
    "XPathExpr",
    "XPathFailure",
    "XPathCompiler",
    "java_trim",
    "jquery_position",
    "node_key",
    "node_value",
    "string_value",
]

#: the reference's XPath extension functions (``x3ml:uuid(text)``, its ``UUIDFunction_v3``)
CUSTOM_FUNCTIONS_NAMESPACE = "http://gr.forth.ics.isl/x3ml/custom-functions"
CUSTOM_FUNCTIONS_PREFIX = "x3ml"

#: ``String.trim()`` in Java strips every character up to U+0020, and nothing else
_JAVA_TRIM = "".join(chr(c) for c in range(0x21))

#: the functions of XPath 1.0; an expression calling anything else needs the XPath 3.1 engine
_XPATH1_FUNCTIONS = frozenset((
    "last", "position", "count", "id", "local-name", "namespace-uri", "name", "string", "concat",
    "starts-with", "contains", "substring-before", "substring-after", "substring", "string-length",
    "normalize-space", "translate", "boolean", "not", "true", "false", "lang", "number", "sum", "floor",
    "ceiling", "round",
    # node tests look like calls
    "text", "node", "comment", "processing-instruction",
))  # fmt: skip
_FUNCTION_CALL = re.compile(r"(?<![\w.\-:$@])([A-Za-z_][\w.\-]*(?::[A-Za-z_][\w.\-]*)?)\s*\(")
_STRING_LITERAL = re.compile(r"\"[^\"]*\"|'[^']*'")


def java_trim(text: str) -> str:
    """Strip like ``java.lang.String.trim`` (control characters and space, not NBSP)."""
    return text.strip(_JAVA_TRIM)


def _name_uuid_upper(text: str) -> str:
    from transforms.x3ml.uritemplate import name_uuid

    return name_uuid(text).upper()


def _lxml_uuid(_context: Any, value: Any) -> str:
    if isinstance(value, list):
        value = (
            ""
            if not value
            else (string_value(value[0]) if isinstance(value[0], etree._Element) else value[0])
        )
    elif isinstance(value, float):
        value = _format_double(value)
    elif isinstance(value, bool):
        value = "true" if value else "false"
    return _name_uuid_upper(str(value))


def _ep_uuid(value: Any) -> str:
    if isinstance(value, list):
        value = value[0] if value else ""
    if hasattr(value, "string_value"):
        value = value.string_value
    return _name_uuid_upper(str(value))


etree.FunctionNamespace(CUSTOM_FUNCTIONS_NAMESPACE)["uuid"] = _lxml_uuid


class XPathFailure(Exception):
    """An expression could not be compiled or evaluated (the reference's "XPath Problem")."""

    def __init__(self, expression: str, reason: str) -> None:
        super().__init__(f"XPath problem in {expression!r}: {reason}")
        self.expression = expression
        self.reason = reason


class AttrNode:
    """An attribute node: its element, its Clark name and its value."""

    __slots__ = ("name", "parent", "value")

    def __init__(self, parent: etree._Element, name: str, value: str) -> None:
        self.parent = parent
        self.name = name
        self.value = value

    def __repr__(self) -> str:
        return f"AttrNode({self.name!r}={self.value!r})"


class TextNode:
    """A text node: the element that contains it in the DOM, its text, its position among the
    text children of that element (computed on demand)."""

    __slots__ = ("_pos", "_smart", "parent", "value")

    def __init__(
        self, parent: etree._Element, value: str, *, smart: Any = None, pos: int | None = None
    ) -> None:
        self.parent = parent
        self.value = value
        self._smart = smart
        self._pos = pos

    @property
    def pos(self) -> int:
        if self._pos is None:
            self._pos = _text_position(self._smart) if self._smart is not None else 0
        return self._pos

    def __repr__(self) -> str:
        return f"TextNode({self.value!r})"


Node = Any  # etree._Element | AttrNode | TextNode


def _text_position(smart: Any) -> int:
    if smart.is_text:
        return 0
    owner = smart.getparent()
    parent = owner.getparent()
    pos = 1 if parent.text else 0
    for sibling in parent:
        if sibling is owner:
            break
        if sibling.tail:
            pos += 1
    return pos


def _from_lxml(item: Any) -> Node:
    if isinstance(item, etree._Element):
        return item
    if isinstance(item, str) and hasattr(item, "getparent"):
        if item.is_attribute:
            return AttrNode(item.getparent(), item.attrname, str(item))
        if item.is_tail:
            owner = item.getparent()
            return TextNode(owner.getparent(), str(item), smart=item)
        return TextNode(item.getparent(), str(item), smart=item)
    if isinstance(item, tuple):  # namespace node (prefix, uri)
        return TextNode(None, item[1], pos=0)
    raise TypeError(type(item).__name__)


def string_value(node: Node) -> str:
    """The XPath string value of a node."""
    if isinstance(node, etree._Element):
        if isinstance(node.tag, str):
            return "".join(node.itertext())
        return node.text or ""
    return node.value


def node_value(node: Node) -> str:
    """DOM ``getNodeValue()`` as the reference concatenates it: ``"null"`` for elements."""
    if isinstance(node, etree._Element):
        return "null" if isinstance(node.tag, str) else (node.text or "")
    return node.value


def node_key(node: Node) -> Any:
    """A hashable key equivalent to the reference's node path: one per element and attribute;
    all text children of one element share a key (the reference counts only element siblings)."""
    if isinstance(node, etree._Element):
        return node
    if isinstance(node, AttrNode):
        return ("@", node.parent, node.name)
    return ("#", node.parent)


def _dom_name(el: etree._Element) -> str:
    tag = el.tag
    if not isinstance(tag, str):
        return "#comment" if isinstance(el, etree._Comment) else el.target
    if tag[0] == "{":
        local = tag[tag.index("}") + 1 :]
        prefix = el.prefix
        return f"{prefix}:{local}" if prefix else local
    return tag


def jquery_position(node: Node) -> str:
    """The ``xpathPosition`` argument: the one-based index of the element among its siblings of
    the same tag name (jOOX ``xpath()``, last step)."""
    if not isinstance(node, etree._Element) or not isinstance(node.tag, str):
        raise XPathFailure(".", "xpathPosition needs an element node")
    name = _dom_name(node)
    index = 1
    sib = node.getprevious()
    while sib is not None:
        if isinstance(sib.tag, str) and _dom_name(sib) == name:
            index += 1
        sib = sib.getprevious()
    return str(index)


def _format_double(value: float) -> str:
    """``string()`` of an xs:double as Saxon writes it."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "INF" if value > 0 else "-INF"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    if 1e-6 <= abs(value) < 1e6:
        text = format(Decimal(repr(value)), "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    mantissa, _, exponent = f"{value:.17E}".partition("E")
    mantissa = repr(float(mantissa)).upper()
    if "E" in mantissa:  # repr chose exponent notation itself
        return mantissa
    if "." not in mantissa:
        mantissa += ".0"
    return f"{mantissa}E{int(exponent)}"


class DocumentContext:
    """Per-document state for evaluation: the elementpath node tree, built only when needed."""

    __slots__ = ("_ep_root", "memo", "tree")

    def __init__(self, tree: etree._ElementTree) -> None:
        self.tree = tree
        self._ep_root = None
        #: results of lxml evaluations by (expression, context element): a run asks the same
        #: question many times (both passes over a domain, the same argument in several links);
        #: expressions that start at the root are kept once for any context
        self.memo: dict[tuple[Any, Any], Any] = {}

    @property
    def ep_root(self) -> Any:
        if self._ep_root is None:
            from elementpath import XPathContext

            self._ep_root = XPathContext(self.tree).root
        return self._ep_root

    def ep_node(self, node: Node) -> Any:
        """The elementpath node for one of ours."""
        root = self.ep_root
        if isinstance(node, etree._ElementTree):
            return root
        if isinstance(node, etree._Element):
            return root.get_element_node(node)
        if isinstance(node, AttrNode):
            en = root.get_element_node(node.parent)
            for attr in en.attributes:
                if attr.name == node.name:
                    return attr
            raise XPathFailure(".", f"attribute {node.name} not found")
        if node.parent is None:
            raise XPathFailure(".", "namespace nodes cannot be a context")
        en = root.get_element_node(node.parent)
        texts = [c for c in en.children if type(c).__name__ == "TextNode"]
        pos = node.pos
        if pos < len(texts):
            return texts[pos]
        raise XPathFailure(".", "text node not found")


def _from_elementpath(item: Any) -> Node:
    kind = type(item).__name__
    if kind.endswith("ElementNode"):
        return item.elem
    if kind.endswith("AttributeNode"):
        return AttrNode(
            item.parent.elem, item.name, item.value if isinstance(item.value, str) else str(item.value)
        )
    if kind == "TextNode":
        parent = item.parent
        pos = 0
        if parent is not None:
            for child in parent.children:
                if child is item:
                    break
                if type(child).__name__ == "TextNode":
                    pos += 1
        return TextNode(parent.elem if parent is not None else None, item.value, pos=pos)
    if kind.endswith("DocumentNode"):
        return item.document.getroot() if hasattr(item, "document") else item.value.getroot()
    if kind in ("CommentNode", "ProcessingInstructionNode"):
        return item.elem if hasattr(item, "elem") else item.value
    raise TypeError(kind)


#: what a compiled lxml expression can be evaluated on (a document: the double join's parent of
#: a root element)
_LXML_CONTEXTS = (etree._Element, etree._ElementTree)


class XPathExpr:
    """One compiled expression. ``nodes`` gives a node list (an error if the result is not one),
    ``string`` the string value of the first item, untrimmed."""

    __slots__ = (
        "_absolute",
        "_ep",
        "_ep_error",
        "_lxml",
        "_namespaces",
        "_parent_rest",
        "_text_only",
        "source",
    )

    def __init__(self, source: str, namespaces: Mapping[str, str]) -> None:
        self.source = source
        self._namespaces = namespaces
        self._lxml = None
        self._ep = None
        self._ep_error: str | None = None
        self._parent_rest = None
        self._text_only = source.strip() == "text()"  # the most common argument, answered without lxml
        self._absolute = _is_absolute_path(source)
        extensions = {f"{p}:uuid" for p, uri in namespaces.items() if uri == CUSTOM_FUNCTIONS_NAMESPACE}
        if _looks_like_xpath1(source, extensions):
            # only the prefixes the text names (a QName is ``prefix:local`` without spaces, so
            # this is a superset): libxml2 registers every prefix on every call
            lxml_ns = {p: u for p, u in namespaces.items() if p and p != "xml" and p + ":" in source}
            try:
                self._lxml = etree.XPath(source, namespaces=lxml_ns)
            except etree.XPathError:
                self._lxml = None
            # ``../x`` from an attribute or text node (a source node such as ``ID/@key``) is ``x``
            # from its element: lxml answers that, without elementpath's copy of the whole tree
            rest = source.strip()[3:]
            if (
                self._lxml is not None
                and source.strip().startswith("../")
                and rest
                and not rest.startswith("/")
                and "|" not in rest
            ):
                try:
                    self._parent_rest = etree.XPath(rest, namespaces=lxml_ns)
                except etree.XPathError:
                    self._parent_rest = None

    @property
    def engine(self) -> str:
        return "lxml" if self._lxml is not None else "elementpath"

    def _compile_ep(self) -> Any:
        if self._ep is None and self._ep_error is None:
            from elementpath.xpath31 import XPath31Parser

            try:
                parser = XPath31Parser(namespaces=dict(self._namespaces))
                for prefix, uri in self._namespaces.items():
                    if uri == CUSTOM_FUNCTIONS_NAMESPACE and prefix:
                        parser.external_function(
                            _ep_uuid, name="uuid", prefix=prefix, sequence_types=("item()*", "xs:string")
                        )
                self._ep = parser.parse(self.source)
            except Exception as exc:  # elementpath raises many error types
                self._ep_error = str(exc)
        if self._ep_error is not None:
            raise XPathFailure(self.source, self._ep_error)
        return self._ep

    @property
    def compile_error(self) -> str | None:
        if self._lxml is not None:
            return None
        try:
            self._compile_ep()
        except XPathFailure as exc:
            return exc.reason
        return None

    def _evaluate(self, node: Node, doc: DocumentContext) -> tuple[str, Any]:
        if self._lxml is not None and isinstance(node, _LXML_CONTEXTS):
            try:
                return "lxml", self._lxml(node)
            except etree.XPathError as exc:
                raise XPathFailure(self.source, str(exc)) from exc
        if self._parent_rest is not None and getattr(node, "parent", None) is not None:
            try:
                return "lxml", self._parent_rest(node.parent)
            except etree.XPathError as exc:
                raise XPathFailure(self.source, str(exc)) from exc
        token = self._compile_ep()
        from elementpath import XPathContext

        try:
            context = XPathContext(doc.ep_root, item=doc.ep_node(node), namespaces=dict(self._namespaces))
            return "ep", token.evaluate(context)
        except XPathFailure:
            raise
        except Exception as exc:
            raise XPathFailure(self.source, str(exc)) from exc

    def nodes(self, node: Node, doc: DocumentContext) -> list[Node]:
        """The node list (shared with later calls on the same node: do not change it)."""
        if self._lxml is not None and isinstance(node, _LXML_CONTEXTS):
            key = (self, None if self._absolute else node)
            found = doc.memo.get(key)
            if found is not None:
                return found
            try:
                result = self._lxml(node)
            except etree.XPathError as exc:
                raise XPathFailure(self.source, str(exc)) from exc
            if type(result) is list:
                found = doc.memo[key] = [
                    item if isinstance(item, etree._Element) else _from_lxml(item) for item in result
                ]
                return found
            raise XPathFailure(self.source, "the result is not a node list")
        kind, result = self._evaluate(node, doc)
        if kind == "lxml":
            if isinstance(result, list):
                return [_from_lxml(item) for item in result]
            raise XPathFailure(self.source, "the result is not a node list")
        if not isinstance(result, list):
            result = [] if result is None else [result]
        try:
            return [_from_elementpath(item) for item in result]
        except TypeError as exc:
            raise XPathFailure(self.source, "the result is not a node list") from exc

    def boolean(self, node: Node, doc: DocumentContext) -> bool:
        """The effective boolean value of the result (a node list: not empty)."""
        if self._lxml is not None and isinstance(node, _LXML_CONTEXTS):
            try:
                return _effective_boolean(self._lxml(node))
            except etree.XPathError as exc:
                raise XPathFailure(self.source, str(exc)) from exc
        _kind, result = self._evaluate(node, doc)
        return _effective_boolean(result)

    def string(self, node: Node, doc: DocumentContext) -> str:
        if self._text_only:
            if not isinstance(node, etree._Element) or not isinstance(node.tag, str):
                return ""
            if node.text:
                return node.text
            for child in node:
                if child.tail:
                    return child.tail
            return ""
        if self._lxml is not None and isinstance(node, _LXML_CONTEXTS):
            key = (self, None if self._absolute else node, "string")
            text = doc.memo.get(key)
            if text is None:
                text = doc.memo[key] = self._lxml_string(node)
            return text
        kind, result = self._evaluate(node, doc)
        return self._string_of(kind, result)

    def _lxml_string(self, node: Node) -> str:
        try:
            result = self._lxml(node)
        except etree.XPathError as exc:
            raise XPathFailure(self.source, str(exc)) from exc
        return self._string_of("lxml", result)

    def _string_of(self, kind: str, result: Any) -> str:
        if kind == "lxml":
            if isinstance(result, list):
                if not result:
                    return ""
                first = result[0]
                if isinstance(first, etree._Element):
                    return string_value(first)
                if isinstance(first, tuple):
                    return first[1]
                return str(first)
            if isinstance(result, bool):
                return "true" if result else "false"
            if isinstance(result, float):
                return _format_double(result)
            return str(result)
        if isinstance(result, list):
            if not result:
                return ""
            result = result[0]
        if result is None:
            return ""
        if isinstance(result, bool):
            return "true" if result else "false"
        try:
            return self._ep.string_value(result)
        except Exception:
            return str(result)


_STEP = re.compile(r"(?:[\w.\-]+:)?(?:[\w.\-]+|\*)(?:\(\))?|@(?:[\w.\-]+:)?(?:[\w.\-]+|\*)|\.\.?")
_PREDICATE = re.compile(r"\[[^\[\]]*\]")


def _is_absolute_path(source: str) -> bool:
    """Whether the expression is a location path from the root (``/a/b[c]``, ``//x/text()``):
    its value is the same from any context node of the document. Conservative: predicates may
    hold anything but nested brackets, steps are names, ``*``, ``@name``, ``text()``, ``node()``,
    ``.``, ``..``; no unions, operators or function calls outside predicates."""
    text = _STRING_LITERAL.sub("''", source.strip())
    if not text.startswith("/"):
        return False
    text = _PREDICATE.sub("", text)
    if "[" in text or "]" in text:
        return False
    steps = text.split("/")
    if steps[0] != "":
        return False
    for step in steps[1:]:
        if step == "":  # '//' (or the root alone)
            continue
        match = _STEP.fullmatch(step)
        if match is None:
            return False
        if step.endswith("()") and step not in ("text()", "node()") and not step.startswith("@"):
            return False
    return True


def _effective_boolean(value: Any) -> bool:
    if isinstance(value, list):
        return bool(value)
    if isinstance(value, float):
        return not (value == 0 or math.isnan(value))
    return bool(value)


def _looks_like_xpath1(source: str, extensions: set[str] = frozenset()) -> bool:  # type: ignore[assignment]
    stripped = _STRING_LITERAL.sub("''", source)
    return all(
        match.group(1) in _XPATH1_FUNCTIONS or match.group(1) in extensions
        for match in _FUNCTION_CALL.finditer(stripped)
    )


class XPathCompiler:
    """Compiles expressions against one namespace context, once per distinct source text."""

    def __init__(self, namespaces: Mapping[str, str]) -> None:
        self.namespaces = dict(namespaces)
        self.namespaces.setdefault(CUSTOM_FUNCTIONS_PREFIX, CUSTOM_FUNCTIONS_NAMESPACE)
        self._cache: dict[str, XPathExpr] = {}

    def compile(self, source: str) -> XPathExpr:
        expr = self._cache.get(source)
        if expr is None:
            expr = self._cache[source] = XPathExpr(source, self.namespaces)
        return expr
