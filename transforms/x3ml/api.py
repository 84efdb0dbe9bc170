"""The public face of the engine: load a mapping once, transform records with it.

See the package docstring (:mod:`transforms.x3ml`) for the API and its guarantees.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from lxml import etree

from mdstore.errors import ConfigError, MappingError
from transforms.x3ml.generators.registry import CUSTOM_GENERATORS
from transforms.x3ml.loader import (
    Source,
    iter_records,
    load_mapping_document,
    load_policy,
    parse_input,
    parse_inputs,
)
from transforms.x3ml.model import MappingDocument, Policy
from transforms.x3ml.output import Graph
from transforms.x3ml.terminology import Terminology
from transforms.x3ml.uuids import UUIDMode, UUIDSource, make_uuid_source
from transforms.x3ml.xpath import XPathFailure

__all__ = ["COMPAT_LEVELS", "Compat", "TransformResult", "X3MLMapping"]

CompatName = Literal["current", "1.9.1", "1.8.4", "1.8.2"]


@dataclass(frozen=True, slots=True)
class Compat:
    """How closely to follow an older engine where outputs changed between versions.

    ``shorten``: honour ``shorten="yes"`` (absent before 1.8.4); ``legacy_shorten``: the
    1.8.4–1.9.1 shortening; ``post_process``: turn ``%2F``/``%25`` of plain URI templates back
    into ``/``/``%`` (since 1.8.5); ``lenient_info``: accept an ``<info>`` block without
    ``thesaurus_info`` (mandatory since 1.9.0); ``legacy_uri_or_uuid``: URIorUUID as before 1.8.3
    (only ``http``-like URLs and URNs count as URIs).
    """

    name: str
    shorten: bool = True
    legacy_shorten: bool = False
    post_process: bool = True
    lenient_info: bool = False
    legacy_uri_or_uuid: bool = False


COMPAT_LEVELS: dict[str, Compat] = {
    "current": Compat("current"),
    "1.9.1": Compat("1.9.1", legacy_shorten=True),
    "1.8.4": Compat("1.8.4", legacy_shorten=True, post_process=False, lenient_info=True),
    "1.8.2": Compat("1.8.2", shorten=False, post_process=False, lenient_info=True, legacy_uri_or_uuid=True),
}


class _Generators:
    """Custom generators by class name: explicit overrides first, then the registry."""

    def __init__(self, overrides: Mapping[str, type] | None) -> None:
        self._overrides = dict(overrides or {})

    def get(self, name: str) -> Any:
        if name in self._overrides:
            return self._overrides[name]
        return CUSTOM_GENERATORS.get(name)


@dataclass(slots=True)
class TransformResult:
    """The RDF of one transformation and the per-entity problems met on the way."""

    graph: Graph
    warnings: list[MappingError] = field(default_factory=list)
    record_id: str | None = None
    #: triples each link wrote (keyed by the link's :class:`~transforms.x3ml.model.Where`)
    link_triples: dict[Any, int] = field(default_factory=dict)

    def to_ntriples(self) -> str:
        """The triples as N-Triples text (named graphs merged)."""
        return self.graph.to_ntriples()

    def serialize(self, fmt: str = "ntriples") -> bytes:
        """The result as ``ntriples``, ``turtle``, ``rdfxml``, ``trig``, ``jsonld`` or ``nquads``."""
        return self.graph.serialize(fmt)

    def __len__(self) -> int:
        return len(self.graph)


class X3MLMapping:
    """One or more X3ML mapping files with a generator policy, compiled once."""

    def __init__(
        self,
        document: MappingDocument,
        policy: Policy,
        *,
        terminology: Terminology | None = None,
        compat: Compat = COMPAT_LEVELS["current"],
        custom_generators: Mapping[str, type] | None = None,
    ) -> None:
        self.document = document
        self.policy = policy
        self.terminology = terminology
        self.compat = compat
        self.compiler = document.compiler
        overrides = dict(custom_generators or {})
        if compat.legacy_uri_or_uuid:
            from transforms.x3ml.generators.custom import URIorUUIDLegacy

            overrides.setdefault("gr.forth.URIorUUID", URIorUUIDLegacy)
        self.custom_generators = _Generators(overrides)
        #: per generator call (by id; the calls live as long as the document): what the engine
        #: does with it, decided on first use (see ``engine.Run._plan``)
        self.generator_plans: dict[int, tuple[int, Any, Any]] = {}
        #: URI template results by generator and argument values, shared by the runs (the
        #: expansion and its MD5 cost more than the look-up); emptied when it reaches its bound
        self.template_memo: dict[tuple[str, ...], str] = {}

    @classmethod
    def load(
        cls,
        mappings: Source | Sequence[Source],
        *,
        policy: Source | None = None,
        terms: str | Path | None = None,
        legacy_shorten: bool = False,
        compat: CompatName | None = None,
        custom_generators: Mapping[str, type] | None = None,
    ) -> X3MLMapping:
        """Load and check mapping files (merged in order), a policy and a SKOS terms file.

        ``legacy_shorten`` selects the 1.8.4–1.9.1 shortening (``compat="1.9.1"``); ``compat``
        names an engine era explicitly (see :class:`Compat`). Raises
        :class:`~mdstore.errors.ConfigError` for anything the reference refuses to load.
        """
        if compat is None:
            compat = "1.9.1" if legacy_shorten else "current"
        if compat not in COMPAT_LEVELS:
            raise ConfigError(
                f"unknown compatibility level {compat!r}; expected one of {', '.join(COMPAT_LEVELS)}"
            )
        level = COMPAT_LEVELS[compat]
        if legacy_shorten and not level.legacy_shorten:
            raise ConfigError(f"legacy_shorten contradicts compat={compat!r}")
        sources = [mappings] if _is_source(mappings) else list(mappings)
        document = load_mapping_document(sources, lenient_info=level.lenient_info)
        loaded_policy = load_policy(policy)
        terminology = Terminology.load(terms) if terms is not None else None
        return cls(
            document,
            loaded_policy,
            terminology=terminology,
            compat=level,
            custom_generators=custom_generators,
        )

    def transform(
        self,
        source: bytes | str | etree._Element | etree._ElementTree,
        *,
        record_id: str | None = None,
        uuid_mode: UUIDMode = "reproducible",
        uuid_test_size: int = 2,
    ) -> TransformResult:
        """Run the mapping over one record: XML bytes or text, or a parsed element or tree.

        ``uuid_mode`` is ``"reproducible"`` (UUIDs derived from ``record_id`` and the source
        paths; without a record id, from a digest of the record), ``"test"`` (the reference's
        ``uuid:A…`` sequence of ``uuid_test_size`` letters) or ``"random"``. Per-entity problems
        come back in :attr:`TransformResult.warnings`; a record that is not XML raises
        :class:`~mdstore.errors.RecordParseError`.
        """
        if isinstance(source, bytes | str):
            data = source.encode("utf-8") if isinstance(source, str) else source
            tree = parse_input(data, record_id=record_id)
            digest_source = data
        else:
            tree = _as_tree(source)
            digest_source = None
        return self._run(tree, record_id, uuid_mode, uuid_test_size, digest_source)

    def transform_files(
        self,
        inputs: Sequence[str | Path],
        *,
        record_id: str | None = None,
        uuid_mode: UUIDMode = "reproducible",
        uuid_test_size: int = 2,
    ) -> TransformResult:
        """Run the mapping over input files read as one document (the reference's several
        ``-i`` files: the children of every further root are appended to the first root)."""
        tree = parse_inputs([Path(p) if not isinstance(p, tuple) else p for p in inputs])
        return self._run(tree, record_id, uuid_mode, uuid_test_size, None)

    def transform_stream(
        self,
        path: str | Path,
        *,
        record_id: str | None = None,
        uuid_mode: UUIDMode = "reproducible",
        uuid_test_size: int = 2,
    ) -> Iterator[TransformResult]:
        """Run the mapping over each top-level element of one input file, as if each were an
        input file of its own, reading the file incrementally (memory holds one record, not the
        file): one result per record, in file order.

        Each record is its own document (its element is the root), so joins, positions and
        ``global_variable`` values do not reach across records, and a triple that two records
        both produce is written twice. Reproducible UUIDs take ``record_id`` + ``/`` + the
        record's position as their record id (without ``record_id``, a digest of the record);
        test UUIDs (``uuid:AA``…) continue from one record to the next, so they stay distinct.
        A file that stops being well-formed raises :class:`~mdstore.errors.RecordParseError`
        after the records before the fault have been yielded.
        """
        shared = None
        if uuid_mode == "test":
            try:
                shared = make_uuid_source("test", record_id=None, test_size=uuid_test_size)
            except ValueError as exc:
                raise ConfigError(str(exc)) from exc
        for position, tree in enumerate(iter_records(path), start=1):
            rid = f"{record_id}/{position}" if record_id is not None else None
            yield self._run(tree, rid, uuid_mode, uuid_test_size, None, uuids=shared)

    def _run(
        self,
        tree: etree._ElementTree,
        record_id: str | None,
        uuid_mode: UUIDMode,
        uuid_test_size: int,
        digest_source: bytes | None,
        *,
        uuids: UUIDSource | None = None,
    ) -> TransformResult:
        from transforms.x3ml.engine import ItemError, Run

        uuid_seed = record_id
        if uuid_mode == "reproducible" and record_id is None:
            if digest_source is None:
                digest_source = etree.tostring(tree, method="c14n")
            uuid_seed = "sha256:" + hashlib.sha256(digest_source).hexdigest()
        if uuids is None:
            try:
                uuids = make_uuid_source(uuid_mode, record_id=uuid_seed, test_size=uuid_test_size)
            except ValueError as exc:
                raise ConfigError(str(exc)) from exc
        run = Run(self, tree, uuids, record_id)
        try:
            graph = run.execute()
        except XPathFailure as exc:
            raise MappingError(
                str(exc), record_id=record_id, step="x3ml", location=f"{run.where}, xpath {exc.expression!r}"
            ) from exc
        except ItemError as exc:  # a problem the reference does not catch either
            location = f"{run.where}, xpath {exc.xpath!r}" if exc.xpath else str(run.where)
            raise MappingError(str(exc), record_id=record_id, step="x3ml", location=location) from exc
        return TransformResult(graph, run.warnings, record_id, run.link_triples)


def _is_source(value: object) -> bool:
    """One mapping source: a path, or a ``(name, bytes)`` pair."""
    return isinstance(value, str | Path) or (
        isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], bytes)
    )


def _as_tree(source: etree._Element | etree._ElementTree) -> etree._ElementTree:
    if isinstance(source, etree._ElementTree):
        return source
    tree = source.getroottree()
    if tree.getroot() is source:
        return tree
    import copy

    return etree.ElementTree(copy.deepcopy(source))
