"""contentcloud: the application layer (settings, datasource registry, pipeline steps, CLI).

Re-exports the shared kernel from :mod:`mdstore` so callers have one place to import from.
"""

from mdstore.envelope import Record, RecordInput, UnitKey, make_record_id
from mdstore.errors import (
    ConfigError,
    ContentcloudError,
    HarvestError,
    PluginError,
    ProvisionError,
    RecordError,
    StoreError,
)

__all__ = [
    "ConfigError", "ContentcloudError", "HarvestError", "PluginError", "ProvisionError", "Record",
    "RecordError", "RecordInput", "StoreError", "UnitKey", "make_record_id",
]
