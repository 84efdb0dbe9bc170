"""Address policy, filters, per-host gate and the settlement cursor of the download service."""

from __future__ import annotations

import threading
import time

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from harvesters.download import AddressPolicy, AddressRefused, DownloadConfig, Filters, Refused
from harvesters.download.service import HostGate, _Settlement
from mdstore.errors import ConfigError


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.0.1", "private"),
        ("172.16.5.4", "private"),
        ("169.254.169.254", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("::1", "loopback"),
        ("fe80::1", "link-local"),
        ("fd00::1", "private"),
        ("::ffff:127.0.0.1", "loopback"),
        ("224.0.0.1", "multicast"),
        ("100.64.0.1", "non-global"),
    ],
)
def test_non_public_addresses_are_refused_by_default(address, kind):
    with pytest.raises(AddressRefused) as refused:
        AddressPolicy().check_address("host", address)
    assert refused.value.message == (
        f"refused: host resolves to {address}, a {kind} address not in download.allow.networks"
    )


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "8.8.8.8"])
def test_public_addresses_pass(address):
    AddressPolicy().check_address("host", address)


def test_networks_and_ip_literal_hosts_allow_addresses():
    policy = AddressPolicy(networks=["10.0.0.0/8", "::1/128"])
    policy.check_address("h", "10.200.0.1")
    policy.check_address("h", "::1")
    with pytest.raises(AddressRefused):
        policy.check_address("h", "127.0.0.1")
    AddressPolicy(hosts=["127.0.0.1"]).check_address("h", "127.0.0.1")
    with pytest.raises(ConfigError, match="is not a network"):
        AddressPolicy(networks=["10.0.0.0/33"])


def test_schemes_and_host_lists():
    policy = AddressPolicy(hosts=["files.ex.org", "*.cdn.ex.org", "127.0.0.1"])
    policy.check_url("https://files.ex.org/a")
    policy.check_url("http://eu.cdn.ex.org:8080/a")
    policy.check_url("HTTP://FILES.EX.ORG./a")
    for url, message in [
        ("https://ex.org/a", "refused: the host ex.org is not in download.allow.hosts"),
        ("https://cdn.ex.org/a", "refused: the host cdn.ex.org is not in download.allow.hosts"),
        ("ftp://files.ex.org/a", "refused: only http and https URLs are downloaded, not 'ftp'"),
        ("javascript:alert(1)", "refused: only http and https URLs are downloaded, not 'javascript'"),
        ("/relative/path.pdf", "refused: only http and https URLs are downloaded, not 'none'"),
        ("http:///nohost", "refused: the URL has no host"),
        ("http://[::1/x", "refused: not a valid URL (Invalid IPv6 URL)"),
        ("http://ex.org:99999/x", "refused: not a valid URL (Port out of range 0-65535)"),
    ]:
        with pytest.raises(Refused) as refused:
            policy.check_url(url)
        assert refused.value.message == message


def test_resolution_checks_every_address():
    policy = AddressPolicy()
    with pytest.raises(AddressRefused, match="localhost resolves to"):
        policy.resolve("localhost", 80)
    assert {info[4][0] for info in AddressPolicy(networks=["127.0.0.0/8"]).resolve("127.0.0.1", 80)} == {
        "127.0.0.1"
    }


def test_filters():
    filters = Filters.from_profile(
        {"content_types": ["application/pdf", "Image/*"], "extensions": [".PDF", "tar.gz"], "max_size": 10}
    )
    assert filters.accepts_content_type("application/pdf; charset=binary")
    assert filters.accepts_content_type("image/jpeg")
    assert not filters.accepts_content_type("text/html")
    assert not filters.accepts_content_type(None)
    assert Filters().accepts_content_type(None)
    assert filters.accepts_url("https://ex.org/a/B.Pdf?x=1")
    assert filters.accepts_url("https://ex.org/a.tar.gz")
    assert filters.accepts_url("https://ex.org/download?id=5")
    assert filters.accepts_url("https://ex.org/dir/")
    assert not filters.accepts_url("https://ex.org/a.jpg")
    assert not filters.accepts_url("https://ex.org/a.gz")
    assert filters.max_size == 10


def test_config_defaults_and_overrides():
    config = DownloadConfig.from_profile(
        {"xpath": "//u", "allow": {"hosts": ["a"]}, "per_host": 3}, layer="transformed"
    )
    assert (config.concurrency, config.per_host, config.delay, config.layer) == (4, 3, 0.0, "transformed")
    assert config.allow_hosts == ("a",)
    assert config.filters.max_size == 2 * 2**30


def test_host_gate_limits_concurrency_per_host_and_spaces_starts():
    waits: list[float] = []
    # the clock stands still: a thread that starts late on a loaded machine waits the same
    gate = HostGate(per_host=2, delay=0.5, sleep=waits.append, clock=lambda: 100.0)
    active = {"a": 0, "b": 0}
    peak = {"a": 0, "b": 0}
    lock = threading.Lock()

    def work(host: str) -> None:
        with gate.slot(host):
            with lock:
                active[host] += 1
                peak[host] = max(peak[host], active[host])
            time.sleep(0.02)
            with lock:
                active[host] -= 1

    threads = [threading.Thread(target=work, args=(host,)) for host in "aaaaab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak == {"a": 2, "b": 1}
    # five starts on host a, each booked 0.5 s after the previous one (sleep is recorded, not slept)
    assert len(waits) == 4
    assert sorted(waits) == [0.5, 1.0, 1.5, 2.0]


@given(st.lists(st.integers(min_value=0, max_value=3), max_size=20), st.randoms())
def test_the_cursor_is_the_last_record_whose_files_are_all_settled(jobs, rng):
    settlement = _Settlement()
    records = [f"r{i:03d}" for i in range(len(jobs))]
    pending = []
    for record, count in zip(records, jobs):
        settlement.add(record, count)
        pending += [record] * count
    rng.shuffle(pending)
    left = dict(zip(records, jobs))
    for record in pending:
        settlement.done(record)
        left[record] -= 1
        expected = None
        for r in records:
            if left[r]:
                break
            expected = r
        assert settlement.cursor == expected
    assert settlement.settled == len(records)


def _profile(download: dict):
    from contentcloud.datasources import profile_from_dict

    return profile_from_dict(
        {
            "id": "d",
            "name": "d",
            "nsprefix": "d",
            "api": {"protocol": "oai", "baseurl": "https://ex.org/oai", "metadata_prefix": "x"},
            "download": download,
        }
    )


def test_the_schema_takes_the_whole_download_section():
    section = {
        "layer": "transformed",
        "xpath": "//u",
        "property_path": "edm:isShownBy",
        "namespaces": {"edm": "http://www.europeana.eu/schemas/edm/"},
        "filters": {"content_types": ["image/*"], "extensions": ["jpg"], "max_size": 1000},
        "allow": {"hosts": ["*.ex.org"], "networks": ["10.0.0.0/8"]},
        "concurrency": 8,
        "per_host": 2,
        "delay": 0.5,
        "timeout": 30,
        "max_retries": 2,
        "backoff": 1,
        "max_backoff": 10,
        "max_redirects": 5,
        "user_agent": "bot",
    }
    assert _profile(section).section("download") == section


@pytest.mark.parametrize(
    ("section", "field", "message"),
    [
        ({"xpath": "//u", "thing": 1}, "download.thing", "unknown field"),
        ({"xpath": "//u", "filters": {"max_size": 0}}, "download.filters.max_size", "less than the minimum"),
        ({"property_path": "<a> ?o } {"}, "download.property_path", "does not match"),
        ({"xpath": "//u", "layer": "cleaned"}, "download.layer", "is not one of"),
        ({"xpath": "//u", "allow": {"ports": [1]}}, "download.allow.ports", "unknown field"),
    ],
)
def test_the_schema_refuses_bad_sections(section, field, message):
    with pytest.raises(ConfigError) as bad:
        _profile(section)
    assert bad.value.field == field
    assert message in bad.value.message


@given(st.ip_addresses())
def test_by_default_only_public_addresses_pass(ip):
    effective = getattr(ip, "ipv4_mapped", None) or ip
    try:
        AddressPolicy().check_address("h", str(ip))
    except AddressRefused:
        passed = False
    else:
        passed = True
    if passed:
        assert effective.is_global
        assert not effective.is_multicast
    if effective.is_private or effective.is_loopback or effective.is_link_local or not effective.is_global:
        assert not passed


@given(st.text(max_size=60))
@example("http://[::1")
@example(" \x01HTTP://ex.org/a")
def test_any_url_is_either_allowed_or_refused_with_a_reason(url):
    policy = AddressPolicy(hosts=["ex.org"])
    try:
        policy.check_url(url)
    except Refused as refused:
        reason = refused.message
    else:
        reason = None
    if reason is None:  # urlsplit drops leading C0 controls and spaces, as WHATWG URLs do
        assert url.lstrip("".join(map(chr, range(33)))).lower().startswith(("http://", "https://"))
    else:
        assert reason.startswith("refused: ")
