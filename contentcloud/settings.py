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
        "mappings": str(PROJECT_ROOT / "mappings"),
        "keep_versions": 3,
        "lease_ttl": 3600,
        "error_rate": 0.05,
        "oai_secret": "",
        "public_url": "",
        "oai_repository_name": "contentcloud",
        "oai_admin_email": "oai-admin@contentcloud.local",
        "oai_repository_identifier": "contentcloud.local",
        "rdf": f"oxigraph://{var / 'rdf'}",
        # where the shipped mappings mint entity IRIs (the XSLT's and the X3ML policy's base)
        "rdf_base": "https://contentcloud.example/pe/",
        "sparql_timeout": 30.0,
        "sparql_max_bytes": 16 * 1024 * 1024,
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
    "error_rate": ("CONTENTCLOUD_ERROR_RATE", float),
    "oai_secret": ("CONTENTCLOUD_OAI_SECRET", str),
    "public_url": ("CONTENTCLOUD_PUBLIC_URL", str),
    "oai_repository_name": ("CONTENTCLOUD_OAI_REPOSITORY_NAME", str),
    "oai_admin_email": ("CONTENTCLOUD_OAI_ADMIN_EMAIL", str),
    "oai_repository_identifier": ("CONTENTCLOUD_OAI_REPOSITORY_IDENTIFIER", str),
    "rdf": ("CONTENTCLOUD_RDF", str),
    "rdf_base": ("CONTENTCLOUD_RDF_BASE", str),
    "sparql_timeout": ("CONTENTCLOUD_SPARQL_TIMEOUT", float),
    "sparql_max_bytes": ("CONTENTCLOUD_SPARQL_MAX_BYTES", int),
}

SECRET_FIELDS = {"oai_secret"}


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
    error_rate: float
    oai_secret: str
    public_url: str
    oai_repository_name: str
    oai_admin_email: str  # comma-separated for several
    oai_repository_identifier: str  # the domain-like name in oai:<repositoryIdentifier>:<record id>
    rdf: str  # the RDF store: oxigraph:///path (embedded, default var/rdf) or sparql+http://host/ds
    rdf_base: str  # entity IRIs under this base resolve at /resource/… (datasource graphs: {base}graph/<ds>)
    sparql_timeout: float  # seconds a /sparql query may run
    sparql_max_bytes: int  # bytes a /sparql answer may have
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
    if origins["rdf"] == "default":
        values["rdf"] = f"oxigraph://{Path(values['var_dir']) / 'rdf'}"
    _check_uri("mdstore", values["mdstore"], origins["mdstore"], ("sqlite", "mongodb", "mongodb+srv"))
    _check_uri("index", values["index"], origins["index"], ("sqlite", "http", "https"))
    _check_uri("rdf", values["rdf"], origins["rdf"], ("oxigraph", "sparql+http", "sparql+https"))
    return Settings(**values, origins=origins)


def secret_environment(environ: Mapping[str, str] | None = None) -> Mapping[str, str]:
    """What profile ``*_env`` fields (header tokens, FTP passwords) are resolved against.

    The process environment, read here at the edge like every other setting; steps receive the
    mapping and hand plain values down, so harvesters never read the environment themselves.
    """
    return os.environ if environ is None else environ


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
