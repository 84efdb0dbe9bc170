"""The mapping editor: its page, the bundled code editor, and the JSON API behind it.

Routes (relative to the curator mount point; every one needs a login, like the rest of the
curator pages; a browser session's POST carries the session's CSRF token in ``X-CSRF-Token``):

* ``GET /editor``: the page (``?datasource=…&mapping=<file of the mappings directory>`` or
  ``&draft=<saved draft>``); ``GET /static/editor.js``: the CodeMirror bundle (built from
  ``contentcloud/curator/editor/`` by ``make editor``, committed, so no node is needed to serve);
* ``POST /api/preview``: a draft (``{"datasource", "name", "text", "sample", "ids", "records",
  "policy", "terms", "diff_page"}``; no ``text``: the current mapping) → per-record status,
  Turtle and the entity graph, diagnostics at draft lines, coverage of the sample's source
  paths, the diff of the same records grouped by predicate (paged), the ontology check;
* ``GET /api/source-tree?datasource=…``: the paths of the harvested records with counts and
  example values; ``GET /api/ontology``: PE/CRM classes and properties (labels, domain, range,
  superclasses) for the editor's autocompletion;
* ``GET|POST /api/drafts``: the curator's saved drafts (``GET /api/drafts?name=…``: one);
* ``POST /api/promote``: ``{"name", "text", "message", "datasource"}``: a draft that compiles
  becomes the next version of ``mappings/<name>`` (:class:`~contentcloud.curator.history.MappingHistory`)
  and the configuration event of every datasource whose chain names it is sent
  (:func:`contentcloud.events.send_asset_event` on ``contentcloud://<id>/config``: Airflow's
  ``reprocess__<id>`` runs transform → index → publish); ``POST /api/rollback``:
  ``{"name", "version", "message"}``, the same with an old version's content;
* ``GET /api/history?name=…`` (versions), ``&version=n`` (one, with content),
  ``&diff=a..b`` (a unified diff).

The preview reuses :func:`contentcloud.curator.workbench.run_live`, which runs the same preview,
coverage and diff functions as the form views, over one sample, with one compiled draft chain.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
import time
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from markupsafe import Markup

from contentcloud.auth import Identity, csrf_matches
from contentcloud.curator.history import Drafts, MappingHistory, check_mapping_name
from contentcloud.curator.web import (
    MAX_SAMPLE,
    MAX_UPLOAD,
    STYLE,
    Draft,
    Form,
    HttpError,
    _mappings_name,
    _status_for,
    policy_files,
    render,
    safe_name,
    terms_files,
)
from mdstore.errors import ContentcloudError, OrchestratorError

if TYPE_CHECKING:
    from contentcloud.curator.web import CuratorApp
    from contentcloud.curator.workbench import LiveReport

logger = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
#: predicate groups of the diff per page
DIFF_GROUPS_PER_PAGE = 8
#: statements shown per predicate group
DIFF_STATEMENTS = 40
#: entities of one record's graph rendering
MAX_ENTITIES = 200
EDITOR_CSP = (
    "default-src 'none'; style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
JSON_CSP = "default-src 'none'; frame-ancestors 'none'"

RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
LABELS = (
    "http://www.w3.org/2000/01/rdf-schema#label",
    "http://www.w3.org/2004/02/skos/core#prefLabel",
)


class EditorRoutes:
    """The editor's routes, answered for a :class:`~contentcloud.curator.web.CuratorApp`."""

    def __init__(self, app: CuratorApp) -> None:
        self.app = app
        self.settings = app.settings

    # --- dispatch ---------------------------------------------------------------------------
    def respond(self, environ: dict, base: str, path: str, identity: Identity) -> tuple[str, list, bytes]:
        """(status, headers, body) for one request of the editor."""
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/static/editor.js":
            return self.bundle()
        if path == "/editor":
            try:
                body = self.page(environ, base, identity)
                status = "200 OK"
            except (HttpError, ContentcloudError) as exc:
                status = exc.status if isinstance(exc, HttpError) else _status_for(exc)
                body = self.app.error_page(base, status, getattr(exc, "message", str(exc)), identity)
            data = body.encode("utf-8")
            return (
                status,
                [("Content-Type", "text/html; charset=utf-8"), ("Content-Security-Policy", EDITOR_CSP)],
                data,
            )
        routes = {
            ("POST", "/api/preview"): self.preview,
            ("GET", "/api/source-tree"): self.source_tree,
            ("GET", "/api/ontology"): self.ontology,
            ("GET", "/api/drafts"): self.drafts,
            ("POST", "/api/drafts"): self.save_draft,
            ("POST", "/api/promote"): self.promote,
            ("POST", "/api/rollback"): self.rollback,
            ("GET", "/api/history"): self.history,
        }
        try:
            route = routes.get((method if method != "HEAD" else "GET", path))
            if route is None:
                if any(p == path for _m, p in routes):
                    raise HttpError("405 Method Not Allowed", f"{path}: not with {method}")
                raise HttpError("404 Not Found", f"no API {path}")
            if method == "POST":
                if identity.needs_csrf and not csrf_matches(identity, environ.get("HTTP_X_CSRF_TOKEN", "")):
                    logger.warning(
                        "curator API: POST by %s without a valid CSRF token refused", identity.user
                    )
                    raise HttpError(
                        "403 Forbidden", "the page has expired or did not come from this site; reload it"
                    )
                query = _read_json(environ)
            else:
                query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
            status, answer = "200 OK", route(query, identity)
        except HttpError as exc:
            status, answer = exc.status, {"error": exc.message}
        except ContentcloudError as exc:
            status, answer = _status_for(exc), {"error": str(exc)}
        except Exception:
            logger.exception("curator API %s failed", path)
            status, answer = "500 Internal Server Error", {"error": "the request failed; see the server log"}
        data = json.dumps(answer, ensure_ascii=False).encode("utf-8")
        return status, [("Content-Type", "application/json"), ("Content-Security-Policy", JSON_CSP)], data

    def bundle(self) -> tuple[str, list, bytes]:
        path = STATIC / "editor.js"
        if not path.is_file():
            raise HttpError("404 Not Found", "the editor bundle is not built (make editor)")
        headers = [("Content-Type", "text/javascript; charset=utf-8"), ("Content-Security-Policy", JSON_CSP)]
        return "200 OK", headers, path.read_bytes()

    # --- the page ---------------------------------------------------------------------------
    def page(self, environ: dict, base: str, identity: Identity) -> str:
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        sources = self.app.datasources()
        chosen = query.get("datasource") or (sources[0][0] if sources else "")
        name, text, policy, terms = "", "", "", ""
        if query.get("draft"):
            saved = Drafts(self.settings.var_dir, identity.user or "").load(query["draft"])
            name, text = str(saved.get("mapping") or ""), str(saved.get("text") or "")
            chosen = str(saved.get("datasource") or chosen)
            policy, terms = str(saved.get("policy") or ""), str(saved.get("terms") or "")
        elif query.get("mapping"):
            name = check_mapping_name(query["mapping"])
            path = Path(self.settings.mappings) / name
            if not path.is_file():
                raise HttpError("404 Not Found", f"no mapping {name} in the mappings directory")
            text = path.read_text(encoding="utf-8")
        elif chosen:
            name, text = self.current_mapping(chosen)
        root = Path(self.settings.mappings)
        account = Markup("")
        if identity.method == "session":
            account = render("account.html", base=base, user=identity.user, csrf=identity.csrf)
        body = render(
            "editor.html",
            base=base,
            csrf=identity.csrf,
            sources=[(i, n) for i, n, _chain in sources],
            chosen=chosen,
            name=name or "draft.x3ml",
            text=text,
            policies=policy_files(root),
            policy=policy,
            terms=terms_files(root),
            term=terms,
            draft=query.get("draft", ""),
        )
        page = render(
            "page.html",
            title="Mapping editor",
            base=base,
            account=account,
            form="",
            content=body,
            script=Markup(""),
            style=STYLE + EDITOR_STYLE,
        )
        # the editor's script is a file (its CSP allows no inline script): the empty inline tag
        # gives way to it on the rendered text (a str: Markup.replace would escape the new tag)
        tag = Markup('<script src="{}/static/editor.js"></script>').format(base)
        return str(page).replace("<script></script>", str(tag))

    def current_mapping(self, datasource_id: str) -> tuple[str, str]:
        """The first mapping file of the datasource's chain (name, text), or ("", "")."""
        from contentcloud.curator.workbench import MAPPING_STEPS, datasource

        for step in datasource(self.settings, datasource_id).transform.steps:
            if step.get("type") in MAPPING_STEPS:
                mapping = step.get("mapping") or (step.get("mappings") or [None])[0]
                if isinstance(mapping, str):
                    path = Path(self.settings.mappings) / mapping
                    if path.is_file():
                        return Path(mapping).name, path.read_text(encoding="utf-8")
        return "", ""

    # --- preview ----------------------------------------------------------------------------
    def preview(self, query: dict[str, Any], identity: Identity) -> dict[str, Any]:
        from contentcloud.curator.workbench import run_live

        started = time.perf_counter()
        source = str(query.get("datasource") or "")
        if not source:
            raise HttpError("400 Bad Request", "pick a datasource")
        text = query.get("text")
        name = safe_name(str(query.get("name") or "draft.x3ml"), 0)
        sample = _int(query.get("sample", MAX_SAMPLE), "sample", 1, MAX_SAMPLE)
        ids = [str(i) for i in query.get("ids") or [] if str(i).strip()][:MAX_SAMPLE]
        own = [
            (safe_name(str(r.get("name") or f"record-{n}.xml"), n), str(r.get("text") or "").encode("utf-8"))
            for n, r in enumerate(query.get("records") or [])
            if isinstance(r, dict) and str(r.get("text") or "").strip()
        ][:MAX_SAMPLE]
        page = _int(query.get("diff_page", 1), "diff_page", 1, 10_000)
        form = Form(
            datasource=source,
            policy=_mappings_name(str(query.get("policy") or ""), "policy"),
            terms=_mappings_name(str(query.get("terms") or ""), "terms"),
        )
        with tempfile.TemporaryDirectory(prefix="contentcloud-live-") as tmp:
            paths = []
            if isinstance(text, str):
                form.draft = Draft([(name, text.encode("utf-8"))])
                paths.append(Path(tmp) / name)
                paths[0].write_text(text, encoding="utf-8")
            options = self.app.draft_options(form, paths, Path(tmp))
            try:
                live = run_live(
                    source, self.settings, mappings=paths, sample=sample, ids=ids, own=own, **options
                )
                answer = live_json(live, name, page=page, text=text if isinstance(text, str) else "")
            except ContentcloudError as exc:
                if _status_for(exc) != "400 Bad Request" or not paths:
                    raise
                message = str(exc)
                answer = {
                    "ok": False,
                    "compile_error": message,
                    "diagnostics": [_diagnostic(name, "error", message, exc_location(exc))],
                }
            answer["draft"] = name if paths else ""
            answer["policy"] = str(Path(options["policy"]).name) if options.get("policy") else ""
            answer["seconds"] = round(time.perf_counter() - started, 3)
            # messages name a draft by its name, not by this request's directory
            return json.loads(json.dumps(answer, ensure_ascii=False).replace(tmp + "/", ""))

    # --- X3ML help --------------------------------------------------------------------------
    def source_tree(self, query: dict[str, Any], identity: Identity) -> dict[str, Any]:
        from contentcloud.curator.workbench import source_tree

        source = str(query.get("datasource") or "")
        if not source:
            raise HttpError("400 Bad Request", "pick a datasource")
        report = source_tree(source, self.settings, limit=_int(query.get("limit", 500), "limit", 1, 5000))
        return {
            "datasource": source,
            "version": report.version,
            "records": report.records,
            "prefixes": report.prefixes,
            "paths": [
                {"path": row.path, "kind": row.kind, "records": row.records, "examples": list(row.examples)}
                for row in sorted(report.rows, key=lambda r: r.path)
            ],
        }

    def ontology(self, query: dict[str, Any], identity: Identity) -> dict[str, Any]:
        return ontology_terms()

    # --- drafts, promote, history -----------------------------------------------------------
    def drafts(self, query: dict[str, Any], identity: Identity) -> dict[str, Any]:
        drafts = Drafts(self.settings.var_dir, identity.user or "")
        if query.get("name"):
            return drafts.load(str(query["name"]))
        return {"drafts": drafts.list()}

    def save_draft(self, query: dict[str, Any], identity: Identity) -> dict[str, Any]:
        fields = {k: str(query.get(k) or "") for k in ("datasource", "mapping", "text", "policy", "terms")}
        return Drafts(self.settings.var_dir, identity.user or "").save(str(query.get("name") or ""), fields)

    def _history(self) -> MappingHistory:
        return MappingHistory(self.settings.var_dir, self.settings.mappings)

    def promote(self, query: dict[str, Any], identity: Identity) -> dict[str, Any]:
        name = check_mapping_name(str(query.get("name") or ""))
        text = query.get("text")
        if not isinstance(text, str) or not text.strip():
            raise HttpError("400 Bad Request", "promote: the draft is empty")
        source = str(query.get("datasource") or "")
        if source:
            self.compiles(source, name, text, query)
        entry = self._history().promote(
            name, text, user=identity.user or "-", message=str(query.get("message") or "")
        )
        logger.info("curator %s promoted %s version %s", identity.user, name, entry["version"])
        return {**entry, **self.announce(name, entry)}

    def rollback(self, query: dict[str, Any], identity: Identity) -> dict[str, Any]:
        name = check_mapping_name(str(query.get("name") or ""))
        version = _int(query.get("version"), "version", 1, 1_000_000)
        old = self._history().get(name, version)
        message = str(query.get("message") or "").strip() or f"roll back to version {version}"
        entry = self._history().promote(name, old["content"], user=identity.user or "-", message=message)
        logger.info("curator %s rolled %s back to version %s", identity.user, name, version)
        return {**entry, **self.announce(name, entry)}

    def history(self, query: dict[str, Any], identity: Identity) -> dict[str, Any]:
        name = check_mapping_name(str(query.get("name") or ""))
        history = self._history()
        if query.get("diff"):
            found = re.fullmatch(r"(\d+)\.\.(\d+)", str(query["diff"]))
            if not found:
                raise HttpError("400 Bad Request", "diff: two versions as a..b")
            return {"name": name, "diff": history.diff(name, int(found.group(1)), int(found.group(2)))}
        if query.get("version"):
            return history.get(name, _int(query["version"], "version", 1, 1_000_000))
        return {"name": name, "versions": history.versions(name)}

    def compiles(self, source: str, name: str, text: str, query: dict[str, Any]) -> None:
        """Refuse a draft that does not compile (the error is the engine's, with file:line)."""
        from contentcloud.curator.workbench import chain_for, datasource

        form = Form(datasource=source, policy=_mappings_name(str(query.get("policy") or ""), "policy"))
        with tempfile.TemporaryDirectory(prefix="contentcloud-promote-") as tmp:
            path = Path(tmp) / name
            path.write_text(text, encoding="utf-8")
            options = self.app.draft_options(form, [path], Path(tmp))
            try:
                with chain_for(datasource(self.settings, source), self.settings, [path], **options):
                    pass
            except ContentcloudError as exc:
                raise HttpError(
                    "400 Bad Request", f"not promoted: {str(exc).replace(tmp + '/', '')}"
                ) from None

    def announce(self, name: str, entry: dict[str, Any]) -> dict[str, Any]:
        """The configuration event of every datasource whose chain names ``name``: Airflow's
        ``reprocess__<id>`` is scheduled on it (the same asset ``contentcloud_config_watch`` emits)."""
        from contentcloud.events import config_asset_uri, send_asset_event

        affected = affected_datasources(self.settings, name)
        events = []
        for source in affected:
            uri = config_asset_uri(source)
            extra = {"mapping": name, "version": entry["version"], "user": entry["user"], "source": "curator"}
            if not self.settings.airflow_api:
                events.append({"datasource": source, "uri": uri, "sent": False})
                continue
            try:
                send_asset_event(self.settings, uri, extra)
                events.append({"datasource": source, "uri": uri, "sent": True})
            except OrchestratorError as exc:
                events.append({"datasource": source, "uri": uri, "sent": False, "warning": str(exc)})
        note = ""
        if affected and not self.settings.airflow_api:
            note = (
                "no Airflow API is configured (CONTENTCLOUD_AIRFLOW_API): contentcloud_config_watch "
                "announces the change within 5 minutes, or run the transform, index and publish of "
                + ", ".join(affected)
            )
        return {"affected": affected, "events": events, "note": note}


def affected_datasources(settings: Any, name: str) -> list[str]:
    """Datasources whose transform chain names the mapping file ``name``."""
    from contentcloud.datasources import DatasourceRegistry

    found = []
    for source in DatasourceRegistry(settings.registry).all():
        for step in source.transform.steps:
            named = [step.get("mapping"), *(step.get("mappings") or [])]
            if any(isinstance(n, str) and Path(n).name == name for n in named):
                found.append(source.id)
                break
    return found


def _read_json(environ: dict) -> dict[str, Any]:
    from contentcloud.curator.web import _read_body

    body = _read_body(environ, MAX_UPLOAD)
    if not body:
        return {}
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise HttpError("400 Bad Request", "the request body is not JSON") from None
    if not isinstance(data, dict):
        raise HttpError("400 Bad Request", "the request body is not a JSON object")
    return data


def _int(value: Any, what: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise HttpError("400 Bad Request", f"{what} is not a number") from None
    return max(low, min(high, number))


# --- the JSON of one live preview ------------------------------------------------------------------


def exc_location(exc: ContentcloudError) -> str:
    return " ".join(str(getattr(exc, k, "") or "") for k in ("location", "message"))


def line_in(name: str, *texts: str | None) -> int | None:
    """The line of the draft ``name`` a message points at (``name:40`` or ``line 40``)."""
    for text in texts:
        if not text:
            continue
        found = (
            re.search(rf"(?:^|[\s/'\"(]){re.escape(name)}:(\d+)", text)
            or re.search(r"\bline (\d+), column", text)  # the XML parser's own position
            or re.search(r"\bline (\d+)", text)
        )
        if found:
            return int(found.group(1))
    return None


def _diagnostic(name: str, severity: str, message: str, *where: str | None) -> dict[str, Any]:
    return {"line": line_in(name, *where, message), "severity": severity, "message": message}


def live_json(live: LiveReport, name: str, *, page: int = 1, text: str = "") -> dict[str, Any]:
    from contentcloud.curator.workbench import load_ontology
    from transforms.curation.ontology import Ontology

    report = live.preview
    ontology: Ontology = load_ontology()
    records = []
    diagnostics: dict[tuple[Any, str, str], dict[str, Any]] = {}

    def note(severity: str, message: str, location: str | None, xpath: str | None = None) -> None:
        shown = f"{message} [xpath {xpath}]" if xpath else message
        found = _diagnostic(name, severity, shown, location)
        key = (found["line"], severity, shown)
        if key in diagnostics:
            diagnostics[key]["records"] += 1
        else:
            diagnostics[key] = {**found, "records": 1, "location": location or ""}

    for item in report.items:
        if item.error:
            note("error", item.error.message, item.error.location, item.error.xpath)
        for warning in item.warnings:
            note("warning", warning.message, warning.location, warning.xpath)
        records.append(
            {
                "record_id": item.record_id,
                "original_id": item.original_id,
                "status": "failed" if item.error else "ok",
                "triples": item.triples,
                "format": item.output_format,
                "output": item.output,
                "source": item.source,
                "graph": entity_graph(item.output, ontology) if item.output_format == "turtle" else [],
                "error": item.error.as_dict() if item.error else None,
                "warnings": [w.as_dict() for w in item.warnings],
                "issues": [i.as_dict() for i in item.issues],
            }
        )
    for finding in report.findings:
        note(finding.severity, finding.message, finding.location, None)
    groups: dict[tuple[str, str, str, str], set[str]] = {}
    triples: dict[tuple[str, str, str, str], int] = {}
    for item in report.items:
        for issue in item.issues:
            key = (issue.severity, issue.kind, issue.predicate, issue.message)
            groups.setdefault(key, set()).add(item.record_id)
            triples[key] = triples.get(key, 0) + 1
    # an ontology issue of a term the draft writes is marked where the draft names the term
    lines = text.splitlines()
    for (sev, kind, pred, message), affected in groups.items():
        found = next(
            (n for n, line in enumerate(lines, 1) if re.search(rf">\s*{re.escape(pred)}\s*<", line)), None
        )
        if found is not None:
            shown = f"ontology check: {pred}: {message} ({triples[(sev, kind, pred, message)]} triples)"
            diagnostics[(found, sev, shown)] = {
                "line": found,
                "severity": sev,
                "message": shown,
                "records": len(affected),
                "location": f"{name}:{found}",
            }
    coverage = live.coverage
    paths = [row.as_dict() for row in sorted(coverage.rows, key=lambda r: r.path)]
    return {
        "ok": True,
        "unit": report.unit,
        "version": report.version,
        "summary": {
            "records": len(report.items),
            "in_version": report.total,
            "failed": report.failed,
            "triples": sum(item.triples or 0 for item in report.items),
            "missing": report.missing,
        },
        "records": records,
        "diagnostics": sorted(
            diagnostics.values(), key=lambda d: (d["line"] or 0, d["severity"], d["message"])
        ),
        "findings": [f.as_dict() for f in report.findings],
        "ontology": {
            "errors": report.ontology_errors,
            "warnings": report.ontology_warnings,
            "issues": [
                {
                    "severity": sev,
                    "kind": kind,
                    "property": pred,
                    "message": message,
                    "triples": triples[(sev, kind, pred, message)],
                    "records": sorted(groups[(sev, kind, pred, message)]),
                }
                for (sev, kind, pred, message) in sorted(groups, key=lambda k: (k[0] != "error", k))
            ],
        },
        "coverage": {
            "records": coverage.records,
            "method": coverage.method,
            "read": sum(1 for p in paths if p["read"] is True),
            "missed": sum(1 for p in paths if p["read"] is False),
            "paths": paths,
        },
        "diff": diff_json(live, page=page),
    }


def diff_json(live: LiveReport, *, page: int = 1) -> dict[str, Any]:
    """The diff of the sample grouped by predicate, one page of groups at a time."""
    from transforms.curation.rdfdiff import STATUSES, predicate_of

    diff = live.diff
    if diff is None:
        return {"available": False, "note": live.diff_note}
    statements: dict[str, list[dict[str, str]]] = {}
    for item in diff.records:
        for sign, values in (("-", item.removed), ("+", item.added)):
            for statement in values:
                statements.setdefault(predicate_of(statement), []).append(
                    {"record_id": item.record_id, "sign": sign, "statement": statement}
                )
    order = list(diff.by_predicate)
    pages = max(1, -(-len(order) // DIFF_GROUPS_PER_PAGE))
    page = min(page, pages)
    shown = order[(page - 1) * DIFF_GROUPS_PER_PAGE : page * DIFF_GROUPS_PER_PAGE]
    return {
        "available": True,
        "against": f"{diff.transformed_unit} @ {diff.transformed_version}",
        "records": diff.total,
        "counts": {status: diff.counts.get(status, 0) for status in STATUSES},
        "added": diff.added,
        "removed": diff.removed,
        "page": page,
        "pages": pages,
        "predicates": len(order),
        "groups": [
            {
                "predicate": predicate,
                **diff.by_predicate[predicate],
                "statements": statements.get(predicate, [])[:DIFF_STATEMENTS],
                "more": max(0, len(statements.get(predicate, [])) - DIFF_STATEMENTS),
            }
            for predicate in shown
        ],
        "failing": [
            {"record_id": r.record_id, "status": r.status, "error": r.error}
            for r in diff.records
            if r.status in ("newly_failing", "still_failing")
        ],
    }


def entity_graph(turtle: str, ontology: Any) -> list[dict[str, Any]]:
    """A record's graph as entities (a readable rendering): each subject with its label, its
    classes and its statements, objects named by their labels; subjects no other entity points
    at come first (the record's own entity), then in IRI order. Parsed with pyoxigraph (the
    preview's own parser), which keeps this well under the time of the transform itself."""
    import pyoxigraph as ox

    from transforms.rdf import parse_rdf

    try:
        quads = parse_rdf(turtle.encode("utf-8"), "turtle")
    except ContentcloudError:  # the preview shows the Turtle and its error already
        return []

    def key(term: Any) -> str:
        return term.value if isinstance(term, ox.NamedNode) else f"_:{term.value}"

    def name(term: Any) -> str:
        return ontology.short(term.value) if isinstance(term, ox.NamedNode) else f"_:{term.value}"

    label: dict[str, str] = {}
    types: dict[str, set[str]] = {}
    statements: dict[str, list[tuple[str, Any]]] = {}
    subjects: dict[str, Any] = {}
    pointed: set[str] = set()
    for quad in quads:
        subject, predicate, value = key(quad.subject), quad.predicate.value, quad.object
        subjects.setdefault(subject, quad.subject)
        if predicate == RDF_TYPE:
            types.setdefault(subject, set()).add(name(value))
        elif predicate in LABELS and isinstance(value, ox.Literal):
            label.setdefault(subject, value.value)
        else:
            statements.setdefault(subject, []).append((predicate, value))
            if not isinstance(value, ox.Literal):
                pointed.add(key(value))
    order = sorted(subjects, key=lambda s: (s in pointed, s))[:MAX_ENTITIES]
    entities = []
    for subject in order:
        shown = []
        for predicate, value in sorted(statements.get(subject, []), key=lambda pv: (pv[0], str(pv[1]))):
            prop = ontology.short(predicate)
            if isinstance(value, ox.Literal):
                shown.append({"property": prop, "value": value.value, "literal": True})
            else:
                named = label.get(key(value)) or name(value)
                shown.append({"property": prop, "value": named, "ref": key(value)})
        entities.append(
            {
                "id": subject,
                "name": name(subjects[subject]),
                "label": label.get(subject, ""),
                "types": sorted(types.get(subject, ())),
                "statements": shown,
            }
        )
    return entities


@cache
def ontology_terms() -> dict[str, Any]:
    """Classes and properties of the PE/CRM digest for autocompletion: short names, labels, the
    superclasses of each class (so the editor can tell which properties fit a domain), and each
    property's domain and range (inherited ones included)."""
    from contentcloud.curator.workbench import load_ontology

    ontology = load_ontology()
    short = ontology.short
    classes = [
        {
            "name": short(iri),
            "label": label,
            "ancestors": sorted(short(a) for a in ontology.superclasses(iri) if a != iri),
        }
        for iri, label in sorted(ontology.class_labels.items(), key=lambda kv: short(kv[0]))
    ]
    properties = [
        {
            "name": short(iri),
            "label": entry.get("label", ""),
            "domain": [short(d) for d in ontology.domains(iri)],
            "range": [short(r) for r in ontology.ranges(iri)],
        }
        for iri, entry in sorted(ontology.properties.items(), key=lambda kv: short(kv[0]))
    ]
    return {"prefixes": dict(ontology.prefixes), "classes": classes, "properties": properties}


# --- the page ---------------------------------------------------------------------------------

EDITOR_STYLE = Markup("""
main{padding:.5em}#editor-bar{display:flex;flex-wrap:wrap;gap:.4em .8em;align-items:end;background:#f4f6f8;
padding:.5em;border-radius:6px}#ed-status{font-size:.9em;padding:.2em .5em;border-radius:4px;background:#eee}
#ed-status.ok{background:#e3f4e3}#ed-status.failed{background:#fde8e8}#ed-status.busy{background:#fff4d6}
#editor-grid{display:grid;grid-template-columns:17em minmax(0,1fr) minmax(0,1fr);gap:.6em;margin-top:.5em}
#ed-tree{font-size:.82em;max-height:70vh;overflow:auto}#ed-tree ul{list-style:none;padding-left:.9em;margin:0}
#ed-tree .node{cursor:pointer;color:#124;border-radius:3px;padding:0 .2em}
#ed-tree .node:hover{background:#dde7f3}
#ed-tree .count{color:#666;margin-left:.3em}#ed-tree .ex{color:#777;font-style:italic;margin-left:.3em}
#ed-editor .cm-editor{height:72vh;border:1px solid #ccd;font-size:13px}.hint{font-size:.8em;color:#555}
#ed-results{max-height:78vh;overflow:auto;font-size:.85em}
#ed-tabs button.active{font-weight:bold;background:#dde7f3}
.entity{border:1px solid #ccd;border-radius:4px;margin:.3em 0;padding:.2em .4em}.entity .types{color:#357}
.entity table{margin:.2em 0}.record-row.failed td{background:#fde8e8}.diag.error{color:#a00}
.diag.warning{color:#850}.sign-plus{color:#060}.sign-minus{color:#a00}details.rec{border-top:1px solid #ccd}
#ed-own{margin:.4em 0}#ed-own label{display:inline-flex;margin-right:1em}
""")
