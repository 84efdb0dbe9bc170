"""The curator page's draft preview with hostile stylesheets: refused with the reason, no secret.

The attack of issue 14: an uploaded draft reading the OAI token key (``var/oai_secret``) through
``xml:base``. Kept apart from the other curator tests (and small) so that a login can be added
to these requests in one place.
"""

from __future__ import annotations

import html

import pytest

import transforms.saxon_xslt as saxon_xslt
from contentcloud.curator.web import CuratorApp
from tests.curator_support import make_setup
from tests.integration.curator.test_curator_web import call, multipart
from tests.unit.transforms.hostile import CHECKED, ENGINE, SECRET, attack, expected
from transforms.confine import landlock_abi

pytestmark = pytest.mark.skipif(landlock_abi() < 1, reason="the kernel offers no Landlock")

#: the issue's own example, aimed at the OAI token key in the var directory
OAI_SECRET_DRAFT = """<xsl:stylesheet version="3.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:template match="/">
    <out><xsl:value-of xml:base="{var}/" select="unparsed-text('oai_secret')"/></out>
  </xsl:template>
</xsl:stylesheet>
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("curator-sandbox")
    found = make_setup(tmp)
    var = tmp / "var"
    var.mkdir(exist_ok=True)
    (var / "oai_secret").write_text(SECRET, encoding="utf-8")
    found["var"] = var
    found["app"] = CuratorApp(found["settings"])
    return found


@pytest.fixture
def hostile(tmp_path):
    scratch = tmp_path / "scratch-mappings"  # decoys and the link go here, never into mappings/
    scratch.mkdir()
    with attack(tmp_path, scratch) as found:
        yield found


def preview(app, name: str, data: bytes) -> tuple[str, str]:
    body, content_type = multipart({"datasource": "cur", "sample": "2"}, [(name, data)])
    status, _, page = call(app, "/preview", method="POST", body=body, content_type=content_type)
    return status, html.unescape(page)


def test_the_oai_secret_cannot_be_read_through_xml_base(site):
    draft = OAI_SECRET_DRAFT.format(var=site["var"].as_uri()).encode()
    status, page = preview(site["app"], "evil.xsl", draft)
    assert status == "400 Bad Request"
    assert "evil.xsl:3 (@select): 'oai_secret' is refused: it lies outside the mappings directory" in page
    assert SECRET not in page


def test_the_confined_engine_alone_refuses_it_record_by_record(site, monkeypatch):
    monkeypatch.setattr(saxon_xslt, "check_stylesheet", lambda *args, **kwargs: None)
    draft = OAI_SECRET_DRAFT.format(var=site["var"].as_uri()).encode()
    status, page = preview(site["app"], "evil.xsl", draft)
    assert status == "200 OK"
    assert "; 2 failed</p>" in page
    assert (
        page.count(
            f"reading {site['var']}/oai_secret is refused: a mapping may read files inside the mappings "
            "directory only"
        )
        == 2
    )
    assert SECRET not in page


@pytest.mark.parametrize(
    "name",
    [
        "saxon-xml-base-root",
        "saxon-shadow-attribute",
        "saxon-source-document",
        "saxon-static-param",
        "saxon-result-document",
        "lxml-xml-base-instruction",
        "lxml-exsl-document",
    ],
)
def test_hostile_drafts_are_refused_with_the_reason(site, hostile, name):
    status, page = preview(site["app"], f"{name}.xsl", hostile.text(name).encode())
    assert expected(CHECKED.get(name) or ENGINE[name][0] or "", hostile) in page
    if name.startswith("lxml"):  # libxslt refuses while it runs: each record fails
        assert status == "200 OK" and "; 2 failed</p>" in page
    else:  # the static checks refuse before anything runs
        assert status == "400 Bad Request"
    hostile.assert_nothing_escaped(page)
