"""The RDF store over HTTP: ``/sparql`` (SPARQL 1.1 Protocol, queries), ``/.well-known/void`` (VoID)
and dereferenceable entity URIs (``/resource/…`` → ``/page/…`` or ``/data/….ttl``).

Errors follow the SPARQL 1.1 Protocol: a query that is not SPARQL (or a request without one) is
HTTP 400; a query stopped at the time limit is 503 (the server refuses to spend more on it; Fuseki
answers the same), a result over the size limit is 500, each with a one-line ``text/plain``
message that says which limit and what to do. A client that accepts none of the result formats
gets 406.

Dereferencing follows the 303 convention (W3C "Cool URIs for the Semantic Web", §4.3): an entity
IRI ``{base}X`` is served at ``/resource/X``, which answers ``303 See Other`` to a document about
it, ``/page/X`` (HTML, for people) or ``/data/X.ttl|.nt|.rdf|.jsonld`` (for machines), chosen by
the ``Accept`` header. ``base`` is the setting ``rdf_base``; a deployment maps it onto this server's
``/resource/`` (with ``rdf_base`` = ``{public_url}/resource/`` the IRIs resolve as minted).

What this module must not do: know the pipeline or the datasource registry (a callback gives each
source record's links).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs, quote

import pyoxigraph as ox
from jinja2 import Environment, PackageLoader, StrictUndefined

from provision.rdf.base import QueryError, RdfBackend
from provision.rdf.formats import GRAPH_TYPES, SHORT_NAMES, negotiate, with_charset

logger = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
#: bytes of a query in a POST body or a query string
MAX_QUERY_BYTES = 256 * 1024
#: (datasource, record id) -> [(label, url)] of the record's pages elsewhere (OAI-PMH GetRecord…)
RecordLinks = Callable[[str, str], list[tuple[str, str]]]

RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
LABEL_PATH = (
    "(<http://www.w3.org/2000/01/rdf-schema#label>|<http://www.w3.org/2004/02/skos/core#prefLabel>"
    "|<http://www.cidoc-crm.org/cidoc-crm/P1_is_identified_by>/"
    "<http://www.cidoc-crm.org/cidoc-crm/P190_has_symbolic_content>)"
)
EXTENSIONS = {
    "ttl": "text/turtle",
    "nt": "application/n-triples",
    "rdf": "application/rdf+xml",
    "jsonld": "application/ld+json",
}

#: the HTML pages (templates/: the SPARQL form, a resource's page), every value escaped by autoescape
_TEMPLATES = Environment(loader=PackageLoader("provision.rdf"), autoescape=True, undefined=StrictUndefined)


def respond(
    start_response: StartResponse,
    environ: dict,
    status: str,
    body: bytes,
    content_type: str,
    extra: Iterable[tuple[str, str]] = (),
) -> list[bytes]:
    headers = [
        ("Content-Type", content_type),
        ("Content-Length", str(len(body))),
        ("Access-Control-Allow-Origin", "*"),
        *extra,
    ]
    start_response(status, headers)
    return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]


def error(start_response: StartResponse, environ: dict, status: int, message: str) -> list[bytes]:
    reasons = {400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable",
               413: "Content Too Large", 415: "Unsupported Media Type", 500: "Internal Server Error",
               503: "Service Unavailable"}  # fmt: skip
    return respond(
        start_response,
        environ,
        f"{status} {reasons.get(status, 'Error')}",
        (message + "\n").encode("utf-8"),
        "text/plain; charset=utf-8",
    )


class LazyBackend:
    """One backend per application, opened on first use (serving must start without the store)."""

    def __init__(self, factory: Callable[[], RdfBackend]) -> None:
        self._factory = factory
        self._backend: RdfBackend | None = None
        self._lock = threading.Lock()

    def get(self) -> RdfBackend:
        with self._lock:
            if self._backend is None:
                self._backend = self._factory()
            return self._backend


def _read_body(environ: dict, limit: int) -> bytes | None:
    """The request body, or None when it is larger than ``limit`` (never reads more than limit+1)."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit:
        return None
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    data = stream.read(length) if length else stream.read(limit + 1)
    return None if len(data) > limit else data


class SparqlApp:
    """``/sparql``: SPARQL 1.1 Protocol queries over a :class:`RdfBackend` (updates are the loader's)."""

    def __init__(
        self, backend: LazyBackend, *, timeout: float, max_bytes: int, void_path: str = "/.well-known/void"
    ) -> None:
        self.backend = backend
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.void_path = void_path

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        if environ.get("PATH_INFO", "") not in ("", "/"):
            return error(start_response, environ, 404, "not found: the endpoint is at /sparql")
        params = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        query: str | None = None
        if method in ("GET", "HEAD"):
            query = (params.get("query") or [None])[0]
        elif method == "POST":
            content_type = (environ.get("CONTENT_TYPE") or "").split(";")[0].strip().lower()
            body = _read_body(environ, MAX_QUERY_BYTES)
            if body is None:
                return error(
                    start_response, environ, 413, f"the request body is larger than {MAX_QUERY_BYTES} bytes"
                )
            if content_type == "application/x-www-form-urlencoded":
                form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
                if "update" in form:
                    return error(
                        start_response, environ, 400, "this endpoint answers queries only (no update=)"
                    )
                for key, values in form.items():
                    params.setdefault(key, []).extend(values)
                query = (form.get("query") or [None])[0]
            elif content_type == "application/sparql-query":
                query = body.decode("utf-8", "replace")
            elif content_type == "application/sparql-update":
                return error(start_response, environ, 400, "this endpoint answers queries only (no updates)")
            else:
                return error(
                    start_response,
                    environ,
                    415,
                    "POST a query as application/x-www-form-urlencoded (query=…) or application/sparql-query",
                )
        else:
            return error(start_response, environ, 405, "use GET or POST")
        if "default-graph-uri" in params or "named-graph-uri" in params:
            return error(
                start_response,
                environ,
                400,
                "default-graph-uri and named-graph-uri are not supported: the default graph is the union of "
                "every datasource's graph; use GRAPH <…graph/DATASOURCE> or FROM in the query",
            )
        accept = environ.get("HTTP_ACCEPT")
        wanted = (params.get("format") or [None])[0]
        if wanted:
            accept = SHORT_NAMES.get(wanted.lower(), wanted)
        if query is None:
            if "text/html" in (accept or ""):  # a browser: the query form
                page = _TEMPLATES.get_template("sparql.html").render(
                    base=self.backend.get().base,
                    void=environ.get("SCRIPT_NAME", "").rsplit("/", 1)[0] + self.void_path,
                )
                return respond(
                    start_response, environ, "200 OK", page.encode("utf-8"), "text/html; charset=utf-8"
                )
            return error(start_response, environ, 400, "no query: pass query=… (SPARQL 1.1 Protocol)")
        if len(query.encode("utf-8")) > MAX_QUERY_BYTES:
            return error(start_response, environ, 413, f"the query is larger than {MAX_QUERY_BYTES} bytes")
        try:
            answer = self.backend.get().query(
                query, accept=accept, timeout=self.timeout, max_bytes=self.max_bytes
            )
        except QueryError as exc:
            return error(start_response, environ, exc.status, exc.message)
        return respond(
            start_response, environ, "200 OK", answer.body, answer.content_type, [("Vary", "Accept")]
        )


# ----------------------------------------------------------------------------------- VoID

VOID = "http://rdfs.org/ns/void#"
DCTERMS = "http://purl.org/dc/terms/"


class VoidApp:
    """``/.well-known/void``: the dataset, one subset per datasource with its triples, entities,
    classes and properties (computed by SPARQL, cached until a datasource's state changes)."""

    def __init__(
        self,
        backend: LazyBackend,
        *,
        sparql_path: str = "/sparql",
        titles: Callable[[str], str] | None = None,
    ):
        self.backend = backend
        self.sparql_path = sparql_path
        self.titles = titles
        self._cache: tuple[Any, list[ox.Triple]] | None = None
        self._lock = threading.Lock()

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        media = negotiate(environ.get("HTTP_ACCEPT"), list(GRAPH_TYPES))
        if media is None:
            return error(
                start_response, environ, 406, f"the VoID description comes as {', '.join(GRAPH_TYPES)}"
            )
        root = _root_url(environ, depth=2)
        try:
            triples = self.description(root)
        except QueryError as exc:
            return error(start_response, environ, exc.status, exc.message)
        body = ox.serialize(
            triples,
            format=getattr(ox.RdfFormat, GRAPH_TYPES[media]),
            **(
                {"prefixes": {"void": VOID, "dcterms": DCTERMS}}
                if media != "application/n-triples" and media != "application/ld+json"
                else {}
            ),
        )
        return respond(start_response, environ, "200 OK", body, with_charset(media), [("Vary", "Accept")])

    def description(self, root: str) -> list[ox.Triple]:
        backend = self.backend.get()
        states = backend.states()
        key = (root, tuple(sorted((s.datasource, s.version, s.updated_at) for s in states.values())))
        with self._lock:
            if self._cache is not None and self._cache[0] == key:
                return self._cache[1]
        dataset = ox.NamedNode(f"{root}/.well-known/void#dataset")
        a = ox.NamedNode(RDF_TYPE)
        t: list[ox.Triple] = [
            ox.Triple(dataset, a, ox.NamedNode(VOID + "Dataset")),
            ox.Triple(dataset, ox.NamedNode(VOID + "sparqlEndpoint"), ox.NamedNode(root + self.sparql_path)),
            ox.Triple(dataset, ox.NamedNode(VOID + "uriSpace"), ox.Literal(backend.base)),
            ox.Triple(
                dataset, ox.NamedNode(VOID + "triples"), _integer(sum(s.triples for s in states.values()))
            ),
        ]
        for state in sorted(states.values(), key=lambda s: s.datasource):
            subset = ox.NamedNode(f"{root}/.well-known/void#{quote(state.datasource)}")
            graph = state.graph
            t += [
                ox.Triple(dataset, ox.NamedNode(VOID + "subset"), subset),
                ox.Triple(subset, a, ox.NamedNode(VOID + "Dataset")),
                ox.Triple(subset, ox.NamedNode(DCTERMS + "identifier"), ox.Literal(state.datasource)),
                ox.Triple(
                    subset,
                    ox.NamedNode(DCTERMS + "title"),
                    ox.Literal(self.titles(state.datasource) if self.titles else state.datasource),
                ),
                ox.Triple(subset, ox.NamedNode(DCTERMS + "hasVersion"), ox.Literal(state.version)),
                ox.Triple(subset, ox.NamedNode(VOID + "triples"), _integer(state.triples)),
                ox.Triple(
                    subset,
                    ox.NamedNode("http://www.w3.org/ns/sparql-service-description#name"),
                    ox.NamedNode(graph),
                ),
            ]
            if state.updated_at:
                t.append(
                    ox.Triple(
                        subset,
                        ox.NamedNode(DCTERMS + "modified"),
                        ox.Literal(
                            state.updated_at,
                            datatype=ox.NamedNode("http://www.w3.org/2001/XMLSchema#dateTime"),
                        ),
                    )
                )
            entities = _rows(
                backend, f"SELECT (COUNT(DISTINCT ?s) AS ?n) WHERE {{ GRAPH <{graph}> {{ ?s ?p ?o }} }}"
            )
            t.append(
                ox.Triple(subset, ox.NamedNode(VOID + "entities"), _integer(int(entities[0]["n"]["value"])))
            )
            classes = _rows(
                backend,
                f"SELECT ?c (COUNT(DISTINCT ?s) AS ?n) WHERE {{ GRAPH <{graph}> {{ ?s a ?c }} }} "
                "GROUP BY ?c ORDER BY ?c",
            )
            t.append(ox.Triple(subset, ox.NamedNode(VOID + "classes"), _integer(len(classes))))
            for n, row in enumerate(classes):
                part = ox.NamedNode(f"{subset.value}-class-{n}")
                t += [
                    ox.Triple(subset, ox.NamedNode(VOID + "classPartition"), part),
                    ox.Triple(part, ox.NamedNode(VOID + "class"), ox.NamedNode(row["c"]["value"])),
                    ox.Triple(part, ox.NamedNode(VOID + "entities"), _integer(int(row["n"]["value"]))),
                ]
            props = _rows(
                backend,
                f"SELECT ?p (COUNT(*) AS ?n) WHERE {{ GRAPH <{graph}> {{ ?s ?p ?o }} }} "
                "GROUP BY ?p ORDER BY ?p",
            )
            t.append(ox.Triple(subset, ox.NamedNode(VOID + "properties"), _integer(len(props))))
            for n, row in enumerate(props):
                part = ox.NamedNode(f"{subset.value}-property-{n}")
                t += [
                    ox.Triple(subset, ox.NamedNode(VOID + "propertyPartition"), part),
                    ox.Triple(part, ox.NamedNode(VOID + "property"), ox.NamedNode(row["p"]["value"])),
                    ox.Triple(part, ox.NamedNode(VOID + "triples"), _integer(int(row["n"]["value"]))),
                ]
        with self._lock:
            self._cache = (key, t)
        return t


def _integer(n: int) -> ox.Literal:
    return ox.Literal(str(n), datatype=ox.NamedNode("http://www.w3.org/2001/XMLSchema#integer"))


def _rows(backend: RdfBackend, query: str, timeout: float | None = None) -> list[dict[str, Any]]:
    answer = backend.query(query, accept="application/sparql-results+json", timeout=timeout)
    return json.loads(answer.body)["results"]["bindings"]


def _root_url(environ: dict, depth: int) -> str:
    """The application's URL: scheme, host and SCRIPT_NAME less the mount's ``depth`` segments."""
    scheme = environ.get("wsgi.url_scheme", "http")
    host = (
        environ.get("HTTP_HOST")
        or f"{environ.get('SERVER_NAME', 'localhost')}:{environ.get('SERVER_PORT', '80')}"
    )
    script = environ.get("SCRIPT_NAME", "")
    for _ in range(depth):
        script = script.rsplit("/", 1)[0]
    return f"{scheme}://{host}{script}"


# ----------------------------------------------------------------------------------- resources


class ResourceApp:
    """Mounted three times: ``/resource`` (the entity, 303), ``/page`` (HTML) and ``/data`` (RDF)."""

    def __init__(
        self,
        backend: LazyBackend,
        kind: str,
        *,
        record_links: RecordLinks | None = None,
        timeout: float = 30.0,
    ) -> None:
        if kind not in ("resource", "page", "data"):
            raise ValueError(f"kind must be resource, page or data, not {kind!r}")
        self.backend = backend
        self.kind = kind
        self.record_links = record_links
        self.timeout = timeout

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
            return error(start_response, environ, 405, "use GET")
        raw = environ.get("PATH_INFO", "")
        try:
            rest = raw.encode("latin-1").decode("utf-8").lstrip("/")
        except UnicodeError:
            return error(start_response, environ, 404, "not found")
        backend = self.backend.get()
        extension = None
        if self.kind == "data":
            rest, dot, extension = rest.rpartition(".")
            if not dot or extension not in EXTENSIONS:
                return error(
                    start_response, environ, 404, "not found: /data/… ends in .ttl, .nt, .rdf or .jsonld"
                )
        iri = backend.base + rest
        try:
            node = ox.NamedNode(iri)
        except ValueError:
            return error(start_response, environ, 404, f"not an IRI: {iri}")
        try:
            if not rest or not self._known(backend, node):
                return error(start_response, environ, 404, f"no entity {iri} in the graph")
            mount = environ.get("SCRIPT_NAME", "").rsplit("/", 1)[0]
            if self.kind == "resource":
                media = negotiate(environ.get("HTTP_ACCEPT"), ["text/html", *GRAPH_TYPES])
                if media is None:
                    return error(
                        start_response,
                        environ,
                        406,
                        f"an entity is described as text/html, {', '.join(GRAPH_TYPES)}",
                    )
                path = quote(rest, safe="/:@!$&'()*+,;=-._~")
                if media == "text/html":
                    location = f"{mount}/page/{path}"
                else:
                    ext = next(e for e, m in EXTENSIONS.items() if m == media)
                    location = f"{mount}/data/{path}.{ext}"
                return respond(
                    start_response,
                    environ,
                    "303 See Other",
                    f"See {location}\n".encode(),
                    "text/plain; charset=utf-8",
                    [("Location", location), ("Vary", "Accept")],
                )
            if self.kind == "data":
                return self._data(environ, start_response, backend, node, EXTENSIONS[extension or "ttl"])
            return self._page(environ, start_response, backend, node, mount)
        except QueryError as exc:
            return error(start_response, environ, exc.status, exc.message)

    def _known(self, backend: RdfBackend, node: ox.NamedNode) -> bool:
        answer = backend.query(
            f"ASK {{ {{ {node} ?p ?o }} UNION {{ ?s ?q {node} }} }}",
            accept="application/sparql-results+json",
            timeout=self.timeout,
        )
        return bool(json.loads(answer.body)["boolean"])

    def _data(self, environ, start_response, backend: RdfBackend, node: ox.NamedNode, media: str):
        query = (
            f"CONSTRUCT {{ {node} ?p ?o . ?s ?q {node} . "
            "?o <http://www.w3.org/2000/01/rdf-schema#label> ?l } "
            f"WHERE {{ {{ {node} ?p ?o OPTIONAL {{ ?o {LABEL_PATH} ?l }} }} UNION {{ ?s ?q {node} }} }}"
        )
        answer = backend.query(query, accept=media, timeout=self.timeout)
        return respond(start_response, environ, "200 OK", answer.body, answer.content_type)

    def _page(self, environ, start_response, backend: RdfBackend, node: ox.NamedNode, mount: str):
        out = _rows(
            backend,
            f"SELECT ?p ?o ?l WHERE {{ {node} ?p ?o OPTIONAL {{ ?o {LABEL_PATH} ?l }} }} "
            "ORDER BY ?p ?o LIMIT 1000",
            self.timeout,
        )
        incoming = _rows(
            backend,
            f"SELECT ?s ?p ?l WHERE {{ ?s ?p {node} OPTIONAL {{ ?s {LABEL_PATH} ?l }} }} "
            "ORDER BY ?p ?s LIMIT 200",
            self.timeout,
        )
        own = _rows(backend, f"SELECT ?l WHERE {{ {node} {LABEL_PATH} ?l }} LIMIT 5", self.timeout)
        title = own[0]["l"]["value"] if own else node.value
        types = [row for row in out if row["p"]["value"] == RDF_TYPE]

        def link(term: dict[str, str], label: dict[str, str] | None = None) -> dict[str, str | None]:
            """A term as the page shows it: a literal's text (and language), or a link to an IRI's
            page here (an IRI of this store) or elsewhere, shown by its label when it has one."""
            if term["type"] != "uri":
                return {"text": term["value"], "lang": term.get("xml:lang"), "href": None}
            value = term["value"]
            if value.startswith(backend.base):
                href = f"{mount}/resource/{quote(value[len(backend.base) :], safe='/:@!$&()*+,;=-._~')}"
            else:
                href = value
            return {"text": label["value"] if label else value, "lang": None, "href": href}

        sources = [
            (datasource, record_id, self.record_links(datasource, record_id) if self.record_links else [])
            for datasource, record_id in backend.records_about(node.value)
        ]
        rest = node.value[len(backend.base) :]
        page = _TEMPLATES.get_template("resource.html").render(
            title=title,
            iri=node.value,
            data_href=f"{mount}/data/{quote(rest, safe='/:@!$&()*+,;=-._~')}",
            types=[link(r["o"], r.get("l")) for r in types],
            properties=[(link(r["p"]), link(r["o"], r.get("l"))) for r in out if r["p"]["value"] != RDF_TYPE],
            incoming=[(link(r["s"], r.get("l")), link(r["p"])) for r in incoming],
            sources=sources,
            extensions=list(EXTENSIONS),
        )
        return respond(start_response, environ, "200 OK", page.encode("utf-8"), "text/html; charset=utf-8")
