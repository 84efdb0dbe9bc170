"""Controlled vocabularies (D-NET style): any known spelling of a term → its canonical term.

Vocabularies live as files in ``mappings/vocabularies/``; the file stem is the vocabulary's name.
Two formats, both small enough for curators to edit by hand:

* **CSV / TSV** with a header row naming the columns ``term`` and ``synonym`` (``label`` is
  optional): one row per spelling; a term is always its own synonym::

      term,synonym,label
      eng,en,English
      eng,english,

* **YAML, SKOS-lite**: ``term`` plays ``skos:notation``, ``label`` ``skos:prefLabel`` and
  ``synonyms`` ``skos:altLabel``/``hiddenLabel``::

      description: ISO 639-3 codes of the languages our sources use
      terms:
        - term: eng
          label: English
          synonyms: [en, en-GB, english, anglais]

Lookups ignore case and runs of whitespace (the key is ``lower-case(normalize-space(.))``, the
very expression ``mappings/lib/cc-functions.xsl`` uses, so XSLT 1.0 and 3.0 mappings agree). A
spelling that two terms claim is a configuration error, reported with file and line.

The ``vocabulary`` transform step (:class:`VocabularyStep`) rewrites element or attribute values
in place; XSLT mappings call ``cc:vocab('name', .)`` instead (see :mod:`transforms.xslt`).
"""

from __future__ import annotations

import csv
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mdstore.errors import ConfigError, MappingError

if TYPE_CHECKING:
    from transforms.payload import Payload, RecordContext
    from transforms.registry import BuildContext

logger = logging.getLogger(__name__)

VOCABULARY_SUFFIXES = (".csv", ".tsv", ".yaml", ".yml")
_XML_WHITESPACE = re.compile(r"[ \t\r\n]+")
OnUnknown = Literal["keep", "drop", "error"]


def normalise_key(value: str | None) -> str:
    """The lookup key of a spelling: XPath's ``lower-case(normalize-space(value))``."""
    if not value:
        return ""
    return _XML_WHITESPACE.sub(" ", value).strip(" ").lower()


@dataclass
class Vocabulary:
    """One vocabulary: normalised spelling → canonical term, and term → display label."""

    name: str
    source: str = ""
    terms: dict[str, str] = field(default_factory=dict)  # key -> term
    labels: dict[str, str] = field(default_factory=dict)  # term -> label
    _origins: dict[str, str] = field(default_factory=dict, repr=False)  # key -> where it was defined

    def add(self, term: str, spellings: Iterable[str], *, label: str | None = None, where: str = "") -> None:
        """Declare ``term`` with its spellings; refuse a spelling already claimed by another term."""
        term = term.strip()
        if not term:
            raise ConfigError(
                "a term must not be empty", file=where or self.source, field=self.name, rule="vocabulary"
            )
        for spelling in (term, *(s for s in spellings if s and s.strip())):
            key = normalise_key(spelling)
            claimed = self.terms.get(key)
            if claimed is not None and claimed != term:
                raise ConfigError(
                    f"spelling {spelling!r} maps to both {claimed!r} ({self._origins[key]}) and {term!r}",
                    file=where or self.source,
                    field=self.name,
                    rule="vocabulary",
                )
            self.terms[key] = term
            self._origins.setdefault(key, where or self.source)
        if label:
            self.labels.setdefault(term, label.strip())

    def lookup(self, value: str | None) -> str | None:
        """The canonical term for any known spelling of it, else ``None``."""
        return self.terms.get(normalise_key(value))

    def label(self, term: str | None) -> str | None:
        return self.labels.get(term or "")

    def __len__(self) -> int:
        return len(set(self.terms.values()))


def load_vocabulary(path: str | Path) -> Vocabulary:
    """Read one vocabulary file (CSV, TSV or SKOS-lite YAML); errors name file and line."""
    path = Path(path)
    if path.suffix not in VOCABULARY_SUFFIXES:
        raise ConfigError(
            f"not a vocabulary file (expected one of {', '.join(VOCABULARY_SUFFIXES)})",
            file=str(path),
            rule="vocabulary",
        )
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", file=str(path), rule="readable") from exc
    vocabulary = Vocabulary(path.stem, source=str(path))
    if path.suffix in (".csv", ".tsv"):
        _read_table(vocabulary, text, path, delimiter="\t" if path.suffix == ".tsv" else ",")
    else:
        _read_yaml(vocabulary, text, path)
    return vocabulary


def _read_table(vocabulary: Vocabulary, text: str, path: Path, *, delimiter: str) -> None:
    reader = csv.DictReader(text.splitlines(), delimiter=delimiter)
    columns = [c.strip().lower() for c in reader.fieldnames or []]
    if "term" not in columns or "synonym" not in columns:
        raise ConfigError(
            f"the header row must name the columns 'term' and 'synonym' (found {columns})",
            file=f"{path}:1",
            rule="vocabulary",
        )
    reader.fieldnames = columns
    for line, row in enumerate(reader, start=2):
        term = (row.get("term") or "").strip()
        if not term:
            raise ConfigError("empty term", file=f"{path}:{line}", field=vocabulary.name, rule="vocabulary")
        vocabulary.add(term, [row.get("synonym") or ""], label=row.get("label"), where=f"{path}:{line}")


def _read_yaml(vocabulary: Vocabulary, text: str, path: Path) -> None:
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"not valid YAML: {getattr(exc, 'problem', exc)}", file=where, rule="yaml") from exc
    if not isinstance(data, dict) or not isinstance(data.get("terms"), list):
        raise ConfigError(
            "a YAML vocabulary is a mapping with a list 'terms'", file=str(path), rule="vocabulary"
        )
    vocabulary.name = str(data.get("name") or vocabulary.name)
    for index, item in enumerate(data["terms"]):
        where = f"{path}: terms[{index}]"
        if not isinstance(item, dict) or not isinstance(item.get("term"), str | int):
            raise ConfigError(
                "each entry needs a 'term'", file=where, field=vocabulary.name, rule="vocabulary"
            )
        synonyms = item.get("synonyms") or []
        if not isinstance(synonyms, list):
            raise ConfigError(
                "'synonyms' must be a list", file=where, field=vocabulary.name, rule="vocabulary"
            )
        label = item.get("label")
        vocabulary.add(
            str(item["term"]),
            [str(s) for s in synonyms] + ([str(label)] if label else []),
            label=str(label) if label else None,
            where=where,
        )


class VocabularySet:
    """Every vocabulary of a directory, read on first use (a chain that never asks reads nothing)."""

    def __init__(self, directory: str | Path | None) -> None:
        self.directory = Path(directory) if directory is not None else None
        self._vocabularies: dict[str, Vocabulary] | None = None

    @classmethod
    def of(cls, vocabularies: Iterable[Vocabulary]) -> VocabularySet:
        """A set built in memory (tests, callers that load files themselves)."""
        result = cls(None)
        result._vocabularies = {v.name: v for v in vocabularies}
        return result

    def _load(self) -> dict[str, Vocabulary]:
        if self._vocabularies is None:
            found: dict[str, Vocabulary] = {}
            if self.directory is not None and self.directory.is_dir():
                for path in sorted(self.directory.iterdir()):
                    if path.suffix in VOCABULARY_SUFFIXES and path.is_file():
                        vocabulary = load_vocabulary(path)
                        if vocabulary.name in found:
                            raise ConfigError(
                                f"vocabulary {vocabulary.name!r} is defined twice (also in "
                                f"{found[vocabulary.name].source})",
                                file=str(path),
                                rule="vocabulary",
                            )
                        found[vocabulary.name] = vocabulary
            logger.debug("loaded %d vocabularies from %s", len(found), self.directory)
            self._vocabularies = found
        return self._vocabularies

    def names(self) -> list[str]:
        return sorted(self._load())

    def get(self, name: str) -> Vocabulary:
        vocabularies = self._load()
        if name not in vocabularies:
            known = ", ".join(sorted(vocabularies)) or "none"
            raise ConfigError(
                f"unknown vocabulary {name!r}; known: {known}",
                file=str(self.directory or ""),
                field="vocabulary",
                rule="exists",
            )
        return vocabularies[name]

    def to_xml(self) -> bytes:
        """All vocabularies as the document ``cc-functions.xsl`` reads from ``$cc:vocabularies``."""
        from lxml import etree

        ns = "urn:contentcloud:functions"
        root = etree.Element(f"{{{ns}}}vocabularies", nsmap={"cc": ns})
        for name, vocabulary in sorted(self._load().items()):
            element = etree.SubElement(root, f"{{{ns}}}vocabulary", name=name)
            for key, term in sorted(vocabulary.terms.items()):
                etree.SubElement(element, f"{{{ns}}}entry", key=key, term=term)
            for term, label in sorted(vocabulary.labels.items()):
                etree.SubElement(element, f"{{{ns}}}term", term=term, label=label)
        return etree.tostring(root, encoding="UTF-8")


# --- the vocabulary step -----------------------------------------------------------------------

#: prefixes a vocabulary step may use without declaring them
DEFAULT_NAMESPACES = {
    "dc": "http://purl.org/dc/elements/1.1/",
    "dcterms": "http://purl.org/dc/terms/",
    "oai_dc": "http://www.openarchives.org/OAI/2.0/oai_dc/",
    "oai": "http://www.openarchives.org/OAI/2.0/",
    "datacite": "http://datacite.org/schema/kernel-4",
    "cmd": "http://www.clarin.eu/cmd/1",
    "cmd11": "http://www.clarin.eu/cmd/",
}


class VocabularyStep:
    """Rewrite the values selected by an XPath to their canonical terms.

    Profile fields: ``vocabulary`` (name), ``xpath`` (elements or attributes to rewrite),
    ``namespaces`` (extra prefixes), ``on_unknown``: ``keep`` the value (default), ``drop`` the
    element/attribute, or ``error`` (the record fails with the value and its line).
    """

    kind = "vocabulary"
    sources: tuple[str, ...] = ()

    def __init__(
        self,
        vocabulary: Vocabulary,
        xpath: str,
        *,
        namespaces: Mapping[str, str] | None = None,
        on_unknown: OnUnknown = "keep",
    ) -> None:
        from lxml import etree

        if on_unknown not in ("keep", "drop", "error"):
            raise ConfigError(
                f"on_unknown {on_unknown!r} is not one of keep, drop, error", field="on_unknown", rule="enum"
            )
        self.vocabulary = vocabulary
        self.on_unknown = on_unknown
        self.label = f"vocabulary {vocabulary.name}"
        try:
            self._select = etree.XPath(xpath, namespaces={**DEFAULT_NAMESPACES, **(namespaces or {})})
        except etree.XPathSyntaxError as exc:
            raise ConfigError(f"invalid XPath {xpath!r}: {exc}", field="xpath", rule="xpath") from exc
        self.xpath = xpath

    @classmethod
    def from_config(cls, config: Mapping[str, Any], context: BuildContext) -> VocabularyStep:
        for required in ("vocabulary", "xpath"):
            if not config.get(required):
                raise ConfigError(f"a vocabulary step needs {required!r}", field=required, rule="required")
        vocabularies = context.vocabularies or VocabularySet(context.base_dir / "vocabularies")
        step = cls(
            vocabularies.get(str(config["vocabulary"])),
            str(config["xpath"]),
            namespaces=config.get("namespaces"),
            on_unknown=config.get("on_unknown", "keep"),
        )
        step.sources = (step.vocabulary.source,) if step.vocabulary.source else ()
        return step

    def apply(self, payload: Payload, context: RecordContext) -> Payload:
        tree = payload.tree(step=self.label, record_id=context.record_id)
        try:
            selected = self._select(tree)
        except Exception as exc:  # lxml raises XPathEvalError subclasses
            raise MappingError(
                f"XPath {self.xpath!r} failed: {exc}", record_id=context.record_id, step=self.label
            ) from exc
        for node in selected if isinstance(selected, list) else []:
            self._rewrite(node, context)
        return payload.with_tree(tree)

    def _rewrite(self, node: Any, context: RecordContext) -> None:
        if getattr(node, "is_tail", False):
            return  # text after an element belongs to no element we could rewrite
        if getattr(node, "is_text", False):
            node = node.getparent()  # text() selects the element's text: rewrite the element
        is_attribute = getattr(node, "is_attribute", False)
        value = str(node) if is_attribute else (node.text or "")
        term = self.vocabulary.lookup(value)
        if term is not None:
            if is_attribute:
                node.getparent().set(node.attrname, term)
            else:
                node.text = term
            return
        if self.on_unknown == "keep":
            return
        element = node.getparent() if is_attribute else node
        if self.on_unknown == "error":
            raise MappingError(
                f"{value!r} is not in vocabulary {self.vocabulary.name!r}",
                record_id=context.record_id,
                step=self.label,
                location=f"line {element.sourceline}" if element.sourceline else self.xpath,
            )
        if is_attribute:
            del element.attrib[node.attrname]
        elif element.getparent() is not None:
            element.getparent().remove(element)
