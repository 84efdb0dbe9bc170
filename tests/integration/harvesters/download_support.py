"""Helpers of the download tests: records pointing at URLs, a profile, one call of the step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from contentcloud.datasources import Datasource
from contentcloud.pipeline.download import download
from contentcloud.pipeline.summary import RunSummary
from harvesters.download import Entry, Ledger, LocalFileStore
from harvesters.transport import RetryPolicy
from mdstore import MDStore, RecordInput
from tests.integration.harvesters.conftest import make_profile

DC = "http://purl.org/dc/elements/1.1/"
ALLOW_LOCAL = {"networks": ["127.0.0.1/32"]}


def record_xml(*urls: str) -> bytes:
    links = "".join(f"<dc:identifier>{u}</dc:identifier>" for u in urls)
    return f'<rec xmlns:dc="{DC}"><dc:title>t</dc:title>{links}</rec>'.encode()


def profile(ds_id: str = "files", **download: Any) -> Datasource:
    section = {
        "xpath": "//dc:identifier",
        "namespaces": {"dc": DC},
        "allow": ALLOW_LOCAL,
        "concurrency": 4,
        "per_host": 4,
        "timeout": 5,
        **download,
    }
    section = {key: value for key, value in section.items() if value is not None}
    return make_profile(
        ds_id,
        {"protocol": "oai", "baseurl": "http://127.0.0.1:9/oai", "metadata_prefix": "oai_dc"},
        download=section,
    )


def write_records(store: MDStore, datasource: Datasource, records: dict[str, bytes | None]) -> str:
    """A full version of the native unit: ``None`` bodies are tombstones (deleted upstream)."""
    tx = store.begin(datasource.native_unit, "full", nsprefix=datasource.nsprefix)
    tx.write([(RecordInput(oid, body), body is None) for oid, body in records.items()])
    return tx.commit().id


class Run:
    """The download step over a store, a file store and a ledger in ``root``."""

    def __init__(self, store: MDStore, root: Path, sleeps: list[float] | None = None) -> None:
        self.store = store
        self.files = LocalFileStore(root / "files")
        self.ledger = Ledger(root / "ledger.sqlite")
        self.sleeps = sleeps if sleeps is not None else []

    def __call__(self, datasource: Datasource, *, max_retries: int = 2, **kwargs: Any) -> RunSummary:
        retry = RetryPolicy(max_retries=max_retries, backoff=0.01, max_backoff=0.02, sleep=self.record_sleep)
        return download(self.store, datasource, files=self.files, ledger=self.ledger, retry=retry, **kwargs)

    def record_sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def entry(self, datasource: Datasource, original_id: str, url: str) -> Entry:
        from mdstore import make_record_id

        found = self.ledger.get(make_record_id(datasource.nsprefix, original_id), url)
        assert found is not None, f"no ledger row for {original_id} {url}"
        return found

    def stored_files(self) -> list[Path]:
        return sorted(p for p in (self.files.root).rglob("*") if p.is_file() and ".tmp" not in p.parts)

    def temp_files(self) -> list[Path]:
        return list((self.files.root / ".tmp").iterdir())
