"""OAI-PMH collection, in sickle's shape: one concept per file.

``client`` (requests through the shared transport), ``iterator`` (resumption tokens, window
fallback, loop detection), ``models`` (headers, records, pages), ``response`` (parsing and
repair), ``errors`` (one class per OAI error code), ``dates`` (granularities), ``harvester``
(the plugin the registry names ``oai``).
"""

from harvesters.oai.harvester import OaiHarvester

__all__ = ["OaiHarvester"]
