"""The curator page as a WSGI app over a real SQLite store: views, uploads, limits, escaping, read-only.

Requests authenticate as a script (``Authorization: Bearer`` with the test token of
:mod:`tests.curator_support`); the login itself is tested over HTTP in ``test_curator_auth.py``.
"""

from __future__ import annotations

import io
import re
import uuid
from wsgiref.util import setup_testing_defaults

import pytest

from contentcloud.curator.web import MAX_UPLOAD, CuratorApp
from mdstore import UnitKey, open_store
from tests.curator_support import draft_stylesheet, make_setup, wsgi_call


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("curator-web")
    found = make_setup(tmp)
    found["app"] = CuratorApp(found["settings"])
    found["draft"] = draft_stylesheet(tmp)
    return found


def call(app, path: str, **options):
    """One request to the curator app mounted at ``/curator`` (options: :func:`wsgi_call`'s)."""
    return wsgi_call(app, "/curator", path, **options)


def multipart(fields: dict[str, str], files: list[tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        )
    for filename, data in files:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="mapping"; filename="{filename}"\r\n'
            f"Content-Type: application/xml\r\n\r\n".encode()
            + data
            + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def test_the_form_lists_the_datasources(setup):
    status, headers, page = call(setup["app"], "/")
    assert status == "200 OK"
    assert '<option value="cur">cur: Curator test source</option>' in page
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert 'action="/curator/preview"' in page


def test_preview_shows_rows_side_by_side_with_errors_and_escapes_the_record_text(setup):
    status, _, page = call(setup["app"], "/preview", query="datasource=cur&sample=8")
    assert status == "200 OK"
    assert (
        '<p class="summary" id="preview-count">8 of 8 records of cur/oai_dc/store/native @ v00000001; '
        "1 failed" in page
    )
    assert len(re.findall(r'<tr class="record ok"', page)) == 7
    assert len(re.findall(r'<tr class="record failed"', page)) == 1
    assert (
        '<div class="error"><span class="message">no oai_dc:dc element in the record</span> '
        '<span class="step">step xslt oai_dc2pe.xsl</span> '
        '<span class="location">at oai_dc2pe.xsl:49, xsl:template match=&#34;/&#34; / '
        "xsl:if test=&#34;not($dc)&#34;</span></div>"
    ) in page
    assert page.count('<pre class="source">') == 8
    assert page.count('<pre class="output">') == 7
    # record 7's title carries markup: shown as text in the source and in the Turtle, never as markup
    assert "<script>alert" not in page
    assert "Museum object photographs &amp;lt;script&amp;gt;alert(1)" in page  # the source, escaped twice
    assert "Museum object photographs &lt;script&gt;alert(1)&lt;/script&gt;" in page  # the RDF literal
    assert "crm:P72_has_language" in page  # the languages, in the Turtle output
    assert "<ul class=issues>" not in page  # the shipped mapping types the dataset E33, P72's domain


def test_a_draft_upload_diffs_against_the_current_version_and_is_carried_back(setup):
    with open_store(setup["uri"]) as store:
        before = [(v.id, v.state) for v in store.versions(UnitKey("cur", "PE", "store", "transformed"))]
    body, content_type = multipart({"datasource": "cur"}, [("oai_dc2pe.xsl", setup["draft"].read_bytes())])
    status, _, page = call(setup["app"], "/diff", method="POST", body=body, content_type=content_type)
    assert status == "200 OK", page
    assert "Diff of cur (draft oai_dc2pe.xsl)" in page
    summary = dict(re.findall(r'<tr class="status-(\w+)"><td>[^<]*</td><td>(\d+)</td></tr>', page))
    assert summary == {
        "changed": "5",
        "unchanged": "2",
        "newly_failing": "0",
        "newly_passing": "1",
        "still_failing": "0",
        "not_transformed": "0",
    }
    assert (
        "<code>http://www.cidoc-crm.org/cidoc-crm/P129_is_about</code></td><td>0</td><td>6</td><td>5</td>"
        in page
    )
    assert '<input type="hidden" name="draft_name" value="oai_dc2pe.xsl">' in page
    carried = re.search(r'<textarea name="draft_text" hidden>(.*?)</textarea>', page, re.S).group(1)
    assert "&lt;xsl:stylesheet" in carried
    # the carried text runs the same draft again, with no file
    again = "&".join(
        [f"datasource=cur&draft_name=oai_dc2pe.xsl&draft_text={_quote(setup['draft'].read_text())}"]
    )
    status, _, page = call(
        setup["app"],
        "/diff",
        method="POST",
        body=again.encode(),
        content_type="application/x-www-form-urlencoded",
    )
    assert status == "200 OK"
    assert '<tr class="status-changed"><td>changed</td><td>5</td></tr>' in page
    with open_store(setup["uri"]) as store:
        after = [(v.id, v.state) for v in store.versions(UnitKey("cur", "PE", "store", "transformed"))]
    assert after == before  # read-only: no version opened, committed or aborted


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


def test_coverage_marks_unread_paths_first(setup):
    status, _, page = call(setup["app"], "/coverage", query="datasource=cur")
    assert status == "200 OK"
    rows = re.findall(
        r'<tr class="path (\w+)"><td class="path-name"><code>([^<]*)</code></td><td>(\d+)</td>', page
    )
    assert rows[0] == ("unread", "/oai_dc:dc/dc:publisher", "7")
    assert ("read", "/oai_dc:dc/dc:title/@xml:lang", "1") in rows
    assert ("unread", "/oai_dc:dc/dc:type/@xsi:type", "1") in rows


@pytest.mark.parametrize(
    ("path", "query", "status", "message"),
    [
        ("/preview", "datasource=nope", "404 Not Found", "unknown datasource &#39;nope&#39;"),
        ("/preview", "", "400 Bad Request", "pick a datasource"),
        ("/preview", "datasource=cur&sample=x", "400 Bad Request", "sample is not a number"),
        ("/elsewhere", "", "404 Not Found", "no page /elsewhere"),
    ],
)
def test_bad_requests_get_a_status_and_a_message(setup, path, query, status, message):
    got, _, page = call(setup["app"], path, query=query)
    assert got == status
    assert message in page


def test_uploads_are_bounded_and_checked(setup):
    body, content_type = multipart({"datasource": "cur"}, [("big.xsl", b"x" * (MAX_UPLOAD + 1))])
    status, _, page = call(setup["app"], "/preview", method="POST", body=body, content_type=content_type)
    assert status == "413 Content Too Large"
    assert "larger than 2048 KiB" in page
    body, content_type = multipart({"datasource": "cur"}, [("<img src=x onerror=alert(1)>.xsl", b"<not-xsl")])
    status, _, page = call(setup["app"], "/preview", method="POST", body=body, content_type=content_type)
    assert status == "400 Bad Request"
    assert "<img" not in page
    assert "_img_src_x_onerror_alert_1__.xsl" in page  # the sanitised name, in the error


def test_an_anonymous_upload_is_refused_before_its_body_is_read(setup):
    """Nothing of an anonymous request is parsed or run: the answer comes before the body is read."""
    body, content_type = multipart({"datasource": "cur"}, [("oai_dc2pe.xsl", setup["draft"].read_bytes())])
    for extra, status, header in [
        ({"HTTP_ACCEPT": "text/html"}, "303 See Other", ("Location", "/curator/login?next=/curator/diff")),
        (
            {"HTTP_ACCEPT": "*/*"},
            "401 Unauthorized",
            ("WWW-Authenticate", 'Bearer realm="contentcloud curator"'),
        ),
        (
            {"HTTP_AUTHORIZATION": "Bearer cct_not-a-token"},
            "401 Unauthorized",
            ("WWW-Authenticate", 'Bearer realm="contentcloud curator"'),
        ),
    ]:
        environ: dict = {}
        setup_testing_defaults(environ)
        stream = io.BytesIO(body)
        environ.update(
            REQUEST_METHOD="POST",
            SCRIPT_NAME="/curator",
            PATH_INFO="/diff",
            CONTENT_LENGTH=str(len(body)),
            CONTENT_TYPE=content_type,
            **extra,
        )
        environ["wsgi.input"] = stream
        captured = {}

        def start_response(got, headers, captured=captured):
            captured["status"], captured["headers"] = got, dict(headers)

        page = b"".join(setup["app"](environ, start_response)).decode()
        assert captured["status"] == status
        assert captured["headers"][header[0]] == header[1]
        assert stream.tell() == 0  # the upload was never read
        assert "Diff of" not in page and "cur: Curator test source" not in page  # no view, no datasource list
