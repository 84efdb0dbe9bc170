"""X3ML mistakes seen on a sample: paths that match nothing, links that write nothing.

A misspelt path (``dc:titel``) is valid XPath: the engine evaluates it, finds nothing, and the
triples it should give just disappear with no message. Over one record that is normal (a record
without a title); over every sampled record it is almost always a mistake of the mapping. So the
preview collects, per record, the tree each ``x3ml`` step received and the triples each link
wrote (``RecordContext.trace``), and this module reports, over the whole sample:

* ``no-match``: a domain ``source_node``, a link's ``source_relation``, a range ``source_node`` or
  a generator argument that matched nothing (an argument: gave no text) in any sampled record;
  paths below one that never matched are not evaluated (they have no context), so one typo gives
  one finding, not a cascade;
* ``no-triple``: a link that wrote no triple in any sampled record.

Conditions are not paths to be found (a condition that is false everywhere may be right), and
join links (``a==b``) are left to the engine. Findings name the path and the mapping/link as
``file:line, mapping M, link L``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem of the mapping (not of a record)."""

    severity: str  # "error" | "warning"
    kind: str  # "no-match" | "no-triple"
    message: str
    step: str
    location: str
    xpath: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        xpath = f" [xpath {self.xpath}]" if self.xpath else ""
        return f"{self.severity}: {self.kind}: {self.step}: {self.location}: {self.message}{xpath}"


class _Counter:
    """Hits per (where, role, expression), in the mapping's order."""

    def __init__(self) -> None:
        self.hits: dict[tuple[Any, str, str], int] = {}

    def nodes(self, where: Any, role: str, expr: Any, contexts: Iterable[Any], doc: Any) -> list[Any]:
        key = (where, role, expr.source)
        found: list[Any] = []
        for node in contexts:
            try:
                found.extend(expr.nodes(node, doc))
            except Exception:  # noqa: BLE001, S112 - an evaluation error is the engine's warning to give
                continue
        self.hits[key] = self.hits.get(key, 0) + len(found)
        return found

    def text(self, where: Any, role: str, expr: Any, contexts: Iterable[Any], doc: Any) -> None:
        key = (where, role, expr.source)
        count = 0
        for node in contexts:
            try:
                count += bool(expr.string(node, doc).strip())
            except Exception:  # noqa: BLE001, S112
                continue
        self.hits[key] = self.hits.get(key, 0) + count


def _entity(counter: _Counter, entity: Any, contexts: list[Any], doc: Any) -> None:
    for generator in filter(None, [entity.instance_generator, *entity.label_generators]):
        for arg in generator.args.values():
            if arg.xpath is not None and (arg.type or "xpath") == "xpath":
                counter.text(
                    generator.where,
                    f"generator {generator.name} argument {arg.name}",
                    arg.xpath,
                    contexts,
                    doc,
                )
    for additional in entity.additionals:
        for _term, extra in additional.pairs:
            _entity(counter, extra, contexts, doc)


def _walk(counter: _Counter, document: Any, tree: Any) -> None:
    from transforms.x3ml.xpath import DocumentContext

    root = tree.getroot() if hasattr(tree, "getroot") else tree
    doc = DocumentContext(root.getroottree())
    for mapping in document.mappings:
        if mapping.skip:
            continue
        domain = mapping.domain
        if domain.source_xpath is not None:
            domains = counter.nodes(mapping.where, "domain source_node", domain.source_xpath, [root], doc)
        else:
            domains = [root]
        if not domains:
            continue
        _entity(counter, domain.entity, domains, doc)
        for link in mapping.links:
            if link.skip or link.path.relation_xpath is None:
                continue
            paths = counter.nodes(link.where, "source_relation", link.path.relation_xpath, domains, doc)
            if not paths:
                continue
            for entity in link.path.entities:
                _entity(counter, entity, paths, doc)
            ranges = paths
            if not link.range_on_path_node and link.range.source_xpath is not None:
                ranges = counter.nodes(link.where, "range source_node", link.range.source_xpath, paths, doc)
            if ranges:
                _entity(counter, link.range.entity, ranges, doc)


def sample_findings(traces: Sequence[tuple[Any, Any, dict[Any, int]]]) -> list[Finding]:
    """Findings over the sample: ``traces`` are the x3ml steps' ``(step, input tree, triples per
    link)`` of every sampled record that reached the step (see the module docstring)."""
    by_step: dict[int, list[tuple[Any, Any, dict[Any, int]]]] = {}
    for trace in traces:
        by_step.setdefault(id(trace[0]), []).append(trace)
    findings: list[Finding] = []
    for runs in by_step.values():
        step = runs[0][0]
        document = step.mapping.document
        counter = _Counter()
        written: dict[Any, int] = {}
        for _step, tree, link_triples in runs:
            _walk(counter, document, tree)
            for where, count in link_triples.items():
                written[where] = written.get(where, 0) + count
        sampled = f"{len(runs)} sampled record{'s' if len(runs) != 1 else ''}"
        for (where, role, source), hits in counter.hits.items():
            if hits == 0:
                what = "gives no text" if role.startswith("generator") else "matches nothing"
                findings.append(
                    Finding(
                        "warning",
                        "no-match",
                        f"the {role} {source!r} {what} in any of the {sampled}",
                        step.label,
                        str(where),
                        source,
                    )
                )
        for mapping in document.mappings:
            if mapping.skip:
                continue
            for link in mapping.links:
                if not link.skip and written.get(link.where, 0) == 0:
                    findings.append(
                        Finding(
                            "warning",
                            "no-triple",
                            f"the link wrote no triple in any of the {sampled}",
                            step.label,
                            str(link.where),
                        )
                    )
    return findings
