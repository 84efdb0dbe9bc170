"""Full harvests of the running publisher by two independent clients — sickle (Python) and
``oai_pmh`` from Debian's libhttp-oai-perl — over every format and every set, compared with
what the MDStore holds (read directly from the store, not from the publisher's index)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyoxigraph as ox
import pytest
import requests
from lxml import etree
from sickle import Sickle
from sickle.oaiexceptions import NoRecordsMatch

from tests.conftest import in_ci
from tests.oai_support import OAI, OAI_DC, REPO, validate

pytestmark = pytest.mark.integration

PREFIXES = ["oai_dc", "lido", "PE"]


def _c14n(element: etree._Element) -> bytes:
    return etree.tostring(element, method="c14n2", strip_text=True)


def _payload_of(body: str | bytes) -> etree._Element:
    root = etree.fromstring(body.encode() if isinstance(body, str) else body)
    if root.tag == f"{{{OAI}}}record":
        return root.find(f"{{{OAI}}}metadata")[0]
    return root


def _triples(data: bytes, fmt) -> set[str]:
    return {str(q.triple) if hasattr(q, "triple") else str(q) for q in ox.parse(data, format=fmt)}


def expected(running, prefix: str, set_spec: str | None) -> dict[str, tuple[bool, object]]:
    """identifier → (deleted, what the payload must be), straight from the MDStore units."""
    fx, store = running.fixture, running.store
    dcs, lido = fx.datasources
    result: dict[str, tuple[bool, object]] = {}
    members = fx.sets.get(set_spec) if set_spec else None
    units = []
    if prefix == "oai_dc":
        units = [dcs.native_unit, lido.native_unit]
    elif prefix == "lido":
        units = [lido.native_unit]
    elif prefix == "PE":
        units = [lido.transformed_unit]
    for unit in units:
        with store.reader(unit) as view:
            for record in view.records():
                if members is not None and record.id not in members:
                    continue
                if unit.format == "lido" and record.id == fx.lido_broken and prefix == "lido":
                    continue  # no namespace: published in oai_dc only
                oai_id = f"oai:{REPO}:{record.id}"
                if record.deleted:
                    result[oai_id] = (True, None)
                elif prefix == "PE":
                    result[oai_id] = (False, _triples(record.body_bytes(), ox.RdfFormat.N_TRIPLES))
                elif unit.format == "oai_dc" or prefix == "lido":
                    result[oai_id] = (False, _c14n(_payload_of(record.body)))
                else:  # oai_dc derived from LIDO: the fallback keeps the title
                    title = etree.fromstring(record.body_bytes()).findtext(".//{*}title")
                    result[oai_id] = (False, ("title", title))
    return result


def check_payload(want: object, payload: etree._Element) -> None:
    if isinstance(want, set):
        got = _triples(etree.tostring(payload), ox.RdfFormat.RDF_XML)
        assert got == want
    elif isinstance(want, tuple):
        assert payload.tag == f"{{{OAI_DC}}}dc"
        assert payload.findtext("{http://purl.org/dc/elements/1.1/}title") == want[1]
    else:
        assert _c14n(payload) == want


def _sets(running) -> list[str | None]:
    return [None, *sorted(running.fixture.sets)]


class ValidatingSickle(Sickle):
    """sickle, validating every response it receives against the official XSDs."""

    def __init__(self, url: str, schema_dir: Path, **kwargs) -> None:
        super().__init__(url, **kwargs)
        self.schema_dir = schema_dir
        self.validated = 0

    def harvest(self, **kwargs):
        response = super().harvest(**kwargs)
        validate(response.http_response.content, self.schema_dir)
        self.validated += 1
        return response


@pytest.mark.parametrize("prefix", PREFIXES)
def test_sickle_harvests_exactly_the_store(running, prefix, schema_dir):
    client = ValidatingSickle(running.url, schema_dir, max_retries=10, default_retry_after=1, timeout=30)
    for set_spec in _sets(running):
        want = expected(running, prefix, set_spec)
        args = {"metadataPrefix": prefix, "ignore_deleted": False, **({"set": set_spec} if set_spec else {})}
        got = {}
        try:
            for record in client.ListRecords(**args):
                header = record.header
                assert header.identifier not in got, "listed twice"
                if set_spec:
                    assert set_spec in header.setSpecs
                metadata = record.xml.find(f"{{{OAI}}}metadata")
                got[header.identifier] = (header.deleted, metadata[0] if metadata is not None else None)
        except NoRecordsMatch:
            pass
        assert set(got) == set(want), (prefix, set_spec)
        for identifier, (deleted, payload) in got.items():
            assert deleted is want[identifier][0], identifier
            if not deleted:
                check_payload(want[identifier][1], payload)
        ids = [h.identifier for h in client.ListIdentifiers(**args)] if want else []
        assert sorted(ids) == sorted(want)
    assert client.validated >= 2 * len(_sets(running))  # every page of every list, schema-valid


def test_sickle_get_record_and_identify(running, schema_dir):
    client = Sickle(running.url, max_retries=5, default_retry_after=1)
    identify = client.Identify()
    assert identify.baseURL == running.url
    assert identify.deletedRecord == "persistent"
    some = running.fixture.lido_ids[3]
    record = client.GetRecord(identifier=f"oai:{REPO}:{some}", metadataPrefix="lido")
    assert record.header.identifier == f"oai:{REPO}:{some}"
    formats = [f.metadataPrefix for f in client.ListMetadataFormats(identifier=f"oai:{REPO}:{some}")]
    assert formats == ["PE", "lido", "oai_dc"]
    for verb in ("verb=Identify", "verb=ListSets", "verb=ListRecords&metadataPrefix=oai_dc"):
        validate(requests.get(f"{running.url}?{verb}", timeout=10).content, schema_dir)


@pytest.fixture(scope="module")
def oai_pmh() -> str:
    path = shutil.which("oai_pmh")
    if path is None:
        if in_ci():
            pytest.fail(
                "oai_pmh (Debian package libhttp-oai-perl) is missing; scripts/install-test-deps installs it"
            )
        pytest.skip("oai_pmh (Debian package libhttp-oai-perl) is not installed")
    return path


def _perl_harvest(oai_pmh: str, url: str, prefix: str, set_spec: str | None) -> tuple[int, dict, str]:
    # -X is needed: without it the script forces metadataPrefix=oai_dc
    command = [
        oai_pmh,
        "-X",
        "ListRecords",
        "--metadataPrefix",
        prefix,
        *(["--set", set_spec] if set_spec else []),
        url,
    ]
    done = subprocess.run(
        command,
        capture_output=True,
        timeout=120,
        env={**os.environ, "LC_ALL": "C.UTF-8", "PERL_UNICODE": "SO"},
    )
    records = {}
    for chunk in done.stdout.decode("utf-8").split("\f"):
        if not chunk.strip():
            continue
        head, _, body = chunk.partition("\n\n")
        fields: dict[str, list[str]] = {}
        for line in head.splitlines():
            name, _, value = line.partition(": ")
            fields.setdefault(name.strip(), []).append(value.strip())
        identifier = fields["identifier"][0]
        assert identifier not in records, "listed twice"
        records[identifier] = (
            fields.get("status", [""])[0] == "deleted",
            fields.get("setSpec", []),
            body.strip(),
        )
    return done.returncode, records, done.stderr.decode("utf-8", "replace")


@pytest.mark.parametrize("prefix", PREFIXES)
def test_oai_pmh_perl_client_harvests_exactly_the_store(running, oai_pmh, prefix):
    for set_spec in _sets(running):
        want = expected(running, prefix, set_spec)
        code, got, stderr = _perl_harvest(oai_pmh, running.url, prefix, set_spec)
        if not want:
            assert "noRecordsMatch" in stderr or not got, stderr
            continue
        assert code == 0, stderr
        assert set(got) == set(want), (prefix, set_spec, stderr)
        for identifier, (deleted, specs, body) in got.items():
            assert deleted is want[identifier][0], identifier
            if set_spec:
                assert set_spec in specs
            if not deleted:
                metadata = etree.fromstring(body.encode("utf-8"))
                assert metadata.tag == f"{{{OAI}}}metadata"
                check_payload(want[identifier][1], [c for c in metadata if isinstance(c.tag, str)][0])


def test_concurrent_harvesters_get_complete_lists_through_503s(running):
    """Eight clients against two processing slots and two waiting places: some requests are
    refused with 503 + Retry-After, every client retries and ends with the complete list."""
    want = set(expected(running, "oai_dc", None))
    results, errors = [], []
    rejected_before = running.app.limiter.rejected

    def harvest() -> None:
        try:
            client = Sickle(running.url, max_retries=30, default_retry_after=1, timeout=30)
            results.append(
                {
                    r.header.identifier
                    for r in client.ListRecords(metadataPrefix="oai_dc", ignore_deleted=False)
                }
            )
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(repr(exc))

    threads = [threading.Thread(target=harvest) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert results == [want] * 8
    assert running.app.limiter.rejected >= rejected_before  # 503s may or may not have happened


def test_gzip_and_post_over_http(running):
    response = requests.get(
        running.url,
        params={"verb": "ListRecords", "metadataPrefix": "oai_dc"},
        headers={"Accept-Encoding": "gzip"},
        timeout=10,
    )
    assert response.headers["Content-Encoding"] == "gzip"
    assert b"<ListRecords>" in response.content  # requests decompressed it
    posted = requests.post(
        running.url, data={"verb": "ListIdentifiers", "metadataPrefix": "lido"}, timeout=10
    )
    assert posted.status_code == 200
    assert posted.text.count("<header") == 7


def test_contentcloud_serve_runs_the_app(tmp_path):
    """The real command: starts, answers Identify at /oai, stops on SIGTERM."""
    env = {
        **os.environ,
        "CONTENTCLOUD_VAR": str(tmp_path / "var"),
        "CONTENTCLOUD_MDSTORE": f"sqlite:///{tmp_path}/md.sqlite",
        "CONTENTCLOUD_REGISTRY": str(tmp_path),
    }
    process = subprocess.Popen(
        [sys.executable, "-c", "from contentcloud.cli import main; main()", "serve", "--port", "0"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stderr.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/oai", line)
        assert match, line
        url = match.group(0)
        deadline = time.monotonic() + 10
        while True:
            try:
                response = requests.get(url, params={"verb": "Identify"}, timeout=5)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert response.status_code == 200
        assert f"<baseURL>{url}</baseURL>" in response.text
        assert Path(tmp_path / "var" / "oai_secret").exists()
    finally:
        process.terminate()
        process.wait(10)
