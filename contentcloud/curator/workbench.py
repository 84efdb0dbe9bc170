"""One call per curator view: datasource id + settings (+ draft mapping files) → a report.

Draft chains. A datasource's chain is usually more than its mapping: vocabulary steps normalise
values first, a ``validate`` step checks the result, an X3ML step names its policy and terms. So
draft mapping files *replace the mapping steps* (``xslt``/``x3ml``) of the profile's chain, in
place of the first one, and keep every other step; a draft X3ML step inherits the policy, terms
and UUID options of the profile's X3ML step, and a draft XSLT step the parameters of the profile's
XSLT step, unless given. ``standalone=True`` uses the draft files alone (like ``contentcloud map``).

Where a draft runs. A stylesheet may read files only inside the mappings directory (imports,
``document()``, vocabularies). A draft that lies inside it runs there; any other draft (an upload,
a copy in the curator's home) runs in a private temporary copy of the mappings directory with the
draft files put at its top, where a draft named like a shipped mapping takes its place. So
relative imports, vocabularies and policies work as for the real mapping, the sandbox keeps its
root, and nothing is ever written into ``mappings/``. The copy lives as long as the
:func:`chain_for` context.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from contentcloud.shipped import SCHEMAS_DIR
from mdstore.envelope import make_record_id
from mdstore.errors import ContentcloudError

if TYPE_CHECKING:
    from contentcloud.datasources import Datasource
    from contentcloud.settings import Settings
    from transforms.curation.coverage import CoverageReport
    from transforms.curation.ontology import Issue, Ontology
    from transforms.curation.preview import PreviewReport
    from transforms.curation.rdfdiff import DiffReport
    from transforms.registry import TransformChain

logger = logging.getLogger(__name__)

ONTOLOGY_PATH = SCHEMAS_DIR / "ontology" / "pe-crm.json"
MAPPING_STEPS = ("xslt", "x3ml")
#: fields a draft step takes over from the profile step it replaces
INHERITED = {
    "x3ml": ("policy", "terms", "uuid_mode", "uuid_test_size", "legacy_shorten"),
    "xslt": ("params",),
}

Progress = Callable[[int, int, str], None]


def load_ontology(path: str | Path | None = None) -> Ontology:
    from transforms.curation.ontology import Ontology

    return Ontology.load(path or ONTOLOGY_PATH)


def datasource(settings: Settings, datasource_id: str) -> Datasource:
    from contentcloud.datasources import DatasourceRegistry

    return DatasourceRegistry(settings.registry).get(datasource_id)


def draft_steps(
    profile_steps: Sequence[dict[str, Any]],
    files: Sequence[str | Path],
    *,
    standalone: bool = False,
    policy: str | Path | None = None,
    terms: str | Path | None = None,
) -> list[dict[str, Any]]:
    """The step configurations of a draft chain (see the module docstring)."""
    from transforms.registry import steps_from_files

    draft = steps_from_files([Path(f).resolve() for f in files], policy=policy, terms=terms)
    if standalone or not profile_steps:
        return draft
    for step in draft:
        model = next((s for s in profile_steps if s.get("type") == step["type"]), None)
        for key in INHERITED[step["type"]] if model else ():
            if key in model and key not in step:
                step[key] = model[key]
    result: list[dict[str, Any]] = []
    inserted = False
    for step in profile_steps:
        if step.get("type") in MAPPING_STEPS:
            if not inserted:
                result.extend(draft)
                inserted = True
            continue
        result.append(dict(step))
    if not inserted:
        result.extend(draft)
    return result


@contextmanager
def chain_for(
    source: Datasource,
    settings: Settings,
    mappings: Sequence[str | Path] = (),
    *,
    standalone: bool = False,
    policy: str | Path | None = None,
    terms: str | Path | None = None,
) -> Iterator[TransformChain]:
    """The datasource's chain, or the draft chain for ``mappings`` when any are given."""
    from contentcloud.pipeline.transform import build_datasource_chain, schemas_dir_for
    from transforms.registry import build_chain
    from transforms.xslt import run_params

    if not mappings:
        yield build_datasource_chain(source, settings)
        return
    root = Path(settings.mappings).resolve()
    files = [Path(m).resolve() for m in mappings]
    with _draft_root(root, files) as (base, placed):
        section = source.transform
        steps = draft_steps(
            [dict(step) for step in section.steps], placed, standalone=standalone, policy=policy, terms=terms
        )
        draft_paths = {str(p): str(f) for p, f in zip(placed, files, strict=True)}
        try:
            chain = build_chain(
                steps,
                base_dir=base,
                output=section.output,
                params=run_params(source.id, nsprefix=source.nsprefix, name=source.name),
                schemas_dir=schemas_dir_for(root),
                vocabularies=vocabularies_of(root),
            )
        except ContentcloudError as exc:  # a draft that does not compile: named by its own path
            holder = SimpleNamespace(draft_paths=draft_paths)
            exc.message = real_paths(holder, exc.message) or exc.message
            for name in exc.where_fields:
                value = getattr(exc, name, None)
                if isinstance(value, str):
                    setattr(exc, name, real_paths(holder, value))
            raise
        #: where the draft really runs, so messages can name the draft's own path instead
        chain.draft_paths = draft_paths
        yield chain


_VOCABULARIES: dict[Path, tuple[tuple[tuple[str, int, int], ...], Any]] = {}


def vocabularies_of(root: Path) -> Any:
    """The vocabularies of the mappings directory, read once and kept while their files are
    unchanged: a draft runs in a fresh copy of the directory at every pause of the editor, and
    reading the vocabularies again each time would cost more than the preview itself. (Drafts
    are mappings, never vocabularies, so the copy's vocabularies are these.)"""
    from transforms.vocabularies import VocabularySet

    directory = root / "vocabularies"
    files = sorted(directory.iterdir()) if directory.is_dir() else []
    signature = tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in files if p.is_file())
    known = _VOCABULARIES.get(root)
    if known is None or known[0] != signature:
        known = _VOCABULARIES[root] = (signature, VocabularySet(directory))
    return known[1]


@contextmanager
def _draft_root(root: Path, files: list[Path]) -> Iterator[tuple[Path, list[Path]]]:
    """(mappings directory to run in, the draft files' paths there); see the module docstring."""
    if all(f.is_relative_to(root) for f in files):
        yield root, files
        return
    with tempfile.TemporaryDirectory(prefix="contentcloud-mappings-") as tmp:
        mirror = Path(tmp) / "mappings"
        if root.is_dir():
            shutil.copytree(root, mirror, symlinks=False)
        else:
            mirror.mkdir()
        placed = []
        for file in files:
            target = mirror / (file.relative_to(root) if file.is_relative_to(root) else file.name)
            shutil.copyfile(file, target)
            placed.append(target)
        logger.info("draft %s runs in a copy of %s", ", ".join(f.name for f in files), root)
        yield mirror, placed


def _store(settings: Settings) -> Any:
    from mdstore import open_store

    return open_store(settings.mdstore, **settings.store_options())


def record_ids(source: Datasource, ids: Sequence[str]) -> list[str]:
    """Record ids for ids given as record ids (``nsprefix::md5``) or as original ids."""
    prefix = f"{source.nsprefix}::"
    return [i if i.startswith(prefix) else make_record_id(source.nsprefix, i) for i in ids]


@dataclass(frozen=True)
class OwnRecord:
    """A record the curator brought (uploaded or pasted): shaped like a stored record for the preview.

    Its original id is the name it came with; its record id is made as the pipeline would."""

    id: str
    original_id: str
    body: bytes

    def body_bytes(self) -> bytes:
        return self.body


def own_records(source: Datasource, own: Sequence[tuple[str, bytes]]) -> list[OwnRecord]:
    return [OwnRecord(make_record_id(source.nsprefix, name), name, body) for name, body in own]


def run_preview(
    datasource_id: str,
    settings: Settings,
    *,
    mappings: Sequence[str | Path] = (),
    sample: int = 5,
    ids: Sequence[str] | None = None,
    check: bool = True,
    own: Sequence[tuple[str, bytes]] | None = None,
    **draft: Any,
) -> PreviewReport:
    """The preview of a sample (or of ``ids``) of the current native version, or, with ``own``
    (``(name, XML bytes)`` pairs), of the curator's own records; the store is then not read."""
    from transforms.curation.preview import preview, preview_records

    source = datasource(settings, datasource_id)
    ontology = load_ontology() if check else None
    with chain_for(source, settings, mappings, **draft) as chain:
        if own:
            report = preview_records(
                chain, own_records(source, own), ontology=ontology, unit="your own records", version=""
            )
        else:
            with _store(settings) as store:
                report = preview(
                    store,
                    source.native_unit,
                    chain,
                    sample=sample,
                    ids=record_ids(source, ids) if ids else None,
                    ontology=ontology,
                )
        return _located(chain, report)


def real_paths(chain: Any, text: str | None) -> str | None:
    """A message about a draft run in a copy of the mappings directory, naming the draft's own path."""
    for placed, original in getattr(chain, "draft_paths", {}).items():
        if text:
            text = text.replace(placed, original)
    return text


def run_coverage(
    datasource_id: str,
    settings: Settings,
    *,
    mappings: Sequence[str | Path] = (),
    method: str = "auto",
    distinct_cap: int = 1000,
    examples: int = 3,
    limit: int | None = None,
    on_progress: Progress | None = None,
    **draft: Any,
) -> CoverageReport:
    from transforms.curation.coverage import coverage

    source = datasource(settings, datasource_id)
    options = {"distinct_cap": distinct_cap, "examples": examples, "limit": limit, "on_progress": on_progress}
    if not mappings and not source.transform.steps:
        with _store(settings) as store:  # no mapping to ask: paths and counts only
            return coverage(store, source.native_unit, None, **options)
    with chain_for(source, settings, mappings, **draft) as chain, _store(settings) as store:
        return coverage(store, source.native_unit, chain, method=method, **options)  # type: ignore[arg-type]


def run_diff(
    datasource_id: str,
    settings: Settings,
    *,
    mappings: Sequence[str | Path] = (),
    max_details: int = 50,
    limit: int | None = None,
    on_progress: Progress | None = None,
    **draft: Any,
) -> DiffReport:
    """The draft (or, without mappings, the profile's chain as its files are now) against the
    current transformed version."""
    from transforms.curation.rdfdiff import diff_version

    source = datasource(settings, datasource_id)
    current_format = source.transform.output
    with chain_for(source, settings, mappings, **draft) as chain, _store(settings) as store:
        report = diff_version(
            store,
            source.native_unit,
            source.transformed_unit,
            chain,
            current_format=current_format,
            max_details=max_details,
            limit=limit,
            on_progress=on_progress,
        )
        for item in report.records:
            item.error = real_paths(chain, item.error)
        return report


def check_files(paths: Sequence[str | Path], ontology: Ontology | None = None) -> dict[str, list[Issue]]:
    """Ontology issues of each RDF file, by file name; a file that does not parse raises."""
    from transforms.curation.ontology import check_file

    ontology = ontology or load_ontology()
    return {str(path): check_file(path, ontology) for path in paths}


@dataclass
class LiveReport:
    """Everything the editor shows for one draft over one sample: the preview (with the ontology
    check and the mapping's findings), the coverage of the sample's source paths, and the diff of
    the same records against the current transformed version (None when nothing is transformed)."""

    preview: PreviewReport
    coverage: CoverageReport
    diff: DiffReport | None
    diff_note: str = ""


def run_live(
    datasource_id: str,
    settings: Settings,
    *,
    mappings: Sequence[str | Path] = (),
    sample: int = 50,
    ids: Sequence[str] | None = None,
    own: Sequence[tuple[str, bytes]] | None = None,
    **draft: Any,
) -> LiveReport:
    """One pass of the editor's live preview: one draft chain, one store session, the existing
    preview, coverage and diff functions over the same sampled records. With ``own`` records the
    coverage is of them and there is no diff (they have no stored version to compare with)."""
    from transforms.curation.coverage import coverage
    from transforms.curation.preview import preview, preview_records
    from transforms.curation.rdfdiff import diff_version

    source = datasource(settings, datasource_id)
    ontology = load_ontology()
    with chain_for(source, settings, mappings, **draft) as compiled:
        chain = _Memo(compiled)
        if own:
            report = preview_records(
                chain, own_records(source, own), ontology=ontology, unit="your own records", version=""
            )
            return LiveReport(_located(chain, report), _own_coverage(chain, own), None, "your own records")
        with _store(settings) as store:
            unit = source.native_unit
            wanted = record_ids(source, ids) if ids else _sample_ids(settings, store, unit, sample)
            report = preview(store, source.native_unit, chain, sample=sample, ids=wanted, ontology=ontology)
            chosen = [item.record_id for item in report.items]
            covered = coverage(store, source.native_unit, chain, ids=chosen, examples=3)
            diff, note = None, ""
            if store.current_version(source.transformed_unit) is None:
                note = "nothing transformed yet: no diff"
            else:
                diff = diff_version(
                    store,
                    source.native_unit,
                    source.transformed_unit,
                    chain,
                    current_format=source.transform.output,
                    max_details=len(chosen),
                    ids=chosen,
                )
                for item in diff.records:
                    item.error = real_paths(chain, item.error)
        return LiveReport(_located(chain, report), covered, diff, note)


_SAMPLES: dict[tuple[str, str, str, int], list[str]] = {}


def _sample_ids(settings: Settings, store: Any, unit: Any, sample: int) -> list[str] | None:
    """The preview's sample of the current native version, chosen once per version: choosing it
    reads every id of the version, which the editor would otherwise do at every pause."""
    from transforms.curation.preview import sample_ids

    version = store.current_version(unit)
    if version is None:
        return None  # the preview says there is no version
    key = (str(settings.mdstore), unit.name, version, sample)
    chosen = _SAMPLES.get(key)
    if chosen is None:  # threads of the server may race here: both compute the same list
        with store.reader(unit, version) as view:
            chosen = sample_ids(view, sample)
        if len(_SAMPLES) > 64:
            _SAMPLES.clear()
        _SAMPLES[key] = chosen
    return chosen


class _Memo:
    """A chain that remembers its outputs by record id and input bytes, so that the diff of the
    records the preview has just run reuses their outputs (or errors) instead of running the draft
    a second time; anything else (the coverage tracer's altered records) runs as usual."""

    def __init__(self, chain: Any) -> None:
        self._chain = chain
        self._done: dict[tuple[str | None, bytes], Any] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._chain, name)

    def apply_payload(self, payload: Any, context: Any) -> Any:
        from mdstore.errors import RecordError

        key = (context.record_id, payload.xml_bytes())
        if key in self._done:
            found = self._done[key]
            if isinstance(found, RecordError):
                raise found
            return found
        try:
            result = self._chain.apply_payload(payload, context)
        except RecordError as exc:
            self._done[key] = exc
            raise
        self._done[key] = result
        return result


def _located(chain: Any, report: PreviewReport) -> PreviewReport:
    """Locations of errors, warnings and findings naming the draft's own path (see :func:`real_paths`)."""
    for item in report.items:
        for info in filter(None, (item.error, *item.warnings)):
            info.location = real_paths(chain, info.location)
    report.findings = [
        replace(f, location=real_paths(chain, f.location) or f.location) for f in report.findings
    ]
    return report


def _own_coverage(chain: Any, own: Sequence[tuple[str, bytes]]) -> CoverageReport:
    """Coverage of the curator's own records: a throw-away in-memory store holding just them."""
    from mdstore import RecordInput, UnitKey, open_store
    from transforms.curation.coverage import coverage

    unit = UnitKey("own", "xml")
    with open_store("sqlite:///:memory:") as store:
        tx = store.begin(unit, "full", nsprefix="own")
        tx.upsert(RecordInput(name, body) for name, body in own)
        tx.commit()
        return coverage(store, unit, chain, examples=3)


def source_tree(datasource_id: str, settings: Settings, *, limit: int = 500) -> CoverageReport:
    """The source paths of the current native version's first ``limit`` records, with counts and
    example values (the editor's source tree): the coverage table without a mapping to ask."""
    from transforms.curation.coverage import coverage

    source = datasource(settings, datasource_id)
    with _store(settings) as store:
        return coverage(store, source.native_unit, None, limit=limit, examples=3)
