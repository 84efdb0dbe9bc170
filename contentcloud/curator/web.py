"""The curator page: preview, coverage and diff of a datasource's mapping or an uploaded draft.

A plain WSGI app (``CuratorApp(settings)``) mounted at ``/curator`` by ``contentcloud serve``;
server-rendered HTML with a few lines of vanilla JavaScript, no framework. Routes (relative to
the mount point):

* ``GET /``: the form: datasource, draft mapping files, sample size, record ids;
* ``GET|POST /preview``, ``/coverage``, ``/diff``: the view for the datasource's current chain
  (GET, or POST without files) or for the uploaded draft (POST, ``multipart/form-data``);
* ``GET|POST /login``: the login form and its check; ``POST /logout``.

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

Every value that reaches the page is HTML-escaped; the page sends a Content-Security-Policy that
allows only its own inline script and style.
"""

from __future__ import annotations

import html
import logging
import re
import tempfile
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote

from contentcloud.auth import Authenticator, Identity, csrf_matches, secure_request
from mdstore.errors import ConfigError, ContentcloudError, RecordError, StoreError

if TYPE_CHECKING:
    from contentcloud.settings import Settings
    from transforms.curation.coverage import CoverageReport
    from transforms.curation.preview import PreviewItem, PreviewReport
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


def e(value: Any) -> str:
    """HTML-escape anything (quotes included: values also go into attributes)."""
    return html.escape("" if value is None else str(value), quote=True)


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


def parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, list[str]], list[tuple[str, bytes]]]:
    """Fields and files of a ``multipart/form-data`` body, with the standard library's MIME parser."""
    from email.parser import BytesParser
    from email.policy import HTTP

    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\nMIME-Version: 1.0\r\n\r\n" + body
    )
    if not message.is_multipart():
        raise HttpError("400 Bad Request", "the form data is not multipart")
    fields: dict[str, list[str]] = {}
    files: list[tuple[str, bytes]] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        data = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is not None:
            if filename or data:
                files.append((str(filename), data))
            continue
        fields.setdefault(str(name), []).append(data.decode("utf-8", errors="replace"))
    return fields, files


def safe_name(filename: str, index: int) -> str:
    name = SAFE_NAME.sub("_", Path(filename.replace("\\", "/")).name)[:80].lstrip(".")
    return name or f"draft-{index}.xml"


def read_form(environ: dict) -> Form:
    method = environ.get("REQUEST_METHOD", "GET")
    fields: dict[str, list[str]] = parse_qs(environ.get("QUERY_STRING", ""))
    uploads: list[tuple[str, bytes]] = []
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
    if not (fields.get("current") or [""])[0]:
        files = [(name, data) for name, data in uploads if data]
        if not files:  # a draft carried back by the page itself
            names, texts = fields.get("draft_name", []), fields.get("draft_text", [])
            files = [(n, t.encode("utf-8")) for n, t in zip(names, texts, strict=False) if t]
        if len(files) > MAX_FILES:
            raise HttpError("400 Bad Request", f"at most {MAX_FILES} draft files")
        form.draft = Draft([(safe_name(name, i), data) for i, (name, data) in enumerate(files)])
    return form


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
        views = {"/preview": self.preview, "/coverage": self.coverage, "/diff": self.diff}
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
                    raise self.refusal(environ, base, path, identity)
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
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
            ("X-Frame-Options", "DENY"),
            ("Referrer-Policy", "same-origin"),
            (
                "Content-Security-Policy",
                "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
                "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
            ),
            *headers,
        ]
        start_response(status, headers)
        return [] if method == "HEAD" else [data]

    # --- authentication ------------------------------------------------------------------------
    def refusal(self, environ: dict, base: str, path: str, identity: Identity) -> HttpError:
        """What an anonymous request gets, decided before its body is read: browsers go to the
        login page (303, back here afterwards), everything else gets 401."""
        accept = str(environ.get("HTTP_ACCEPT") or "")
        if identity.method == "anonymous" and "text/html" in accept:
            target = base + path
            if environ.get("REQUEST_METHOD") == "GET" and environ.get("QUERY_STRING"):
                target += "?" + environ["QUERY_STRING"]
            location = f"{base}/login?next={quote(target, safe='/')}"
            return HttpError("303 See Other", "log in first", [("Location", location)])
        message = (
            "the bearer token is not valid"
            if identity.method == "bad-authorization"
            else "log in, or send Authorization: Bearer <token>"
        )
        return HttpError(
            "401 Unauthorized", message, [("WWW-Authenticate", 'Bearer realm="contentcloud curator"')]
        )

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
        message = f'<div class="error" id="login-error">{e(error)}</div>' if error else ""
        return PAGE.format(
            title="Log in",
            base=e(base),
            account="",
            form=LOGIN_FORM.format(base=e(base), csrf=e(csrf), next=e(next_url), user=e(user)),
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
                content = view(form, paths)
        finally:
            if heavy:
                self._heavy.release()
        what = f"draft {form.draft.names}" if form.draft else "current mapping"
        return self.page(base, form, content, f"{name.capitalize()} of {form.datasource} ({what})", identity)

    def preview(self, form: Form, paths: list[Path]) -> str:
        from contentcloud.curator.workbench import run_preview

        report = run_preview(
            form.datasource, self.settings, mappings=paths, sample=form.sample, ids=form.ids or None
        )
        return render_preview(report)

    def coverage(self, form: Form, paths: list[Path]) -> str:
        from contentcloud.curator.workbench import run_coverage

        return render_coverage(run_coverage(form.datasource, self.settings, mappings=paths))

    def diff(self, form: Form, paths: list[Path]) -> str:
        from contentcloud.curator.workbench import run_diff

        return render_diff(run_diff(form.datasource, self.settings, mappings=paths, max_details=MAX_DETAILS))

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
            account = ACCOUNT.format(base=e(base), user=e(identity.user), csrf=e(identity.csrf))
        return PAGE.format(
            title=e(title),
            base=e(base),
            account=account,
            form=self.form_html(base, form, identity),
            content=content,
            script=SCRIPT,
            style=STYLE,
        )

    def form_html(self, base: str, form: Form, identity: Identity) -> str:
        try:
            sources = self.datasources()
        except ConfigError as exc:
            return f'<p class="error">the datasource registry is invalid: {e(exc)}</p>'
        options = "".join(
            f'<option value="{e(ds_id)}"{" selected" if ds_id == form.datasource else ""}>'
            f"{e(ds_id)}: {e(name)}{'' if has_chain else ' (no transform chain)'}</option>"
            for ds_id, name, has_chain in sources
        )
        carried = ""
        if form.draft:
            kept = "".join(
                f'<input type="hidden" name="draft_name" value="{e(name)}">'
                f'<textarea name="draft_text" hidden>{e(data.decode("utf-8", errors="replace"))}</textarea>'
                for name, data in form.draft.files
            )
            carried = (
                f'<p class="draft" id="draft-in-use">Draft in use: <b>{e(form.draft.names)}</b> '
                f'<label><input type="checkbox" name="current" value="1"> use the current mapping instead'
                f"</label></p>{kept}"
            )
        return FORM.format(
            base=e(base),
            options=options,
            sample=e(form.sample),
            ids=e(" ".join(form.ids)),
            carried=carried,
            csrf=e(identity.csrf),
            max_kib=MAX_UPLOAD // 1024,
        )

    def error_page(self, base: str, status: str, message: str, identity: Identity) -> str:
        content = f'<div class="error" id="page-error"><b>{e(status)}</b>: {e(message)}</div>'
        if identity.user is None:  # the workbench form (the datasource list) is for logged-in users
            return (
                f"<!doctype html><title>{e(status)}</title><style>{STYLE}</style>"
                f'<main><p><a href="{e(base)}/login">Log in</a></p>{content}</main>'
            )
        try:
            return self.page(base, Form(), content, status, identity)
        except Exception:  # the frame itself failed (e.g. the registry): the message alone
            return f"<!doctype html><title>{e(status)}</title><p>{e(status)}: {e(message)}</p>"


SESSION_MAX_AGE = 8 * 3600


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


def _error_html(error: Any, css: str = "error") -> str:
    parts = [f'<span class="message">{e(error.message)}</span>']
    if error.step:
        parts.append(f'<span class="step">step {e(error.step)}</span>')
    if error.location:
        parts.append(f'<span class="location">at {e(error.location)}</span>')
    if error.xpath:
        parts.append(f'<code class="xpath">{e(error.xpath)}</code>')
    return f'<div class="{css}">{" ".join(parts)}</div>'


def render_preview(report: PreviewReport) -> str:
    rows = []
    details = []
    for n, item in enumerate(report.items, start=1):
        status = "failed" if item.error else "ok"
        rows.append(
            f'<tr class="record {status}" data-record-id="{e(item.record_id)}">'
            f'<td><a href="#r{n}">{e(item.record_id)}</a></td><td>{e(item.original_id)}</td>'
            f'<td class="status">{status}</td><td>{e(item.triples if item.triples is not None else "")}</td>'
            f"<td>{len(item.warnings)}</td><td>{len(item.issues)}</td></tr>"
        )
        details.append(_record_detail(n, item))
    missing = "".join(f'<p class="error">no record {e(m)} in this version</p>' for m in report.missing)
    return (
        f'<p class="summary" id="preview-count">{len(report.items)} of {report.total} records of '
        f"{e(report.unit)} @ {e(report.version)}; {report.failed} failed</p>{missing}"
        '<table id="preview-summary"><thead><tr><th>record</th><th>original id</th><th>status</th>'
        "<th>triples</th><th>warnings</th><th>ontology issues</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>{''.join(details)}"
    )


def _record_detail(n: int, item: PreviewItem) -> str:
    if item.error is not None:
        right = f"<h4>error</h4>{_error_html(item.error)}"
    else:
        right = f'<h4>output ({e(item.output_format)})</h4><pre class="output">{e(item.output)}</pre>'
    warnings = "".join(_error_html(w, "warning") for w in item.warnings)
    issues = "".join(
        f'<li class="issue {e(i.severity)}"><b>{e(i.kind)}</b> {e(i.subject)} {e(i.predicate)}: '
        f"{e(i.message)}</li>"
        for i in item.issues
    )
    return (
        f'<section class="record-detail" id="r{n}"><h3>{e(item.record_id)} <small>{e(item.original_id)}'
        f'</small></h3><div class="side-by-side"><div><h4>source</h4><pre class="source">{e(item.source)}'
        f"</pre></div><div>{right}</div></div>{warnings}"
        f"{f'<ul class=issues>{issues}</ul>' if issues else ''}</section>"
    )


def render_coverage(report: CoverageReport) -> str:
    rows = []
    for row in report.rows:
        read = {True: "yes", False: "no", None: "?"}[row.read]
        css = {True: "read", False: "unread", None: "unknown"}[row.read]
        examples = "".join(f"<li>{e(x)}</li>" for x in row.examples)
        rows.append(
            f'<tr class="path {css}"><td class="path-name"><code>{e(row.path)}</code></td>'
            f"<td>{row.records}</td><td>{row.share:.0%}</td><td>{e(row.distinct_text)}</td>"
            f'<td class="reads">{read}</td><td><ul class="examples">{examples}</ul></td></tr>'
        )
    legend = " ".join(f"<code>{e(p)}</code>={e(u)}" for p, u in report.prefixes.items())
    errors = (
        f'<p class="error">{report.parse_errors} records do not parse, e.g. {e(report.first_errors[0])}</p>'
        if report.parse_errors
        else ""
    )
    return (
        f'<p class="summary" id="coverage-count">{report.records} records of {e(report.unit)} @ '
        f"{e(report.version)}: {len(report.rows)} paths, {len(report.unread)} not read by the mapping; "
        f"reads by {e(report.method)} ({e(report.method_note)}); {report.seconds:.1f}s</p>{errors}"
        f'<p class="legend">{legend}</p>'
        '<table id="coverage"><thead><tr><th>path</th><th>records</th><th>share</th><th>distinct</th>'
        f"<th>read</th><th>examples</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def render_diff(report: DiffReport) -> str:
    from transforms.curation.rdfdiff import STATUSES

    counts = "".join(
        f'<tr class="status-{e(s)}"><td>{e(s.replace("_", " "))}</td><td>{report.counts.get(s, 0)}</td></tr>'
        for s in STATUSES
    )
    predicates = "".join(
        f"<tr><td><code>{e(p)}</code></td><td>{c['added']}</td><td>{c['removed']}</td><td>{c['records']}</td></tr>"
        for p, c in report.by_predicate.items()
    )
    records = []
    for item in report.records:
        error = f'<div class="error">{e(item.error)}</div>' if item.error else ""
        old = f'<div class="warning">stored error: {e(item.old_error)}</div>' if item.old_error else ""
        removed = "\n".join(f"- {s} ." for s in item.removed)
        added = "\n".join(f"+ {s} ." for s in item.added)
        records.append(
            f'<section class="diff-record {e(item.status)}" data-record-id="{e(item.record_id)}">'
            f"<h3>{e(item.record_id)} <small>{e(item.original_id)}: {e(item.status.replace('_', ' '))}"
            f"</small></h3>{error}{old}"
            f'<pre class="removed">{e(removed)}</pre><pre class="added">{e(added)}</pre></section>'
        )
    more = (
        f"<p>… and {report.details_dropped} more records with differences</p>"
        if report.details_dropped
        else ""
    )
    return (
        f'<p class="summary" id="diff-count">{report.total} records: {e(report.native_unit)} @ '
        f"{e(report.native_version)} against {e(report.transformed_unit)} @ {e(report.transformed_version)}; "
        f"triples added {report.added}, removed {report.removed}; {report.seconds:.1f}s</p>"
        f'<table id="diff-summary"><tbody>{counts}</tbody></table>'
        '<table id="diff-predicates"><thead><tr><th>predicate</th><th>added</th><th>removed</th>'
        f"<th>records</th></tr></thead><tbody>{predicates}</tbody></table>{''.join(records)}{more}"
    )


# --- templates (str.format: every inserted value is escaped or built from escaped parts) -----------

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><style>{style}</style></head>
<body><header><h1><a href="{base}/">contentcloud curator</a></h1>{account}</header>
<main>{form}<h2 id="view-title">{title}</h2><div id="result">{content}</div></main>
<script>{script}</script></body></html>
"""

FORM = """<form id="workbench" method="post" enctype="multipart/form-data" action="{base}/preview">
<input type="hidden" name="csrf_token" value="{csrf}">
<label>Datasource <select name="datasource" id="datasource" required>{options}</select></label>
<label>Draft mapping <input type="file" name="mapping" id="mapping" multiple
 accept=".xsl,.xslt,.x3ml,.xml">
 <small>XSLT or X3ML, at most {max_kib} KiB; empty: the current mapping</small></label>
<label>Sample <input type="number" name="sample" id="sample" min="1" max="50" value="{sample}"></label>
<label>Record ids <input type="text" name="ids" id="ids" value="{ids}" placeholder="optional"></label>
{carried}
<div class="buttons"><button type="submit" id="run-preview" formaction="{base}/preview">Preview</button>
<button type="submit" id="run-coverage" formaction="{base}/coverage">Coverage</button>
<button type="submit" id="run-diff" formaction="{base}/diff">Diff</button>
<span id="busy" hidden>running…</span></div>
</form>"""

ACCOUNT = """<form id="logout" method="post" action="{base}/logout"><span id="signed-in">{user}</span>
<input type="hidden" name="csrf_token" value="{csrf}">
<button type="submit" id="logout-button">Log out</button></form>"""

LOGIN_FORM = """<form id="login" method="post" action="{base}/login">
<input type="hidden" name="csrf_token" value="{csrf}"><input type="hidden" name="next" value="{next}">
<label>User <input type="text" name="username" id="username" value="{user}" autocomplete="username" required
 autofocus></label>
<label>Password <input type="password" name="password" id="password" autocomplete="current-password"
 required></label>
<div class="buttons"><button type="submit" id="login-button">Log in</button></div>
</form>"""

STYLE = """
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
.issue.error{background:none;border:0;color:#a00}.draft{flex-basis:100%}ul.examples{margin:0;padding-left:1em}
section.record-detail,section.diff-record{border-top:2px solid #ccd;margin-top:1em}
"""

SCRIPT = """
(function(){var f=document.getElementById('workbench');if(!f)return;
f.addEventListener('submit',function(){document.getElementById('busy').hidden=false;});
var file=document.getElementById('mapping');if(file){file.addEventListener('change',function(){
var c=f.querySelector('input[name=current]');if(c&&file.files.length){c.checked=false;}});}})();
"""
