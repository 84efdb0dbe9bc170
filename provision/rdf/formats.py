"""Media types of SPARQL results and RDF documents, and HTTP content negotiation between them.

A SELECT or ASK answer is SPARQL JSON (the default), XML, CSV or TSV; a CONSTRUCT or DESCRIBE
answer (and a ``/resource`` document) is Turtle (the default), N-Triples, RDF/XML or JSON-LD.
"""

from __future__ import annotations

#: media type → pyoxigraph QueryResultsFormat attribute name
SOLUTION_TYPES: dict[str, str] = {
    "application/sparql-results+json": "JSON",
    "application/sparql-results+xml": "XML",
    "text/csv": "CSV",
    "text/tab-separated-values": "TSV",
}
#: media type → pyoxigraph RdfFormat attribute name
GRAPH_TYPES: dict[str, str] = {
    "text/turtle": "TURTLE",
    "application/n-triples": "N_TRIPLES",
    "application/rdf+xml": "RDF_XML",
    "application/ld+json": "JSON_LD",
}
#: what a client may also say for the same thing
ALIASES = {
    "application/json": "application/sparql-results+json",
    "application/xml": "application/sparql-results+xml",
    "text/xml": "application/sparql-results+xml",
    "application/x-turtle": "text/turtle",
    "text/plain": "application/n-triples",
}
#: ``?format=`` short names (a browser cannot set Accept)
SHORT_NAMES = {
    "json": "application/sparql-results+json",
    "xml": "application/sparql-results+xml",
    "csv": "text/csv",
    "tsv": "text/tab-separated-values",
    "ttl": "text/turtle",
    "turtle": "text/turtle",
    "nt": "application/n-triples",
    "ntriples": "application/n-triples",
    "rdf": "application/rdf+xml",
    "rdfxml": "application/rdf+xml",
    "jsonld": "application/ld+json",
    "html": "text/html",
}


def parse_accept(header: str | None) -> list[tuple[str, float]]:
    """``Accept`` ranges with their q-values, best first (stable for equal q)."""
    ranges: list[tuple[str, float, int]] = []
    for position, item in enumerate((header or "*/*").split(",")):
        parts = [p.strip() for p in item.split(";")]
        media = parts[0].lower()
        if not media:
            continue
        quality = 1.0
        for param in parts[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = max(0.0, min(1.0, float(value)))
                except ValueError:
                    quality = 0.0
        ranges.append((media, quality, position))
    ranges.sort(key=lambda r: (-r[1], r[2]))
    return [(media, quality) for media, quality, _ in ranges]


def negotiate(accept: str | None, offered: list[str]) -> str | None:
    """The first of ``offered`` (the server's preference order) that the best-rated Accept range
    allows; None when the client accepts none of them (HTTP 406)."""
    for media, quality in parse_accept(accept):
        if quality <= 0:
            continue
        media = ALIASES.get(media, media)
        if media in offered:
            return media
        if media == "*/*":
            return offered[0]
        if media.endswith("/*"):
            major = media[:-1]
            for candidate in offered:
                if candidate.startswith(major):
                    return candidate
    return None


def with_charset(media_type: str) -> str:
    return f"{media_type}; charset=utf-8"
