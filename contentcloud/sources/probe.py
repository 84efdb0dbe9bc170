"""Probing a source before it is registered: what the server offers, a few records, its speed.

The base URL comes from a form, so it is hostile input: it must be what a profile may hold (the
schema's ``http_url``, no credentials in it; checked by validating a candidate profile), and the
server is asked through the harvester's own client and transport — the hardened parser, pages
capped at :data:`MAX_PAGE_BYTES`, records at :data:`MAX_RECORD_BYTES`, one read at most
:data:`READ_TIMEOUT` seconds, one request (with its single connection retry) at most
:data:`REQUEST_TIME` seconds, and the whole probe stopped after :data:`BUDGET` seconds (the steps
not reached are reported as skipped). Nothing probed is stored.

OAI-PMH: Identify, ListMetadataFormats, ListSets (the first page: at most :data:`MAX_SETS`) and
the first ListRecords page in the chosen (or first) format, of which :data:`SAMPLE` records are
shown. HTTP: the first :data:`MAX_PAGE_BYTES` of the URL. FTP sources are registered without a
probe (the first run shows what the server holds).

Whom a probe may reach: a curator types the URL and sees what comes back, so a probe is a way
into the server's network. Like the file download service, the probe connects only to public
(globally routable) addresses, checked where the connection is made, redirects and DNS rebinding
included (:mod:`harvesters.download.policy`); the networks of the ``probe_allow_networks``
setting (``CONTENTCLOUD_PROBE_ALLOW_NETWORKS``, e.g. ``127.0.0.1/32`` or a campus range) may be
reached besides. The pages register a source only at an address the probe may reach
(:func:`check_address`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from mdstore.errors import ConfigError, ContentcloudError

MAX_PAGE_BYTES = 4 * 2**20
MAX_RECORD_BYTES = 2**20
READ_TIMEOUT = 10.0
REQUEST_TIME = 15.0
BUDGET = 30.0
MAX_SETS = 200
MAX_REDIRECTS = 5
MAX_FORMATS = 100
SAMPLE = 5
#: characters of a sample record shown
SAMPLE_CHARS = 4000
OAI = "{http://www.openarchives.org/OAI/2.0/}"


@dataclass
class Probe:
    """What one probe found; ``as_dict`` is the JSON API's answer."""

    protocol: str
    url: str
    identify: dict[str, Any] = field(default_factory=dict)
    formats: list[dict[str, str]] = field(default_factory=list)
    sets: list[dict[str, str]] = field(default_factory=list)
    sets_truncated: bool = False
    sample_format: str | None = None
    sample: list[dict[str, Any]] = field(default_factory=list)
    #: records on the first list page and the list size the server announced
    page_records: int = 0
    complete_list_size: int | None = None
    #: per request: seconds and bytes
    requests: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    content_type: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def speed(self) -> dict[str, Any]:
        """The server's speed over the probe: mean seconds per request, bytes and records per second."""
        done = [r for r in self.requests if r.get("seconds") is not None]
        seconds = sum(r["seconds"] for r in done)
        size = sum(r.get("bytes") or 0 for r in done)
        listed = next((r for r in done if r["request"] == "ListRecords"), None)
        return {
            "requests": len(done),
            "mean_seconds": round(seconds / len(done), 3) if done else None,
            "bytes_per_second": round(size / seconds) if seconds > 0 else None,
            "records_per_second": (
                round(self.page_records / listed["seconds"], 1) if listed and listed["seconds"] > 0 else None
            ),
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "url": self.url,
            "ok": self.ok,
            "identify": self.identify,
            "formats": self.formats,
            "sets": self.sets,
            "sets_truncated": self.sets_truncated,
            "sample_format": self.sample_format,
            "sample": self.sample,
            "page_records": self.page_records,
            "complete_list_size": self.complete_list_size,
            "content_type": self.content_type,
            "requests": self.requests,
            "speed": self.speed,
            "problems": self.problems,
        }


def check_url(url: str, protocol: str = "oai") -> str:
    """The URL if a profile may hold it (the schema's http(s) pattern, no credentials), else the
    :class:`ConfigError` the profile would give."""
    from contentcloud.datasources import validate_profile

    url = (url or "").strip()
    if protocol == "oai":
        api: dict[str, Any] = {"protocol": "oai", "baseurl": url, "metadata_prefix": "oai_dc"}
    else:
        api = {"protocol": "http", "connector": "url-list", "url": url}
    errors = validate_profile({"id": "probe", "name": "probe", "nsprefix": "probe", "api": api}, file="probe")
    if errors:
        error = errors[0]
        raise ConfigError(error.message, field="url", rule=error.rule)
    return url


NETWORKS_SETTING = "CONTENTCLOUD_PROBE_ALLOW_NETWORKS"


def address_policy(networks: str | Iterable[str] = ()) -> Any:
    """Public addresses, and ``networks`` (CIDR; a string is split at commas and spaces)."""
    from harvesters.download.policy import AddressPolicy

    if isinstance(networks, str):
        networks = [n for n in re.split(r"[\s,]+", networks) if n]
    return AddressPolicy(networks=networks, networks_field=NETWORKS_SETTING)


def check_address(host: str, port: int, networks: str | Iterable[str] = (), *, field: str = "api") -> None:
    """:class:`ConfigError` unless every address of ``host`` may be reached (see the module)."""
    import socket

    from harvesters.download.errors import Refused

    try:
        address_policy(networks).resolve(host, port)
    except Refused as exc:
        raise ConfigError(exc.message, field=field, rule="address") from None
    except (socket.gaierror, UnicodeError) as exc:
        raise ConfigError(
            f"the host {host!r} cannot be resolved ({exc})", field=field, rule="address"
        ) from None


def _transport(networks: str | Iterable[str] = ()):
    from harvesters.download.policy import guard_session
    from harvesters.transport import RetryPolicy, Transport

    policy = address_policy(networks)
    retry = RetryPolicy(max_retries=0, max_connect_retries=1, connect_backoff=0.2)
    return Transport(
        timeout=READ_TIMEOUT,
        max_time=REQUEST_TIME,
        retry=retry,
        datasource="probe",
        session_setup=lambda session: guard_session(session, policy, max_redirects=MAX_REDIRECTS),
    )


def probe_oai(
    url: str,
    *,
    metadata_prefix: str | None = None,
    set_spec: str | None = None,
    budget: float = BUDGET,
    networks: str | Iterable[str] = (),
) -> Probe:
    """Identify, ListMetadataFormats, ListSets and one ListRecords page of ``url`` (see the module)."""
    from harvesters.oai.client import OAIClient
    from harvesters.oai.response import parse_document

    url = check_url(url, "oai")
    result = Probe("oai", url)
    started = time.monotonic()
    transport = _transport(networks)
    client = OAIClient(
        url, transport, datasource="probe", max_page_bytes=MAX_PAGE_BYTES, max_record_bytes=MAX_RECORD_BYTES
    )

    def ask(name: str, call: Any) -> Any:
        if time.monotonic() - started > budget:
            result.requests.append({"request": name, "seconds": None, "bytes": None, "skipped": True})
            result.problems.append(f"{name}: not asked, the probe's {budget:g} s were used up")
            return None
        began = time.monotonic()
        try:
            value, size = call()
        except ContentcloudError as exc:
            result.requests.append(
                {
                    "request": name,
                    "seconds": round(time.monotonic() - began, 3),
                    "bytes": None,
                    "error": str(exc),
                }
            )
            code = getattr(exc, "code", None)
            if name == "ListSets" and code == "noSetHierarchy":
                return []  # not a problem: the repository has no sets
            result.problems.append(f"{name}: {exc.message if hasattr(exc, 'message') else exc}")
            return None
        except etree.XMLSyntaxError as exc:
            result.requests.append(
                {"request": name, "seconds": round(time.monotonic() - began, 3), "bytes": None}
            )
            result.problems.append(f"{name}: the answer is not well-formed XML ({exc})")
            return None
        result.requests.append(
            {"request": name, "seconds": round(time.monotonic() - began, 3), "bytes": size}
        )
        return value

    def document(params: dict[str, str], page: str) -> tuple[Any, int]:
        content = client.fetch(params, page=page)
        root, _ = parse_document(content, url=url, page=page)
        return root, len(content)

    try:
        root = ask("Identify", lambda: document({"verb": "Identify"}, "Identify"))
        if root is not None:
            info = root.find(f"{OAI}Identify")
            if info is None:
                result.problems.append("Identify: the answer has no <Identify> element")
            else:
                result.identify = {
                    key: (info.findtext(f"{OAI}{tag}") or "").strip() or None
                    for key, tag in (
                        ("repository_name", "repositoryName"),
                        ("base_url", "baseURL"),
                        ("protocol_version", "protocolVersion"),
                        ("earliest_datestamp", "earliestDatestamp"),
                        ("deleted_record", "deletedRecord"),
                        ("granularity", "granularity"),
                    )
                }
                result.identify["admin_emails"] = [
                    (e.text or "").strip() for e in info.iterfind(f"{OAI}adminEmail")
                ][:10]
        root = ask(
            "ListMetadataFormats", lambda: document({"verb": "ListMetadataFormats"}, "ListMetadataFormats")
        )
        if root is not None:
            for item in root.iter(f"{OAI}metadataFormat"):
                if len(result.formats) >= MAX_FORMATS:
                    break
                result.formats.append(
                    {
                        "prefix": (item.findtext(f"{OAI}metadataPrefix") or "").strip(),
                        "schema": (item.findtext(f"{OAI}schema") or "").strip(),
                        "namespace": (item.findtext(f"{OAI}metadataNamespace") or "").strip(),
                    }
                )
        root = ask("ListSets", lambda: document({"verb": "ListSets"}, "ListSets"))
        if isinstance(root, etree._Element):
            for item in root.iter(f"{OAI}set"):
                if len(result.sets) >= MAX_SETS:
                    result.sets_truncated = True
                    break
                result.sets.append(
                    {
                        "spec": (item.findtext(f"{OAI}setSpec") or "").strip(),
                        "name": (item.findtext(f"{OAI}setName") or "").strip(),
                    }
                )
            token = root.find(f".//{OAI}resumptionToken")
            if token is not None and (token.text or "").strip():
                result.sets_truncated = True
        prefixes = [f["prefix"] for f in result.formats]
        prefix = metadata_prefix or (
            "oai_dc" if "oai_dc" in prefixes else (prefixes[0] if prefixes else None)
        )
        if prefix:
            result.sample_format = prefix
            params = {"verb": "ListRecords", "metadataPrefix": prefix}
            if set_spec:
                params["set"] = set_spec

            def first_page() -> tuple[Any, int]:
                page = client.list_page(params, page="ListRecords")
                return page, sum(len(r.raw or b"") for r in page.records)

            page = ask("ListRecords", first_page)
            if page is not None:
                result.page_records = len(page.records)
                result.complete_list_size = page.complete_list_size
                for record in page.records[:SAMPLE]:
                    text = (record.raw or b"").decode("utf-8", errors="replace")
                    result.sample.append(
                        {
                            "identifier": record.header.identifier,
                            "datestamp": record.header.datestamp,
                            "deleted": record.header.deleted,
                            "sets": list(record.header.set_specs),
                            "xml": text[:SAMPLE_CHARS],
                            "truncated": len(text) > SAMPLE_CHARS,
                        }
                    )
    finally:
        transport.close()
    return result


def probe_http(url: str, *, networks: str | Iterable[str] = ()) -> Probe:
    """The first :data:`MAX_PAGE_BYTES` of an HTTP source's URL: status, type, size, speed, the head."""
    from harvesters.transport import ResponseTooLarge

    url = check_url(url, "http")
    result = Probe("http", url)
    transport = _transport(networks)
    began = time.monotonic()
    try:
        try:
            response = transport.get(url, max_bytes=MAX_PAGE_BYTES)
            content, truncated = response.content, False
            result.content_type = response.headers.get("Content-Type")
            if response.status_code >= 400:
                result.problems.append(f"GET: HTTP {response.status_code}")
        except ResponseTooLarge as exc:
            content, truncated = exc.raw[:MAX_PAGE_BYTES], True
        except ContentcloudError as exc:
            result.requests.append(
                {"request": "GET", "seconds": round(time.monotonic() - began, 3), "bytes": None}
            )
            result.problems.append(f"GET: {exc}")
            return result
    finally:
        transport.close()
    result.requests.append(
        {"request": "GET", "seconds": round(time.monotonic() - began, 3), "bytes": len(content)}
    )
    text = content.decode("utf-8", errors="replace")
    result.sample.append(
        {"identifier": url, "xml": text[:SAMPLE_CHARS], "truncated": truncated or len(text) > SAMPLE_CHARS}
    )
    return result
