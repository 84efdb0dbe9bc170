"""Authentication of the curator pages over real HTTP: ``contentcloud serve`` in a subprocess, a
browser-like client (:class:`tests.curator_support.CuratorClient`), bearer tokens for scripts, and
``serve``'s refusal to expose the pages without credentials."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.curator_support import (
    CURATOR_PASSWORD,
    CURATOR_TOKEN,
    CURATOR_USER,
    CuratorClient,
    draft_stylesheet,
    make_setup,
    wsgi_call,
)

pytestmark = pytest.mark.integration

CLI = [sys.executable, "-c", "from contentcloud.cli import main; main()"]


class Server:
    def __init__(self, process: subprocess.Popen, url: str, lines: list[str]) -> None:
        self.process, self.url, self.lines = process, url, lines

    def stop(self) -> str:
        """Stop the server; everything it wrote to stderr (its log)."""
        self.process.terminate()
        try:
            _, rest = self.process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, rest = self.process.communicate()
        return "".join(self.lines) + (rest or "")


def start_serve(cwd: Path, env: dict[str, str], *args: str) -> Server:
    """``contentcloud --log-level DEBUG serve --port 0 …``; returns once it printed its address."""
    process = subprocess.Popen(
        [*CLI, "--log-level", "DEBUG", "serve", "--port", "0", "--threads", "4", *args],
        env={**os.environ, **env},
        cwd=cwd,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    deadline = time.monotonic() + 30
    assert process.stderr is not None
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line and process.poll() is not None:
            raise AssertionError(f"serve exited with {process.returncode}: {''.join(lines)}")
        lines.append(line)
        found = re.match(r"serving (http://[\d.]+:\d+)/oai", line)
        if found:
            # the lines printed right after the address, up to the last (search)
            while not lines[-1].startswith("search at"):
                lines.append(process.stderr.readline())
            return Server(process, found.group(1), lines)
    process.kill()
    raise AssertionError("serve printed no address in 30 s")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("curator-auth")
    found = make_setup(tmp)
    found["tmp"] = tmp
    found["draft"] = draft_stylesheet(tmp)
    return found


@pytest.fixture(scope="module")
def server(setup) -> Iterator[Server]:
    running = start_serve(setup["tmp"], setup["env"])
    yield running
    setup["log"] = running.stop()


def multipart(fields: dict[str, str], files: list[tuple[str, bytes]]) -> tuple[bytes, dict[str, str]]:
    boundary = "contentcloud-test-boundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts += [
        f'--{boundary}\r\nContent-Disposition: form-data; name="mapping"; filename="{filename}"\r\n'
        f"Content-Type: application/xml\r\n\r\n".encode()
        + data
        + b"\r\n"
        for filename, data in files
    ]
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def test_anonymous_requests_are_sent_to_the_login_page_or_refused(server, setup):
    client = CuratorClient(server.url)
    page = client.request("GET", "/curator/preview?datasource=cur")
    assert page.status == 303
    assert page.headers["Location"] == "/curator/login?next=/curator/preview%3Fdatasource%3Dcur"
    script = client.request("GET", "/curator/", headers={"Accept": "application/json"})
    assert script.status == 401
    assert script.headers["WWW-Authenticate"] == 'Bearer realm="contentcloud curator"'
    assert "log in, or send Authorization: Bearer &lt;token&gt;" in script.text
    body, headers = multipart({"datasource": "cur"}, [("oai_dc2pe.xsl", setup["draft"].read_bytes())])
    upload = client.request("POST", "/curator/diff", body, {**headers, "Accept": "*/*"})
    assert upload.status == 401
    assert "Diff of" not in upload.text
    # the public, read-only parts stay public
    assert client.request("GET", "/oai?verb=Identify", headers={"Accept": "*/*"}).status == 200
    search = client.request("GET", "/solr/contentcloud/select?q=*:*", headers={"Accept": "*/*"})
    assert search.status == 404  # answered by the search API itself: this setup has no index
    assert "index 'contentcloud' (file " in search.text and "index.sqlite does not exist" in search.text


def test_a_wrong_password_or_user_is_refused_and_gets_no_session(server):
    client = CuratorClient(server.url)
    for user, password in [
        (CURATOR_USER, "wrong-password"),
        ("nobody", CURATOR_PASSWORD),
        (CURATOR_USER, ""),
    ]:
        answer = client.login(user, password)
        assert answer.status == 401, answer.text
        assert '<div class="error" id="login-error">wrong user name or password</div>' in answer.text
        assert answer.cookies() == []  # the anonymous login session stays; no user session is issued
        assert client.request("GET", "/curator/").status == 303


def test_login_sets_a_strict_httponly_cookie_and_returns_to_the_page_asked_for(server):
    client = CuratorClient(server.url)
    form = client.request("GET", "/curator/login?next=/curator/preview%3Fdatasource%3Dcur")
    assert form.status == 200
    assert '<input type="hidden" name="next" value="/curator/preview?datasource=cur">' in form.text
    (anonymous,) = form.cookies()
    assert re.fullmatch(
        r"contentcloud_session=[\w-]+\.[\w-]+; Path=/curator/; HttpOnly; SameSite=Strict", anonymous
    )
    answer = client.post_form(
        "/curator/login",
        {"username": CURATOR_USER, "password": CURATOR_PASSWORD, "next": "/curator/preview?datasource=cur"},
    )
    assert answer.status == 303
    assert answer.headers["Location"] == "/curator/preview?datasource=cur"
    (cookie,) = answer.cookies()
    assert re.fullmatch(
        r"contentcloud_session=[\w-]+\.[\w-]+; Path=/curator/; HttpOnly; SameSite=Strict; Max-Age=28800",
        cookie,
    )  # no Secure over plain http (a Secure cookie would never come back); see the https test
    assert cookie.split(";")[0] != anonymous.split(";")[0]  # a new session at login: no fixation
    page = client.request("GET", "/curator/preview?datasource=cur")
    assert page.status == 200
    assert f'<span id="signed-in">{CURATOR_USER}</span>' in page.text
    assert '<p class="summary" id="preview-count">5 of 8 records' in page.text
    # only pages of this app are targets after the login
    for target in ["https://evil.example/", "//evil.example/curator/", "/curator/logout", "/oai"]:
        fresh = CuratorClient(server.url)
        fresh.request("GET", "/curator/login")
        answer = fresh.post_form(
            "/curator/login", {"username": CURATOR_USER, "password": CURATOR_PASSWORD, "next": target}
        )
        assert answer.headers["Location"] == "/curator/", target


def test_posts_need_the_session_csrf_token(server, setup):
    client = CuratorClient(server.url)
    assert client.login().status == 303
    assert client.csrf
    fields = {"datasource": "cur", "sample": "2"}
    for token in [None, "", "forged-" + client.csrf]:
        sent = {**fields, **({} if token is None else {"csrf_token": token})}
        answer = client.post_form("/curator/preview", sent, csrf=False)
        assert answer.status == 403, token
        assert "the form has expired or did not come from this site; reload it" in answer.text
    body, headers = multipart({**fields}, [("oai_dc2pe.xsl", setup["draft"].read_bytes())])
    assert client.request("POST", "/curator/preview", body, headers).status == 403  # upload without token
    body, headers = multipart(
        {**fields, "csrf_token": client.csrf}, [("oai_dc2pe.xsl", setup["draft"].read_bytes())]
    )
    answer = client.request("POST", "/curator/preview", body, headers)
    assert answer.status == 200, answer.text
    assert '<h2 id="view-title">Preview of cur (draft oai_dc2pe.xsl)</h2>' in answer.text
    # another session's token is no good either
    other = CuratorClient(server.url)
    assert other.login().status == 303
    assert other.csrf != client.csrf
    assert (
        client.post_form("/curator/preview", {**fields, "csrf_token": other.csrf}, csrf=False).status == 403
    )
    # the login form itself carries one
    fresh = CuratorClient(server.url)
    fresh.request("GET", "/curator/login")
    answer = fresh.post_form(
        "/curator/login", {"username": CURATOR_USER, "password": CURATOR_PASSWORD}, csrf=False
    )
    assert answer.status == 403
    assert "the login form has expired" in answer.text


def test_logout_clears_the_cookie(server):
    client = CuratorClient(server.url)
    client.login()
    assert client.request("GET", "/curator/").status == 200
    assert client.request("GET", "/curator/logout").status == 405  # a link cannot log anyone out
    assert client.post_form("/curator/logout", {}, csrf=False).status == 403
    answer = client.post_form("/curator/logout", {})
    assert answer.status == 303
    assert answer.headers["Location"] == "/curator/login"
    assert answer.cookies() == ["contentcloud_session=; Path=/curator/; HttpOnly; SameSite=Strict; Max-Age=0"]
    assert client.request("GET", "/curator/").status == 303


def test_a_bearer_token_works_for_scripts_without_csrf(server, setup):
    client = CuratorClient(server.url)
    bearer = {"Authorization": f"Bearer {CURATOR_TOKEN}", "Accept": "*/*"}
    answer = client.request("GET", "/curator/preview?datasource=cur&sample=3", headers=bearer)
    assert answer.status == 200
    assert '<p class="summary" id="preview-count">3 of 8 records' in answer.text
    body, headers = multipart({"datasource": "cur"}, [("oai_dc2pe.xsl", setup["draft"].read_bytes())])
    answer = client.request("POST", "/curator/diff", body, {**headers, **bearer})
    assert answer.status == 200
    assert "Diff of cur (draft oai_dc2pe.xsl)" in answer.text
    for header in [f"Bearer {CURATOR_TOKEN}x", f"Basic {CURATOR_TOKEN}", "Bearer "]:
        answer = client.request("GET", "/curator/", headers={"Authorization": header})
        assert answer.status == 401, header  # a bad Authorization header is never sent to the login page
        assert "the bearer token is not valid" in answer.text


def test_passwords_never_appear_in_the_log_or_the_settings(server, setup):
    client = CuratorClient(server.url)
    client.login(CURATOR_USER, "wrong-password-7731")
    client.login("pw-typed-as-the-user-5510", "x")  # an unknown name is not logged: often a password
    client.login()
    log = server.stop()
    assert f"curator login failed for user '{CURATOR_USER}' from 127.0.0.1" in log
    assert "curator login failed for user (an unknown user) from 127.0.0.1" in log
    assert "pw-typed-as-the-user-5510" not in log
    assert f"curator login: {CURATOR_USER} from 127.0.0.1" in log
    for secret in (CURATOR_PASSWORD, "wrong-password-7731", CURATOR_TOKEN):
        assert secret not in log
    shown = subprocess.run(
        [*CLI, "settings", "show"],
        env={**os.environ, **setup["env"]},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    assert re.search(r"curator_users\s+\*\*\*\s+env:CONTENTCLOUD_CURATOR_USERS", shown.stdout)
    assert "scrypt:" not in shown.stdout and "sha256:" not in shown.stdout
    assert CURATOR_PASSWORD not in setup["env"]["CONTENTCLOUD_CURATOR_USERS"]


def _env_without_credentials(setup) -> dict[str, str]:
    return {k: v for k, v in setup["env"].items() if not k.startswith("CONTENTCLOUD_CURATOR_")}


def test_serve_refuses_a_public_address_without_credentials(setup):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONTENTCLOUD_")}
    result = subprocess.run(
        [*CLI, "serve", "--host", "0.0.0.0", "--port", "0"],
        env={**env, **_env_without_credentials(setup)},
        cwd=setup["tmp"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr == (
        "error: --host: the curator pages need credentials to listen on 0.0.0.0: set "
        "CONTENTCLOUD_CURATOR_USERS (contentcloud curator hash-password), listen on 127.0.0.1, or pass "
        "--no-curator\n"
    )


def test_serve_on_loopback_without_credentials_makes_a_one_time_account(setup):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONTENTCLOUD_")}
    running = start_serve(setup["tmp"], {**env, **_env_without_credentials(setup)})
    try:
        notice = next(line for line in running.lines if "one-time password" in line)
        password = re.search(r"with the one-time password (\S+) ", notice).group(1)
        client = CuratorClient(running.url)
        assert client.request("GET", "/curator/").status == 303  # still a login first
        assert client.login("curator", "not-it").status == 401
        assert client.login("curator", password).status == 303
        assert client.request("GET", "/curator/").status == 200
    finally:
        log = running.stop()
    assert log.count(password) == 1  # printed once, on the terminal; never logged


def test_serve_without_the_curator_pages(setup):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONTENTCLOUD_")}
    running = start_serve(setup["tmp"], {**env, **_env_without_credentials(setup)}, "--no-curator")
    try:
        client = CuratorClient(running.url)
        assert client.request("GET", "/curator/login").status == 404
        assert client.request("GET", "/oai?verb=Identify").status == 200
    finally:
        log = running.stop()
    assert "one-time password" not in log and "curator page at" not in log


def test_the_login_form_is_throttled_after_repeated_failures(setup):
    """Ten failures from one address within ten minutes: 429 until the window passes (the WSGI app,
    so the address is this test's own)."""
    from contentcloud.curator.web import CuratorApp

    app = CuratorApp(setup["settings"])

    def call(method: str, path: str, body: bytes = b"", cookie: str = "") -> tuple[str, dict, str]:
        return wsgi_call(
            app,
            "/curator",
            path,
            method=method,
            body=body,
            content_type="application/x-www-form-urlencoded",
            auth=False,
            extra={"REMOTE_ADDR": "192.0.2.7", "HTTP_COOKIE": cookie},
        )

    _, headers, form = call("GET", "/login")
    cookie = headers["Set-Cookie"].split(";")[0]
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    statuses = []
    for password in ["bad"] * 10 + [CURATOR_PASSWORD]:
        body = urlencode({"csrf_token": csrf, "username": CURATOR_USER, "password": password}).encode()
        statuses.append(call("POST", "/login", body, cookie)[0])
    assert statuses == ["401 Unauthorized"] * 10 + ["429 Too Many Requests"]


def test_cookies_are_secure_behind_https(setup):
    """Secure when the request came over https (``wsgi.url_scheme``, e.g. waitress behind a trusted
    proxy) or the public URL is https."""
    import dataclasses
    import io
    from wsgiref.util import setup_testing_defaults

    from contentcloud.curator.web import CuratorApp

    for settings, scheme in [
        (setup["settings"], "https"),
        (dataclasses.replace(setup["settings"], public_url="https://data.example.org"), "http"),
    ]:
        environ: dict = {}
        setup_testing_defaults(environ)
        environ.update(REQUEST_METHOD="GET", SCRIPT_NAME="/curator", PATH_INFO="/login")
        environ["wsgi.url_scheme"] = scheme
        environ["wsgi.input"] = io.BytesIO()
        got = {}
        b"".join(
            CuratorApp(settings)(environ, lambda status, headers, got=got: got.update(headers=dict(headers)))
        )
        assert got["headers"]["Set-Cookie"].endswith("; Path=/curator/; HttpOnly; SameSite=Strict; Secure")


def test_behind_a_trusted_proxy_https_and_the_client_address_come_from_its_headers(setup):
    running = start_serve(setup["tmp"], setup["env"], "--trusted-proxy", "127.0.0.1")
    try:
        client = CuratorClient(running.url)
        proxied = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.23"}
        form = client.request("GET", "/curator/login", headers=proxied)
        (cookie,) = form.cookies()
        assert cookie.endswith("; Path=/curator/; HttpOnly; SameSite=Strict; Secure")
        answer = client.request(
            "POST",
            "/curator/login",
            urlencode(
                {"csrf_token": client.csrf, "username": CURATOR_USER, "password": "nope-nope"}
            ).encode(),
            {**proxied, "Content-Type": "application/x-www-form-urlencoded"},
        )
        assert answer.status == 401
    finally:
        log = running.stop()
    assert f"curator login failed for user '{CURATOR_USER}' from 198.51.100.23" in log
