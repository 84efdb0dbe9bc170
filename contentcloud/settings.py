"""Settings: flags, then environment, then defaults; built once at the edge and passed down.

Only this module reads the environment. Lower layers receive plain values (a URI, a path).
Each value remembers where it came from, so ``contentcloud settings show`` can say it.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contentcloud.shipped import MAPPINGS_DIR
from mdstore.errors import ConfigError

ENV_PREFIX = "CONTENTCLOUD_"


def setting(default: Any, help: str, *, env: str | None = None, secret: bool = False) -> Any:
    """Declare one field of :class:`Settings`, the only place a setting is declared.

    ``default``: a value, or a function of the base directory (paths under ``./var``); ``env``: the
    environment variable (default ``CONTENTCLOUD_`` + the upper-cased name); ``secret``: shown as
    ``***``. The field's annotation is its parser (``str``, ``int``, ``float``)."""
    return field(metadata={"default": default, "help": help, "env": env, "secret": secret})


@dataclass(frozen=True)
class Field:
    """One setting as :func:`load_settings` and ``settings show`` read it (from :class:`Settings`)."""

    name: str
    env: str
    default: Any  # a value, or a function of the base directory
    parse: Callable[[Any], Any]
    help: str
    secret: bool

    def default_for(self, base: Path) -> Any:
        return self.default(base) if callable(self.default) else self.default


@dataclass(frozen=True)
class Settings:
    """The effective settings. Read values as attributes; ``origins`` says where each came from."""

    mdstore: str = setting(
        lambda base: f"sqlite:///{base / 'var' / 'mdstore.sqlite'}",
        "the MDStore: sqlite:///path or mongodb://host/db (or a plugin backend's scheme)",
    )
    index: str = setting(
        lambda base: f"sqlite:///{base / 'var' / 'index.sqlite'}",
        "the search index: sqlite:///path or http(s)://host:8983/solr/<core> (or a plugin's scheme)",
    )
    registry: str = setting(lambda base: str(base / "registry"), "the datasource profiles (one YAML each)")
    var_dir: str = setting(
        lambda base: str(base / "var"),
        "working files: publisher index, download ledgers, generated keys",
        env="CONTENTCLOUD_VAR",
    )
    #: the default follows ``var_dir`` (see :func:`load_settings`)
    files: str = setting(
        lambda base: f"file://{base / 'var' / 'files'}",
        "the downloaded-file store: file:///path (default var/files) or s3://bucket/prefix",
    )
    # the shipped mappings live with the code, wherever the command runs from
    mappings: str = setting(str(MAPPINGS_DIR), "the mappings directory")
    keep_versions: int = setting(3, "committed versions kept per unit for rollback")
    lease_ttl: int = setting(3600, "seconds a read lease lasts without renewal")
    writer_heartbeat: float = setting(10.0, "seconds between two heartbeats of an MDStore writer")
    writer_timeout: float = setting(
        30.0,
        "seconds without a heartbeat before a writer on another host is presumed dead "
        "(--force takes over)",
    )
    error_rate: float = setting(0.05, "the share of records that may fail before a step fails")
    oai_secret: str = setting("", "the OAI-PMH resumption-token key (empty: generated once)", secret=True)
    public_url: str = setting("", "the public base URL of the web server")
    oai_repository_name: str = setting("contentcloud", "the OAI-PMH repositoryName")
    oai_admin_email: str = setting("oai-admin@contentcloud.local", "OAI-PMH adminEmail (comma-separated)")
    oai_repository_identifier: str = setting(
        "contentcloud.local", "the domain-like name in oai:<repositoryIdentifier>:<record id>"
    )
    progress_interval: float = setting(
        10.0, "seconds between progress lines when stderr is not a terminal (logs, cron, CI; 0: none)"
    )
    # curator-page accounts (contentcloud.auth): ``name:scrypt:…`` entries, ``name:sha256:…`` API
    # tokens, and a file of either (one per line, for Docker secrets); commas/whitespace separate;
    # the hashes are not secrets, but nothing to print either
    curator_users: str = setting("", "curator accounts (name:scrypt:… entries)", secret=True)
    curator_tokens: str = setting("", "curator API tokens (name:sha256:… entries)", secret=True)
    curator_credentials_file: str = setting("", "a file of curator accounts and tokens, one a line")
    session_secret: str = setting(
        "", "the session-cookie key (empty: generated once into var/session_secret)", secret=True
    )
    #: the RDF store: oxigraph:///path (embedded; the default follows ``var_dir``) or sparql+http://host/ds
    rdf: str = setting(
        lambda base: f"oxigraph://{base / 'var' / 'rdf'}",
        "the RDF store: oxigraph:///path (embedded, default var/rdf) or sparql+http(s)://host/<dataset>",
    )
    rdf_base: str = setting(
        "https://contentcloud.example/pe/",
        "entity IRIs under this base resolve at /resource/… (the mappings' base; graphs: {base}graph/<ds>)",
    )
    sparql_timeout: float = setting(30.0, "seconds a /sparql query may run")
    sparql_max_bytes: int = setting(16 * 1024 * 1024, "bytes a /sparql answer may have")
    notify: str = setting(
        "", "JSON list of failure notifiers for every datasource without a profile notify section"
    )
    airflow_api: str = setting(
        "", "Airflow's REST API (http://host:8080): CLI commits emit asset events there"
    )
    airflow_token: str = setting("", "a bearer token (JWT) for Airflow's REST API", secret=True)
    airflow_user: str = setting("", "an Airflow user that obtains a token (with airflow_password)")
    airflow_password: str = setting("", "the Airflow user's password", secret=True)
    probe_allow_networks: str = setting(
        "", "non-public networks (CIDR, comma-separated) the datasource pages may probe and register"
    )
    origins: Mapping[str, str] = field(default_factory=dict, compare=False)

    def describe(self) -> list[tuple[str, str, str]]:
        """(name, masked value, origin) rows for display: passwords in URIs and secrets masked."""
        rows = []
        for f in setting_fields():
            value = getattr(self, f.name)
            shown = ("***" if value else "") if f.secret else mask_uri(str(value))
            rows.append((f.name, shown, self.origins.get(f.name, "default")))
        return rows

    def store_options(self) -> dict[str, Any]:
        """Keyword arguments of :func:`mdstore.open_store` from these settings."""
        return {
            "keep": self.keep_versions,
            "lease_ttl": self.lease_ttl,
            "heartbeat": self.writer_heartbeat,
            "writer_timeout": self.writer_timeout,
        }


_PARSERS: dict[str, Callable[[Any], Any]] = {"str": str, "int": int, "float": float}


@functools.cache
def setting_fields() -> tuple[Field, ...]:
    """Every setting, in declaration order, read from the :class:`Settings` dataclass."""
    out = []
    for f in dataclasses.fields(Settings):
        if "help" not in f.metadata:
            continue  # ``origins``
        meta = f.metadata
        out.append(
            Field(
                name=f.name,
                env=meta["env"] or ENV_PREFIX + f.name.upper(),
                default=meta["default"],
                parse=_PARSERS[f.type if isinstance(f.type, str) else f.type.__name__],
                help=meta["help"],
                secret=meta["secret"],
            )
        )
    return tuple(out)


_URI_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@]*):(?P<pw>[^@/]*)@", re.I)


def mask_uri(uri: str) -> str:
    """``mongodb://user:secret@host`` → ``mongodb://user:***@host``."""
    return _URI_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:***@", uri)


def load_settings(
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    base_dir: str | Path | None = None,
) -> Settings:
    """Build the settings: flags (non-None values) > environment > defaults.

    ``base_dir`` anchors the defaults (``./var``, ``./registry``); it is the working directory
    unless given.
    """
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    environ = os.environ if environ is None else environ
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for f in setting_fields():
        if f.name in flags:
            raw, origin = flags[f.name], "flag"
        elif environ.get(f.env):
            raw, origin = environ[f.env], f"env:{f.env}"
        else:
            raw, origin = f.default_for(base), "default"
        try:
            values[f.name] = f.parse(raw)
        except (TypeError, ValueError) as exc:
            kind = getattr(f.parse, "__name__", "value")
            raise ConfigError(
                f"{raw!r} is not a valid {kind}", file=origin, field=f.name, rule="type"
            ) from exc
        origins[f.name] = origin
    if origins["files"] == "default":  # follows CONTENTCLOUD_VAR when that is moved
        values["files"] = f"file://{Path(values['var_dir']) / 'files'}"
    if origins["rdf"] == "default":  # follows CONTENTCLOUD_VAR too
        values["rdf"] = f"oxigraph://{Path(values['var_dir']) / 'rdf'}"
    _check_uri("mdstore", values["mdstore"], origins["mdstore"], _mdstore_schemes)
    if not 0 < values["writer_heartbeat"] < values["writer_timeout"]:
        raise ConfigError(
            f"writer_timeout ({values['writer_timeout']:g} s) must be longer than a positive "
            f"writer_heartbeat ({values['writer_heartbeat']:g} s); three heartbeats is usual",
            file=origins["writer_timeout"],
            field="writer_timeout",
            rule="writer-timeout",
        )
    _check_uri("index", values["index"], origins["index"], _index_schemes)
    _check_uri("files", values["files"], origins["files"], _file_store_schemes, bare_path=True)
    _check_uri("rdf", values["rdf"], origins["rdf"], _rdf_schemes)
    for name in ("mdstore", "index"):
        _check_sqlite_dir(name, values[name], origins[name], Path(values["var_dir"]))
    return Settings(**values, origins=origins)


def secret_environment(environ: Mapping[str, str] | None = None) -> Mapping[str, str]:
    """What profile ``*_env`` fields (header tokens, FTP passwords) are resolved against.

    The process environment, read here at the edge like every other setting; steps receive the
    mapping and hand plain values down, so harvesters never read the environment themselves.
    """
    return os.environ if environ is None else environ


def _check_sqlite_dir(name: str, uri: str, origin: str, var_dir: Path) -> None:
    """An SQLite file in a directory that does not exist is refused: a typo in a path would
    otherwise start an empty store somewhere unexpected. The defaults (under ``./var``) and paths in
    the state directory (``var_dir``, which CONTENTCLOUD_VAR may move) are the exception: created on
    first use."""
    if origin == "default" or not uri.lower().startswith("sqlite://"):
        return
    rest = uri.split("://", 1)[1]
    if not rest.startswith("/") or rest[1:] in ("", ":memory:"):
        return  # no file (the backend says so) or an in-memory store
    directory = Path(rest[1:]).parent
    if directory.is_dir():
        return
    resolved, var = directory.resolve(), var_dir.resolve()
    if resolved == var or var in resolved.parents:
        return
    raise ConfigError(
        f"the directory {directory} does not exist; create it (mkdir -p {directory}) or correct the path",
        file=origin,
        field=name,
        rule="directory",
    )


def _check_uri(
    name: str, uri: str, origin: str, schemes: Callable[[], list[str]], *, bare_path: bool = False
) -> None:
    """``uri``'s scheme must be one a backend serves: the registry's names, built-in or installed
    through an entry point. ``bare_path``: a path without a scheme is accepted too."""
    if bare_path and "://" not in uri:
        return
    scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
    if scheme and scheme in _BUILT_IN_SCHEMES.get(name, ()):
        return  # no need to look for plugins (a scan of the installed packages)
    known = schemes()
    if scheme not in known:
        raise ConfigError(
            f"{mask_uri(uri)!r} has no supported scheme (expected one of: "
            f"{', '.join(s + '://' for s in known)})",
            file=origin,
            field=name,
            rule="scheme",
        )


def _mdstore_schemes() -> list[str]:
    from mdstore.registry import schemes

    return schemes()


def _index_schemes() -> list[str]:
    from provision.registry import schemes

    return schemes()


def _file_store_schemes() -> list[str]:
    from harvesters.download.filestore import FILE_STORES

    return FILE_STORES.names(in_order=True)


def _rdf_schemes() -> list[str]:
    from provision.rdf.registry import schemes

    return schemes()


#: the schemes every installation serves, accepted without reading the registries
_BUILT_IN_SCHEMES = {"mdstore": ("sqlite",), "index": ("sqlite",), "files": ("file",), "rdf": ("oxigraph",)}
