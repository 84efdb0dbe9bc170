"""Real servers for the integration tests: Solr 9 (standalone or a one-node SolrCloud) and a
MongoDB-wire server, on 127.0.0.1.

Each server is a single-file Java program beside this module (``solr/SolrLauncher.java``,
``solr/SolrCloudLauncher.java``, ``mongo/MongoLauncher.java``) whose jars a small ``pom.xml``
fetches from Maven Central into a git-ignored ``lib/``. A launcher binds a free port (or the one it
is given), prints one line ``READY <url> [key=value …]`` when clients can connect, and stops on
SIGTERM. No Docker, no system packages
beyond a JDK 17 and Maven.

Import it as ``tests.servers``: ``tests/`` and ``tests/integration/`` are regular packages
(``__init__.py``), so pytest puts the repository root on ``sys.path`` and the module resolves
without installing anything; ``python -m tests.servers solr|solrcloud|mongo`` (from the repository root)
starts one by hand. It uses only the standard library, so it also runs outside the venv.

What this module must not do: know the project's pipeline, or start anything at import time.
"""

from __future__ import annotations

import atexit
import collections
import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Self, TypeVar

__all__ = [
    "CONFIGSET_DIR",
    "SERVERS_DIR",
    "MissingToolError",
    "ServerError",
    "ServerProcess",
    "SolrCloudServer",
    "SolrServer",
    "ensure_jars",
    "in_ci",
    "start_or_skip",
    "start_fuseki",
    "start_mongo",
    "start_solr",
    "start_solrcloud",
]

SERVERS_DIR = Path(__file__).resolve().parent
REPO_ROOT = SERVERS_DIR.parents[1]
#: The project's Solr configset (``conf/solrconfig.xml``, ``conf/schema.xml``).
CONFIGSET_DIR = REPO_ROOT / "schemas" / "solr"
CONFIGSET_NAME = "contentcloud"

_MARKER = ".complete"  # in lib/: the sha256 of the pom.xml the jars were fetched for


def in_ci() -> bool:
    """CI sets ``CI=true``: there a server that will not start, or a missing ``../shared``, fails
    the run instead of skipping."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}


class ServerError(RuntimeError):
    """A test server could not be prepared, started or asked something."""


class MissingToolError(ServerError):
    """A program the launchers need (java, mvn) is not installed: tests skip locally, fail in CI."""


# --------------------------------------------------------------------------------------------
# jars


def java_executable() -> str:
    """The ``java`` to run launchers with: ``$JAVA_HOME/bin/java``, else the one on PATH."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    found = shutil.which("java")
    if found is None:
        raise MissingToolError(
            "java: not found (JAVA_HOME unset and no java on PATH); the test servers need a JDK 17+, "
            "e.g. apt-get install openjdk-17-jdk-headless"
        )
    return found


def ensure_jars(name: str) -> Path:
    """Return ``tests/servers/<name>/lib`` holding every jar ``<name>/pom.xml`` needs.

    Maven runs only when ``lib/`` was not completed for the current pom (a marker file holds the
    pom's sha256), so the first session pays the download and later ones nothing. A file lock
    keeps two test processes from filling the same ``lib/`` at once. Stale jars from an older pom
    are removed first, so two versions of one library never share the classpath.
    """
    server_dir = SERVERS_DIR / name
    pom = server_dir / "pom.xml"
    if not pom.is_file():
        raise ServerError(f"{pom}: no such launcher pom (known: {', '.join(_known_servers())})")
    lib = server_dir / "lib"
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()
    if _lib_complete(lib, digest):
        return lib
    java_executable()  # a missing JDK is the likelier problem; name it first
    mvn = shutil.which("mvn")
    if mvn is None:
        raise MissingToolError(
            f"mvn: not found on PATH; it fetches the {name} server's jars from Maven Central once "
            "(e.g. apt-get install maven)"
        )
    with (server_dir / ".lib.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _lib_complete(lib, digest):  # another process finished while we waited
            return lib
        shutil.rmtree(lib, ignore_errors=True)
        # outputDirectory must be absolute: Maven resolves a relative one against the pom's
        # folder, not the working directory.
        cmd = [
            mvn, "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
            "-DincludeScope=runtime", f"-DoutputDirectory={lib}",
        ]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = _tail_of(done.stdout + done.stderr)
            raise ServerError(f"{pom}: mvn copy-dependencies failed ({done.returncode}):\n{tail}")
        (lib / _MARKER).write_text(digest + "\n")
    return lib


def _lib_complete(lib: Path, digest: str) -> bool:
    marker = lib / _MARKER
    return marker.is_file() and marker.read_text().strip() == digest


def _known_servers() -> list[str]:
    return sorted(p.parent.name for p in SERVERS_DIR.glob("*/pom.xml"))


def _tail_of(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


# --------------------------------------------------------------------------------------------
# a server process

_LIVE: set[ServerProcess] = set()


@atexit.register
def _stop_live_servers() -> None:
    """Stop what a test run left running (the servers' stdin watchdog covers a killed run)."""
    for server in list(_LIVE):
        server.stop(timeout=5)


class ServerProcess:
    """One launcher process: start it, wait for its ``READY <url>`` line, stop it, restart it.

    ``command(port)`` builds the argument list; ``start()`` passes ``0`` (the launcher picks a
    free port) and ``restart()`` passes the port of the previous run, so clients keep their URL.
    The process runs in its own process group, stdout and stderr merged; everything it prints is
    kept in a ring buffer (``output_tail()``) and, given ``log_path``, appended to that file.
    Its stdin is a pipe this object holds: the launchers exit when it closes, so a killed test
    run leaves no Java process behind.
    """

    def __init__(
        self,
        name: str,
        command: Callable[[int], Sequence[str]],
        *,
        cwd: Path | None = None,
        startup_timeout: float = 60.0,
        log_path: Path | None = None,
    ) -> None:
        self.name = name
        self.command = command
        self.cwd = cwd
        self.startup_timeout = startup_timeout
        self.log_path = log_path
        self._proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self._ready = threading.Event()
        self._eof = threading.Event()
        self._output: collections.deque[str] = collections.deque(maxlen=400)
        self._output_lock = threading.Lock()
        self._url: str | None = None
        #: the ``key=value`` words after the URL on the READY line (e.g. SolrCloud's ``zk``)
        self.ready_info: dict[str, str] = {}
        #: seconds from spawn to the READY line, for the last start
        self.startup_seconds: float | None = None

    # -- what clients need

    @property
    def url(self) -> str:
        """The URL from the READY line (kept after ``stop()``, so a restart reuses it)."""
        if self._url is None:
            raise ServerError(f"{self.name}: not started")
        return self._url

    @property
    def port(self) -> int:
        port = urllib.parse.urlsplit(self.url).port
        assert port is not None, self.url
        return port

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def output_tail(self, lines: int = 40) -> str:
        """The last lines the server printed (stdout and stderr, merged)."""
        with self._output_lock:
            return "\n".join(list(self._output)[-lines:])

    # -- life cycle

    def start(self, port: int = 0) -> Self:
        """Spawn the launcher and return once it printed ``READY``; raise ``ServerError`` else."""
        if self.running:
            raise ServerError(f"{self.name}: already running at {self._url} (pid {self.pid})")
        argv = [str(a) for a in self.command(port)]
        self._ready.clear()
        self._eof.clear()
        with self._output_lock:
            self._output.clear()
        started = time.monotonic()
        try:
            self._proc = subprocess.Popen(
                argv,
                cwd=self.cwd,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
                bufsize=1,
                start_new_session=True,  # own process group: stop() signals the whole of it
            )
        except OSError as exc:
            raise ServerError(f"{self.name}: cannot run {argv[0]}: {exc}") from exc
        _LIVE.add(self)
        self._reader = threading.Thread(
            target=self._read_output, args=(self._proc,), name=f"{self.name}-output", daemon=True
        )
        self._reader.start()

        deadline = started + self.startup_timeout
        while not self._ready.wait(0.05):
            if self._eof.is_set() and not self._ready.is_set():
                code = self._proc.wait()
                self._forget()
                raise ServerError(
                    f"{self.name}: exited with code {code} before it was ready; its output ends:\n"
                    f"{self.output_tail()}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise ServerError(
                    f"{self.name}: no READY line within {self.startup_timeout:.0f} s; "
                    f"its output ends:\n{self.output_tail()}"
                )
        self.startup_seconds = time.monotonic() - started
        try:
            self.after_start()
        except BaseException:
            self.stop()
            raise
        return self

    def after_start(self) -> None:
        """Hook: runs after READY, before ``start()`` returns (Solr creates and pings its cores)."""

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the process group, SIGKILL it after ``timeout`` seconds; idempotent."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            self._signal_group(proc, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(proc, signal.SIGKILL)
                proc.wait()
        self._forget()

    def restart(self, timeout: float = 15.0) -> Self:
        """Stop, then start again on the same port (a server that went away mid-run came back)."""
        port = self.port
        self.stop(timeout)
        return self.start(port)

    def __enter__(self) -> Self:
        return self if self.running else self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"running at {self._url}, pid {self.pid}" if self.running else "stopped"
        return f"<{type(self).__name__} {self.name}: {state}>"

    # -- internals

    def _read_output(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        log = self.log_path.open("a", encoding="utf-8") if self.log_path else None
        try:
            for line in proc.stdout:
                if log is not None:
                    log.write(line)
                    log.flush()
                line = line.rstrip("\n")
                with self._output_lock:
                    self._output.append(line)
                if not self._ready.is_set() and line.startswith("READY "):
                    url, *extra = line[len("READY ") :].split()
                    self._url = url
                    self.ready_info = dict(word.partition("=")[::2] for word in extra)
                    self._ready.set()
        finally:
            if log is not None:
                log.close()
            self._eof.set()

    @staticmethod
    def _signal_group(proc: subprocess.Popen[str], sig: signal.Signals) -> None:
        try:
            os.killpg(proc.pid, sig)  # pgid == pid: start_new_session=True
        except ProcessLookupError:
            pass

    def _forget(self) -> None:
        proc = self._proc
        if proc is not None:
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    try:
                        stream.close()
                    except OSError:
                        pass
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(timeout=5)
        self._proc = None
        self._reader = None
        _LIVE.discard(self)


# --------------------------------------------------------------------------------------------
# Solr


class SolrServer(ServerProcess):
    """A standalone Solr 9 whose home holds the project's configset and the named cores.

    ``url`` is the node's base URL (``http://127.0.0.1:<port>/solr``); a core's URL, the one
    pysolr takes, is ``core_url(name)``. Cores live on disk in ``home`` and survive ``restart()``.
    """

    def __init__(self, home: Path, cores: Iterable[str], *, startup_timeout: float = 120.0) -> None:
        self.home = home
        self.cores = tuple(cores)
        lib = ensure_jars("solr")
        java = java_executable()
        launcher = SERVERS_DIR / "solr" / "SolrLauncher.java"

        def command(port: int) -> list[str]:
            return [
                java, "-Xmx512m", "-XX:+UseSerialGC", "-Dlauncher.stdinWatchdog=true",
                "-cp", f"{lib}/*", str(launcher), str(home), str(port),
            ]  # fmt: skip

        super().__init__(
            "solr",
            command,
            cwd=home,
            startup_timeout=startup_timeout,
            log_path=home / "launcher.out",
        )

    def output_tail(self, lines: int = 40) -> str:
        """The launcher's last lines (errors only: Solr logs WARN and up to ``<home>/logs/solr.log``)."""
        return f"{super().output_tail(lines)}\n(Solr's log: {self.home / 'logs' / 'solr.log'})"

    def core_url(self, core: str = CONFIGSET_NAME) -> str:
        return f"{self.url}/{core}"

    def core_admin(self, action: str, **params: str | bool) -> dict[str, Any]:
        """Call CoreAdmin (``CREATE``, ``SWAP``, ``RELOAD``, ``UNLOAD``, ``STATUS``) and return its JSON.

        A Solr error becomes a ``ServerError`` carrying Solr's message.
        """
        query = {"action": action, "wt": "json"}
        query.update({k: str(v).lower() if isinstance(v, bool) else v for k, v in params.items()})
        return _get_json(f"{self.url}/admin/cores?{urllib.parse.urlencode(query)}", timeout=60)

    def create_core(self, name: str, config_set: str = CONFIGSET_NAME) -> None:
        """Create core ``name`` from a configset under ``<home>/configsets/``, data in ``<home>/<name>``."""
        self.core_admin("CREATE", name=name, configSet=config_set, instanceDir=name)

    def core_names(self) -> list[str]:
        return sorted(self.core_admin("STATUS")["status"])

    def ping(self, core: str = CONFIGSET_NAME) -> bool:
        try:
            answer = _get_json(f"{self.core_url(core)}/admin/ping?wt=json", timeout=5)
        except ServerError:
            return False
        return answer.get("status") == "OK"

    def wait_for_core(self, core: str, timeout: float = 30.0) -> None:
        """Poll the core's ping until it answers: cores load after Jetty accepts connections."""
        deadline = time.monotonic() + timeout
        while not self.ping(core):
            if time.monotonic() > deadline:
                raise ServerError(
                    f"solr: core {core!r} did not answer /admin/ping within {timeout:.0f} s; "
                    f"its output ends:\n{self.output_tail()}"
                )
            time.sleep(0.1)

    def after_start(self) -> None:
        existing = set(self.core_names())
        for core in self.cores:
            if core not in existing:
                self.create_core(core)
            self.wait_for_core(core)


def start_solr(
    tmp_dir: str | os.PathLike[str],
    cores: Iterable[str] = (CONFIGSET_NAME,),
    *,
    port: int = 0,
    startup_timeout: float = 120.0,
) -> SolrServer:
    """Start Solr with ``tmp_dir`` as its home and return once every core in ``cores`` answers.

    The configset ``schemas/solr/`` is copied (again, each time) to
    ``<tmp_dir>/configsets/contentcloud/``; cores missing from the home are created from it by
    CoreAdmin CREATE, cores already there (a previous run on the same home) are reused.
    """
    home = Path(tmp_dir).resolve()
    home.mkdir(parents=True, exist_ok=True)
    configset = home / "configsets" / CONFIGSET_NAME
    shutil.rmtree(configset, ignore_errors=True)
    shutil.copytree(CONFIGSET_DIR, configset, ignore=shutil.ignore_patterns("*.md"))
    server = SolrServer(home, cores, startup_timeout=startup_timeout)
    return server.start(port)


# --------------------------------------------------------------------------------------------
# SolrCloud


class SolrCloudServer(ServerProcess):
    """A one-node SolrCloud (MiniSolrCloudCluster, embedded ZooKeeper) with the project's configset
    uploaded to ZooKeeper as ``contentcloud``.

    ``url`` is the node's base URL (``http://127.0.0.1:<port>/solr``), ``zk_address`` the ZooKeeper
    connect string (with its ``/solr`` chroot). Collections and aliases are made with the Collections
    API (``collections_admin``, ``create_collection``, ``create_alias``); a collection's or an alias's
    URL is ``collection_url(name)``. The cluster lives in ``base_dir``, which must start empty: it
    cannot be restarted (ZooKeeper and the node would come back on other ports).
    """

    def __init__(self, base_dir: Path, *, startup_timeout: float = 120.0, max_heap: str = "512m") -> None:
        self.base_dir = base_dir
        lib = ensure_jars("solr")  # the same jars as the standalone launcher
        java = java_executable()
        launcher = SERVERS_DIR / "solr" / "SolrCloudLauncher.java"

        def command(port: int) -> list[str]:
            if port:
                raise ServerError("solrcloud: cannot be started on a given port (a restart is not supported)")
            return [
                java, f"-Xmx{max_heap}", "-XX:+UseSerialGC", "-Dlauncher.stdinWatchdog=true",
                "-cp", f"{lib}/*", str(launcher), str(base_dir), str(CONFIGSET_DIR), CONFIGSET_NAME,
            ]  # fmt: skip

        super().__init__(
            "solrcloud",
            command,
            cwd=base_dir,
            startup_timeout=startup_timeout,
            log_path=base_dir / "launcher.out",
        )

    @property
    def zk_address(self) -> str:
        """ZooKeeper's ``host:port/chroot``, from the READY line."""
        return self.ready_info["zk"]

    def output_tail(self, lines: int = 40) -> str:
        return f"{super().output_tail(lines)}\n(Solr's log: {self.base_dir / 'logs' / 'solr.log'})"

    def restart(self, timeout: float = 15.0) -> Self:
        raise ServerError("solrcloud: a restart is not supported (start a new cluster in a new directory)")

    def collection_url(self, name: str) -> str:
        """The URL of a collection or an alias (``…/solr/<name>``), the one the index backend takes."""
        return f"{self.url}/{name}"

    def collections_admin(self, action: str, **params: str | int | bool) -> dict[str, Any]:
        """Call the Collections API (``CREATE``, ``CREATEALIAS``, ``LISTALIASES``, ``LIST``, ``DELETE``,
        ``DELETEALIAS``, ``CLUSTERSTATUS``) and return its JSON; a Solr error becomes a ``ServerError``."""
        query: dict[str, str] = {"action": action, "wt": "json"}
        query.update({k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in params.items()})
        return _get_json(f"{self.url}/admin/collections?{urllib.parse.urlencode(query)}", timeout=120)

    def create_collection(
        self, name: str, config_set: str = CONFIGSET_NAME, *, shards: int = 1, replicas: int = 1
    ) -> None:
        """Create collection ``name`` from a configset in ZooKeeper; returns once its replicas are active."""
        self.collections_admin(
            "CREATE",
            name=name,
            **{"collection.configName": config_set},
            numShards=shards,
            replicationFactor=replicas,
            waitForFinalState=True,
        )

    def create_alias(self, alias: str, *collections: str) -> None:
        """Create alias ``alias`` (or move it) to point at ``collections``."""
        self.collections_admin("CREATEALIAS", name=alias, collections=",".join(collections))

    def aliases(self) -> dict[str, str]:
        """Alias → the comma-separated collections it points at (LISTALIASES)."""
        return dict(self.collections_admin("LISTALIASES").get("aliases", {}))

    def collection_names(self) -> list[str]:
        return sorted(self.collections_admin("LIST").get("collections", []))

    def drop(self, prefix: str) -> None:
        """Delete every alias, then every collection, whose name starts with ``prefix`` (test clean-up)."""
        for alias in self.aliases():
            if alias.startswith(prefix):
                self.collections_admin("DELETEALIAS", name=alias)
        for collection in self.collection_names():
            if collection.startswith(prefix):
                self.collections_admin("DELETE", name=collection)


def start_solrcloud(
    tmp_dir: str | os.PathLike[str], *, startup_timeout: float = 120.0, max_heap: str = "512m"
) -> SolrCloudServer:
    """Start a one-node SolrCloud in ``tmp_dir`` (empty or absent) and return once its node is live
    and the configset ``schemas/solr/`` is in ZooKeeper as ``contentcloud``; no collection exists yet.
    """
    base = Path(tmp_dir).resolve()
    if base.exists() and any(base.iterdir()):
        raise ServerError(f"solrcloud: {base} is not empty (a cluster starts in a fresh directory)")
    base.mkdir(parents=True, exist_ok=True)
    return SolrCloudServer(base, startup_timeout=startup_timeout, max_heap=max_heap).start()


# --------------------------------------------------------------------------------------------
# MongoDB wire


def start_mongo(*, port: int = 0, startup_timeout: float = 60.0, max_heap: str = "256m") -> ServerProcess:
    """Start an in-memory MongoDB-wire server (mongo-java-server) and return once it accepts clients.

    ``url`` is a ``mongodb://127.0.0.1:<port>`` URI for ``pymongo.MongoClient``. The data lives
    in memory only (so benchmarks pass a ``max_heap`` that holds their data): ``restart()`` keeps
    the port and loses every database.
    """
    lib = ensure_jars("mongo")
    java = java_executable()
    launcher = SERVERS_DIR / "mongo" / "MongoLauncher.java"

    def command(port: int) -> list[str]:
        return [
            java, f"-Xmx{max_heap}", "-XX:+UseSerialGC", "-Dlauncher.stdinWatchdog=true",
            "-cp", f"{lib}/*", str(launcher), str(port),
        ]  # fmt: skip

    return ServerProcess("mongo", command, startup_timeout=startup_timeout).start(port)


# --------------------------------------------------------------------------------------------
# Fuseki


def start_fuseki(*, port: int = 0, startup_timeout: float = 90.0, max_heap: str = "512m") -> ServerProcess:
    """Start Apache Jena Fuseki with one in-memory dataset and return once it accepts clients.

    ``url`` is the dataset's URL ``http://127.0.0.1:<port>/ds`` (services ``/query``, ``/update``,
    ``/data``). Nothing is kept on disk: ``restart()`` keeps the port and loses every graph.
    """
    lib = ensure_jars("fuseki")
    java = java_executable()
    launcher = SERVERS_DIR / "fuseki" / "FusekiLauncher.java"

    def command(port: int) -> list[str]:
        return [
            java, f"-Xmx{max_heap}", "-XX:+UseSerialGC", "-Dlauncher.stdinWatchdog=true",
            "-cp", f"{lib}/*", str(launcher), str(port),
        ]  # fmt: skip

    return ServerProcess("fuseki", command, startup_timeout=startup_timeout).start(port)


# --------------------------------------------------------------------------------------------


def _get_json(url: str, timeout: float) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:
        body = exc.read().decode("utf-8", "replace")
        try:
            message = json.loads(body)["error"]["msg"]
        except (ValueError, KeyError, TypeError):
            message = body[:500]
        raise ServerError(f"{url}: HTTP {exc.code}: {message}") from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise ServerError(f"{url}: {exc}") from exc


S = TypeVar("S", bound=ServerProcess)


def start_or_skip(what: str, start: Callable[[], S]) -> S:
    """Start a server for a test: a failure fails the run in CI and skips the test elsewhere."""
    import pytest

    try:
        return start()
    except ServerError as exc:
        if in_ci():
            pytest.fail(f"{what} did not start (CI is set, so this fails the run): {exc}", pytrace=False)
        pytest.skip(f"{what} not available: {exc}")
