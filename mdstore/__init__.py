"""The MDStore: a versioned, transactional metadata store, and the shared kernel.

Lower than every other package: it imports only the standard library and its drivers.
"""

from mdstore.api import MDStore, ReadSession, VersionInfo, WriteTransaction
from mdstore.envelope import Record, RecordInput, UnitKey, make_record_id
from mdstore.registry import open_store

__all__ = [
    "MDStore",
    "ReadSession",
    "Record",
    "RecordInput",
    "UnitKey",
    "VersionInfo",
    "WriteTransaction",
    "make_record_id",
    "open_store",
]
