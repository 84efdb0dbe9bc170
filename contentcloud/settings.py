"""Settings: flags, then environment, then defaults; built once at the edge and passed down.

Only this module reads the environment. Lower layers receive plain values (a URI, a path).
Each value remembers where it came from, so ``contentcloud settings show`` can say it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contentcloud.shipped import MAPPINGS_DIR
from mdstore.errors import ConfigError

ENV_PREFIX = "CONTENTCLOUD_"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Setting:
    """One value and its origin: ``flag``, ``env:NAME`` or ``default``."""

    value: Any
    origin: str


def _defaults(base: Path) -> dict[str, Any]:
    var = base / "var"
    return {
        "mdstore": f"sqlite:///{var / 'mdstore.sqlite'}",
        "index": f"sqlite:///{var / 'index.sqlite'}",
        "registry": str(base / "registry"),
        "var_dir": str(var),
        "files": f"file://{var / 'files'}",
        # the shipped mappings live with the code, wherever the command runs from
        "mappings": str(MAPPINGS_DIR),
        "keep_versions": 3,
        "lease_ttl": 3600,
        "writer_heartbeat": 10.0,
        "writer_timeout": 30.0,
        "error_rate": 0.05,
        "oai_secret": "",
        "public_url": "",
        "oai_repository_name": "contentcloud",
        "oai_admin_email": "oai-admin@contentcloud.local",
        "oai_repository_identifier": "contentcloud.local",
        "progress_interval": 10.0,
        "curator_users": "",
        "curator_tokens": "",
        "curator_credentials_file": "",
        "session_secret": "",
        "notify": "",
        "airflow_api": "",
        "airflow_token": "",
        "airflow_user": "",
        "airflow_password": "",
    }


#: setting name → (environment variable, type)
FIELDS: dict[str, tuple[str, type]] = {
    "mdstore": ("CONTENTCLOUD_MDSTORE", str),
    "index": ("CONTENTCLOUD_INDEX", str),
    "registry": ("CONTENTCLOUD_REGISTRY", str),
    "var_dir": ("CONTENTCLOUD_VAR", str),
    "files": ("CONTENTCLOUD_FILES", str),
    "mappings": ("CONTENTCLOUD_MAPPINGS", str),
    "keep_versions": ("CONTENTCLOUD_KEEP_VERSIONS", int),
    "lease_ttl": ("CONTENTCLOUD_LEASE_TTL", int),
    "writer_heartbeat": ("CONTENTCLOUD_WRITER_HEARTBEAT", float),
    "writer_timeout": ("CONTENTCLOUD_WRITER_TIMEOUT", float),
    "error_rate": ("CONTENTCLOUD_ERROR_RATE", float),
    "oai_secret": ("CONTENTCLOUD_OAI_SECRET", str),
    "public_url": ("CONTENTCLOUD_PUBLIC_URL", str),
    "oai_repository_name": ("CONTENTCLOUD_OAI_REPOSITORY_NAME", str),
    "oai_admin_email": ("CONTENTCLOUD_OAI_ADMIN_EMAIL", str),
    "oai_repository_identifier": ("CONTENTCLOUD_OAI_REPOSITORY_IDENTIFIER", str),
    "progress_interval": ("CONTENTCLOUD_PROGRESS_INTERVAL", float),
    "curator_users": ("CONTENTCLOUD_CURATOR_USERS", str),
    "curator_tokens": ("CONTENTCLOUD_CURATOR_TOKENS", str),
    "curator_credentials_file": ("CONTENTCLOUD_CURATOR_CREDENTIALS_FILE", str),
    "session_secret": ("CONTENTCLOUD_SESSION_SECRET", str),
    "notify": ("CONTENTCLOUD_NOTIFY", str),
    "airflow_api": ("CONTENTCLOUD_AIRFLOW_API", str),
    "airflow_token": ("CONTENTCLOUD_AIRFLOW_TOKEN", str),
    "airflow_user": ("CONTENTCLOUD_AIRFLOW_USER", str),
    "airflow_password": ("CONTENTCLOUD_AIRFLOW_PASSWORD", str),
}

#: shown as ``***``: keys, and the credential hashes (not secrets, but nothing to print either)
SECRET_FIELDS = {
    "oai_secret",
    "session_secret",
    "curator_users",
    "curator_tokens",
    "airflow_token",
    "airflow_password",
}


@dataclass(frozen=True)
class Settings:
    """The effective settings. Read values as attributes; ``origins`` says where each came from."""

    mdstore: str
    index: str
    registry: str
    var_dir: str
    files: str  # the downloaded-file store: file:///path (default var/files) or s3://bucket/prefix
    mappings: str
    keep_versions: int
    lease_ttl: int
    #: seconds between two heartbeats of an MDStore writer
    writer_heartbeat: float
    #: a writer on another host whose last heartbeat is older is presumed dead (``--force`` takes over)
    writer_timeout: float
    error_rate: float
    oai_secret: str
    public_url: str
    oai_repository_name: str
    oai_admin_email: str  # comma-separated for several
    oai_repository_identifier: str  # the domain-like name in oai:<repositoryIdentifier>:<record id>
    #: seconds between progress lines when stderr is not a terminal (logs, cron, CI)
    progress_interval: float = 10.0
    # curator-page accounts (contentcloud.auth): ``name:scrypt:…`` entries, ``name:sha256:…`` API
    # tokens, and a file of either (one per line, for Docker secrets); commas/whitespace separate
    curator_users: str = ""
    curator_tokens: str = ""
    curator_credentials_file: str = ""
    session_secret: str = ""  # the session-cookie key; empty: generated once into var/session_secret
    #: JSON list of failure notifiers for every datasource without a profile ``notify`` section
    notify: str = ""
    #: Airflow's REST API (``http://host:8080``): CLI commits emit asset events there when set
    airflow_api: str = ""
    #: a bearer token (JWT) for the REST API, else a user and password that obtain one
    airflow_token: str = ""
    airflow_user: str = ""
    airflow_password: str = ""
    origins: Mapping[str, str] = field(default_factory=dict, compare=False)

    def describe(self) -> list[tuple[str, str, str]]:
        """(name, masked value, origin) rows for display: passwords in URIs and secrets masked."""
        rows = []
        for name in FIELDS:
            value = getattr(self, name)
            shown = ("***" if value else "") if name in SECRET_FIELDS else mask_uri(str(value))
            rows.append((name, shown, self.origins.get(name, "default")))
        return rows

    @property
    def registry_path(self) -> Path:
        return Path(self.registry)

    def store_options(self) -> dict[str, Any]:
        """Keyword arguments of :func:`mdstore.open_store` from these settings."""
        return {
            "keep": self.keep_versions,
            "lease_ttl": self.lease_ttl,
            "heartbeat": self.writer_heartbeat,
            "writer_timeout": self.writer_timeout,
        }


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
    defaults = _defaults(base)
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for name, (env_name, kind) in FIELDS.items():
        if name in flags:
            raw, origin = flags[name], "flag"
        elif environ.get(env_name):
            raw, origin = environ[env_name], f"env:{env_name}"
        else:
            raw, origin = defaults[name], "default"
        try:
            values[name] = kind(raw)
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                f"{raw!r} is not a valid {kind.__name__}", file=origin, field=name, rule="type"
            ) from exc
        origins[name] = origin
    if origins["files"] == "default":  # follows CONTENTCLOUD_VAR when that is moved
        values["files"] = f"file://{Path(values['var_dir']) / 'files'}"
    _check_uri("mdstore", values["mdstore"], origins["mdstore"], ("sqlite", "mongodb", "mongodb+srv"))
    if not 0 < values["writer_heartbeat"] < values["writer_timeout"]:
        raise ConfigError(
            f"writer_timeout ({values['writer_timeout']:g} s) must be longer than a positive "
            f"writer_heartbeat ({values['writer_heartbeat']:g} s); three heartbeats is usual",
            file=origins["writer_timeout"],
            field="writer_timeout",
            rule="writer-timeout",
        )
    _check_uri("index", values["index"], origins["index"], ("sqlite", "http", "https"))
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


def _check_uri(name: str, uri: str, origin: str, schemes: tuple[str, ...]) -> None:
    scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
    if scheme not in schemes:
        raise ConfigError(
            f"{mask_uri(uri)!r} has no supported scheme (expected one of: "
            f"{', '.join(s + '://' for s in schemes)})",
            file=origin,
            field=name,
            rule="scheme",
        )
