"""The curator page's checks through the WSGI app (bearer-token authenticated, real SQLite store):
``/check``, the ontology check and the mapping's findings beside the preview, X3ML drafts with a
policy and terms, and the curator's own records."""

from __future__ import annotations

import hashlib
import re
import uuid

import pytest

from contentcloud.curator.web import CuratorApp
from tests.curator_support import PROJECT, make_setup
from tests.integration.curator.test_curator_web import call

X3ML = PROJECT / "mappings" / "oai_dc2pe.x3ml"
XSL = PROJECT / "mappings" / "oai_dc2pe.xsl"
MINE = (
    '<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Mine &amp; only</dc:title>'
    "<dc:identifier>urn:mine:1</dc:identifier><dc:language>fr</dc:language></oai_dc:dc>"
)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("curator-checks")
    found = make_setup(tmp)
    found["app"] = CuratorApp(found["settings"])
    found["tmp"] = tmp
    return found


def multipart(fields: dict[str, str], files: list[tuple[str, str, bytes]]) -> tuple[bytes, str]:
    """A form body; ``files`` are (form field, file name, bytes)."""
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    for field_name, filename, data in files:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field_name}"; filename="{filename}"\r\n'
            "Content-Type: application/xml\r\n\r\n".encode()
            + data
            + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def post(setup, path: str, fields: dict[str, str], files: list[tuple[str, str, bytes]] = ()):
    body, content_type = multipart({"datasource": "cur", **fields}, list(files))
    return call(setup["app"], path, method="POST", body=body, content_type=content_type)


def wrong_xsl() -> bytes:
    text = XSL.read_text(encoding="utf-8")
    assert text.count("crm:P72_has_language rdf:resource") == 1
    return text.replace("crm:P72_has_language rdf:resource", "crm:P72_has_lang rdf:resource").encode()


def typo_x3ml() -> bytes:
    text = X3ML.read_text(encoding="utf-8")
    assert text.count("<relation>dc:title</relation>") == 1
    return text.replace("<relation>dc:title</relation>", "<relation>dc:titel</relation>").encode()


def check_count(page: str) -> str:
    return re.search(r'<span id="check-count">([^<]*)</span>', page).group(1)


# --- /check and the checks beside the preview ---------------------------------------------------------


def test_check_of_the_current_mapping_is_clean(setup):
    status, _, page = call(setup["app"], "/check", query="datasource=cur&sample=8")
    assert status == "200 OK", page
    assert "Check of cur (current mapping)" in page
    assert (
        '<p class="summary" id="check-records">8 of 8 records of cur/oai_dc/store/native @ v00000001 checked '
        "against the PE/CIDOC-CRM ontology; 1 failed to transform</p>"
    ) in page
    assert check_count(page) == (
        "ontology check: 0 errors, 0 warnings in 8 records; mapping check: 0 findings"
    )
    assert '<p id="check-clean">no ontology issue in the output of these records</p>' in page
    assert page.count('<li class="failed"') == 1


def test_check_anonymous_is_refused_before_anything_runs(setup):
    status, headers, _ = call(setup["app"], "/check", query="datasource=cur", auth=False)
    assert status == "401 Unauthorized"
    assert headers["WWW-Authenticate"] == 'Bearer realm="contentcloud curator"'


def test_check_groups_a_wrong_property_with_its_count_and_records(setup):
    status, _, page = post(setup, "/check", {"sample": "8"}, [("mapping", "wrong.xsl", wrong_xsl())])
    assert status == "200 OK", page
    assert check_count(page) == "ontology check: 3 errors, 0 warnings in 8 records; mapping check: 0 findings"
    rows = re.findall(r'<tr class="issue (\w+)">(.*?)</tr>', page, re.S)
    assert len(rows) == 1
    severity, cells = rows[0]
    assert severity == "error"
    assert cells.startswith(
        "<td>error</td><td>unknown-property</td><td><code>crm:P72_has_lang</code></td>"
        "<td>not a property of the ontology</td><td>3</td>"
    )
    assert cells.count("cur::") == 3


def test_preview_shows_the_ontology_check_beside_the_results(setup):
    status, _, page = post(setup, "/preview", {"ids": "oai:cur:2"}, [("mapping", "wrong.xsl", wrong_xsl())])
    assert status == "200 OK", page
    assert '<div class="checks error" id="checks">' in page
    assert check_count(page) == "ontology check: 1 error, 0 warnings in 1 record; mapping check: 0 findings"
    assert (
        '<li class="issue error"><b>unknown-property</b> https://contentcloud.example/pe/cur/dataset/'
        "099fdb74332f2801d445442380223fcf crm:P72_has_lang: not a property of the ontology</li>"
    ) in page


# --- X3ML drafts: policy and terms, mistakes not silent -------------------------------------------------


def triples(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'<td class="status">ok</td><td>(\d+)</td>', page)]


def test_the_shipped_x3ml_draft_previews_with_triples_and_the_policy_in_use(setup):
    # the profile maps with XSLT (no policy of its own): the only policy of mappings/ is taken
    status, _, page = post(
        setup, "/preview", {"sample": "3"}, [("mapping", "oai_dc2pe.x3ml", X3ML.read_bytes())]
    )
    assert status == "200 OK", page
    assert triples(page) == [34, 26, 0]  # the third record has no oai_dc:dc
    assert '<span id="draft-options">with policy <b>contentcloud-policy.xml</b></span>' in page
    assert (
        '<option value="policies/contentcloud-policy.xml">policies/contentcloud-policy.xml</option>' in page
    )
    # chosen explicitly, the same result, and the choice is kept in the form
    status, _, chosen = post(
        setup,
        "/preview",
        {"sample": "3", "policy": "policies/contentcloud-policy.xml"},
        [("mapping", "oai_dc2pe.x3ml", X3ML.read_bytes())],
    )
    assert triples(chosen) == [34, 26, 0]
    assert '<option value="policies/contentcloud-policy.xml" selected>' in chosen


def test_an_uploaded_policy_is_used_and_carried_back(setup):
    policy = (PROJECT / "mappings" / "policies" / "contentcloud-policy.xml").read_bytes()
    status, _, page = post(
        setup,
        "/preview",
        {"sample": "3"},
        [("mapping", "oai_dc2pe.x3ml", X3ML.read_bytes()), ("policy_file", "my-policy.xml", policy)],
    )
    assert status == "200 OK", page
    assert triples(page) == [34, 26, 0]
    assert '<span id="draft-options">with policy <b>my-policy.xml</b> (uploaded)</span>' in page
    assert '<input type="hidden" name="policy_name" value="my-policy.xml">' in page


def test_a_policy_outside_the_mappings_directory_is_refused(setup):
    status, _, page = post(
        setup, "/preview", {"policy": "../registry/cur.yaml"}, [("mapping", "d.x3ml", X3ML.read_bytes())]
    )
    assert status == "400 Bad Request"
    assert "policy: name a file of the mappings directory" in page
    status, _, page = post(
        setup, "/preview", {"policy": "policies/none.xml"}, [("mapping", "d.x3ml", X3ML.read_bytes())]
    )
    assert status == "400 Bad Request"
    assert "policy: no file &#39;policies/none.xml&#39; in the mappings directory" in page


def test_an_invalid_xpath_is_an_error_not_ok(setup):
    bad = X3ML.read_text(encoding="utf-8").replace(
        "<relation>dc:title</relation>", "<relation>dc:title[</relation>"
    )
    status, _, page = post(setup, "/preview", {"sample": "3"}, [("mapping", "bad.x3ml", bad.encode())])
    assert status == "400 Bad Request"
    assert '<td class="status">ok</td>' not in page
    assert (
        '<div class="error" id="page-error"><b>400 Bad Request</b>: x3ml bad.x3ml: bad.x3ml:40, mapping 1, '
        "link 1, xpath &#39;dc:title[&#39;: invalid XPath in the link path: &#39;(end)&#39; end at "
        "line 1, column 9: [err:XPST0003] unexpected end of source</div>"
    ) in page
    assert "contentcloud-draft-" not in page  # named by its name, not the request's directory


def test_a_misspelt_path_and_its_silent_link_are_flagged(setup):
    status, _, page = post(setup, "/preview", {"sample": "3"}, [("mapping", "typo.x3ml", typo_x3ml())])
    assert status == "200 OK", page
    assert check_count(page) == "ontology check: 0 errors, 0 warnings in 3 records; mapping check: 2 findings"
    findings = re.findall(
        r'<li class="finding warning" data-kind="([\w-]+)">.*?<span class="location">([^<]*)</span>: '
        r'<span class="message">([^<]*)</span></li>',
        page,
    )
    assert "contentcloud-draft-" not in page
    assert findings == [
        (
            "no-match",
            "typo.x3ml:40, mapping 1, link 1",
            "the source_relation &#39;dc:titel&#39; matches nothing in any of the 3 sampled records",
        ),
        (
            "no-triple",
            "typo.x3ml:40, mapping 1, link 1",
            "the link wrote no triple in any of the 3 sampled records",
        ),
    ]


# --- own records ------------------------------------------------------------------------------------------


def test_a_pasted_record_is_previewed_and_kept_in_the_form(setup):
    status, _, page = post(setup, "/preview", {"record_text": MINE})
    assert status == "200 OK", page
    record_id = "cur::" + hashlib.md5(b"pasted-record.xml").hexdigest()  # noqa: S324 - the project's id scheme
    assert '<p class="summary" id="preview-count">1 of 1 records of your own records; 0 failed</p>' in page
    assert f'<tr class="record ok" data-record-id="{record_id}">' in page
    assert "Mine &amp;amp; only" in page  # the source, escaped
    assert "crm:P72_has_language" in page
    assert 'placeholder="&lt;oai_dc:dc …&gt;">&lt;oai_dc:dc' in page  # the textarea keeps it


def test_uploaded_records_are_previewed_checked_and_carried(setup):
    broken = b"<oai_dc:dc><unclosed></oai_dc:dc>"
    status, _, page = post(
        setup, "/check", {}, [("record", "mine.xml", MINE.encode()), ("record", "broken.xml", broken)]
    )
    assert status == "200 OK", page
    assert (
        '<p class="summary" id="check-records">2 of 2 records of your own records checked against the '
        "PE/CIDOC-CRM ontology; 1 failed to transform</p>"
    ) in page
    assert 'id="own-in-use">Your records in use: <b>mine.xml, broken.xml</b>' in page
    assert '<input type="hidden" name="own_name" value="mine.xml">' in page
    # the stored records again, on request
    status, _, stored = post(setup, "/preview", {"stored": "1", "own_name": "mine.xml", "own_text": MINE})
    assert "records of cur/oai_dc/store/native @ v00000001" in stored


def test_a_record_picked_by_id_from_the_store(setup):
    status, _, page = call(setup["app"], "/preview", query="datasource=cur&ids=oai:cur:2")
    assert status == "200 OK"
    assert "1 of 8 records of cur/oai_dc/store/native @ v00000001; 0 failed" in page
    assert 'data-record-id="cur::099fdb74332f2801d445442380223fcf"' in page
