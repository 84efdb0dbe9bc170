"""Which source paths a chain reads, found by running it on altered copies of real records.

XSLT (lxml or Saxon) offers no hook that reports the nodes a stylesheet visits, and evaluating
its ``match``/``select`` expressions against the record is not enough: they are relative to
template contexts, variables and keys known only while it runs. So the chain is run as a black
box and asked what its output depends on, record by record:

1. **Value markers.** Every value (an element's own text, an attribute) is replaced by a unique
   marker (``QZ000017ZQ``: letters and digits that survive ``normalize-space``, case changes and
   URI encoding); every marker found in the raw output (before any RDF conversion) proves that the
   value at that path flows into the output. One run covers all the paths of a record.
2. **Perturbation.** A path whose marker did not come through may still decide the output (a
   vocabulary lookup, a test such as ``starts-with(., 'http')``, a ``count()``): its values alone
   are replaced by a marker, then its nodes are removed, and the output is compared with the
   output of the untouched record. Any difference (including a failure) means the chain reads it.

A path is tried on at most ``records_per_path`` records, and only while it is not known to be read,
so a whole version costs a handful of extra runs per distinct path, not per record.

Limits: a chain whose output differs between two runs of the same record (``generate-id()``,
random UUIDs, the current time) cannot be compared, so only markers are used and the report says
so. A path read only for some values (``dc:type[. = 'Software']``) looks unread when none of the
sampled records has such a value. A value read only through a function that destroys the marker
*and* ignores the value's change is invisible (none in the shipped mappings).
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

from mdstore.errors import RecordError
from transforms.curation.paths import Path, is_attribute, iter_nodes, parse_record
from transforms.payload import Payload, RecordContext

logger = logging.getLogger(__name__)

MARKER = "QZ{:06d}ZQ"
_MARKER = re.compile(r"qz(\d{6})zq", re.IGNORECASE)
#: records on which the output is compared with itself, to tell a deterministic chain
DETERMINISM_CHECKS = 3


class ChainTracer:
    """Learns, record by record, the set of source paths a chain reads."""

    def __init__(self, chain: Any, *, records_per_path: int = 3) -> None:
        self.chain = chain
        self.records_per_path = records_per_path
        self.read: set[Path] = set()
        self.tried: Counter[Path] = Counter()
        self.runs = 0
        self.traced_records = 0
        self.deterministic = True
        self._checks = 0

    # --- what is left to learn -------------------------------------------------------------------
    def pending(self, paths: Iterable[Path]) -> list[Path]:
        return [p for p in paths if p not in self.read and self.tried[p] < self.records_per_path]

    def reads(self, path: Path) -> bool:
        return path in self.read

    def describe(self) -> str:
        note = f"traced on {self.traced_records} records ({self.runs} runs)"
        if not self.deterministic:
            note += "; the output differs between two runs of one record, so only value markers were used"
        return note

    # --- one record ------------------------------------------------------------------------------
    def trace(
        self, body: bytes | str, *, record_id: str | None = None, original_id: str | None = None
    ) -> None:
        """Run the chain on altered copies of one record and learn what it reads."""
        root = parse_record(body, record_id=record_id)
        paths = list(dict.fromkeys(path for path, *_ in iter_nodes(root)))
        pending = self.pending(paths)
        if not pending:
            return
        self.traced_records += 1
        baseline = self._run(parse_record(body), record_id, original_id)
        if self.deterministic and self._checks < DETERMINISM_CHECKS:
            self._checks += 1
            if self._run(parse_record(body), record_id, original_id) != baseline:
                logger.info("trace: the chain's output is not deterministic; markers only")
                self.deterministic = False
        self._markers(body, record_id, original_id)
        # deepest first: a container holding a path found read needs no run of its own
        for path in sorted(self.pending(pending), key=len, reverse=True):
            self.tried[path] += 1
            if not self.deterministic or self._contains_read(path):
                continue
            if self._alter(body, path, record_id, original_id, remove=False) != baseline or (
                self._alter(body, path, record_id, original_id, remove=True) != baseline
            ):
                self.read.add(path)

    def _contains_read(self, path: Path) -> bool:
        """A container already known to hold a read path needs no run of its own."""
        if is_attribute(path):
            return False
        size = len(path)
        return any(len(p) > size and p[:size] == path for p in self.read)

    def _run(self, root: Any, record_id: str | None, original_id: str | None) -> str:
        self.runs += 1
        context = RecordContext(record_id, original_id)
        try:
            payload = self.chain.apply_payload(Payload.from_tree(root.getroottree()), context)
            return payload.text()
        except RecordError as exc:
            return f"\0failed in {exc.step}: {exc.message}"

    def _markers(self, body: bytes | str, record_id: str | None, original_id: str | None) -> None:
        root = parse_record(body)
        by_marker: list[Path] = []
        for path, element, attribute, value in list(iter_nodes(root)):
            if value is None:
                continue
            marker = MARKER.format(len(by_marker))
            by_marker.append(path)
            _set_value(element, attribute, marker)
        output = self._run(root, record_id, original_id)
        for match in _MARKER.finditer(output):
            index = int(match.group(1))
            if index < len(by_marker):
                self.read.add(by_marker[index])

    def _alter(
        self, body: bytes | str, target: Path, record_id: str | None, original_id: str | None, *, remove: bool
    ) -> str:
        root = parse_record(body)
        nodes = [
            (element, attribute, value)
            for path, element, attribute, value in iter_nodes(root)
            if path == target
        ]
        if not remove and all(value is None for *_, value in nodes):
            return self._run(parse_record(body), record_id, original_id)  # nothing to alter: same output
        for n, (element, attribute, value) in enumerate(nodes):
            if remove:
                _remove(element, attribute, root)
            elif value is not None:
                _set_value(element, attribute, MARKER.format(900_000 + n))
        return self._run(root, record_id, original_id)


def _set_value(element: Any, attribute: str | None, value: str) -> None:
    if attribute is not None:
        element.set(attribute, value)
        return
    element.text = value
    for child in element:
        if child.tail and child.tail.strip():
            child.tail = None


def _remove(element: Any, attribute: str | None, root: Any) -> None:
    if attribute is not None:
        element.attrib.pop(attribute, None)
        return
    parent = element.getparent()
    if parent is None:  # the root element: keep an empty one of the same name
        root.clear()
        return
    parent.remove(element)
