"""End to end in headless Chromium: the mapping editor (``/curator/editor``).

A curator writes an X3ML mapping for the demo records from scratch: a new skeleton, the domain
path picked from the source tree, the classes and the property picked from the autocompletion,
the link paths from the tree; the live preview shows triples and the entity graph. A misspelt path
is flagged in the editor's gutter and in the problem list at its line. The mapping is promoted
(version history, the demo datasource named as affected), the transform runs again and the
transformed version is the new mapping's output.

The demo profile of this test runs ``demo.x3ml`` (a copy of the shipped ``oai_dc2pe.x3ml``) from a
copy of the mappings directory, so the promote writes into the test's folder, never ``mappings/``.
Screenshots go to ``tests/artifacts/curator/editor-*.png``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.curator_support import (
    ARTIFACTS,
    DEMO_RECORDS,
    PROJECT,
    browser_login,
    collect,
    curator_env,
    read_records,
    serve,
)

pytestmark = pytest.mark.integration

PROFILE = """id: demo
name: Demo
nsprefix: demo
api: {protocol: oai, baseurl: "http://127.0.0.1:9/oai", metadata_prefix: oai_dc}
transform:
  steps:
    - {type: x3ml, mapping: demo.x3ml, policy: policies/contentcloud-policy.xml}
"""

LINK = """
            <link>
                <path>
                    <source_relation><relation></relation></source_relation>
                    <target_relation>
                        <relationship></relationship>
                    </target_relation>
                </path>
                <range>
                    <source_node></source_node>
                    <target_node>
                        <entity>
                            <type></type>
                            <instance_generator name="AppellationURI">
                                <arg name="label" type="xpath">text()</arg>
                            </instance_generator>
                            <label_generator name="SimpleLabel">
                                <arg name="label" type="xpath">text()</arg>
                            </label_generator>
                        </entity>
                    </target_node>
                </range>
            </link>"""


def editor_setup(tmp: Path) -> dict:
    """The demo records, transformed by ``demo.x3ml`` from a copy of the mappings directory."""
    from contentcloud.pipeline.transform import run_transform
    from contentcloud.settings import load_settings

    mappings = tmp / "mappings"
    shutil.copytree(PROJECT / "mappings", mappings)
    shutil.copy(mappings / "oai_dc2pe.x3ml", mappings / "demo.x3ml")
    registry = tmp / "registry"
    registry.mkdir()
    (registry / "demo.yaml").write_text(PROFILE)
    env = curator_env(tmp, mappings=mappings)
    uri = env["CONTENTCLOUD_MDSTORE"]
    settings = load_settings({}, env, base_dir=tmp)
    collect(uri, "demo", read_records(DEMO_RECORDS))
    summary = run_transform("demo", settings)
    assert summary.version_out == "v00000002", summary.as_dict()
    return {"env": env, "settings": settings, "mappings": mappings, "var": tmp / "var"}


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[tuple[str, dict]]:
    tmp = tmp_path_factory.mktemp("curator-editor")
    setup = editor_setup(tmp)
    with serve(setup["env"], tmp) as url:
        yield url, setup


def _shot(driver, name: str) -> Path:
    """The window as ``editor-<name>.png``, and at 60 % as ``editor-<name>.small.png`` (Chromium
    scales it: the README's pictures are these, copied to ``docs/curator/``)."""
    import base64

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"editor-{name}.png"
    assert driver.save_screenshot(str(path))
    size = driver.execute_script("return [window.innerWidth, window.innerHeight]")
    clip = {"x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 0.6}
    small = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "clip": clip})
    (ARTIFACTS / f"editor-{name}.small.png").write_bytes(base64.b64decode(small["data"]))
    return path


def _previews(driver) -> int:
    return int(
        driver.execute_script("return Number(document.getElementById('editor-app').dataset.previews||0)")
    )


def _wait_preview(driver, before: int, timeout: float = 60) -> str:
    """Wait for a preview newer than ``before`` to be shown; the status line."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(lambda d: _previews(d) > before)
    return driver.find_element("id", "ed-status").text


def _cursor_after(driver, text: str, nth: int = 0) -> None:
    assert driver.execute_script(
        "return window.contentcloudEditor.cursorAfter(arguments[0], arguments[1])", text, nth
    )


def _tree_click(driver, path: str) -> None:
    driver.find_element("css selector", f'#ed-tree .node[data-path="{path}"]').click()


def _complete(driver, typed: str, wanted: str) -> str:
    """Type into the editor until the autocompletion offers ``wanted``, accept it; its detail."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    content = driver.find_element(By.CSS_SELECTOR, "#ed-editor .cm-content")
    content.send_keys(typed)
    option = WebDriverWait(driver, 30).until(
        lambda d: next(
            (
                li
                for li in d.find_elements(By.CSS_SELECTOR, ".cm-tooltip-autocomplete li")
                if li.find_element(By.CSS_SELECTOR, ".cm-completionLabel").text == wanted
            ),
            None,
        )
    )
    detail = option.find_element(By.CSS_SELECTOR, ".cm-completionDetail").text
    while option.get_attribute("aria-selected") != "true":
        content.send_keys(Keys.ARROW_DOWN)
    content.send_keys(Keys.ENTER)
    return detail


def test_write_a_mapping_from_scratch_flag_a_typo_and_promote_it(browser, served):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from contentcloud.pipeline.transform import run_transform
    from mdstore import UnitKey, open_store

    server, setup = served
    driver = browser
    driver.set_window_size(1600, 1000)
    browser_login(driver, server)
    driver.get(server + "/curator/editor?datasource=demo")
    assert driver.title == "Mapping editor"
    # the profile's mapping is loaded and previewed on 50 records as soon as the page opens
    status = _wait_preview(driver, 0)
    assert status.startswith("50 records: 0 failed, "), status
    assert driver.find_element(By.ID, "ed-name").get_attribute("value") == "demo.x3ml"
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.ID, "tree-summary"))
    assert driver.find_element(By.ID, "tree-summary").text == "148 records of v00000001"
    title = driver.find_element(By.CSS_SELECTOR, '#ed-tree .node[data-path="/oai_dc:dc/dc:title"]')
    assert title.find_element(By.XPATH, "following-sibling::span[@class='count']").text == "148"

    # a new mapping: the skeleton with the records' namespaces and the ontology's
    before = _previews(driver)
    driver.find_element(By.ID, "ed-new-x3ml").click()
    text = driver.execute_script("return window.contentcloudEditor.text()")
    assert '<namespace prefix="dc" uri="http://purl.org/dc/elements/1.1/"/>' in text
    assert '<namespace prefix="crmpe" uri="http://parthenos.d4science.org/CRMext/CRMpe.rdfs/"/>' in text
    _wait_preview(driver, before)

    # the domain: its path from the tree, its class from the autocompletion
    _cursor_after(driver, "<source_node>")
    _tree_click(driver, "/oai_dc:dc")
    _cursor_after(driver, "<type>")
    assert _complete(driver, "crmpe:PE22_Per", "crmpe:PE22_Persistent_Dataset") == "Persistent Dataset"
    # a link: paths from the tree, the property with its domain hint, the range class
    _cursor_after(driver, "</domain>")
    driver.execute_script(
        "const v=window.contentcloudEditor.view, at=v.state.selection.main.head;"
        "v.dispatch({changes:{from:at,insert:arguments[0]}})",
        LINK,
    )
    _cursor_after(driver, "<relation>")
    _tree_click(driver, "/oai_dc:dc/dc:title")
    _cursor_after(driver, "<relationship>")
    detail = _complete(driver, "crm:P1_is", "crm:P1_is_identified_by")
    assert detail == "is identified by ✓ domain"  # PE22 is a crm:E1_CRM_Entity, P1's domain
    _cursor_after(driver, "<source_node>", 1)
    _tree_click(driver, "/oai_dc:dc/dc:title")
    _cursor_after(driver, "<type>", 1)
    _complete(driver, "crm:E41_App", "crm:E41_Appellation")
    _shot(driver, "autocomplete")
    text = driver.execute_script("return window.contentcloudEditor.text()")
    assert "<source_node>//oai_dc:dc</source_node>" in text
    assert "<relation>dc:title</relation>" in text
    assert "<relationship>crm:P1_is_identified_by</relationship>" in text
    assert "<type>crmpe:PE22_Persistent_Dataset</type>" in text

    # the live preview says what is missing: the policy's generators write ccpe: IRIs
    before = _previews(driver)
    driver.execute_script("window.contentcloudEditor.runPreview()")
    status = _wait_preview(driver, before)
    assert status.startswith("50 records: 0 failed, 50 triples, 2 problems"), status
    driver.find_element(By.CSS_SELECTOR, '#ed-tabs [data-tab="problems"]').click()
    problems = [li.text for li in driver.find_elements(By.CSS_SELECTOR, "#problems li")]
    link_line = text[: text.index("<link>")].count("\n") + 1
    generator_line = text[: text.index("<entity>", text.index("<range>"))].count("\n") + 1  # its entity
    assert problems == [
        f"warning line {link_line}: the link wrote no triple in any of the 50 sampled records",
        f"warning line {generator_line}: No namespace for prefix ccpe in generator policy (50 records)",
    ]
    _shot(driver, "problems")

    # declared: every record gives 4 triples (dataset type, P1, appellation type and label)
    before = _previews(driver)
    _cursor_after(driver, "<namespaces>")
    driver.execute_script(
        "const v=window.contentcloudEditor.view, at=v.state.selection.main.head;"
        "v.dispatch({changes:{from:at,insert:arguments[0]}})",
        '\n        <namespace prefix="ccpe" uri="https://contentcloud.example/pe/"/>',
    )
    status = _wait_preview(driver, before)
    assert status.startswith("50 records: 0 failed, 200 triples, 0 problems"), status
    driver.find_element(By.CSS_SELECTOR, '#ed-tabs [data-tab="records"]').click()
    driver.find_element(By.CSS_SELECTOR, "#records-table tbody tr a").click()  # opens its details
    first = driver.find_element(By.CSS_SELECTOR, "#tab-records details.rec")
    assert first.get_attribute("open") == "true"
    entity = first.find_element(By.CSS_SELECTOR, ".entity")
    assert entity.find_element(By.CSS_SELECTOR, ".types").text == "crmpe:PE22_Persistent_Dataset"
    assert "crm:P1_is_identified_by" in entity.text
    _shot(driver, "live-preview")
    good = driver.execute_script("return window.contentcloudEditor.text()")

    # a typo in a path: flagged in the gutter and in the problem list, at its line
    before = _previews(driver)
    driver.execute_script(
        "const v=window.contentcloudEditor.view, d=v.state.doc.toString(),"
        " at=d.indexOf('dc:title</relation>');"
        "v.dispatch({changes:{from:at,to:at+8,insert:'dc:titel'}})"
    )
    _wait_preview(driver, before)
    link_line = good[: good.index("<link>")].count("\n") + 1
    driver.find_element(By.CSS_SELECTOR, '#ed-tabs [data-tab="problems"]').click()
    problems = [li.text for li in driver.find_elements(By.CSS_SELECTOR, "#problems li")]
    assert problems == [
        f"warning line {link_line}: the link wrote no triple in any of the 50 sampled records",
        f"warning line {link_line}: the source_relation 'dc:titel' matches nothing in any of the 50 sampled "
        "records",
    ]
    assert (
        len(driver.find_elements(By.CSS_SELECTOR, "#ed-editor .cm-gutter-lint .cm-lint-marker-warning")) == 1
    )
    _shot(driver, "typo-flagged")

    # fixed again, then promoted with a message
    before = _previews(driver)
    driver.execute_script(
        "const v=window.contentcloudEditor.view;"
        "v.dispatch({changes:{from:0,to:v.state.doc.length,insert:arguments[0]}})",
        good,
    )
    _wait_preview(driver, before)
    driver.find_element(By.ID, "ed-message").send_keys("titles only, written in the editor")
    driver.find_element(By.ID, "ed-promote").click()
    result = WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.ID, "promote-result"))[0]
    assert result.text.startswith(
        "Version 2 of demo.x3ml by curator-test: titles only, written in the editor. "
        "Affected datasources: demo. "
        "no Airflow API is configured"
    )
    rows = driver.find_elements(By.CSS_SELECTOR, "#history-table tr.version")
    assert [r.get_attribute("data-version") for r in rows] == ["2", "1"]
    rows[0].find_element(By.CLASS_NAME, "show-diff").click()
    diff = WebDriverWait(driver, 30).until(lambda d: d.find_element(By.ID, "history-diff").text)
    assert diff.startswith("--- demo.x3ml version 1\n+++ demo.x3ml version 2")
    _shot(driver, "promoted-history")
    assert (setup["mappings"] / "demo.x3ml").read_text(encoding="utf-8") == good
    assert (setup["mappings"] / "oai_dc2pe.x3ml").read_text() == (
        PROJECT / "mappings/oai_dc2pe.x3ml"
    ).read_text()

    # the transform runs again (what the config event starts): the new mapping's output is stored
    summary = run_transform("demo", setup["settings"])
    assert summary.version_out == "v00000003", summary.as_dict()
    assert (summary.updated, summary.errors if hasattr(summary, "errors") else 0) == (148, 0)
    with (
        open_store(setup["env"]["CONTENTCLOUD_MDSTORE"]) as store,
        store.reader(UnitKey("demo", "PE", "store", "transformed")) as view,
    ):
        bodies = [r.body_bytes().decode() for r in view.records(deleted=False)]
    assert len(bodies) == 148
    assert all("P1_is_identified_by" in b and "P94i_was_created_by" not in b for b in bodies)
