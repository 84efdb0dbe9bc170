"""XSLT 2.0/3.0 through SaxonC-HE (saxonche), locked down by static checks.

SaxonC's Python API has no URI-resolver hook, so what a stylesheet may read is decided before it
compiles: :func:`check_stylesheet` walks every module and refuses

* instructions that write, evaluate code or load outside code: ``xsl:result-document``,
  ``xsl:evaluate``, ``xsl:import-schema``, ``xsl:use-package``, and ``xsl:source-document`` /
  ``xsl:merge-source`` unless their ``href`` is a literal inside the mappings directory;
* functions that read a URI (``doc``, ``document``, ``unparsed-text``…, ``collection``,
  ``json-doc``) unless called with one string literal naming a file inside the mappings directory;
* functions that reach outside the record in other ways: ``parse-xml``/``parse-xml-fragment``
  (Saxon's parser expands external entities), ``transform``, ``load-xquery-module``,
  ``function-lookup`` (a way around this list), ``environment-variable`` and
  ``available-environment-variables`` (secrets live in the environment);
* calls into any namespace but the standard ones, ``cc:`` and the stylesheet's own functions
  (no ``saxon:`` or EXPath extensions).

At run time the processor allows the ``file`` protocol only (no network even if a check missed
something) and captures result documents in memory.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lxml import etree

from mdstore.errors import MappingError
from transforms.payload import Payload, RecordContext, text_to_xml_bytes
from transforms.registry import BuildContext
from transforms.stylesheets import CC_NS, XSL_NS, OutsideMappings, StylesheetTree, resolve_inside
from transforms.xslt import RECORD_PARAMS, TEXT_FORMATS

logger = logging.getLogger(__name__)

ALLOWED_PROTOCOLS = "file"
VOCABULARIES_PARAM = f"{{{CC_NS}}}vocabularies"

#: namespaces whose functions a stylesheet may call
ALLOWED_FUNCTION_NAMESPACES = frozenset(
    {
        "http://www.w3.org/2005/xpath-functions",
        "http://www.w3.org/2001/XMLSchema",
        "http://www.w3.org/2005/xpath-functions/math",
        "http://www.w3.org/2005/xpath-functions/map",
        "http://www.w3.org/2005/xpath-functions/array",
        CC_NS,
    }
)
#: functions that read a resource by URI: allowed with one literal URI inside the mappings directory
URI_FUNCTIONS = frozenset(
    {
        "doc",
        "document",
        "doc-available",
        "unparsed-text",
        "unparsed-text-lines",
        "unparsed-text-available",
        "json-doc",
        "collection",
        "uri-collection",
    }
)
#: functions refused whatever their arguments
REFUSED_FUNCTIONS = frozenset(
    {
        "parse-xml",
        "parse-xml-fragment",
        "transform",
        "load-xquery-module",
        "function-lookup",
        "environment-variable",
        "available-environment-variables",
    }
)
REFUSED_INSTRUCTIONS = frozenset({"result-document", "evaluate", "import-schema", "use-package"})
HREF_INSTRUCTIONS = frozenset({"source-document", "merge-source"})

_CALL = re.compile(
    r"(?<![\w.\-:$@}])(Q\{[^}]*\}[\w.\-]+|[A-Za-z_][\w.\-]*(?::[A-Za-z_][\w.\-]*)?)\s*(\(|#\s*\d)"
)
_LITERAL_ARG = re.compile(r"\(\s*(?:'([^']*)'|\"([^\"]*)\")\s*\)")

_lock = threading.Lock()
_processor: Any = None


def saxon_processor() -> tuple[Any, Any]:
    """The process's one SaxonC processor and its XSLT compiler, created on first use."""
    global _processor
    with _lock:
        if _processor is None:
            from saxonche import PySaxonProcessor

            processor = PySaxonProcessor(license=False)
            processor.set_configuration_property(
                "http://saxon.sf.net/feature/allowedProtocols", ALLOWED_PROTOCOLS
            )
            _processor = (processor, processor.new_xslt30_processor())
        return _processor


# --- static checks -----------------------------------------------------------------------------


def _xpath_texts(element: etree._Element, expand_text: bool) -> Iterator[tuple[str, str]]:
    """(where, text) of every attribute or text that may hold XPath in this element."""
    in_xsl = element.tag.startswith(f"{{{XSL_NS}}}") if isinstance(element.tag, str) else False
    for name, value in element.attrib.items():
        if in_xsl or name.startswith(f"{{{XSL_NS}}}") or "{" in value:
            yield f"@{etree.QName(name).localname}", value
    if expand_text:
        texts = [element.text] + [child.tail for child in element]
        for text in texts:
            if text and "{" in text:
                yield "text", text


def _expand_text(element: etree._Element, inherited: bool) -> bool:
    own = (
        element.get("expand-text")
        if element.tag.startswith(f"{{{XSL_NS}}}")
        else element.get(f"{{{XSL_NS}}}expand-text")
    )
    return inherited if own is None else own.strip() in ("yes", "true", "1")


def _own_function_namespaces(stylesheet: StylesheetTree) -> set[str]:
    namespaces = set()
    for module in stylesheet.modules:
        for function in module.tree.getroot().iter(f"{{{XSL_NS}}}function"):
            prefix = function.get("name", "").partition(":")[0]
            if function.nsmap.get(prefix):
                namespaces.add(function.nsmap[prefix])
    return namespaces


def check_stylesheet(stylesheet: StylesheetTree, root: Path, *, step: str) -> None:
    """Refuse, with file and line, anything in the stylesheet that could escape the sandbox."""
    own_namespaces = _own_function_namespaces(stylesheet)
    for module in stylesheet.modules:
        _check_module(module.path, module.tree.getroot(), root, step, own_namespaces)


def _check_module(path: Path, top: etree._Element, root: Path, step: str, own_namespaces: set[str]) -> None:
    stack: list[tuple[etree._Element, bool]] = [(top, False)]
    while stack:
        element, inherited = stack.pop()
        if not isinstance(element.tag, str):
            continue
        where = f"{path}:{element.sourceline}"
        qname = etree.QName(element)
        if qname.namespace == XSL_NS and qname.localname in REFUSED_INSTRUCTIONS:
            raise MappingError(
                f"xsl:{qname.localname} is refused: mappings write no files and run no dynamic code",
                step=step,
                location=where,
            )
        if qname.namespace == XSL_NS and qname.localname in HREF_INSTRUCTIONS:
            href = element.get("href", "")
            if "{" in href or not href:
                raise MappingError(
                    f"xsl:{qname.localname} needs a literal href inside the mappings directory",
                    step=step,
                    location=where,
                )
            _inside(href, path, root, step, where)
        if qname.namespace == "http://saxon.sf.net/" or any(
            etree.QName(a).namespace == "http://saxon.sf.net/" for a in element.attrib
        ):
            raise MappingError("saxon: extensions are refused", step=step, location=where)
        expand = _expand_text(element, inherited)
        for attribute, text in _xpath_texts(element, expand):
            _check_xpath(text, element, path, root, step, f"{where} ({attribute})", own_namespaces)
        stack.extend((child, expand) for child in reversed(element))


def _check_xpath(
    text: str,
    element: etree._Element,
    path: Path,
    root: Path,
    step: str,
    where: str,
    own_namespaces: set[str],
) -> None:
    for match in _CALL.finditer(text):
        name = match.group(1)
        namespace, local = _function_namespace(name, element)
        if namespace is None:
            continue  # a node test or keyword whose prefix is not bound: not a function call
        if namespace not in ALLOWED_FUNCTION_NAMESPACES and namespace not in own_namespaces:
            raise MappingError(
                f"{name}() is refused: only standard, cc: and the stylesheet's own functions may be called",
                step=step,
                location=where,
            )
        if namespace != "http://www.w3.org/2005/xpath-functions":
            continue
        if local in REFUSED_FUNCTIONS:
            raise MappingError(f"{local}() is refused in mappings", step=step, location=where)
        if local in URI_FUNCTIONS:
            literal = _LITERAL_ARG.match(text, match.end() - 1) if match.group(2) == "(" else None
            if literal is None:
                raise MappingError(
                    f"{local}() is allowed only with one literal URI inside the mappings "
                    "directory (pass other documents as parameters)",
                    step=step,
                    location=where,
                )
            _inside(
                literal.group(1) if literal.group(1) is not None else literal.group(2),
                path,
                root,
                step,
                where,
            )


def _function_namespace(name: str, element: etree._Element) -> tuple[str | None, str]:
    if name.startswith("Q{"):
        namespace, _, local = name[2:].partition("}")
        return namespace, local
    prefix, _, local = name.rpartition(":")
    if not prefix:
        return "http://www.w3.org/2005/xpath-functions", local
    return element.nsmap.get(prefix) or {
        "fn": "http://www.w3.org/2005/xpath-functions",
        "xs": "http://www.w3.org/2001/XMLSchema",
    }.get(prefix), local


def _inside(href: str, path: Path, root: Path, step: str, where: str) -> None:
    try:
        resolve_inside(href, path, root, step=step)
    except OutsideMappings as exc:
        raise OutsideMappings(exc.message, step=step, location=where) from None


# --- the step ----------------------------------------------------------------------------------

_ERROR_LOCATION = re.compile(r"line (\d+)(?: column (\d+))? (?:of|in) (\S+?):?(?:\s|$)")


def _saxon_location(message: str, default: str) -> str:
    match = _ERROR_LOCATION.search(message)
    if not match:
        return default
    name = Path(match.group(3).replace("file://", "")).name or default
    return f"{name}:{match.group(1)}" + (f":{match.group(2)}" if match.group(2) else "")


class SaxonXslt:
    """An XSLT 2.0/3.0 stylesheet compiled once by Saxon. Not thread-safe (one run, one thread)."""

    kind = "xslt"

    def __init__(
        self, path: Path, context: BuildContext, *, stylesheet: StylesheetTree, produces: str | None = None
    ) -> None:
        self.path = path
        self.label = f"xslt {path.name}"
        self.produces = produces
        self.sources = tuple(stylesheet.paths)
        check_stylesheet(stylesheet, context.base_dir, step=self.label)
        processor, compiler = saxon_processor()
        self._processor = processor
        from saxonche import PySaxonApiError

        self._api_error = PySaxonApiError
        try:
            self._executable = compiler.compile_stylesheet(stylesheet_file=str(path))
        except PySaxonApiError as exc:
            message = " ".join(str(exc).split())  # one line: Saxon's messages span several
            raise MappingError(
                f"does not compile: {message}", step=self.label, location=_saxon_location(message, path.name)
            ) from exc
        executable = self._executable
        executable.set_capture_result_documents(True)
        executable.set_save_xsl_message(True)
        executable.set_property("!encoding", "UTF-8")  # we hand Python str around: never another encoding
        declared = stylesheet.global_params()
        for name, value in context.params.items():
            if name in declared:
                executable.set_parameter(name, processor.make_string_value(value))
        if VOCABULARIES_PARAM in declared and context.vocabularies is not None:
            document = processor.parse_xml(xml_text=context.vocabularies.to_xml().decode("utf-8"))
            executable.set_parameter(VOCABULARIES_PARAM, document)
        self._record_params = [name for name in RECORD_PARAMS if name in declared]
        self._text_output = stylesheet.output_method() == "text"

    def apply(self, payload: Payload, context: RecordContext) -> Payload:
        tree = payload.tree(step=self.label, record_id=context.record_id)
        # the root element only: no DOCTYPE reaches Saxon's parser, so no entity is ever expanded
        text = etree.tostring(tree.getroot(), encoding="unicode")
        processor, executable = self._processor, self._executable
        values = {"recordId": context.record_id, "originalId": context.original_id}
        for name in self._record_params:
            executable.set_parameter(name, processor.make_string_value(values[name] or ""))
        try:
            node = processor.parse_xml(xml_text=text)
            result = executable.transform_to_string(xdm_node=node)
        except self._api_error as exc:
            raise MappingError(
                self._message(exc),
                record_id=context.record_id,
                step=self.label,
                location=_saxon_location(str(exc), self.path.name),
            ) from exc
        return self._payload(result or "")

    def _message(self, exc: Exception) -> str:
        messages = self._executable.get_xsl_messages()
        self._executable.clear_xsl_messages()
        detail = " ".join(str(exc).split())
        if messages is not None and messages.size:
            texts = "; ".join(str(item) for item in messages)
            return f"{texts} ({detail})" if detail else texts
        return detail or "the transformation failed"

    def _payload(self, result: str) -> Payload:
        if self.produces in TEXT_FORMATS:
            return Payload.from_text(result, self.produces)
        if self.produces is None and self._text_output:
            return Payload.from_text(result, "ntriples")
        return Payload.from_body(text_to_xml_bytes(result))
