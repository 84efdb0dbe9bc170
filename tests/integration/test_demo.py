"""``contentcloud demo``: the whole pipeline on the embedded defaults, then the services it prints."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.curator_support import CuratorClient

PROJECT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


@pytest.fixture
def workdir(tmp_path) -> Path:
    """A fresh working directory with the project's registry (the demo's defaults are relative)."""
    shutil.copytree(PROJECT / "registry", tmp_path / "registry")
    return tmp_path


def demo_env(workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONTENTCLOUD_")}
    return {**env, "CONTENTCLOUD_VAR": str(workdir / "var")}


def contentcloud() -> str:
    return str(Path(sys.executable).with_name("contentcloud"))


def test_demo_runs_every_step_and_reports_facets(workdir):
    started = time.monotonic()
    result = subprocess.run(
        [contentcloud(), "demo", "--no-serve"],
        cwd=workdir,
        env=demo_env(workdir),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert time.monotonic() - started < 60
    steps = re.findall(
        r"^  (collect|transform|index|publish)\s+(\S+)\s+read\s+(\d+)\s+written\s+(\d+)\s+errors\s+(\d+)",
        result.stderr,
        re.M,
    )
    assert steps == [
        ("collect", "finished", "150", "150", "0"),
        ("transform", "finished", "150", "150", "0"),
        ("index", "finished", "148", "148", "0"),
        ("publish", "finished", "150", "300", "0"),
    ]
    assert "148 documents indexed" in result.stdout
    assert re.search(r"^  rdf\s+finished\s+read\s+148\s+written\s+148\s+errors\s+0", result.stderr, re.M)
    assert "/sparql" in result.stdout
    assert re.search(r"entity_type_label\s+.*Persistent Dataset \(148\)", result.stdout)
    assert "/oai?verb=Identify" in result.stdout and "/curator/" in result.stdout
    # the stores are where the defaults say (under CONTENTCLOUD_VAR) and a second run works too
    assert (workdir / "var" / "mdstore.sqlite").exists() and (workdir / "var" / "oai.sqlite").exists()
    again = subprocess.run(
        [contentcloud(), "demo", "--no-serve"],
        cwd=workdir,
        env=demo_env(workdir),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert re.search(r"^  collect\s+finished\s+read\s+150", again.stderr, re.M)


def test_demo_serves_publisher_search_and_curator_until_interrupted(workdir):
    proc = subprocess.Popen(
        [contentcloud(), "demo", "--port", "0"],
        cwd=workdir,
        env=demo_env(workdir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = password = None
        deadline = time.monotonic() + 90
        while password is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            match = re.search(r"OAI-PMH publisher\s+(http://[^/]+)/oai\?verb=Identify", line)
            if match:
                base = match.group(1)
            match = re.search(r"user curator, one-time password (\S+) \(valid while this demo runs\)", line)
            if match:
                password = match.group(1)
        assert base, proc.stderr.read()[-3000:] if proc.poll() is not None else "no URL printed"
        time.sleep(0.5)
        identify = urllib.request.urlopen(f"{base}/oai?verb=Identify", timeout=10).read().decode()
        assert "<repositoryName>contentcloud</repositoryName>" in identify
        listed = urllib.request.urlopen(
            f"{base}/oai?verb=ListIdentifiers&metadataPrefix=oai_dc", timeout=10
        ).read()
        assert listed.count(b"<header") == 150 and listed.count(b'status="deleted"') == 2
        found = json.load(
            urllib.request.urlopen(f"{base}/solr/contentcloud/select?q=title:villa&rows=0", timeout=10)
        )
        assert found["response"]["numFound"] > 0
        # the curator pages need a login, with the one-time password the demo printed
        client = CuratorClient(base)
        assert client.request("GET", "/curator/").status == 303
        assert client.login("curator", password).status == 303
        page = client.request("GET", "/curator/")
        assert page.status == 200 and "Curator workbench" in page.text
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0


def test_source_only_serves_the_sample_records_and_nothing_else(tmp_path):
    """``contentcloud demo --source-only`` (the docker stack's demo-source): the sample records over
    OAI-PMH, from an empty folder, without running the pipeline or serving search and curator pages."""
    proc = subprocess.Popen(
        [contentcloud(), "demo", "--source-only", "--port", "0"],
        cwd=tmp_path,
        env=demo_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stderr.readline()
        match = re.fullmatch(
            r"contentcloud demo source: 150 sample records over OAI-PMH at (http://127\.0\.0\.1:\d+)/oai "
            r"\(Ctrl-C stops\)\n",
            line,
        )
        assert match, line + (proc.stderr.read()[-3000:] if proc.poll() is not None else "")
        base = match.group(1)
        identify = urllib.request.urlopen(f"{base}/oai?verb=Identify", timeout=10).read().decode()
        assert "<repositoryName>contentcloud demo source</repositoryName>" in identify
        listed = urllib.request.urlopen(
            f"{base}/oai?verb=ListIdentifiers&metadataPrefix=oai_dc", timeout=10
        ).read()
        assert listed.count(b"<header") == 150 and listed.count(b'status="deleted"') == 2
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"{base}/solr/contentcloud/select?q=*:*", timeout=10)
        assert missing.value.code == 404
        assert sorted(p.name for p in (tmp_path / "var").iterdir()) == ["demo-source"]  # no pipeline ran
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0
    assert proc.stderr.read() == "stopped.\n"
