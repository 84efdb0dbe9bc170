"""Secrets never leave their place: a URL with a password or a token, from a profile written
before credentials in URLs were refused, never reaches a log, a summary, the store or the
published OAI-PMH XML; new profiles with one are refused and told where the secret goes."""

from __future__ import annotations

import io
import json
import logging
import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from lxml import etree

from contentcloud.datasources import Datasource, validate_profile
from contentcloud.pipeline.collect import collect
from contentcloud.pipeline.publish import refresh_publisher
from contentcloud.pipeline.summary import Outcome
from mdstore import RecordInput
from provision.oai import OAIApp, OAIConfig, PublisherIndex
from tests.integration.harvesters.download_support import Run, profile, record_xml, write_records
from tests.servers.file_server import FileRoute, file_server
from tests.servers.oai_faults import FaultyRepository, fault_server

pytestmark = pytest.mark.integration

PASSWORD = "pw-Zq8sekret"
TOKEN = "tok-Zq8sekret"
SECRETS = (PASSWORD, TOKEN)
PROV = "{http://www.openarchives.org/OAI/2.0/provenance}"


def legacy(ds_id: str, baseurl: str) -> Datasource:
    """A profile as an older release accepted it (built without today's validation)."""
    api = {"protocol": "oai", "baseurl": baseurl, "metadata_prefix": "oai_dc", "timeout": 0.5}
    raw = {"id": ds_id, "name": ds_id, "nsprefix": ds_id, "api": api}
    return Datasource(id=ds_id, name=ds_id, nsprefix=ds_id, api=api, raw=raw)


def with_credentials(url: str) -> str:
    parts = urlsplit(url)
    return f"http://harvester:{PASSWORD}@{parts.netloc}{parts.path}?apikey={TOKEN}"


def masked(url: str) -> str:
    parts = urlsplit(url)
    return f"http://***@{parts.netloc}{parts.path}?apikey=***"


def assert_no_secret(where: str, text: str | bytes) -> None:
    data = text.encode() if isinstance(text, str) else text
    for secret in SECRETS:
        assert secret.encode() not in data, f"{secret} leaked into {where}"


def dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def oai_get(app: OAIApp, query: str) -> bytes:
    environ = {
        "REQUEST_METHOD": "GET",
        "QUERY_STRING": query,
        "wsgi.url_scheme": "http",
        "HTTP_HOST": "oai.example.org",
        "SERVER_NAME": "oai.example.org",
        "SERVER_PORT": "80",
        "SCRIPT_NAME": "/oai",
        "PATH_INFO": "",
        "wsgi.input": io.BytesIO(b""),
    }
    seen: dict = {}
    body = b"".join(app(environ, lambda status, headers: seen.update(status=status)))
    assert seen["status"] == "200 OK", body[:500]
    return body


def test_new_profiles_refuse_credentials_in_any_url_and_say_where_they_go():
    raw = {
        "id": "src",
        "name": "src",
        "nsprefix": "src",
        "api": {
            "protocol": "oai",
            "baseurl": f"http://user:{PASSWORD}@repo.example.org/oai",
            "metadata_prefix": "oai_dc",
        },
        "publish": {"base_url": f"https://user@repo.example.org/oai?token={TOKEN}"},
    }
    errors = validate_profile(raw, file="registry/src.yaml")
    assert [str(e) for e in errors] == [
        "registry/src.yaml: api.baseurl: 'http://***@repo.example.org/oai' holds credentials, which would be"
        " logged, stored and published: give the user as api.username and the password in an environment"
        " variable named by api.password_env",
        "registry/src.yaml: publish.base_url: 'https://***@repo.example.org/oai?token=***' holds credentials,"
        " which would be logged, stored and published: give the user as api.username and the password in an"
        " environment variable named by api.password_env",
    ]
    assert [e.rule for e in errors] == ["no-credentials-in-url"] * 2
    fine = {
        **raw,
        "api": {
            **raw["api"],
            "baseurl": "http://repo.example.org/oai",
            "username": "user",
            "password_env": "REPO_PASSWORD",
        },
        "publish": {},
    }
    assert validate_profile(fine) == []


def test_a_legacy_profile_with_credentials_leaks_them_nowhere(tmp_path: Path, store, fast, caplog):
    caplog.set_level(logging.DEBUG)
    # 1. a failing harvest: retries logged, the failure summarised and stored
    dead = legacy("deadsrc", with_credentials(f"http://127.0.0.1:{dead_port()}/oai"))
    failed = collect(store, dead, options=fast, environ={})
    assert failed.outcome in (Outcome.FAILED, Outcome.RESUMABLE)
    assert masked(f"http://127.0.0.1:{urlsplit(dead.api['baseurl']).port}/oai") in failed.message
    assert_no_secret("the failure summary", failed.text() + json.dumps(failed.as_dict()))

    # 2. a harvest with a broken record (stored as an error) from a live server, then publication
    repo = FaultyRepository.with_records(12)
    repo.page_traits[1] = {"broken-record"}
    with fault_server(repo) as server:
        ds = legacy("oldsrc", with_credentials(f"{server.url}/oai"))
        summary = collect(store, ds, options=fast, environ={})
    assert summary.outcome is Outcome.RECORD_ERRORS, summary.text()
    assert_no_secret("the harvest summary", summary.text() + json.dumps(summary.as_dict()))
    for path in tmp_path.glob("mdstore.sqlite*"):  # errors, discarded, reports, checkpoints
        assert_no_secret(str(path), path.read_bytes())
    # an even older store: the record provenance itself holds the URL with credentials
    tx = store.begin(ds.native_unit, "incremental", nsprefix=ds.nsprefix)
    tx.upsert(
        [
            RecordInput(
                "oai:old:1",
                '<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" '
                'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>old</dc:title></oai_dc:dc>',
                provenance={"baseURL": with_credentials(f"{server.url}/oai"), "datestamp": "2019-01-01"},
            )
        ]
    )
    tx.commit()
    index = PublisherIndex(tmp_path / "oai.sqlite")
    published = refresh_publisher(store, [ds], index=index, mappings_dir=tmp_path)
    assert published.ok, published.text()
    app = OAIApp(index, b"k", OAIConfig(repository_identifier="test.example.org", records_per_page=100))
    body = oai_get(app, "verb=ListRecords&metadataPrefix=oai_dc")
    base_urls = {e.text for e in etree.fromstring(body).iter(f"{PROV}baseURL")}
    assert base_urls == {masked(f"{server.url}/oai")}
    assert len(list(etree.fromstring(body).iter(f"{PROV}baseURL"))) == 12  # 11 harvested + the old one
    assert_no_secret("the published OAI XML", body)

    assert_no_secret("the logs", caplog.text)
    assert "retry" in caplog.text  # the failing harvest did log its URL, masked
    for path in tmp_path.glob("oai.sqlite*"):  # the publisher's index
        assert_no_secret(str(path), path.read_bytes())


def test_a_download_url_with_a_token_is_masked_in_logs_and_summaries(store, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    run = Run(store, tmp_path)
    with file_server({"/a.pdf": FileRoute(b"%PDF", script=[(500, {}, b"")] * 9)}) as server:
        ds = profile()
        url = f"{server.url}/a.pdf?access_token={TOKEN}&page=2"
        write_records(store, ds, {"r": record_xml(url.replace("&", "&amp;"))})
        summary = run(ds, max_retries=1)
    assert summary.errors == 1
    assert summary.first_errors == (
        f"{server.url}/a.pdf?access_token=***&page=2: HTTP 500 Internal Server Error;"
        " gave up after 2 attempts",
    )
    assert_no_secret("the download summary", summary.text() + json.dumps(summary.as_dict()))
    assert_no_secret("the logs", caplog.text)


def test_username_and_password_env_give_basic_authentication():
    from contentcloud.pipeline.collect import resolve_secrets
    from harvesters.http.harvester import HttpHarvester
    from harvesters.oai.harvester import OaiHarvester

    api = {"protocol": "oai", "baseurl": "http://h/oai", "metadata_prefix": "oai_dc", "username": "u"}
    oai = OaiHarvester.from_profile(
        resolve_secrets({**api, "password_env": "PW"}, {"PW": PASSWORD}), datasource="d"
    )
    assert oai.transport.auth == ("u", PASSWORD)
    http_api = {
        "protocol": "http",
        "connector": "xml-split",
        "url": "http://h/x.xml",
        "params": {"element": "rec"},
        "username": "u",
    }
    http = HttpHarvester.from_profile(
        resolve_secrets({**http_api, "password_env": "PW"}, {"PW": PASSWORD}), datasource="d"
    )
    assert http.transport.auth == ("u", PASSWORD)
