"""The committed editor bundle is the one ``contentcloud/curator/editor``'s lockfile builds.

Building is cheap (esbuild, under a second) but needs the packages of ``package-lock.json`` in
``contentcloud/curator/editor/node_modules`` (``make editor`` and ``scripts/install-test-deps``
install them with ``npm ci``; the tests themselves do not reach the registry). Without them the
comparison is skipped outside CI, naming what is missing (in CI it fails); the bundle's presence
and its licence file are checked either way.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from contentcloud.curator.live import STATIC

EDITOR = Path(__file__).resolve().parents[3] / "contentcloud" / "curator" / "editor"


def test_the_bundle_and_its_licences_are_committed():
    bundle = (STATIC / "editor.js").read_bytes()
    assert len(bundle) > 100_000
    assert bundle.count(b"\n") < 100  # minified (newlines only inside template strings)
    assert b"contentcloudEditor" in bundle and b"/api/preview" in bundle
    licences = (STATIC / "editor.js.LICENSES.txt").read_text(encoding="utf-8")
    locked = json.loads((EDITOR / "package-lock.json").read_text(encoding="utf-8"))["packages"]
    for name in ("@codemirror/view", "@codemirror/lang-xml", "@codemirror/autocomplete", "@lezer/xml"):
        assert f"== {name} {locked[f'node_modules/{name}']['version']} (MIT) ==" in licences


def test_the_committed_bundle_is_the_lockfile_build(tmp_path):
    node = shutil.which("node")
    if node is None or not (EDITOR / "node_modules" / "esbuild").is_dir():
        missing = "node or contentcloud/curator/editor/node_modules is missing (make editor installs them)"
        if os.environ.get("CI"):  # scripts/install-test-deps installs them: CI never skips this
            pytest.fail(missing)
        pytest.skip(missing)
    locked = json.loads((EDITOR / "package-lock.json").read_text(encoding="utf-8"))["packages"]
    for key, entry in locked.items():
        if key.startswith("node_modules/") and not entry.get("optional"):
            installed = json.loads((EDITOR / key / "package.json").read_text(encoding="utf-8"))["version"]
            if installed != entry["version"]:
                pytest.skip(
                    f"{key} {installed} is installed, the lockfile has {entry['version']}: run make editor"
                )
    subprocess.run([node, str(EDITOR / "build.mjs"), str(tmp_path)], check=True, timeout=120)
    assert (tmp_path / "editor.js").read_bytes() == (STATIC / "editor.js").read_bytes()
    assert (tmp_path / "editor.js.LICENSES.txt").read_text() == (
        STATIC / "editor.js.LICENSES.txt"
    ).read_text()
