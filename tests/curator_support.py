"""Set-up shared by the curator tests: records files into a real SQLite MDStore, a registry, a transform.

Records files have the shape of ``contentcloud/demo/sample-records.xml``: ``<records>`` of
``<record id="…" [deleted="true"]>`` each wrapping one metadata record, stored as the body.

Authentication: every setup made here configures one curator account and one API token
(:func:`credentials_env`, merged into ``env`` and ``settings``). WSGI-level tests send
:func:`bearer_environ` (or :data:`CURATOR_TOKEN` as ``Authorization: Bearer``); tests over real
HTTP log in like a browser with :class:`CuratorClient` (login form, session cookie, CSRF token);
Selenium tests call :func:`browser_login`.

Also shared: the settings environment of a test store (:func:`curator_env`), one WSGI request
(:func:`wsgi_call`), ``contentcloud serve`` as a subprocess (:func:`serve`), and headless Chromium
(:func:`start_browser`, :func:`shot`).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import http.client
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit
from wsgiref.util import setup_testing_defaults

from lxml import etree

from mdstore import RecordInput, UnitKey, open_store

PROJECT = Path(__file__).resolve().parent.parent
FIXTURES = PROJECT / "tests" / "fixtures" / "curator"
VARIED_RECORDS = FIXTURES / "oai_dc-varied-records.xml"
DEMO_RECORDS = PROJECT / "contentcloud" / "demo" / "sample-records.xml"
SHIPPED_XSL = PROJECT / "mappings" / "oai_dc2pe.xsl"

#: the curator account and API token every setup here configures (test values, not secrets)
CURATOR_USER = "curator-test"
CURATOR_PASSWORD = "test-password-9f2c41"
CURATOR_TOKEN = "cct_test-token-for-the-curator-tests-0123456789"

PROFILE = """id: {id}
name: Curator test source
nsprefix: {id}
api: {{protocol: oai, baseurl: "http://127.0.0.1:9/oai", metadata_prefix: oai_dc}}
transform:
  steps:
    - {{type: xslt, mapping: oai_dc2pe.xsl}}
limits: {{max_error_rate: 0.5}}
"""


def read_records(path: Path) -> list[tuple[str, bytes | None]]:
    """``(original id, body or None for a deleted record)`` in file order."""
    root = etree.parse(str(path)).getroot()
    found: list[tuple[str, bytes | None]] = []
    for record in root:
        if not isinstance(record.tag, str):
            continue
        if record.get("deleted") == "true":
            found.append((record.get("id"), None))
            continue
        body = copy.deepcopy(next(child for child in record if isinstance(child.tag, str)))
        etree.cleanup_namespaces(body)
        found.append((record.get("id"), etree.tostring(body, encoding="UTF-8")))
    return found


def collect(uri: str, datasource: str, records: list[tuple[str, bytes | None]]) -> None:
    """One committed native version holding the present records."""
    with open_store(uri) as store:
        tx = store.begin(UnitKey(datasource, "oai_dc"), "full", nsprefix=datasource)
        tx.upsert(RecordInput(oid, body) for oid, body in records if body is not None)
        tx.commit()


def curator_env(tmp: Path, *, mappings: Path | None = None, probe_local: bool = False) -> dict[str, str]:
    """The settings environment of a test store in ``tmp``: SQLite MDStore and index, the registry
    ``tmp/registry``, the mappings (the shipped ones unless given), the test account and token.
    ``probe_local`` lets the source probe reach the test servers on 127.0.0.1."""
    env = {
        "CONTENTCLOUD_MDSTORE": f"sqlite:///{tmp / 'mdstore.sqlite'}",
        "CONTENTCLOUD_REGISTRY": str(tmp / "registry"),
        "CONTENTCLOUD_MAPPINGS": str(mappings or PROJECT / "mappings"),
        "CONTENTCLOUD_VAR": str(tmp / "var"),
        "CONTENTCLOUD_INDEX": f"sqlite:///{tmp / 'index.sqlite'}",
        **credentials_env(),
    }
    if probe_local:
        env["CONTENTCLOUD_PROBE_ALLOW_NETWORKS"] = "127.0.0.1/32"  # the test servers
    return env


def make_setup(
    tmp_path: Path,
    *,
    datasource: str = "cur",
    records: Path = VARIED_RECORDS,
    profile: str | None = None,
    transform: bool = True,
) -> dict:
    """Registry, store and (optionally) a transformed version made by the real transform step.

    Returns ``env`` (for the CLI), ``settings``, ``uri`` and the ``registry`` directory.
    """
    from contentcloud.pipeline.transform import run_transform
    from contentcloud.settings import load_settings

    registry = tmp_path / "registry"
    registry.mkdir(exist_ok=True)
    (registry / f"{datasource}.yaml").write_text(profile or PROFILE.format(id=datasource))
    env = curator_env(tmp_path)
    uri = env["CONTENTCLOUD_MDSTORE"]
    settings = load_settings({}, env, base_dir=tmp_path)
    collect(uri, datasource, read_records(records))
    if transform:
        summary = run_transform(datasource, settings)
        assert summary.committed if hasattr(summary, "committed") else summary.version_out, summary.as_dict()
    return {"env": env, "settings": settings, "uri": uri, "registry": registry}


def demo_setup(tmp_path: Path) -> dict:
    """The demo datasource (``registry/demo.yaml``) with the bundled sample records, transformed."""
    registry = tmp_path / "registry"
    registry.mkdir(exist_ok=True)
    shutil.copy(PROJECT / "registry" / "demo.yaml", registry / "demo.yaml")
    return make_setup(
        tmp_path,
        datasource="demo",
        records=DEMO_RECORDS,
        profile=(PROJECT / "registry" / "demo.yaml").read_text(),
    )


def draft_stylesheet(
    tmp_path: Path,
    *,
    drop_subjects: bool = True,
    accept_any_record: bool = True,
    refuse_coverage: bool = False,
    name: str = "draft.xsl",
) -> Path:
    """A draft made from the shipped stylesheet: subjects no longer mapped, records without
    oai_dc:dc accepted (empty graph), or records with dc:coverage refused."""
    text = SHIPPED_XSL.read_text(encoding="utf-8")
    if drop_subjects:
        start = text.index('      <xsl:for-each select="dc:subject[normalize-space()]">')
        end = text.index("</xsl:for-each>", start) + len("</xsl:for-each>")
        text = text[:start] + text[end:]
    if accept_any_record:
        text = text.replace(
            '<xsl:message terminate="yes">no oai_dc:dc element in the record</xsl:message>', ""
        )
    if refuse_coverage:
        text = text.replace(
            '<xsl:template match="oai_dc:dc">',
            '<xsl:template match="oai_dc:dc"><xsl:if test="dc:coverage">'
            '<xsl:message terminate="yes">coverage is not mapped yet</xsl:message></xsl:if>',
        )
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- authentication --------------------------------------------------------------------------------


@functools.cache
def credentials_env() -> dict[str, str]:
    """The settings of the test account (its scrypt hash, at a lower cost) and the test token."""
    from contentcloud.auth import hash_password

    digest = hashlib.sha256(CURATOR_TOKEN.encode()).hexdigest()
    return {
        "CONTENTCLOUD_CURATOR_USERS": f"{CURATOR_USER}:{hash_password(CURATOR_PASSWORD, n=2**12)}",
        "CONTENTCLOUD_CURATOR_TOKENS": f"tests:sha256:{digest}",
    }


def bearer_environ() -> dict[str, str]:
    """WSGI environ entries that authenticate a request as a script with the test token."""
    return {"HTTP_AUTHORIZATION": f"Bearer {CURATOR_TOKEN}"}


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    text: str

    def cookies(self) -> list[str]:
        return self.headers.get_all("Set-Cookie") or []


CSRF_FIELD = re.compile(r'<input type="hidden" name="csrf_token" value="([^"]*)">')


class CuratorClient:
    """A browser over real HTTP: keeps the session cookie, knows the page's CSRF token, follows
    no redirect by itself (tests assert them). ``login()`` goes through the login form."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.cookie = ""
        self.csrf = ""

    def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> Response:
        parts = urlsplit(self.base_url)
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
        sent = {"Accept": "text/html", **({"Cookie": self.cookie} if self.cookie else {}), **(headers or {})}
        try:
            connection.request(method, path, body=body or None, headers=sent)
            response = connection.getresponse()
            result = Response(response.status, response.headers, response.read().decode("utf-8"))
        finally:
            connection.close()
        for cookie in result.cookies():
            value = cookie.split(";", 1)[0]
            self.cookie = "" if value.endswith("=") else value
        found = CSRF_FIELD.search(result.text)
        if found:
            self.csrf = found.group(1)
        return result

    def post_form(self, path: str, fields: dict[str, str], *, csrf: bool = True) -> Response:
        data = {**({"csrf_token": self.csrf} if csrf else {}), **fields}
        return self.request(
            "POST", path, urlencode(data).encode(), {"Content-Type": "application/x-www-form-urlencoded"}
        )

    def login(self, user: str = CURATOR_USER, password: str = CURATOR_PASSWORD) -> Response:
        """The login form, then the workbench page (for its CSRF token); returns the login's answer."""
        self.request("GET", "/curator/login")
        answer = self.post_form("/curator/login", {"username": user, "password": password})
        if answer.status == 303:
            self.request("GET", "/curator/")
        return answer


def browser_login(driver, base_url: str, user: str = CURATOR_USER, password: str = CURATOR_PASSWORD) -> None:
    """Log a Selenium driver in through the login form."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(base_url + "/curator/login")
    driver.find_element(By.ID, "username").send_keys(user)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "login-button").click()
    WebDriverWait(driver, 30).until(ec.presence_of_element_located((By.ID, "workbench")))


# --- WSGI requests ---------------------------------------------------------------------------------


def sources_call(
    app,
    path: str,
    *,
    method: str = "GET",
    query: str = "",
    json_body: Any = None,
    form: dict | None = None,
    raw: bytes | None = None,
    content_type: str | None = None,
    auth: bool = True,
    extra: dict | None = None,
) -> tuple[str, dict, str]:
    """One request to the datasource pages and API (mounted at ``/curator/sources``), whose body is
    ``json_body`` as JSON, ``form`` form-encoded, or ``raw`` bytes sent as they are."""
    if raw is not None:
        body, kind = raw, ""
    elif form is not None:
        body, kind = urlencode(form, doseq=True).encode(), "application/x-www-form-urlencoded"
    elif json_body is not None:
        body, kind = json.dumps(json_body).encode(), "application/json"
    else:
        body, kind = b"", ""
    return wsgi_call(
        app,
        "/curator/sources",
        path,
        method=method,
        query=query,
        body=body,
        content_type=content_type or kind,
        auth=auth,
        extra=extra,
    )


def wsgi_call(
    app,
    script_name: str,
    path: str,
    *,
    method: str = "GET",
    query: str = "",
    body: bytes = b"",
    content_type: str = "",
    auth: bool = True,
    extra: dict | None = None,
) -> tuple[str, dict, str]:
    """One request to a WSGI app mounted at ``script_name``: ``(status, headers, text)``. ``auth``
    sends the test token; ``extra`` adds (or overrides) environ entries."""
    environ: dict = {}
    setup_testing_defaults(environ)
    environ.update(
        REQUEST_METHOD=method,
        SCRIPT_NAME=script_name,
        PATH_INFO=path,
        QUERY_STRING=query,
        CONTENT_LENGTH=str(len(body)),
        CONTENT_TYPE=content_type,
    )
    environ["wsgi.input"] = io.BytesIO(body)
    if auth:
        environ.update(bearer_environ())
    environ.update(extra or {})
    captured = {}

    def start_response(status, headers):
        captured["status"], captured["headers"] = status, dict(headers)

    text = b"".join(app(environ, start_response)).decode("utf-8")
    return captured["status"], captured["headers"], text


# --- contentcloud serve and headless Chromium --------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = PROJECT / "tests" / "artifacts" / "curator"
CHROMIUM_ARGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1400,1100",
)  # fmt: skip


def serve_process(env: dict[str, str], *, cwd: Path | None = None, threads: int = 4) -> subprocess.Popen:
    """``contentcloud serve --port 0`` in a subprocess; its address is the first line of its stderr
    (``serving http://127.0.0.1:<port>/oai``)."""
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from contentcloud.cli import main; main()",
            "serve",
            "--port",
            "0",
            "--threads",
            str(threads),
        ],
        env=env,
        cwd=cwd,
        stderr=subprocess.PIPE,
        text=True,
    )


@contextlib.contextmanager
def serve(env: dict[str, str], cwd: Path) -> Iterator[str]:
    """``contentcloud serve`` over ``env`` (added to this process's environment); yields the base URL
    once ``/curator/login`` answers, and stops the server afterwards."""
    process = serve_process({**os.environ, **env}, cwd=cwd)
    try:
        url = wait_for_url(process)
        wait_until_answering(url + "/curator/login")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_for_url(process: subprocess.Popen) -> str:
    deadline = time.monotonic() + 30
    assert process.stderr is not None
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line and process.poll() is not None:
            raise AssertionError(f"contentcloud serve exited with {process.returncode}")
        found = re.match(r"serving (http://[\d.]+:\d+)/oai", line)
        if found:
            return found.group(1)
    raise AssertionError("contentcloud serve printed no address in 30 s")


def wait_until_answering(url: str) -> None:
    """Until ``url`` answers 200 (20 s at most: then the last refusal or answer is the error)."""
    deadline = time.monotonic() + 20
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - a local test server
                if response.status == 200:
                    return
                last = f"{url} answered {response.status}"
        except OSError as exc:
            if time.monotonic() > deadline:
                raise
            last = str(exc)
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} not answering 200 in 20 s: {last}")
        time.sleep(0.1)


def browser_missing() -> str | None:
    """What headless Chromium lacks here, or None."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (Path(path).is_file() and os.access(path, os.X_OK)):
            return f"{path} is missing (apt-get install chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    return None


def start_browser():
    """A Selenium driver for headless Chromium; missing, the test fails in CI and skips elsewhere."""
    import pytest

    from tests.servers import in_ci

    missing = browser_missing()
    if missing:
        if in_ci():
            pytest.fail(f"headless browser test cannot run in CI: {missing}", pytrace=False)
        pytest.skip(missing)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in CHROMIUM_ARGS:
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    return driver


def shot(driver, name: str) -> Path:
    """The whole page (the window grown to its height) as ``tests/artifacts/curator/<name>.png``."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.set_window_size(1400, max(1100, driver.execute_script("return document.body.scrollHeight")))
    assert driver.save_screenshot(str(path))
    return path
