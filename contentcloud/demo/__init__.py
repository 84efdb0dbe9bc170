"""``contentcloud demo``: the whole pipeline on the embedded defaults, in under a minute.

1. A local OAI-PMH *source* is started: the bundled sample records (``sample-records.xml``) are
   loaded into a store of their own under ``<var>/demo-source/`` and served by contentcloud's own
   publisher on 127.0.0.1 (the port of the demo profile's ``baseurl``, or a free one).
2. The ``demo`` datasource of the registry is harvested from it, transformed with its chain to
   PARTHENOS Entities, indexed into the configured index and published.
3. The web application (OAI-PMH publisher, search API, curator pages) is served until interrupted,
   after a summary of what to open.

Nothing here is special-cased for the demo: it calls the same pipeline steps as the CLI and the
Airflow tasks, with the same settings.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from lxml import etree

from contentcloud.pipeline.summary import RunSummary
from mdstore.envelope import RecordInput, UnitKey
from mdstore.errors import ConfigError

if TYPE_CHECKING:
    from contentcloud.datasources import Datasource
    from contentcloud.settings import Settings

logger = logging.getLogger(__name__)

DATASOURCE = "demo"
SOURCE_ID = "demo-source"
DEMO_NS = "urn:contentcloud:demo"
OAI_DC_NS = "http://www.openarchives.org/OAI/2.0/oai_dc/"


def sample_records() -> list[tuple[str, bytes | None]]:
    """The bundled records as (OAI identifier, oai_dc XML or None when withdrawn)."""
    data = resources.files(__package__).joinpath("sample-records.xml").read_bytes()
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    root = etree.fromstring(data, parser)
    records = []
    for record in root.iter(f"{{{DEMO_NS}}}record"):
        identifier = record.get("id")
        if record.get("deleted") == "true":
            records.append((identifier, None))
            continue
        dc = record.find(f"{{{OAI_DC_NS}}}dc")
        records.append((identifier, etree.tostring(dc, encoding="utf-8")))
    return records


def free_port(preferred: int | None = None, host: str = "127.0.0.1") -> int:
    """``preferred`` if it can be bound now, else any free port."""
    for port in ([preferred] if preferred else []) + [0]:
        with socket.socket() as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise OSError("no free port")


class BackgroundServer:
    """A WSGI app under waitress in a daemon thread (the demo's source, and its web app)."""

    def __init__(self, app: Callable, host: str, port: int) -> None:
        from waitress import create_server

        self.server = create_server(app, host=host, port=port, threads=8, ident="contentcloud-demo")
        self.url = f"http://{host}:{self.server.effective_port}"
        self.thread = threading.Thread(target=self.server.run, name=f"serve {self.url}", daemon=True)

    def start(self) -> BackgroundServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        """Finish the requests in flight, then close every channel so that the loop thread ends.

        ``server.close()`` alone closed the trigger under a request thread that was still writing
        to it, and the selector under the loop thread: both printed a traceback on Ctrl-C."""
        server = self.server
        server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)
        for channel in list(server._map.values()):  # waitress's socket map, as webtest stops it
            channel.close()
        self.thread.join(timeout=5)


@dataclass
class DemoResult:
    """What the demo did: the step summaries and where things are served."""

    summaries: list[RunSummary] = field(default_factory=list)
    source_url: str = ""
    facets: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    documents: int = 0


def start_source(settings: Settings, preferred_port: int | None, host: str = "127.0.0.1") -> BackgroundServer:
    """Load the sample records into the source store, publish and serve them over OAI-PMH on ``host``
    (``contentcloud demo --source-only`` serves them for the docker stack)."""
    from contentcloud.pipeline.publish import run_publish
    from contentcloud.settings import load_settings
    from contentcloud.web import create_app
    from mdstore import open_store

    root = Path(settings.var_dir) / SOURCE_ID
    registry = root / "registry"
    registry.mkdir(parents=True, exist_ok=True)
    (registry / f"{SOURCE_ID}.yaml").write_text(
        f"# written by contentcloud demo: the demo's OAI-PMH source\n"
        f"id: {SOURCE_ID}\nname: contentcloud demo source\nnsprefix: demosrc\n"
        f"api: {{protocol: http, connector: url-list, url: 'https://demo.contentcloud.example/records', "
        f"format: oai_dc}}\n"
        f"publish: {{formats: [oai_dc]}}\n",
        encoding="utf-8",
    )
    source_settings = load_settings(
        {
            "mdstore": f"sqlite:///{root / 'mdstore.sqlite'}",
            "index": f"sqlite:///{root / 'index.sqlite'}",
            "registry": str(registry),
            "var_dir": str(root),
            "mappings": settings.mappings,
            "oai_repository_name": "contentcloud demo source",
            "oai_repository_identifier": "demo.contentcloud.example",
        },
        environ={},
    )
    unit = UnitKey(SOURCE_ID, "oai_dc")
    with open_store(source_settings.mdstore) as store:
        tx = store.begin(unit, "full", run_id="demo-source", nsprefix="demosrc")
        tx.write((RecordInput(identifier, body), body is None) for identifier, body in sample_records())
        tx.commit()
    run_publish(SOURCE_ID, source_settings)
    app = create_app(source_settings, standard_routes=False)
    return BackgroundServer(app, host, free_port(preferred_port, host)).start()


def demo_profile(settings: Settings) -> tuple[Datasource, str | None]:
    """The ``demo`` profile: the registry's when it has one, else the one shipped in the package.

    After ``pip install`` in an empty folder there is no registry: the default ``./registry`` is
    then created with a copy of the shipped profile, so the commands the demo suggests afterwards
    (``contentcloud mdstore export demo`` …) find it too. A registry that exists is never written
    to; the shipped profile is used for this run and the returned note says how to register it.
    """
    from contentcloud.datasources import DatasourceRegistry, load_profile
    from contentcloud.shipped import DEMO_PROFILE

    registry = DatasourceRegistry(settings.registry)
    if registry.directory.is_dir():
        found = [ds for ds in registry.all() if ds.id == DATASOURCE]
        if found:
            return found[0], None
        return load_profile(DEMO_PROFILE), (
            f"the registry {registry.directory} has no {DATASOURCE!r} profile: using the one shipped with"
            f" contentcloud ({DEMO_PROFILE}); copy it there for the commands below"
        )
    if settings.origins.get("registry", "default") != "default":
        raise ConfigError(
            "the registry directory does not exist; create it, or drop --registry/CONTENTCLOUD_REGISTRY"
            " to let the demo create ./registry with its profile",
            file=settings.registry,
            rule="exists",
        )
    registry.directory.mkdir(parents=True)
    target = registry.directory / DEMO_PROFILE.name
    target.write_bytes(DEMO_PROFILE.read_bytes())
    return load_profile(target), f"created {target} (the demo profile shipped with contentcloud)"


def demo_datasource(datasource: Datasource, source_url: str) -> Datasource:
    """The demo profile, pointed at the running source."""
    from contentcloud.datasources import profile_from_dict

    if datasource.api.get("baseurl") == f"{source_url}/oai":
        return datasource
    raw = {**datasource.raw, "api": {**datasource.api, "baseurl": f"{source_url}/oai"}}
    return profile_from_dict(raw, file=str(datasource.path))


def run_pipeline(
    settings: Settings,
    *,
    on_step: Callable[[RunSummary], None] | None = None,
    on_note: Callable[[str], None] | None = None,
    source_port: int | None = None,
) -> tuple[DemoResult, BackgroundServer]:
    """Start the source and run collect → transform → index → rdf → publish for the demo datasource."""
    from contentcloud.pipeline.collect import collect
    from contentcloud.pipeline.index import run_index
    from contentcloud.pipeline.publish import run_publish
    from contentcloud.pipeline.rdf import run_rdf
    from contentcloud.pipeline.transform import run_transform
    from mdstore import open_store

    profile, note = demo_profile(settings)
    if note and on_note:
        on_note(note)
    source = start_source(settings, source_port or urlsplit(profile.api.get("baseurl", "")).port)
    result = DemoResult(source_url=source.url)
    datasource = demo_datasource(profile, source.url)

    def done(summary: RunSummary) -> RunSummary:
        result.summaries.append(summary)
        if on_step:
            on_step(summary)
        if not summary.ok:
            raise ConfigError(
                f"the demo's {summary.step} step ended {summary.outcome}: {summary.message}",
                field=summary.step,
                rule="step",
            )
        return summary

    with open_store(settings.mdstore, **settings.store_options()) as store:
        if store.open_transaction(datasource.native_unit):
            store.abort_open(datasource.native_unit)  # an interrupted earlier demo
        done(collect(store, datasource, mode="full", run_id=None))
    done(run_transform(DATASOURCE, settings, mode="incremental"))
    done(run_index(DATASOURCE, settings, full=True))
    done(run_rdf(DATASOURCE, settings, full=True))
    done(run_publish(DATASOURCE, settings))
    result.facets, result.documents = facet_summary(settings)
    return result, source


FACET_FIELDS = ("entity_type_label", "subject_facet", "language", "rights")


def facet_summary(settings: Settings) -> tuple[dict[str, list[tuple[str, int]]], int]:
    """Top values of a few facets of the demo's documents, from the configured index."""
    from provision.registry import open_index

    backend = open_index(settings.index)
    try:
        response = backend.select(
            {
                "q": ["*:*"],
                "fq": [f"datasource:{DATASOURCE}"],
                "rows": ["0"],
                "facet": ["true"],
                "facet.field": list(FACET_FIELDS),
                "facet.limit": ["5"],
                "facet.mincount": ["1"],
                "wt": ["json"],
            }
        )
    finally:
        backend.close()
    counts = response.get("facet_counts", {}).get("facet_fields", {})
    facets = {name: list(zip(values[::2], values[1::2], strict=True)) for name, values in counts.items()}
    return facets, response.get("response", {}).get("numFound", 0)


__all__ = ["BackgroundServer", "DemoResult", "run_pipeline", "sample_records", "start_source"]
