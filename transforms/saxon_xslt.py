"""XSLT 2.0/3.0 through SaxonC-HE (saxonche), run in a worker process the kernel confines.

SaxonC's Python API has no URI resolver and cannot interrupt a transformation, so each compiled
stylesheet lives in its own worker process (:mod:`transforms.saxon_worker`):

* **file reads are confined by the kernel**: before compiling, the worker confines itself with
  Linux Landlock (:mod:`transforms.confine`) to reading the mappings directory. ``doc()``,
  ``document()``, ``unparsed-text()``, ``json-doc()``, ``collection()``, ``xsl:include``/``import``,
  ``xsl:source-document`` and static expressions (``use-when``, static parameters, shadow
  attributes) read inside it or fail, whatever ``xml:base`` or symbolic link says. No file is
  written anywhere (result documents are also captured in memory and dropped). Where Landlock is
  missing, XSLT 2.0/3.0 mappings are refused: deny by default;
* **no network**: Saxon allows the ``file`` protocol only, and Landlock (ABI 4+) refuses TCP;
* **runaway stylesheets**: Saxon stops deep recursion itself ("too many nested calls"); a record
  that takes longer than the step's ``time_limit`` (default 30 s) is a record error and the
  worker is killed and restarted for the next record; a worker that allocates more than
  :data:`MEMORY_LIMIT` ends itself, and that record is an error too.

Second line, for curators: :func:`check_stylesheet` walks every module before anything runs and
refuses, with file and line, what a mapping has no business doing — so a curator learns why at
once instead of from a failed record:

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

These checks read text and can be fooled (``xml:base``, shadow attributes…); the worker's
confinement is what holds.
"""

from __future__ import annotations

import json
import logging
import os
import re
import select
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lxml import etree

from mdstore.errors import MappingError
from transforms.payload import Payload, RecordContext, text_to_xml_bytes
from transforms.registry import BuildContext
from transforms.saxon_worker import MAX_MESSAGE, send
from transforms.stylesheets import CC_NS, XSL_NS, OutsideMappings, StylesheetTree, resolve_inside
from transforms.xslt import RECORD_PARAMS, RECORD_TIME_LIMIT, TEXT_FORMATS

logger = logging.getLogger(__name__)

ALLOWED_PROTOCOLS = "file"
VOCABULARIES_PARAM = f"{{{CC_NS}}}vocabularies"
#: bytes of memory a worker may use (RLIMIT_DATA): a runaway stylesheet ends its worker, not the machine
MEMORY_LIMIT = 2 << 30
#: the worker's command line (``-I``: no environment, no user site; the project path comes as argv[1])
_BOOT = "import sys; sys.path.insert(0, sys.argv[1]); from transforms.saxon_worker import main; main()"
#: seconds the worker may take to start and compile (static expressions run at compile time)
COMPILE_TIME_LIMIT = 120.0

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
    """This process's one SaxonC processor and its XSLT compiler, created on first use.

    Not confined: for trusted stylesheets only (tests, tools). Mappings run in the worker.
    """
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
            _inside(href, element.base or path, root, step, where)
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
            uri = literal.group(1) if literal.group(1) is not None else literal.group(2)
            if "{" in uri or "}" in uri:  # a shadow attribute or an AVT fills it in at compile time
                raise MappingError(
                    f"{local}() is allowed only with one literal URI inside the mappings directory, "
                    "not one built from a static parameter or an attribute value template",
                    step=step,
                    location=where,
                )
            _inside(uri, element.base or path, root, step, where)


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


def _inside(href: str, path: str | Path, root: Path, step: str, where: str) -> None:
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
    """An XSLT 2.0/3.0 stylesheet compiled once by Saxon in a confined worker process.

    Thread-safe: one record at a time goes to the worker. A record that takes longer than
    ``time_limit`` seconds is a record error; the worker is killed and the next record starts a
    fresh one (compiling again), so a looping stylesheet costs one time limit per record, never
    the run. A record that makes the worker exceed :data:`MEMORY_LIMIT` ends it the same way.
    """

    kind = "xslt"

    def __init__(
        self,
        path: Path,
        context: BuildContext,
        *,
        stylesheet: StylesheetTree,
        produces: str | None = None,
        time_limit: float = RECORD_TIME_LIMIT,
    ) -> None:
        self.path = path
        self.label = f"xslt {path.name}"
        self.produces = produces
        self.sources = tuple(stylesheet.paths)
        self.time_limit = time_limit
        check_stylesheet(stylesheet, context.base_dir, step=self.label)
        declared = stylesheet.global_params()
        setup: dict[str, Any] = {
            "root": str(context.base_dir.resolve()),
            "stylesheet": str(path.resolve()),
            "params": {name: value for name, value in context.params.items() if name in declared},
            "vocabularies_param": None,
            "vocabularies": None,
            "compile_time_limit": COMPILE_TIME_LIMIT,
            "memory_limit": MEMORY_LIMIT,
        }
        if VOCABULARIES_PARAM in declared and context.vocabularies is not None:
            setup["vocabularies_param"] = VOCABULARIES_PARAM
            setup["vocabularies"] = context.vocabularies.to_xml().decode("utf-8")
        self._worker = SaxonWorker(setup, label=self.label, path=path)
        self._worker.start()
        self._record_params = [name for name in RECORD_PARAMS if name in declared]
        self._text_output = stylesheet.output_method() == "text"

    def close(self) -> None:
        """Stop the worker process (it also stops when this object is collected, or at exit)."""
        self._worker.close()

    def apply(self, payload: Payload, context: RecordContext) -> Payload:
        tree = payload.tree(step=self.label, record_id=context.record_id)
        # the root element only: no DOCTYPE reaches Saxon's parser, so no entity is ever expanded
        text = etree.tostring(tree.getroot(), encoding="unicode")
        values = {"recordId": context.record_id, "originalId": context.original_id}
        request = {"record": text, "params": {name: values[name] or "" for name in self._record_params}}
        try:
            reply = self._worker.call(request, self.time_limit)
        except MappingError as exc:
            raise MappingError(
                exc.message, record_id=context.record_id, step=self.label, location=self.path.name
            ) from None
        if "error" in reply:
            message = str(reply["error"])
            error, text = _refused(message, self._worker.root)
            raise error(
                text,
                record_id=context.record_id,
                step=self.label,
                location=_saxon_location(str(reply.get("detail") or message), self.path.name),
            )
        return self._payload(str(reply.get("result") or ""))

    def _payload(self, result: str) -> Payload:
        if self.produces in TEXT_FORMATS:
            return Payload.from_text(result, self.produces)
        if self.produces is None and self._text_output:
            return Payload.from_text(result, "ntriples")
        return Payload.from_body(text_to_xml_bytes(result))


# --- the worker process --------------------------------------------------------------------------

#: Saxon's words when it could not read a URI (the kernel refused, or the file is missing)
_UNREADABLE = re.compile(
    r"(?:Cannot read|I/O error reported by XML parser processing|Failed to read|Cannot locate)\s+"
    r"(?:file:)?/*(/[^\s(]+)",
    re.I,
)
#: Saxon's words when the allowed-protocols setting refused a URI
_PROHIBITED = re.compile(r"Access to URI (\S+) has been prohibited|Permission denied", re.I)


def _outside(message: str, root: Path) -> str | None:
    """The path Saxon could not read when it lies outside ``root`` (so the sandbox refused it)."""
    for match in _UNREADABLE.finditer(message):
        path = Path("/" + match.group(1).lstrip("/").rstrip(".,;:"))
        try:
            resolved = path.resolve()
        except OSError:
            resolved = path
        if not resolved.is_relative_to(root):
            return str(path)
    return None


def _refused(message: str, root: Path) -> tuple[type[MappingError], str]:
    """The error class and a message a curator understands, with Saxon's own words after it."""
    outside = _outside(message, root)
    if outside is not None:
        return OutsideMappings, (
            f"reading {outside} is refused: a mapping may read files inside the mappings "
            f"directory only ({message})"
        )
    if _PROHIBITED.search(message):
        return OutsideMappings, (
            "refused by the sandbox: a mapping may read files inside the mappings directory only, "
            f"and nothing on the network ({message})"
        )
    return MappingError, message


class _Process:
    """The current worker process, in a holder the finalizer can reach after the step is gone."""

    def __init__(self) -> None:
        self.popen: subprocess.Popen[bytes] | None = None

    def stop(self) -> None:
        popen, self.popen = self.popen, None
        if popen is None:
            return
        for stream in (popen.stdin, popen.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
        try:
            popen.wait(timeout=2)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait()


class SaxonWorker:
    """Client of one :mod:`transforms.saxon_worker` process: started, compiled, restarted on need."""

    def __init__(self, setup: dict[str, Any], *, label: str, path: Path) -> None:
        self.setup = setup
        self.label = label
        self.path = path
        self.root = Path(setup["root"])
        self._process = _Process()
        self._lock = threading.Lock()
        self._finalizer = weakref.finalize(self, self._process.stop)

    def start(self) -> None:
        """Start the worker and compile; a stylesheet that does not compile is a ``MappingError``."""
        with self._lock:
            self._ensure_started()

    def close(self) -> None:
        with self._lock:
            self._process.stop()

    def call(self, request: dict[str, Any], time_limit: float) -> dict[str, Any]:
        """The worker's reply to ``request``; a ``MappingError`` when it takes too long or dies."""
        with self._lock:
            popen = self._ensure_started()
            try:
                _write(popen, {**request, "time_limit": time_limit})
                reply = _read(popen, time.monotonic() + time_limit)
            except TimeoutError:
                self._kill()
                raise MappingError(
                    f"the stylesheet ran longer than the time limit of {time_limit:g} s for this "
                    "record (a loop or runaway recursion?); it was stopped",
                    step=self.label,
                ) from None
            except (OSError, EOFError, ValueError) as exc:
                code = _exit_code(popen)
                self._kill()
                limit = int(self.setup.get("memory_limit") or 0) >> 20
                raise MappingError(
                    f"the Saxon worker stopped while transforming this record ({_ended(code, exc)}); "
                    f"did the stylesheet need more than its {limit} MiB of memory?",
                    step=self.label,
                ) from None
            return reply

    def _kill(self) -> None:
        popen = self._process.popen
        if popen is not None:
            popen.kill()
        self._process.stop()

    def _ensure_started(self) -> subprocess.Popen[bytes]:
        if self._process.popen is not None:
            return self._process.popen
        project = str(Path(__file__).resolve().parents[1])
        popen = subprocess.Popen(  # noqa: S603 (this Python, a constant script, our own package path)
            [sys.executable, "-I", "-c", _BOOT, project],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            close_fds=True,
            env={},  # environment-variable() finds nothing: secrets live in the environment
        )
        self._process.popen = popen
        try:
            _write(popen, self.setup)
            reply = _read(popen, time.monotonic() + COMPILE_TIME_LIMIT)
        except TimeoutError:
            self._kill()
            raise MappingError(
                f"the stylesheet did not compile within {COMPILE_TIME_LIMIT:g} s", step=self.label
            ) from None
        except (OSError, EOFError, ValueError) as exc:
            code = _exit_code(popen)
            self._kill()
            raise MappingError(
                f"the Saxon worker did not start ({_ended(code, exc)})", step=self.label
            ) from None
        if "error" in reply:
            self._process.stop()
            message = str(reply["error"])
            if reply.get("stage") == "confine":
                raise MappingError(
                    "XSLT 2.0/3.0 mappings run only where the kernel can confine their file reads "
                    f"to the mappings directory (Linux Landlock), and here it cannot: {message}",
                    step=self.label,
                    location=self.path.name,
                )
            error, text = _refused(message, self.root)
            raise error(
                f"does not compile: {text}",
                step=self.label,
                location=_saxon_location(str(reply.get("detail") or message), self.path.name),
            )
        return popen


def _exit_code(popen: subprocess.Popen[bytes]) -> int | None:
    """The exit code of a worker whose output just ended (it may take a moment to be reaped)."""
    try:
        return popen.wait(timeout=2)
    except subprocess.TimeoutExpired:
        return None


def _ended(code: int | None, exc: BaseException) -> str:
    if code is not None and code < 0:
        return f"killed by signal {-code}"
    if code is not None:
        return f"exit code {code}"
    return str(exc) or type(exc).__name__


def _write(popen: subprocess.Popen[bytes], message: dict[str, Any]) -> None:
    assert popen.stdin is not None
    send(popen.stdin, message)


def _read(popen: subprocess.Popen[bytes], deadline: float) -> dict[str, Any]:
    """One framed reply, waiting no later than ``deadline`` (``TimeoutError``)."""
    assert popen.stdout is not None
    fd = popen.stdout.fileno()
    header = _read_exactly(fd, 4, deadline)
    size = int.from_bytes(header, "big")
    if size > MAX_MESSAGE:
        raise ValueError(f"a reply of {size} bytes")
    data = _read_exactly(fd, size, deadline)
    message = json.loads(data.decode("utf-8"))
    if not isinstance(message, dict):
        raise ValueError("a reply that is not a JSON object")
    return message


def _read_exactly(fd: int, size: int, deadline: float) -> bytes:
    chunks: list[bytes] = []
    remaining = size
    while remaining:
        wait = deadline - time.monotonic()
        if wait <= 0:
            raise TimeoutError
        ready, _, _ = select.select([fd], [], [], wait)
        if not ready:
            raise TimeoutError
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            raise EOFError("end of output")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)
