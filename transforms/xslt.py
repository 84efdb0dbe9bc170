"""The ``xslt`` step: XSLT 1.0 through lxml (libxslt), XSLT 2.0/3.0 through Saxon (saxonche).

The processor follows the stylesheet's ``version`` attribute, or the step's ``version`` field in
the profile when given. Stylesheet parameters: the run's (``datasource``, ``datasourceName``,
``nsprefix``, ``transformDate``, ``transformDateTime``), the step's own ``params``, and per record
``recordId`` and ``originalId``; each is passed only when the stylesheet declares it.

Safe by default, for both processors:

* no network: lxml's ``XSLTAccessControl`` denies network reads/writes and the resolver refuses
  any non-file URI; Saxon runs with ``allowedProtocols=file`` in a worker whose TCP the kernel
  refuses;
* no file writes: ``exsl:document``/``xsl:document`` are denied by the access control; the Saxon
  worker may write nothing (Landlock), and ``xsl:result-document`` is refused at compile time;
* no external entities: stylesheets and records are parsed by the hardened parser; a DOCTYPE in a
  stylesheet is refused;
* no reading outside the mappings directory: for lxml, every ``xsl:import``/``xsl:include`` and
  ``document()`` goes through :func:`transforms.stylesheets.resolve_inside` after libxslt has
  applied ``xml:base``; Saxon runs in a worker process that Linux Landlock confines to reading the
  mappings directory (:mod:`transforms.saxon_xslt`), with static checks as a second line;
* bounded: libxslt stops template recursion deeper than :data:`MAX_DEPTH`; Saxon stops deep
  recursion itself, and a record that takes longer than the step's ``time_limit`` is stopped.
  libxslt cannot be interrupted, so XSLT 1.0 has no time limit: without loops it can only
  recurse, and its recursion is bounded (a stylesheet that branches at every level can still
  run long; run such mappings as XSLT 2.0/3.0).

Helper functions for mappings (namespace ``urn:contentcloud:functions``, prefix ``cc``):
``cc:vocab(name, value[, default])``, ``cc:vocab-label(name, term)``, ``cc:date(value)``,
``cc:date-start``, ``cc:date-end``, ``cc:year``. With lxml they are Python extension functions,
available without any import. SaxonC-HE 13 offers no working Python extension functions (its
``register_user_function`` is not honoured by the Home Edition), so XSLT 2/3 mappings import
``mappings/lib/cc-functions.xsl``, an XPath implementation of the same functions that reads the
vocabularies from the ``cc:vocabularies`` document parameter this step supplies.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lxml import etree

from mdstore.errors import ConfigError, MappingError
from transforms.dates import parse_date
from transforms.payload import Payload, RecordContext
from transforms.registry import BuildContext
from transforms.stylesheets import CC_NS, XSL_NS, OutsideMappings, read_stylesheet, resolve_inside
from transforms.vocabularies import VocabularySet

logger = logging.getLogger(__name__)

#: names of the per-record parameters
RECORD_PARAMS = ("recordId", "originalId")
TEXT_FORMATS = ("ntriples", "turtle", "nquads", "trig", "jsonld", "text")
#: deepest nesting of template calls and variables libxslt allows before it stops a record
MAX_DEPTH = 3000
#: seconds an XSLT 2.0/3.0 stylesheet may spend on one record (the step's ``time_limit``)
RECORD_TIME_LIMIT = 30.0


def run_params(
    datasource: str, *, nsprefix: str | None = None, name: str | None = None, now: datetime | None = None
) -> dict[str, str]:
    """The stylesheet parameters every step of a run gets (D-NET passes the same kind)."""
    now = now or datetime.now(UTC)
    return {
        "datasource": datasource,
        "datasourceName": name or datasource,
        "nsprefix": nsprefix or datasource,
        "transformDate": now.date().isoformat(),
        "transformDateTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


class XsltStep:
    """Factory of the ``xslt`` step: picks lxml or Saxon, then compiles once."""

    kind = "xslt"

    @classmethod
    def from_config(cls, config: Mapping[str, Any], context: BuildContext) -> LxmlXslt | Any:
        mapping = config.get("mapping")
        if not mapping or not isinstance(mapping, str):
            raise ConfigError(
                "an xslt step needs one 'mapping' (a stylesheet file)", field="mapping", rule="required"
            )
        path = context.resolve(mapping)
        produces = config.get("produces")
        if produces is not None and produces not in (*TEXT_FORMATS, "xml", "rdfxml"):
            raise ConfigError(
                f"produces {produces!r} is not one of xml, rdfxml, {', '.join(TEXT_FORMATS)}",
                field="produces",
                rule="enum",
            )
        label = f"xslt {path.name}"
        stylesheet = read_stylesheet(path, context.base_dir, step=label)
        version = str(config.get("version") or stylesheet.version)
        if version.startswith("1"):
            if "time_limit" in config:
                raise ConfigError(
                    "time_limit applies to XSLT 2.0/3.0 (Saxon) only: libxslt cannot stop a running "
                    f"stylesheet; XSLT 1.0 is bounded by its template recursion depth ({MAX_DEPTH})",
                    field="time_limit",
                    rule="unsupported",
                )
            return LxmlXslt(
                path,
                context,
                params=context.params,
                stylesheet_params=stylesheet.global_params(),
                produces=produces,
                sources=stylesheet.paths,
            )
        time_limit = config.get("time_limit", RECORD_TIME_LIMIT)
        if isinstance(time_limit, bool) or not isinstance(time_limit, int | float) or time_limit <= 0:
            raise ConfigError(
                f"time_limit {time_limit!r} is not a positive number of seconds",
                field="time_limit",
                rule="minimum",
            )
        from transforms.saxon_xslt import SaxonXslt

        return SaxonXslt(
            path, context, stylesheet=stylesheet, produces=produces, time_limit=float(time_limit)
        )


# --- lxml (XSLT 1.0) ---------------------------------------------------------------------------


class _MappingsOnlyResolver(etree.Resolver):
    """Every URI libxslt loads (imports, ``document()``, DTDs) must be a file inside ``root``.

    Refusing means raising: returning ``None`` would let libxml2 fall back to its own loader.
    """

    def __init__(self, root: Path, step: str) -> None:
        super().__init__()
        self.root = root
        self.step = step

    def resolve(self, url: str, pubid: str | None, context: Any) -> Any:
        path = resolve_inside(url, None, self.root, step=self.step)
        return self.resolve_filename(str(path), context)


def _access_control() -> etree.XSLTAccessControl:
    return etree.XSLTAccessControl(
        read_file=True, write_file=False, create_dir=False, read_network=False, write_network=False
    )


def _string_value(value: Any) -> str:
    """An XPath 1.0 argument as a string: a node-set's first node, a number without ``.0``."""
    if isinstance(value, list):
        if not value:
            return ""
        value = value[0]
        if isinstance(value, etree._Element):
            return (value.text or "") if len(value) == 0 else "".join(value.itertext())
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


#: entries kept per memo of the helper functions before it is emptied (records repeat values a lot)
MEMO_SIZE = 50_000


def _memoized(function: Any) -> Any:
    memo: dict[Any, str] = {}

    def call(*args: Any) -> str:
        found = memo.get(args)
        if found is None:
            if len(memo) >= MEMO_SIZE:
                memo.clear()
            found = memo[args] = function(*args)
        return found

    return call


def cc_extensions(vocabularies: VocabularySet) -> dict[tuple[str, str], Any]:
    """The ``cc:`` helper functions as lxml extension functions bound to ``vocabularies``.

    Results are memoized by their string arguments: a run meets the same languages, types and
    dates over and over, and the callback from libxslt is the expensive part anyway.
    """

    @_memoized
    def lookup(name: str, value: str, default: str) -> str:
        term = vocabularies.get(name).lookup(value)
        return term if term is not None else default

    @_memoized
    def label(name: str, term: str) -> str:
        return vocabularies.get(name).label(term) or ""

    @_memoized
    def date_parts(value: str) -> Any:
        found = parse_date(value)
        return (found.iso, found.first_day, found.last_day, found.year) if found else ("", "", "", "")

    def vocab(_context: Any, name: Any, value: Any, default: Any = "") -> str:
        return lookup(_string_value(name), _string_value(value), _string_value(default))

    def vocab_label(_context: Any, name: Any, term: Any) -> str:
        return label(_string_value(name), _string_value(term))

    def date(_context: Any, value: Any) -> str:
        return date_parts(_string_value(value))[0]

    def date_start(_context: Any, value: Any) -> str:
        return date_parts(_string_value(value))[1]

    def date_end(_context: Any, value: Any) -> str:
        return date_parts(_string_value(value))[2]

    def year(_context: Any, value: Any) -> str:
        return date_parts(_string_value(value))[3]

    functions = {
        "vocab": vocab,
        "vocab-label": vocab_label,
        "date": date,
        "date-start": date_start,
        "date-end": date_end,
        "year": year,
    }
    return {(CC_NS, name): function for name, function in functions.items()}


class LxmlXslt:
    """An XSLT 1.0 stylesheet compiled once by libxslt."""

    kind = "xslt"

    def __init__(
        self,
        path: Path,
        context: BuildContext,
        *,
        params: Mapping[str, str],
        stylesheet_params: set[str],
        produces: str | None = None,
        sources: list[Path] | None = None,
    ) -> None:
        self.path = path
        self.label = f"xslt {path.name}"
        self.produces = produces
        self.sources = tuple(sources or [path])
        self._root = context.base_dir
        etree.XSLT.set_global_max_depth(MAX_DEPTH)  # libxslt's own default, made explicit (global)
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
        parser.resolvers.add(_MappingsOnlyResolver(context.base_dir, self.label))
        try:
            document = etree.parse(str(path), parser)
            self._xslt = etree.XSLT(
                document,
                access_control=_access_control(),
                extensions=cc_extensions(context.vocabularies or VocabularySet(None)),
            )
        except OutsideMappings as exc:
            raise OutsideMappings(exc.message, step=self.label, location=str(path)) from None
        except (etree.XSLTParseError, etree.XMLSyntaxError) as exc:
            raise MappingError(
                f"does not compile: {exc}",
                step=self.label,
                location=_error_location(getattr(exc, "error_log", None), path),
            ) from exc
        self._terminating = _terminating_messages(document, path)
        self._static = {
            name: etree.XSLT.strparam(value) for name, value in params.items() if name in stylesheet_params
        }
        self._record_params = [name for name in RECORD_PARAMS if name in stylesheet_params]

    @property
    def compiled(self) -> etree.XSLT:
        """The compiled stylesheet (benchmarks apply the very same object in a bare loop)."""
        return self._xslt

    def apply(self, payload: Payload, context: RecordContext) -> Payload:
        tree = payload.tree(step=self.label, record_id=context.record_id)
        params = self._static
        if self._record_params:
            params = dict(params)
            values = {"recordId": context.record_id, "originalId": context.original_id}
            for name in self._record_params:
                params[name] = etree.XSLT.strparam(values[name] or "")
        try:
            result = self._xslt(tree, **params)
        except OutsideMappings as exc:
            raise OutsideMappings(
                exc.message, record_id=context.record_id, step=self.label, location=str(self.path)
            ) from None
        except ConfigError as exc:  # e.g. cc:vocab with an unknown vocabulary
            raise MappingError(
                str(exc), record_id=context.record_id, step=self.label, location=str(self.path)
            ) from exc
        except etree.XSLTApplyError as exc:
            message = _apply_message(exc, self._xslt.error_log)
            raise MappingError(
                message,
                record_id=context.record_id,
                step=self.label,
                location=_error_location(self._xslt.error_log, self.path) or self._terminating.get(message),
            ) from exc
        if result.getroot() is None:
            return Payload.from_text(str(result), self.produces or "ntriples")
        return Payload.from_tree(result)


def _apply_message(exc: Exception, log: Any) -> str:
    """The stylesheet's own words (``xsl:message terminate="yes"``) before libxslt's."""
    if any("infinite template recursion" in (entry.message or "") for entry in (log or [])):
        return f"templates nested deeper than {MAX_DEPTH} calls (infinite recursion?); the record was stopped"
    messages = [entry.message for entry in (log or []) if entry.message]
    detail = "; ".join(dict.fromkeys(messages)) if messages else str(exc)
    return detail or "the transformation failed"


#: the attributes that say where an instruction sits: a template's match or name, a test, a select
_WHERE_ATTRIBUTES = ("match", "name", "test", "select")


def _terminating_messages(document: etree._ElementTree, path: Path) -> dict[str, str]:
    """Static text of each ``xsl:message terminate="yes"`` → ``file:line, template/test`` where it
    stands. libxslt reports such a message without a line, yet it is a mapping's deliberate
    refusal, and a curator needs to know which test refused the record."""
    found: dict[str, str] = {}
    for message in document.iter(f"{{{XSL_NS}}}message"):
        if message.get("terminate", "no").strip() not in ("yes", "true", "1"):
            continue
        if any(isinstance(node.tag, str) for node in message):  # dynamic text: not matchable
            continue
        text = (message.text or "").strip()
        trail = []
        for ancestor in reversed(list(message.iterancestors())):
            local = etree.QName(ancestor).localname
            attrs = [f'{a}="{ancestor.get(a)}"' for a in _WHERE_ATTRIBUTES if ancestor.get(a) is not None]
            if attrs and local != "stylesheet":
                trail.append(f"xsl:{local} {' '.join(attrs)}")
        where = f"{path.name}:{message.sourceline}" + (f", {' / '.join(trail)}" if trail else "")
        found.setdefault(text, where)
    return found


def _error_location(log: Any, path: Path) -> str | None:
    """``file:line`` of the last located log entry; ``None`` when libxslt gave no line (e.g. the
    entry of an ``xsl:message``), since the step's label already names the stylesheet."""
    for entry in reversed(list(log or [])):
        if entry.line:
            named = entry.filename and not entry.filename.startswith("<")
            return f"{Path(entry.filename).name if named else path.name}:{entry.line}"
    return None
