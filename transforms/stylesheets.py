"""Reading stylesheets safely: the module tree of a stylesheet and the "inside the mappings
directory" rule shared by both XSLT processors.

A mapping may read files (``xsl:import``/``xsl:include``, ``document()``, ``doc()``…) only from
the mappings directory: never the network, never ``/etc/passwd``, never a file a harvested record
names. :func:`resolve_inside` is the single place that decides; the lxml resolver and the static
checks for Saxon both call it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

from lxml import etree

from mdstore.errors import MappingError
from transforms.payload import safe_parser

XSL_NS = "http://www.w3.org/1999/XSL/Transform"
CC_NS = "urn:contentcloud:functions"


class OutsideMappings(MappingError):
    """A stylesheet asked for a resource outside the mappings directory (or on the network)."""


def resolve_inside(href: str, base: str | Path | None, root: Path, *, step: str = "xslt") -> Path:
    """The local file ``href`` names (relative to ``base``), provided it lies inside ``root``.

    Only plain paths and ``file:`` URIs are allowed; symbolic links are resolved before the check,
    so a link cannot lead out of the directory.
    """
    base_url = (
        Path(base).resolve().as_uri() if base is not None and not str(base).startswith("file:") else base
    )
    url = urljoin(str(base_url or root.as_uri() + "/"), href) if not Path(href).is_absolute() else href
    parsed = urlparse(url)
    if parsed.scheme not in ("", "file"):
        raise OutsideMappings(f"{href!r} is refused: mappings read no {parsed.scheme}: resources", step=step)
    path = Path(unquote(parsed.path if parsed.scheme else url)).resolve()
    if not path.is_relative_to(root):
        raise OutsideMappings(
            f"{href!r} is refused: it lies outside the mappings directory {root}", step=step
        )
    return path


@dataclass
class StylesheetModule:
    path: Path
    tree: etree._ElementTree


@dataclass
class StylesheetTree:
    """A stylesheet and every module it imports or includes, each parsed once (hardened)."""

    main: Path
    modules: list[StylesheetModule] = field(default_factory=list)

    @property
    def paths(self) -> list[Path]:
        return [m.path for m in self.modules]

    @property
    def version(self) -> str:
        root = self.modules[0].tree.getroot()
        return (root.get("version") or "1.0").strip()

    def output_method(self) -> str:
        """The ``method`` of the unnamed ``xsl:output`` (the main module's wins over imports)."""
        for module in self.modules:
            for output in module.tree.getroot().iterchildren(f"{{{XSL_NS}}}output"):
                if output.get("name") is None and output.get("method"):
                    return output.get("method", "").strip()
        return "xml"

    def global_params(self) -> set[str]:
        """Clark names of the top-level ``xsl:param``s of every module."""
        names: set[str] = set()
        for module in self.modules:
            root = module.tree.getroot()
            for param in root.iterchildren(f"{{{XSL_NS}}}param"):
                name = param.get("name", "")
                prefix, _, local = name.rpartition(":")
                names.add(f"{{{param.nsmap.get(prefix)}}}{local}" if prefix else local)
        return names


def read_stylesheet(path: Path, root: Path, *, step: str = "xslt") -> StylesheetTree:
    """Parse ``path`` and, recursively, its ``xsl:import``/``xsl:include`` modules.

    Every module must lie inside ``root`` and carry no DOCTYPE (entities in a stylesheet would be
    expanded by Saxon's own parser); errors name the module and line.
    """
    result = StylesheetTree(path)
    seen: set[Path] = set()

    def visit(module_path: Path, referrer: str | None) -> None:
        if module_path in seen:
            return
        seen.add(module_path)
        try:
            data = module_path.read_bytes()
        except OSError as exc:
            raise MappingError(
                f"cannot read stylesheet module: {exc.strerror or exc}",
                step=step,
                location=referrer or str(module_path),
            ) from exc
        try:
            tree = etree.fromstring(data, safe_parser(), base_url=str(module_path)).getroottree()
        except etree.XMLSyntaxError as exc:
            line = exc.position[0] if exc.position else "?"
            raise MappingError(
                f"stylesheet is not well-formed XML: {exc.msg}", step=step, location=f"{module_path}:{line}"
            ) from exc
        if tree.docinfo.doctype:
            raise MappingError(
                "a DOCTYPE in a stylesheet is refused (its entities could read files)",
                step=step,
                location=f"{module_path}:1",
            )
        result.modules.append(StylesheetModule(module_path, tree))
        for ref in tree.getroot().iterchildren(f"{{{XSL_NS}}}import", f"{{{XSL_NS}}}include"):
            href = ref.get("href", "")
            where = f"{module_path}:{ref.sourceline}"
            try:
                # the element's base URI: xml:base on it or an ancestor counts, as it does for XSLT
                target = resolve_inside(href, ref.base or module_path, root, step=step)
            except OutsideMappings as exc:
                raise OutsideMappings(exc.message, step=step, location=where) from None
            visit(target, where)

    visit(path, None)
    return result
