"""Harvest every recorded provider chain of ``../shared/oai-pmh/recorded`` through a local replay.

Expected counts are read from the recordings themselves, independently of the harvester: the
distinct identifiers of the chain's pages and the status of their last occurrence (a recovering
parser reads the one page that is not well-formed).
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from lxml import etree

from contentcloud.pipeline.collect import collect
from contentcloud.pipeline.summary import Outcome
from tests.integration.harvesters.conftest import make_profile, present_and_deleted
from tests.servers.oai_replay import replay_server

pytestmark = pytest.mark.integration

OAI = "{http://www.openarchives.org/OAI/2.0/}"

#: provider → the request that starts its harvestable chain (seq of the first exchange)
CHAINS = {
    "asu": 1,
    "calpoly": 1,
    "citeseerx": 1,
    "colostate": 1,
    "csic-alma-marc21": 1,
    "datacite-2015": 1,
    "dryad": 1,
    "erudit": 1,
    "mla-commons": 1,
    "nature": 1,
    "ncar": 1,
    "noaa-nodc": 1,
    "pcurio": 1,
    "pubmedcentral": 1,
    "purdue": 1,
    "qdl-mods": 1,
    "scholars-portal-dataverse": 1,
    "ucescholarship": 1,
    "zenodo": 25,
    "dspace-mit": 16,
}


@pytest.fixture(scope="module")
def replay(shared_dir: Path):
    with replay_server(shared_dir / "oai-pmh" / "recorded") as server:
        yield server


def chain_files(folder: Path, first_seq: int) -> tuple[dict[str, str], list[Path]]:
    """The first request's arguments and the body files of the chain it starts."""
    index = json.loads((folder / "index.json").read_text(encoding="utf-8"))
    exchanges = {e["seq"]: e for e in index["exchanges"]}
    first = exchanges[first_seq]
    args = {k: v[0] for k, v in parse_qs(first["query"]).items()}
    files, current = [], first
    while True:
        if current.get("status") in (301, 302):
            current = exchanges[current["seq"] + 1]
            continue
        files.append(folder / current["body_file"])
        token = ((current.get("observed") or {}).get("resumptionToken") or {}).get("value")
        if not token:
            return args, files
        current = next(e for e in index["exchanges"] if token in _token_args(e["query"] or ""))


def _token_args(query: str) -> set[str]:
    """The resumptionToken of a recorded query, decoded and exactly as recorded."""
    decoded = parse_qs(query).get("resumptionToken", [])
    raw = [part.split("=", 1)[1] for part in query.split("&") if part.startswith("resumptionToken=")]
    return set(decoded) | set(raw)


def expected_from(files: list[Path]) -> tuple[set[str], set[str]]:
    status: dict[str, bool] = {}
    parser = etree.XMLParser(recover=True, resolve_entities=False, no_network=True)
    for path in files:
        root = etree.fromstring(path.read_bytes(), parser)
        for header in root.iter(f"{OAI}header"):
            status[header.findtext(f"{OAI}identifier").strip()] = header.get("status") == "deleted"
    return {i for i, d in status.items() if not d}, {i for i, d in status.items() if d}


@pytest.mark.parametrize("provider", sorted(CHAINS))
def test_recorded_chain_is_harvested_exactly(provider, replay, store, fast, shared_dir):
    folder = shared_dir / "oai-pmh" / "recorded" / provider
    args, files = chain_files(folder, CHAINS[provider])
    expected_present, expected_deleted = expected_from(files)
    api = {
        "protocol": "oai",
        "baseurl": f"{replay.url}/{provider}",
        "metadata_prefix": args["metadataPrefix"],
    }
    api.update({k: args[k] for k in ("from", "until") if k in args})
    if "set" in args:
        api["sets"] = [args["set"]]
    datasource = make_profile(provider, api)

    summary = collect(store, datasource, options=fast, environ={})

    assert summary.outcome is Outcome.FINISHED, summary.text()
    present, deleted = present_and_deleted(store, datasource)
    assert set(present) == expected_present
    assert deleted == expected_deleted
    assert summary.added == len(expected_present)
    assert summary.deleted == summary.extra["tombstones"] == len(expected_deleted)
    # each stored body is the full, well-formed <record> with its own header
    for original_id, body in list(present.items())[:25]:
        record = etree.fromstring(body)
        assert record.tag == f"{OAI}record"
        assert record.findtext(f"{OAI}header/{OAI}identifier").strip() == original_id


def test_exact_counts_of_the_big_chains(replay, store, fast):
    """The figures the recordings' README states, as a cross-check of the independent reading."""
    figures = {
        "colostate": (1006, 2),
        "pubmedcentral": (844, 0),
        "mla-commons": (319, 0),
        "scholars-portal-dataverse": (4, 15),
        "calpoly": (208, 0),
        "asu": (78, 1),
    }
    for provider, (present_count, deleted_count) in figures.items():
        replay.state.reset()
        index_args = {
            "colostate": ("2016-05-04T00:00:00Z", "2016-05-06T00:00:00Z"),
            "pubmedcentral": ("2014-12-24", "2014-12-25"),
            "mla-commons": ("2016-05-25T00:00:00Z", "2016-05-27T00:00:00Z"),
            "scholars-portal-dataverse": ("2015-04-21", "2015-04-22"),
            "calpoly": ("2015-03-10", "2015-03-11"),
            "asu": ("2015-03-10", "2015-03-11"),
        }[provider]
        datasource = make_profile(
            provider,
            {
                "protocol": "oai",
                "baseurl": f"{replay.url}/{provider}",
                "metadata_prefix": "oai_dc",
                "from": index_args[0],
                "until": index_args[1],
            },
        )
        summary = collect(store, datasource, options=fast, environ={})
        assert (summary.extra["present"], summary.extra["tombstones"]) == (present_count, deleted_count), (
            provider
        )


def test_control_character_page_is_repaired_not_discarded(replay, store, fast):
    """pcurio's page holds a raw U+000B: stripped, and all five records are kept intact."""
    datasource = make_profile(
        "pcurio",
        {
            "protocol": "oai",
            "baseurl": f"{replay.url}/pcurio",
            "metadata_prefix": "oai_dc",
            "from": "2015-03-14",
            "until": "2015-03-16",
        },
    )
    summary = collect(store, datasource, options=fast, environ={})
    assert (summary.outcome, summary.extra["present"], summary.discarded) == (Outcome.FINISHED, 5, 0)
    present, _ = present_and_deleted(store, datasource)
    assert all(b"\x0b" not in body for body in present.values())


def test_html_page_with_200_is_reported_as_such(replay, store, fast):
    datasource = make_profile(
        "html", {"protocol": "oai", "baseurl": f"{replay.url}/not-oai-html", "metadata_prefix": "oai_dc"}
    )
    from harvesters.oai.client import OAIClient
    from harvesters.transport import HtmlErrorPage, Transport

    client = OAIClient(datasource.api["baseurl"], Transport(retry=fast.retry), datasource="html")
    with pytest.raises(HtmlErrorPage) as caught:
        client.identify()
    assert "an HTML page ('Httpbun sample') with HTTP 200 where XML was expected" in str(caught.value)
    assert caught.value.status == 200


def test_unrecorded_token_fails_resumable_and_keeps_the_pages(replay, store, fast):
    """archivesspace's chain stops at a token nobody recorded: the 404 after page 1 fails the run,
    the transaction stays open with page 1 written, and nothing is committed."""
    datasource = make_profile(
        "aspace",
        {"protocol": "oai", "baseurl": f"{replay.url}/archivesspace-test", "metadata_prefix": "oai_dc"},
    )
    summary = collect(store, datasource, options=fast, environ={})
    assert summary.outcome is Outcome.FAILED
    assert "HTTP 404" in summary.message
    assert store.current_version(datasource.native_unit) is None
    assert store.open_transaction(datasource.native_unit) is None  # a 404 will not heal: aborted


@pytest.mark.parametrize(
    ("provider", "granularity", "response_date"),
    [
        ("zenodo", "YYYY-MM-DDThh:mm:ssZ", "2026-08-10T08:56:30Z"),
        ("e-periodica", "YYYY-MM-DDThh:mm:ssZ", None),
        ("archivesspace-test", None, None),
    ],
)
def test_identify_gives_the_servers_clock_and_granularity(provider, granularity, response_date, replay, fast):
    from harvesters.oai.client import OAIClient
    from harvesters.transport import Transport

    identify = OAIClient(f"{replay.url}/{provider}", Transport(retry=fast.retry)).identify()
    assert identify.repository_name
    if granularity:
        assert identify.granularity == granularity
    if response_date:
        assert identify.response_date == response_date
    else:
        assert identify.response_date
