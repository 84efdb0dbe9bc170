"""SKOS terminology for the ``<broader>`` and ``<exact_match>`` conditions.

The reference loads the terms file into Jena with an OWL reasoner over the SKOS schema, then
looks terms up by label. What that inference contributes is small and fixed, so it is computed
directly: ``rdfs:label`` covers ``skos:prefLabel``, ``skos:altLabel`` and ``skos:hiddenLabel``;
``skos:broaderTransitive`` is the transitive closure of ``skos:broader`` and the inverse of
``skos:narrower``; ``skos:exactMatch`` is symmetric and transitive.

Lookups work as in the reference: the term text is matched against label texts (language tags
ignored, first matching label wins), the concepts carrying that exact label are found, and the
labels of related concepts are returned: for ``broader``, the concepts *below* the term (so that
``<broader value="animal">`` accepts ``dog``); for ``exact_match``, the concepts matched exactly.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from mdstore.errors import ConfigError

__all__ = ["Terminology"]

_SKOS = "http://www.w3.org/2004/02/skos/core#"
_RDFS_LABEL = "http://www.w3.org/2000/01/rdf-schema#label"
_LABELS = {_RDFS_LABEL, _SKOS + "prefLabel", _SKOS + "altLabel", _SKOS + "hiddenLabel"}
_FORMATS = {
    "rdf": "application/rdf+xml",
    "nt": "application/n-triples",
    "ntriples": "application/n-triples",
    "trig": "application/trig",
    "ttl": "text/turtle",
    "turtle": "text/turtle",
}


class Terminology:
    """Labels and SKOS relations of one terms file."""

    def __init__(self, triples: list[tuple[str, str, object]]) -> None:
        self._labels: dict[str, list[tuple[str, str | None]]] = defaultdict(list)  # subject -> (text, lang)
        self._label_nodes: list[tuple[str, str | None]] = []
        narrower_of: dict[str, set[str]] = defaultdict(
            set
        )  # concept -> concepts directly broader-linked to it
        exact: dict[str, set[str]] = defaultdict(set)
        for s, p, o in triples:
            if p in _LABELS and isinstance(o, tuple):
                if o not in self._labels[s]:
                    self._labels[s].append(o)
                self._label_nodes.append(o)
            elif p in (_SKOS + "broader", _SKOS + "broaderTransitive") and isinstance(o, str):
                narrower_of[o].add(s)
            elif p in (_SKOS + "narrower", _SKOS + "narrowerTransitive") and isinstance(o, str):
                narrower_of[s].add(o)
            elif p == _SKOS + "exactMatch" and isinstance(o, str):
                exact[s].add(o)
                exact[o].add(s)
        self._narrower = narrower_of
        self._exact = exact

    @classmethod
    def load(cls, path: str | Path) -> Terminology:
        """Read a terms file; its format comes from the extension (nt, ttl, rdf, trig)."""
        import pyoxigraph

        path = Path(path)
        media_type = _FORMATS.get(path.suffix.lower().lstrip("."))
        if media_type is None:
            raise ConfigError(
                "Cannot identify the serialization format (based on the extension) of the "
                "terminology resource",
                file=str(path),
            )
        try:
            quads = pyoxigraph.parse(path=str(path), format=pyoxigraph.RdfFormat.from_media_type(media_type))
            triples = []
            for quad in quads:
                obj = quad.object
                if isinstance(obj, pyoxigraph.Literal):
                    value: object = (obj.value, obj.language)
                else:
                    value = str(obj.value) if isinstance(obj, pyoxigraph.NamedNode) else str(obj)
                subject = (
                    quad.subject.value
                    if isinstance(quad.subject, pyoxigraph.NamedNode)
                    else str(quad.subject)
                )
                triples.append((subject, quad.predicate.value, value))
        except (OSError, SyntaxError, ValueError) as exc:
            raise ConfigError(f"cannot read the terminology: {exc}", file=str(path)) from exc
        return cls(triples)

    def _concepts_labelled(self, term: str) -> set[str]:
        node = (term, None)
        for label in self._label_nodes:
            if label[0] == term:
                node = label
                break
        return {s for s, labels in self._labels.items() if node in labels}

    def _label_texts(self, concepts: set[str]) -> list[str]:
        return [text for c in concepts for text, _ in self._labels.get(c, ())]

    def broader_terms(self, term: str) -> list[str]:
        """Labels of the concepts below ``term`` (transitively)."""
        found: set[str] = set()
        todo = list(self._concepts_labelled(term))
        while todo:
            concept = todo.pop()
            for narrower in self._narrower.get(concept, ()):
                if narrower not in found:
                    found.add(narrower)
                    todo.append(narrower)
        return self._label_texts(found)

    def exact_match_terms(self, term: str) -> list[str]:
        """Labels of the concepts linked to ``term`` by ``skos:exactMatch`` (transitively)."""
        found: set[str] = set()
        for start in self._concepts_labelled(term):
            if start not in self._exact:
                continue
            todo = [start]
            while todo:
                concept = todo.pop()
                for other in self._exact.get(concept, ()):
                    if other not in found:
                        found.add(other)
                        todo.append(other)
        return self._label_texts(found)
