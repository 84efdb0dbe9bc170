"""End to end in headless Chromium: register a new OAI-PMH source through the datasource pages and
see its first run on the source's page.

``contentcloud serve`` runs on a free port over an empty registry; the source is contentcloud's
demo source (:func:`contentcloud.demo.start_source`, 150 records of which 2 are deleted) on
another port of 127.0.0.1. The test logs in, probes the base URL, picks format, schedule and
mapping, registers with "run it now", waits for the run on the source's page, opens the
completeness table, and deletes the source after confirming. Screenshots go to
``tests/artifacts/curator/sources-*.png`` (the README shows one).

Needs Debian's ``chromium`` and ``chromium-driver`` like ``test_curator_browser.py``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.curator_support import browser_login, curator_env, serve, shot

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def servers(tmp_path_factory) -> Iterator[dict]:
    """The demo OAI-PMH source in this process, and ``contentcloud serve`` over an empty registry."""
    from contentcloud.demo import start_source
    from contentcloud.settings import load_settings

    tmp = tmp_path_factory.mktemp("sources-browser")
    registry = tmp / "registry"
    registry.mkdir()
    env = curator_env(tmp, probe_local=True)
    source = start_source(load_settings({}, {**env, "CONTENTCLOUD_VAR": str(tmp / "source-var")}), None)
    try:
        with serve(env, tmp) as url:
            yield {"url": url, "oai": source.url + "/oai", "registry": registry}
    finally:
        source.stop()


def test_register_an_oai_source_and_see_its_first_run(browser, servers):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    driver = browser
    base = servers["url"]
    driver.get(base + "/curator/sources/")
    assert driver.current_url == base + "/curator/login?next=/curator/sources/"
    browser_login(driver, base)
    driver.find_element(By.ID, "sources-link").click()  # from the workbench's header
    assert driver.title == "Datasources"
    assert driver.find_elements(By.CSS_SELECTOR, "#sources tbody tr") == []

    # 1. the base URL, probed
    driver.find_element(By.ID, "new-oai").click()
    assert driver.title == "Register an OAI source"
    driver.find_element(By.ID, "url").send_keys(servers["oai"])
    driver.find_element(By.ID, "probe-button").click()
    WebDriverWait(driver, 60).until(ec.presence_of_element_located((By.ID, "probe-result")))
    assert driver.find_elements(By.ID, "probe-problems") == []
    identify = driver.find_element(By.ID, "identify").text
    assert "repository_name contentcloud demo source" in identify
    assert [cell.text for cell in driver.find_elements(By.CSS_SELECTOR, "#formats td.prefix")] == ["oai_dc"]
    assert driver.find_element(By.ID, "sample-count").text.endswith(" of 150 (oai_dc); the first 5:")
    assert len(driver.find_elements(By.CSS_SELECTOR, "details.sample")) == 5
    assert driver.find_element(By.ID, "speed").text.startswith("Server speed: Identify ")
    shot(driver, "sources-probe")

    # 2. the profile: id, name, format, schedule, mapping; registered and run at once
    driver.find_element(By.ID, "id").send_keys("newsrc")
    driver.find_element(By.ID, "name").send_keys("New source")
    Select(driver.find_element(By.ID, "metadata_prefix")).select_by_value("oai_dc")
    Select(driver.find_element(By.ID, "schedule")).select_by_value("@daily")
    Select(driver.find_element(By.ID, "mapping")).select_by_value("oai_dc2pe.xsl")
    driver.find_element(By.ID, "run_now").click()
    driver.find_element(By.ID, "save-button").click()
    WebDriverWait(driver, 30).until(ec.title_is("Datasource newsrc"))
    assert driver.current_url == base + "/curator/sources/s/newsrc?registered=1"
    assert (servers["registry"] / "newsrc.yaml").read_text() == (
        "# written by contentcloud (datasource pages / contentcloud datasource add); edit freely\n"
        "id: newsrc\nname: New source\nnsprefix: newsrc\nenabled: true\napi:\n  protocol: oai\n"
        f"  baseurl: {servers['oai']}\n  metadata_prefix: oai_dc\nschedule: '@daily'\n"
        "transform:\n  steps:\n  - type: xslt\n    mapping: oai_dc2pe.xsl\n"
    )

    # 3. the first run on the source's page (the page reloads itself while the run is going)
    WebDriverWait(driver, 180).until(ec.presence_of_element_located((By.ID, "runs")))
    rows = driver.find_elements(By.CSS_SELECTOR, "#runs tbody tr")
    assert len(rows) == 1
    cells = {
        name: rows[0].find_element(By.CLASS_NAME, name).text
        for name in ("outcome", "records-in", "records-out", "deleted", "errors")
    }
    assert cells == {
        "outcome": "finished",
        "records-in": "150",
        "records-out": "150",
        "deleted": "2",
        "errors": "0",
    }
    assert driver.find_element(By.ID, "run-outcome").text == "finished"
    points = driver.find_elements(By.CSS_SELECTOR, "#plot-records circle")
    assert [p.get_attribute("data-value") for p in points] == ["150", "150", "0", "2"]
    assert driver.find_elements(By.CSS_SELECTOR, "#plot-durations rect[fill]")
    shot(driver, "sources-source")

    # 4. per-field completeness of the native records
    driver.find_element(By.ID, "completeness-native").click()
    summary = driver.find_element(By.ID, "completeness-summary").text
    assert summary.startswith("148 records of newsrc/oai_dc/store/native @ v")
    assert "; 28 fields" in summary
    shot(driver, "sources-completeness")

    # 5. disable, then delete after confirming (each click loads a page: wait for the new one, since
    # an element found at once may still be the old page's, stale a moment later)
    driver.get(base + "/curator/sources/s/newsrc")
    button = driver.find_element(By.ID, "enable-button")
    button.click()
    WebDriverWait(driver, 30).until(ec.staleness_of(button))
    WebDriverWait(driver, 30).until(ec.text_to_be_present_in_element((By.ID, "enable-button"), "Enable"))
    assert driver.find_element(By.ID, "enable-button").text == "Enable"
    assert "enabled: false" in (servers["registry"] / "newsrc.yaml").read_text()
    driver.find_element(By.ID, "delete-link").click()
    WebDriverWait(driver, 30).until(ec.title_is("Delete newsrc?"))
    driver.find_element(By.ID, "confirm-delete").click()
    WebDriverWait(driver, 30).until(ec.presence_of_element_located((By.ID, "deleted-note")))
    assert driver.find_element(By.ID, "deleted-note").text == "Deleted the profile of newsrc."
    assert list(servers["registry"].iterdir()) == []
