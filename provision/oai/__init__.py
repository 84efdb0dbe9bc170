"""The OAI-PMH 2.0 publisher: a WSGI app over a materialized publisher index.

* :mod:`provision.oai.builder` — refresh: MDStore units → a new immutable snapshot of the index
* :mod:`provision.oai.index` — the SQLite publisher index (snapshots, keyset-ordered records, sets)
* :mod:`provision.oai.app` — the WSGI application (all verbs, errors, tokens, gzip, 503)
* :mod:`provision.oai.protocol`, :mod:`~provision.oai.tokens`, :mod:`~provision.oai.errors` — the spec
* :mod:`provision.oai.formats`, :mod:`~provision.oai.oai_dc`, :mod:`~provision.oai.sets` — payloads,
  oai_dc derivation, entity types and query sets

See ``provision/oai/README.md`` for the operator's view.
"""

from provision.oai.app import OAIApp, OAIConfig
from provision.oai.builder import BuildReport, PublishSource, QuerySet, build_snapshot
from provision.oai.index import PublisherIndex
from provision.oai.oai_dc import OaiDcDeriver, XsltDeriver, default_deriver, fallback_oai_dc

__all__ = [
    "BuildReport",
    "OAIApp",
    "OAIConfig",
    "OaiDcDeriver",
    "PublishSource",
    "PublisherIndex",
    "QuerySet",
    "XsltDeriver",
    "build_snapshot",
    "default_deriver",
    "fallback_oai_dc",
]
