"""End to end in headless Chromium: ``contentcloud serve`` on a free port, the curator page driven by
Selenium.

The store holds the demo datasource (``registry/demo.yaml``) with the bundled sample records,
transformed by the real pipeline step. The test is sent to the login page, logs in through the
form (:func:`tests.curator_support.browser_login`), runs a preview, the coverage table and a diff
of an uploaded draft, logs out, and keeps screenshots of each view in ``tests/artifacts/curator/``.

Needs Debian's ``chromium`` and ``chromium-driver`` (``scripts/install-test-deps``): missing, the
test fails in CI and skips elsewhere, naming what is missing.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.curator_support import (
    ARTIFACTS,
    CURATOR_USER,
    PROJECT,
    browser_login,
    demo_setup,
    draft_stylesheet,
    serve,
    shot,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[str]:
    """``contentcloud serve --port 0`` over the demo store; yields the base URL once /curator/ answers."""
    tmp = tmp_path_factory.mktemp("curator-browser")
    with serve(demo_setup(tmp)["env"], tmp) as url:
        yield url


def _run(driver, button: str, result_id: str):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver.find_element(By.ID, button).click()
    return WebDriverWait(driver, 60).until(ec.presence_of_element_located((By.ID, result_id)))


def test_preview_coverage_and_a_draft_diff_in_the_browser(browser, server, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver = browser
    driver.get(server + "/curator/")
    assert driver.title == "Log in"  # sent to the login page, back to the workbench after it
    assert driver.current_url == server + "/curator/login?next=/curator/"
    shot(driver, "login")
    browser_login(driver, server)
    assert driver.current_url == server + "/curator/"
    assert driver.title == "Curator workbench"
    assert driver.find_element(By.ID, "signed-in").text == CURATOR_USER
    cookie = driver.get_cookie("contentcloud_session")
    assert (cookie["httpOnly"], cookie["sameSite"], cookie["secure"], cookie["path"]) == (
        True,
        "Strict",
        False,
        "/curator/",
    )
    Select(driver.find_element(By.ID, "datasource")).select_by_value("demo")
    sample = driver.find_element(By.ID, "sample")
    sample.clear()
    sample.send_keys("4")

    # preview: 4 records spread over the id order, all transformed, source beside output
    _run(driver, "run-preview", "preview-summary")
    assert driver.find_element(By.ID, "preview-count").text.startswith(
        "4 of 148 records of demo/oai_dc/store/native @ v00000001; 0 failed"
    )
    rows = driver.find_elements(By.CSS_SELECTOR, "#preview-summary tbody tr")
    assert [row.get_attribute("data-record-id") for row in rows][
        0
    ] == "demo::005181c731b787a6150d12a262bf7a9a"
    assert [row.find_element(By.CLASS_NAME, "status").text for row in rows] == ["ok"] * 4
    first = driver.find_element(By.ID, "r1")
    assert (
        "<dc:title>Text annotation toolkit at Florence (AD 2015 - AD 2024)</dc:title>"
        in first.find_element(By.CLASS_NAME, "source").text
    )
    assert "a crmpe:PE22_Persistent_Dataset" in first.find_element(By.CLASS_NAME, "output").text
    assert "crm:P72_has_language" in first.find_element(By.CLASS_NAME, "output").text
    assert first.find_elements(By.CLASS_NAME, "issues") == []  # no ontology issue in the shipped mapping
    shot(driver, "preview")

    # coverage: what the shipped stylesheet leaves out comes first
    _run(driver, "run-coverage", "coverage")
    unread = driver.find_elements(By.CSS_SELECTOR, "#coverage tr.unread .path-name")
    assert [cell.text for cell in unread] == ["/oai_dc:dc/dc:coverage", "/oai_dc:dc/dc:publisher"]
    assert len(driver.find_elements(By.CSS_SELECTOR, "#coverage tr.read")) == 10
    shot(driver, "coverage")

    # an uploaded draft (subjects no longer mapped) diffed against the transformed version
    draft = draft_stylesheet(tmp_path, name="oai_dc2pe.xsl")
    driver.find_element(By.ID, "mapping").send_keys(str(draft))
    _run(driver, "run-diff", "diff-summary")
    assert driver.find_element(By.ID, "view-title").text == "Diff of demo (draft oai_dc2pe.xsl)"
    counts = {
        row.get_attribute("class"): row.find_elements(By.TAG_NAME, "td")[1].text
        for row in driver.find_elements(By.CSS_SELECTOR, "#diff-summary tr")
    }
    assert counts["status-changed"] == "148"
    assert counts["status-unchanged"] == "0"
    predicates = [r.text for r in driver.find_elements(By.CSS_SELECTOR, "#diff-predicates tbody tr")]
    assert predicates == ["http://www.cidoc-crm.org/cidoc-crm/P129_is_about 0 567 148"]
    removed = driver.find_element(By.CSS_SELECTOR, "section.diff-record pre.removed").text
    assert "<http://www.cidoc-crm.org/cidoc-crm/P129_is_about>" in removed
    shot(driver, "diff")

    # the page carries the draft: a preview from here runs the draft, not the current mapping
    assert "oai_dc2pe.xsl" in driver.find_element(By.ID, "draft-in-use").text
    _run(driver, "run-preview", "preview-summary")
    assert driver.find_element(By.ID, "view-title").text == "Preview of demo (draft oai_dc2pe.xsl)"
    assert "crm:P129_is_about" not in driver.find_element(By.CSS_SELECTOR, "#r1 .output").text
    shutil.copy(draft, ARTIFACTS / "draft-oai_dc2pe.xsl")

    # logging out ends the session: the workbench sends the browser to the login page again
    driver.find_element(By.ID, "logout-button").click()
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 60).until(lambda d: d.title == "Log in")  # a loaded machine is slow to navigate
    driver.get(server + "/curator/")
    assert driver.title == "Log in"


def test_an_x3ml_draft_with_a_typo_the_check_and_an_own_record_in_the_browser(browser, server, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver = browser
    driver.get(server + "/curator/")
    if driver.title == "Log in":
        browser_login(driver, server)
    Select(driver.find_element(By.ID, "datasource")).select_by_value("demo")
    sample = driver.find_element(By.ID, "sample")
    sample.clear()
    sample.send_keys("4")

    # the shipped X3ML mapping with a misspelt path: triples (the only policy of mappings/ is taken),
    # and the path and its link flagged beside the results
    text = (PROJECT / "mappings" / "oai_dc2pe.x3ml").read_text(encoding="utf-8")
    draft = tmp_path / "oai_dc2pe.x3ml"
    draft.write_text(text.replace("<relation>dc:title</relation>", "<relation>dc:titel</relation>"))
    driver.find_element(By.ID, "mapping").send_keys(str(draft))
    _run(driver, "run-preview", "preview-summary")
    assert driver.find_element(By.ID, "view-title").text == "Preview of demo (draft oai_dc2pe.x3ml)"
    assert "with policy contentcloud-policy.xml" in driver.find_element(By.ID, "draft-in-use").text
    rows = driver.find_elements(By.CSS_SELECTOR, "#preview-summary tbody tr")
    assert [row.find_element(By.CLASS_NAME, "status").text for row in rows] == ["ok"] * 4
    assert all(int(row.find_elements(By.TAG_NAME, "td")[3].text) > 0 for row in rows)
    assert driver.find_element(By.ID, "check-count").text == (
        "ontology check: 0 errors, 0 warnings in 4 records; mapping check: 2 findings"
    )
    findings = [f.get_attribute("data-kind") for f in driver.find_elements(By.CSS_SELECTOR, "#findings li")]
    assert findings == ["no-match", "no-triple"]
    assert "dc:titel" in driver.find_element(By.CSS_SELECTOR, "#findings li").text
    shot(driver, "x3ml-typo-findings")

    # the ontology check of the same draft on a record of one's own, pasted into the form
    driver.find_element(By.ID, "record-text").send_keys(
        '<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Mine</dc:title>'
        "<dc:identifier>urn:mine:1</dc:identifier></oai_dc:dc>"
    )
    _run(driver, "run-check", "check-records")
    assert driver.find_element(By.ID, "check-records").text == (
        "1 of 1 records of your own records checked against the PE/CIDOC-CRM ontology; 0 failed to transform"
    )
    assert (
        driver.find_element(By.ID, "check-clean").text == "no ontology issue in the output of these records"
    )
    shot(driver, "check-own-record")
