"""The Solr index backend: standalone cores or SolrCloud collections, fed through pysolr.

``http://host:8983/solr/<name>`` names the live index: a core on a standalone Solr, an alias on
SolrCloud (detected from ``/admin/info/system``; ``?mode=standalone|cloud`` overrides). Options go in
the query string: ``configSet`` (default ``contentcloud``), ``batch`` (documents per update, 500),
``commitWithin`` (ms, 10000), ``senders`` (update requests in flight, 2), ``timeout`` (s per request, 60),
``retryFor`` (s, 120), ``numShards``
and ``replicationFactor`` (SolrCloud, 1 and 1).

Full rebuilds never delete and re-create the live index:

* standalone: CoreAdmin ``CREATE`` of ``<name>__build_<token>`` (instance dir ``<name>_<token>``: SWAP
  exchanges core *names*, so directories are named per build), feed it, commit, ``SWAP`` it with the
  live core, ``UNLOAD`` the old one with its directory. With no live core yet, ``RENAME`` instead.
* SolrCloud: Collections API ``CREATE`` of ``<name>_<token>``, feed, commit, ``CREATEALIAS`` moves
  the alias ``<name>`` to it, then the collection it pointed to is deleted, unless another alias
  still points at it (Solr refuses that DELETE; the collection is kept and a warning logged). Once
  the alias has moved the rebuild is live: a failure while deleting the old collection is logged,
  never raised, and never drops the new collection. The first feed into a missing alias creates
  collection ``<name>_1`` and the alias (one fixed name, so that concurrent first feeds share it).

A rebuild first copies every other datasource's documents (and state documents) from the live index,
so it replaces one datasource and keeps the rest as they are.

Every request is retried with exponential back-off while Solr is unreachable (refused, reset,
timeout) or answers 5xx, for up to ``retryFor`` seconds, so a Solr restart in the middle of a feed
delays it but does not fail it. Updates are idempotent (add by id, delete by id or query), so a
batch may safely be sent twice. A batch Solr refuses with HTTP 400 is split in halves until the
refused documents are isolated; each becomes a :class:`~provision.index.base.Rejected` with Solr's
message, the others are indexed.

Documents (add, delete), queries and commits go through pysolr; the admin APIs pysolr lacks
(CoreAdmin, Collections API, aliases, ``/admin/info/system``) are direct JSON calls. Both go through one
:class:`SolrHttp`, which pysolr uses as its session: pysolr folds every failure into one ``SolrError``
message, and the feeder needs the HTTP status to tell a refused document (400) from an unavailable
Solr (503, refused connection) and to retry the latter, so the session keeps the status and does the
retries before pysolr sees an answer. pysolr sends deletes without ``commitWithin`` (it has no such
option): deleted documents go at the writer's commit, which every feed ends with.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import pysolr
import requests

from mdstore.errors import ConfigError, IndexBackendError
from mdstore.redact import mask_url
from provision.index.base import (
    BadRequest,
    Document,
    IndexNotFound,
    IndexState,
    Params,
    Rejected,
    as_params,
    batched,
)
from provision.index.fields import STATE_DOC_TYPE, STATE_ID_PREFIX

logger = logging.getLogger(__name__)

#: a rebuild whose token is older than this is abandoned (its process died) and may be removed
STALE_BUILD_SECONDS = 6 * 3600
#: SolrCloud: the live index a first feed creates is collection ``<alias>_1`` (as docker/compose.yaml's)
FIRST_COLLECTION = "1"
_TRANSIENT_EXCEPTIONS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


class SolrHTTPError(IndexBackendError):
    """Solr answered with an HTTP error that retrying will not cure."""

    def __init__(self, message: str = "", *, status: int | None = None, target: str | None = None) -> None:
        super().__init__(message, target=target)
        self.status = status

    def __reduce__(self):
        return (_rebuild_http_error, (self.message, self.status, self.target))


def _rebuild_http_error(message, status, target):
    return SolrHTTPError(message, status=status, target=target)


def _solr_message(response: requests.Response) -> str:
    try:
        return str(response.json()["error"]["msg"])
    except (ValueError, KeyError, TypeError):
        text = response.text.strip()
        match = re.search(r"<title>(.*?)</title>", text, re.S) or re.search(r"<pre>(.*?)</pre>", text, re.S)
        return (match[1] if match else text)[:500] or response.reason


class SolrHttp:
    """HTTP to Solr with retries on transient failures; JSON in and out."""

    def __init__(
        self,
        *,
        timeout: float = 60.0,
        retry_for: float = 120.0,
        auth: tuple[str, str] | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.timeout = timeout
        self.retry_for = retry_for
        self.session = session or requests.Session()
        if auth:
            self.session.auth = auth
        self.session.headers["User-Agent"] = "contentcloud-indexer"
        #: requests retried so far (all kinds), for tests and run summaries
        self.retries = 0

    def send(
        self,
        method: str,
        url: str,
        *,
        params: Params | Mapping[str, Any] | None = None,
        data: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        retry_404: bool = False,
    ) -> requests.Response:
        """One request answered 200; transient failures are retried until ``retry_for`` seconds have
        passed, other answers raise :class:`SolrHTTPError` with the status and Solr's message."""
        deadline = time.monotonic() + self.retry_for
        delay = 0.25
        while True:
            problem: str
            try:
                response = self.session.request(
                    method,
                    url,
                    params=as_params(params or {}),
                    data=data,
                    headers=headers,
                    timeout=(min(5.0, self.timeout), self.timeout),
                )
            except _TRANSIENT_EXCEPTIONS as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                status = response.status_code
                if status == 200:
                    return response
                message = _solr_message(response)
                if not (status >= 500 or status == 429 or (status == 404 and retry_404)):
                    raise SolrHTTPError(message, status=status, target=url)
                problem = f"HTTP {status}: {message}"
            if time.monotonic() + delay > deadline:
                raise IndexBackendError(
                    f"Solr did not answer for {self.retry_for:.0f} s; last: {problem}", target=url
                )
            self.retries += 1
            logger.warning(
                "Solr %s %s failed (%s); retrying in %.2f s", method, mask_url(url), problem, delay
            )
            time.sleep(delay)
            delay = min(delay * 2, 5.0)

    def get(self, url: str, params: Params | Mapping[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        """A JSON GET (the admin APIs pysolr has no call for)."""
        pairs = as_params(params or {})
        if not any(k == "wt" for k, _ in pairs):
            pairs.append(("wt", "json"))
        response = self.send("GET", url, params=pairs, **kw)
        try:
            return response.json()
        except ValueError as exc:
            raise SolrHTTPError(
                f"{url}: not JSON: {response.text[:200]!r}", status=response.status_code, target=url
            ) from exc


class _QuietLog(logging.LoggerAdapter):
    """pysolr's log, with its line per request at DEBUG rather than INFO: a feed sends hundreds of
    requests, and the backend logs retries and failures itself."""

    def info(self, msg: object, *args: Any, **kwargs: Any) -> None:
        self.debug(msg, *args, **kwargs)


_PYSOLR_LOG = _QuietLog(logging.getLogger("pysolr"), {})


class _PysolrSession:
    """What a :class:`pysolr.Solr` calls as its session: :meth:`SolrHttp.send`, so that pysolr's
    requests are retried and keep their HTTP status like every other."""

    def __init__(self, http: SolrHttp, *, retry_404: bool) -> None:
        self.http = http
        self.retry_404 = retry_404

    def get(self, url: str, **kw: Any) -> requests.Response:
        return self._send("GET", url, **kw)

    def post(self, url: str, **kw: Any) -> requests.Response:
        return self._send("POST", url, **kw)

    def _send(
        self, method: str, url: str, *, data: Any = None, headers: Any = None, **_ignored: Any
    ) -> requests.Response:
        # pysolr also passes files=None, timeout and auth=None: SolrHttp has its own timeout and auth
        return self.http.send(method, url, data=data, headers=headers, retry_404=self.retry_404)


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _answer(decoded: dict[str, Any], next_page_query: Any = None) -> dict[str, Any]:
    """pysolr's results class: Solr's decoded JSON answer as it is (cursors are followed by hand)."""
    return decoded


def _search(solr: pysolr.Solr, handler: str, params: Params | Mapping[str, Any]) -> dict[str, Any]:
    """A query to ``handler`` with these parameters (repeated keys kept, in order)."""
    grouped: dict[str, list[str]] = {}
    for key, value in as_params(params):
        grouped.setdefault(key, []).append(value)
    # pysolr's search takes a q; as a list, an absent one sends none (as the caller asked)
    q = grouped.pop("q", [])
    return solr.search(q, search_handler=handler, **grouped)


def _new_token() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S}_{uuid.uuid4().hex[:6]}"


def _token_age(token: str) -> float:
    try:
        started = datetime.strptime(token[:15], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return float("inf")
    return (datetime.now(UTC) - started).total_seconds()


class SolrIndex:
    """One logical Solr index: a core (standalone) or an alias (SolrCloud)."""

    def __init__(
        self,
        base_url: str,
        name: str,
        *,
        configset: str = "contentcloud",
        mode: str = "auto",
        batch_size: int = 500,
        commit_within_ms: int = 10_000,
        timeout: float = 60.0,
        retry_for: float = 120.0,
        num_shards: int = 1,
        replication_factor: int = 1,
        auth: tuple[str, str] | None = None,
        senders: int = 2,
    ) -> None:
        if not re.match(r"^[A-Za-z0-9_.-]{1,100}$", name):
            raise ConfigError(f"Solr index name {name!r} is not valid", field="index", rule="name")
        self.base = base_url.rstrip("/")
        self.name = name
        self.configset = configset
        self.batch_size = batch_size
        #: update requests in flight at once: with two, Solr parses one batch while it indexes the other,
        #: and a request waiting for the GIL never leaves Solr idle (bench/RESULTS.md: 0.70 → 0.91)
        self.senders = max(1, senders)
        self.commit_within_ms = commit_within_ms
        self.num_shards = num_shards
        self.replication_factor = replication_factor
        self.http = SolrHttp(timeout=timeout, retry_for=retry_for, auth=auth)
        self._mode = mode if mode in ("standalone", "cloud") else None
        self.uri = f"{self.base}/{self.name}"

    # --- topology ------------------------------------------------------------------------------
    @property
    def cloud(self) -> bool:
        if self._mode is None:
            info = self.http.get(f"{self.base}/admin/info/system")
            self._mode = "cloud" if info.get("mode") == "solrcloud" else "standalone"
        return self._mode == "cloud"

    def url(self, core: str | None = None) -> str:
        return f"{self.base}/{core or self.name}"

    def client(self, core: str | None = None, *, retry_404: bool = False) -> pysolr.Solr:
        """pysolr on the live index (or ``core``), over this index's retrying HTTP.

        ``retry_404`` while feeding: a core that exists answers 404 for a moment after a Solr restart.
        """
        solr = pysolr.Solr(
            self.url(core), session=_PysolrSession(self.http, retry_404=retry_404), results_cls=_answer
        )
        solr.log = _PYSOLR_LOG
        return solr

    def core_admin(self, action: str, **params: Any) -> dict[str, Any]:
        return self.http.get(f"{self.base}/admin/cores", {"action": action, **params})

    def collections_admin(self, action: str, **params: Any) -> dict[str, Any]:
        return self.http.get(f"{self.base}/admin/collections", {"action": action, **params})

    def cores(self) -> dict[str, dict[str, Any]]:
        return self.core_admin("STATUS", indexInfo="false").get("status", {})

    def live_exists(self) -> bool:
        if self.cloud:
            return self.name in self.aliases() or self.name in self.collections()
        return bool(self.cores().get(self.name))

    def aliases(self) -> dict[str, str]:
        return self.collections_admin("LISTALIASES").get("aliases", {})

    def collections(self) -> list[str]:
        return self.collections_admin("LIST").get("collections", [])

    def _aliased_collections(self) -> dict[str, list[str]]:
        """Collection → the aliases pointing at it."""
        aliased: dict[str, list[str]] = {}
        for alias, targets in self.aliases().items():
            for collection in filter(None, targets.split(",")):
                aliased.setdefault(collection, []).append(alias)
        return aliased

    def close(self) -> None:
        self.http.session.close()

    def __enter__(self) -> SolrIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<SolrIndex {self.uri}>"

    # --- reading -------------------------------------------------------------------------------
    def select(self, params: Params | Mapping[str, Any]) -> dict[str, Any]:
        try:
            return _search(self.client(), "select", params)
        except SolrHTTPError as exc:
            if exc.status == 400:
                raise BadRequest(exc.message, target=self.uri) from exc
            if exc.status == 404:
                raise IndexNotFound(f"no Solr index {self.name!r}", target=self.uri) from exc
            raise

    def count(self, datasource: str | None = None) -> int:
        params: dict[str, Any] = {"q": "*:*", "rows": 0}
        if datasource is not None:
            params["fq"] = f"datasource:{_quote(datasource)}"
        return int(self.select(params)["response"]["numFound"])

    def _cursor(
        self, core: str | None, params: dict[str, Any], rows: int = 1000, *, retry_404: bool = False
    ) -> Iterator[dict[str, Any]]:
        """Every document of a /feeder query (state documents included), by cursorMark, ordered by id.

        ``retry_404`` while feeding: a core that exists answers 404 for a moment after a Solr restart.
        """
        cursor = "*"
        solr = self.client(core, retry_404=retry_404)
        while True:
            try:
                answer = _search(
                    solr, "feeder", {**params, "sort": "id asc", "rows": rows, "cursorMark": cursor}
                )
            except SolrHTTPError as exc:
                if exc.status == 404:
                    raise IndexNotFound(f"no Solr index {self.name!r}", target=self.uri) from exc
                raise
            yield from answer["response"]["docs"]
            following = answer.get("nextCursorMark")
            if not following or following == cursor:
                return
            cursor = following

    def ids(self, datasource: str) -> Iterator[tuple[str, str | None]]:
        params = {
            "q": "*:*",
            "fq": [f"datasource:{_quote(datasource)}", f"-doc_type:{STATE_DOC_TYPE}"],
            "fl": "id,mdstore_version",
        }
        for doc in self._cursor(None, params, rows=5000):
            yield doc["id"], doc.get("mdstore_version")

    def states(self) -> dict[str, IndexState]:
        if not self.live_exists():
            return {}
        params = {"q": f"doc_type:{STATE_DOC_TYPE}", "fl": "datasource,index_state"}
        return {
            doc["datasource"]: IndexState.from_json(doc["index_state"]) for doc in self._cursor(None, params)
        }

    def state(self, datasource: str) -> IndexState | None:
        try:
            answer = _search(self.client(), "get", {"id": STATE_ID_PREFIX + datasource})
        except SolrHTTPError as exc:
            if exc.status == 404:
                return None
            raise
        doc = answer.get("doc")
        return IndexState.from_json(doc["index_state"]) if doc and doc.get("index_state") else None

    # --- writing -------------------------------------------------------------------------------
    def open_writer(self, datasource: str, *, rebuild: bool = False) -> SolrWriter:
        return SolrWriter(self, datasource, rebuild=rebuild)

    def builds(self) -> list[str]:
        """Names of rebuild cores/collections of this index that exist now."""
        if self.cloud:
            # a collection any alias points at is served (e.g. a former live collection that another
            # alias still uses), not a rebuild in progress
            aliased = self._aliased_collections()
            return [
                c
                for c in self.collections()
                if c.startswith(f"{self.name}_")
                and c not in aliased
                and re.match(r"^\d{8}T\d{6}_", c[len(self.name) + 1 :])
            ]
        return [c for c in self.cores() if c.startswith(f"{self.name}__build_")]

    def _build_token(self, build: str) -> str:
        return build.rsplit("__build_", 1)[-1] if "__build_" in build else build[len(self.name) + 1 :]

    def _refuse_during_rebuild(self, *, remove_stale: bool) -> None:
        for build in self.builds():
            age = _token_age(self._build_token(build))
            if age < STALE_BUILD_SECONDS:
                raise IndexBackendError(
                    f"a full rebuild ({build}, started {age:.0f} s ago) is running; feed "
                    "again when it has finished",
                    target=self.uri,
                )
            if remove_stale:
                logger.warning("removing abandoned rebuild %s of %s", build, mask_url(self.uri))
                self._drop(build)

    def _drop(self, build: str) -> None:
        if self.cloud:
            self.collections_admin("DELETE", name=build)
        else:
            self.core_admin("UNLOAD", core=build, deleteInstanceDir="true")

    def create_live(self) -> None:
        """Create the live index empty (first feed on a fresh Solr)."""
        token = _new_token()
        if self.cloud:
            # A fixed name, not a token: the first feeds of two datasources (two DAGs) may both find
            # no alias and create the live index at once. With a token each, the later CREATEALIAS
            # would orphan the other's collection, its documents gone from the alias and the orphan
            # taken for a rebuild in progress; with one name the later CREATE is refused ("already
            # exists") and both point the alias at the same collection.
            collection = f"{self.name}_{FIRST_COLLECTION}"
            try:
                self._create_collection(collection)
            except SolrHTTPError:
                if collection not in self.collections():
                    raise
                logger.info("collection %s exists already (a concurrent feed made it); using it", collection)
            self.collections_admin("CREATEALIAS", name=self.name, collections=collection)
        else:
            self.core_admin(
                "CREATE", name=self.name, instanceDir=f"{self.name}_{token}", configSet=self.configset
            )

    def _create_collection(self, collection: str) -> None:
        self.collections_admin(
            "CREATE",
            name=collection,
            **{"collection.configName": self.configset},
            numShards=self.num_shards,
            replicationFactor=self.replication_factor,
            waitForFinalState="true",
        )


class SolrWriter:
    """A feed of one datasource: in place into the live index, or into a fresh core/collection.

    Batches go out on a background thread (so the caller builds the next documents meanwhile);
    :meth:`flush` waits for them and returns the refused documents.
    """

    def __init__(self, index: SolrIndex, datasource: str, *, rebuild: bool) -> None:
        self.index = index
        self.http = index.http
        self.datasource = datasource
        self.rebuild = rebuild
        self._rejected: list[Rejected] = []
        self._error: BaseException | None = None
        self._closed = False
        #: the alias (SolrCloud) now points at the rebuild: it is live and must never be dropped
        self._switched = False
        self._queue: queue.Queue[tuple[str, Any] | None] = queue.Queue(maxsize=2 * index.senders)
        self._rejected_lock = threading.Lock()
        if rebuild:
            index._refuse_during_rebuild(remove_stale=True)
            self._live_existed = index.live_exists()
            token = _new_token()
            if index.cloud:
                if index.name in index.collections():
                    raise IndexBackendError(
                        f"{index.name!r} is a collection, not an alias: rebuilds switch an alias; create the "
                        f"alias (CREATEALIAS name={index.name}-…) and point the index URI at it",
                        target=index.uri,
                    )
                self.target = f"{index.name}_{token}"
                index._create_collection(self.target)
            else:
                self.target = f"{index.name}__build_{token}"
                index.core_admin(
                    "CREATE", name=self.target, instanceDir=f"{index.name}_{token}", configSet=index.configset
                )
            self._commit_within: int | None = None
        else:
            index._refuse_during_rebuild(remove_stale=False)
            if not index.live_exists():
                index.create_live()
            self.target = index.name
            self._commit_within = index.commit_within_ms
        self._solr = index.client(self.target, retry_404=True)
        self._senders = [
            threading.Thread(target=self._send_loop, name=f"solr-feed-{datasource}-{n}", daemon=True)
            for n in range(index.senders)
        ]
        for sender in self._senders:
            sender.start()
        if rebuild and self._live_existed:
            try:
                self._copy_others()
            except BaseException:
                self.abort()
                raise

    # --- background sending --------------------------------------------------------------------
    def _send_loop(self) -> None:
        while True:
            job = self._queue.get()
            try:
                if job is None:
                    return
                if self._error is not None:
                    continue
                kind, payload = job
                if kind == "add":
                    self._post_docs(payload)
                elif kind == "delete":
                    self._solr.delete(id=payload)
            except BaseException as exc:  # handed to the caller at the next add/flush
                self._error = exc
            finally:
                self._queue.task_done()

    def _post_docs(self, docs: list[Document]) -> None:
        """Post a batch; on HTTP 400 split it until each refused document is alone (and recorded)."""
        try:
            self._solr.add(docs, commitWithin=self._commit_within)
        except SolrHTTPError as exc:
            if exc.status != 400:
                raise
            if len(docs) == 1:
                with self._rejected_lock:
                    self._rejected.append(Rejected(str(docs[0].get("id", "")), exc.message))
                return
            middle = len(docs) // 2
            self._post_docs(docs[:middle])
            self._post_docs(docs[middle:])

    def _put(self, job: tuple[str, Any]) -> None:
        self._check()
        self._queue.put(job)

    def _check(self) -> None:
        if self._closed:
            raise IndexBackendError("the writer is closed", target=self.index.uri)
        if self._error is not None:
            error, self._error = self._error, None
            if isinstance(error, IndexBackendError):
                raise error
            raise IndexBackendError(f"feeding failed: {error}", target=self.index.uri) from error

    # --- the IndexWriter contract --------------------------------------------------------------
    def add(self, docs: Sequence[Document]) -> None:
        for batch in batched(docs, self.index.batch_size):
            self._put(("add", batch))

    def delete(self, ids: Sequence[str]) -> None:
        for batch in batched(ids, self.index.batch_size):
            self._put(("delete", list(batch)))

    def flush(self) -> list[Rejected]:
        self._check()
        self._queue.join()
        self._check()
        rejected, self._rejected = self._rejected, []
        return rejected

    def sweep(self, keep_versions: Sequence[str]) -> int:
        versions = " OR ".join(_quote(v) for v in keep_versions)
        query = f"datasource:{_quote(self.datasource)} AND -doc_type:{STATE_DOC_TYPE}"
        if versions:
            query += f" AND -mdstore_version:({versions})"
        self.flush()
        self._commit()  # the count must see every document sent so far
        found = _search(self._solr, "feeder", {"q": query, "rows": 0})
        count = int(found["response"]["numFound"])
        if count:
            self._solr.delete(q=query)
        return count

    def _commit(self) -> None:
        self._solr.commit()

    def commit(self, state: IndexState) -> None:
        self.flush()
        state_doc = {
            "id": STATE_ID_PREFIX + state.datasource,
            "datasource": state.datasource,
            "doc_type": STATE_DOC_TYPE,
            "index_state": state.to_json(),
        }
        self._solr.add([state_doc])
        self._commit()
        if self.rebuild:
            self._switch()
        self._close()

    def _switch(self) -> None:
        index = self.index
        if index.cloud:
            previous = [c for c in index.aliases().get(index.name, "").split(",") if c]
            index.collections_admin("CREATEALIAS", name=index.name, collections=self.target)
            self._switched = True  # the rebuild is live now: abort() must not drop it
            logger.info("alias %s now points at %s (was %s)", index.name, self.target, previous)
            self._retire(previous)
            return
        if index.live_exists():
            index.core_admin("SWAP", core=index.name, other=self.target)
            index.core_admin("UNLOAD", core=self.target, deleteInstanceDir="true")
            logger.info("swapped the rebuilt core into %s; unloaded the old one", index.name)
        else:
            index.core_admin("RENAME", core=self.target, other=index.name)
            logger.info("renamed the rebuilt core %s to %s", self.target, index.name)

    def close(self) -> None:
        if self.rebuild:
            raise IndexBackendError(
                "a rebuild writer ends with commit (switch) or abort (drop), not close",
                target=self.index.uri,
            )
        self.flush()
        self._commit()
        self._close()

    def abort(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop_sender()
        if self.rebuild and not self._switched:
            try:
                self.index._drop(self.target)
            except IndexBackendError as exc:
                logger.warning("could not drop the rebuild %s: %s", self.target, exc)

    def _close(self) -> None:
        self._closed = True
        self._stop_sender()

    def _retire(self, collections: Sequence[str]) -> None:
        """Delete the collections the alias pointed to before the switch: clean-up only, so a failure
        is a warning (the switch is done), and a collection another alias still uses is kept."""
        index = self.index
        try:
            aliased = index._aliased_collections()
        except IndexBackendError as exc:
            logger.warning(
                "not deleting the previous collections %s of %s: %s", collections, mask_url(index.uri), exc
            )
            return
        for collection in collections:
            if collection == self.target:
                continue
            if aliased.get(collection):
                logger.warning(
                    "kept the previous collection %s of %s: alias(es) %s still point at it",
                    collection,
                    index.uri,
                    ", ".join(aliased[collection]),
                )
                continue
            try:
                index.collections_admin("DELETE", name=collection)
            except IndexBackendError as exc:
                logger.warning(
                    "could not delete the previous collection %s of %s: %s", collection, index.uri, exc
                )

    def _stop_sender(self) -> None:
        alive = [sender for sender in self._senders if sender.is_alive()]
        for _ in alive:
            self._queue.put(None)
        for sender in alive:
            sender.join(timeout=self.http.retry_for + 30)

    # --- a rebuild keeps the other datasources -------------------------------------------------
    def _copy_others(self) -> None:
        params = {"q": "*:*", "fq": f"-datasource:{_quote(self.datasource)}", "fl": "*"}
        copied = 0
        batch: list[Document] = []
        for doc in self.index._cursor(None, params, retry_404=True):
            doc.pop("_version_", None)
            batch.append(doc)
            if len(batch) >= self.index.batch_size:
                self._put(("add", batch))
                copied += len(batch)
                batch = []
        if batch:
            self._put(("add", batch))
            copied += len(batch)
        rejected = self.flush()
        if rejected:
            raise IndexBackendError(
                f"copying the live index into {self.target} failed: {rejected[0].message}",
                target=self.index.uri,
            )
        logger.info(
            "rebuild of %s: copied %d documents of other datasources", mask_url(self.index.uri), copied
        )


def from_uri(uri: str, *, name: str | None = None) -> SolrIndex:
    """``http://host:8983/solr/<name>[?configSet=…&batch=…&commitWithin=…&mode=…]``."""
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https"):
        raise ConfigError(f"{uri!r} is not an http(s) Solr URL", field="index", rule="scheme")
    path = parts.path.rstrip("/")
    base_path, _, core = path.rpartition("/")
    if not core or not base_path:
        raise ConfigError(
            f"{uri!r} names no index (http://host:8983/solr/<core or alias>)", field="index", rule="path"
        )
    options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    auth = None
    netloc = parts.netloc
    if parts.username:
        auth = (parts.username, parts.password or "")
        netloc = netloc.rsplit("@", 1)[1]
    base = urlunsplit((parts.scheme, netloc, base_path, "", ""))

    def number(key: str, default: float) -> float:
        try:
            return float(options.get(key, default))
        except ValueError:
            raise ConfigError(
                f"{key}={options[key]!r} is not a number", field=f"index.{key}", rule="type"
            ) from None

    return SolrIndex(
        base,
        name or core,
        configset=options.get("configSet", "contentcloud"),
        mode=options.get("mode", "auto"),
        batch_size=int(number("batch", 500)),
        commit_within_ms=int(number("commitWithin", 10_000)),
        timeout=number("timeout", 60),
        retry_for=number("retryFor", 120),
        num_shards=int(number("numShards", 1)),
        replication_factor=int(number("replicationFactor", 1)),
        auth=auth,
        senders=int(number("senders", 2)),
    )
