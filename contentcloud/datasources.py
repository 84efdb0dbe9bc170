"""The datasource registry: a directory of YAML profiles, one per data source.

Each profile is validated against ``schemas/datasource.schema.json``; an error names the file,
the field and the rule broken (``registry/demo.yaml: api.baseurl: 'ftp://x' does not match …``).
Profiles are data only: secrets come from environment variables named in ``*_env`` fields.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import yaml

from contentcloud.sections import IndexSection, Limits, PublishSection, RdfSection, TransformSection
from contentcloud.shipped import SCHEMAS_DIR
from mdstore.envelope import UnitKey
from mdstore.errors import ConfigError
from mdstore.redact import has_userinfo, mask_url

logger = logging.getLogger(__name__)

SCHEMA_PATH = SCHEMAS_DIR / "datasource.schema.json"
PROFILE_SUFFIXES = (".yaml", ".yml")


@cache
def _validator():
    from jsonschema import Draft202012Validator

    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


@dataclass(frozen=True)
class Datasource:
    """A validated datasource profile."""

    id: str
    name: str
    nsprefix: str
    api: dict[str, Any]
    path: Path | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def protocol(self) -> str:
        return self.api["protocol"]

    @property
    def enabled(self) -> bool:
        return bool(self.raw.get("enabled", True))

    @cached_property
    def api_section(self) -> Any:
        """The typed ``api`` section of the protocol's harvester (secrets not resolved: the collect
        step resolves them and builds its own)."""
        from harvesters.ftp import FtpApi
        from harvesters.http.harvester import HttpApi
        from harvesters.oai.harvester import OaiApi

        sections: dict[str, Any] = {"oai": OaiApi, "ftp": FtpApi, "http": HttpApi}
        return sections[self.protocol].from_mapping(self.api)

    @property
    def native_format(self) -> str:
        """The harvested format: the OAI metadataPrefix, else the api's ``format`` (default xml)."""
        if self.protocol == "oai":
            return self.api["metadata_prefix"]
        return self.api_section.format

    @property
    def native_unit(self) -> UnitKey:
        return UnitKey(self.id, self.native_format, "store", "native")

    @property
    def transformed_format(self) -> str:
        return self.transform.target_format

    @property
    def transformed_unit(self) -> UnitKey:
        return UnitKey(self.id, self.transformed_format, "store", "transformed")

    @cached_property
    def transform(self) -> TransformSection:
        return TransformSection.from_mapping(self.section("transform"))

    @cached_property
    def index(self) -> IndexSection:
        return IndexSection.from_mapping(self.section("index"))

    @cached_property
    def rdf(self) -> RdfSection:
        return RdfSection.from_mapping(self.section("rdf"))

    @cached_property
    def publish(self) -> PublishSection:
        return PublishSection.from_mapping(self.section("publish"))

    @cached_property
    def limits(self) -> Limits:
        return Limits.from_mapping(self.section("limits"))

    def section(self, name: str) -> dict[str, Any]:
        """An optional profile section as written (``transform``, ``index``, ``publish``,
        ``download``…) or {}; the typed ones are :attr:`transform`, :attr:`index`,
        :attr:`rdf`, :attr:`publish` and :attr:`limits`."""
        value = self.raw.get(name)
        return dict(value) if isinstance(value, dict) else {}

    @property
    def schedule(self) -> Any:
        return self.raw.get("schedule")


def _offending_fields(error) -> list[str]:
    """The fields of the object an object-level error (``required``, ``additionalProperties``) is
    about, read from the error's own fields (``validator_value``, ``instance``, ``schema``), not
    parsed back out of its message: the missing ones, or the unknown ones in profile order."""
    if not isinstance(error.instance, dict) or not isinstance(error.schema, dict):
        return []
    if error.validator == "required":
        return sorted(name for name in error.validator_value if name not in error.instance)
    if error.validator == "additionalProperties":
        known = error.schema.get("properties", {})
        patterns = error.schema.get("patternProperties", {})
        return [
            name
            for name in error.instance
            if name not in known and not any(re.search(pattern, name) for pattern in patterns)
        ]
    return []


def validate_profile(data: Any, *, file: str | Path = "<profile>") -> list[ConfigError]:
    """All schema violations of one profile, each a :class:`ConfigError` naming field and rule."""
    if not isinstance(data, dict):
        return [
            ConfigError(
                f"a profile is a mapping, got {type(data).__name__}",
                file=str(file),
                field="(top level)",
                rule="type",
            )
        ]
    errors = []
    missing_reported: set[str] = set()
    for error in sorted(
        _validator().iter_errors(data), key=lambda e: (list(map(str, e.absolute_path)), e.message)
    ):
        # "if/then" failures repeat the inner error; report the inner ones only
        if error.validator in ("if", "allOf") and error.context:
            continue
        where = [str(p) for p in error.absolute_path]
        if error.validator == "required":  # jsonschema: one error per missing field; one each here
            for name in _offending_fields(error):
                path = ".".join([*where, name])
                if path not in missing_reported:
                    missing_reported.add(path)
                    message = f"{name!r} is a required property"
                    errors.append(ConfigError(message, file=str(file), field=path, rule="required"))
            continue
        message = error.message
        hint = error.schema.get("x-message") if isinstance(error.schema, dict) else None
        if hint:
            message = f"{error.instance!r} {hint}"
        elif error.validator == "additionalProperties":
            message = f"unknown field ({error.message})"
            where += _offending_fields(error)[:1]
        path = ".".join(where) or "(top level)"
        errors.append(ConfigError(message, file=str(file), field=path, rule=error.validator))
    errors.extend(_credentials_in_urls(data, file))
    return errors


def _credentials_in_urls(data: Any, file: str | Path, path: tuple[str, ...] = ()) -> list[ConfigError]:
    """Every URL of the profile that holds a user name or password (``http://user:pass@host``).

    Such a URL would be printed in logs and summaries, stored in reports and published in the
    OAI provenance; the profile names the user and the environment variable of the password.
    """
    found: list[ConfigError] = []
    if isinstance(data, dict):
        for key, value in data.items():
            found.extend(_credentials_in_urls(value, file, (*path, str(key))))
    elif isinstance(data, list):
        for n, value in enumerate(data):
            found.extend(_credentials_in_urls(value, file, (*path, str(n))))
    elif isinstance(data, str) and "://" in data and has_userinfo(data.strip()):
        found.append(
            ConfigError(
                f"{mask_url(data.strip())!r} holds credentials, which would be logged, stored and "
                f"published: give the user as api.username and the password in an environment "
                f"variable named by api.password_env",
                file=str(file),
                field=".".join(path) or "(top level)",
                rule="no-credentials-in-url",
            )
        )
    return found


def load_profile(path: str | Path) -> Datasource:
    """Read and validate one YAML profile; raises the first :class:`ConfigError` found."""
    path = Path(path)
    errors = check_profile_file(path)
    if errors:
        raise errors[0]
    return _build(path, yaml.safe_load(path.read_text(encoding="utf-8")))


def check_profile_file(path: str | Path) -> list[ConfigError]:
    """Every problem of one profile file: unreadable, not YAML, or schema violations."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return [ConfigError(f"cannot read: {exc.strerror or exc}", file=str(path), rule="readable")]
    except UnicodeDecodeError as exc:
        return [ConfigError(f"not UTF-8 text (byte {exc.start})", file=str(path), rule="readable")]
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        return [ConfigError(f"not valid YAML: {problem}", file=where, rule="yaml")]
    return validate_profile(data, file=path)


#: profile fields still accepted but replaced: field -> what to write instead
DEPRECATED_FIELDS = {
    ("transform", "max_error_rate"): "limits.max_error_rate (one error rate for every step)",
}
_warned: set[tuple[str, str]] = set()


def deprecations(data: dict[str, Any]) -> list[tuple[str, str]]:
    """The deprecated fields a valid profile uses, each with its replacement."""
    found = []
    for (section, name), instead in DEPRECATED_FIELDS.items():
        value = data.get(section)
        if isinstance(value, dict) and name in value:
            found.append((f"{section}.{name}", instead))
    return found


def file_deprecations(path: str | Path) -> list[tuple[str, str]]:
    """:func:`deprecations` of a profile file that :func:`check_profile_file` found valid."""
    return deprecations(yaml.safe_load(Path(path).read_text(encoding="utf-8")))


def _warn_deprecated(path: Path | None, data: dict[str, Any]) -> None:
    """Log each deprecated field once per profile file (the registry is scanned again and again)."""
    where = str(path) if path else f"profile {data.get('id')!r}"
    for name, instead in deprecations(data):
        if (where, name) not in _warned:
            _warned.add((where, name))
            logger.warning("%s: %s is deprecated: use %s", where, name, instead)


def _build(path: Path | None, data: dict[str, Any]) -> Datasource:
    _warn_deprecated(path, data)
    return Datasource(
        id=data["id"],
        name=data["name"],
        nsprefix=data["nsprefix"],
        api=dict(data["api"]),
        path=path,
        raw=data,
    )


def profile_from_dict(data: dict[str, Any], *, file: str = "<profile>") -> Datasource:
    """Validate an in-memory profile (tests, the demo) and build it."""
    errors = validate_profile(data, file=file)
    if errors:
        raise errors[0]
    return _build(None, data)


@dataclass(frozen=True)
class InvalidProfile:
    """A profile file of the registry that cannot be used, and why (its first problem)."""

    path: Path
    id: str | None
    error: ConfigError

    @property
    def reason(self) -> str:
        """The problem without the file name (the listing shows the file in its own column)."""
        error = self.error
        where = str(error.field) if error.field not in (None, "") else ""
        return f"{where}: {error.message}" if where else error.message


class DatasourceRegistry:
    """All profiles of a directory; ids must be unique across files.

    One broken profile does not take the others down: :meth:`all` returns the valid ones and logs
    each invalid one (``datasource list`` shows them with the reason); asking for an invalid one by
    id (:meth:`get`) raises its error.
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def files(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return sorted(p for p in self.directory.iterdir() if p.suffix in PROFILE_SUFFIXES and p.is_file())

    def __iter__(self) -> Iterator[Datasource]:
        return iter(self.all())

    def scan(self) -> tuple[list[Datasource], list[InvalidProfile]]:
        """Every profile, split into the valid ones and the invalid ones (in file order). Of two
        files with one id, the first (by name) is used and the second is invalid."""
        seen: dict[str, Path] = {}
        valid: list[Datasource] = []
        invalid: list[InvalidProfile] = []
        for path in self.files():
            errors = check_profile_file(path)
            data = None if errors else yaml.safe_load(path.read_text(encoding="utf-8"))
            if errors:
                invalid.append(InvalidProfile(path, _readable_id(path), errors[0]))
                continue
            ds = _build(path, data)
            if ds.id in seen:
                invalid.append(
                    InvalidProfile(
                        path,
                        ds.id,
                        ConfigError(
                            f"duplicate datasource id {ds.id!r} (also in {seen[ds.id]})",
                            file=str(path),
                            field="id",
                            rule="unique",
                        ),
                    )
                )
                continue
            seen[ds.id] = path
            valid.append(ds)
        return valid, invalid

    def all(self) -> list[Datasource]:
        """Every valid profile; each invalid one is logged and left out, so the others still run."""
        valid, invalid = self.scan()
        for bad in invalid:
            logger.warning("%s: profile skipped: %s", bad.path, bad.reason)
        return valid

    def invalid(self) -> list[InvalidProfile]:
        return self.scan()[1]

    def get(self, datasource_id: str) -> Datasource:
        valid, invalid = self.scan()
        for ds in valid:
            if ds.id == datasource_id:
                return ds
        for bad in invalid:
            if datasource_id in (bad.id, bad.path.stem):
                raise ConfigError(
                    f"the profile of {datasource_id!r} is invalid: {bad.reason}; fix it "
                    f"(contentcloud datasource validate {bad.path})",
                    file=str(bad.path),
                    field=bad.error.field,
                    rule=bad.error.rule,
                )
        known = ", ".join(ds.id for ds in valid) or "none"
        raise ConfigError(
            f"unknown datasource {datasource_id!r}; known: {known}",
            file=str(self.directory),
            field="id",
            rule="exists",
        )


def _readable_id(path: Path) -> str | None:
    """The ``id`` of a profile that failed validation, when the file still says one."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    value = data.get("id") if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


# --- writing profiles (the datasource pages and ``contentcloud datasource add``) -------------------

#: the first line of a profile written by contentcloud (reviewable in git like a hand-written one)
WRITTEN_HEADER = "# written by contentcloud (datasource pages / contentcloud datasource add); edit freely\n"


def write_profile(directory: str | Path, data: dict[str, Any], *, replace: bool = False) -> Path:
    """Validate ``data`` against the schema and write it as ``<registry>/<id>.yaml``.

    One file per source, plain block YAML in the order given, so a change is a readable diff.
    A new source must not reuse an id of the registry (in any file); ``replace`` rewrites the
    source's own file (an edit; comments of a hand-written file are not kept). Written aside and
    renamed into place, so a reader never sees half a profile. Raises the first
    :class:`ConfigError` (use :func:`validate_profile` for all of them).
    """
    directory = Path(directory)
    name = f"{data.get('id')}.yaml" if isinstance(data, dict) else "<profile>"
    errors = validate_profile(data, file=directory / name)
    if errors:
        raise errors[0]
    target = directory / f"{data['id']}.yaml"
    registry = DatasourceRegistry(directory)
    existing = [p for p in registry.files() if data["id"] in (p.stem, _readable_id(p))]
    if existing and not replace:
        raise ConfigError(
            f"a datasource {data['id']!r} is already registered ({existing[0].name})",
            file=str(existing[0]),
            field="id",
            rule="unique",
        )
    if replace and existing and existing[0] != target:
        target = existing[0]  # a hand-written profile keeps its file name
    if not directory.is_dir():
        raise ConfigError("the registry directory does not exist", file=str(directory), rule="exists")
    body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False)
    text = WRITTEN_HEADER + body
    temp = target.with_name(f".{target.name}.tmp")
    temp.write_text(text, encoding="utf-8")
    temp.replace(target)
    logger.info("%s: profile written", target)
    return target


def remove_profile(directory: str | Path, datasource_id: str) -> Path:
    """Delete the profile file of ``datasource_id`` (its stored data and run history stay: an
    operator removes those with ``contentcloud mdstore``)."""
    registry = DatasourceRegistry(directory)
    for path in registry.files():
        if datasource_id in (path.stem, _readable_id(path)):
            path.unlink()
            logger.info("%s: profile deleted", path)
            return path
    raise ConfigError(f"unknown datasource {datasource_id!r}", file=str(directory), field="id", rule="exists")
