"""Running one SPARQL query on a pyoxigraph store and serializing its answer, within limits.

:func:`run_query` is what both the in-process path and the query workers of the embedded store
(:class:`QueryPool`) call. The size limit is enforced by the output the serializer writes into, so
a huge result stops being produced at the limit instead of being built and then measured. The time
limit needs another process: pyoxigraph cannot interrupt a running query, so each query runs in a
worker process the pool kills when its time is up (and replaces).
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Sequence
from typing import Any

from provision.rdf.base import QueryAnswer, QueryError, QuerySyntaxError, QueryTimeout, ResultTooLarge
from provision.rdf.formats import GRAPH_TYPES, SOLUTION_TYPES, negotiate, with_charset


class NotAcceptable(QueryError):
    """The client accepts none of the result formats of this kind of query (HTTP 406)."""

    status = 406


class _LimitedOutput:
    """A binary sink that refuses to grow past ``limit`` bytes."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.parts: list[bytes] = []
        self.size = 0
        self.exceeded = False

    def write(self, data: bytes) -> int:
        self.size += len(data)
        if self.limit is not None and self.size > self.limit:
            self.exceeded = True
            raise OSError("result size limit exceeded")
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass


def run_query(
    store: Any,
    query: str,
    *,
    accept: str | None,
    graphs: Sequence[str],
    max_bytes: int | None,
) -> QueryAnswer:
    """Query ``store`` with the union of ``graphs`` as the default graph and ``graphs`` as the only
    named graphs (the state graph and anything else stay out of sight)."""
    import pyoxigraph as ox

    nodes = [ox.NamedNode(g) for g in graphs]
    try:
        result = store.query(query, default_graph=nodes or ox.DefaultGraph(), named_graphs=nodes)
    except SyntaxError as exc:
        raise QuerySyntaxError(f"not SPARQL 1.1: {exc}", target="sparql") from exc
    if isinstance(result, ox.QueryTriples):
        offered, formats, kind = list(GRAPH_TYPES), GRAPH_TYPES, "graph"
    else:
        offered, formats, kind = list(SOLUTION_TYPES), SOLUTION_TYPES, "solutions"
    if isinstance(result, ox.QueryBoolean):
        offered = ["application/sparql-results+json", "application/sparql-results+xml"] + [
            t
            for t in offered
            if t not in ("application/sparql-results+json", "application/sparql-results+xml")
        ]
    media = negotiate(accept, offered)
    if media is None:
        raise NotAcceptable(
            f"this query's answer ({kind}) comes as {', '.join(offered)}; the request accepts none of them",
            target="sparql",
        )
    output = _LimitedOutput(max_bytes)
    fmt = (
        getattr(ox.RdfFormat, formats[media])
        if kind == "graph"
        else getattr(ox.QueryResultsFormat, formats[media])
    )
    try:
        if kind == "graph":
            ox.serialize(result, output, format=fmt)
        else:
            result.serialize(output, format=fmt)
    except (OSError, ValueError) as exc:
        if output.exceeded:
            raise ResultTooLarge(
                f"the result is larger than the limit of {max_bytes} bytes; narrow the query or add LIMIT",
                target="sparql",
            ) from None
        raise QueryError(f"the query failed: {exc}", target="sparql") from exc
    return QueryAnswer(with_charset(media), b"".join(output.parts))


# ----------------------------------------------------------------------------- worker processes


def _worker_main(conn: Any) -> None:  # pragma: no cover - runs in the worker process
    import pyoxigraph as ox

    stores: dict[str, Any] = {}
    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        path, query, accept, graphs, max_bytes = request
        try:
            store = stores.get(path)
            if store is None:
                stores.clear()
                store = stores[path] = ox.Store.read_only(path) if path else ox.Store()
            answer = run_query(store, query, accept=accept, graphs=graphs, max_bytes=max_bytes)
            conn.send(("ok", answer.content_type, answer.body))
        except QueryError as exc:
            conn.send(("error", type(exc).__name__, exc.message))
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises it
            conn.send(("error", "QueryError", f"{type(exc).__name__}: {exc}"))


class _Worker:
    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_worker_main, args=(child,), daemon=True, name="sparql-worker")
        self.process.start()
        child.close()

    def kill(self) -> None:
        self.process.kill()
        self.process.join(5)
        self.conn.close()


_ERRORS = {cls.__name__: cls for cls in (QueryError, QuerySyntaxError, ResultTooLarge, NotAcceptable)}


class QueryPool:
    """Worker processes that run queries against a read-only snapshot, killed past the timeout.

    At most ``size`` queries run at once; more wait for a free worker (up to the timeout). A worker
    keeps its snapshot open between queries and reopens when the path changes.
    """

    def __init__(self, size: int = 2) -> None:
        self.size = size
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(size)
        self._closed = False

    def run(
        self,
        path: str,
        query: str,
        *,
        accept: str | None,
        graphs: Sequence[str],
        timeout: float,
        max_bytes: int | None,
    ) -> QueryAnswer:
        if not self._slots.acquire(timeout=timeout):
            raise QueryTimeout(f"no query worker was free within {timeout:g} s; try again", target="sparql")
        worker: _Worker | None = None
        try:
            with self._lock:
                worker = self._idle.pop() if self._idle else None
            if worker is None or not worker.process.is_alive():
                worker = _Worker()
            worker.conn.send((path, query, accept, list(graphs), max_bytes))
            if not worker.conn.poll(timeout):
                worker.kill()
                worker = None
                raise QueryTimeout(
                    f"the query ran longer than the limit of {timeout:g} s and was stopped; "
                    "narrow it or add LIMIT",
                    target="sparql",
                )
            try:
                reply = worker.conn.recv()
            except (EOFError, OSError):
                worker.kill()
                worker = None
                raise QueryError("the query worker died", target="sparql") from None
            if reply[0] == "ok":
                return QueryAnswer(reply[1], reply[2])
            raise _ERRORS.get(reply[1], QueryError)(reply[2], target="sparql")
        finally:
            if worker is not None:
                with self._lock:
                    if self._closed:
                        worker.kill()
                    else:
                        self._idle.append(worker)
            self._slots.release()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.kill()
