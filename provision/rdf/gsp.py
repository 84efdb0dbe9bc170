"""The production RDF store: any SPARQL 1.1 Query + Update + Graph Store Protocol server (Fuseki).

``sparql+http://host:3030/ds`` names the dataset; its services are ``/query``, ``/update`` and
``/data`` beneath it (Fuseki's names; override with ``?query=…&update=…&data=…`` paths). What the
server holds: each datasource's graph ``<{base}graph/{ds}>`` and the states in
:data:`provision.rdf.base.STATE_GRAPH`. What stays here: the ledger (which record asserted which
triple), a SQLite file under ``var/`` by default (``?ledger=/path`` to move it); a ledger that does
not match the server's state (another machine loaded, the server was wiped) only costs a rebuild.

* in place: each batch is one update request ``DELETE DATA {…} ; INSERT DATA {…}`` (triples as the
  ledger computed them: no blank nodes, so DELETE DATA can name every one);
* rebuild: one Graph Store Protocol PUT of the live graph, its body streamed while the records are
  read; the server replaces the graph in one transaction when the body ends, so queries see the old
  graph or the new one, never a part (:class:`SparqlLoader`);
* queries carry the live graphs as the protocol's ``default-graph-uri``/``named-graph-uri``, and
  are bounded by the HTTP read timeout and by counting the bytes read.
"""

from __future__ import annotations

import queue
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import pyoxigraph as ox
import requests

from mdstore.errors import ConfigError
from provision.rdf.base import (
    STATE_GRAPH,
    STATE_PREDICATE,
    QueryAnswer,
    QueryError,
    QuerySyntaxError,
    QueryTimeout,
    RdfState,
    RdfStoreError,
    ResultTooLarge,
)
from provision.rdf.ledger import Ledger

#: lines per update request (in place)
UPDATE_LINES = 20_000
#: lines a query asks about at once (the ledger's questions in an in-place load)
PRESENT_LINES = 2_000


def _literal(text: str) -> str:
    """A SPARQL string literal (long form; backslashes and quotes escaped)."""
    return (
        '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r") + '"'
    )


class SparqlRdf:
    """A dataset on a SPARQL 1.1 server."""

    def __init__(
        self,
        dataset_url: str,
        *,
        base: str,
        ledger_path: str | Path,
        name: str | None = None,
        query_path: str = "query",
        update_path: str = "update",
        data_path: str = "data",
        timeout: float = 120.0,
    ) -> None:
        self.url = dataset_url.rstrip("/")
        self.base = base
        self.name = name or self.url
        self.query_url = f"{self.url}/{query_path}"
        self.update_url = f"{self.url}/{update_path}"
        self.data_url = f"{self.url}/{data_path}"
        self.timeout = timeout
        self.ledger_path = Path(ledger_path)
        self.session = requests.Session()

    def graph_iri(self, datasource: str) -> str:
        return f"{self.base}graph/{datasource}"

    # ------------------------------------------------------------------ HTTP

    def _post(self, url: str, **kwargs: Any) -> requests.Response:
        try:
            response = self.session.post(url, timeout=kwargs.pop("timeout", self.timeout), **kwargs)
        except requests.RequestException as exc:
            raise RdfStoreError(f"request failed: {exc}", target=url) from exc
        if response.status_code >= 400:
            raise RdfStoreError(f"HTTP {response.status_code}: {response.text.strip()[:500]}", target=url)
        return response

    def update(self, text: str) -> None:
        self._post(
            self.update_url, data=text.encode("utf-8"), headers={"Content-Type": "application/sparql-update"}
        )

    def _select(self, query: str) -> list[dict[str, Any]]:
        response = self._post(
            self.query_url,
            data={"query": query},
            headers={"Accept": "application/sparql-results+json"},
        )
        return response.json()["results"]["bindings"]

    # ------------------------------------------------------------------ reading

    def states(self) -> dict[str, RdfState]:
        rows = self._select(f"SELECT ?j WHERE {{ GRAPH <{STATE_GRAPH}> {{ ?s <{STATE_PREDICATE}> ?j }} }}")
        found = {}
        for row in rows:
            state = RdfState.from_json(row["j"]["value"])
            found[state.datasource] = state
        return found

    def state(self, datasource: str) -> RdfState | None:
        return self.states().get(datasource)

    def live_graphs(self) -> list[str]:
        return sorted(state.graph for state in self.states().values())

    def record_lines(self, datasource: str) -> Iterator[tuple[str, list[bytes]]]:
        ledger = Ledger(self.ledger_path)
        try:
            yield from ledger.records(self.graph_iri(datasource))
        finally:
            ledger.close()

    def records_about(self, iri: str, limit: int = 20) -> list[tuple[str, str]]:
        """``(datasource, record id)`` of the records that describe ``iri``."""
        ledger = Ledger(self.ledger_path)
        try:
            return [
                (state.datasource, rid)
                for state in self.states().values()
                for rid in ledger.records_about(state.graph, iri, limit)
            ]
        finally:
            ledger.close()

    def ledger_count(self, datasource: str) -> int:
        ledger = Ledger(self.ledger_path)
        try:
            return ledger.counts(self.graph_iri(datasource))[0]
        finally:
            ledger.close()

    def graph_lines(self, datasource: str) -> Iterator[bytes]:
        """The live graph by Graph Store Protocol GET, rewritten by pyoxigraph into the same
        canonical N-Triples the ledger holds (servers differ in escaping)."""
        try:
            response = self.session.get(
                self.data_url,
                params={"graph": self.graph_iri(datasource)},
                headers={"Accept": "application/n-triples"},
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise RdfStoreError(f"request failed: {exc}", target=self.data_url) from exc
        if response.status_code == 404:
            return iter(())
        if response.status_code >= 400:
            raise RdfStoreError(f"HTTP {response.status_code}: {response.text[:300]}", target=self.data_url)
        text = ox.serialize(
            ox.parse(response.content, format=ox.RdfFormat.N_TRIPLES, lenient=True),
            format=ox.RdfFormat.N_TRIPLES,
        )
        return (line for line in text.split(b"\n") if line)

    def count(self, datasource: str | None = None) -> int:
        graphs = [self.graph_iri(datasource)] if datasource else self.live_graphs()
        total = 0
        for graph in graphs:
            rows = self._select(f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH <{graph}> {{ ?s ?p ?o }} }}")
            total += int(rows[0]["n"]["value"])
        return total

    def query(
        self,
        query: str,
        *,
        accept: str | None = None,
        timeout: float | None = None,
        max_bytes: int | None = None,
    ) -> QueryAnswer:
        graphs = self.live_graphs()
        params: list[tuple[str, str]] = [("query", query)]
        params += [("default-graph-uri", g) for g in graphs] + [("named-graph-uri", g) for g in graphs]
        if not graphs:
            params.append(("default-graph-uri", f"{STATE_GRAPH}:none"))
        if timeout is not None:
            params.append(("timeout", f"{timeout:g}"))
        try:
            response = self.session.post(
                self.query_url,
                data=params,
                headers={"Accept": accept or "*/*"},
                timeout=(10, timeout or self.timeout),
                stream=True,
            )
        except requests.Timeout as exc:
            raise QueryTimeout(
                f"the query ran longer than the limit of {timeout:g} s and was stopped; "
                "narrow it or add LIMIT"
                if timeout
                else f"the server did not answer: {exc}",
                target="sparql",
            ) from exc
        except requests.RequestException as exc:
            raise QueryError(f"the SPARQL server failed: {exc}", target="sparql") from exc
        with response:
            if response.status_code == 400:
                raise QuerySyntaxError(f"not SPARQL 1.1: {response.text.strip()[:500]}", target="sparql")
            if response.status_code == 406:
                from provision.rdf.query import NotAcceptable

                raise NotAcceptable(response.text.strip()[:300] or "not acceptable", target="sparql")
            if response.status_code == 503:
                raise QueryTimeout(
                    f"the server stopped the query: {response.text.strip()[:300]}", target="sparql"
                )
            if response.status_code >= 400:
                raise QueryError(
                    f"HTTP {response.status_code}: {response.text.strip()[:300]}", target="sparql"
                )
            parts: list[bytes] = []
            size = 0
            try:
                for chunk in response.iter_content(65536):
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        raise ResultTooLarge(
                            f"the result is larger than the limit of {max_bytes} bytes; "
                            "narrow the query or add LIMIT",
                            target="sparql",
                        )
                    parts.append(chunk)
            except requests.RequestException as exc:
                raise QueryTimeout(
                    f"the query ran longer than the limit of {timeout} s", target="sparql"
                ) from exc
            content_type = response.headers.get("Content-Type", "application/octet-stream")
        return QueryAnswer(content_type, b"".join(parts))

    def close(self) -> None:
        self.session.close()

    # ------------------------------------------------------------------ writing

    def open_loader(self, datasource: str, *, rebuild: bool = False, run_id: str = "") -> SparqlLoader:
        return SparqlLoader(self, datasource, rebuild=rebuild, run_id=run_id)

    def _state_update(self, state: RdfState) -> str:
        subject = f"<{STATE_GRAPH}:{state.datasource}>"
        return (
            f"DELETE WHERE {{ GRAPH <{STATE_GRAPH}> {{ {subject} ?p ?o }} }} ;\n"
            f"INSERT DATA {{ GRAPH <{STATE_GRAPH}> {{ {subject} <{STATE_PREDICATE}> "
            f"{_literal(state.to_json())} }} }}"
        )


class SparqlLoader:
    """One load of one datasource into the server.

    A rebuild is **one Graph Store Protocol PUT** of the live graph whose body streams while the
    records are read (a sender thread reads the lines from a bounded queue): the server replaces the
    graph in one write transaction when the body ends, so queries see the old graph or the new one,
    and the load costs what a raw PUT of the same N-Triples costs. To give up, the loader ends the
    body with a line that is not N-Triples: the server refuses the PUT and the graph stays.
    """

    _ABORT = b"this line is not N-Triples: the loader gave up\n"

    def __init__(self, owner: SparqlRdf, datasource: str, *, rebuild: bool, run_id: str) -> None:
        self.owner = owner
        self.datasource = datasource
        self.graph = owner.graph_iri(datasource)
        self.rebuild = rebuild
        self.run_id = run_id
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", run_id or "run")
        self._target = f"{self.graph}/rebuild/{safe}" if rebuild else self.graph
        self.ledger = Ledger(owner.ledger_path)
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=8)
        self._sent: dict[str, Any] = {}
        self._sender: threading.Thread | None = None
        if rebuild:
            self.ledger.drop(self._target)
            self._sender = threading.Thread(target=self._send, name=f"rdf-put-{datasource}", daemon=True)
            self._sender.start()
        else:
            state = owner.state(datasource)
            if state is not None:  # an interrupted in-place load is visible in the state: the next rebuilds
                owner.update(owner._state_update(replace(state, loading=run_id or "unknown")))

    def _send(self) -> None:
        def body() -> Iterator[bytes]:
            while True:
                chunk = self._queue.get()
                if chunk is None:
                    return
                yield chunk

        try:
            response = requests.put(
                self.owner.data_url,
                params={"graph": self.graph},
                data=body(),
                headers={"Content-Type": "application/n-triples"},
                timeout=(10, self.owner.timeout),
            )
            self._sent["status"] = response.status_code
            self._sent["text"] = response.text.strip()[:500]
        except requests.RequestException as exc:
            self._sent["error"] = str(exc)
        finally:  # the producer must never block on a queue nobody reads
            while True:
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    break

    def _push(self, chunk: bytes | None) -> None:
        while True:
            if self._sender is None or not self._sender.is_alive():
                if chunk is not None:
                    raise RdfStoreError(f"the PUT ended early: {self._sent}", target=self.owner.data_url)
                return
            try:
                self._queue.put(chunk, timeout=0.5)
                return
            except queue.Full:
                continue

    def put(self, records: Mapping[str, Sequence[bytes]]) -> None:
        if self.rebuild:
            lines = self.ledger.add_fresh(self._target, records)
            if lines:
                self._push(b"\n".join(lines) + b"\n")
            return
        added, removed = self.ledger.apply(self._target, records, present=self._present)
        self._write(added, removed)

    def delete(self, record_ids: Sequence[str]) -> None:
        added, removed = self.ledger.apply(self._target, {}, record_ids, present=self._present)
        self._write(added, removed)

    def _present(self, lines: Sequence[bytes]) -> set[bytes]:
        """Which of these canonical lines the graph holds (the ledger asks about the lines it keeps
        no count of): one SELECT per :data:`PRESENT_LINES` lines, each line's terms in a ``VALUES``
        row with its position, so the answer names lines, not terms as the server spells them. The
        query is the POST body itself (``application/sparql-query``): a form-encoded one of a few
        hundred KB may meet a server's form size limit (Jetty's default is 200,000 bytes; the
        Fuseki 5.6 of the tests takes either)."""
        found: set[bytes] = set()
        for start in range(0, len(lines), PRESENT_LINES):
            chunk = lines[start : start + PRESENT_LINES]
            values = "\n".join(
                f"({n} {line.decode('utf-8').removesuffix(' .')})" for n, line in enumerate(chunk)
            )
            query = (
                f"SELECT ?n WHERE {{ VALUES (?n ?s ?p ?o) {{\n{values}\n}} "
                f"GRAPH <{self._target}> {{ ?s ?p ?o }} }}"
            )
            response = self.owner._post(
                self.owner.query_url,
                data=query.encode("utf-8"),
                headers={
                    "Content-Type": "application/sparql-query",
                    "Accept": "application/sparql-results+json",
                },
            )
            found.update(chunk[int(row["n"]["value"])] for row in response.json()["results"]["bindings"])
        return found

    def _finish_put(self, *, give_up: bool) -> None:
        if self._sender is None:
            return
        if give_up:
            try:
                self._push(self._ABORT)
            except RdfStoreError:
                pass  # the PUT already ended: nothing was switched in
        self._push(None)
        self._sender.join()
        self._sender = None
        if give_up:
            return
        if "error" in self._sent:
            raise RdfStoreError(f"the PUT failed: {self._sent['error']}", target=self.owner.data_url)
        if self._sent.get("status", 500) >= 400:
            raise RdfStoreError(
                f"HTTP {self._sent.get('status')}: {self._sent.get('text', '')}", target=self.owner.data_url
            )

    def _write(self, added: list[bytes], removed: list[bytes]) -> None:
        graph = self._target
        for start in range(0, max(len(added), len(removed)), UPDATE_LINES):
            gone = b"\n".join(removed[start : start + UPDATE_LINES]).decode("utf-8")
            new = b"\n".join(added[start : start + UPDATE_LINES]).decode("utf-8")
            parts = []
            if gone:
                parts.append(f"DELETE DATA {{ GRAPH <{graph}> {{\n{gone}\n}} }}")
            if new:
                parts.append(f"INSERT DATA {{ GRAPH <{graph}> {{\n{new}\n}} }}")
            if parts:
                self.owner.update(" ;\n".join(parts))

    def commit(self, state: RdfState) -> None:
        """A rebuild: end the PUT (the server switches the graph), then write the state and switch
        the ledger. Should the process die between the two, the graph already holds the new
        version and the state the old one; the next incremental load re-applies the changes since
        the old version, which leaves the same graph (triples are a set)."""
        key = self._target
        try:
            self._finish_put(give_up=False)
        except BaseException:
            self.ledger.drop(key)
            self.ledger.close()
            raise
        if self.rebuild:
            self.ledger.finish_fresh(key)
        records, triples = self.ledger.counts(key)
        state = replace(state, graph=self.graph, records=records, triples=triples, loading=None)
        self.owner.update(self.owner._state_update(state))
        if self.rebuild:
            self.ledger.switch(self._target, self.graph)
        self.ledger.close()

    def close(self) -> None:
        if self.rebuild:
            raise RdfStoreError("a rebuild ends with commit or abort", target=self.graph)
        self.ledger.close()

    def abort(self) -> None:
        try:
            self._finish_put(give_up=True)
        finally:
            if self.rebuild:
                self.ledger.drop(self._target)
            self.ledger.close()


def from_uri(
    uri: str, *, base: str, name: str | None = None, ledger_path: str | Path | None = None, **options: Any
) -> SparqlRdf:
    """``sparql+http://host:3030/ds[?query=query&update=update&data=data&ledger=/path]``."""
    parts = urlsplit(uri)
    scheme = parts.scheme.lower().removeprefix("sparql+")
    if scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{uri!r}: expected sparql+http://host:port/<dataset>", field="rdf", rule="scheme")
    params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    ledger = params.pop("ledger", None) or ledger_path
    if ledger is None:
        raise ConfigError(f"{uri!r}: no ledger file (?ledger=/path)", field="rdf", rule="ledger")
    paths = {f"{k}_path": params[k] for k in ("query", "update", "data") if k in params}
    url = urlunsplit((scheme, parts.netloc, parts.path, "", ""))
    return SparqlRdf(url, base=base, ledger_path=ledger, name=name, **paths, **options)
