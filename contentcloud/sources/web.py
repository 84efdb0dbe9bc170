"""The datasource pages and their JSON API, mounted at ``/curator/sources`` behind the curator login.

Routes (relative to the mount point); every one needs a login (the curator's session cookie, or
``Authorization: Bearer <token>``), and every POST, PUT and DELETE of a browser session carries
the session's CSRF token (the form's ``csrf_token`` field, or the ``X-CSRF-Token`` header):

Pages
  ``GET /``                         the registered sources, their last run, links
  ``GET|POST /new?protocol=oai``    register: base URL → probe (Identify, formats, sets, a sample,
                                    the server's speed) → format, sets, schedule, mapping → saved
                                    (FTP and HTTP: a form of the schema's connector fields)
  ``GET /s/<id>``                   a source: profile, run now, edit, enable/disable, delete, the
                                    history of its runs (plots and table), completeness links
  ``GET|POST /s/<id>/edit``         the same form, filled in
  ``POST /s/<id>/run``              start a run (Airflow when configured, else in this process)
  ``POST /s/<id>/enable``           ``enabled=0|1``
  ``GET|POST /s/<id>/delete``       confirmation, then the profile file is deleted
  ``GET /s/<id>/completeness``      per-field completeness (``kind=native|transformed``);
                                    ``…/completeness.csv`` and ``…/completeness.json`` download it

JSON API (``/api``)
  ``GET|POST /api/datasources``             list; register (a profile as JSON → 201)
  ``GET|PUT|DELETE /api/datasources/<id>``  one profile; replace it; delete it
  ``GET /api/datasources/<id>/runs``        the run history (``limit``)
  ``POST /api/datasources/<id>/run``        start a run (202)
  ``GET /api/datasources/<id>/completeness``  ``kind=native|transformed``, ``format=json|csv``
  ``POST /api/probe``                       ``{"url", "protocol", "metadata_prefix", "set"}``

Profiles are validated against the schema and written by :func:`contentcloud.datasources.
write_profile` (one YAML file per source, the writer ``contentcloud datasource add`` uses). A
run is Airflow's DAG run when ``CONTENTCLOUD_AIRFLOW_API`` is set
(:func:`contentcloud.events.trigger_dag_run`), else :func:`contentcloud.pipeline.runs.
run_datasource` in a background thread of this process (one at a time per source); either way
it ends in the run report, which adds it to the run history the source's page shows.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from contentcloud.auth import Authenticator, Identity, csrf_matches
from contentcloud.curator.web import PRIVATE_HEADERS, HttpError, refusal
from mdstore.errors import ConfigError, ContentcloudError, OrchestratorError

if TYPE_CHECKING:
    from contentcloud.settings import Settings

logger = logging.getLogger(__name__)

MAX_BODY = 256 * 1024
SCHEDULES = ("", "@hourly", "@daily", "@weekly", "@monthly")
MAPPING_SUFFIXES = (".xsl", ".xslt", ".x3ml")
PROTOCOLS = ("oai", "ftp", "http")
#: the common fields of every form; the rest of the api section comes from the schema
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
StartResponse = Callable[..., Any]


def _blank(value: Any) -> Any:
    """None prints as nothing (a missing message, outcome or sample identifier)."""
    return "" if value is None else value


def _count(value: int | None) -> str:
    """A count of the history, or "-" for a run without that step."""
    return "-" if value is None else str(value)


#: the pages' templates (templates/): every value is HTML-escaped unless it is Markup, which only
#: our own rendered templates, the SVG plots and the constant style are
_TEMPLATES = Environment(
    loader=PackageLoader("contentcloud.sources"), autoescape=True, undefined=StrictUndefined, finalize=_blank
)
_TEMPLATES.globals["count"] = _count


def render(template: str, **values: Any) -> Markup:
    """One template of templates/, rendered with autoescape."""
    return Markup(_TEMPLATES.get_template(template).render(**values))  # noqa: S704 -- autoescaped output


class Request:
    """One request: method, path, query, the body's fields (form or JSON) and who sent it."""

    def __init__(self, environ: dict, identity: Identity) -> None:
        self.environ = environ
        self.identity = identity
        self.method = environ.get("REQUEST_METHOD", "GET")
        self.path = environ.get("PATH_INFO", "") or "/"
        self.base = environ.get("SCRIPT_NAME", "").rstrip("/")
        self.query = parse_qs(environ.get("QUERY_STRING", ""))
        self.form: dict[str, list[str]] = {}
        self.json: Any = None
        self.api = self.path.startswith("/api/")
        if self.method in ("POST", "PUT", "DELETE"):
            body = _read_body(environ)
            content_type = str(environ.get("CONTENT_TYPE") or "")
            if content_type.startswith("application/json"):
                try:
                    self.json = json.loads(body or b"null")
                except ValueError:
                    raise HttpError("400 Bad Request", "the body is not valid JSON") from None
            else:
                self.form = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)

    def field(self, name: str, default: str = "") -> str:
        values = self.form.get(name) or self.query.get(name)
        return values[0].strip() if values else default

    def fields(self, name: str) -> list[str]:
        return [v.strip() for v in self.form.get(name, []) if v.strip()]

    @property
    def csrf(self) -> str:
        return str(self.environ.get("HTTP_X_CSRF_TOKEN") or "") or (self.form.get("csrf_token") or [""])[0]


def _read_body(environ: dict) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise HttpError("400 Bad Request", "Content-Length is not a number") from None
    if length > MAX_BODY:
        raise HttpError("413 Content Too Large", f"the request is larger than {MAX_BODY // 1024} KiB")
    data = environ["wsgi.input"].read(length) if length > 0 else b""
    return data[:MAX_BODY]


# --- runs --------------------------------------------------------------------------------------------


class Runs:
    """Runs started from the pages: Airflow DAG runs when its API is configured, else one
    background thread per source running :func:`run_datasource` (a second start is refused)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._state: dict[str, dict[str, Any]] = {}

    def state(self, datasource_id: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._state.get(datasource_id)
            return dict(found) if found else None

    def start(self, datasource_id: str, user: str | None) -> dict[str, Any]:
        from contentcloud.pipeline.summary import new_run_id

        if self.settings.airflow_api:
            from contentcloud.events import trigger_dag_run

            try:
                started = trigger_dag_run(self.settings, datasource_id, {"mode": "scheduled"})
            except OrchestratorError as exc:
                with self._lock:  # the source's page says why no run started
                    self._state[datasource_id] = {
                        "where": "airflow",
                        "state": "not triggered",
                        "message": str(exc),
                    }
                raise
            logger.info("%s started a run of %s in Airflow: %s", user, datasource_id, started["dag_run_id"])
            state = {"where": "airflow", "state": "queued", **started, "by": user}
            with self._lock:  # shown on the source's page; Airflow's UI follows the run itself
                self._state[datasource_id] = state
            return dict(state)
        run_id = new_run_id("run")
        with self._lock:
            current = self._state.get(datasource_id)
            if current and current["state"] == "running":
                raise HttpError("409 Conflict", f"{datasource_id} is running already ({current['run_id']})")
            state = {
                "where": "in-process",
                "state": "running",
                "run_id": run_id,
                "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "by": user,
            }
            self._state[datasource_id] = state
        thread = threading.Thread(
            target=self._run, args=(datasource_id, run_id), name=f"run {datasource_id}", daemon=True
        )
        thread.start()
        logger.info("%s started run %s of %s in this process", user, run_id, datasource_id)
        return dict(state)

    def _run(self, datasource_id: str, run_id: str) -> None:
        from contentcloud.history import run_outcome
        from contentcloud.pipeline.runs import run_datasource

        try:
            report = run_datasource(datasource_id, self.settings, run_id=run_id)
            update = {"state": "finished", "outcome": run_outcome(report["steps"])}
        except Exception as exc:  # the thread must record any end, or the source stays "running"
            logger.exception("run %s of %s failed", run_id, datasource_id)
            update = {"state": "finished", "outcome": "failed", "message": str(exc)}
        with self._lock:
            self._state[datasource_id].update(update)


# --- profiles from forms -----------------------------------------------------------------------------


def schema_fields(protocol: str) -> list[tuple[str, dict[str, Any]]]:
    """The ``api`` fields of a protocol in the schema (``protocol`` itself left out)."""
    from contentcloud.datasources import SCHEMA_PATH

    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    properties = schema["$defs"][protocol]["properties"]
    return [(name, spec) for name, spec in properties.items() if name != "protocol"]


def _field_type(spec: dict[str, Any]) -> str:
    if "$ref" in spec:
        return "string"
    kind = spec.get("type", "string")
    return kind if isinstance(kind, str) else "string"


def api_from_form(request: Request, protocol: str, *, keep: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``api`` section from the form's ``api.<field>`` inputs, typed by the schema. An empty
    input leaves the field out (its default applies); fields the form does not show are kept
    from ``keep`` (the profile being edited)."""
    api: dict[str, Any] = {"protocol": protocol}
    shown = set(request.fields("api_fields")) if "api_fields" in request.form else None
    for name, spec in schema_fields(protocol):
        key = f"api.{name}"
        kind = _field_type(spec)
        if shown is not None and name not in shown:
            if keep and name in keep:
                api[name] = keep[name]
            continue
        if kind == "boolean":
            if key in request.form:  # the last value: a checked box follows its hidden "0"
                api[name] = request.form[key][-1].strip() in ("1", "true", "on")
            continue
        if kind == "array" and name == "sets":
            values = request.fields("api.sets")
            if values:
                api["sets"] = values
            continue
        text = request.field(key)
        if not text:
            continue
        if kind == "integer":
            try:
                api[name] = int(text)
            except ValueError:
                raise ConfigError(
                    f"{text!r} is not a whole number", field=f"api.{name}", rule="type"
                ) from None
        elif kind == "number":
            try:
                api[name] = float(text) if "." in text else int(text)
            except ValueError:
                raise ConfigError(f"{text!r} is not a number", field=f"api.{name}", rule="type") from None
        elif kind == "array":
            api[name] = [part.strip() for part in text.split(",") if part.strip()]
        elif kind == "object":
            try:
                value = json.loads(text)
            except ValueError:
                raise ConfigError("is not a JSON object", field=f"api.{name}", rule="type") from None
            api[name] = value
        else:
            api[name] = text
    return api


def profile_from_form(
    request: Request, protocol: str, mappings: Path, *, existing: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A profile from the form (``existing``: the profile being edited, whose other sections stay)."""
    data: dict[str, Any] = dict(existing or {})
    data["id"] = existing["id"] if existing else request.field("id")
    data["name"] = request.field("name") or data["id"]
    nsprefix = request.field("nsprefix") or re.sub(r"[^A-Za-z0-9_]", "_", data["id"])[:32]
    data["nsprefix"] = nsprefix
    description = request.field("description")
    if description:
        data["description"] = description
    else:
        data.pop("description", None)
    data["enabled"] = request.field("enabled") in ("1", "true", "on")
    data["api"] = api_from_form(request, protocol, keep=(existing or {}).get("api"))
    schedule = request.field("schedule")
    if schedule:
        data["schedule"] = schedule
    else:
        data.pop("schedule", None)
    mapping = request.field("mapping")
    if mapping:
        if mapping not in mapping_files(mappings):
            raise ConfigError(
                f"{mapping!r} is not a mapping of the mappings directory", field="mapping", rule="exists"
            )
        kind = "x3ml" if mapping.endswith(".x3ml") else "xslt"
        step: dict[str, Any] = {"type": kind, "mapping": mapping}
        policy = request.field("policy")
        if kind == "x3ml" and policy:
            step["policy"] = policy
        transform = dict(data.get("transform") or {})
        steps = [dict(s) for s in transform.get("steps") or []]
        first = next((i for i, s in enumerate(steps) if s.get("type") in ("xslt", "x3ml")), None)
        if first is None:
            steps.insert(0, step)
        else:
            # the same kind of step keeps its other options (time_limit, params…); another kind starts afresh
            kept = steps[first] if steps[first].get("type") == kind else {}
            steps[first] = {**{k: v for k, v in kept.items() if k != "policy"}, **step}
        transform["steps"] = steps
        data["transform"] = transform
    elif request.field("mapping_none") and "transform" in data:
        data.pop("transform")
    return data


def mapping_files(root: Path) -> list[str]:
    """XSLT and X3ML files at the top of the mappings directory."""
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_file() and p.suffix.lower() in MAPPING_SUFFIXES)


def policy_files(root: Path) -> list[str]:
    directory = root / "policies"
    if not directory.is_dir():
        return []
    return sorted(f"policies/{p.name}" for p in directory.iterdir() if p.is_file() and p.suffix == ".xml")


def current_mapping(profile: dict[str, Any], key: str = "mapping") -> str:
    """The first mapping step's mapping (or its ``policy``), as the form shows it."""
    for step in (profile.get("transform") or {}).get("steps") or []:
        if (
            isinstance(step, dict)
            and step.get("type") in ("xslt", "x3ml")
            and isinstance(step.get("mapping"), str)
        ):
            value = step.get(key)
            return value if isinstance(value, str) else ""
    return ""


def error_dict(error: ConfigError) -> dict[str, Any]:
    return {"field": error.field, "rule": error.rule, "message": error.message}


# --- the app -----------------------------------------------------------------------------------------


class SourcesApp:
    """WSGI app of the datasource pages and API (see the module docstring)."""

    def __init__(self, settings: Settings, authenticator: Authenticator | None = None) -> None:
        self.settings = settings
        self.auth = authenticator if authenticator is not None else Authenticator.from_settings(settings)
        self.runs = Runs(settings)
        self._heavy = threading.BoundedSemaphore(2)

    @property
    def registry_dir(self) -> Path:
        return Path(self.settings.registry)

    @property
    def mappings(self) -> Path:
        return Path(self.settings.mappings)

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        base = environ.get("SCRIPT_NAME", "").rstrip("/")
        method = environ.get("REQUEST_METHOD", "GET")
        api = path.startswith("/api/")
        identity = Identity(None)
        headers: list[tuple[str, str]] = []
        content_type = "application/json" if api else "text/html; charset=utf-8"
        try:
            if method not in ("GET", "HEAD", "POST", "PUT", "DELETE"):
                raise HttpError("405 Method Not Allowed", "use GET, POST, PUT or DELETE")
            identity = self.auth.identify(environ)
            if identity.user is None:
                # anonymous browsers go to the curator login, back here after it (not from the API)
                raise refusal(environ, base + path, self.login_base(base), identity, redirect=not api)
            if method in ("POST", "PUT", "DELETE") and identity.needs_csrf:
                request = Request(environ, identity)
                if not csrf_matches(identity, request.csrf):
                    logger.warning(
                        "sources: %s by %s without a valid CSRF token refused", method, identity.user
                    )
                    raise HttpError(
                        "403 Forbidden", "the form has expired or did not come from this site; reload it"
                    )
            else:
                request = Request(environ, identity)
            status, body, headers, content_type = self.route(request)
        except HttpError as exc:
            status, headers = exc.status, exc.headers
            body = self.error_body(api, base, exc.status, exc.message, identity)
        except ConfigError as exc:
            status = "404 Not Found" if exc.rule == "exists" else "400 Bad Request"
            body = self.error_body(api, base, status, str(exc), identity, [error_dict(exc)])
        except OrchestratorError as exc:
            status = "502 Bad Gateway"
            body = self.error_body(api, base, status, str(exc), identity)
        except ContentcloudError as exc:
            status = "409 Conflict"
            body = self.error_body(api, base, status, str(exc), identity)
        except Exception:
            logger.exception("sources page %s failed", path)
            status = "500 Internal Server Error"
            body = self.error_body(api, base, status, "the page failed; see the server log", identity)
        if status.startswith(("4", "5")):
            content_type = "application/json" if api else "text/html; charset=utf-8"
        data = body.encode("utf-8")
        headers = [
            ("Content-Type", content_type),
            ("Content-Length", str(len(data))),
            *PRIVATE_HEADERS,
            (
                "Content-Security-Policy",
                "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
                "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
            ),
            *headers,
        ]
        start_response(status, headers)
        return [] if method == "HEAD" else [data]

    @staticmethod
    def login_base(base: str) -> str:
        """The curator app's mount point (this app is mounted below it, at ``/sources``)."""
        return base.rsplit("/", 1)[0] if base.endswith("/sources") else base

    # --- routing -------------------------------------------------------------------------------
    def route(self, request: Request) -> tuple[str, str, list[tuple[str, str]], str]:
        path, method = request.path, request.method
        html_type = "text/html; charset=utf-8"
        if request.api:
            status, data, headers, content_type = self.api(request)
            return status, data, headers, content_type
        if path in ("/", ""):
            return "200 OK", self.list_page(request), [], html_type
        if path == "/new":
            return self.new_page(request)
        found = re.fullmatch(r"/s/([^/]+)(/[a-z.]+)?", path)
        if not found:
            raise HttpError("404 Not Found", f"no page {path}")
        datasource_id, action = found.group(1), found.group(2) or ""
        if not ID_PATTERN.match(datasource_id):
            raise HttpError("404 Not Found", "no such datasource")
        if action == "" and method in ("GET", "HEAD"):
            return "200 OK", self.source_page(request, datasource_id), [], html_type
        if action == "/edit":
            return self.edit_page(request, datasource_id)
        if action == "/run" and method == "POST":
            self._exists(datasource_id)
            self.runs.start(datasource_id, request.identity.user)
            return self.redirect(f"{request.base}/s/{datasource_id}")
        if action == "/enable" and method == "POST":
            self.set_enabled(datasource_id, request.field("enabled") == "1")
            return self.redirect(f"{request.base}/s/{datasource_id}")
        if action == "/delete":
            if method == "POST":
                self._exists(datasource_id)
                from contentcloud.datasources import remove_profile

                remove_profile(self.registry_dir, datasource_id)
                logger.info("%s deleted the profile of %s", request.identity.user, datasource_id)
                return self.redirect(f"{request.base}/?deleted={quote(datasource_id)}")
            return "200 OK", self.delete_page(request, datasource_id), [], html_type
        if action in ("/completeness", "/completeness.csv", "/completeness.json"):
            kind = request.field("kind", "native")
            result = self.completeness(datasource_id, kind)
            if action == "/completeness.csv":
                from contentcloud.sources.completeness import as_csv

                return (
                    "200 OK",
                    as_csv(result),
                    self.download(datasource_id, kind, "csv"),
                    "text/csv; charset=utf-8",
                )
            if action == "/completeness.json":
                return "200 OK", _json(result), self.download(datasource_id, kind, "json"), "application/json"
            return "200 OK", self.completeness_page(request, datasource_id, result), [], html_type
        raise HttpError("404 Not Found", f"no page {path}")

    @staticmethod
    def redirect(location: str) -> tuple[str, str, list[tuple[str, str]], str]:
        return "303 See Other", "", [("Location", location)], "text/html; charset=utf-8"

    @staticmethod
    def download(datasource_id: str, kind: str, suffix: str) -> list[tuple[str, str]]:
        return [
            ("Content-Disposition", f'attachment; filename="{datasource_id}-{kind}-completeness.{suffix}"')
        ]

    def completeness(self, datasource_id: str, kind: str) -> dict[str, Any]:
        from contentcloud.sources.completeness import completeness

        if not self._heavy.acquire(timeout=60):
            raise HttpError("503 Service Unavailable", "too many statistics are being computed; try again")
        try:
            return completeness(self.settings, datasource_id, kind)
        finally:
            self._heavy.release()

    # --- the registry --------------------------------------------------------------------------
    def _profile(self, datasource_id: str) -> tuple[dict[str, Any], Path]:
        from contentcloud.datasources import DatasourceRegistry

        datasource = DatasourceRegistry(self.registry_dir).get(datasource_id)
        assert datasource.path is not None
        return dict(datasource.raw), datasource.path

    def _exists(self, datasource_id: str) -> bool:
        self._profile(datasource_id)
        return True

    def set_enabled(self, datasource_id: str, enabled: bool) -> dict[str, Any]:
        from contentcloud.datasources import write_profile

        profile, _ = self._profile(datasource_id)
        profile["enabled"] = enabled
        write_profile(self.registry_dir, profile, replace=True)
        return profile

    def save(self, data: Any, *, replace: bool) -> Path:
        """Validate every field (all errors at once) and write the profile."""
        from contentcloud.datasources import validate_profile, write_profile

        if not isinstance(data, dict):
            raise ConfigError("a profile is a JSON object", field="(top level)", rule="type")
        errors = validate_profile(data, file=f"{data.get('id')}.yaml")
        if errors:
            raise ProfileErrors(errors)
        self.check_reachable(data["api"])
        return write_profile(self.registry_dir, data, replace=replace)

    def check_reachable(self, api: dict[str, Any]) -> None:
        """A source registered here must be at an address the probe may reach (public, or in
        ``probe_allow_networks``): the pages must not become a way to harvest the server's own
        network. Operators register anything with a YAML file or ``contentcloud datasource add``."""
        from urllib.parse import urlsplit

        from contentcloud.sources.probe import check_address

        networks = self.settings.probe_allow_networks
        if api["protocol"] == "ftp":
            check_address(api["host"], int(api.get("port") or 21), networks, field="api.host")
            return
        key = "baseurl" if api["protocol"] == "oai" else "url"
        parts = urlsplit(api[key])
        port = parts.port or (443 if parts.scheme == "https" else 80)
        check_address(parts.hostname or "", port, networks, field=f"api.{key}")

    def summaries(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        from contentcloud.datasources import DatasourceRegistry
        from contentcloud.history import RunHistory

        valid, invalid = DatasourceRegistry(self.registry_dir).scan()
        history = RunHistory.from_settings(self.settings)
        listed = []
        for ds in valid:
            last = history.runs(ds.id, limit=1)
            listed.append(
                {
                    "id": ds.id,
                    "name": ds.name,
                    "protocol": ds.protocol,
                    "format": ds.native_format,
                    "enabled": ds.enabled,
                    "schedule": ds.schedule,
                    "file": ds.path.name if ds.path else None,
                    "last_run": last[-1] if last else None,
                    "running": self.runs.state(ds.id),
                }
            )
        broken = [{"id": bad.id, "file": bad.path.name, "error": bad.reason} for bad in invalid]
        return listed, broken

    # --- the JSON API --------------------------------------------------------------------------
    def api(self, request: Request) -> tuple[str, str, list[tuple[str, str]], str]:
        from contentcloud.history import RunHistory

        path, method = request.path, request.method
        if path == "/api/probe" and method == "POST":
            body = request.json if isinstance(request.json, dict) else {}
            return "200 OK", _json(self.probe(body).as_dict()), [], "application/json"
        if path == "/api/datasources":
            if method == "POST":
                try:
                    written = self.save(request.json, replace=False)
                except ProfileErrors as exc:
                    return (
                        "400 Bad Request",
                        _json({"errors": [error_dict(x) for x in exc.errors]}),
                        [],
                        "application/json",
                    )
                datasource_id = request.json["id"]
                logger.info("%s registered %s", request.identity.user, datasource_id)
                location = f"{request.base}/api/datasources/{datasource_id}"
                answer = {"id": datasource_id, "file": written.name}
                return "201 Created", _json(answer), [("Location", location)], "application/json"
            listed, broken = self.summaries()
            return "200 OK", _json({"datasources": listed, "invalid": broken}), [], "application/json"
        found = re.fullmatch(r"/api/datasources/([^/]+)(/[a-z]+)?", path)
        if not found or not ID_PATTERN.match(found.group(1)):
            raise HttpError("404 Not Found", f"no API {path}")
        datasource_id, action = found.group(1), found.group(2) or ""
        if action == "":
            if method == "GET":
                profile, file = self._profile(datasource_id)
                return "200 OK", _json({"file": file.name, "profile": profile}), [], "application/json"
            if method == "PUT":
                self._profile(datasource_id)
                data = request.json
                if isinstance(data, dict) and data.get("id") != datasource_id:
                    raise ConfigError(f"the id of {datasource_id} cannot change", field="id", rule="const")
                try:
                    written = self.save(data, replace=True)
                except ProfileErrors as exc:
                    return (
                        "400 Bad Request",
                        _json({"errors": [error_dict(x) for x in exc.errors]}),
                        [],
                        "application/json",
                    )
                logger.info("%s changed %s", request.identity.user, datasource_id)
                return "200 OK", _json({"id": datasource_id, "file": written.name}), [], "application/json"
            if method == "DELETE":
                from contentcloud.datasources import remove_profile

                removed = remove_profile(self.registry_dir, datasource_id)
                logger.info("%s deleted the profile of %s", request.identity.user, datasource_id)
                return "200 OK", _json({"id": datasource_id, "deleted": removed.name}), [], "application/json"
        if action == "/runs" and method == "GET":
            try:
                limit = int(request.field("limit", "100"))
            except ValueError:
                raise HttpError("400 Bad Request", "limit is not a number") from None
            runs = RunHistory.from_settings(self.settings).runs(datasource_id, limit=limit)
            return (
                "200 OK",
                _json({"datasource": datasource_id, "runs": runs, "running": self.runs.state(datasource_id)}),
                [],
                "application/json",
            )
        if action == "/run" and method == "POST":
            self._profile(datasource_id)
            return (
                "202 Accepted",
                _json(self.runs.start(datasource_id, request.identity.user)),
                [],
                "application/json",
            )
        if action == "/completeness" and method == "GET":
            result = self.completeness(datasource_id, request.field("kind", "native"))
            if request.field("format", "json") == "csv":
                from contentcloud.sources.completeness import as_csv

                return "200 OK", as_csv(result), [], "text/csv; charset=utf-8"
            return "200 OK", _json(result), [], "application/json"
        raise HttpError("405 Method Not Allowed", f"{method} is not allowed on {path}")

    def probe(self, body: dict[str, Any]) -> Any:
        from contentcloud.sources.probe import probe_http, probe_oai

        protocol = str(body.get("protocol") or "oai")
        url = str(body.get("url") or "")
        if protocol == "oai":
            prefix = body.get("metadata_prefix")
            set_spec = body.get("set")
            return probe_oai(
                url,
                metadata_prefix=str(prefix) if prefix else None,
                set_spec=str(set_spec) if set_spec else None,
                networks=self.settings.probe_allow_networks,
            )
        if protocol == "http":
            return probe_http(url, networks=self.settings.probe_allow_networks)
        raise ConfigError(f"{protocol!r} sources cannot be probed (oai, http)", field="protocol", rule="enum")

    def error_body(
        self,
        api: bool,
        base: str,
        status: str,
        message: str,
        identity: Identity,
        errors: list[dict] | None = None,
    ) -> str:
        if api:
            return _json({"error": message, "status": status, **({"errors": errors} if errors else {})})
        content = Markup('<div class="error" id="page-error"><b>{}</b>: {}</div>').format(status, message)
        return self.frame(base, status, content, identity)

    # --- pages ---------------------------------------------------------------------------------
    def frame(
        self, base: str, title: str, content: Markup, identity: Identity, *, refresh: int | None = None
    ) -> str:
        return str(
            render(
                "page.html",
                title=title,
                style=STYLE,
                base=base,
                curator=self.login_base(base),
                user=identity.user,
                csrf=identity.csrf,
                content=content,
                refresh=refresh,
            )
        )

    def list_page(self, request: Request) -> str:
        listed, broken = self.summaries()
        content = render(
            "list.html", base=request.base, listed=listed, broken=broken, deleted=request.field("deleted")
        )
        return self.frame(request.base, "Datasources", content, request.identity)

    # --- register / edit -----------------------------------------------------------------------
    def new_page(self, request: Request) -> tuple[str, str, list[tuple[str, str]], str]:
        protocol = request.field("protocol", "oai")
        if protocol not in PROTOCOLS:
            raise HttpError("400 Bad Request", "protocol is oai, ftp or http")
        html_type = "text/html; charset=utf-8"
        if request.method == "POST":
            action = request.field("action", "save")
            if action == "probe":
                return "200 OK", self.form_page(request, protocol, probe=True), [], html_type
            return self.save_form(request, protocol, None)
        return "200 OK", self.form_page(request, protocol), [], html_type

    def edit_page(self, request: Request, datasource_id: str) -> tuple[str, str, list[tuple[str, str]], str]:
        profile, _ = self._profile(datasource_id)
        protocol = profile["api"]["protocol"]
        if request.method == "POST":
            if request.field("action") == "probe":
                return (
                    "200 OK",
                    self.form_page(request, protocol, probe=True, existing=profile),
                    [],
                    "text/html; charset=utf-8",
                )
            return self.save_form(request, protocol, profile)
        return (
            "200 OK",
            self.form_page(request, protocol, existing=profile, prefill=True),
            [],
            "text/html; charset=utf-8",
        )

    def save_form(
        self, request: Request, protocol: str, existing: dict[str, Any] | None
    ) -> tuple[str, str, list[tuple[str, str]], str]:
        try:
            data = profile_from_form(request, protocol, self.mappings, existing=existing)
            self.save(data, replace=existing is not None)
        except ProfileErrors as exc:
            page = self.form_page(request, protocol, existing=existing, errors=exc.errors)
            return "400 Bad Request", page, [], "text/html; charset=utf-8"
        except ConfigError as exc:
            page = self.form_page(request, protocol, existing=existing, errors=[exc])
            return "400 Bad Request", page, [], "text/html; charset=utf-8"
        verb = "changed" if existing else "registered"
        logger.info("%s %s %s", request.identity.user, verb, data["id"])
        if request.field("run_now") in ("1", "on"):
            try:
                self.runs.start(data["id"], request.identity.user)
            except OrchestratorError:
                pass  # registered all the same; the source's page shows why the run did not start
        return self.redirect(f"{request.base}/s/{data['id']}?{verb}=1")

    def form_page(
        self,
        request: Request,
        protocol: str,
        *,
        probe: bool = False,
        existing: dict[str, Any] | None = None,
        prefill: bool = False,
        errors: list[ConfigError] | None = None,
    ) -> str:
        """The register/edit form; values from the request, or the profile when ``prefill``."""
        api_values: dict[str, Any] = dict((existing or {}).get("api") or {}) if prefill else {}

        def value(name: str, default: str = "") -> str:
            if prefill and existing is not None:
                if name.startswith("api."):
                    found = api_values.get(name[4:])
                    if found is None:
                        return default
                    if isinstance(found, bool):
                        return "1" if found else ""
                    if isinstance(found, list | tuple):
                        return ", ".join(map(str, found))
                    if isinstance(found, dict):
                        return json.dumps(found)
                    return str(found)
                found = existing.get(name)
                if name == "enabled":
                    return "1" if existing.get("enabled", True) else ""
                if name == "mapping":
                    return current_mapping(existing)
                if name == "policy":
                    return current_mapping(existing, "policy")
                return "" if found is None else str(found)
            return request.field(name, default)

        base = request.base
        action = f"{base}/s/{existing['id']}/edit" if existing else f"{base}/new?protocol={protocol}"
        values: dict[str, Any] = {"url_field": None, "url": "", "probe_error": None, "probed": None}
        probed = None
        if protocol in ("oai", "http"):
            url_field = "api.baseurl" if protocol == "oai" else "api.url"
            url = value(url_field)
            values.update(url_field=url_field, url=url)
            if probe:
                try:
                    if protocol == "oai":
                        probed = self.probe(
                            {
                                "protocol": "oai",
                                "url": url,
                                "metadata_prefix": request.field("api.metadata_prefix") or None,
                            }
                        )
                    else:
                        probed = self.probe({"protocol": "http", "url": url})
                except ConfigError as exc:
                    values["probe_error"] = exc.message
                if probed is not None:
                    values.update(probe_values(probed))
        shown: list[str] = []
        if protocol == "oai":
            prefixes = [f["prefix"] for f in probed.formats] if probed is not None else []
            chosen = value("api.metadata_prefix") or (
                "oai_dc" if "oai_dc" in prefixes or not prefixes else prefixes[0]
            )
            shown.append("metadata_prefix")
            selected_sets = set(request.fields("api.sets")) or set(api_values.get("sets") or [])
            set_specs = [s["spec"] for s in probed.sets] if probed is not None else sorted(selected_sets)
            names = {s["spec"]: s["name"] for s in probed.sets} if probed is not None else {}
            values.update(
                prefixes=prefixes,
                chosen=chosen,
                selected_sets=selected_sets,
                set_specs=set_specs,
                set_names=names,
            )
            shown.append("sets")
            shown.append("baseurl")
        else:
            inputs = []
            for name, spec in schema_fields(protocol):
                if protocol == "http" and name == "url":
                    shown.append(name)
                    continue
                inputs.append(
                    schema_input(name, spec, value(f"api.{name}"), required=name in _required(protocol))
                )
                shown.append(name)
            values["inputs"] = inputs
        schedule = value("schedule")
        mapping = value("mapping") if (prefill or request.method == "POST") else "oai_dc2pe.xsl"
        policy = value("policy") or (policy_files(self.mappings) or [""])[0]
        if prefill:
            enabled = value("enabled")
        else:  # a form sent back keeps its box as the curator left it; a new form starts enabled
            enabled = request.field("enabled") if request.method == "POST" else "1"
        content = render(
            "form.html",
            action=action,
            csrf=request.identity.csrf,
            errors=errors,
            protocol=protocol,
            existing=existing,
            id=value("id"),
            name=value("name"),
            nsprefix=value("nsprefix"),
            shown=shown,
            schedules=SCHEDULES if schedule in SCHEDULES else (*SCHEDULES, schedule),
            schedule=schedule,
            mappings=mapping_files(self.mappings),
            mapping=mapping,
            policies=policy_files(self.mappings),
            policy=policy,
            enabled=enabled,
            run_now=request.field("run_now"),
            **values,
        )
        title = f"Edit {existing['id']}" if existing else f"Register an {protocol.upper()} source"
        return self.frame(base, title, content, request.identity)

    # --- a source ------------------------------------------------------------------------------
    def source_page(self, request: Request, datasource_id: str) -> str:
        import yaml

        from contentcloud.history import RunHistory
        from contentcloud.sources.plots import history_plots

        profile, file = self._profile(datasource_id)
        runs = RunHistory.from_settings(self.settings).runs(datasource_id)
        running = self.runs.state(datasource_id)
        notes = []
        if request.field("registered"):
            notes.append(f"Registered: written to {file.name}.")
        if request.field("changed"):
            notes.append(f"Saved: {file.name} rewritten.")
        text = yaml.safe_dump(profile, sort_keys=False, allow_unicode=True, default_flow_style=False)
        content = render(
            "source.html",
            base=request.base,
            id=datasource_id,
            csrf=request.identity.csrf,
            notes=notes,
            running=running,
            enabled=profile.get("enabled", True),
            runs=runs,
            plots=history_plots(runs),
            file=file.name,
            text=text,
        )
        refresh = 2 if running and running["state"] == "running" else None
        return self.frame(
            request.base, f"Datasource {datasource_id}", content, request.identity, refresh=refresh
        )

    def delete_page(self, request: Request, datasource_id: str) -> str:
        _, file = self._profile(datasource_id)
        content = render(
            "delete.html", base=request.base, id=datasource_id, csrf=request.identity.csrf, file=file.name
        )
        return self.frame(request.base, f"Delete {datasource_id}?", content, request.identity)

    def completeness_page(self, request: Request, datasource_id: str, result: dict[str, Any]) -> str:
        kind = result["kind"]
        content = render("completeness.html", base=request.base, id=datasource_id, kind=kind, r=result)
        return self.frame(
            request.base, f"Completeness of {datasource_id} ({kind})", content, request.identity
        )


class ProfileErrors(ContentcloudError):
    """Every schema violation of a submitted profile (the form lists them all)."""

    def __init__(self, errors: list[ConfigError]) -> None:
        super().__init__(errors[0].message)
        self.errors = errors


def _required(protocol: str) -> set[str]:
    from contentcloud.datasources import SCHEMA_PATH

    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return set(schema["$defs"][protocol].get("required", []))


def schema_input(name: str, spec: dict[str, Any], value: str, *, required: bool) -> dict[str, Any]:
    """One input of a connector field, typed by the schema (description as its title), for the
    form's ``schema_input`` macro."""
    kind = _field_type(spec)
    placeholder = "comma separated" if kind == "array" else spec.get("default")
    return {
        "name": name,
        "kind": kind,
        "title": spec.get("description") or "",
        "required": required,
        "value": value,
        # a boolean: checked as sent back, else as the schema's default
        "on": (value == "1") if value != "" else bool(spec.get("default", False)),
        "placeholder": placeholder,
    }


def probe_values(probe: Any) -> dict[str, Any]:
    """The probe's findings (repository, formats, sets, speed, problems and sample records) for
    the form's ``probe`` macro."""
    data = probe.as_dict()
    identify = [(k, ", ".join(v) if isinstance(v, list) else v) for k, v in data["identify"].items()]
    return {"probed": data, "identify": identify}


def _json(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, indent=1, default=str)


STYLE = Markup("""
body{font-family:system-ui,sans-serif;margin:0;color:#222}
header{background:#234;color:#fff;padding:.4em 1em;
display:flex;justify-content:space-between;align-items:center}
header a{color:#fff;text-decoration:none}
header form#logout{background:none;padding:0;color:#fff}
main{padding:1em}
form{display:flex;flex-wrap:wrap;gap:.6em 1.2em;align-items:end;background:#f4f6f8;padding:.8em;
border-radius:6px;margin:.4em 0}
form#logout,#actions form{padding:0;background:none;margin:0}
label{display:flex;flex-direction:column;font-size:.9em}
.buttons{display:flex;gap:.8em;align-items:center}
button{padding:.4em 1em}
table{border-collapse:collapse;margin:.8em 0}
td,th{border:1px solid #ccd;padding:.25em .5em;
vertical-align:top;text-align:left}
tr.failed{background:#fde8e8}
fieldset{display:flex;flex-wrap:wrap;gap:.6em 1.2em;
border:1px solid #ccd;flex-basis:100%}
section#probe-result{flex-basis:100%}
pre{background:#fafafa;border:1px solid #ddd;padding:.5em;overflow:auto;max-height:24em;font-size:.8em;
white-space:pre-wrap;word-break:break-all}
.error{background:#fdd;border:1px solid #c33;padding:.5em;margin:.3em 0}
.warning{background:#fff4d6;border:1px solid #d90;padding:.4em;margin:.3em 0}
.checks{padding:.4em;margin:.5em 0;
border:1px solid #9c9;background:#eef8ee}
.bar{display:inline-block;height:.8em;background:#1f77b4}
td.share{white-space:nowrap}
svg.plot{border:1px solid #ddd;margin:.3em .6em .3em 0;background:#fff}
label.set{flex-direction:row;gap:.3em}
""")
