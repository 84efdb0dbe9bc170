"""The curator page: preview, coverage and diff of a datasource's mapping or an uploaded draft.

A plain WSGI app (``CuratorApp(settings)``) mounted at ``/curator`` by ``contentcloud serve``;
server-rendered HTML with a few lines of vanilla JavaScript, no framework. Routes (relative to
the mount point):

* ``GET /``: the form: datasource, draft mapping files, sample size, record ids, an X3ML draft's
  policy and terms (a file of the mappings directory or an upload; default: the profile's), and
  the curator's own records (uploaded or pasted);
* ``GET|POST /preview``, ``/check``, ``/coverage``, ``/diff``: the view for the datasource's
  current chain (GET, or POST without files) or for the uploaded draft (POST,
  ``multipart/form-data``); preview and check run on the curator's own records when given.
  Beside every preview: the ontology check's counts and the mapping's findings over the sample
  (:mod:`transforms.curation.x3ml_check`); ``/check`` groups the ontology issues by property;
* ``GET|POST /login``: the login form and its check; ``POST /logout``;
* ``/editor``, ``/api/…``, ``/static/editor.js``: the mapping editor and its JSON API
  (:mod:`contentcloud.curator.live`).

Read-only on stored data: views read under leases and never open a write transaction. Uploads
are bounded (:data:`MAX_UPLOAD` bytes per request, :data:`MAX_FILES` files), parsed in memory
with the standard library's MIME parser, written to a private temporary directory for the
request (never into ``mappings/`` or the store) and deleted after it; the mapping itself is
compiled by the sandboxed XSLT/X3ML steps (hardened XML parsing, no network, no file writes, no
reads outside the mappings directory). To run another view on the same draft, the page carries
the draft's text back in hidden fields, so the server keeps nothing between requests.

Every page needs a login (:mod:`contentcloud.auth`): ``GET|POST /login`` and ``POST /logout``
are the only routes open to anonymous requests. An anonymous request for any other page is
answered before its body is read (browsers: 303 to the login page; scripts and requests with a
wrong ``Authorization`` header: 401), so nothing a stranger uploads is ever parsed or run. Every
POST of a browser session carries the session's CSRF token (403 without it): a draft runs code
(the stylesheet), so another site must not be able to make a logged-in curator's browser post one.
Scripts authenticate with ``Authorization: Bearer <token>`` and need no CSRF token.

Pages are Jinja2 templates (templates/) with autoescape, so every value that reaches the page is
HTML-escaped by construction; the page sends a Content-Security-Policy that
allows only its own inline script and style.
"""

from __future__ import annotations

import logging
import re
import tempfile
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup, escape

from contentcloud.auth import Authenticator, Identity, csrf_matches, secure_request
from mdstore.errors import ConfigError, ContentcloudError, RecordError, StoreError

if TYPE_CHECKING:
    from contentcloud.settings import Settings
    from transforms.curation.coverage import CoverageReport
    from transforms.curation.preview import PreviewReport
    from transforms.curation.rdfdiff import DiffReport

logger = logging.getLogger(__name__)

MAX_UPLOAD = 2 * 1024 * 1024
MAX_FILES = 5
MAX_SAMPLE = 50
MAX_DETAILS = 50
#: the login form is small: anything bigger is not a login
MAX_LOGIN_BODY = 8 * 1024
#: heavy views (coverage, diff over a whole version) run at most this many at once
HEAVY_VIEWS = 2
SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")

StartResponse = Callable[..., Any]


class HttpError(Exception):
    def __init__(self, status: str, message: str, headers: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or []


#: the headers of every answer of the curator's apps (workbench, editor, datasource pages): never
#: cached, never sniffed or framed, no referrer to other sites
PRIVATE_HEADERS = (
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
)


def refusal(
    environ: dict, target: str, login_base: str, identity: Identity, *, redirect: bool = True
) -> HttpError:
    """What an anonymous request for ``target`` gets, decided before its body is read: browsers go
    to the login page at ``login_base`` (303, back to ``target`` afterwards; only where ``redirect``),
    everything else gets 401. Shared by the curator app and the datasource pages mounted below it."""
    accept = str(environ.get("HTTP_ACCEPT") or "")
    if redirect and identity.method == "anonymous" and "text/html" in accept:
        if environ.get("REQUEST_METHOD") == "GET" and environ.get("QUERY_STRING"):
            target += "?" + environ["QUERY_STRING"]
        location = f"{login_base}/login?next={quote(target, safe='/')}"
        return HttpError("303 See Other", "log in first", [("Location", location)])
    message = (
        "the bearer token is not valid"
        if identity.method == "bad-authorization"
        else "log in, or send Authorization: Bearer <token>"
    )
    return HttpError(
        "401 Unauthorized", message, [("WWW-Authenticate", 'Bearer realm="contentcloud curator"')]
    )


#: the pages' templates (templates/): every value is HTML-escaped unless it is Markup, which only
#: our own rendered templates and the page's constant style and script are
_TEMPLATES = Environment(
    loader=PackageLoader("contentcloud.curator"), autoescape=True, undefined=StrictUndefined
)


def render(template: str, **values: Any) -> Markup:
    """One template of templates/, rendered with autoescape."""
    return Markup(_TEMPLATES.get_template(template).render(**values))  # noqa: S704 -- autoescaped output


@dataclass
class Draft:
    """Draft mapping files of one request: (safe name, bytes)."""

    files: list[tuple[str, bytes]] = field(default_factory=list)

    @property
    def names(self) -> str:
        return ", ".join(name for name, _ in self.files)

    def __bool__(self) -> bool:
        return bool(self.files)


@dataclass
class Form:
    datasource: str = ""
    sample: int = 5
    ids: list[str] = field(default_factory=list)
    draft: Draft = field(default_factory=Draft)
    csrf: str = ""  # the submitted csrf_token
    #: X3ML drafts: a policy/terms file of the mappings directory ("": the profile's), or an upload
    policy: str = ""
    terms: str = ""
    policy_upload: tuple[str, bytes] | None = None
    terms_upload: tuple[str, bytes] | None = None
    #: the curator's own records (uploaded files, carried back by the page) and a pasted one
    own: list[tuple[str, bytes]] = field(default_factory=list)
    record_text: str = ""
    #: what the views pass on to the workbench for an X3ML draft (policy, terms paths)
    options: dict[str, Any] = field(default_factory=dict)

    def own_records(self) -> list[tuple[str, bytes]]:
        pasted = [("pasted-record.xml", self.record_text.encode("utf-8"))] if self.record_text.strip() else []
        return [*self.own, *pasted]


# --- request parsing -------------------------------------------------------------------------------


def _read_body(environ: dict, limit: int = MAX_UPLOAD) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise HttpError("400 Bad Request", "Content-Length is not a number") from None
    if length > limit:
        raise HttpError("413 Content Too Large", f"the upload is larger than {limit // 1024} KiB")
    data = environ["wsgi.input"].read(length) if length > 0 else b""
    if len(data) > limit:
        raise HttpError("413 Content Too Large", f"the upload is larger than {limit // 1024} KiB")
    return data


def parse_multipart(
    content_type: str, body: bytes
) -> tuple[dict[str, list[str]], list[tuple[str, str, bytes]]]:
    """Fields and files (form field, file name, bytes) of a ``multipart/form-data`` body, with the
    standard library's MIME parser."""
    from email.parser import BytesParser
    from email.policy import HTTP

    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\nMIME-Version: 1.0\r\n\r\n" + body
    )
    if not message.is_multipart():
        raise HttpError("400 Bad Request", "the form data is not multipart")
    fields: dict[str, list[str]] = {}
    files: list[tuple[str, str, bytes]] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        data = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is not None:
            if filename or data:
                files.append((str(name), str(filename), data))
            continue
        fields.setdefault(str(name), []).append(data.decode("utf-8", errors="replace"))
    return fields, files


def safe_name(filename: str, index: int) -> str:
    name = SAFE_NAME.sub("_", Path(filename.replace("\\", "/")).name)[:80].lstrip(".")
    return name or f"draft-{index}.xml"


def read_form(environ: dict) -> Form:
    method = environ.get("REQUEST_METHOD", "GET")
    fields: dict[str, list[str]] = parse_qs(environ.get("QUERY_STRING", ""))
    uploads: list[tuple[str, str, bytes]] = []
    csrf = ""
    if method == "POST":
        body = _read_body(environ)
        content_type = environ.get("CONTENT_TYPE", "")
        if content_type.startswith("multipart/form-data"):
            posted, uploads = parse_multipart(content_type, body)
        else:
            posted = parse_qs(body.decode("utf-8", errors="replace"))
        csrf = (posted.pop("csrf_token", None) or [""])[0]  # from the body only, never the URL
        for key, values in posted.items():
            fields.setdefault(key, []).extend(values)
    form = Form(datasource=(fields.get("datasource") or [""])[0].strip(), csrf=csrf)
    try:
        form.sample = max(1, min(MAX_SAMPLE, int((fields.get("sample") or ["5"])[0] or 5)))
    except ValueError:
        raise HttpError("400 Bad Request", "sample is not a number") from None
    form.ids = [i for value in fields.get("ids", []) for i in re.split(r"[\s,]+", value) if i][:MAX_SAMPLE]
    by_field: dict[str, list[tuple[str, bytes]]] = {}
    for field_name, name, data in uploads:
        if data:
            by_field.setdefault(field_name if field_name in SPECIAL_UPLOADS else "mapping", []).append(
                (name, data)
            )
    if not (fields.get("current") or [""])[0]:
        files = by_field.get("mapping", [])
        if not files:  # a draft carried back by the page itself
            files = _carried(fields, "draft")
        if len(files) > MAX_FILES:
            raise HttpError("400 Bad Request", f"at most {MAX_FILES} draft files")
        form.draft = Draft([(safe_name(name, i), data) for i, (name, data) in enumerate(files)])
        form.policy = _mappings_name((fields.get("policy") or [""])[0], "policy")
        form.terms = _mappings_name((fields.get("terms") or [""])[0], "terms")
        for kind in ("policy", "terms"):
            upload = (by_field.get(f"{kind}_file") or _carried(fields, kind))[:1]
            if upload:
                setattr(form, f"{kind}_upload", (safe_name(upload[0][0], 0), upload[0][1]))
    if not (fields.get("stored") or [""])[0]:
        own = by_field.get("record") or _carried(fields, "own")
        if len(own) > MAX_SAMPLE:
            raise HttpError("400 Bad Request", f"at most {MAX_SAMPLE} records of your own")
        form.own = [(safe_name(name, i), data) for i, (name, data) in enumerate(own)]
        form.record_text = (fields.get("record_text") or [""])[0]
    return form


#: upload fields that are not draft mapping files
SPECIAL_UPLOADS = ("record", "policy_file", "terms_file")


def _carried(fields: dict[str, list[str]], kind: str) -> list[tuple[str, bytes]]:
    """Files the page carried back in hidden ``<kind>_name``/``<kind>_text`` fields."""
    names, texts = fields.get(f"{kind}_name", []), fields.get(f"{kind}_text", [])
    return [(n, t.encode("utf-8")) for n, t in zip(names, texts, strict=False) if t]


def _mappings_name(value: str, what: str) -> str:
    """A file named relative to the mappings directory: no absolute paths, no way out of it."""
    value = value.strip()
    if not value:
        return ""
    path = Path(value)
    if path.is_absolute() or ".." in path.parts or "\\" in value:
        raise HttpError("400 Bad Request", f"{what}: name a file of the mappings directory")
    return value


# --- the app ---------------------------------------------------------------------------------------


class CuratorApp:
    """WSGI app of the curator page; ``settings`` are read once, stores are opened per request.

    ``authenticator`` checks logins, tokens and sessions (default: built from the settings).
    """

    def __init__(self, settings: Settings, authenticator: Authenticator | None = None) -> None:
        self.settings = settings
        self.auth = authenticator if authenticator is not None else Authenticator.from_settings(settings)
        if not self.auth.accounts:
            logger.warning(
                "no curator accounts are configured: nobody can log in to the curator pages "
                "(contentcloud curator hash-password)"
            )
        self._heavy = threading.BoundedSemaphore(HEAVY_VIEWS)

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        base = environ.get("SCRIPT_NAME", "").rstrip("/")
        method = environ.get("REQUEST_METHOD", "GET")
        views = {
            "/preview": self.preview,
            "/check": self.check,
            "/coverage": self.coverage,
            "/diff": self.diff,
        }
        headers: list[tuple[str, str]] = []
        identity = Identity(None)
        try:
            if method not in ("GET", "HEAD", "POST"):
                raise HttpError("405 Method Not Allowed", "use GET or POST")
            identity = self.auth.identify(environ)
            if path == "/login":
                status, body, headers = self.login(environ, base, identity)
            elif path == "/logout":
                status, body, headers = self.logout(environ, base, identity)
            else:
                if identity.user is None:
                    raise refusal(environ, base + path, base, identity)
                if path == "/editor" or path.startswith(("/api/", "/static/")):
                    return self.editor(environ, start_response, base, path, identity)
                if path in ("/", ""):
                    form = self.checked_form(environ, identity)
                    body = self.page(base, form, "", "Curator workbench", identity)
                elif path in views:
                    form = self.checked_form(environ, identity)
                    body = self.run_view(base, form, path[1:], views[path], identity)
                else:
                    raise HttpError("404 Not Found", f"no page {path}")
                status = "200 OK"
        except HttpError as exc:
            status, headers = exc.status, exc.headers
            body = self.error_page(base, exc.status, exc.message, identity)
        except ContentcloudError as exc:
            status = _status_for(exc)
            body = self.error_page(base, status, str(exc), identity)
        except Exception:
            logger.exception("curator page %s failed", path)
            status = "500 Internal Server Error"
            body = self.error_page(base, status, "the page failed; see the server log", identity)
        data = body.encode("utf-8")
        headers = [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Length", str(len(data))),
            *PRIVATE_HEADERS,
            (
                "Content-Security-Policy",
                "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
                "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
            ),
            *headers,
        ]
        start_response(status, headers)
        return [] if method == "HEAD" else [data]

    def editor(
        self, environ: dict, start_response: StartResponse, base: str, path: str, identity: Identity
    ) -> Iterable[bytes]:
        """The mapping editor, its bundle and its JSON API (:mod:`contentcloud.curator.live`)."""
        from contentcloud.curator.live import EditorRoutes

        status, headers, data = EditorRoutes(self).respond(environ, base, path, identity)
        start_response(
            status,
            [
                *headers,
                ("Content-Length", str(len(data))),
                *PRIVATE_HEADERS,
            ],
        )
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [data]

    # --- authentication ------------------------------------------------------------------------
    def checked_form(self, environ: dict, identity: Identity) -> Form:
        """The request's form; a browser session's POST must carry the session's CSRF token."""
        form = read_form(environ)
        if (
            environ.get("REQUEST_METHOD") == "POST"
            and identity.needs_csrf
            and not csrf_matches(identity, form.csrf)
        ):
            logger.warning("curator page: POST by %s without a valid CSRF token refused", identity.user)
            raise HttpError("403 Forbidden", "the form has expired or did not come from this site; reload it")
        return form

    def _secure(self, environ: dict) -> bool:
        return secure_request(environ)

    def login(self, environ: dict, base: str, identity: Identity) -> tuple[str, str, list[tuple[str, str]]]:
        """``GET``: the login form (with a fresh anonymous session holding its CSRF token).
        ``POST``: check the CSRF token, the throttle and the password; on success a new session."""
        method = environ.get("REQUEST_METHOD", "GET")
        query = parse_qs(environ.get("QUERY_STRING", ""))
        cookie_path = base + "/"
        if method != "POST":
            next_url = _safe_next(base, (query.get("next") or [""])[0])
            if identity.user is not None and identity.method == "session":
                return "303 See Other", "", [("Location", next_url)]
            headers = []
            csrf = identity.csrf
            if not csrf:
                value, csrf = self.auth.new_session(None)
                headers.append(self.auth.cookie_header(value, cookie_path, secure=self._secure(environ)))
            return "200 OK", self.login_page(base, csrf, next_url, ""), headers
        posted = parse_qs(_read_body(environ, MAX_LOGIN_BODY).decode("utf-8", errors="replace"))
        user = (posted.get("username") or [""])[0].strip()
        password = (posted.get("password") or [""])[0]
        next_url = _safe_next(base, (posted.get("next") or [""])[0])
        client = str(environ.get("REMOTE_ADDR") or "?")
        if not csrf_matches(identity, (posted.get("csrf_token") or [""])[0]):
            raise HttpError(
                "403 Forbidden", "the login form has expired or did not come from this site; reload it"
            )
        if self.auth.throttled(client):
            logger.warning("curator login: too many failed logins from %s", client)
            raise HttpError(
                "429 Too Many Requests",
                "too many failed logins; wait a few minutes",
                [("Retry-After", "600")],
            )
        if not self.auth.check_login(user, password):
            self.auth.failed(client)
            # an unknown name is not logged: it is often a password typed into the wrong field
            shown = repr(user) if user in self.auth.accounts.users else "(an unknown user)"
            logger.warning("curator login failed for user %s from %s", shown, client)
            page = self.login_page(base, identity.csrf, next_url, "wrong user name or password", user)
            return "401 Unauthorized", page, [("WWW-Authenticate", 'Bearer realm="contentcloud curator"')]
        logger.info("curator login: %s from %s", user, client)
        value, _ = self.auth.new_session(user)
        cookie = self.auth.cookie_header(
            value, cookie_path, secure=self._secure(environ), max_age=SESSION_MAX_AGE
        )
        return "303 See Other", "", [("Location", next_url), cookie]

    def logout(self, environ: dict, base: str, identity: Identity) -> tuple[str, str, list[tuple[str, str]]]:
        """``POST`` with the session's CSRF token: the cookie is cleared, back to the login page."""
        if environ.get("REQUEST_METHOD") != "POST":
            raise HttpError("405 Method Not Allowed", "log out with the button (POST)", [("Allow", "POST")])
        if identity.method == "session":
            posted = parse_qs(_read_body(environ, MAX_LOGIN_BODY).decode("utf-8", errors="replace"))
            if not csrf_matches(identity, (posted.get("csrf_token") or [""])[0]):
                raise HttpError(
                    "403 Forbidden", "the form has expired or did not come from this site; reload it"
                )
            logger.info("curator logout: %s", identity.user)
        cookie = self.auth.cookie_header("", base + "/", secure=self._secure(environ), max_age=0)
        return "303 See Other", "", [("Location", f"{base}/login"), cookie]

    def login_page(self, base: str, csrf: str, next_url: str, error: str, user: str = "") -> str:
        message = Markup('<div class="error" id="login-error">{}</div>').format(error) if error else ""
        return render(
            "page.html",
            title="Log in",
            base=base,
            account="",
            form=render("login.html", base=base, csrf=csrf, next=next_url, user=user),
            content=message,
            script="",
            style=STYLE,
        )

    # --- views ---------------------------------------------------------------------------------
    def run_view(
        self,
        base: str,
        form: Form,
        name: str,
        view: Callable[[Form, list[Path]], str],
        identity: Identity,
    ) -> str:
        if not form.datasource:
            raise HttpError("400 Bad Request", "pick a datasource")
        heavy = name in ("coverage", "diff")
        if heavy and not self._heavy.acquire(timeout=60):
            raise HttpError("503 Service Unavailable", "other coverage or diff runs are busy; try again")
        try:
            with tempfile.TemporaryDirectory(prefix="contentcloud-draft-") as tmp:
                paths = []
                for file_name, data in form.draft.files:
                    path = Path(tmp) / file_name
                    path.write_bytes(data)
                    paths.append(path)
                form.options = self.draft_options(form, paths, Path(tmp))
                try:
                    # messages name an uploaded draft by its name, not by this request's directory
                    content = str(view(form, paths)).replace(str(escape(tmp)) + "/", "")
                except ContentcloudError as exc:
                    raise HttpError(_status_for(exc), str(exc).replace(tmp + "/", "")) from exc
        finally:
            if heavy:
                self._heavy.release()
        what = f"draft {form.draft.names}" if form.draft else "current mapping"
        return self.page(base, form, content, f"{name.capitalize()} of {form.datasource} ({what})", identity)

    def draft_options(self, form: Form, paths: list[Path], tmp: Path) -> dict[str, Any]:
        """Policy and terms for an X3ML draft: an upload, else a file of the mappings directory, else
        the profile's x3ml step's (:func:`~contentcloud.curator.workbench.draft_steps`), else, when
        the profile has none and the mappings directory holds one policy only, that one."""
        from transforms.registry import mapping_kind

        if not any(mapping_kind(p) == "x3ml" for p in paths):
            return {}
        root = Path(self.settings.mappings).resolve()
        options: dict[str, Any] = {}
        for kind in ("policy", "terms"):
            upload = getattr(form, f"{kind}_upload")
            name = getattr(form, kind)
            if upload is not None:
                target = tmp / f"{kind}-{upload[0]}"
                target.write_bytes(upload[1])
                options[kind] = target
            elif name:
                target = (root / name).resolve()
                if not target.is_relative_to(root) or not target.is_file():
                    raise HttpError("400 Bad Request", f"{kind}: no file {name!r} in the mappings directory")
                options[kind] = target
        if "policy" not in options and not self.profile_x3ml(form.datasource).get("policy"):
            policies = policy_files(root)
            if len(policies) == 1:
                options["policy"] = root / policies[0]
        return options

    def profile_x3ml(self, datasource_id: str) -> dict[str, Any]:
        from contentcloud.curator.workbench import datasource

        steps = datasource(self.settings, datasource_id).section("transform").get("steps") or []
        return next((dict(s) for s in steps if s.get("type") == "x3ml"), {})

    def _preview_report(self, form: Form, paths: list[Path]) -> PreviewReport:
        from contentcloud.curator.workbench import run_preview

        return run_preview(
            form.datasource,
            self.settings,
            mappings=paths,
            sample=form.sample,
            ids=form.ids or None,
            own=form.own_records() or None,
            **form.options,
        )

    def preview(self, form: Form, paths: list[Path]) -> str:
        return render_preview(self._preview_report(form, paths))

    def check(self, form: Form, paths: list[Path]) -> str:
        return render_check(self._preview_report(form, paths))

    def coverage(self, form: Form, paths: list[Path]) -> str:
        from contentcloud.curator.workbench import run_coverage

        return render_coverage(run_coverage(form.datasource, self.settings, mappings=paths, **form.options))

    def diff(self, form: Form, paths: list[Path]) -> str:
        from contentcloud.curator.workbench import run_diff

        return render_diff(
            run_diff(form.datasource, self.settings, mappings=paths, max_details=MAX_DETAILS, **form.options)
        )

    # --- page frame ------------------------------------------------------------------------------
    def datasources(self) -> list[tuple[str, str, bool]]:
        from contentcloud.datasources import DatasourceRegistry

        return [
            (ds.id, ds.name, bool(ds.transform.steps))
            for ds in DatasourceRegistry(self.settings.registry).all()
        ]

    def page(self, base: str, form: Form, content: str, title: str, identity: Identity) -> str:
        account = ""
        if identity.method == "session":
            account = render("account.html", base=base, user=identity.user, csrf=identity.csrf)
        return render(
            "page.html",
            title=title,
            base=base,
            account=account,
            form=self.form_html(base, form, identity),
            content=Markup(content),  # noqa: S704 -- a view's rendered (autoescaped) template
            script=SCRIPT,
            style=STYLE,
        )

    def form_html(self, base: str, form: Form, identity: Identity) -> Markup:
        try:
            sources = self.datasources()
        except ConfigError as exc:
            return Markup('<p class="error">the datasource registry is invalid: {}</p>').format(exc)
        draft = own = None
        if form.draft:
            files = _hidden("draft", form.draft.files)
            extras = []
            for kind in ("policy", "terms"):
                upload = getattr(form, f"{kind}_upload")
                if upload is not None:
                    files += _hidden(kind, [upload])
                    extras.append((kind, upload[0], True))
                elif form.options.get(kind) is not None:
                    extras.append((kind, Path(form.options[kind]).name, False))
            draft = {"names": form.draft.names, "files": files, "extras": extras}
        if form.own:
            own = {"names": ", ".join(name for name, _ in form.own), "files": _hidden("own", form.own)}
        root = Path(self.settings.mappings)
        return render(
            "form.html",
            base=base,
            sources=sources,
            form=form,
            draft=draft,
            own=own,
            csrf=identity.csrf,
            max_kib=MAX_UPLOAD // 1024,
            policies=policy_files(root),
            terms=terms_files(root),
        )

    def error_page(self, base: str, status: str, message: str, identity: Identity) -> str:
        content = render("error.html", frame="page", status=status, message=message)
        if identity.user is None:  # the workbench form (the datasource list) is for logged-in users
            return render("error.html", frame="login", status=status, base=base, content=content, style=STYLE)
        try:
            return self.page(base, Form(), content, status, identity)
        except Exception:  # the frame itself failed (e.g. the registry): the message alone
            return render("error.html", frame="none", status=status, message=message)


SESSION_MAX_AGE = 8 * 3600


def policy_files(root: Path) -> list[str]:
    """Generator policies of the mappings directory (``policies/``), relative to it."""
    return _files(root, "policies", (".xml",))


def terms_files(root: Path) -> list[str]:
    """SKOS terminologies of the mappings directory (``terms/``), relative to it."""
    return _files(root, "terms", (".rdf", ".xml", ".ttl", ".nt"))


def _files(root: Path, folder: str, suffixes: tuple[str, ...]) -> list[str]:
    directory = root / folder
    if not directory.is_dir():
        return []
    return sorted(
        str(p.relative_to(root)) for p in directory.rglob("*") if p.is_file() and p.suffix.lower() in suffixes
    )


def _hidden(kind: str, files: Iterable[tuple[str, bytes]]) -> list[tuple[str, str, str]]:
    """Files the page carries back in hidden fields: (kind, name, text)."""
    return [(kind, name, data.decode("utf-8", errors="replace")) for name, data in files]


def _safe_next(base: str, target: str) -> str:
    """Where to go after the login: a page of this app only (no other host, no scheme-relative
    ``//host`` and no backslash tricks); anything else goes to the workbench."""
    if (
        target.startswith(base + "/")
        and not target.startswith("//")
        and "\\" not in target
        and not any(ch in target for ch in "\r\n")
        and not target.startswith((base + "/login", base + "/logout"))
    ):
        return target
    return base + "/"


def _status_for(exc: ContentcloudError) -> str:
    if isinstance(exc, ConfigError):
        return "404 Not Found" if exc.rule == "exists" and exc.field == "id" else "400 Bad Request"
    if isinstance(exc, RecordError):  # a draft that does not compile
        return "400 Bad Request"
    if isinstance(exc, StoreError):  # nothing collected or transformed yet
        return "409 Conflict"
    return "500 Internal Server Error"


# --- rendering -------------------------------------------------------------------------------------


def render_preview(report: PreviewReport) -> str:
    return render("preview.html", report=report, unit=_unit(report), check=_checks(report))


def _unit(report: PreviewReport) -> str:
    return f"{report.unit} @ {report.version}" if report.version else report.unit


def _checks(report: PreviewReport) -> dict[str, Any]:
    """The checks beside a preview: the ontology check's counts and the mapping's findings."""
    if report.ontology_errors:
        css = "error"
    else:
        css = "warning" if report.ontology_warnings or report.findings else "ok"
    count = (
        f"{plural(report.ontology_errors, 'error')}, {plural(report.ontology_warnings, 'warning')} in "
        f"{plural(len(report.items), 'record')}; mapping check: {plural(len(report.findings), 'finding')}"
    )
    return {"css": css, "count": count, "findings": report.findings}


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def render_check(report: PreviewReport) -> str:
    """The ontology check of the sample's output, grouped by problem, with the mapping's findings."""
    groups: dict[tuple[str, str, str, str], list[str]] = {}
    for item in report.items:
        for issue in item.issues:
            key = (issue.severity, issue.kind, issue.predicate, issue.message)
            groups.setdefault(key, []).append(item.record_id)
    return render(
        "check.html",
        report=report,
        unit=_unit(report),
        check=_checks(report),
        groups=sorted(groups.items(), key=lambda kv: (kv[0][0] != "error", kv[0])),
        failed=[item for item in report.items if item.error is not None],
    )


def render_coverage(report: CoverageReport) -> str:
    return render("coverage.html", report=report)


def render_diff(report: DiffReport) -> str:
    from transforms.curation.rdfdiff import STATUSES

    return render("diff.html", report=report, statuses=STATUSES)


# --- the page's constant style and script (trusted text, not escaped) -----------------------------

STYLE = Markup("""
body{font-family:system-ui,sans-serif;margin:0;color:#222}header{background:#234;color:#fff;padding:.4em 1em}
header{display:flex;justify-content:space-between;align-items:center}
header form#logout{background:none;padding:0;align-items:center;color:#fff}
header a{color:#fff;text-decoration:none}main{padding:1em}form{display:flex;flex-wrap:wrap;gap:.6em 1.2em;
align-items:end;background:#f4f6f8;padding:.8em;border-radius:6px}label{display:flex;flex-direction:column;
font-size:.9em}.buttons{display:flex;gap:.5em;align-items:center}button{padding:.4em 1em}
table{border-collapse:collapse;margin:.8em 0}
td,th{border:1px solid #ccd;padding:.25em .5em;vertical-align:top;
text-align:left}tr.failed,tr.unread{background:#fde8e8}tr.read{background:#eef8ee}
.side-by-side{display:grid;grid-template-columns:1fr 1fr;gap:1em}
pre{background:#fafafa;border:1px solid #ddd;padding:.5em;overflow:auto;max-height:32em;font-size:.8em;
white-space:pre-wrap;word-break:break-all}.error{background:#fdd;border:1px solid #c33;padding:.5em;
margin:.3em 0}.warning{background:#fff4d6;border:1px solid #d90;padding:.4em;margin:.3em 0}
.xpath{background:#fff;padding:0 .3em}pre.added{background:#e9f7e9}pre.removed{background:#fbeaea}
.issue.error{background:none;border:0;color:#a00}fieldset{display:flex;gap:.6em;border:1px solid #ccd}
.checks{padding:.4em;margin:.5em 0;border:1px solid #9c9;background:#eef8ee}.checks.error{border-color:#c33;
background:#fde8e8}.checks.warning{border-color:#d90;background:#fff4d6}.draft{flex-basis:100%}ul.examples{margin:0;padding-left:1em}
section.record-detail,section.diff-record{border-top:2px solid #ccd;margin-top:1em}
""")

SCRIPT = Markup("""
(function(){var f=document.getElementById('workbench');if(!f)return;
f.addEventListener('submit',function(){document.getElementById('busy').hidden=false;});
var file=document.getElementById('mapping');if(file){file.addEventListener('change',function(){
var c=f.querySelector('input[name=current]');if(c&&file.files.length){c.checked=false;}});}})();
""")
